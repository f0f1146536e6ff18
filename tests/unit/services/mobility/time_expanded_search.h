// A reference router for differential tests of RAPTOR: a label-setting search on the
// time-expanded graph of a network given as plain trips (no routes, no overtaking rules), plus a
// feasibility check of RAPTOR's journeys and the brute-force Pareto set of a range query. Slow
// and simple on purpose; shared by raptor_test (random networks) and network_test (real feeds).
#pragma once

#include <algorithm>
#include <queue>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "services/mobility/routing/raptor.h"

namespace cityhub::mobility::routing::testing {

// The network as the test generated it, before the builder saw it.
struct Network {
  std::vector<Seconds> min_transfer;
  std::vector<std::vector<TripStop>> trips;
  std::vector<bool> accessible;
  std::vector<std::tuple<StopIdx, StopIdx, Seconds>> footpaths;
  size_t lines = 0;  // stop sequences (trips of a line overtake at random: routes > lines)
};

// Label-setting search on the time-expanded graph. Nodes, each with a fixed time and a number of
// trips boarded: board(trip, position) at its departure, alight(trip, position) at its arrival,
// and wait(stop, i) at the i-th departure from the stop (its waiting chain). Edges: ride to the
// next position, stay on, alight → (transfer time | footpath) → the first wait node not before,
// wait → next wait, wait → board (one more trip). Popped in time order; a node is settled once,
// and not expanded when a journey with no more trips already arrives by its time.
class TimeExpandedSearch {
 public:
  TimeExpandedSearch(const Network& net, bool wheelchair) : net_(net) {
    for (const auto& trip : net.trips) {
      first_event_.push_back(static_cast<uint32_t>(events_));
      events_ += trip.size();
    }
    std::vector<std::vector<std::pair<Seconds, uint32_t>>> per_stop(net.min_transfer.size());
    for (size_t t = 0; t < net.trips.size(); ++t) {
      if (wheelchair && !net.accessible[t]) continue;
      for (size_t p = 0; p < net.trips[t].size(); ++p) {
        per_stop[net.trips[t][p].stop].emplace_back(net.trips[t][p].departure, first_event_[t] + p);
      }
    }
    wait_offset_.push_back(0);
    for (auto& list : per_stop) {
      std::sort(list.begin(), list.end());
      waits_.insert(waits_.end(), list.begin(), list.end());
      wait_offset_.push_back(static_cast<uint32_t>(waits_.size()));
    }
    for (size_t t = 0; t < net.trips.size(); ++t) {
      for (size_t p = 0; p < net.trips[t].size(); ++p) event_trip_.emplace_back(t, p);
    }
    footpaths_from_.resize(net.min_transfer.size());
    for (const auto& [from, to, d] : net.footpaths) footpaths_from_[from].emplace_back(to, d);
  }

  // [k] = the earliest arrival at a target with at most k trips.
  std::vector<Seconds> EarliestArrival(const RaptorQuery& q) const {
    const uint32_t max_trips = q.max_transfers + 1;
    std::vector<Seconds> best(max_trips + 1, kUnreachable);
    std::vector<Seconds> egress(net_.min_transfer.size(), kUnreachable);
    for (const Access& t : q.targets) egress[t.stop] = std::min(egress[t.stop], t.duration);
    const size_t per_layer = 3 * std::max(events_, waits_.size());
    std::vector<char> settled(per_layer * (max_trips + 1), 0);
    using Item = std::pair<Seconds, size_t>;
    std::priority_queue<Item, std::vector<Item>, std::greater<>> queue;
    auto id = [&](int type, size_t index, uint32_t k) { return k * per_layer + type * (per_layer / 3) + index; };
    auto at_stop = [&](StopIdx s, Seconds t, uint32_t k) {
      if (egress[s] != kUnreachable) best[k] = std::min(best[k], t + egress[s]);
    };
    auto ready = [&](StopIdx s, Seconds t, uint32_t k) {
      auto begin = waits_.begin() + wait_offset_[s], end = waits_.begin() + wait_offset_[s + 1];
      auto it = std::lower_bound(begin, end, std::pair<Seconds, uint32_t>(t, 0));
      if (it != end) queue.push({it->first, id(kWait, it - waits_.begin(), k)});
    };
    for (const Access& src : q.sources) {
      const Seconds t = q.departure + src.duration;
      at_stop(src.stop, t, 0);
      ready(src.stop, t, 0);
      for (auto [to, d] : footpaths_from_[src.stop]) {
        at_stop(to, t + d, 0);
        ready(to, t + d, 0);
      }
    }
    while (!queue.empty()) {
      auto [time, node] = queue.top();
      queue.pop();
      if (settled[node]) continue;
      settled[node] = 1;
      const uint32_t k = static_cast<uint32_t>(node / per_layer);
      // Everything reachable from here arrives no earlier and with no fewer trips.
      if (time >= *std::min_element(best.begin(), best.begin() + k + 1)) continue;
      const int type = static_cast<int>((node % per_layer) / (per_layer / 3));
      const size_t index = node % (per_layer / 3);
      if (type == kWait) {
        const StopIdx s = net_.trips[event_trip_[waits_[index].second].first][event_trip_[waits_[index].second].second].stop;
        if (index + 1 < wait_offset_[s + 1]) queue.push({waits_[index + 1].first, id(kWait, index + 1, k)});
        if (k < max_trips) queue.push({time, id(kBoard, waits_[index].second, k + 1)});
        continue;
      }
      const auto [t, p] = event_trip_[index];
      const auto& trip = net_.trips[t];
      if (type == kBoard) {
        if (p + 1 < trip.size()) queue.push({trip[p + 1].arrival, id(kAlight, index + 1, k)});
        continue;
      }
      queue.push({trip[p].departure, id(kBoard, index, k)});  // stay on
      const StopIdx s = trip[p].stop;
      at_stop(s, time, k);
      ready(s, time + net_.min_transfer[s], k);
      for (auto [to, d] : footpaths_from_[s]) {
        at_stop(to, time + d, k);
        ready(to, time + d, k);
      }
    }
    for (size_t k = 1; k < best.size(); ++k) best[k] = std::min(best[k], best[k - 1]);
    return best;
  }

 private:
  static constexpr int kBoard = 0, kAlight = 1, kWait = 2;
  const Network& net_;
  size_t events_ = 0;
  std::vector<uint32_t> first_event_;
  std::vector<std::pair<size_t, size_t>> event_trip_;
  std::vector<std::pair<Seconds, uint32_t>> waits_;  // (departure, event) grouped by stop
  std::vector<uint32_t> wait_offset_;
  std::vector<std::vector<std::pair<StopIdx, Seconds>>> footpaths_from_;
};

// Checks that a journey is one the network allows: legs chain in time, rides match the input
// trips, transfers and footpaths take their time, the filter holds, the counts add up.
inline void ExpectFeasible(const Network& net, const RaptorQuery& q, const Journey& j) {
  ASSERT_GE(j.legs.size(), 2u);
  EXPECT_EQ(j.legs.front().kind, Leg::Kind::kAccess);
  EXPECT_EQ(j.legs.front().departure, j.departure);
  EXPECT_EQ(j.legs.back().kind, Leg::Kind::kEgress);
  EXPECT_EQ(j.legs.back().arrival, j.arrival);
  uint32_t trips = 0;
  const Leg* last_ride = nullptr;
  for (size_t i = 0; i < j.legs.size(); ++i) {
    const Leg& l = j.legs[i];
    EXPECT_LE(l.departure, l.arrival);
    if (i > 0) {
      EXPECT_LE(j.legs[i - 1].arrival, l.departure) << "leg " << i;
    }
    if (l.kind == Leg::Kind::kTransit) {
      ++trips;
      const auto& trip = net.trips.at(l.trip);
      auto at = [&](StopIdx s) {
        return std::find_if(trip.begin(), trip.end(), [&](const TripStop& ts) { return ts.stop == s; });
      };
      ASSERT_NE(at(l.from), trip.end());
      ASSERT_NE(at(l.to), trip.end());
      EXPECT_LT(at(l.from), at(l.to));
      EXPECT_EQ(at(l.from)->departure, l.departure);
      EXPECT_EQ(at(l.to)->arrival, l.arrival);
      if (q.wheelchair) {
        EXPECT_TRUE(net.accessible[l.trip]);
      }
      if (last_ride != nullptr && j.legs[i - 1].kind == Leg::Kind::kTransit) {
        EXPECT_EQ(last_ride->to, l.from);
        EXPECT_LE(last_ride->arrival + net.min_transfer[l.from], l.departure);
      }
      last_ride = &l;
    } else if (l.kind == Leg::Kind::kTransfer) {
      auto f = std::find_if(net.footpaths.begin(), net.footpaths.end(), [&](const auto& fp) {
        return std::get<0>(fp) == l.from && std::get<1>(fp) == l.to;
      });
      ASSERT_NE(f, net.footpaths.end());
      EXPECT_EQ(l.arrival - l.departure, std::get<2>(*f));
    } else if (l.kind == Leg::Kind::kAccess) {
      EXPECT_TRUE(std::any_of(q.sources.begin(), q.sources.end(), [&](const Access& a) {
        return a.stop == l.to && a.duration == l.arrival - l.departure;
      }));
    } else {
      EXPECT_TRUE(std::any_of(q.targets.begin(), q.targets.end(), [&](const Access& a) {
        return a.stop == l.from && a.duration == l.arrival - l.departure;
      }));
    }
  }
  EXPECT_EQ(trips, j.trips);
}

using ParetoPoint = std::tuple<Seconds, Seconds, uint32_t>;  // departure, arrival, trips

// The Pareto set over a window from the time-expanded search run at each of `departures` (the
// instants at which the answer can change, within the window); walking alone (the same at any
// departure) is kept once, leaving at the window's end, as Raptor lists it.
inline std::vector<ParetoPoint> BruteForceRange(const TimeExpandedSearch& search, RaptorQuery q,
                                                const std::vector<Seconds>& departures) {
  std::vector<ParetoPoint> points;
  for (Seconds dep : departures) {
    RaptorQuery at = q;
    at.departure = dep;
    const auto best = search.EarliestArrival(at);
    for (uint32_t k = 0; k < best.size(); ++k) {
      if (best[k] != kUnreachable && (k == 0 || best[k] < best[k - 1])) points.emplace_back(dep, best[k], k);
    }
  }
  std::vector<ParetoPoint> front;
  for (const auto& p : points) {
    bool dominated = std::any_of(points.begin(), points.end(), [&](const ParetoPoint& o) {
      return o != p && std::get<0>(o) >= std::get<0>(p) && std::get<1>(o) <= std::get<1>(p) &&
             std::get<2>(o) <= std::get<2>(p);
    });
    const bool walking_only = std::get<2>(p) == 0;
    if (!dominated && (!walking_only || std::get<0>(p) == q.window_end)) front.push_back(p);
  }
  std::sort(front.begin(), front.end());
  front.erase(std::unique(front.begin(), front.end()), front.end());
  return front;
}

// The same at every minute of the window (enough when all times and walks are whole minutes).
inline std::vector<ParetoPoint> BruteForceRange(const TimeExpandedSearch& search, RaptorQuery q) {
  std::vector<Seconds> minutes;
  for (Seconds dep = q.departure; dep <= q.window_end; dep += 60) minutes.push_back(dep);
  return BruteForceRange(search, q, minutes);
}

}  // namespace cityhub::mobility::routing::testing
