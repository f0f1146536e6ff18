// Matching trip updates to a Feed and propagating their delays (rules in trip_changes.h).
//
// Each trip update is handled on its own: its stop time updates are first matched to positions
// of the trip (by stop_sequence, else by the first stop_id after the previous match, so a loop
// trip serving a stop twice is matched in order), then one forward pass over the trip's stop
// times carries the current delay along, and a second pass repairs the order of the times.
#include "services/mobility/gtfs/trip_changes.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <tuple>

#include <fmt/format.h>

#include "util/time.h"

namespace cityhub::mobility::gtfs {
namespace {

constexpr int32_t kMaxSeconds = kMaxStopTimeHours * 3600;

// Equirectangular distance: exact enough at the few tens of metres it is used for.
double ApproxMetres(const Stop& a, const Stop& b) {
  constexpr double kMetresPerDegree = 6'371'000.0 * M_PI / 180.0;
  const double dx = (b.lon - a.lon) * std::cos((a.lat + b.lat) / 2 * M_PI / 180.0);
  const double dy = b.lat - a.lat;
  return std::sqrt(dx * dx + dy * dy) * kMetresPerDegree;
}

int32_t ShiftDate(int32_t yyyymmdd, int days) {
  const int64_t d = util::DaysFromCivil(yyyymmdd / 10000, static_cast<unsigned>(yyyymmdd / 100 % 100),
                                        static_cast<unsigned>(yyyymmdd % 100)) + days;
  const util::CivilDate c = util::CivilFromDays(d);
  return static_cast<int32_t>(c.year * 10000 + c.month * 100 + c.day);
}

int32_t ClampSeconds(int64_t seconds) {
  return static_cast<int32_t>(std::clamp<int64_t>(seconds, 0, kMaxSeconds));
}

// `scheduled` moved by `delay`; unknown stays unknown.
int32_t Shift(int32_t scheduled, std::optional<int32_t> delay) {
  if (scheduled == kNoTime || !delay) return scheduled;
  return ClampSeconds(int64_t{scheduled} + *delay);
}

// A frequency-based trip's template stop times moved to leave at `start_time`.
std::vector<StopTime> ShiftedRun(std::span<const StopTime> template_times, int32_t start_time) {
  const StopTime& first = template_times.front();
  const int32_t first_time = first.departure != kNoTime ? first.departure : first.arrival;
  const int32_t offset = first_time == kNoTime ? 0 : start_time - first_time;
  std::vector<StopTime> run(template_times.begin(), template_times.end());
  for (StopTime& st : run) {
    if (st.arrival != kNoTime) st.arrival += offset;
    if (st.departure != kNoTime) st.departure += offset;
  }
  return run;
}

// Raises times so that they never go backwards along the served stops (see the header), and
// fills one missing side of a stop from the other.
void RepairOrder(std::span<RealtimeStopTime> times) {
  int32_t previous = 0;
  for (RealtimeStopTime& t : times) {
    if (t.arrival != kNoTime) t.arrival = ClampSeconds(t.arrival);
    if (t.departure != kNoTime) t.departure = ClampSeconds(t.departure);
    if (t.arrival == kNoTime) t.arrival = t.departure;
    if (t.departure == kNoTime) t.departure = t.arrival;
    if (t.skipped || t.arrival == kNoTime) continue;
    t.arrival = std::max(t.arrival, previous);
    t.departure = std::max(t.departure, t.arrival);
    previous = t.departure;
  }
}

class Resolver {
 public:
  Resolver(const Feed& feed, const ResolveOptions& options, ValidationReport& report)
      : feed_(feed), options_(options), report_(report), frequency_based_(feed.trips.size(), 0) {
    for (const Frequency& f : feed.frequencies) frequency_based_[f.trip] = 1;
  }

  void Add(const TripUpdate& update) {
    switch (update.trip.relationship) {
      case TripRelationship::kAdded:
      case TripRelationship::kNew:
        return AddTrip(update);
      case TripRelationship::kScheduled:
      case TripRelationship::kCanceled:
      case TripRelationship::kDeleted:
        return ChangeTrip(update);
      case TripRelationship::kUnscheduled:
      case TripRelationship::kReplacement:
      case TripRelationship::kDuplicated:
        break;
    }
    Report(update, "trip.schedule_relationship",
           fmt::format("relationship {} is not applied (only SCHEDULED, CANCELED, DELETED, ADDED and NEW are)",
                       static_cast<int>(update.trip.relationship)));
  }

  ResolvedTripUpdates Take() { return std::move(result_); }

 private:
  void Report(const TripUpdate& update, std::string field, std::string reason) {
    report_.Add({fmt::format("GTFS-Realtime entity '{}'", update.entity_id), 0, std::move(field),
                 std::move(reason), Problem::Severity::kSkipped});
  }

  int64_t DayStart(int32_t date) {
    auto it = day_starts_.find(date);
    if (it == day_starts_.end()) it = day_starts_.emplace(date, options_.service_day_start(date)).first;
    return it->second;
  }

  // The update's start_date, or nullopt (reported) when it is not a date.
  std::optional<int32_t> StartDate(const TripUpdate& update) {
    if (update.trip.start_date.empty()) return options_.today;
    auto date = ParseGtfsDate(update.trip.start_date);
    if (!date) Report(update, "trip.start_date", fmt::format("'{}' is not a YYYYMMDD date", update.trip.start_date));
    return date;
  }

  // The service day the update means for scheduled trip `trip` (see the header), or nullopt
  // (reported).
  std::optional<int32_t> ServiceDate(const TripUpdate& update, uint32_t trip) {
    const Trip& t = feed_.trips[trip];
    if (!update.trip.start_date.empty()) {
      auto date = StartDate(update);
      if (date && !feed_.ServiceRunsOn(t.service, *date)) {
        Report(update, "trip.start_date", fmt::format("trip '{}' does not run on {}", t.id, *date));
        return std::nullopt;
      }
      return date;
    }
    if (feed_.ServiceRunsOn(t.service, options_.today)) return options_.today;
    const int32_t yesterday = ShiftDate(options_.today, -1);
    const StopTime& last = feed_.stop_times[t.first_stop_time + t.stop_time_count - 1];
    const int32_t last_time = last.arrival != kNoTime ? last.arrival : last.departure;
    if (last_time >= 24 * 3600 && feed_.ServiceRunsOn(t.service, yesterday)) return yesterday;
    Report(update, "trip.start_date",
           fmt::format("no start_date, and trip '{}' runs neither on {} nor past midnight from the day before",
                       t.id, options_.today));
    return std::nullopt;
  }

  // Whether `stop_id` names stop `stop`: its own id, its parent station's, or another stop at the
  // same place (feeds such as BART's name the station "MCAR" where stop_times.txt has the
  // platform "MCAR_S", a separate stop at the same coordinates).
  bool Names(const std::string& stop_id, uint32_t stop) const {
    const Stop& s = feed_.stops[stop];
    if (s.id == stop_id) return true;
    auto named = feed_.stop_by_id.find(stop_id);
    if (named == feed_.stop_by_id.end()) return false;
    const Stop& other = feed_.stops[named->second];
    if (s.parent_station == named->second || other.parent_station == stop ||
        (s.parent_station != kNoIndex && s.parent_station == other.parent_station)) {
      return true;
    }
    return s.has_position && other.has_position && ApproxMetres(s, other) <= kSameStopMetres;
  }

  // Position in the trip's stop times of each stop time update (-1: not matched, reported).
  std::vector<int32_t> MatchUpdates(const TripUpdate& update, std::span<const StopTime> stop_times) {
    std::vector<int32_t> update_at(stop_times.size(), -1);
    size_t cursor = 0;
    for (size_t i = 0; i < update.stop_time_updates.size(); ++i) {
      const StopTimeUpdate& u = update.stop_time_updates[i];
      const std::string field = fmt::format("stop_time_update[{}]", i);
      size_t p = cursor;
      if (u.stop_sequence) {
        while (p < stop_times.size() && stop_times[p].stop_sequence != *u.stop_sequence) ++p;
      } else if (!u.stop_id.empty()) {
        auto stop = feed_.stop_by_id.find(u.stop_id);
        if (stop == feed_.stop_by_id.end()) {
          Report(update, field + ".stop_id", fmt::format("unknown stop '{}'", u.stop_id));
          continue;
        }
        // The stop itself first; another id for the same place only when the trip never calls there
        // again (two stops across a street are that close, and a loop may serve both).
        while (p < stop_times.size() && stop_times[p].stop != stop->second) ++p;
        if (p == stop_times.size()) {
          p = cursor;
          while (p < stop_times.size() && !Names(u.stop_id, stop_times[p].stop)) ++p;
        }
      } else {
        Report(update, field, "neither stop_sequence nor stop_id given");
        continue;
      }
      const std::string what = u.stop_sequence ? fmt::format("stop_sequence {}", *u.stop_sequence)
                                               : fmt::format("stop '{}'", u.stop_id);
      if (p == stop_times.size()) {
        Report(update, field, fmt::format("{} is not on the trip after the previous update", what));
        continue;
      }
      if (u.stop_sequence && !u.stop_id.empty() && !Names(u.stop_id, stop_times[p].stop)) {
        Report(update, field + ".stop_id",
               fmt::format("stop '{}' does not match {} (stop '{}')", u.stop_id, what,
                           feed_.stops[stop_times[p].stop].id));
        continue;
      }
      update_at[p] = static_cast<int32_t>(i);
      cursor = p + 1;
    }
    return update_at;
  }

  void ChangeTrip(const TripUpdate& update) {
    if (update.trip.trip_id.empty()) {
      Report(update, "trip.trip_id", "no trip_id (trips named by route, direction and start time are not matched)");
      return;
    }
    auto found = feed_.trip_by_id.find(update.trip.trip_id);
    if (found == feed_.trip_by_id.end()) {
      Report(update, "trip.trip_id", fmt::format("unknown trip '{}'", update.trip.trip_id));
      return;
    }
    const uint32_t trip = found->second;
    auto date = ServiceDate(update, trip);
    if (!date) return;
    int32_t start_time = kNoTime;
    if (frequency_based_[trip]) {
      auto parsed = ParseGtfsTime(update.trip.start_time);
      if (!parsed) {
        Report(update, "trip.start_time",
               fmt::format("trip '{}' runs by frequencies.txt: a valid start_time must name the run, not '{}'",
                           update.trip.trip_id, update.trip.start_time));
        return;
      }
      start_time = *parsed;
    }
    if (!seen_.insert({trip, *date, start_time}).second) {
      Report(update, "trip.trip_id",
             fmt::format("a second update for trip '{}' on {}: the first one applies", update.trip.trip_id, *date));
      return;
    }
    TripRealtime out{update.entity_id, trip, *date, start_time, false, {}};
    if (update.trip.relationship == TripRelationship::kCanceled ||
        update.trip.relationship == TripRelationship::kDeleted) {
      out.cancelled = true;
      result_.trips.push_back(std::move(out));
      return;
    }
    const Trip& t = feed_.trips[trip];
    std::span<const StopTime> scheduled(feed_.stop_times.data() + t.first_stop_time, t.stop_time_count);
    std::vector<StopTime> run;
    if (start_time != kNoTime) {
      run = ShiftedRun(scheduled, start_time);
      scheduled = run;
    }
    const std::vector<int32_t> update_at = MatchUpdates(update, scheduled);
    out.stop_times = Propagate(update, scheduled, update_at, *date);
    RepairOrder(out.stop_times);
    result_.trips.push_back(std::move(out));
  }

  std::vector<RealtimeStopTime> Propagate(const TripUpdate& update, std::span<const StopTime> scheduled,
                                          const std::vector<int32_t>& update_at, int32_t date) {
    std::vector<RealtimeStopTime> times(scheduled.size());
    std::optional<int32_t> carried = update.delay;
    auto absolute = [&](const std::optional<StopTimeEvent>& e) -> std::optional<int32_t> {
      if (!e || !e->time) return std::nullopt;
      return ClampSeconds(*e->time - DayStart(date));
    };
    auto delay_of = [&](const std::optional<StopTimeEvent>& e, int32_t sched) -> std::optional<int32_t> {
      if (!e) return std::nullopt;
      if (e->time) {
        if (sched == kNoTime) return std::nullopt;
        return *absolute(e) - sched;
      }
      return e->delay;
    };
    for (size_t p = 0; p < scheduled.size(); ++p) {
      const StopTime& st = scheduled[p];
      RealtimeStopTime& out = times[p];
      const StopTimeUpdate* u = update_at[p] >= 0 ? &update.stop_time_updates[update_at[p]] : nullptr;
      if (u && u->relationship != StopRelationship::kScheduled && u->relationship != StopRelationship::kSkipped) {
        carried.reset();  // NO_DATA, and what we cannot apply (UNSCHEDULED, values unknown to us)
      }
      if (u && u->relationship == StopRelationship::kScheduled) {
        std::optional<int32_t> arrival_delay = delay_of(u->arrival, st.arrival);
        std::optional<int32_t> departure_delay = delay_of(u->departure, st.departure);
        if (!u->arrival && !u->departure) arrival_delay = departure_delay = 0;
        if (!arrival_delay) arrival_delay = departure_delay;
        if (!departure_delay) departure_delay = arrival_delay;
        if (!arrival_delay) arrival_delay = departure_delay = carried;
        out.arrival = absolute(u->arrival).value_or(Shift(st.arrival, arrival_delay));
        out.departure = absolute(u->departure).value_or(Shift(st.departure, departure_delay));
        out.predicted = true;
        carried = departure_delay;
        continue;
      }
      out.skipped = u && u->relationship == StopRelationship::kSkipped;
      out.arrival = Shift(st.arrival, carried);
      out.departure = Shift(st.departure, carried);
      out.predicted = carried.has_value();
    }
    return times;
  }

  void AddTrip(const TripUpdate& update) {
    auto date = StartDate(update);
    if (!date) return;
    AddedTripRealtime out;
    out.entity_id = update.entity_id;
    out.trip_id = update.trip.trip_id.empty() ? update.entity_id : update.trip.trip_id;
    out.service_date = *date;
    if (!update.trip.route_id.empty()) {
      auto route = feed_.route_by_id.find(update.trip.route_id);
      if (route == feed_.route_by_id.end()) {
        Report(update, "trip.route_id", fmt::format("unknown route '{}' (the added trip is kept without one)",
                                                    update.trip.route_id));
      } else {
        out.route = route->second;
      }
    }
    std::vector<RealtimeStopTime> times;
    for (size_t i = 0; i < update.stop_time_updates.size(); ++i) {
      const StopTimeUpdate& u = update.stop_time_updates[i];
      if (u.relationship == StopRelationship::kSkipped) continue;
      const std::string field = fmt::format("stop_time_update[{}]", i);
      auto stop = feed_.stop_by_id.find(u.stop_id);
      if (stop == feed_.stop_by_id.end()) {
        Report(update, field + ".stop_id",
               fmt::format("added trip: unknown or missing stop '{}'; the trip is not added", u.stop_id));
        return;
      }
      const bool has_arrival = u.arrival && u.arrival->time, has_departure = u.departure && u.departure->time;
      if (!has_arrival && !has_departure) {
        Report(update, field, "added trip: no absolute arrival or departure time; the trip is not added");
        return;
      }
      const int64_t start = DayStart(*date);
      RealtimeStopTime t;
      t.arrival = ClampSeconds((has_arrival ? *u.arrival->time : *u.departure->time) - start);
      t.departure = ClampSeconds((has_departure ? *u.departure->time : *u.arrival->time) - start);
      t.predicted = true;
      times.push_back(t);
      out.stop_times.push_back({stop->second, 0, 0});
    }
    if (times.size() < 2) {
      Report(update, "stop_time_update", "added trip: fewer than two stops served; the trip is not added");
      return;
    }
    RepairOrder(times);
    for (size_t i = 0; i < times.size(); ++i) {
      out.stop_times[i].arrival = times[i].arrival;
      out.stop_times[i].departure = times[i].departure;
    }
    result_.added.push_back(std::move(out));
  }

  const Feed& feed_;
  const ResolveOptions& options_;
  ValidationReport& report_;
  ResolvedTripUpdates result_;
  std::vector<uint8_t> frequency_based_;                  // by trip: listed in frequencies.txt
  std::set<std::tuple<uint32_t, int32_t, int32_t>> seen_;  // (trip, service date, run) already updated
  std::map<int32_t, int64_t> day_starts_;        // service date → its start, POSIX seconds
};

}  // namespace

Result<ResolvedTripUpdates> ResolveTripUpdates(const Feed& feed, const RealtimeFeed& realtime,
                                               const ResolveOptions& options, ValidationReport& report) {
  if (!options.service_day_start) {
    return Status::InvalidRequest("resolving trip updates: no service_day_start function given");
  }
  if (!ParseGtfsDate(std::to_string(options.today))) {
    return Status::InvalidRequest(
        fmt::format("resolving trip updates: today {} is not a YYYYMMDD date", options.today));
  }
  Resolver resolver(feed, options, report);
  for (const TripUpdate& update : realtime.trip_updates) resolver.Add(update);
  return resolver.Take();
}

}  // namespace cityhub::mobility::gtfs
