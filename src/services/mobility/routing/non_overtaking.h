// DealIntoNonOvertakingGroups: the rule both the timetable builder and real-time patches use to
// split trips with one stop sequence into routes RAPTOR can scan (trips of a route never
// overtake: at every position their times are non-decreasing in trip order). Internal to routing/.
#pragma once

#include <algorithm>
#include <vector>

#include "services/mobility/routing/timetable.h"

namespace cityhub::mobility::routing {

// Sorts `trips` (sharing a stop sequence) by their times — first departure, then every time in
// order — and deals them greedily into groups: each trip joins the first group whose last trip
// it does not overtake (enough, as "does not overtake" is transitive), else opens a new one.
// `times_of(trip)` gives a trip's StopTimes (a span or vector, one per position).
template <typename Trip, typename TimesOf>
std::vector<std::vector<Trip>> DealIntoNonOvertakingGroups(std::vector<Trip> trips, TimesOf times_of) {
  std::stable_sort(trips.begin(), trips.end(), [&](const Trip& a, const Trip& b) {
    const auto& ta = times_of(a);
    const auto& tb = times_of(b);
    for (size_t p = 0; p < ta.size(); ++p) {
      if (ta[p].departure != tb[p].departure) return ta[p].departure < tb[p].departure;
      if (ta[p].arrival != tb[p].arrival) return ta[p].arrival < tb[p].arrival;
    }
    return false;
  });
  std::vector<std::vector<Trip>> groups;
  for (const Trip& trip : trips) {
    const auto& tn = times_of(trip);
    auto fits_after = [&](const Trip& last) {
      const auto& tl = times_of(last);
      for (size_t p = 0; p < tl.size(); ++p) {
        if (tn[p].arrival < tl[p].arrival || tn[p].departure < tl[p].departure) return false;
      }
      return true;
    };
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return fits_after(g.back()); });
    if (it == groups.end()) {
      groups.push_back({trip});
    } else {
      it->push_back(trip);
    }
  }
  return groups;
}

}  // namespace cityhub::mobility::routing
