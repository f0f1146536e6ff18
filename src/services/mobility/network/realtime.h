// Real time on the network: a GTFS-Realtime feed resolved against a TransitNetwork's Feed
// (RealtimeSnapshot, immutable once made) and a day timetable with it applied (WithRealtime), which
// journeys and departure boards then use like the scheduled one.
//
// Applying. Each update whose run (trip, service date, and start time for frequency trips) is in
// the day timetable becomes a routing::TripChange: the updated times where the feed gives them,
// elsewhere the schedule moved by the delay of the nearest earlier stop with a time; times are
// then made non-decreasing (each arrival no earlier than the previous served departure, each
// departure no earlier than its arrival) and clamped to the timetable's range. Cancelled runs are
// left out, skipped stops can be neither boarded nor left there, added trips run too (TripRun::
// added). routing::ApplyTripChanges copies the base timetable and rebuilds only the routes it
// touches, so the scheduled timetable stays shared and unchanged.
//
// A snapshot replaces the previous one whole (GTFS-RT FULL_DATASET); differential feeds are read
// as full ones (a limitation, said in docs/API.md).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "services/mobility/gtfs/realtime.h"
#include "services/mobility/gtfs/trip_changes.h"
#include "services/mobility/network/transit_network.h"
#include "util/status.h"

namespace cityhub::mobility::network {

struct RealtimeSnapshot {
  int64_t received_unix = 0;   // when the hub got it
  uint64_t feed_timestamp = 0;  // the feed header's, 0 when absent
  gtfs::ResolvedTripUpdates updates;
  std::vector<gtfs::VehiclePosition> vehicles;
  uint64_t problems = 0;  // updates or parts of them that could not be applied

  // The update of a run (start_time: the run's first departure for frequency trips, else
  // gtfs::kNoTime), or kNoRealtime.
  uint32_t Find(uint32_t feed_trip, int32_t service_date, int32_t start_time) const;
  // Fills the index Find uses (done by ResolveRealtime).
  void Index();

 private:
  struct Key {
    uint32_t trip;
    int32_t date;
    int32_t start;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return (uint64_t{k.trip} * 0x9E3779B97F4A7C15ull) ^ (uint64_t(uint32_t(k.date)) << 20) ^ uint32_t(k.start);
    }
  };
  std::unordered_map<Key, uint32_t, KeyHash> by_run_;
};

// Resolves `feed` against the network's Feed. An update naming no start date is about the local
// date of the feed's header timestamp (when the producer wrote it; `now_unix` without one).
// Problems go to `report`.
Result<std::shared_ptr<const RealtimeSnapshot>> ResolveRealtime(const TransitNetwork& network,
                                                                const gtfs::RealtimeFeed& feed, int64_t now_unix,
                                                                gtfs::ValidationReport& report);

// `base` (a scheduled day timetable of `network`) with `realtime` applied.
Result<std::shared_ptr<const DayTimetable>> WithRealtime(const TransitNetwork& network, const DayTimetable& base,
                                                         std::shared_ptr<const RealtimeSnapshot> realtime);

// The position in the trip's stop_times of route position `route_position` of run `run` on
// `day` (they differ when the real-time feed skips stops of the trip).
uint32_t FeedPosition(const DayTimetable& day, const TripRun& run, uint32_t route_position);

}  // namespace cityhub::mobility::network
