// TimetableBuilder: grouping trips into overtaking-free routes, and the footpath lists.
//
// Routes. Trips with the same stop sequence are sorted by their times (first departure, then
// every time in order) and dealt out greedily: each goes to the first route of its sequence
// whose last trip it does not overtake, else it opens a new route. Comparing with the last trip
// is enough, since "does not overtake" is transitive. Most feeds get one route per sequence.
//
// Walking footpaths. Stops are bucketed in a grid of radius-sized cells on a projection that
// never overstates distances (longitude scaled by the smallest cos(latitude) among the stops),
// so a stop's neighbours within the radius are all in the 3×3 cells around it; the distance
// itself is great-circle (haversine).
#include "services/mobility/routing/timetable.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

#include "services/mobility/routing/non_overtaking.h"
#include "util/geo.h"

namespace cityhub::mobility::routing {
namespace {

constexpr double kMetresPerDegree = util::kEarthRadiusMetres * M_PI / 180.0;

double GreatCircleMetres(const StopInfo& a, const StopInfo& b) { return util::GreatCircleMetres(a.lat, a.lon, b.lat, b.lon); }

// Stops without coordinates (NaN) get no walking footpaths.
bool Walkable(const StopInfo& s) { return std::isfinite(s.lat) && std::isfinite(s.lon); }

uint64_t CellKey(int64_t x, int64_t y) {
  return (static_cast<uint64_t>(x) << 32) ^ static_cast<uint64_t>(y & 0xffffffff);
}

}  // namespace

StopIdx TimetableBuilder::AddStop(double lat, double lon, Seconds min_transfer) {
  stops_.push_back({lat, lon, min_transfer});
  return static_cast<StopIdx>(stops_.size() - 1);
}

Result<TripIdx> TimetableBuilder::AddTrip(std::span<const TripStop> stops, bool wheelchair_accessible) {
  const size_t trip = trips_.size();
  auto bad = [trip](size_t pos, const std::string& why) {
    return Status::BadRequestData(fmt::format("trip {} stop {}: {}", trip, pos, why));
  };
  if (stops.size() < 2 || stops.size() > kMaxStopsPerTrip) {
    return Status::BadRequestData(
        fmt::format("trip {}: has {} stops, must have 2 to {}", trip, stops.size(), kMaxStopsPerTrip));
  }
  if (trips_.size() >= kMaxTrips) return Status::BadRequestData(fmt::format("more than {} trips", kMaxTrips));
  if (times_.size() + stops.size() > kMaxStopEvents) {
    return Status::BadRequestData(fmt::format("more than {} stop events", kMaxStopEvents));
  }
  for (size_t i = 0; i < stops.size(); ++i) {
    const TripStop& st = stops[i];
    if (st.stop >= stops_.size()) return bad(i, fmt::format("unknown stop {}", st.stop));
    if (st.arrival < 0 || st.departure > kMaxTime) {
      return bad(i, fmt::format("time outside 0..{} seconds", kMaxTime));
    }
    if (st.arrival > st.departure) return bad(i, "arrival after departure");
    if (i > 0 && st.arrival < stops[i - 1].departure) return bad(i, "arrives before the previous stop's departure");
  }
  trips_.push_back({times_.size(), static_cast<uint32_t>(stops.size()), trip_stops_.size()});
  for (const TripStop& st : stops) {
    trip_stops_.push_back(st.stop);
    times_.push_back({st.arrival, st.departure});
  }
  accessible_.push_back(wheelchair_accessible ? 1 : 0);
  return static_cast<TripIdx>(trip);
}

Status TimetableBuilder::AddTransfer(StopIdx from, StopIdx to, Seconds duration) {
  if (from >= stops_.size() || to >= stops_.size()) {
    return Status::BadRequestData(fmt::format("transfer {} -> {}: unknown stop", from, to));
  }
  if (duration < 0 || duration > kMaxFootpathSeconds) {
    return Status::BadRequestData(
        fmt::format("transfer {} -> {}: duration {} outside 0..{} s", from, to, duration, kMaxFootpathSeconds));
  }
  if (transfers_.size() >= kMaxExplicitTransfers) {
    return Status::BadRequestData(fmt::format("more than {} transfers", kMaxExplicitTransfers));
  }
  if (from == to) {
    stops_[from].min_transfer = duration;
  } else {
    transfers_.push_back({from, to, duration});
  }
  return Status::Ok();
}

void Timetable::IndexDepartures() {
  departures_.resize(stop_times_.size());
  for (const RouteInfo& ri : routes_) {
    for (uint32_t t = 0; t < ri.trip_count; ++t) {
      const StopTime* times = stop_times_.data() + ri.first_time + uint64_t{t} * ri.stop_count;
      for (uint32_t p = 0; p < ri.stop_count; ++p) {
        departures_[ri.first_time + uint64_t{p} * ri.trip_count + t] = times[p].departure;
      }
    }
  }
}

Result<Timetable> TimetableBuilder::Build(const WalkingOptions& walking) {
  if (stops_.size() > kMaxStops) return Status::BadRequestData(fmt::format("more than {} stops", kMaxStops));
  Timetable tt;
  tt.stops_ = stops_;
  tt.trip_accessible_ = accessible_;
  GroupTripsIntoRoutes(tt);
  tt.IndexDepartures();
  BuildStopRoutes(tt);
  CITYHUB_RETURN_IF_ERROR(BuildFootpaths(tt, walking));
  return tt;
}

void TimetableBuilder::GroupTripsIntoRoutes(Timetable& tt) const {
  auto stops_of = [this](TripIdx t) {
    return std::span<const StopIdx>(trip_stops_.data() + trips_[t].first_stop, trips_[t].stop_count);
  };
  auto times_of = [this](TripIdx t) {
    return std::span<const StopTime>(times_.data() + trips_[t].first_time, trips_[t].stop_count);
  };
  std::map<std::vector<StopIdx>, std::vector<TripIdx>> by_sequence;
  for (TripIdx t = 0; t < trips_.size(); ++t) {
    auto seq = stops_of(t);
    by_sequence[std::vector<StopIdx>(seq.begin(), seq.end())].push_back(t);
  }
  for (auto& [sequence, trips] : by_sequence) {
    const std::vector<std::vector<TripIdx>> routes = DealIntoNonOvertakingGroups(std::move(trips), times_of);
    for (const auto& route_trips : routes) {
      RouteInfo ri;
      ri.first_stop = static_cast<uint32_t>(tt.route_stops_.size());
      ri.stop_count = static_cast<uint32_t>(sequence.size());
      ri.first_trip = static_cast<uint32_t>(tt.route_trips_.size());
      ri.trip_count = static_cast<uint32_t>(route_trips.size());
      ri.first_time = tt.stop_times_.size();
      tt.route_stops_.insert(tt.route_stops_.end(), sequence.begin(), sequence.end());
      for (TripIdx t : route_trips) {
        tt.route_trips_.push_back(t);
        auto times = times_of(t);
        tt.stop_times_.insert(tt.stop_times_.end(), times.begin(), times.end());
      }
      tt.routes_.push_back(ri);
    }
  }
}

void TimetableBuilder::BuildStopRoutes(Timetable& tt) const {
  std::vector<std::vector<RouteStop>> per_stop(stops_.size());
  for (RouteIdx r = 0; r < tt.routes_.size(); ++r) {
    auto seq = tt.RouteStops(r);
    for (uint32_t p = 0; p < seq.size(); ++p) per_stop[seq[p]].push_back({r, p});
  }
  tt.stop_route_offsets_.assign(1, 0);
  for (const auto& list : per_stop) {
    tt.stop_routes_.insert(tt.stop_routes_.end(), list.begin(), list.end());
    tt.stop_route_offsets_.push_back(static_cast<uint32_t>(tt.stop_routes_.size()));
  }
}

Status TimetableBuilder::BuildFootpaths(Timetable& tt, const WalkingOptions& walking) const {
  if (walking.radius_m < 0 || walking.detour_factor < 1 || walking.speed_m_per_s <= 0) {
    return Status::BadRequestData("walking: radius must be >= 0, detour factor >= 1, speed > 0");
  }
  std::vector<std::vector<Footpath>> per_stop(stops_.size());
  if (walking.radius_m > 0 && !stops_.empty()) {
    double min_cos = 1;
    for (const StopInfo& s : stops_) {
      if (Walkable(s)) min_cos = std::min(min_cos, std::cos(s.lat * M_PI / 180.0));
    }
    min_cos = std::max(min_cos, 0.01);
    auto cell_of = [&](const StopInfo& s) {
      return std::pair<int64_t, int64_t>(
          static_cast<int64_t>(std::floor(s.lon * kMetresPerDegree * min_cos / walking.radius_m)),
          static_cast<int64_t>(std::floor(s.lat * kMetresPerDegree / walking.radius_m)));
    };
    std::unordered_map<uint64_t, std::vector<StopIdx>> grid;
    for (StopIdx s = 0; s < stops_.size(); ++s) {
      if (!Walkable(stops_[s])) continue;
      auto [x, y] = cell_of(stops_[s]);
      grid[CellKey(x, y)].push_back(s);
    }
    for (StopIdx s = 0; s < stops_.size(); ++s) {
      if (!Walkable(stops_[s])) continue;
      auto [x, y] = cell_of(stops_[s]);
      std::vector<std::pair<double, StopIdx>> near;
      for (int64_t dx = -1; dx <= 1; ++dx) {
        for (int64_t dy = -1; dy <= 1; ++dy) {
          auto it = grid.find(CellKey(x + dx, y + dy));
          if (it == grid.end()) continue;
          for (StopIdx o : it->second) {
            if (o == s) continue;
            double d = GreatCircleMetres(stops_[s], stops_[o]);
            if (d <= walking.radius_m) near.emplace_back(d, o);
          }
        }
      }
      std::sort(near.begin(), near.end());
      if (near.size() > kMaxFootpathsPerStop) near.resize(kMaxFootpathsPerStop);
      for (auto [d, o] : near) {
        double secs = std::ceil(d * walking.detour_factor / walking.speed_m_per_s);
        if (secs <= kMaxFootpathSeconds) per_stop[s].push_back({o, static_cast<Seconds>(secs)});
      }
    }
  }
  for (const Transfer& t : transfers_) {
    auto& list = per_stop[t.from];
    auto it = std::find_if(list.begin(), list.end(), [&](const Footpath& f) { return f.to == t.to; });
    if (it == list.end()) {
      list.push_back({t.to, t.duration});
    } else {
      it->duration = t.duration;
    }
  }
  tt.footpath_offsets_.assign(1, 0);
  for (auto& list : per_stop) {
    std::sort(list.begin(), list.end(), [](const Footpath& a, const Footpath& b) { return a.to < b.to; });
    tt.footpaths_.insert(tt.footpaths_.end(), list.begin(), list.end());
    tt.footpath_offsets_.push_back(static_cast<uint32_t>(tt.footpaths_.size()));
  }
  return Status::Ok();
}

}  // namespace cityhub::mobility::routing
