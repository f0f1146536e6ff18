// Trip changes: a GTFS-Realtime feed's trip updates matched against the static Feed they refer
// to, as new times per stop of each updated trip (or "cancelled", "skipped"), plus the trips the
// realtime feed adds. ResolveTripUpdates is the producer; the results are plain values owned by
// the caller, who turns them into routing::TripChange for its day timetables.
//
// Which service day. A trip update's start_date names it. Without one, the trip is taken on
// ResolveOptions::today (the feed's local date when the update was received) if its service runs
// that day, else on the day before if it runs then and the trip is still running past midnight
// (its last time is 24:00:00 or later); otherwise the update is reported and skipped.
//
// Frequency-based trips (in frequencies.txt) run many times a day from one template: the
// update's start_time names the run, whose scheduled times are the template's shifted to leave
// then; an update for such a trip without a valid start_time is reported and skipped.
//
// Times, following the GTFS-Realtime reference. Times are GTFS seconds of the service day, as in
// the Feed. An event's absolute `time` becomes time − ServiceDayStartUtc(date); a `delay` is
// added to the scheduled time. A delay carries on to the stops after its update until the next
// update; stops before the first update keep their schedule, or get the trip-wide delay when the
// update has one. At an update giving only one of arrival and departure, the other takes the
// given one's delay; an update giving neither means "on time here" (delay 0). NO_DATA (and
// UNSCHEDULED, or a relationship unknown to us): the schedule stands there and from there on,
// until the next update. SKIPPED: the stop is marked
// skipped and the delay carries on over it. Stops without a scheduled time (between timepoints)
// stay without one unless an absolute time is given.
//
// Consistency. Updates may contradict each other (a later stop predicted before an earlier one).
// The times are then repaired forward, never backward: each arrival is raised to at least the
// previous served stop's departure, each departure to at least its arrival, and every time is
// clamped to [0, kMaxStopTimeHours h]. Skipped stops take no part in that.
//
// Matching. A stop time update names its stop by stop_sequence, or by stop_id (the first call at
// that stop after the previously matched one, so a loop is matched in order); when both are given
// they must agree. A stop_id also matches a call at a stop of the same station (its parent, a
// child, a sibling) or at another stop within kSameStopMetres (real feeds name a station where
// the static feed has its platform under another id) — for a stop_id alone, only when no later
// call is at that very stop.
//
// Problems (reported with the entity id as file and the field concerned, severity kSkipped; the
// rest of the feed still applies): an unknown trip or stop, an update whose stop_sequence or
// stop_id does not match the trip (or comes out of order; that update alone is dropped), a
// start_date that is not a date or on which the trip does not run, a second update for the
// same trip, day and run (the first one wins), trip relationships we do not apply (UNSCHEDULED,
// REPLACEMENT, DUPLICATED, values unknown to us), added trips without stop ids and absolute
// times for at least two stops.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/realtime.h"
#include "util/status.h"

namespace cityhub::mobility::gtfs {

inline constexpr double kSameStopMetres = 50;  // stop ids this close name the same place

// The start of service day `yyyymmdd` (its local noon minus 12 h) in POSIX seconds. The network
// layer knows the feed's time zone and provides it; tests pass a fixed offset.
using ServiceDayStartUtc = std::function<int64_t(int32_t yyyymmdd)>;

struct ResolveOptions {
  int32_t today = 0;  // yyyymmdd: the service day of updates without start_date (see above)
  ServiceDayStartUtc service_day_start;
};

// One stop of an updated trip, in the order of the trip's stop times in the Feed.
struct RealtimeStopTime {
  int32_t arrival = kNoTime;    // GTFS seconds of the service day; kNoTime: not known
  int32_t departure = kNoTime;
  bool skipped = false;
  bool predicted = false;  // the times come from real-time data (not the schedule)
};

struct TripRealtime {
  std::string entity_id;
  uint32_t trip = kNoIndex;  // into Feed::trips
  int32_t service_date = 0;  // yyyymmdd
  int32_t start_time = kNoTime;  // frequency-based trips: the run's first departure; else kNoTime
  bool cancelled = false;
  // feed.trips[trip].stop_time_count entries (empty when cancelled): the trip's stop times
  // feed.stop_times[first_stop_time + i] with their new times.
  std::vector<RealtimeStopTime> stop_times;
};

struct AddedStopTime {
  uint32_t stop = kNoIndex;  // into Feed::stops
  int32_t arrival = 0;       // GTFS seconds of the service day
  int32_t departure = 0;
};

// A trip the realtime feed runs in addition to the schedule (ADDED or NEW).
struct AddedTripRealtime {
  std::string entity_id, trip_id;
  uint32_t route = kNoIndex;  // into Feed::routes, kNoIndex when not given or unknown
  int32_t service_date = 0;   // yyyymmdd
  std::vector<AddedStopTime> stop_times;  // at least two, skipped stops left out
};

struct ResolvedTripUpdates {
  std::vector<TripRealtime> trips;  // in the realtime feed's order
  std::vector<AddedTripRealtime> added;
};

// Matches `realtime`'s trip updates against `feed`. Returns the changes, reporting every update
// or part of one that could not be applied into `report` (see the file comment); InvalidRequest
// only when options lack service_day_start or today is not a date.
Result<ResolvedTripUpdates> ResolveTripUpdates(const Feed& feed, const RealtimeFeed& realtime,
                                               const ResolveOptions& options, ValidationReport& report);

}  // namespace cityhub::mobility::gtfs
