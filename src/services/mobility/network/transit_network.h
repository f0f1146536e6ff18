// TransitNetwork: one loaded GTFS feed made ready for planning — the Feed itself (ids, names,
// calendar), its clock, a spatial index of its stops, and the routing Timetable of each local
// date, built on first use and kept in a small cache. Created once per import; immutable
// afterwards except for that cache (guarded), so one network is shared by every request and
// replaced whole when a new feed is imported.
//
// Stops. A routing StopIdx is the feed's stop index (the same number), so no map is needed
// between them. Stations, entrances and nodes are StopIdx values too but trips never call at
// them, and they get no walking footpaths (their coordinates are left out).
//
// Day timetables. The timetable of local date D holds the trips running on D−1, D and D+1
// (D−1's only when they end less than kPreviousDayReach before D starts), with times in seconds
// from the start of D−1's service day, so a query at any time of D — and journeys running into
// D+1 — see every trip that matters. Trips of frequencies.txt are expanded into one run per
// headway. Stop times left empty in the feed (between timepoints) are interpolated by distance
// along the trip when the network is created.
//
// Transfers. transfers.txt type 2 gives the minimum time (from == to: the stop's minimum
// transfer time; a station stands for all its stops); types 0 and 1 between different stops
// make a footpath of crow-fly walking time even beyond the walking radius; type 3 ("not
// possible") is not enforced against a walking footpath the radius creates (a limitation).
// pickup_type/drop_off_type are not enforced yet.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "services/mobility/flex/on_demand.h"
#include "services/mobility/gtfs/feed.h"
#include "services/mobility/network/feed_clock.h"
#include "services/mobility/routing/timetable.h"
#include "util/status.h"

namespace cityhub::mobility::network {

inline constexpr routing::Seconds kPreviousDayReach = 6 * 3600;
inline constexpr size_t kDefaultCachedDays = 4;

struct NetworkOptions {
  routing::WalkingOptions walking{.radius_m = 400, .detour_factor = 1.3, .speed_m_per_s = 1.25};
  routing::Seconds default_min_transfer = 60;  // at stops transfers.txt says nothing about
  size_t cached_days = kDefaultCachedDays;
};

struct RealtimeSnapshot;  // network/realtime.h

inline constexpr uint32_t kNoRealtime = gtfs::kNoIndex;

// One run of a feed trip in a day timetable.
struct TripRun {
  uint32_t feed_trip = 0;    // gtfs::kNoIndex for a trip the real-time feed added
  int32_t service_date = 0;  // yyyymmdd
  int32_t shift = 0;         // seconds added to the feed's times (a frequencies.txt run), else 0
  // With real-time data applied (DayTimetable::realtime): the run's entry in its
  // updates.trips, or (an added trip) in its updates.added; kNoRealtime when none.
  uint32_t update = kNoRealtime;
  uint32_t added = kNoRealtime;
};

struct DayTimetable {
  int32_t date = 0;        // the local date it serves (yyyymmdd)
  int64_t epoch_utc = 0;   // Unix seconds of timetable time 0: the start of date − 1
  routing::Timetable timetable;
  std::vector<TripRun> runs;  // by TripIdx
  size_t skipped_runs = 0;    // runs the timetable refused (times beyond its limits)
  // The real-time data applied to this timetable (null: the schedule as published).
  std::shared_ptr<const RealtimeSnapshot> realtime;

  routing::Seconds ToTimetable(int64_t unix_seconds) const {
    return static_cast<routing::Seconds>(unix_seconds - epoch_utc);
  }
  int64_t ToUnix(routing::Seconds t) const { return epoch_utc + t; }
};

struct NearStop {
  routing::StopIdx stop = 0;
  double metres = 0;
};

class TransitNetwork {
 public:
  // Takes the feed over. InvalidRequest when its time zone is unknown.
  static Result<std::shared_ptr<TransitNetwork>> Create(gtfs::Feed feed, const NetworkOptions& options);

  const gtfs::Feed& feed() const { return feed_; }
  const FeedClock& clock() const { return clock_; }
  const NetworkOptions& options() const { return options_; }
  // The first and last dates any service runs (yyyymmdd).
  int32_t first_date() const { return first_date_; }
  int32_t last_date() const { return last_date_; }

  // The feed's on-demand (GTFS-Flex) services, or null when it has none.
  const flex::OnDemandIndex* on_demand() const { return on_demand_ ? &*on_demand_ : nullptr; }

  // Whether `feed_trip` runs from frequencies.txt (its runs are told apart by start time).
  bool RunsByFrequency(uint32_t feed_trip) const {
    return frequencies_of_trip_[feed_trip].first != frequencies_of_trip_[feed_trip].second;
  }
  // How GTFS-Realtime names a run: its first departure (GTFS seconds) for a frequencies.txt trip,
  // else gtfs::kNoTime (the trip and date are enough).
  int32_t RunStart(uint32_t feed_trip, int32_t shift) const {
    if (!RunsByFrequency(feed_trip)) return gtfs::kNoTime;
    return feed_.stop_times[feed_.trips[feed_trip].first_stop_time].departure + shift;
  }

  // Stops trips call at within `radius_m` (great-circle) of a point, nearest first, at most `max`.
  std::vector<NearStop> StopsNear(double lat, double lon, double radius_m, size_t max) const;

  // The timetable of local date `yyyymmdd`, built on first use (thread-safe; concurrent callers
  // of the same date wait for one build).
  Result<std::shared_ptr<const DayTimetable>> Day(int32_t yyyymmdd) const;
  // Builds without caching (used by Day, benchmarks and tests).
  Result<std::shared_ptr<const DayTimetable>> BuildDay(int32_t yyyymmdd) const;

 private:
  TransitNetwork(gtfs::Feed feed, FeedClock clock, const NetworkOptions& options);
  void InterpolateStopTimes();
  void IndexStops();
  void IndexFrequencies();
  void ComputeDateRange();
  bool Routable(uint32_t feed_stop) const;

  gtfs::Feed feed_;
  FeedClock clock_;
  NetworkOptions options_;
  int32_t first_date_ = 0, last_date_ = 0;
  std::vector<uint8_t> served_;  // by feed stop: some trip calls there
  // Spatial grid of served stops: cells of kGridMetres on an equirectangular projection.
  double grid_cos_ = 1;
  std::unordered_map<uint64_t, std::vector<routing::StopIdx>> grid_;
  std::vector<std::pair<uint32_t, uint32_t>> frequencies_of_trip_;  // by trip: [first, end) into feed.frequencies
  std::optional<flex::OnDemandIndex> on_demand_;  // refers to feed_

  mutable std::mutex days_mu_;
  struct CachedDay {
    int32_t date;
    std::shared_ptr<const DayTimetable> day;
  };
  mutable std::list<CachedDay> days_;  // most recently used first
  mutable std::unordered_map<int32_t, std::shared_ptr<std::mutex>> building_;
};

}  // namespace cityhub::mobility::network
