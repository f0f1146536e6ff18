// Raptor: journey planning on a Timetable with RAPTOR (Delling, Pajor, Werneck, 2012) — earliest
// arrival per number of trips, range queries over a departure window, and latest departure for
// a deadline. A Raptor object owns its scratch labels and is reused across queries: one per
// thread; the Timetable it reads is shared and must outlive it.
//
// Model. A journey leaves its origin at its departure time, walks to one of the query's source
// stops (Access: stop + walking seconds), optionally walks one footpath, then alternates trips
// and transfers, and ends by walking from one of the target stops to the destination. Between
// alighting and boarding another trip at the same stop it needs the stop's minimum transfer
// time; a footpath's duration replaces it. No transfer time is needed at the first boarding.
// "Trips" counts the vehicles boarded (transfers = trips − 1).
//
// Algorithm. Round k scans, once each, the routes serving stops whose "ready to board" time
// improved in round k−1, from the earliest such position, riding the earliest catchable trip
// (routes never overtake, so it dominates); then relaxes footpaths from the stops reached.
// Labels per round give the best arrival with at most k trips, and the journey of each round
// is rebuilt from them. A round is skipped when nothing improved; at most max_transfers + 1.
//
// Range (rRAPTOR): the departures that matter are those at which some first trip can just be
// caught; they are processed latest first, keeping the labels, so each earlier departure only
// pays for what it improves. A journey is reported at the latest departure that achieves it.
//
// Arrive-by: the latest departure arriving by a deadline is found by binary search over the same
// departure candidates with forward queries (arrival never decreases when leaving later), so it
// costs about log2(candidates) earliest-arrival queries per number of trips; a backward RAPTOR
// pass would be cheaper and is the natural next step.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "services/mobility/routing/timetable.h"
#include "util/status.h"

namespace cityhub::mobility::routing {

// Limits on a query (larger ones are rejected with InvalidRequest).
inline constexpr uint32_t kMaxQueryTransfers = 15;
inline constexpr size_t kMaxAccessStops = 10'000;  // sources or targets in one query

// Walking between the origin (or destination) and a stop.
struct Access {
  StopIdx stop = 0;
  Seconds duration = 0;
};

struct RaptorQuery {
  std::vector<Access> sources;
  std::vector<Access> targets;
  Seconds departure = 0;             // earliest arrival: when the traveller leaves the origin
  Seconds window_end = 0;            // range: departures in [departure, window_end]
  Seconds arrive_by = 0;             // arrive-by: the deadline at the destination
  uint32_t max_transfers = 4;
  bool wheelchair = false;           // board only wheelchair-accessible trips
};

struct Leg {
  enum class Kind { kAccess, kTransit, kTransfer, kEgress };
  Kind kind = Kind::kTransit;
  StopIdx from = 0;  // kAccess: the first stop (the origin is not a stop); kEgress: the last stop
  StopIdx to = 0;
  Seconds departure = 0;
  Seconds arrival = 0;
  RouteIdx route = 0;  // kTransit only
  TripIdx trip = 0;    // kTransit only
};

struct Journey {
  Seconds departure = 0;  // leaving the origin
  Seconds arrival = 0;    // at the destination
  uint32_t trips = 0;
  std::vector<Leg> legs;
};

struct EarliestArrival {
  // [k] = the earliest arrival at the destination using at most k trips (kUnreachable: none);
  // size max_transfers + 2.
  std::vector<Seconds> arrival_by_trips;
  // The Pareto set arrival × trips: one journey for each k whose arrival beats every smaller k,
  // by increasing trips (so decreasing arrival).
  std::vector<Journey> journeys;
};

class Raptor {
 public:
  explicit Raptor(const Timetable& timetable);

  // Earliest arrival leaving at query.departure. InvalidRequest when the query is malformed
  // (no sources or targets, an unknown stop, a negative walk, too many transfers or stops).
  Result<EarliestArrival> Route(const RaptorQuery& query);

  // The journeys leaving within [query.departure, query.window_end] that no other journey
  // dominates (leaving no earlier, arriving no later, with no more trips), by decreasing
  // departure then increasing trips. Walking alone, if it reaches the destination, takes the
  // same time whenever one leaves: it is listed once, leaving at window_end (and still
  // dominates the journeys that arrive no earlier than walking would from their departure).
  // Errors as Route(), or a window that ends before it starts.
  Result<std::vector<Journey>> RouteRange(const RaptorQuery& query);

  // For each number of trips, the journey leaving latest that arrives by query.arrive_by, as a
  // Pareto set departure × trips (increasing trips, strictly later departures). Departures
  // before query.departure are not considered (it bounds the search). Errors as RouteRange().
  Result<std::vector<Journey>> RouteArriveBy(const RaptorQuery& query);

 private:
  struct ReadyLabel {
    Seconds time = kUnreachable;
    StopIdx from = 0;      // the stop alighted at (or the source stop), before any footpath
    Seconds walk = 0;      // footpath from `from`; 0 when from is this stop
    int32_t source = -1;   // >= 0: reached from query.sources[source] without a trip
    uint32_t trip_round = 0;
  };

  struct TripLabel {
    Seconds time = kUnreachable;
    RouteIdx route = 0;
    uint32_t trip = 0;  // within the route
    uint32_t board_position = 0;
    uint32_t alight_position = 0;
  };

  struct TargetLabel {
    Seconds time = kUnreachable;
    StopIdx from = 0;  // alighted at (or the source stop)
    StopIdx via = 0;   // the target stop walked from to the destination
    Seconds walk = 0;  // footpath from -> via
    int32_t source = -1;
    uint32_t trip_round = 0;
  };

  Status Validate(const RaptorQuery& query) const;
  void Reset(uint32_t rounds);
  // Runs all rounds for one departure time on the current labels.
  void RunDeparture(const RaptorQuery& query, Seconds departure, uint32_t rounds);
  void InitSources(const RaptorQuery& query, Seconds departure);
  // The index in its route of the first trip leaving the route stop at or after `ready` (and
  // accessible when asked); the route's trip count when none.
  uint32_t CatchableTrip(const RouteStop& rs, Seconds ready, bool wheelchair) const;
  void ScanRoute(RouteIdx route, uint32_t first_position, uint32_t round, bool wheelchair);
  void RelaxFromTrips(uint32_t round);
  Journey Rebuild(const RaptorQuery& query, Seconds departure, uint32_t round) const;
  std::vector<Seconds> DepartureCandidates(const RaptorQuery& query, Seconds from, Seconds to) const;

  ReadyLabel& Ready(uint32_t round, StopIdx s);
  const ReadyLabel& Ready(uint32_t round, StopIdx s) const;
  TripLabel& Arrived(uint32_t round, StopIdx s);
  const TripLabel& Arrived(uint32_t round, StopIdx s) const;

  void LowerBound(std::vector<Seconds>& bounds, uint32_t round, StopIdx s, Seconds t);

  const Timetable& tt_;
  size_t stops_;
  uint32_t rounds_ = 0;
  // Local pruning: [round * stops + stop] = the best time over rounds <= round (a label worse
  // than an earlier round's needs no scan: it has more trips and arrives no earlier).
  std::vector<Seconds> ready_bound_;
  std::vector<Seconds> arrived_bound_;
  std::vector<ReadyLabel> ready_;      // [round * stops + stop]: earliest time to board there
  std::vector<TripLabel> arrived_;     // [round * stops + stop]: earliest alighting there
  std::vector<TargetLabel> target_;    // [round]: best arrival at the destination
  std::vector<Seconds> egress_;        // by stop: walk to the destination, kUnreachable: not a target
  std::vector<uint8_t> marked_;        // by stop: ready improved in the previous round
  std::vector<Seconds> ready0_before_;  // by stop marked in round 0: its ready time before this departure
  std::vector<StopIdx> marked_list_;
  std::vector<uint8_t> improved_;      // by stop: arrived improved in this round
  std::vector<StopIdx> improved_list_;
  std::vector<uint32_t> route_from_;   // by route: earliest marked position, UINT32_MAX: none
  std::vector<RouteIdx> routes_to_scan_;
};

}  // namespace cityhub::mobility::routing
