// ApplyTripChanges: a patched copy of a Timetable (rules in timetable_update.h).
//
// Cost. One pass over the base's routes copies each untouched route's block of trips and times
// as it is (a memcpy-like append) and rebuilds only the routes holding a changed trip. The
// per-stop route lists are copied too, and merged with the entries of the new routes only when
// there are any. So applying a handful of changes costs about one copy of the flat arrays, not a
// TimetableBuilder::Build: no regrouping of every trip, no footpath search.
#include "services/mobility/routing/timetable_update.h"

#include <algorithm>
#include <map>
#include <string>

#include <fmt/format.h>

#include "services/mobility/routing/non_overtaking.h"

namespace cityhub::mobility::routing {
namespace {

constexpr uint32_t kNowhere = UINT32_MAX;

// A trip about to be written into a route, with its times at each position of that route.
struct PlacedTrip {
  TripIdx trip;
  std::span<const StopTime> times;
};

// The rules of TimetableBuilder::AddTrip for the served positions (skipped[p] == 0, or all when
// skipped is empty). `what` names the trip in the message.
Status CheckServedTimes(std::span<const StopTime> times, std::span<const uint8_t> skipped, const std::string& what) {
  Seconds previous_departure = 0;
  for (size_t p = 0; p < times.size(); ++p) {
    if (!skipped.empty() && skipped[p]) continue;
    const StopTime& t = times[p];
    auto bad = [&](const std::string& why) {
      return Status::BadRequestData(fmt::format("{} position {}: {}", what, p, why));
    };
    if (t.arrival < 0 || t.departure > kMaxTime) return bad(fmt::format("time outside 0..{} seconds", kMaxTime));
    if (t.arrival > t.departure) return bad("arrival after departure");
    if (t.arrival < previous_departure) return bad("arrives before the previous served stop's departure");
    previous_departure = t.departure;
  }
  return Status::Ok();
}

}  // namespace

// Builds the patched copy; friend of Timetable (it writes the flat arrays directly).
class TimetablePatcher {
 public:
  TimetablePatcher(const Timetable& base, std::span<const TripChange> changes, std::span<const AddedTrip> added)
      : base_(base), changes_(changes), added_(added) {}

  Result<Timetable> Apply() {
    CITYHUB_RETURN_IF_ERROR(Validate());
    tt_.stops_ = base_.stops_;
    tt_.footpath_offsets_ = base_.footpath_offsets_;
    tt_.footpaths_ = base_.footpaths_;
    tt_.route_stops_ = base_.route_stops_;
    tt_.trip_accessible_ = base_.trip_accessible_;
    for (const AddedTrip& a : added_) tt_.trip_accessible_.push_back(a.accessible ? 1 : 0);
    tt_.routes_.reserve(base_.routes_.size());
    tt_.route_trips_.reserve(base_.route_trips_.size() + added_.size());
    tt_.stop_times_.reserve(base_.stop_times_.size() + added_stop_events_);

    for (RouteIdx r = 0; r < base_.routes_.size(); ++r) {
      if (affected_[r]) {
        RebuildRoute(r);
      } else {
        CopyRoute(r);
      }
    }
    CollectAddedTrips();
    for (auto& [sequence, trips] : by_new_sequence_) {
      const auto first_stop = static_cast<uint32_t>(tt_.route_stops_.size());
      tt_.route_stops_.insert(tt_.route_stops_.end(), sequence.begin(), sequence.end());
      for (auto& group : DealIntoNonOvertakingGroups(std::move(trips), [](const PlacedTrip& t) -> const auto& { return t.times; })) {
        AppendRoute(first_stop, static_cast<uint32_t>(sequence.size()), group);
      }
    }
    if (tt_.stop_times_.size() > kMaxStopEvents) {
      return Status::BadRequestData(fmt::format("more than {} stop events", kMaxStopEvents));
    }
    MergeStopRoutes();
    tt_.IndexDepartures();
    return std::move(tt_);
  }

 private:
  Status Validate() {
    if (changes_.size() > kMaxTripChanges || added_.size() > kMaxTripChanges) {
      return Status::BadRequestData(fmt::format("more than {} trip changes or added trips", kMaxTripChanges));
    }
    if (base_.TripCount() + added_.size() > kMaxTrips) {
      return Status::BadRequestData(fmt::format("more than {} trips", kMaxTrips));
    }
    route_of_.assign(base_.TripCount(), kNowhere);
    for (RouteIdx r = 0; r < base_.routes_.size(); ++r) {
      for (uint32_t t = 0; t < base_.routes_[r].trip_count; ++t) route_of_[base_.TripOf(r, t)] = r;
    }
    change_of_.assign(base_.TripCount(), kNowhere);
    affected_.assign(base_.routes_.size(), 0);
    for (size_t i = 0; i < changes_.size(); ++i) {
      const TripChange& c = changes_[i];
      const std::string what = fmt::format("trip change {} (trip {})", i, c.trip);
      if (c.trip >= base_.TripCount()) return Status::BadRequestData(what + ": unknown trip");
      if (route_of_[c.trip] == kNowhere) return Status::BadRequestData(what + ": the trip no longer runs in the base");
      if (change_of_[c.trip] != kNowhere) return Status::BadRequestData(what + ": the trip is changed twice");
      change_of_[c.trip] = static_cast<uint32_t>(i);
      affected_[route_of_[c.trip]] = 1;
      if (c.cancelled) continue;
      const uint32_t stop_count = base_.routes_[route_of_[c.trip]].stop_count;
      if (c.times.size() != stop_count || (!c.skipped.empty() && c.skipped.size() != stop_count)) {
        return Status::BadRequestData(fmt::format("{}: {} times and {} skipped flags for {} stops", what,
                                                  c.times.size(), c.skipped.size(), stop_count));
      }
      CITYHUB_RETURN_IF_ERROR(CheckServedTimes(c.times, c.skipped, what));
    }
    for (size_t i = 0; i < added_.size(); ++i) {
      const AddedTrip& a = added_[i];
      const std::string what = fmt::format("added trip {}", i);
      if (a.stops.size() < 2 || a.stops.size() > kMaxStopsPerTrip) {
        return Status::BadRequestData(
            fmt::format("{}: has {} stops, must have 2 to {}", what, a.stops.size(), kMaxStopsPerTrip));
      }
      std::vector<StopTime> times;
      for (size_t p = 0; p < a.stops.size(); ++p) {
        if (a.stops[p].stop >= base_.StopCount()) {
          return Status::BadRequestData(fmt::format("{} position {}: unknown stop {}", what, p, a.stops[p].stop));
        }
        times.push_back({a.stops[p].arrival, a.stops[p].departure});
      }
      CITYHUB_RETURN_IF_ERROR(CheckServedTimes(times, {}, what));
      added_stop_events_ += a.stops.size();
    }
    return Status::Ok();
  }

  void CopyRoute(RouteIdx r) {
    const RouteInfo& from = base_.routes_[r];
    RouteInfo ri = from;
    ri.first_trip = static_cast<uint32_t>(tt_.route_trips_.size());
    ri.first_time = tt_.stop_times_.size();
    const auto trips = base_.route_trips_.begin() + from.first_trip;
    tt_.route_trips_.insert(tt_.route_trips_.end(), trips, trips + from.trip_count);
    const auto times = base_.stop_times_.begin() + static_cast<ptrdiff_t>(from.first_time);
    tt_.stop_times_.insert(tt_.stop_times_.end(), times, times + uint64_t{from.trip_count} * from.stop_count);
    tt_.routes_.push_back(ri);
  }

  // Route r without its cancelled trips, with the new times, re-sorted; trips that now overtake
  // go to extra routes over the same stops, trips that skip stops to routes over fewer stops.
  void RebuildRoute(RouteIdx r) {
    const RouteInfo& from = base_.routes_[r];
    const auto stops = base_.RouteStops(r);
    std::vector<PlacedTrip> staying;
    for (uint32_t t = 0; t < from.trip_count; ++t) {
      const TripIdx trip = base_.TripOf(r, t);
      if (change_of_[trip] == kNowhere) {
        staying.push_back({trip, base_.TripTimes(r, t)});
        continue;
      }
      const TripChange& c = changes_[change_of_[trip]];
      if (c.cancelled) continue;
      if (std::find(c.skipped.begin(), c.skipped.end(), 1) == c.skipped.end()) {
        staying.push_back({trip, c.times});
        continue;
      }
      std::vector<StopIdx> sequence;
      std::vector<StopTime> times;
      for (uint32_t p = 0; p < from.stop_count; ++p) {
        if (c.skipped[p]) continue;
        sequence.push_back(stops[p]);
        times.push_back(c.times[p]);
      }
      if (sequence.size() < 2) continue;  // nothing left to ride
      owned_times_.push_back(std::move(times));
      by_new_sequence_[std::move(sequence)].push_back({trip, owned_times_.back()});
    }
    auto groups = DealIntoNonOvertakingGroups(std::move(staying), [](const PlacedTrip& t) -> const auto& { return t.times; });
    if (groups.empty()) groups.emplace_back();
    for (size_t g = 0; g < groups.size(); ++g) {
      if (g == 0) {
        AppendRoute(from.first_stop, from.stop_count, groups[g]);
      } else {
        extra_groups_.push_back({from.first_stop, from.stop_count, std::move(groups[g])});
      }
    }
  }

  void FlushExtraGroups() {
    for (const ExtraGroup& e : extra_groups_) AppendRoute(e.first_stop, e.stop_count, e.trips);
    extra_groups_.clear();
  }

  void CollectAddedTrips() {
    FlushExtraGroups();
    for (size_t i = 0; i < added_.size(); ++i) {
      std::vector<StopIdx> sequence;
      std::vector<StopTime> times;
      for (const TripStop& s : added_[i].stops) {
        sequence.push_back(s.stop);
        times.push_back({s.arrival, s.departure});
      }
      owned_times_.push_back(std::move(times));
      const auto trip = static_cast<TripIdx>(base_.TripCount() + i);
      by_new_sequence_[std::move(sequence)].push_back({trip, owned_times_.back()});
    }
  }

  void AppendRoute(uint32_t first_stop, uint32_t stop_count, const std::vector<PlacedTrip>& trips) {
    RouteInfo ri;
    ri.first_stop = first_stop;
    ri.stop_count = stop_count;
    ri.first_trip = static_cast<uint32_t>(tt_.route_trips_.size());
    ri.trip_count = static_cast<uint32_t>(trips.size());
    ri.first_time = tt_.stop_times_.size();
    for (const PlacedTrip& t : trips) {
      tt_.route_trips_.push_back(t.trip);
      tt_.stop_times_.insert(tt_.stop_times_.end(), t.times.begin(), t.times.end());
    }
    tt_.routes_.push_back(ri);
  }

  // The base's per-stop route lists plus the (route, position) pairs of the routes added after
  // the base's.
  void MergeStopRoutes() {
    const auto base_routes = static_cast<RouteIdx>(base_.routes_.size());
    if (tt_.routes_.size() == base_routes) {
      tt_.stop_route_offsets_ = base_.stop_route_offsets_;
      tt_.stop_routes_ = base_.stop_routes_;
      return;
    }
    std::vector<std::pair<StopIdx, RouteStop>> extra;
    for (RouteIdx r = base_routes; r < tt_.routes_.size(); ++r) {
      const auto seq = tt_.RouteStops(r);
      for (uint32_t p = 0; p < seq.size(); ++p) extra.push_back({seq[p], {r, p}});
    }
    std::stable_sort(extra.begin(), extra.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    tt_.stop_route_offsets_.assign(1, 0);
    tt_.stop_routes_.reserve(base_.stop_routes_.size() + extra.size());
    auto next = extra.begin();
    for (StopIdx s = 0; s < base_.StopCount(); ++s) {
      const auto list = base_.RoutesAt(s);
      tt_.stop_routes_.insert(tt_.stop_routes_.end(), list.begin(), list.end());
      for (; next != extra.end() && next->first == s; ++next) tt_.stop_routes_.push_back(next->second);
      tt_.stop_route_offsets_.push_back(static_cast<uint32_t>(tt_.stop_routes_.size()));
    }
  }

  struct ExtraGroup {
    uint32_t first_stop, stop_count;
    std::vector<PlacedTrip> trips;
  };

  const Timetable& base_;
  std::span<const TripChange> changes_;
  std::span<const AddedTrip> added_;
  size_t added_stop_events_ = 0;
  std::vector<RouteIdx> route_of_;   // by base TripIdx: its route in the base, kNowhere: none
  std::vector<uint32_t> change_of_;  // by base TripIdx: index into changes_, kNowhere: unchanged
  std::vector<uint8_t> affected_;    // by base route: holds a changed trip
  std::vector<std::vector<StopTime>> owned_times_;  // compacted times of trips that skip stops
  std::vector<ExtraGroup> extra_groups_;            // overtaking trips split off a rebuilt route
  std::map<std::vector<StopIdx>, std::vector<PlacedTrip>> by_new_sequence_;
  Timetable tt_;
};

Result<Timetable> ApplyTripChanges(const Timetable& base, std::span<const TripChange> changes,
                                   std::span<const AddedTrip> added) {
  return TimetablePatcher(base, changes, added).Apply();
}

}  // namespace cityhub::mobility::routing
