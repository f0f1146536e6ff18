// Timetable: the in-memory transit network RAPTOR routes on, for one routing day; built once
// by TimetableBuilder, then immutable and owned by whoever holds it (safe to share read-only
// between threads).
//
// Layout. Data sits in flat vectors indexed by small integers, so the router's hot loop reads
// consecutive memory and chases no pointers:
//  - stops: position and minimum transfer time, indexed by StopIdx;
//  - routes: trip patterns — one stop sequence and the trips that run along it, sorted by
//    departure. Trips of a route never overtake one another (at every position their arrival
//    and departure times are non-decreasing in trip order), which RAPTOR needs to board "the
//    earliest catchable trip"; the builder splits a stop sequence into several routes where
//    trips would overtake. The times of route r's trip t at position p are at
//    stop_times_[routes_[r].first_time + t * stop_count + p];
//  - for each stop, the (route, position) pairs serving it;
//  - for each stop, its outgoing footpaths (to, seconds).
//
// Times are seconds from the start of the routing day (the feed's local noon minus 12 h, as
// GTFS counts); they may exceed 24 h for trips running past midnight.
//
// Footpaths come from explicit transfers and, optionally, from walking between stops within a
// radius: crow-fly (great-circle) distance × a detour factor / walking speed, rounded up to a
// whole second — an estimate, not a street-network walk. An explicit transfer between two
// stops replaces the estimate for that pair; a transfer from a stop to itself sets the stop's
// minimum transfer time. Footpaths are not chained: a journey walks at most one footpath
// between two trips (and one after its access walk), so a builder wanting A→B→C on foot must
// add A→C itself. A stop added with NaN coordinates (a station, a stop without a position) gets
// no walking footpaths, only explicit transfers.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "util/status.h"

namespace cityhub::mobility::routing {

using StopIdx = uint32_t;
using RouteIdx = uint32_t;
using TripIdx = uint32_t;  // the order in which trips were added to the builder
using Seconds = int32_t;

inline constexpr Seconds kUnreachable = std::numeric_limits<Seconds>::max();

// Limits the builder enforces (larger inputs are rejected with a clear error).
inline constexpr size_t kMaxStops = 1'000'000;
inline constexpr size_t kMaxTrips = 5'000'000;
inline constexpr size_t kMaxStopsPerTrip = 1'000;
inline constexpr size_t kMaxStopEvents = 100'000'000;        // sum over trips of their stops
inline constexpr Seconds kMaxTime = 7 * 24 * 3600;           // latest time of day accepted
inline constexpr Seconds kMaxFootpathSeconds = 6 * 3600;     // longest footpath accepted
inline constexpr size_t kMaxFootpathsPerStop = 1'000;        // walking footpaths kept per stop (nearest)
inline constexpr size_t kMaxExplicitTransfers = 10'000'000;

struct StopInfo {
  double lat = 0;
  double lon = 0;
  Seconds min_transfer = 0;  // between alighting one trip and boarding another here
};

struct StopTime {
  Seconds arrival = 0;
  Seconds departure = 0;
};

struct Footpath {
  StopIdx to = 0;
  Seconds duration = 0;
};

// Where a route serves a stop.
struct RouteStop {
  RouteIdx route = 0;
  uint32_t position = 0;
};

struct RouteInfo {
  uint32_t first_stop = 0;  // into route_stops_
  uint32_t stop_count = 0;
  uint32_t first_trip = 0;  // into route_trips_
  uint32_t trip_count = 0;
  uint64_t first_time = 0;  // into stop_times_
};

class Timetable {
 public:
  size_t StopCount() const { return stops_.size(); }
  size_t RouteCount() const { return routes_.size(); }
  size_t TripCount() const { return trip_accessible_.size(); }

  const StopInfo& Stop(StopIdx s) const { return stops_[s]; }
  const RouteInfo& Route(RouteIdx r) const { return routes_[r]; }
  // The stop sequence of route r.
  std::span<const StopIdx> RouteStops(RouteIdx r) const {
    return {route_stops_.data() + routes_[r].first_stop, routes_[r].stop_count};
  }
  // The times of route r's t-th trip (in departure order) at each position.
  std::span<const StopTime> TripTimes(RouteIdx r, uint32_t t) const {
    const RouteInfo& ri = routes_[r];
    return {stop_times_.data() + ri.first_time + uint64_t{t} * ri.stop_count, ri.stop_count};
  }
  // The departures of route r's trips at position p, in trip order (ascending: trips never
  // overtake) — the same times as TripTimes, laid out by position so that finding the earliest
  // catchable trip reads consecutive memory.
  std::span<const Seconds> DeparturesAt(RouteIdx r, uint32_t p) const {
    const RouteInfo& ri = routes_[r];
    return {departures_.data() + ri.first_time + uint64_t{p} * ri.trip_count, ri.trip_count};
  }
  // The builder's TripIdx of route r's t-th trip.
  TripIdx TripOf(RouteIdx r, uint32_t t) const { return route_trips_[routes_[r].first_trip + t]; }
  bool WheelchairAccessible(TripIdx trip) const { return trip_accessible_[trip] != 0; }

  std::span<const RouteStop> RoutesAt(StopIdx s) const {
    return {stop_routes_.data() + stop_route_offsets_[s], stop_route_offsets_[s + 1] - stop_route_offsets_[s]};
  }
  std::span<const Footpath> FootpathsFrom(StopIdx s) const {
    return {footpaths_.data() + footpath_offsets_[s], footpath_offsets_[s + 1] - footpath_offsets_[s]};
  }

 private:
  friend class TimetableBuilder;
  friend class TimetablePatcher;  // timetable_update.cc: a changed copy for real-time updates

  std::vector<StopInfo> stops_;
  std::vector<RouteInfo> routes_;
  std::vector<StopIdx> route_stops_;
  std::vector<TripIdx> route_trips_;
  // Fills departures_ from routes_ and stop_times_ (after the builder or a patch made them).
  void IndexDepartures();

  std::vector<StopTime> stop_times_;
  std::vector<Seconds> departures_;  // [first_time + position * trip_count + trip], see DeparturesAt
  std::vector<uint8_t> trip_accessible_;  // by TripIdx
  std::vector<uint32_t> stop_route_offsets_;  // StopCount() + 1
  std::vector<RouteStop> stop_routes_;
  std::vector<uint32_t> footpath_offsets_;  // StopCount() + 1
  std::vector<Footpath> footpaths_;
};

// How walking footpaths between nearby stops are estimated (see the file comment).
struct WalkingOptions {
  double radius_m = 0;           // 0: no walking footpaths, only explicit transfers
  double detour_factor = 1.3;    // street distance / crow-fly distance
  double speed_m_per_s = 1.25;   // 4.5 km/h
};

// One call of a trip at a stop.
struct TripStop {
  StopIdx stop = 0;
  Seconds arrival = 0;
  Seconds departure = 0;
};

// Collects stops, trips and transfers, then Build() groups trips into routes and computes
// footpaths. Single-threaded; Build() leaves the builder as it was.
class TimetableBuilder {
 public:
  StopIdx AddStop(double lat, double lon, Seconds min_transfer = 0);

  // Adds a trip calling at `stops` in order. Returns its TripIdx, or BadRequestData naming the
  // position when a stop is unknown, a time is outside [0, kMaxTime], arrival > departure at a
  // stop, a time goes backwards, or the trip has fewer than 2 or more than kMaxStopsPerTrip stops.
  Result<TripIdx> AddTrip(std::span<const TripStop> stops, bool wheelchair_accessible);

  // A walking transfer from `from` to `to` taking `duration` seconds (from == to: the stop's
  // minimum transfer time). BadRequestData for an unknown stop or a duration outside
  // [0, kMaxFootpathSeconds].
  Status AddTransfer(StopIdx from, StopIdx to, Seconds duration);

  // The timetable, or BadRequestData when a limit is exceeded.
  Result<Timetable> Build(const WalkingOptions& walking = {});

 private:
  struct PendingTrip {
    uint64_t first_time;  // into times_
    uint32_t stop_count;
    uint64_t first_stop;  // into trip_stops_
  };
  struct Transfer {
    StopIdx from;
    StopIdx to;
    Seconds duration;
  };

  void GroupTripsIntoRoutes(Timetable& tt) const;
  void BuildStopRoutes(Timetable& tt) const;
  Status BuildFootpaths(Timetable& tt, const WalkingOptions& walking) const;

  std::vector<StopInfo> stops_;
  std::vector<PendingTrip> trips_;
  std::vector<StopIdx> trip_stops_;
  std::vector<StopTime> times_;
  std::vector<uint8_t> accessible_;
  std::vector<Transfer> transfers_;
};

}  // namespace cityhub::mobility::routing
