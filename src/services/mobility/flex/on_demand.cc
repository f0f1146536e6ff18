// OnDemandIndex. Building costs one pass over the stops per zone's latitude band (stops sorted
// by latitude), so a feed's few zones against its thousands of stops stay cheap. A query tests
// the point against every zone's bounding box, and the polygons only of those that pass; then
// it walks the flex trips running that day, pairing each pickup window with the later
// drop-off windows of the same trip. Legs are kept best-first per (stop, trip) while walking,
// and cut back to kMaxOnDemandLegs whenever twice as many pile up, so a query's memory stays
// bounded however many trips and stops a zone holds.
#include "services/mobility/flex/on_demand.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "util/geo.h"

namespace cityhub::mobility::flex {
namespace {

using gtfs::FlexPlaceKind;
using gtfs::FlexWindow;

double GreatCircleMetres(LatLon a, LatLon b) { return util::GreatCircleMetres(a.lat, a.lon, b.lat, b.lon); }

// Even-odd rule over every ring of one polygon: a ray from `p` towards +lon crosses the
// boundary an odd number of times exactly when p is inside the boundary and outside the holes.
bool PolygonContains(const gtfs::FlexPolygon& polygon, LatLon p) {
  bool inside = false;
  for (const std::vector<LatLon>& ring : polygon.rings) {
    if (ring.empty()) continue;
    for (size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
      const LatLon& a = ring[i];
      const LatLon& b = ring[j];
      if ((a.lat > p.lat) != (b.lat > p.lat) &&
          p.lon < (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon) {
        inside = !inside;
      }
    }
  }
  return inside;
}

bool Boardable(const gtfs::Stop& stop) {
  return stop.has_position && (stop.location_type == gtfs::LocationType::kStop ||
                               stop.location_type == gtfs::LocationType::kBoardingArea);
}

// Whether leg `a` is better than `b`: it arrives earlier, or as early and may leave later.
bool Better(const OnDemandLeg& a, const OnDemandLeg& b) {
  if (a.earliest_arrival() != b.earliest_arrival()) return a.earliest_arrival() < b.earliest_arrival();
  return a.latest_departure > b.latest_departure;
}

void CutToLimit(std::vector<OnDemandLeg>& legs) {
  if (legs.size() <= kMaxOnDemandLegs) return;
  std::nth_element(legs.begin(), legs.begin() + kMaxOnDemandLegs, legs.end(), Better);
  legs.resize(kMaxOnDemandLegs);
}

// Builds CSR offsets from per-row counts: begin[r] .. begin[r + 1].
std::vector<uint32_t> OffsetsOf(const std::vector<uint32_t>& counts) {
  std::vector<uint32_t> begin(counts.size() + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), begin.begin() + 1);
  return begin;
}

}  // namespace

Result<OnDemandIndex> OnDemandIndex::Build(const gtfs::Feed& feed, OnDemandOptions options) {
  if (!(options.detour_factor >= 1 && options.detour_factor <= kMaxDetourFactor) ||
      !(options.speed_m_per_s >= kMinVehicleSpeed && std::isfinite(options.speed_m_per_s))) {
    return Status::BadRequestData(
        fmt::format("on-demand options: the detour factor must be in [1, {}] and the speed at "
                    "least {} m/s", kMaxDetourFactor, kMinVehicleSpeed));
  }
  OnDemandIndex index(feed, options);
  index.IndexStopsInZones();
  index.IndexWindows();
  return index;
}

bool OnDemandIndex::ZoneContains(const gtfs::FlexZone& zone, LatLon point) {
  if (point.lat < zone.min.lat || point.lat > zone.max.lat || point.lon < zone.min.lon ||
      point.lon > zone.max.lon) {
    return false;
  }
  return std::any_of(zone.polygons.begin(), zone.polygons.end(),
                     [&](const gtfs::FlexPolygon& polygon) { return PolygonContains(polygon, point); });
}

int32_t OnDemandIndex::RideSeconds(LatLon a, LatLon b) const {
  double seconds = GreatCircleMetres(a, b) * options_.detour_factor / options_.speed_m_per_s;
  return static_cast<int32_t>(std::ceil(seconds));
}

void OnDemandIndex::IndexStopsInZones() {
  const gtfs::Feed& feed = *feed_;
  std::vector<uint32_t> by_lat;
  for (uint32_t s = 0; s < feed.stops.size(); ++s) {
    if (Boardable(feed.stops[s])) by_lat.push_back(s);
  }
  std::sort(by_lat.begin(), by_lat.end(),
            [&](uint32_t a, uint32_t b) { return feed.stops[a].lat < feed.stops[b].lat; });
  zone_stop_begin_.assign(1, 0);
  for (const gtfs::FlexZone& zone : feed.zones) {
    auto first = std::lower_bound(by_lat.begin(), by_lat.end(), zone.min.lat,
                                  [&](uint32_t s, double lat) { return feed.stops[s].lat < lat; });
    size_t zone_begin = zone_stops_.size();
    for (auto it = first; it != by_lat.end() && feed.stops[*it].lat <= zone.max.lat; ++it) {
      const gtfs::Stop& stop = feed.stops[*it];
      if (ZoneContains(zone, {stop.lat, stop.lon})) zone_stops_.push_back(*it);
    }
    std::sort(zone_stops_.begin() + static_cast<ptrdiff_t>(zone_begin), zone_stops_.end());
    zone_stop_begin_.push_back(static_cast<uint32_t>(zone_stops_.size()));
  }
}

void OnDemandIndex::IndexWindows() {
  const gtfs::Feed& feed = *feed_;
  const std::vector<FlexWindow>& windows = feed.flex_windows;
  auto zone_stops = [&](uint32_t zone) {
    return std::span<const uint32_t>(zone_stops_.data() + zone_stop_begin_[zone],
                                     zone_stop_begin_[zone + 1] - zone_stop_begin_[zone]);
  };
  // The zones of each window's place, and its stops.
  std::vector<std::vector<uint32_t>> zones_of(windows.size());
  window_stop_begin_.assign(1, 0);
  for (uint32_t w = 0; w < windows.size(); ++w) {
    const FlexWindow& window = windows[w];
    std::vector<uint32_t> stops;
    switch (window.place_kind) {
      case FlexPlaceKind::kZone:
        zones_of[w] = {window.place};
        break;
      case FlexPlaceKind::kLocationGroup: {
        const gtfs::LocationGroup& group = feed.location_groups[window.place];
        zones_of[w] = group.zones;
        for (uint32_t s : group.stops) {
          if (Boardable(feed.stops[s])) stops.push_back(s);
        }
        break;
      }
      case FlexPlaceKind::kStop:
        if (Boardable(feed.stops[window.place])) stops.push_back(window.place);
        break;
    }
    for (uint32_t z : zones_of[w]) {
      auto inside = zone_stops(z);
      stops.insert(stops.end(), inside.begin(), inside.end());
    }
    std::sort(stops.begin(), stops.end());
    stops.erase(std::unique(stops.begin(), stops.end()), stops.end());
    window_stops_.insert(window_stops_.end(), stops.begin(), stops.end());
    window_stop_begin_.push_back(static_cast<uint32_t>(window_stops_.size()));
  }
  std::vector<uint32_t> per_zone(feed.zones.size(), 0);
  for (const auto& zones : zones_of) {
    for (uint32_t z : zones) ++per_zone[z];
  }
  zone_window_begin_ = OffsetsOf(per_zone);
  zone_windows_.resize(zone_window_begin_.back());
  std::vector<uint32_t> fill(zone_window_begin_.begin(), zone_window_begin_.end() - 1);
  for (uint32_t w = 0; w < windows.size(); ++w) {
    for (uint32_t z : zones_of[w]) zone_windows_[fill[z]++] = w;
  }
  std::vector<uint32_t> per_trip(feed.flex_trips.size(), 0);
  for (const FlexWindow& window : windows) ++per_trip[window.flex_trip];
  trip_window_begin_ = OffsetsOf(per_trip);
}

std::span<const uint32_t> OnDemandIndex::StopsOf(uint32_t window) const {
  return {window_stops_.data() + window_stop_begin_[window],
          window_stop_begin_[window + 1] - window_stop_begin_[window]};
}

PlaceLabel OnDemandIndex::PlaceOf(uint32_t window) const {
  const FlexWindow& w = feed_->flex_windows[window];
  switch (w.place_kind) {
    case FlexPlaceKind::kZone:
      return {w.place_kind, feed_->zones[w.place].id, feed_->zones[w.place].name};
    case FlexPlaceKind::kLocationGroup:
      return {w.place_kind, feed_->location_groups[w.place].id,
              feed_->location_groups[w.place].name};
    case FlexPlaceKind::kStop:
      break;
  }
  return {w.place_kind, feed_->stops[w.place].id, feed_->stops[w.place].name};
}

std::vector<bool> OnDemandIndex::WindowsContaining(LatLon point) const {
  std::vector<bool> inside(feed_->flex_windows.size(), false);
  for (uint32_t z = 0; z < feed_->zones.size(); ++z) {
    if (!ZoneContains(feed_->zones[z], point)) continue;
    for (uint32_t i = zone_window_begin_[z]; i < zone_window_begin_[z + 1]; ++i) {
      inside[zone_windows_[i]] = true;
    }
  }
  return inside;
}

bool OnDemandIndex::RunsOn(uint32_t flex_trip, int32_t yyyymmdd) const {
  return feed_->ServiceRunsOn(feed_->flex_trips[flex_trip].service, yyyymmdd);
}

std::vector<FlexService> OnDemandIndex::ServicesAt(LatLon point, int32_t yyyymmdd, TimeWindow when,
                                                   bool pickup) const {
  std::vector<FlexService> services;
  if (when.earliest > when.latest) return services;
  std::vector<bool> inside = WindowsContaining(point);
  for (uint32_t w = 0; w < inside.size(); ++w) {
    const FlexWindow& window = feed_->flex_windows[w];
    if (inside[w] && (pickup ? window.allows_pickup() : window.allows_drop_off()) &&
        window.window_start <= when.latest && window.window_end >= when.earliest &&
        RunsOn(window.flex_trip, yyyymmdd)) {
      services.push_back({w, window.flex_trip});
    }
  }
  return services;
}

std::vector<FlexService> OnDemandIndex::PickupServicesAt(LatLon point, int32_t yyyymmdd,
                                                         TimeWindow when) const {
  return ServicesAt(point, yyyymmdd, when, /*pickup=*/true);
}

std::vector<FlexService> OnDemandIndex::DropOffServicesAt(LatLon point, int32_t yyyymmdd,
                                                          TimeWindow when) const {
  return ServicesAt(point, yyyymmdd, when, /*pickup=*/false);
}

std::optional<OnDemandLeg> OnDemandIndex::Fit(uint32_t pickup, uint32_t drop_off, int32_t ride,
                                              TimeWindow departure) const {
  const FlexWindow& up = feed_->flex_windows[pickup];
  const FlexWindow& down = feed_->flex_windows[drop_off];
  int32_t earliest = std::max({departure.earliest, up.window_start, down.window_start - ride});
  int32_t latest = std::min({departure.latest, up.window_end, down.window_end - ride});
  if (earliest > latest) return std::nullopt;
  OnDemandLeg leg;
  leg.flex_trip = up.flex_trip;
  leg.pickup_window = pickup;
  leg.drop_off_window = drop_off;
  leg.ride_seconds = ride;
  leg.earliest_departure = earliest;
  leg.latest_departure = latest;
  leg.pickup_booking_rule = up.pickup_booking_rule;
  leg.drop_off_booking_rule = down.drop_off_booking_rule;
  return leg;
}

std::vector<OnDemandLeg> OnDemandIndex::AccessLegs(LatLon origin, int32_t yyyymmdd,
                                                   TimeWindow departure) const {
  return StopLegs(origin, yyyymmdd, departure, /*from_point=*/true);
}

std::vector<OnDemandLeg> OnDemandIndex::EgressLegs(LatLon destination, int32_t yyyymmdd,
                                                   TimeWindow departure) const {
  return StopLegs(destination, yyyymmdd, departure, /*from_point=*/false);
}

std::vector<OnDemandLeg> OnDemandIndex::StopLegs(LatLon point, int32_t yyyymmdd,
                                                 TimeWindow departure, bool from_point) const {
  const std::vector<FlexWindow>& windows = feed_->flex_windows;
  std::vector<bool> inside = WindowsContaining(point);
  std::vector<OnDemandLeg> legs;
  std::unordered_map<uint32_t, size_t> leg_of_stop;  // within the current trip
  for (uint32_t t = 0; t + 1 < trip_window_begin_.size(); ++t) {
    if (!RunsOn(t, yyyymmdd)) continue;
    leg_of_stop.clear();
    for (uint32_t up = trip_window_begin_[t]; up < trip_window_begin_[t + 1]; ++up) {
      if (!windows[up].allows_pickup() || (from_point && !inside[up])) continue;
      for (uint32_t down = up + 1; down < trip_window_begin_[t + 1]; ++down) {
        if (!windows[down].allows_drop_off() || (!from_point && !inside[down])) continue;
        for (uint32_t s : StopsOf(from_point ? down : up)) {
          const gtfs::Stop& stop = feed_->stops[s];
          int32_t ride = from_point ? RideSeconds(point, {stop.lat, stop.lon})
                                    : RideSeconds({stop.lat, stop.lon}, point);
          std::optional<OnDemandLeg> leg = Fit(up, down, ride, departure);
          if (!leg) continue;
          leg->stop = s;
          auto [it, added] = leg_of_stop.emplace(s, legs.size());
          if (added) {
            legs.push_back(*leg);
          } else if (Better(*leg, legs[it->second])) {
            legs[it->second] = *leg;
          }
        }
      }
    }
    if (legs.size() > 2 * kMaxOnDemandLegs) CutToLimit(legs);
  }
  CutToLimit(legs);
  std::sort(legs.begin(), legs.end(), [](const OnDemandLeg& a, const OnDemandLeg& b) {
    if (a.stop != b.stop) return a.stop < b.stop;
    return Better(a, b);
  });
  return legs;
}

std::vector<OnDemandLeg> OnDemandIndex::DirectLegs(LatLon from, LatLon to, int32_t yyyymmdd,
                                                   TimeWindow departure) const {
  const std::vector<FlexWindow>& windows = feed_->flex_windows;
  std::vector<bool> inside_from = WindowsContaining(from);
  std::vector<bool> inside_to = WindowsContaining(to);
  const int32_t ride = RideSeconds(from, to);
  std::vector<OnDemandLeg> legs;
  for (uint32_t t = 0; t + 1 < trip_window_begin_.size(); ++t) {
    if (!RunsOn(t, yyyymmdd)) continue;
    std::optional<OnDemandLeg> best;
    for (uint32_t up = trip_window_begin_[t]; up < trip_window_begin_[t + 1]; ++up) {
      if (!windows[up].allows_pickup() || !inside_from[up]) continue;
      for (uint32_t down = up + 1; down < trip_window_begin_[t + 1]; ++down) {
        if (!windows[down].allows_drop_off() || !inside_to[down]) continue;
        std::optional<OnDemandLeg> leg = Fit(up, down, ride, departure);
        if (leg && (!best || Better(*leg, *best))) best = leg;
      }
    }
    if (best) legs.push_back(*best);
  }
  CutToLimit(legs);
  std::sort(legs.begin(), legs.end(), Better);
  return legs;
}

}  // namespace cityhub::mobility::flex
