// RAPTOR rounds, label bookkeeping and journey rebuilding (see raptor.h for the model).
//
// Labels. Per round k and stop: `ready` — the earliest time a traveller with at most k trips
// can board there (after the minimum transfer time or a footpath), with where it came from;
// `arrived` — the earliest alighting there from the k-th trip, with the trip and where it was
// boarded. Per round: `target` — the best arrival at the destination. Labels only ever
// improve, which is what lets range queries reuse them from one departure to the next earlier
// one. A ready label copied to a later round keeps its origin (the round of the trip it came
// from), so rebuilding a journey follows the actual rounds, not the copies.
#include "services/mobility/routing/raptor.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace cityhub::mobility::routing {

namespace {
constexpr uint32_t kNone = UINT32_MAX;
}

Raptor::Raptor(const Timetable& timetable)
    : tt_(timetable),
      stops_(timetable.StopCount()),
      egress_(stops_, kUnreachable),
      marked_(stops_, 0),
      ready0_before_(stops_, kUnreachable),
      improved_(stops_, 0),
      route_from_(timetable.RouteCount(), kNone) {}

Raptor::ReadyLabel& Raptor::Ready(uint32_t round, StopIdx s) { return ready_[round * stops_ + s]; }
const Raptor::ReadyLabel& Raptor::Ready(uint32_t round, StopIdx s) const { return ready_[round * stops_ + s]; }
Raptor::TripLabel& Raptor::Arrived(uint32_t round, StopIdx s) { return arrived_[round * stops_ + s]; }
const Raptor::TripLabel& Raptor::Arrived(uint32_t round, StopIdx s) const { return arrived_[round * stops_ + s]; }

// Bounds are non-increasing in the round: once one is no higher than `t`, so are the later ones.
void Raptor::LowerBound(std::vector<Seconds>& bounds, uint32_t round, StopIdx s, Seconds t) {
  for (uint32_t k = round; k < rounds_; ++k) {
    Seconds& b = bounds[size_t{k} * stops_ + s];
    if (b <= t) break;
    b = t;
  }
}

Status Raptor::Validate(const RaptorQuery& query) const {
  if (query.sources.empty()) return Status::InvalidRequest("query: no source stop");
  if (query.targets.empty()) return Status::InvalidRequest("query: no target stop");
  if (query.sources.size() > kMaxAccessStops || query.targets.size() > kMaxAccessStops) {
    return Status::InvalidRequest(fmt::format("query: more than {} source or target stops", kMaxAccessStops));
  }
  if (query.max_transfers > kMaxQueryTransfers) {
    return Status::InvalidRequest(fmt::format("query: maxTransfers {} above {}", query.max_transfers, kMaxQueryTransfers));
  }
  if (query.departure < 0 || query.departure > kMaxTime) {
    return Status::InvalidRequest(fmt::format("query: departure {} outside 0..{}", query.departure, kMaxTime));
  }
  for (const auto* list : {&query.sources, &query.targets}) {
    const char* what = list == &query.sources ? "source" : "target";
    for (size_t i = 0; i < list->size(); ++i) {
      const Access& a = (*list)[i];
      if (a.stop >= stops_) return Status::InvalidRequest(fmt::format("query: {} {}: unknown stop {}", what, i, a.stop));
      if (a.duration < 0 || a.duration > kMaxFootpathSeconds) {
        return Status::InvalidRequest(
            fmt::format("query: {} {}: walk of {} s outside 0..{}", what, i, a.duration, kMaxFootpathSeconds));
      }
    }
  }
  return Status::Ok();
}

void Raptor::Reset(uint32_t rounds) {
  rounds_ = rounds;
  ready_.assign(size_t{rounds} * stops_, ReadyLabel{});
  // Trip labels are read only where this query wrote them (arrived_bound_ says which are
  // current), so they are not cleared: a query touches a small part of them.
  if (arrived_.size() < size_t{rounds} * stops_) arrived_.resize(size_t{rounds} * stops_);
  ready_bound_.assign(size_t{rounds} * stops_, kUnreachable);
  arrived_bound_.assign(size_t{rounds} * stops_, kUnreachable);
  target_.assign(rounds, TargetLabel{});
}

Result<EarliestArrival> Raptor::Route(const RaptorQuery& query) {
  CITYHUB_RETURN_IF_ERROR(Validate(query));
  const uint32_t rounds = query.max_transfers + 2;
  Reset(rounds);
  for (const Access& t : query.targets) egress_[t.stop] = std::min(egress_[t.stop], t.duration);
  RunDeparture(query, query.departure, rounds);
  EarliestArrival result;
  for (uint32_t k = 0; k < rounds; ++k) {
    result.arrival_by_trips.push_back(target_[k].time);
    Seconds previous = k == 0 ? kUnreachable : target_[k - 1].time;
    if (target_[k].time < previous) result.journeys.push_back(Rebuild(query, query.departure, k));
  }
  for (const Access& t : query.targets) egress_[t.stop] = kUnreachable;
  return result;
}

void Raptor::RunDeparture(const RaptorQuery& query, Seconds departure, uint32_t rounds) {
  InitSources(query, departure);
  for (uint32_t k = 1; k < rounds && !marked_list_.empty(); ++k) {
    if (target_[k - 1].time < target_[k].time) target_[k] = target_[k - 1];
    for (StopIdx s : marked_list_) {
      marked_[s] = 0;
      if (Ready(k - 1, s).time < Ready(k, s).time) Ready(k, s) = Ready(k - 1, s);
      for (const RouteStop& rs : tt_.RoutesAt(s)) {
        // Round 1 of a range query: a source reached earlier than at the previous (later)
        // departure changes nothing on a route where it still catches the same trip — that
        // ride was scanned then, and its arrivals are in the labels kept.
        if (k == 1 && CatchableTrip(rs, Ready(0, s).time, query.wheelchair) ==
                          CatchableTrip(rs, ready0_before_[s], query.wheelchair)) {
          continue;
        }
        if (route_from_[rs.route] == kNone) routes_to_scan_.push_back(rs.route);
        route_from_[rs.route] = std::min(route_from_[rs.route], rs.position);
      }
    }
    marked_list_.clear();
    for (RouteIdx r : routes_to_scan_) {
      ScanRoute(r, route_from_[r], k, query.wheelchair);
      route_from_[r] = kNone;
    }
    routes_to_scan_.clear();
    RelaxFromTrips(k);
  }
  for (StopIdx s : marked_list_) marked_[s] = 0;
  marked_list_.clear();
  for (uint32_t k = 1; k < rounds; ++k) {
    if (target_[k - 1].time < target_[k].time) target_[k] = target_[k - 1];
  }
}

uint32_t Raptor::CatchableTrip(const RouteStop& rs, Seconds ready, bool wheelchair) const {
  const RouteInfo& ri = tt_.Route(rs.route);
  if (ready == kUnreachable) return ri.trip_count;
  const auto departures = tt_.DeparturesAt(rs.route, rs.position);
  auto t = static_cast<uint32_t>(std::lower_bound(departures.begin(), departures.end(), ready) - departures.begin());
  while (wheelchair && t < ri.trip_count && !tt_.WheelchairAccessible(tt_.TripOf(rs.route, t))) ++t;
  return t;
}

void Raptor::InitSources(const RaptorQuery& query, Seconds departure) {
  auto offer = [this](StopIdx at, const ReadyLabel& label) {
    if (label.time < Ready(0, at).time) {
      if (!marked_[at]) {
        ready0_before_[at] = Ready(0, at).time;  // what the previous departure left
        marked_[at] = 1;
        marked_list_.push_back(at);
      }
      Ready(0, at) = label;
      LowerBound(ready_bound_, 0, at, label.time);
    }
    if (egress_[at] != kUnreachable && label.time + egress_[at] < target_[0].time) {
      target_[0] = {label.time + egress_[at], label.from, at, label.walk, label.source, 0};
    }
  };
  for (size_t i = 0; i < query.sources.size(); ++i) {
    const Access& src = query.sources[i];
    const Seconds t = departure + src.duration;
    offer(src.stop, {t, src.stop, 0, static_cast<int32_t>(i), 0});
    for (const Footpath& f : tt_.FootpathsFrom(src.stop)) {
      offer(f.to, {t + f.duration, src.stop, f.duration, static_cast<int32_t>(i), 0});
    }
  }
}

void Raptor::ScanRoute(RouteIdx route, uint32_t first_position, uint32_t round, bool wheelchair) {
  const RouteInfo& ri = tt_.Route(route);
  const auto stops = tt_.RouteStops(route);
  uint32_t trip = kNone;
  uint32_t board = 0;
  for (uint32_t p = first_position; p < ri.stop_count; ++p) {
    const StopIdx s = stops[p];
    if (trip != kNone) {
      const Seconds arrival = tt_.TripTimes(route, trip)[p].arrival;
      if (arrival < arrived_bound_[size_t{round} * stops_ + s] && arrival < target_[round].time) {
        Arrived(round, s) = {arrival, route, trip, board, p};
        LowerBound(arrived_bound_, round, s, arrival);
        if (!improved_[s]) {
          improved_[s] = 1;
          improved_list_.push_back(s);
        }
      }
    }
    const Seconds ready = Ready(round - 1, s).time;
    if (ready == kUnreachable || (trip != kNone && tt_.DeparturesAt(route, p)[trip] < ready)) continue;
    // The earliest trip leaving at or after `ready`: trips are sorted at every position.
    const auto departures = tt_.DeparturesAt(route, p);
    const uint32_t limit = trip == kNone ? ri.trip_count : trip;
    const uint32_t lo = static_cast<uint32_t>(
        std::lower_bound(departures.begin(), departures.begin() + limit, ready) - departures.begin());
    uint32_t first = lo;
    while (wheelchair && first < limit && !tt_.WheelchairAccessible(tt_.TripOf(route, first))) ++first;
    if (first < limit) {
      trip = first;
      board = p;
    }
  }
}

void Raptor::RelaxFromTrips(uint32_t round) {
  // Target pruning: a stop reached no earlier than the destination already is leads nowhere better.
  auto offer = [this, round](StopIdx at, const ReadyLabel& label) {
    if (label.time < ready_bound_[size_t{round} * stops_ + at] && label.time < target_[round].time) {
      Ready(round, at) = label;
      LowerBound(ready_bound_, round, at, label.time);
      if (!marked_[at]) {
        marked_[at] = 1;
        marked_list_.push_back(at);
      }
    }
  };
  auto offer_target = [this, round](StopIdx from, StopIdx at, Seconds walk, Seconds time) {
    if (egress_[at] != kUnreachable && time + egress_[at] < target_[round].time) {
      target_[round] = {time + egress_[at], from, at, walk, -1, round};
    }
  };
  for (StopIdx s : improved_list_) {
    improved_[s] = 0;
    const Seconds arrival = Arrived(round, s).time;
    offer_target(s, s, 0, arrival);
    offer(s, {arrival + tt_.Stop(s).min_transfer, s, 0, -1, round});
    for (const Footpath& f : tt_.FootpathsFrom(s)) {
      offer(f.to, {arrival + f.duration, s, f.duration, -1, round});
      offer_target(s, f.to, f.duration, arrival + f.duration);
    }
  }
  improved_list_.clear();
}

Journey Raptor::Rebuild(const RaptorQuery& query, Seconds departure, uint32_t round) const {
  const TargetLabel& tl = target_[round];
  Journey j;
  j.departure = departure;
  j.arrival = tl.time;
  std::vector<Leg> legs;  // last leg first
  const Seconds at_via = tl.time - egress_[tl.via];
  legs.push_back({Leg::Kind::kEgress, tl.via, tl.via, at_via, tl.time, 0, 0});
  if (tl.from != tl.via) legs.push_back({Leg::Kind::kTransfer, tl.from, tl.via, at_via - tl.walk, at_via, 0, 0});
  int32_t source = tl.source;
  StopIdx stop = tl.from;
  uint32_t trip_round = tl.trip_round;
  while (source < 0) {
    const TripLabel& a = Arrived(trip_round, stop);
    const auto times = tt_.TripTimes(a.route, a.trip);
    const StopIdx board = tt_.RouteStops(a.route)[a.board_position];
    legs.push_back({Leg::Kind::kTransit, board, stop, times[a.board_position].departure,
                    times[a.alight_position].arrival, a.route, tt_.TripOf(a.route, a.trip)});
    ++j.trips;
    const ReadyLabel& rl = Ready(trip_round - 1, board);
    if (rl.from != board) {
      legs.push_back({Leg::Kind::kTransfer, rl.from, board, rl.time - rl.walk, rl.time, 0, 0});
    }
    source = rl.source;
    stop = rl.from;
    trip_round = rl.trip_round;
  }
  const Access& src = query.sources[source];
  legs.push_back({Leg::Kind::kAccess, src.stop, src.stop, departure, departure + src.duration, 0, 0});
  j.legs.assign(legs.rbegin(), legs.rend());
  return j;
}

std::vector<Seconds> Raptor::DepartureCandidates(const RaptorQuery& query, Seconds from, Seconds to) const {
  std::vector<Seconds> out;
  auto add_boardings = [&](StopIdx at, Seconds before_boarding) {
    for (const RouteStop& rs : tt_.RoutesAt(at)) {
      for (uint32_t t = 0; t < tt_.Route(rs.route).trip_count; ++t) {
        if (query.wheelchair && !tt_.WheelchairAccessible(tt_.TripOf(rs.route, t))) continue;
        const Seconds d = tt_.TripTimes(rs.route, t)[rs.position].departure - before_boarding;
        if (d >= from && d <= to) out.push_back(d);
      }
    }
  };
  for (const Access& src : query.sources) {
    add_boardings(src.stop, src.duration);
    for (const Footpath& f : tt_.FootpathsFrom(src.stop)) add_boardings(f.to, src.duration + f.duration);
  }
  out.push_back(to);
  std::sort(out.begin(), out.end(), std::greater<>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<Journey>> Raptor::RouteRange(const RaptorQuery& query) {
  CITYHUB_RETURN_IF_ERROR(Validate(query));
  if (query.window_end < query.departure || query.window_end > kMaxTime) {
    return Status::InvalidRequest(fmt::format("query: window end {} before its start {} or after {}",
                                              query.window_end, query.departure, kMaxTime));
  }
  const uint32_t rounds = query.max_transfers + 2;
  Reset(rounds);
  for (const Access& t : query.targets) egress_[t.stop] = std::min(egress_[t.stop], t.duration);
  std::vector<Journey> journeys;
  std::vector<Seconds> before(rounds);
  for (Seconds departure : DepartureCandidates(query, query.departure, query.window_end)) {
    for (uint32_t k = 0; k < rounds; ++k) before[k] = target_[k].time;
    RunDeparture(query, departure, rounds);
    for (uint32_t k = 0; k < rounds; ++k) {
      const Seconds fewer = k == 0 ? kUnreachable : target_[k - 1].time;
      if (k == 0 && departure != query.window_end) continue;  // walking only: once, leaving last
      if (target_[k].time < before[k] && target_[k].time < fewer) journeys.push_back(Rebuild(query, departure, k));
    }
  }
  for (const Access& t : query.targets) egress_[t.stop] = kUnreachable;
  return journeys;
}

Result<std::vector<Journey>> Raptor::RouteArriveBy(const RaptorQuery& query) {
  CITYHUB_RETURN_IF_ERROR(Validate(query));
  if (query.arrive_by < query.departure || query.arrive_by > kMaxTime) {
    return Status::InvalidRequest(fmt::format("query: arrive-by {} before the earliest departure {} or after {}",
                                              query.arrive_by, query.departure, kMaxTime));
  }
  std::vector<Seconds> candidates = DepartureCandidates(query, query.departure, query.arrive_by);
  std::map<Seconds, EarliestArrival> answers;
  auto answer_at = [&](Seconds departure) -> const EarliestArrival& {
    auto it = answers.find(departure);
    if (it != answers.end()) return it->second;
    RaptorQuery q = query;
    q.departure = departure;
    return answers.emplace(departure, std::move(Route(q).value())).first->second;
  };
  // Walking only arrives a fixed time after leaving: its latest departure is a candidate too.
  const Seconds walk_arrival = answer_at(query.departure).arrival_by_trips[0];
  if (walk_arrival != kUnreachable) {
    const Seconds latest = query.arrive_by - (walk_arrival - query.departure);
    if (latest >= query.departure) candidates.push_back(latest);
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

  std::vector<Journey> journeys;
  Seconds latest_so_far = kUnreachable;
  for (uint32_t k = 0; k <= query.max_transfers + 1; ++k) {
    auto in_time = [&](Seconds departure) { return answer_at(departure).arrival_by_trips[k] <= query.arrive_by; };
    if (!in_time(candidates.front())) continue;
    size_t lo = 0, hi = candidates.size() - 1;  // in_time(candidates[lo]) holds
    while (lo < hi) {
      size_t mid = lo + (hi - lo + 1) / 2;
      if (in_time(candidates[mid])) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    const Seconds departure = candidates[lo];
    if (latest_so_far != kUnreachable && departure <= latest_so_far) continue;
    latest_so_far = departure;
    const EarliestArrival& ea = answer_at(departure);
    for (auto it = ea.journeys.rbegin(); it != ea.journeys.rend(); ++it) {
      if (it->trips <= k) {
        journeys.push_back(*it);
        break;
      }
    }
  }
  return journeys;
}

}  // namespace cityhub::mobility::routing
