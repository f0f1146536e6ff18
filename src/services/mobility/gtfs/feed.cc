// LoadFeed: reads the GTFS files of a zip in dependency order (agencies before routes, stops and
// services before trips, trips before stop_times) so every reference is resolved while its row
// is read and a bad one is reported with that row's line. The two checks that need a whole file
// — parent stations (a station may follow its platforms) and the order of a trip's stop times
// (rows of one trip may be scattered) — run after their file is read; stop times keep their
// line number until then so those problems still name it.
#include "services/mobility/gtfs/feed.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include <fmt/format.h>

#include "util/time.h"

namespace cityhub::mobility::gtfs {
namespace {

using Severity = Problem::Severity;

std::string_view TrimView(std::string_view s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

template <typename T>
std::optional<T> ParseNumber(std::string_view text) {
  text = TrimView(text);
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// 0 = Monday … 6 = Sunday.
int WeekdayOf(int32_t yyyymmdd) {
  const int64_t days = util::DaysFromCivil(yyyymmdd / 10000, static_cast<unsigned>(yyyymmdd / 100 % 100),
                                           static_cast<unsigned>(yyyymmdd % 100));
  return static_cast<int>(((days + 3) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

std::optional<int32_t> ParseGtfsTime(std::string_view text) {
  text = TrimView(text);
  size_t first = text.find(':');
  if (first == std::string_view::npos || first == 0 || first > 3) return std::nullopt;
  if (text.size() != first + 6 || text[first + 3] != ':') return std::nullopt;
  auto hours = ParseNumber<int32_t>(text.substr(0, first));
  auto minutes = ParseNumber<int32_t>(text.substr(first + 1, 2));
  auto seconds = ParseNumber<int32_t>(text.substr(first + 4, 2));
  if (!hours || !minutes || !seconds) return std::nullopt;
  if (*hours < 0 || *hours > kMaxStopTimeHours || *minutes < 0 || *minutes > 59 ||
      *seconds < 0 || *seconds > 59) {
    return std::nullopt;
  }
  return *hours * 3600 + *minutes * 60 + *seconds;
}

std::optional<int32_t> ParseGtfsDate(std::string_view text) {
  text = TrimView(text);
  if (text.size() != 8) return std::nullopt;
  auto value = ParseNumber<int32_t>(text);
  if (!value || *value < 0) return std::nullopt;
  int year = *value / 10000, month = *value / 100 % 100, day = *value % 100;
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1900 || month < 1 || month > 12 || day < 1) return std::nullopt;
  int last = kDaysInMonth[month - 1] + (month == 2 && IsLeap(year) ? 1 : 0);
  if (day > last) return std::nullopt;
  return *value;
}

void ValidationReport::Add(Problem problem) {
  bool fatal = problem.severity == Severity::kFatal;
  if (fatal) ++fatal_count_;
  if (fatal || problems_.size() < max_kept_) {
    problems_.push_back(std::move(problem));
  } else {
    ++not_kept_;
  }
}

std::string ValidationReport::FirstFatal() const {
  for (const Problem& p : problems_) {
    if (p.severity != Severity::kFatal) continue;
    if (p.line == 0) return fmt::format("{}: {}", p.file, p.reason);
    return fmt::format("{} line {}: {}", p.file, p.line, p.reason);
  }
  return {};
}

bool Feed::ServiceRunsOn(uint32_t service_index, int32_t yyyymmdd) const {
  if (service_index >= services.size()) return false;
  const Service& service = services[service_index];
  auto it = std::lower_bound(service.exceptions.begin(), service.exceptions.end(),
                             std::make_pair(yyyymmdd, false),
                             [](const auto& a, const auto& b) { return a.first < b.first; });
  if (it != service.exceptions.end() && it->first == yyyymmdd) return it->second;
  if (!service.has_calendar || yyyymmdd < service.start_date || yyyymmdd > service.end_date) {
    return false;
  }
  return (service.weekdays >> WeekdayOf(yyyymmdd)) & 1;
}

namespace {

class FeedLoader {
 public:
  FeedLoader(ZipArchive& zip, const FeedOptions& options, ValidationReport& report)
      : zip_(zip), options_(options), report_(report),
        flex_(feed_, report_, zip_, options.flex,
              [this](std::string_view file, const std::vector<ColumnSpec>& columns,
                     const std::function<void(const Row&)>& on_row) {
                return ReadTable(file, Need::kOptional, columns, on_row);
              }) {}

  Result<Feed> Load();

 private:
  using RowHandler = std::function<void(const Row&)>;
  enum class Need { kRequired, kOptional };

  // Reads `file` and calls `on_row` for each well-formed row. Returns false when the file is
  // absent (a fatal problem if required) or was skipped whole; an error Status only for
  // problems that must stop the load (limits, a required file's column missing).
  Result<bool> ReadTable(std::string_view file, Need need, const std::vector<ColumnSpec>& columns,
                         const RowHandler& on_row);

  void Fatal(std::string_view file, uint64_t line, std::string_view field, std::string reason) {
    report_.Add({std::string(file), line, std::string(field), std::move(reason), Severity::kFatal});
  }
  void Skip(std::string_view file, uint64_t line, std::string_view field, std::string reason) {
    report_.Add(
        {std::string(file), line, std::string(field), std::move(reason), Severity::kSkipped});
  }
  // Interns `id` into `map` as the next index; reports a duplicate (and returns false).
  bool Intern(util::StringMap<uint32_t>& map, std::string_view id, uint32_t index,
              std::string_view file, uint64_t line, std::string_view field);

  Status ReadAgencies();
  Status ReadStops();
  Status ReadRoutes();
  Status ReadServices();
  Status ReadTrips();
  Status ReadFlexPlacesAndRules() { return flex_.ReadPlacesAndRules(); }
  Status ReadStopTimes();
  void OrderStopTimes();
  void DropUnusableTrips();
  Status ReadFrequencies();
  Status ReadTransfers();
  Status ReadTranslations();
  Status ReadFeedInfo();

  ZipArchive& zip_;
  const FeedOptions& options_;
  ValidationReport& report_;
  Feed feed_;
  FlexReader flex_;
  std::vector<uint64_t> stop_time_lines_;  // the line of each stop time until they are ordered
};

Result<bool> FeedLoader::ReadTable(std::string_view file, Need need,
                                   const std::vector<ColumnSpec>& columns,
                                   const RowHandler& on_row) {
  std::optional<ZipMember> member = zip_.FindMember(file);
  if (!member) {
    if (need == Need::kRequired) {
      Fatal(file, 0, "", fmt::format("required file {} is missing", file));
      return Status::InvalidRequest(report_.FirstFatal());
    }
    return false;
  }
  std::vector<std::optional<size_t>> index(columns.size());
  bool skipped_whole = false;
  bool header_seen = false;
  uint64_t rows = 0;
  CsvReader reader(
      std::string(file),
      [&](const std::vector<std::string>& names) -> Status {
        header_seen = true;
        for (size_t c = 0; c < columns.size(); ++c) {
          auto it = std::find(names.begin(), names.end(), columns[c].name);
          if (it != names.end()) index[c] = static_cast<size_t>(it - names.begin());
          if (index[c] || !columns[c].required) continue;
          std::string reason =
              fmt::format("required column {} is missing from {}", columns[c].name, file);
          if (need == Need::kRequired) {
            Fatal(file, 1, columns[c].name, std::move(reason));
            return Status::InvalidRequest(report_.FirstFatal());
          }
          Skip(file, 1, columns[c].name, reason + "; the file is ignored");
          skipped_whole = true;
          return Status(Status::Code::kOperationNotSupported, "skip file");
        }
        return Status::Ok();
      },
      [&](const CsvRecord& record) -> Status {
        if (++rows > options_.max_rows_per_file) {
          Fatal(file, record.line, "",
                fmt::format("more than {} rows", options_.max_rows_per_file));
          return Status(Status::Code::kPayloadTooLarge, report_.FirstFatal());
        }
        on_row(Row(record, index));
        return Status::Ok();
      },
      [&](uint64_t line, std::string reason) { Skip(file, line, "", std::move(reason)); },
      options_.csv);
  Status status = zip_.ReadMember(*member, [&](std::string_view chunk) { return reader.Feed(chunk); });
  if (status.ok()) status = reader.Finish();
  if (skipped_whole) return false;
  if (!status.ok()) {
    if (!report_.has_fatal()) Fatal(file, 0, "", status.message());
    return status;
  }
  if (!header_seen) {
    if (need == Need::kOptional) return false;
    Fatal(file, 0, "", fmt::format("required file {} is empty (no header row)", file));
    return Status::InvalidRequest(report_.FirstFatal());
  }
  return true;
}

bool FeedLoader::Intern(util::StringMap<uint32_t>& map, std::string_view id, uint32_t index,
                        std::string_view file, uint64_t line, std::string_view field) {
  if (id.empty()) {
    Skip(file, line, field, fmt::format("{} is empty", field));
    return false;
  }
  if (!map.emplace(std::string(id), index).second) {
    Skip(file, line, field, fmt::format("duplicate {} '{}'", field, id));
    return false;
  }
  return true;
}

Status FeedLoader::ReadAgencies() {
  constexpr std::string_view kFile = "agency.txt";
  enum { kId, kName, kUrl, kTimezone, kLang, kPhone };
  auto read = ReadTable(kFile, Need::kRequired,
                        {{"agency_id", false}, {"agency_name", true}, {"agency_url", true},
                         {"agency_timezone", true}, {"agency_lang", false},
                         {"agency_phone", false}},
                        [&](const Row& row) {
    std::string_view timezone = row[kTimezone];
    if (timezone.empty()) return Skip(kFile, row.line(), "agency_timezone", "agency_timezone is empty");
    if (!feed_.agency_by_id.emplace(std::string(row[kId]), feed_.agencies.size()).second) {
      return Skip(kFile, row.line(), "agency_id", fmt::format("duplicate agency_id '{}'", row[kId]));
    }
    if (feed_.timezone.empty()) {
      feed_.timezone = timezone;
    } else if (timezone != feed_.timezone) {
      Skip(kFile, row.line(), "agency_timezone",
           fmt::format("agency_timezone '{}' differs from the feed's '{}' (the feed's is used)",
                       timezone, feed_.timezone));
    }
    feed_.agencies.push_back({std::string(row[kId]), std::string(row[kName]),
                              std::string(row[kUrl]), std::string(timezone),
                              std::string(row[kLang]), std::string(row[kPhone])});
  });
  if (!read.ok()) return read.status();
  if (feed_.agencies.empty()) {
    Fatal(kFile, 0, "", "agency.txt has no usable agency (an agency with agency_timezone)");
    return Status::InvalidRequest(report_.FirstFatal());
  }
  return Status::Ok();
}

Status FeedLoader::ReadStops() {
  constexpr std::string_view kFile = "stops.txt";
  enum { kId, kCode, kName, kLat, kLon, kZone, kType, kParent, kWheelchair, kPlatform };
  std::vector<std::pair<std::string, uint64_t>> parents;  // parent id and line, per stop
  auto read = ReadTable(kFile, Need::kRequired,
      {{"stop_id", true}, {"stop_code", false}, {"stop_name", false}, {"stop_lat", false},
       {"stop_lon", false}, {"zone_id", false}, {"location_type", false},
       {"parent_station", false}, {"wheelchair_boarding", false}, {"platform_code", false}},
      [&](const Row& row) {
    Stop stop;
    auto type = row[kType].empty() ? std::optional<int>(0) : ParseNumber<int>(row[kType]);
    if (!type || *type < 0 || *type > 4) {
      return Skip(kFile, row.line(), "location_type", fmt::format("bad location_type '{}'", row[kType]));
    }
    stop.location_type = static_cast<LocationType>(*type);
    if (!row[kLat].empty() || !row[kLon].empty()) {
      auto lat = ParseNumber<double>(row[kLat]);
      auto lon = ParseNumber<double>(row[kLon]);
      if (!lat || !lon || *lat < -90 || *lat > 90 || *lon < -180 || *lon > 180) {
        return Skip(kFile, row.line(), "stop_lat",
                    fmt::format("bad coordinates '{}','{}'", row[kLat], row[kLon]));
      }
      stop.lat = *lat;
      stop.lon = *lon;
      stop.has_position = true;
    } else if (*type <= 2) {
      return Skip(kFile, row.line(), "stop_lat", "stop_lat and stop_lon are required");
    }
    auto wheelchair = row[kWheelchair].empty() ? std::optional<int>(0)
                                               : ParseNumber<int>(row[kWheelchair]);
    if (!wheelchair || *wheelchair < 0 || *wheelchair > 2) {
      return Skip(kFile, row.line(), "wheelchair_boarding",
                  fmt::format("bad wheelchair_boarding '{}'", row[kWheelchair]));
    }
    stop.wheelchair_boarding = static_cast<uint8_t>(*wheelchair);
    if (!Intern(feed_.stop_by_id, row[kId], feed_.stops.size(), kFile, row.line(), "stop_id")) return;
    stop.id = row[kId];
    stop.code = row[kCode];
    stop.name = row[kName];
    stop.zone_id = row[kZone];
    stop.platform_code = row[kPlatform];
    feed_.stops.push_back(std::move(stop));
    parents.emplace_back(std::string(row[kParent]), row.line());
  });
  if (!read.ok()) return read.status();
  for (size_t i = 0; i < feed_.stops.size(); ++i) {
    const auto& [parent_id, line] = parents[i];
    if (parent_id.empty()) continue;
    auto it = feed_.stop_by_id.find(parent_id);
    if (it == feed_.stop_by_id.end()) {
      Skip(kFile, line, "parent_station",
           fmt::format("unknown parent_station '{}' (the stop is kept without it)", parent_id));
    } else if (feed_.stops[i].location_type == LocationType::kStation) {
      Skip(kFile, line, "parent_station", "a station cannot have a parent_station (ignored)");
    } else {
      feed_.stops[i].parent_station = it->second;
    }
  }
  return Status::Ok();
}

Status FeedLoader::ReadRoutes() {
  constexpr std::string_view kFile = "routes.txt";
  enum { kId, kAgency, kShort, kLong, kType, kColor, kTextColor };
  auto read = ReadTable(kFile, Need::kRequired,
      {{"route_id", true}, {"agency_id", false}, {"route_short_name", false},
       {"route_long_name", false}, {"route_type", true}, {"route_color", false},
       {"route_text_color", false}},
      [&](const Row& row) {
    Route route;
    auto type = ParseNumber<int>(row[kType]);
    if (!type || *type < 0) {
      return Skip(kFile, row.line(), "route_type", fmt::format("bad route_type '{}'", row[kType]));
    }
    route.route_type = *type;
    if (row[kAgency].empty() && feed_.agencies.size() == 1) {
      route.agency = 0;
    } else {
      auto it = feed_.agency_by_id.find(row[kAgency]);
      if (it == feed_.agency_by_id.end()) {
        return Skip(kFile, row.line(), "agency_id", fmt::format("unknown agency_id '{}'", row[kAgency]));
      }
      route.agency = it->second;
    }
    if (!Intern(feed_.route_by_id, row[kId], feed_.routes.size(), kFile, row.line(), "route_id")) return;
    route.id = row[kId];
    route.short_name = row[kShort];
    route.long_name = row[kLong];
    route.color = row[kColor];
    route.text_color = row[kTextColor];
    feed_.routes.push_back(std::move(route));
  });
  return read.ok() ? Status::Ok() : read.status();
}

Status FeedLoader::ReadServices() {
  auto service_index = [&](std::string_view id) -> uint32_t {
    auto [it, added] = feed_.service_by_id.emplace(std::string(id), feed_.services.size());
    if (added) {
      Service service;
      service.id = id;
      feed_.services.push_back(std::move(service));
    }
    return it->second;
  };
  bool has_calendar = zip_.FindMember("calendar.txt").has_value();
  bool has_dates = zip_.FindMember("calendar_dates.txt").has_value();
  if (!has_calendar && !has_dates) {
    Fatal("calendar.txt", 0, "", "calendar.txt and calendar_dates.txt are both missing");
    return Status::InvalidRequest(report_.FirstFatal());
  }
  {
    constexpr std::string_view kFile = "calendar.txt";
    static constexpr std::string_view kDays[] = {"monday", "tuesday", "wednesday", "thursday",
                                                 "friday", "saturday", "sunday"};
    std::vector<ColumnSpec> columns = {{"service_id", true}, {"start_date", true},
                                       {"end_date", true}};
    for (std::string_view day : kDays) columns.push_back({day, true});
    auto read = ReadTable(kFile, has_dates ? Need::kOptional : Need::kRequired, columns,
                          [&](const Row& row) {
      auto start = ParseGtfsDate(row[1]);
      auto end = ParseGtfsDate(row[2]);
      if (!start) return Skip(kFile, row.line(), "start_date", fmt::format("bad date '{}'", row[1]));
      if (!end) return Skip(kFile, row.line(), "end_date", fmt::format("bad date '{}'", row[2]));
      uint8_t weekdays = 0;
      for (int d = 0; d < 7; ++d) {
        std::string_view flag = row[3 + d];
        if (flag != "0" && flag != "1") {
          return Skip(kFile, row.line(), kDays[d], fmt::format("bad {} '{}'", kDays[d], flag));
        }
        if (flag == "1") weekdays |= static_cast<uint8_t>(1u << d);
      }
      if (row[0].empty()) return Skip(kFile, row.line(), "service_id", "service_id is empty");
      auto known = feed_.service_by_id.find(row[0]);
      if (known != feed_.service_by_id.end()) {
        return Skip(kFile, row.line(), "service_id", fmt::format("duplicate service_id '{}'", row[0]));
      }
      Service& service = feed_.services[service_index(row[0])];
      service.has_calendar = true;
      service.weekdays = weekdays;
      service.start_date = *start;
      service.end_date = *end;
    });
    if (!read.ok()) return read.status();
  }
  constexpr std::string_view kFile = "calendar_dates.txt";
  auto read = ReadTable(kFile, Need::kOptional,
      {{"service_id", true}, {"date", true}, {"exception_type", true}}, [&](const Row& row) {
    auto date = ParseGtfsDate(row[1]);
    if (!date) return Skip(kFile, row.line(), "date", fmt::format("bad date '{}'", row[1]));
    if (row[2] != "1" && row[2] != "2") {
      return Skip(kFile, row.line(), "exception_type", fmt::format("bad exception_type '{}'", row[2]));
    }
    if (row[0].empty()) return Skip(kFile, row.line(), "service_id", "service_id is empty");
    feed_.services[service_index(row[0])].exceptions.emplace_back(*date, row[2] == "1");
  });
  if (!read.ok()) return read.status();
  bool any_service = false;
  for (Service& service : feed_.services) {
    std::stable_sort(service.exceptions.begin(), service.exceptions.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    auto duplicate = std::adjacent_find(service.exceptions.begin(), service.exceptions.end(),
                                        [](const auto& a, const auto& b) { return a.first == b.first; });
    if (duplicate != service.exceptions.end()) {
      Skip(kFile, 0, "date",
           fmt::format("service_id '{}' has several exceptions for {} (the first is used)",
                       service.id, duplicate->first));
      service.exceptions.erase(
          std::unique(service.exceptions.begin(), service.exceptions.end(),
                      [](const auto& a, const auto& b) { return a.first == b.first; }),
          service.exceptions.end());
    }
    bool adds = std::any_of(service.exceptions.begin(), service.exceptions.end(),
                            [](const auto& e) { return e.second; });
    if (adds || (service.has_calendar && service.weekdays != 0 &&
                 service.start_date <= service.end_date)) {
      any_service = true;
    }
  }
  if (!any_service) {
    Fatal(has_calendar ? "calendar.txt" : "calendar_dates.txt", 0, "",
          "no service: calendar.txt and calendar_dates.txt define no day with service");
    return Status::InvalidRequest(report_.FirstFatal());
  }
  return Status::Ok();
}

Status FeedLoader::ReadTrips() {
  constexpr std::string_view kFile = "trips.txt";
  enum { kRoute, kService, kId, kHeadsign, kShort, kDirection, kBlock, kWheelchair };
  auto read = ReadTable(kFile, Need::kRequired,
      {{"route_id", true}, {"service_id", true}, {"trip_id", true}, {"trip_headsign", false},
       {"trip_short_name", false}, {"direction_id", false}, {"block_id", false},
       {"wheelchair_accessible", false}},
      [&](const Row& row) {
    Trip trip;
    auto route = feed_.route_by_id.find(row[kRoute]);
    if (route == feed_.route_by_id.end()) {
      return Skip(kFile, row.line(), "route_id", fmt::format("unknown route_id '{}'", row[kRoute]));
    }
    auto service = feed_.service_by_id.find(row[kService]);
    if (service == feed_.service_by_id.end()) {
      return Skip(kFile, row.line(), "service_id", fmt::format("unknown service_id '{}'", row[kService]));
    }
    if (!row[kDirection].empty()) {
      if (row[kDirection] != "0" && row[kDirection] != "1") {
        return Skip(kFile, row.line(), "direction_id", fmt::format("bad direction_id '{}'", row[kDirection]));
      }
      trip.direction_id = row[kDirection] == "1" ? 1 : 0;
    }
    auto wheelchair = row[kWheelchair].empty() ? std::optional<int>(0)
                                               : ParseNumber<int>(row[kWheelchair]);
    if (!wheelchair || *wheelchair < 0 || *wheelchair > 2) {
      return Skip(kFile, row.line(), "wheelchair_accessible",
                  fmt::format("bad wheelchair_accessible '{}'", row[kWheelchair]));
    }
    if (!Intern(feed_.trip_by_id, row[kId], feed_.trips.size(), kFile, row.line(), "trip_id")) return;
    trip.route = route->second;
    trip.service = service->second;
    trip.wheelchair_accessible = static_cast<uint8_t>(*wheelchair);
    trip.id = row[kId];
    trip.headsign = row[kHeadsign];
    trip.short_name = row[kShort];
    trip.block_id = row[kBlock];
    feed_.trips.push_back(std::move(trip));
  });
  return read.ok() ? Status::Ok() : read.status();
}

Status FeedLoader::ReadStopTimes() {
  constexpr std::string_view kFile = "stop_times.txt";
  enum { kTrip, kArrival, kDeparture, kStop, kSequence, kPickup, kDropOff, kLocation,
         kLocationGroup, kWindowStart, kWindowEnd, kPickupRule, kDropOffRule };
  auto read = ReadTable(kFile, Need::kRequired,
      {{"trip_id", true}, {"arrival_time", true}, {"departure_time", true}, {"stop_id", true},
       {"stop_sequence", true}, {"pickup_type", false}, {"drop_off_type", false},
       {"location_id", false}, {"location_group_id", false},
       {"start_pickup_drop_off_window", false}, {"end_pickup_drop_off_window", false},
       {"pickup_booking_rule_id", false}, {"drop_off_booking_rule_id", false}},
      [&](const Row& row) {
    StopTime st;
    auto trip = feed_.trip_by_id.find(row[kTrip]);
    if (trip == feed_.trip_by_id.end()) {
      return Skip(kFile, row.line(), "trip_id", fmt::format("unknown trip_id '{}'", row[kTrip]));
    }
    if (flex_.TakeStopTime({row.line(), trip->second, row[kStop], row[kLocation],
                            row[kLocationGroup], row[kArrival], row[kDeparture], row[kSequence],
                            row[kPickup], row[kDropOff], row[kWindowStart], row[kWindowEnd],
                            row[kPickupRule], row[kDropOffRule]})) {
      return;
    }
    auto stop = feed_.stop_by_id.find(row[kStop]);
    if (stop == feed_.stop_by_id.end()) {
      return Skip(kFile, row.line(), "stop_id", fmt::format("unknown stop_id '{}'", row[kStop]));
    }
    LocationType type = feed_.stops[stop->second].location_type;
    if (type != LocationType::kStop && type != LocationType::kBoardingArea) {
      return Skip(kFile, row.line(), "stop_id",
                  fmt::format("stop_id '{}' is not a stop or boarding area", row[kStop]));
    }
    for (auto [column, name, target] : {std::tuple{kArrival, "arrival_time", &st.arrival},
                                        std::tuple{kDeparture, "departure_time", &st.departure}}) {
      if (row[column].empty()) continue;
      auto time = ParseGtfsTime(row[column]);
      if (!time) return Skip(kFile, row.line(), name, fmt::format("bad time '{}'", row[column]));
      *target = *time;
    }
    if (st.arrival == kNoTime) st.arrival = st.departure;
    if (st.departure == kNoTime) st.departure = st.arrival;
    if (st.departure < st.arrival) {
      return Skip(kFile, row.line(), "departure_time", "departure_time is before arrival_time");
    }
    auto sequence = ParseNumber<uint32_t>(row[kSequence]);
    if (!sequence) {
      return Skip(kFile, row.line(), "stop_sequence", fmt::format("bad stop_sequence '{}'", row[kSequence]));
    }
    for (auto [column, name, target] : {std::tuple{kPickup, "pickup_type", &st.pickup_type},
                                        std::tuple{kDropOff, "drop_off_type", &st.drop_off_type}}) {
      if (row[column].empty()) continue;
      auto value = ParseNumber<int>(row[column]);
      if (!value || *value < 0 || *value > 3) {
        return Skip(kFile, row.line(), name, fmt::format("bad {} '{}'", name, row[column]));
      }
      *target = static_cast<uint8_t>(*value);
    }
    st.trip = trip->second;
    st.stop = stop->second;
    st.stop_sequence = *sequence;
    feed_.stop_times.push_back(st);
    stop_time_lines_.push_back(row.line());
  });
  if (!read.ok()) return read.status();
  flex_.FinishStopTimes();
  OrderStopTimes();
  DropUnusableTrips();
  return Status::Ok();
}

// Sorts stop times by (trip, stop_sequence) and leaves out a duplicate stop_sequence and a stop
// time earlier than the one before it in its trip.
// Whether each trip's stop times are contiguous and in stop_sequence order.
bool GroupedByTripInSequence(const std::vector<StopTime>& times, size_t trip_count) {
  std::vector<bool> seen(trip_count, false);
  for (size_t i = 0; i < times.size(); ++i) {
    if (i > 0 && times[i].trip == times[i - 1].trip) {
      if (times[i].stop_sequence < times[i - 1].stop_sequence) return false;
      continue;
    }
    if (seen[times[i].trip]) return false;
    seen[times[i].trip] = true;
  }
  return true;
}

void FeedLoader::OrderStopTimes() {
  constexpr std::string_view kFile = "stop_times.txt";
  std::vector<StopTime>& times = feed_.stop_times;
  auto before = [](const StopTime& x, const StopTime& y) {
    return x.trip != y.trip ? x.trip < y.trip : x.stop_sequence < y.stop_sequence;
  };
  // Feeds usually list each trip's stop times together and in order (though not always in the
  // order of trips.txt); such a feed is used as it is, only the others pay for a sorted copy.
  // The sort is stable, so of two rows with one stop_sequence the earlier line is kept.
  if (!GroupedByTripInSequence(times, feed_.trips.size())) {
    std::vector<uint32_t> order(times.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return before(times[a], times[b]); });
    std::vector<StopTime> sorted;
    std::vector<uint64_t> lines;
    sorted.reserve(times.size());
    lines.reserve(times.size());
    for (uint32_t i : order) {
      sorted.push_back(times[i]);
      lines.push_back(stop_time_lines_[i]);
    }
    times = std::move(sorted);
    stop_time_lines_ = std::move(lines);
  }
  size_t kept = 0;
  int32_t last_time = kNoTime;
  for (size_t i = 0; i < times.size(); ++i) {
    const StopTime st = times[i];
    bool same_trip = kept > 0 && times[kept - 1].trip == st.trip;
    if (!same_trip) last_time = kNoTime;
    if (same_trip && times[kept - 1].stop_sequence == st.stop_sequence) {
      Skip(kFile, stop_time_lines_[i], "stop_sequence",
           fmt::format("duplicate stop_sequence {} in trip '{}'", st.stop_sequence,
                       feed_.trips[st.trip].id));
      continue;
    }
    if (st.arrival != kNoTime && last_time != kNoTime && st.arrival < last_time) {
      Skip(kFile, stop_time_lines_[i], "arrival_time",
           fmt::format("stop time out of sequence: arrives before the previous stop's departure "
                       "in trip '{}'", feed_.trips[st.trip].id));
      continue;
    }
    if (st.departure != kNoTime) last_time = st.departure;
    times[kept++] = st;
  }
  times.resize(kept);
  stop_time_lines_ = {};
}

// Trips need two stop times, timed at both ends; others are reported and removed, and the trip
// indexes of the remaining ones renumbered.
void FeedLoader::DropUnusableTrips() {
  std::vector<uint32_t> first(feed_.trips.size(), 0), count(feed_.trips.size(), 0);
  for (uint32_t i = 0; i < feed_.stop_times.size(); ++i) {
    uint32_t trip = feed_.stop_times[i].trip;
    if (count[trip]++ == 0) first[trip] = i;
  }
  std::vector<uint32_t> remap(feed_.trips.size(), kNoIndex);
  std::vector<Trip> kept;
  for (uint32_t t = 0; t < feed_.trips.size(); ++t) {
    std::string_view reason;
    if (count[t] == 0 && flex_.HasWindows(t)) {
      continue;  // an on-demand trip only, kept in flex_trips
    } else if (count[t] < 2) {
      reason = "has fewer than two usable stop times";
    } else if (feed_.stop_times[first[t]].departure == kNoTime ||
               feed_.stop_times[first[t] + count[t] - 1].arrival == kNoTime) {
      reason = "has no time at its first or last stop";
    }
    if (!reason.empty()) {
      Skip("trips.txt", 0, "trip_id", fmt::format("trip '{}' {}; left out", feed_.trips[t].id, reason));
      continue;
    }
    remap[t] = kept.size();
    kept.push_back(std::move(feed_.trips[t]));
  }
  feed_.trips = std::move(kept);
  feed_.trip_by_id.clear();
  for (uint32_t t = 0; t < feed_.trips.size(); ++t) feed_.trip_by_id.emplace(feed_.trips[t].id, t);
  std::erase_if(feed_.stop_times, [&](const StopTime& st) { return remap[st.trip] == kNoIndex; });
  for (uint32_t i = 0; i < feed_.stop_times.size(); ++i) {
    StopTime& st = feed_.stop_times[i];
    st.trip = remap[st.trip];
    Trip& trip = feed_.trips[st.trip];
    if (trip.stop_time_count++ == 0) trip.first_stop_time = i;
  }
}

Status FeedLoader::ReadFrequencies() {
  constexpr std::string_view kFile = "frequencies.txt";
  auto read = ReadTable(kFile, Need::kOptional,
      {{"trip_id", true}, {"start_time", true}, {"end_time", true}, {"headway_secs", true},
       {"exact_times", false}},
      [&](const Row& row) {
    auto trip = feed_.trip_by_id.find(row[0]);
    if (trip == feed_.trip_by_id.end()) {
      return Skip(kFile, row.line(), "trip_id", fmt::format("unknown trip_id '{}'", row[0]));
    }
    auto start = ParseGtfsTime(row[1]);
    auto end = ParseGtfsTime(row[2]);
    auto headway = ParseNumber<int32_t>(row[3]);
    if (!start) return Skip(kFile, row.line(), "start_time", fmt::format("bad time '{}'", row[1]));
    if (!end || *end < *start) {
      return Skip(kFile, row.line(), "end_time", fmt::format("bad end_time '{}'", row[2]));
    }
    if (!headway || *headway <= 0) {
      return Skip(kFile, row.line(), "headway_secs", fmt::format("bad headway_secs '{}'", row[3]));
    }
    if (!row[4].empty() && row[4] != "0" && row[4] != "1") {
      return Skip(kFile, row.line(), "exact_times", fmt::format("bad exact_times '{}'", row[4]));
    }
    feed_.frequencies.push_back({trip->second, *start, *end, *headway, row[4] == "1"});
  });
  return read.ok() ? Status::Ok() : read.status();
}

Status FeedLoader::ReadTransfers() {
  constexpr std::string_view kFile = "transfers.txt";
  auto read = ReadTable(kFile, Need::kOptional,
      {{"from_stop_id", true}, {"to_stop_id", true}, {"transfer_type", true},
       {"min_transfer_time", false}},
      [&](const Row& row) {
    Transfer transfer;
    for (auto [column, name, target] : {std::tuple{0, "from_stop_id", &transfer.from_stop},
                                        std::tuple{1, "to_stop_id", &transfer.to_stop}}) {
      auto stop = feed_.stop_by_id.find(row[column]);
      if (stop == feed_.stop_by_id.end()) {
        return Skip(kFile, row.line(), name, fmt::format("unknown stop_id '{}'", row[column]));
      }
      *target = stop->second;
    }
    auto type = row[2].empty() ? std::optional<int>(0) : ParseNumber<int>(row[2]);
    if (!type || *type < 0 || *type > 5) {
      return Skip(kFile, row.line(), "transfer_type", fmt::format("bad transfer_type '{}'", row[2]));
    }
    transfer.transfer_type = *type;
    if (!row[3].empty()) {
      auto seconds = ParseNumber<int32_t>(row[3]);
      if (!seconds || *seconds < 0) {
        return Skip(kFile, row.line(), "min_transfer_time",
                    fmt::format("bad min_transfer_time '{}'", row[3]));
      }
      transfer.min_transfer_time = *seconds;
    }
    feed_.transfers.push_back(transfer);
  });
  return read.ok() ? Status::Ok() : read.status();
}

Status FeedLoader::ReadTranslations() {
  constexpr std::string_view kFile = "translations.txt";
  static constexpr std::string_view kTables[] = {"agency", "stops", "routes", "trips",
                                                 "stop_times", "pathways", "levels",
                                                 "feed_info", "attributions"};
  auto read = ReadTable(kFile, Need::kOptional,
      {{"table_name", true}, {"field_name", true}, {"language", true}, {"translation", true},
       {"record_id", false}, {"record_sub_id", false}, {"field_value", false}},
      [&](const Row& row) {
    if (std::find(std::begin(kTables), std::end(kTables), row[0]) == std::end(kTables)) {
      return Skip(kFile, row.line(), "table_name", fmt::format("unknown table_name '{}'", row[0]));
    }
    if (row[1].empty()) return Skip(kFile, row.line(), "field_name", "field_name is empty");
    if (row[2].empty()) return Skip(kFile, row.line(), "language", "language is empty");
    if (row[4].empty() == row[6].empty() && row[0] != "feed_info") {
      return Skip(kFile, row.line(), "record_id", "exactly one of record_id and field_value is needed");
    }
    feed_.translations.push_back({std::string(row[0]), std::string(row[1]), std::string(row[2]),
                                  std::string(row[3]), std::string(row[4]), std::string(row[5]),
                                  std::string(row[6])});
  });
  return read.ok() ? Status::Ok() : read.status();
}

Status FeedLoader::ReadFeedInfo() {
  constexpr std::string_view kFile = "feed_info.txt";
  auto read = ReadTable(kFile, Need::kOptional,
      {{"feed_publisher_name", true}, {"feed_publisher_url", true}, {"feed_lang", true},
       {"default_lang", false}, {"feed_start_date", false}, {"feed_end_date", false},
       {"feed_version", false}},
      [&](const Row& row) {
    if (feed_.feed_info) return Skip(kFile, row.line(), "", "feed_info.txt has more than one row");
    FeedInfo info{std::string(row[0]), std::string(row[1]), std::string(row[2]),
                  std::string(row[3]), std::string(row[6])};
    for (auto [column, name, target] : {std::tuple{4, "feed_start_date", &info.start_date},
                                        std::tuple{5, "feed_end_date", &info.end_date}}) {
      if (row[column].empty()) continue;
      auto date = ParseGtfsDate(row[column]);
      if (!date) return Skip(kFile, row.line(), name, fmt::format("bad date '{}'", row[column]));
      *target = *date;
    }
    feed_.feed_info = std::move(info);
  });
  return read.ok() ? Status::Ok() : read.status();
}

Result<Feed> FeedLoader::Load() {
  for (Status (FeedLoader::*step)() :
       {&FeedLoader::ReadAgencies, &FeedLoader::ReadStops, &FeedLoader::ReadRoutes,
        &FeedLoader::ReadServices, &FeedLoader::ReadTrips, &FeedLoader::ReadFlexPlacesAndRules,
        &FeedLoader::ReadStopTimes,
        &FeedLoader::ReadFrequencies, &FeedLoader::ReadTransfers, &FeedLoader::ReadTranslations,
        &FeedLoader::ReadFeedInfo}) {
    Status status = (this->*step)();
    if (!status.ok()) return status;
  }
  if (feed_.trips.empty() && feed_.flex_windows.empty()) {
    Fatal("stop_times.txt", 0, "",
          "no usable trip: no trip has two valid stop times or a flex pickup/drop-off window");
    return Status::InvalidRequest(report_.FirstFatal());
  }
  return std::move(feed_);
}

}  // namespace

Result<Feed> LoadFeed(const std::string& path, const FeedOptions& options,
                      ValidationReport& report) {
  report = ValidationReport(options.max_problems_kept);
  Result<ZipArchive> zip = ZipArchive::Open(path, options.zip);
  if (!zip.ok()) {
    report.Add({path, 0, "", zip.status().message(), Severity::kFatal});
    return zip.status();
  }
  return FeedLoader(zip.value(), options, report).Load();
}

}  // namespace cityhub::mobility::gtfs
