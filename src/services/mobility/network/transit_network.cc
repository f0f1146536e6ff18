// TransitNetwork: feed preparation (interpolation, stop grid) and day timetable builds.
#include "services/mobility/network/transit_network.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/geo.h"

namespace cityhub::mobility::network {
namespace {

constexpr double kMetresPerDegree = util::kEarthRadiusMetres * M_PI / 180.0;
constexpr double kGridMetres = 500;

uint64_t CellKey(int64_t x, int64_t y) {
  return (static_cast<uint64_t>(x) << 32) ^ static_cast<uint64_t>(y & 0xffffffff);
}

}  // namespace

TransitNetwork::TransitNetwork(gtfs::Feed feed, FeedClock clock, const NetworkOptions& options)
    : feed_(std::move(feed)), clock_(std::move(clock)), options_(options) {}

Result<std::shared_ptr<TransitNetwork>> TransitNetwork::Create(gtfs::Feed feed, const NetworkOptions& options) {
  auto clock = FeedClock::Load(feed.timezone);
  if (!clock.ok()) return Status::InvalidRequest(fmt::format("agency.txt agency_timezone: {}", clock.status().message()));
  if (options.cached_days == 0) return Status::InvalidRequest("cached_days must be at least 1");
  std::shared_ptr<TransitNetwork> net(new TransitNetwork(std::move(feed), std::move(*clock), options));
  net->InterpolateStopTimes();
  net->IndexStops();
  net->IndexFrequencies();
  net->ComputeDateRange();
  if (!net->feed_.flex_windows.empty()) {
    auto index = flex::OnDemandIndex::Build(net->feed_);
    if (!index.ok()) return index.status();
    net->on_demand_.emplace(std::move(*index));
  }
  return net;
}

// Empty times between timepoints get times proportional to the distance travelled between the
// timepoints around them (by position count where stops have no coordinates).
void TransitNetwork::InterpolateStopTimes() {
  for (const gtfs::Trip& trip : feed_.trips) {
    gtfs::StopTime* st = feed_.stop_times.data() + trip.first_stop_time;
    const uint32_t n = trip.stop_time_count;
    uint32_t prev = 0;  // the last position with a time
    for (uint32_t p = 1; p < n; ++p) {
      if (st[p].arrival == gtfs::kNoTime) continue;
      if (p > prev + 1) {
        std::vector<double> along(p - prev + 1, 0);
        for (uint32_t q = prev + 1; q <= p; ++q) {
          const gtfs::Stop& a = feed_.stops[st[q - 1].stop];
          const gtfs::Stop& b = feed_.stops[st[q].stop];
          const double d = a.has_position && b.has_position ? util::GreatCircleMetres(a.lat, a.lon, b.lat, b.lon) : 1.0;
          along[q - prev] = along[q - prev - 1] + std::max(d, 1.0);
        }
        const double total = along.back();
        const int32_t t0 = st[prev].departure, t1 = st[p].arrival;
        for (uint32_t q = prev + 1; q < p; ++q) {
          const auto t = static_cast<int32_t>(std::lround(t0 + (t1 - t0) * along[q - prev] / total));
          st[q].arrival = st[q].departure = t;
        }
      }
      prev = p;
    }
  }
}

bool TransitNetwork::Routable(uint32_t feed_stop) const {
  const gtfs::Stop& s = feed_.stops[feed_stop];
  return s.has_position && s.location_type == gtfs::LocationType::kStop;
}

void TransitNetwork::IndexStops() {
  served_.assign(feed_.stops.size(), 0);
  for (const gtfs::StopTime& st : feed_.stop_times) served_[st.stop] = 1;
  double min_cos = 1;
  for (uint32_t s = 0; s < feed_.stops.size(); ++s) {
    if (served_[s] && Routable(s)) min_cos = std::min(min_cos, std::cos(feed_.stops[s].lat * M_PI / 180.0));
  }
  grid_cos_ = std::max(min_cos, 0.01);
  for (uint32_t s = 0; s < feed_.stops.size(); ++s) {
    if (!served_[s] || !Routable(s)) continue;
    const gtfs::Stop& stop = feed_.stops[s];
    const auto x = static_cast<int64_t>(std::floor(stop.lon * kMetresPerDegree * grid_cos_ / kGridMetres));
    const auto y = static_cast<int64_t>(std::floor(stop.lat * kMetresPerDegree / kGridMetres));
    grid_[CellKey(x, y)].push_back(s);
  }
}

void TransitNetwork::IndexFrequencies() {
  std::vector<uint32_t> order(feed_.frequencies.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [this](uint32_t a, uint32_t b) { return feed_.frequencies[a].trip < feed_.frequencies[b].trip; });
  std::vector<gtfs::Frequency> sorted;
  sorted.reserve(order.size());
  for (uint32_t i : order) sorted.push_back(feed_.frequencies[i]);
  feed_.frequencies = std::move(sorted);
  frequencies_of_trip_.assign(feed_.trips.size(), {0, 0});
  for (uint32_t i = 0; i < feed_.frequencies.size();) {
    uint32_t j = i;
    while (j < feed_.frequencies.size() && feed_.frequencies[j].trip == feed_.frequencies[i].trip) ++j;
    frequencies_of_trip_[feed_.frequencies[i].trip] = {i, j};
    i = j;
  }
}

void TransitNetwork::ComputeDateRange() {
  first_date_ = std::numeric_limits<int32_t>::max();
  last_date_ = 0;
  for (const gtfs::Service& s : feed_.services) {
    if (s.has_calendar) {
      first_date_ = std::min(first_date_, s.start_date);
      last_date_ = std::max(last_date_, s.end_date);
    }
    for (const auto& [date, added] : s.exceptions) {
      if (!added) continue;
      first_date_ = std::min(first_date_, date);
      last_date_ = std::max(last_date_, date);
    }
  }
  if (last_date_ == 0) first_date_ = 0;
}

std::vector<NearStop> TransitNetwork::StopsNear(double lat, double lon, double radius_m, size_t max) const {
  std::vector<NearStop> out;
  if (!(radius_m > 0) || max == 0) return out;
  const auto cx = static_cast<int64_t>(std::floor(lon * kMetresPerDegree * grid_cos_ / kGridMetres));
  const auto cy = static_cast<int64_t>(std::floor(lat * kMetresPerDegree / kGridMetres));
  const auto reach = static_cast<int64_t>(std::ceil(radius_m / kGridMetres));
  for (int64_t dx = -reach; dx <= reach; ++dx) {
    for (int64_t dy = -reach; dy <= reach; ++dy) {
      auto it = grid_.find(CellKey(cx + dx, cy + dy));
      if (it == grid_.end()) continue;
      for (routing::StopIdx s : it->second) {
        const gtfs::Stop& stop = feed_.stops[s];
        const double d = util::GreatCircleMetres(lat, lon, stop.lat, stop.lon);
        if (d <= radius_m) out.push_back({s, d});
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const NearStop& a, const NearStop& b) {
    return a.metres != b.metres ? a.metres < b.metres : a.stop < b.stop;
  });
  if (out.size() > max) out.resize(max);
  return out;
}

Result<std::shared_ptr<const DayTimetable>> TransitNetwork::Day(int32_t yyyymmdd) const {
  std::shared_ptr<std::mutex> build_mu;
  {
    std::lock_guard lock(days_mu_);
    for (auto it = days_.begin(); it != days_.end(); ++it) {
      if (it->date != yyyymmdd) continue;
      days_.splice(days_.begin(), days_, it);
      return days_.front().day;
    }
    auto& slot = building_[yyyymmdd];
    if (!slot) slot = std::make_shared<std::mutex>();
    build_mu = slot;
  }
  std::lock_guard build_lock(*build_mu);
  {
    // Another caller may have built it while this one waited.
    std::lock_guard lock(days_mu_);
    for (const CachedDay& c : days_) {
      if (c.date == yyyymmdd) return c.day;
    }
  }
  auto built = BuildDay(yyyymmdd);
  std::lock_guard lock(days_mu_);
  building_.erase(yyyymmdd);
  if (!built.ok()) return built.status();
  days_.push_front({yyyymmdd, *built});
  while (days_.size() > options_.cached_days) days_.pop_back();
  return *built;
}

Result<std::shared_ptr<const DayTimetable>> TransitNetwork::BuildDay(int32_t yyyymmdd) const {
  if (yyyymmdd < 10000101 || yyyymmdd > 99991231) {
    return Status::InvalidRequest(fmt::format("date {} out of range", yyyymmdd));
  }
  auto day = std::make_shared<DayTimetable>();
  day->date = yyyymmdd;
  const int32_t previous = AddDays(yyyymmdd, -1);
  day->epoch_utc = clock_.ServiceDayStartUtc(previous);

  routing::TimetableBuilder builder;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (uint32_t s = 0; s < feed_.stops.size(); ++s) {
    const gtfs::Stop& stop = feed_.stops[s];
    if (Routable(s)) {
      builder.AddStop(stop.lat, stop.lon, options_.default_min_transfer);
    } else {
      builder.AddStop(nan, nan, options_.default_min_transfer);
    }
  }
  // Transfers: a station stands for all its stops.
  std::vector<std::vector<uint32_t>> children(feed_.stops.size());
  for (uint32_t s = 0; s < feed_.stops.size(); ++s) {
    if (feed_.stops[s].parent_station != gtfs::kNoIndex) children[feed_.stops[s].parent_station].push_back(s);
  }
  auto expand = [&](uint32_t s) {
    if (feed_.stops[s].location_type == gtfs::LocationType::kStation && !children[s].empty()) return children[s];
    return std::vector<uint32_t>{s};
  };
  for (const gtfs::Transfer& t : feed_.transfers) {
    if (t.transfer_type == 3) continue;
    if (t.transfer_type == 2 && t.min_transfer_time < 0) continue;
    for (uint32_t from : expand(t.from_stop)) {
      for (uint32_t to : expand(t.to_stop)) {
        routing::Seconds secs = 0;
        if (t.transfer_type == 2) {
          secs = std::min(t.min_transfer_time, routing::kMaxFootpathSeconds);
        } else if (from == to) {
          continue;  // a recommended or timed transfer at one stop changes nothing
        } else {
          const gtfs::Stop& a = feed_.stops[from];
          const gtfs::Stop& b = feed_.stops[to];
          if (!a.has_position || !b.has_position) continue;
          const double m = util::GreatCircleMetres(a.lat, a.lon, b.lat, b.lon) * options_.walking.detour_factor;
          secs = static_cast<routing::Seconds>(
              std::min<double>(std::ceil(m / options_.walking.speed_m_per_s), routing::kMaxFootpathSeconds));
        }
        CITYHUB_RETURN_IF_ERROR(builder.AddTransfer(from, to, secs));
      }
    }
  }

  std::vector<routing::TripStop> stops;
  for (int d = -1; d <= 1; ++d) {
    const int32_t date = AddDays(yyyymmdd, d);
    const int64_t offset = clock_.ServiceDayStartUtc(date) - day->epoch_utc;
    const int64_t earliest_end = clock_.ServiceDayStartUtc(yyyymmdd) - day->epoch_utc - kPreviousDayReach;
    std::vector<int8_t> runs_on(feed_.services.size(), -1);
    for (uint32_t t = 0; t < feed_.trips.size(); ++t) {
      const gtfs::Trip& trip = feed_.trips[t];
      int8_t& runs = runs_on[trip.service];
      if (runs < 0) runs = feed_.ServiceRunsOn(trip.service, date) ? 1 : 0;
      if (!runs || trip.stop_time_count < 2) continue;
      const gtfs::StopTime* st = feed_.stop_times.data() + trip.first_stop_time;
      const bool accessible = trip.wheelchair_accessible == 1;
      auto add_run = [&](int32_t shift) {
        const int64_t last = offset + shift + st[trip.stop_time_count - 1].arrival;
        if (d < 0 && last < earliest_end) return;
        stops.clear();
        for (uint32_t p = 0; p < trip.stop_time_count; ++p) {
          stops.push_back({st[p].stop, static_cast<routing::Seconds>(offset + shift + st[p].arrival),
                           static_cast<routing::Seconds>(offset + shift + st[p].departure)});
        }
        if (builder.AddTrip(stops, accessible).ok()) {
          day->runs.push_back({t, date, shift});
        } else {
          ++day->skipped_runs;
        }
      };
      const auto [first_freq, end_freq] = frequencies_of_trip_[t];
      if (first_freq == end_freq) {
        add_run(0);
        continue;
      }
      const int32_t base = st[0].departure;
      for (uint32_t f = first_freq; f < end_freq; ++f) {
        const gtfs::Frequency& freq = feed_.frequencies[f];
        if (freq.headway_secs <= 0) continue;
        for (int32_t start = freq.start_time; start < freq.end_time; start += freq.headway_secs) {
          add_run(start - base);
        }
      }
    }
  }
  auto built = builder.Build(options_.walking);
  if (!built.ok()) return built.status();
  day->timetable = std::move(*built);
  if (day->skipped_runs > 0) {
    spdlog::warn("mobility: {} trip runs around {} left out of the timetable (times beyond its limits)",
                 day->skipped_runs, yyyymmdd);
  }
  return std::shared_ptr<const DayTimetable>(std::move(day));
}

}  // namespace cityhub::mobility::network
