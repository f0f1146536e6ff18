// Planner: door-to-door journeys on a TransitNetwork — the origin and destination coordinates
// are joined to nearby stops by walking, RAPTOR finds the Pareto set arrival × transfers (or,
// arriving by a deadline, departure × transfers), and each journey is turned into legs that name
// feed stops and trips with Unix times. Also the departure board of a stop. A Planner holds
// nothing between calls — a router's scratch (a few MB on a big network) is made per call, so no
// thread keeps an old day timetable alive after a re-import or a real-time update.
//
// Walking between a coordinate and a stop is crow-fly distance × the network's detour factor at
// its walking speed (an estimate, not a street-network walk), limited to max_walk_m at each end.
// A walk-only itinerary is offered when the destination is within twice that distance, and
// transit itineraries that it dominates are dropped.
//
// On demand (GTFS-Flex, flex/on_demand.h): where the feed has on-demand services, a journey may
// start with an on-demand ride from the origin to a stop, end with one from a stop to the
// destination, or be one ride from origin to destination — within the services' windows on the
// request's service day (leaving up to kOnDemandLookahead after the request). For RAPTOR a ride
// is one more way to reach a stop (its wait for the window's start plus the ride); an egress ride
// is checked against its window after routing (arriving before the window opens waits for it;
// after it closes drops the itinerary). Arrive-by journeys use on-demand rides only door to door.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "services/mobility/network/transit_network.h"
#include "services/mobility/routing/raptor.h"
#include "util/status.h"

namespace cityhub::mobility::network {

inline constexpr double kMaxWalkMetres = 5'000;  // largest max_walk_m accepted
inline constexpr size_t kMaxAccessStopsPerEnd = 200;
inline constexpr size_t kMaxDepartures = 100;
inline constexpr int32_t kOnDemandLookahead = 2 * 3600;

struct PlanRequest {
  double from_lat = 0, from_lon = 0, to_lat = 0, to_lon = 0;
  int64_t time = 0;        // Unix seconds: leave at, or (arrive_by) arrive by
  bool arrive_by = false;
  uint32_t max_transfers = 4;
  bool wheelchair = false;
  double max_walk_m = 1000;  // between the origin (destination) and a stop
};

struct Place {
  uint32_t stop = gtfs::kNoIndex;  // feed stop index, or kNoIndex for the request's coordinate
  double lat = 0, lon = 0;
};

struct PlanLeg {
  enum class Mode { kWalk, kTransit, kOnDemand };
  Mode mode = Mode::kWalk;
  Place from, to;
  int64_t departure = 0, arrival = 0;                      // as planned (real time when known)
  int64_t scheduled_departure = 0, scheduled_arrival = 0;  // from the timetable of the feed
  // kTransit: the trip run ridden and the positions in its stop_times boarded and left (for a
  // trip the real-time feed added: feed_trip is kNoIndex, added_trip its index in the snapshot's
  // updates.added and the positions index its stop_times).
  uint32_t feed_trip = gtfs::kNoIndex;
  uint32_t added_trip = gtfs::kNoIndex;
  int32_t service_date = 0;
  uint32_t board_position = 0, alight_position = 0;
  bool realtime = false;  // the times come from real-time data
  // kOnDemand: the flex trip and windows (Feed::flex_trips / flex_windows) and booking rules
  // (Feed::booking_rules, kNoIndex when none).
  uint32_t flex_trip = gtfs::kNoIndex;
  uint32_t pickup_window = gtfs::kNoIndex, drop_off_window = gtfs::kNoIndex;
  uint32_t pickup_booking_rule = gtfs::kNoIndex, drop_off_booking_rule = gtfs::kNoIndex;
};

struct Itinerary {
  int64_t departure = 0, arrival = 0;
  uint32_t transfers = 0;
  std::vector<PlanLeg> legs;
};

struct Departure {
  uint32_t stop = 0;  // the feed stop (a station's board lists its stops' departures)
  uint32_t feed_trip = gtfs::kNoIndex;   // kNoIndex: a trip the real-time feed added …
  uint32_t added_trip = gtfs::kNoIndex;  // … this one of the snapshot's updates.added
  int32_t service_date = 0;
  uint32_t position = 0;  // in the trip's stop_times (the added trip's)
  int64_t departure = 0;            // real time when known
  int64_t scheduled_departure = 0;
  bool realtime = false;            // the time comes from real-time data
  bool cancelled = false;           // the run is cancelled or does not stop here any more
  int32_t run_start = gtfs::kNoTime;  // a frequencies.txt run: its first departure (GTFS seconds)
};

class Planner {
 public:
  // Journeys for `request` on `day` (the network's timetable for the request's local date).
  // InvalidRequest for out-of-range coordinates or walking distance; NotFound when no stop is
  // within walking distance of an end.
  Result<std::vector<Itinerary>> Plan(const TransitNetwork& network, const std::shared_ptr<const DayTimetable>& day,
                                      const PlanRequest& request);

 private:
  std::optional<Itinerary> ToItinerary(const TransitNetwork& network, const DayTimetable& day,
                                       const PlanRequest& request, const routing::Journey& journey,
                                       const routing::RaptorQuery& query,
                                       const std::vector<const flex::OnDemandLeg*>& source_rides,
                                       const std::vector<const flex::OnDemandLeg*>& target_rides,
                                       int64_t service_day_start) const;
};

// The next departures from feed stop `stop` (a station: from each of its stops) at or after
// `from` (Unix seconds), by time, at most `limit`. With `scheduled` (the day's timetable without
// real-time data, when `day` has some), departures the real-time feed cancelled (the run, or its
// stop here) are listed too, flagged, at their scheduled time.
std::vector<Departure> NextDepartures(const TransitNetwork& network, const DayTimetable& day, uint32_t stop,
                                      int64_t from, size_t limit, const DayTimetable* scheduled = nullptr);

// The Unix time at which a trip run was scheduled to reach (arrival) or leave a position.
int64_t ScheduledTime(const TransitNetwork& network, const TripRun& run, uint32_t position, bool arrival);

}  // namespace cityhub::mobility::network
