// Planner: access and egress by walking, the RAPTOR queries, and journeys turned into legs.
#include "services/mobility/network/planner.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "services/mobility/network/realtime.h"
#include "util/geo.h"

namespace cityhub::mobility::network {
namespace {

routing::Seconds WalkSeconds(const NetworkOptions& o, double metres) {
  return static_cast<routing::Seconds>(std::ceil(metres * o.walking.detour_factor / o.walking.speed_m_per_s));
}

bool ValidCoordinate(double lat, double lon) {
  return std::isfinite(lat) && std::isfinite(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180;
}

// The index, within its route, of the route's trip that is TripIdx `trip`.
uint32_t IndexInRoute(const routing::Timetable& tt, routing::RouteIdx route, routing::TripIdx trip) {
  const uint32_t n = tt.Route(route).trip_count;
  for (uint32_t t = 0; t < n; ++t) {
    if (tt.TripOf(route, t) == trip) return t;
  }
  return 0;
}

// `b` is no better than `a` in any criterion: departs no later, arrives no earlier, no fewer transfers.
bool Dominates(const Itinerary& a, const Itinerary& b) {
  return a.departure >= b.departure && a.arrival <= b.arrival && a.transfers <= b.transfers;
}

// The on-demand ride behind an access (egress) entry of the query: the entry to (from) `stop`
// that took `seconds`; null when it is a walk (a walk wins a tie: walks are listed first).
const flex::OnDemandLeg* RideOf(const std::vector<routing::Access>& entries,
                                const std::vector<const flex::OnDemandLeg*>& rides, uint32_t stop, int64_t seconds) {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].stop == stop && entries[i].duration == seconds) return rides[i];
  }
  return nullptr;
}

PlanLeg OnDemandLeg(const flex::OnDemandLeg& ride, Place from, Place to, int64_t departure) {
  PlanLeg leg;
  leg.mode = PlanLeg::Mode::kOnDemand;
  leg.from = from;
  leg.to = to;
  leg.departure = leg.scheduled_departure = departure;
  leg.arrival = leg.scheduled_arrival = departure + ride.ride_seconds;
  leg.flex_trip = ride.flex_trip;
  leg.pickup_window = ride.pickup_window;
  leg.drop_off_window = ride.drop_off_window;
  leg.pickup_booking_rule = ride.pickup_booking_rule;
  leg.drop_off_booking_rule = ride.drop_off_booking_rule;
  return leg;
}

}  // namespace

int64_t ScheduledTime(const TransitNetwork& network, const TripRun& run, uint32_t position, bool arrival) {
  const gtfs::Trip& trip = network.feed().trips[run.feed_trip];
  const gtfs::StopTime& st = network.feed().stop_times[trip.first_stop_time + position];
  return network.clock().ServiceDayStartUtc(run.service_date) + run.shift + (arrival ? st.arrival : st.departure);
}

Result<std::vector<Itinerary>> Planner::Plan(const TransitNetwork& network,
                                             const std::shared_ptr<const DayTimetable>& day,
                                             const PlanRequest& request) {
  if (!ValidCoordinate(request.from_lat, request.from_lon)) {
    return Status::InvalidRequest("from: latitude must be within -90..90 and longitude within -180..180");
  }
  if (!ValidCoordinate(request.to_lat, request.to_lon)) {
    return Status::InvalidRequest("to: latitude must be within -90..90 and longitude within -180..180");
  }
  if (!(request.max_walk_m > 0) || request.max_walk_m > kMaxWalkMetres) {
    return Status::InvalidRequest(fmt::format("maxWalkDistance must be within 1..{} metres", kMaxWalkMetres));
  }
  if (request.max_transfers > routing::kMaxQueryTransfers) {
    return Status::InvalidRequest(fmt::format("maxTransfers must be within 0..{}", routing::kMaxQueryTransfers));
  }
  const NetworkOptions& opts = network.options();
  const routing::Seconds at = day->ToTimetable(request.time);
  if (at < 0 || at > routing::kMaxTime) return Status::InvalidRequest("time is outside the timetable of its date");

  routing::RaptorQuery q;
  q.max_transfers = request.max_transfers;
  q.wheelchair = request.wheelchair;
  for (const NearStop& n : network.StopsNear(request.from_lat, request.from_lon, request.max_walk_m, kMaxAccessStopsPerEnd)) {
    q.sources.push_back({n.stop, WalkSeconds(opts, n.metres)});
  }
  for (const NearStop& n : network.StopsNear(request.to_lat, request.to_lon, request.max_walk_m, kMaxAccessStopsPerEnd)) {
    q.targets.push_back({n.stop, WalkSeconds(opts, n.metres)});
  }
  // On-demand rides, in seconds of the request's service day.
  const flex::OnDemandIndex* on_demand = network.on_demand();
  const int32_t service_date = day->date;
  const int64_t service_day_start = network.clock().ServiceDayStartUtc(service_date);
  const auto local = static_cast<int32_t>(request.time - service_day_start);
  std::vector<flex::OnDemandLeg> access_rides, egress_rides, direct_rides;
  std::vector<const flex::OnDemandLeg*> source_rides(q.sources.size(), nullptr), target_rides(q.targets.size(), nullptr);
  const flex::TimeWindow ahead{local, local + kOnDemandLookahead};
  if (on_demand && !request.arrive_by) {
    access_rides = on_demand->AccessLegs({request.from_lat, request.from_lon}, service_date, ahead);
    egress_rides = on_demand->EgressLegs({request.to_lat, request.to_lon}, service_date,
                                         {local, local + 3 * kOnDemandLookahead});
    for (const flex::OnDemandLeg& r : access_rides) {
      const int32_t wait = std::max(0, r.earliest_departure - local);
      q.sources.push_back({r.stop, wait + r.ride_seconds});
      source_rides.push_back(&r);
    }
    for (const flex::OnDemandLeg& r : egress_rides) {
      q.targets.push_back({r.stop, r.ride_seconds});
      target_rides.push_back(&r);
    }
  }
  if (on_demand) {
    const flex::TimeWindow window = request.arrive_by ? flex::TimeWindow{local - kOnDemandLookahead, local} : ahead;
    direct_rides = on_demand->DirectLegs({request.from_lat, request.from_lon}, {request.to_lat, request.to_lon},
                                         service_date, window);
  }
  const double direct_m = util::GreatCircleMetres(request.from_lat, request.from_lon, request.to_lat, request.to_lon);
  const bool walkable = direct_m <= 2 * request.max_walk_m;
  if (!walkable && q.sources.empty() && direct_rides.empty()) {
    return Status::NotFound(fmt::format("no stop within {} m of the origin", request.max_walk_m));
  }
  if (!walkable && q.targets.empty() && direct_rides.empty()) {
    return Status::NotFound(fmt::format("no stop within {} m of the destination", request.max_walk_m));
  }

  std::vector<Itinerary> out;
  if (!q.sources.empty() && !q.targets.empty()) {
    routing::Raptor router(day->timetable);
    std::vector<routing::Journey> journeys;
    if (request.arrive_by) {
      q.arrive_by = at;
      q.departure = std::max<routing::Seconds>(0, at - 24 * 3600);
      auto found = router.RouteArriveBy(q);
      if (!found.ok()) return found.status();
      journeys = std::move(*found);
    } else {
      q.departure = at;
      auto found = router.Route(q);
      if (!found.ok()) return found.status();
      journeys = std::move(found->journeys);
    }
    for (const routing::Journey& j : journeys) {
      // Walking only is offered below as one direct walk; without a vehicle a journey is worth
      // listing only when it rides on demand.
      if (j.trips == 0 && !RideOf(q.sources, source_rides, j.legs.front().to, j.legs.front().arrival - j.legs.front().departure) &&
          !RideOf(q.targets, target_rides, j.legs.back().from, j.legs.back().arrival - j.legs.back().departure)) {
        continue;
      }
      if (auto it = ToItinerary(network, *day, request, j, q, source_rides, target_rides, service_day_start)) {
        out.push_back(std::move(*it));
      }
    }
  }
  // Door to door on demand: the earliest arrival of each trip (arrive-by: the latest departure).
  for (const flex::OnDemandLeg& r : direct_rides) {
    int64_t departure;
    if (request.arrive_by) {
      departure = service_day_start + std::min<int64_t>(r.latest_departure, local - r.ride_seconds);
      if (departure < service_day_start + r.earliest_departure) continue;
    } else {
      departure = service_day_start + std::max(r.earliest_departure, local);
    }
    Itinerary it;
    it.legs.push_back(OnDemandLeg(r, {gtfs::kNoIndex, request.from_lat, request.from_lon},
                                  {gtfs::kNoIndex, request.to_lat, request.to_lon}, departure));
    it.departure = departure;
    it.arrival = departure + r.ride_seconds;
    out.push_back(std::move(it));
  }
  if (walkable) {
    Itinerary walk;
    const routing::Seconds secs = WalkSeconds(opts, direct_m);
    walk.departure = request.arrive_by ? request.time - secs : request.time;
    walk.arrival = walk.departure + secs;
    PlanLeg leg;
    leg.mode = PlanLeg::Mode::kWalk;
    leg.from = {gtfs::kNoIndex, request.from_lat, request.from_lon};
    leg.to = {gtfs::kNoIndex, request.to_lat, request.to_lon};
    leg.departure = leg.scheduled_departure = walk.departure;
    leg.arrival = leg.scheduled_arrival = walk.arrival;
    walk.legs.push_back(leg);
    out.insert(out.begin(), std::move(walk));  // first: it wins ties in the Pareto filter below
  }
  // Keep the Pareto set: an itinerary another beats in every criterion goes.
  std::vector<Itinerary> kept;
  for (size_t i = 0; i < out.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < out.size() && !dominated; ++j) {
      if (i == j) continue;
      const bool better_somewhere = out[j].departure > out[i].departure || out[j].arrival < out[i].arrival ||
                                    out[j].transfers < out[i].transfers;
      dominated = Dominates(out[j], out[i]) && (better_somewhere || j < i);
    }
    if (!dominated) kept.push_back(std::move(out[i]));
  }
  out = std::move(kept);

  return out;
}

std::optional<Itinerary> Planner::ToItinerary(const TransitNetwork& network, const DayTimetable& day,
                                              const PlanRequest& request, const routing::Journey& journey,
                                              const routing::RaptorQuery& query,
                                              const std::vector<const flex::OnDemandLeg*>& source_rides,
                                              const std::vector<const flex::OnDemandLeg*>& target_rides,
                                              int64_t service_day_start) const {
  const gtfs::Feed& feed = network.feed();
  const routing::Timetable& tt = day.timetable;
  auto stop_place = [&](uint32_t s) { return Place{s, feed.stops[s].lat, feed.stops[s].lon}; };
  Itinerary it;
  it.departure = day.ToUnix(journey.departure);
  it.arrival = day.ToUnix(journey.arrival);
  it.transfers = journey.trips > 0 ? journey.trips - 1 : 0;
  for (const routing::Leg& l : journey.legs) {
    PlanLeg leg;
    leg.departure = leg.scheduled_departure = day.ToUnix(l.departure);
    leg.arrival = leg.scheduled_arrival = day.ToUnix(l.arrival);
    switch (l.kind) {
      case routing::Leg::Kind::kAccess: {
        const flex::OnDemandLeg* ride = RideOf(query.sources, source_rides, l.to, l.arrival - l.departure);
        if (ride) {
          // Wait at the origin for the window, then ride.
          const int64_t leave = day.ToUnix(l.arrival) - ride->ride_seconds;
          leg = OnDemandLeg(*ride, {gtfs::kNoIndex, request.from_lat, request.from_lon}, stop_place(l.to), leave);
          break;
        }
        if (l.arrival == l.departure) continue;
        leg.mode = PlanLeg::Mode::kWalk;
        leg.from = {gtfs::kNoIndex, request.from_lat, request.from_lon};
        leg.to = stop_place(l.to);
        break;
      }
      case routing::Leg::Kind::kEgress: {
        const flex::OnDemandLeg* ride = RideOf(query.targets, target_rides, l.from, l.arrival - l.departure);
        if (ride) {
          // The ride leaves within its window: waiting for it to open, or too late altogether.
          const int64_t open = service_day_start + ride->earliest_departure;
          const int64_t close = service_day_start + ride->latest_departure;
          const int64_t leave = std::max(day.ToUnix(l.departure), open);
          if (leave > close) return std::nullopt;
          leg = OnDemandLeg(*ride, stop_place(l.from), {gtfs::kNoIndex, request.to_lat, request.to_lon}, leave);
          it.arrival = leg.arrival;
          break;
        }
        if (l.arrival == l.departure) continue;
        leg.mode = PlanLeg::Mode::kWalk;
        leg.from = stop_place(l.from);
        leg.to = {gtfs::kNoIndex, request.to_lat, request.to_lon};
        break;
      }
      case routing::Leg::Kind::kTransfer:
        leg.mode = PlanLeg::Mode::kWalk;
        leg.from = stop_place(l.from);
        leg.to = stop_place(l.to);
        break;
      case routing::Leg::Kind::kTransit: {
        leg.mode = PlanLeg::Mode::kTransit;
        leg.from = stop_place(l.from);
        leg.to = stop_place(l.to);
        const TripRun& run = day.runs[l.trip];
        leg.feed_trip = run.feed_trip;
        leg.added_trip = run.added;
        leg.service_date = run.service_date;
        leg.realtime = run.update != kNoRealtime || run.added != kNoRealtime;
        // Find the positions in the route by stop and time, then in the trip's stop_times.
        const auto stops = tt.RouteStops(l.route);
        const auto times = tt.TripTimes(l.route, IndexInRoute(tt, l.route, l.trip));
        uint32_t board = 0;
        while (board < stops.size() && !(stops[board] == l.from && times[board].departure == l.departure)) ++board;
        uint32_t alight = board + 1;
        while (alight < stops.size() && !(stops[alight] == l.to && times[alight].arrival == l.arrival)) ++alight;
        if (alight >= stops.size()) return std::nullopt;  // cannot happen for a journey RAPTOR built
        leg.board_position = FeedPosition(day, run, board);
        leg.alight_position = FeedPosition(day, run, alight);
        if (run.added == kNoRealtime) {
          leg.scheduled_departure = ScheduledTime(network, run, leg.board_position, false);
          leg.scheduled_arrival = ScheduledTime(network, run, leg.alight_position, true);
        }
        break;
      }
    }
    // A footpath next to the access or egress walk is one walk for the traveller.
    if (leg.mode == PlanLeg::Mode::kWalk && !it.legs.empty() && it.legs.back().mode == PlanLeg::Mode::kWalk &&
        it.legs.back().arrival <= leg.departure) {
      PlanLeg& prev = it.legs.back();
      prev.to = leg.to;
      prev.arrival = prev.departure + (prev.arrival - prev.departure) + (leg.arrival - leg.departure);
      prev.scheduled_arrival = prev.arrival;
      continue;
    }
    it.legs.push_back(leg);
  }
  if (!it.legs.empty()) it.departure = it.legs.front().departure;  // an on-demand ride may leave later
  return it;
}

namespace {

// The departures of `day`'s timetable from `stops` at or after timetable time `at`, at most
// `limit` per route and stop.
void CollectDepartures(const TransitNetwork& network, const DayTimetable& day, const std::vector<uint32_t>& stops,
                       routing::Seconds at, size_t limit, std::vector<Departure>& out) {
  const routing::Timetable& tt = day.timetable;
  for (uint32_t s : stops) {
    if (s >= tt.StopCount()) continue;
    for (const routing::RouteStop& rs : tt.RoutesAt(s)) {
      const routing::RouteInfo& ri = tt.Route(rs.route);
      if (rs.position + 1 >= ri.stop_count) continue;  // the trips end here: nothing departs
      // Trips of a route never overtake: departures at one position are sorted.
      uint32_t lo = 0, hi = ri.trip_count;
      while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2;
        if (tt.TripTimes(rs.route, mid)[rs.position].departure < at) lo = mid + 1; else hi = mid;
      }
      for (uint32_t t = lo; t < ri.trip_count && t < lo + limit; ++t) {
        const TripRun& run = day.runs[tt.TripOf(rs.route, t)];
        Departure d;
        d.stop = s;
        d.feed_trip = run.feed_trip;
        d.added_trip = run.added;
        d.service_date = run.service_date;
        d.position = FeedPosition(day, run, rs.position);
        d.departure = day.ToUnix(tt.TripTimes(rs.route, t)[rs.position].departure);
        d.scheduled_departure =
            run.added == kNoRealtime ? ScheduledTime(network, run, d.position, false) : d.departure;
        d.realtime = run.update != kNoRealtime || run.added != kNoRealtime;
        if (run.feed_trip != gtfs::kNoIndex) d.run_start = network.RunStart(run.feed_trip, run.shift);
        out.push_back(d);
      }
    }
  }
}

}  // namespace

std::vector<Departure> NextDepartures(const TransitNetwork& network, const DayTimetable& day, uint32_t stop,
                                      int64_t from, size_t limit, const DayTimetable* scheduled) {
  const gtfs::Feed& feed = network.feed();
  std::vector<uint32_t> stops;
  if (feed.stops[stop].location_type == gtfs::LocationType::kStation) {
    for (uint32_t s = 0; s < feed.stops.size(); ++s) {
      if (feed.stops[s].parent_station == stop) stops.push_back(s);
    }
  } else {
    stops.push_back(stop);
  }
  std::vector<Departure> out;
  CollectDepartures(network, day, stops, day.ToTimetable(from), limit, out);
  if (scheduled && day.realtime) {
    // What the schedule promised and the real-time feed took away: the run is cancelled, or
    // skips this stop.
    std::vector<Departure> promised;
    CollectDepartures(network, *scheduled, stops, scheduled->ToTimetable(from), limit, promised);
    for (Departure& d : promised) {
      const uint32_t u = day.realtime->Find(d.feed_trip, d.service_date, d.run_start);
      if (u == kNoRealtime) continue;
      const gtfs::TripRealtime& update = day.realtime->updates.trips[u];
      if (update.cancelled || (d.position < update.stop_times.size() && update.stop_times[d.position].skipped)) {
        d.cancelled = true;
        d.realtime = true;
        out.push_back(d);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Departure& a, const Departure& b) {
    return a.departure != b.departure ? a.departure < b.departure : a.feed_trip < b.feed_trip;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace cityhub::mobility::network
