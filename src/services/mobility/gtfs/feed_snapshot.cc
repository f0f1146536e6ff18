// Feed snapshots: a small writer/reader pair over a byte buffer, then one function per record
// type used by both directions (Io<Writer> / Io<Reader>), so the two can never disagree on order.
#include "services/mobility/gtfs/feed_snapshot.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include <fmt/format.h>

namespace cityhub::mobility::gtfs {
namespace {

constexpr char kMagic[6] = {'C', 'H', 'F', 'E', 'E', 'D'};
constexpr size_t kHeaderBytes = sizeof(kMagic) + 4 + 8 + 4;

class Writer {
 public:
  static constexpr bool kReading = false;
  template <typename T>
  void Num(T& v) {
    static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>);
    Raw(&v, sizeof v);
  }
  void Str(std::string& s) {
    auto n = static_cast<uint32_t>(s.size());
    Num(n);
    Raw(s.data(), s.size());
  }
  void Count(size_t& n, size_t /*record_bytes*/) {
    uint64_t c = n;
    Num(c);
  }
  template <typename T>
  void Block(std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    size_t n = v.size();
    Count(n, sizeof(T));
    Raw(v.data(), v.size() * sizeof(T));
  }
  bool ok() const { return true; }
  std::string& bytes() { return out_; }

 private:
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

class Reader {
 public:
  static constexpr bool kReading = true;
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  void Num(T& v) {
    Raw(&v, sizeof v);
  }
  void Str(std::string& s) {
    uint32_t n = 0;
    Num(n);
    if (n > left()) return Fail();
    s.assign(in_.data() + pos_, n);
    pos_ += n;
  }
  // Reads a count and refuses it when even records of `record_bytes` each could not fit.
  void Count(size_t& n, size_t record_bytes) {
    uint64_t c = 0;
    Num(c);
    if (!ok_ || c > left() / std::max<size_t>(record_bytes, 1)) {
      Fail();
      n = 0;
      return;
    }
    n = static_cast<size_t>(c);
  }
  template <typename T>
  void Block(std::vector<T>& v) {
    size_t n = 0;
    Count(n, sizeof(T));
    v.resize(n);
    Raw(v.data(), n * sizeof(T));
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }

 private:
  size_t left() const { return in_.size() - pos_; }
  void Fail() { ok_ = false; pos_ = in_.size(); }
  void Raw(void* p, size_t n) {
    if (!ok_ || n > left()) return Fail();
    if (n == 0) return;  // an empty vector's data() may be null, which memcpy must not get
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// A vector of records each read or written by `one`; every record takes at least one byte.
template <typename Io, typename T, typename F>
void Each(Io& io, std::vector<T>& v, F one) {
  size_t n = v.size();
  io.Count(n, 1);
  if constexpr (Io::kReading) v.resize(n);
  for (T& item : v) {
    if (!io.ok()) return;
    one(item);
  }
}

template <typename Io>
void TripIo(Io& io, Trip& t) {
  for (std::string* s : {&t.id, &t.headsign, &t.short_name, &t.block_id}) io.Str(*s);
  io.Num(t.route);
  io.Num(t.service);
  io.Num(t.direction_id);
  io.Num(t.wheelchair_accessible);
  io.Num(t.first_stop_time);
  io.Num(t.stop_time_count);
}

// The GTFS-Flex records (flex.h), after the rest of the feed.
template <typename Io>
void FlexIo(Io& io, Feed& f) {
  Each(io, f.zones, [&](FlexZone& z) {
    for (std::string* s : {&z.id, &z.name, &z.description}) io.Str(*s);
    Each(io, z.polygons, [&](FlexPolygon& p) {
      Each(io, p.rings, [&](std::vector<LatLon>& ring) { io.Block(ring); });
    });
    for (double* d : {&z.min.lat, &z.min.lon, &z.max.lat, &z.max.lon}) io.Num(*d);
  });
  Each(io, f.location_groups, [&](LocationGroup& g) {
    io.Str(g.id);
    io.Str(g.name);
    io.Block(g.stops);
    io.Block(g.zones);
  });
  Each(io, f.booking_rules, [&](BookingRule& r) {
    io.Num(r.type);
    for (int32_t* n : {&r.prior_notice_duration_min, &r.prior_notice_duration_max,
                       &r.prior_notice_last_day, &r.prior_notice_last_time,
                       &r.prior_notice_start_day, &r.prior_notice_start_time}) {
      io.Num(*n);
    }
    io.Num(r.prior_notice_service);
    for (std::string* s : {&r.id, &r.message, &r.pickup_message, &r.drop_off_message,
                           &r.phone_number, &r.info_url, &r.booking_url}) {
      io.Str(*s);
    }
  });
  Each(io, f.flex_trips, [&](Trip& t) { TripIo(io, t); });
  io.Block(f.flex_windows);
}

template <typename Io>
void FeedIo(Io& io, Feed& f) {
  Each(io, f.agencies, [&](Agency& a) {
    for (std::string* s : {&a.id, &a.name, &a.url, &a.timezone, &a.lang, &a.phone}) io.Str(*s);
  });
  Each(io, f.stops, [&](Stop& s) {
    for (std::string* t : {&s.id, &s.code, &s.name, &s.zone_id, &s.platform_code}) io.Str(*t);
    io.Num(s.lat);
    io.Num(s.lon);
    io.Num(s.has_position);
    io.Num(s.location_type);
    io.Num(s.parent_station);
    io.Num(s.wheelchair_boarding);
  });
  Each(io, f.routes, [&](Route& r) {
    for (std::string* t : {&r.id, &r.short_name, &r.long_name, &r.color, &r.text_color}) io.Str(*t);
    io.Num(r.agency);
    io.Num(r.route_type);
  });
  Each(io, f.trips, [&](Trip& t) { TripIo(io, t); });
  io.Block(f.stop_times);
  Each(io, f.services, [&](Service& s) {
    io.Str(s.id);
    io.Num(s.has_calendar);
    io.Num(s.weekdays);
    io.Num(s.start_date);
    io.Num(s.end_date);
    Each(io, s.exceptions, [&](std::pair<int32_t, bool>& e) {
      io.Num(e.first);
      io.Num(e.second);
    });
  });
  io.Block(f.frequencies);
  io.Block(f.transfers);
  Each(io, f.translations, [&](Translation& t) {
    for (std::string* s : {&t.table_name, &t.field_name, &t.language, &t.translation, &t.record_id,
                           &t.record_sub_id, &t.field_value}) {
      io.Str(*s);
    }
  });
  bool has_info = f.feed_info.has_value();
  io.Num(has_info);
  if (has_info) {
    if constexpr (Io::kReading) f.feed_info.emplace();
    FeedInfo& i = *f.feed_info;
    for (std::string* s : {&i.publisher_name, &i.publisher_url, &i.lang, &i.default_lang, &i.version}) io.Str(*s);
    io.Num(i.start_date);
    io.Num(i.end_date);
  }
  io.Str(f.timezone);
  FlexIo(io, f);
}

template <typename T>
void Put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

uint32_t Crc(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t pos = 0;
  while (pos < bytes.size()) {  // zlib takes uInt lengths
    const size_t n = std::min<size_t>(bytes.size() - pos, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + pos), static_cast<uInt>(n));
    pos += n;
  }
  return static_cast<uint32_t>(crc);
}

template <typename V>
void Index(const std::vector<V>& records, util::StringMap<uint32_t>& map) {
  map.clear();
  map.reserve(records.size());
  for (uint32_t i = 0; i < records.size(); ++i) map.emplace(records[i].id, i);
}

// The same for the GTFS-Flex records; also what OnDemandIndex relies on: rings with at least
// three positions, windows grouped by flex trip.
bool FlexIndexesValid(const Feed& f) {
  const auto in = [](uint32_t i, size_t n) { return i < n; };
  const auto opt = [](uint32_t i, size_t n) { return i == kNoIndex || i < n; };
  for (const FlexZone& z : f.zones) {
    for (const FlexPolygon& p : z.polygons) {
      for (const auto& ring : p.rings) {
        if (ring.size() < 3) return false;
      }
    }
  }
  for (const LocationGroup& g : f.location_groups) {
    for (uint32_t s : g.stops) {
      if (!in(s, f.stops.size())) return false;
    }
    for (uint32_t z : g.zones) {
      if (!in(z, f.zones.size())) return false;
    }
  }
  for (const BookingRule& r : f.booking_rules) {
    if (!opt(r.prior_notice_service, f.services.size())) return false;
  }
  for (const Trip& t : f.flex_trips) {
    if (!in(t.route, f.routes.size()) || !in(t.service, f.services.size())) return false;
  }
  uint32_t last_trip = 0;
  for (const FlexWindow& w : f.flex_windows) {
    if (!in(w.flex_trip, f.flex_trips.size()) || w.flex_trip < last_trip) return false;
    last_trip = w.flex_trip;
    const size_t places = w.place_kind == FlexPlaceKind::kZone            ? f.zones.size()
                          : w.place_kind == FlexPlaceKind::kLocationGroup ? f.location_groups.size()
                          : w.place_kind == FlexPlaceKind::kStop          ? f.stops.size()
                                                                          : 0;
    if (!in(w.place, places) || !opt(w.pickup_booking_rule, f.booking_rules.size()) ||
        !opt(w.drop_off_booking_rule, f.booking_rules.size())) {
      return false;
    }
  }
  return true;
}

// Every index between records points at a record, every trip's stop times exist: a snapshot of
// an older or buggy writer that passed its checksum must still not send readers out of bounds.
bool IndexesValid(const Feed& f) {
  const auto in = [](uint32_t i, size_t n) { return i < n; };
  const auto opt = [](uint32_t i, size_t n) { return i == kNoIndex || i < n; };
  for (const Stop& s : f.stops) {
    if (!opt(s.parent_station, f.stops.size())) return false;
  }
  for (const Route& r : f.routes) {
    if (!opt(r.agency, f.agencies.size())) return false;
  }
  for (const Trip& t : f.trips) {
    if (!in(t.route, f.routes.size()) || !in(t.service, f.services.size())) return false;
    if (uint64_t{t.first_stop_time} + t.stop_time_count > f.stop_times.size()) return false;
  }
  for (const StopTime& st : f.stop_times) {
    if (!in(st.trip, f.trips.size()) || !in(st.stop, f.stops.size())) return false;
  }
  for (const Frequency& fr : f.frequencies) {
    if (!in(fr.trip, f.trips.size())) return false;
  }
  for (const Transfer& t : f.transfers) {
    if (!in(t.from_stop, f.stops.size()) || !in(t.to_stop, f.stops.size())) return false;
  }
  return FlexIndexesValid(f);
}

}  // namespace

Status WriteFeedSnapshot(const Feed& feed, const std::string& path) {
  Writer w;
  FeedIo(w, const_cast<Feed&>(feed));  // the writer only reads the fields
  const std::string& payload = w.bytes();
  std::string header(kMagic, sizeof kMagic);
  Put(header, kFeedSnapshotVersion);
  Put(header, static_cast<uint64_t>(payload.size()));
  Put(header, Crc(payload));
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal(fmt::format("cannot write '{}': {}", tmp, std::strerror(errno)));
  bool ok = true;
  for (std::string_view part : {std::string_view(header), std::string_view(payload)}) {
    while (ok && !part.empty()) {
      const ssize_t n = ::write(fd, part.data(), part.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ok = false; else part.remove_prefix(static_cast<size_t>(n));
    }
  }
  ok = ok && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::Internal(fmt::format("cannot write '{}': {}", tmp, std::strerror(saved)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return Status::Internal(fmt::format("cannot rename '{}' to '{}': {}", tmp, path, std::strerror(e)));
  }
  return Status::Ok();
}

Result<Feed> ReadFeedSnapshot(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound(fmt::format("no feed snapshot at '{}'", path));
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Status::Internal(fmt::format("cannot read '{}'", path));
  auto bad = [&path](std::string_view why) {
    return Status::InvalidRequest(fmt::format("feed snapshot '{}': {}", path, why));
  };
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return bad("not a feed snapshot");
  }
  uint32_t version = 0, crc = 0;
  uint64_t length = 0;
  std::memcpy(&version, bytes.data() + 6, 4);
  std::memcpy(&length, bytes.data() + 10, 8);
  std::memcpy(&crc, bytes.data() + 18, 4);
  if (version != kFeedSnapshotVersion) {
    return bad(fmt::format("format version {}, this hub reads {}", version, kFeedSnapshotVersion));
  }
  const std::string_view payload = std::string_view(bytes).substr(kHeaderBytes);
  if (payload.size() != length) return bad(fmt::format("{} payload bytes, header says {}", payload.size(), length));
  if (Crc(payload) != crc) return bad("checksum mismatch (damaged)");
  Feed feed;
  Reader r(payload);
  FeedIo(r, feed);
  if (!r.ok() || !r.done()) return bad("records do not match the payload length");
  if (!IndexesValid(feed)) return bad("a record refers to one that does not exist");
  Index(feed.agencies, feed.agency_by_id);
  Index(feed.stops, feed.stop_by_id);
  Index(feed.routes, feed.route_by_id);
  Index(feed.trips, feed.trip_by_id);
  Index(feed.services, feed.service_by_id);
  Index(feed.zones, feed.zone_by_id);
  Index(feed.location_groups, feed.location_group_by_id);
  Index(feed.booking_rules, feed.booking_rule_by_id);
  Index(feed.flex_trips, feed.flex_trip_by_id);
  return feed;
}

}  // namespace cityhub::mobility::gtfs
