// rt_apply_bench: how fast real-time trip changes reach a routing timetable, one thread.
//
//  1. ApplyTripChanges: a day timetable of a real feed (default: NYC subway + bus, Wednesday
//     2026-09-16, about 2 M stop events) with 1,000 random trips changed — 10 % cancelled, 20 %
//     skipping one stop, the rest delayed 1–15 min from a random stop on.
//  2. The whole chain for 1,000 trip updates on that feed: ResolveTripUpdates (one delayed stop
//     per update, 10 % cancellations), the conversion to TripChange, ApplyTripChanges.
//  3. BART's real GTFS-RT file: ParseRealtimeFeed + ResolveTripUpdates against bart_2016.zip.
// Each figure is the median of --runs runs (min and max beside it).
//
// The day timetable is made here, simply: every trip whose service runs that day, with the
// feed's times (trips with an untimed stop are left out), stops by feed index, walking
// footpaths within --radius metres. The lead's network layer does this properly.
//
//   build/release/bench/rt_apply_bench [--shared ../shared] [--feed ZIP] [--date 20260916] [--changes 1000] [--runs 9]
#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/realtime.h"
#include "services/mobility/gtfs/trip_changes.h"
#include "services/mobility/routing/timetable_update.h"
#include "util/time.h"

namespace {

namespace gtfs = cityhub::mobility::gtfs;
namespace routing = cityhub::mobility::routing;
using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Spread {
  double median = 0, min = 0, max = 0;
};

template <typename F>
Spread Time(int runs, F&& run) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    run();
    ms.push_back(MillisSince(start));
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), ms.back()};
}

std::string Show(const Spread& s) {
  return fmt::format("median {:.2f} ms (min {:.2f}, max {:.2f})", s.median, s.min, s.max);
}

gtfs::Feed Load(const std::string& path) {
  gtfs::ValidationReport report;
  const auto start = Clock::now();
  auto feed = gtfs::LoadFeed(path, gtfs::FeedOptions{}, report);
  if (!feed.ok()) {
    fmt::print(stderr, "{}: {}\n", path, feed.status().message());
    std::exit(1);
  }
  fmt::print("{}: loaded in {:.1f} s ({} trips, {} stop times, {} problems)\n", path, MillisSince(start) / 1000,
             feed->trips.size(), feed->stop_times.size(), report.total());
  return std::move(feed).value();
}

// The day timetable, and which feed trip each TripIdx is.
struct DayTimetable {
  routing::Timetable timetable;
  std::vector<uint32_t> feed_trip;               // by TripIdx
  std::vector<uint32_t> trip_idx;                // by feed trip, UINT32_MAX: not running
};

DayTimetable BuildDay(const gtfs::Feed& feed, int32_t date, double radius) {
  const auto start = Clock::now();
  routing::TimetableBuilder builder;
  for (const gtfs::Stop& s : feed.stops) builder.AddStop(s.lat, s.lon, 0);
  DayTimetable day;
  day.trip_idx.assign(feed.trips.size(), UINT32_MAX);
  size_t untimed = 0, refused = 0, events = 0;
  std::vector<routing::TripStop> calls;
  for (uint32_t t = 0; t < feed.trips.size(); ++t) {
    const gtfs::Trip& trip = feed.trips[t];
    if (!feed.ServiceRunsOn(trip.service, date)) continue;
    calls.clear();
    for (uint32_t i = 0; i < trip.stop_time_count; ++i) {
      const gtfs::StopTime& st = feed.stop_times[trip.first_stop_time + i];
      calls.push_back({st.stop, st.arrival, st.departure});
    }
    auto untimed_call = [](const routing::TripStop& c) {
      return c.arrival == gtfs::kNoTime || c.departure == gtfs::kNoTime;
    };
    if (std::any_of(calls.begin(), calls.end(), untimed_call)) {
      ++untimed;
      continue;
    }
    auto idx = builder.AddTrip(calls, trip.wheelchair_accessible == 1);
    if (!idx.ok()) {
      ++refused;
      continue;
    }
    day.trip_idx[t] = idx.value();
    day.feed_trip.push_back(t);
    events += calls.size();
  }
  for (const gtfs::Transfer& tr : feed.transfers) {
    if (tr.min_transfer_time >= 0) (void)builder.AddTransfer(tr.from_stop, tr.to_stop, tr.min_transfer_time);
  }
  auto tt = builder.Build({.radius_m = radius});
  if (!tt.ok()) {
    fmt::print(stderr, "build: {}\n", tt.status().message());
    std::exit(1);
  }
  day.timetable = std::move(tt).value();
  fmt::print("day {}: {} trips, {} stop events, {} routes, {} stops (left out: {} untimed, {} refused); "
             "built in {:.1f} s\n",
             date, day.feed_trip.size(), events, day.timetable.RouteCount(), day.timetable.StopCount(), untimed,
             refused, MillisSince(start) / 1000);
  return day;
}

// 1,000 random trip changes (see the file comment).
std::vector<routing::TripChange> RandomChanges(const gtfs::Feed& feed, const DayTimetable& day, size_t count,
                                               std::mt19937& rng) {
  std::vector<uint32_t> trips(day.feed_trip.size());
  for (uint32_t i = 0; i < trips.size(); ++i) trips[i] = i;
  std::shuffle(trips.begin(), trips.end(), rng);
  trips.resize(std::min(count, trips.size()));
  std::vector<routing::TripChange> changes;
  for (routing::TripIdx t : trips) {
    const gtfs::Trip& trip = feed.trips[day.feed_trip[t]];
    routing::TripChange c{t, false, {}, {}};
    const int kind = static_cast<int>(rng() % 10);
    if (kind == 0) {
      c.cancelled = true;
    } else {
      const uint32_t from = rng() % trip.stop_time_count;
      const int32_t delay = 60 * static_cast<int32_t>(1 + rng() % 15);
      for (uint32_t i = 0; i < trip.stop_time_count; ++i) {
        const gtfs::StopTime& st = feed.stop_times[trip.first_stop_time + i];
        const int32_t shift = i >= from ? delay : 0;
        c.times.push_back({st.arrival + shift, st.departure + shift});
      }
      if (kind <= 2) {
        c.skipped.assign(trip.stop_time_count, 0);
        c.skipped[rng() % trip.stop_time_count] = 1;
      }
    }
    changes.push_back(std::move(c));
  }
  return changes;
}

// 1,000 trip updates as a GTFS-RT producer would send them: one delayed stop each (by
// stop_sequence), 10 % cancellations.
gtfs::RealtimeFeed RandomUpdates(const gtfs::Feed& feed, const DayTimetable& day, size_t count, int32_t date,
                                 std::mt19937& rng) {
  gtfs::RealtimeFeed rt;
  for (size_t i = 0; i < count && i < day.feed_trip.size(); ++i) {
    const gtfs::Trip& trip = feed.trips[day.feed_trip[rng() % day.feed_trip.size()]];
    gtfs::TripUpdate u;
    u.entity_id = fmt::format("u{}", i);
    u.trip.trip_id = trip.id;
    u.trip.start_date = std::to_string(date);
    if (rng() % 10 == 0) {
      u.trip.relationship = gtfs::TripRelationship::kCanceled;
    } else {
      gtfs::StopTimeUpdate s;
      s.stop_sequence = feed.stop_times[trip.first_stop_time + rng() % trip.stop_time_count].stop_sequence;
      s.departure = gtfs::StopTimeEvent{60 * static_cast<int32_t>(1 + rng() % 15), std::nullopt};
      u.stop_time_updates.push_back(s);
    }
    rt.trip_updates.push_back(std::move(u));
  }
  return rt;
}

// The resolved updates of `date` as TripChanges on the day timetable.
std::vector<routing::TripChange> ToChanges(const gtfs::ResolvedTripUpdates& resolved, const DayTimetable& day) {
  std::vector<routing::TripChange> changes;
  std::vector<uint8_t> seen(day.feed_trip.size(), 0);
  for (const gtfs::TripRealtime& t : resolved.trips) {
    const uint32_t idx = day.trip_idx[t.trip];
    if (idx == UINT32_MAX || seen[idx]) continue;
    seen[idx] = 1;
    routing::TripChange c{idx, t.cancelled, {}, {}};
    for (const gtfs::RealtimeStopTime& s : t.stop_times) {
      c.times.push_back({s.arrival, s.departure});
      c.skipped.push_back(s.skipped ? 1 : 0);
    }
    changes.push_back(std::move(c));
  }
  return changes;
}

int64_t FixedOffsetDayStart(int32_t d, int utc_offset_hours) {
  return cityhub::util::DaysFromCivil(d / 10000, d / 100 % 100, d % 100) * 86400 - int64_t{utc_offset_hours} * 3600;
}

}  // namespace

int main(int argc, char** argv) {
  const char* shared_env = std::getenv("CITYHUB_SHARED");
  std::string shared = shared_env ? shared_env : "../shared";  // beside the checkout
  std::string feed_path;
  int32_t date = 20260916;
  size_t changes_count = 1000;
  int runs = 9;
  double radius = 150;
  uint32_t seed = 1;
  CLI::App app{"GTFS-Realtime: resolving trip updates and applying trip changes to a day timetable"};
  app.add_option("--feed", feed_path, "GTFS zip for the day timetable (default: the NYC subway + bus feed)");
  app.add_option("--date", date, "service day, YYYYMMDD");
  app.add_option("--changes", changes_count, "trip changes (and trip updates) per run");
  app.add_option("--runs", runs, "runs per figure (the median is reported)");
  app.add_option("--radius", radius, "walking radius between stops, metres");
  app.add_option("--shared", shared, "the shared data folder (default: $CITYHUB_SHARED, else ../shared)");
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);
  if (feed_path.empty()) feed_path = shared + "/data/gtfs/mta_nyc_subway_bus_20260526-20270102.zip";

  std::mt19937 rng(seed);
  {
    const gtfs::Feed feed = Load(feed_path);
    const DayTimetable day = BuildDay(feed, date, radius);
    const auto changes = RandomChanges(feed, day, changes_count, rng);
    size_t routes_after = 0;
    const Spread apply = Time(runs, [&] {
      auto patched = routing::ApplyTripChanges(day.timetable, changes, {});
      if (!patched.ok()) {
        fmt::print(stderr, "apply: {}\n", patched.status().message());
        std::exit(1);
      }
      routes_after = patched->RouteCount();
    });
    fmt::print("ApplyTripChanges, {} random changes: {} ({} routes before, {} after)\n", changes.size(), Show(apply),
               day.timetable.RouteCount(), routes_after);

    const gtfs::RealtimeFeed updates = RandomUpdates(feed, day, changes_count, date, rng);
    const gtfs::ResolveOptions options{date, [](int32_t d) { return FixedOffsetDayStart(d, -4); }};
    size_t applied = 0, problems = 0;
    const Spread resolve = Time(runs, [&] {
      gtfs::ValidationReport report;
      auto resolved = gtfs::ResolveTripUpdates(feed, updates, options, report);
      problems = report.total();
      applied = resolved->trips.size();
    });
    const Spread chain = Time(runs, [&] {
      gtfs::ValidationReport report;
      auto resolved = gtfs::ResolveTripUpdates(feed, updates, options, report);
      const auto trip_changes = ToChanges(*resolved, day);
      auto patched = routing::ApplyTripChanges(day.timetable, trip_changes, {});
      if (!patched.ok()) {
        fmt::print(stderr, "chain: {}\n", patched.status().message());
        std::exit(1);
      }
    });
    fmt::print("ResolveTripUpdates, {} updates: {} ({} trips resolved, {} problems)\n", updates.trip_updates.size(),
               Show(resolve), applied, problems);
    fmt::print("Resolve + convert + ApplyTripChanges, {} updates: {}\n", updates.trip_updates.size(), Show(chain));
  }

  const gtfs::Feed bart = Load(shared + "/data/gtfs/bart_2016.zip");
  std::ifstream in(shared + "/data/gtfs-rt/bart_tripupdates_20161229.pb", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::string pb = bytes.str();
  const gtfs::ResolveOptions bart_options{20161229, [](int32_t d) { return FixedOffsetDayStart(d, -8); }};
  size_t bart_trips = 0;
  const Spread bart_time = Time(std::max(runs, 101), [&] {
    auto rt = gtfs::ParseRealtimeFeed(pb);
    gtfs::ValidationReport report;
    auto resolved = gtfs::ResolveTripUpdates(bart, *rt, bart_options, report);
    bart_trips = resolved->trips.size();
  });
  fmt::print("BART {} bytes: ParseRealtimeFeed + ResolveTripUpdates: {} ({} trips)\n", pb.size(), Show(bart_time),
             bart_trips);
  return 0;
}
