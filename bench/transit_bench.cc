// transit_bench: the journey planner on a real feed, one thread — reading the GTFS zip, the
// network and day timetable build, earliest-arrival stop-to-stop queries, range queries over a
// 2-hour window, arrive-by queries, and 1,000 GTFS-Realtime trip updates resolved and applied to
// the day timetable as the hub does. Queries are random pairs of stops served that day at
// random times between 06:00 and 21:00 local, at most 4 transfers, 400 m walking radius.
//
//   build/release/bench/transit_bench [--feed ZIP] [--date 20260916] [--queries 10000] [--range-queries 200]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "services/mobility/network/planner.h"
#include "services/mobility/network/realtime.h"

namespace {

using namespace cityhub::mobility;
using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

void Print(const char* what, std::vector<double> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  double mean = 0;
  for (double m : ms) mean += m;
  mean /= ms.size();
  fmt::print("{:<28} n={:<6} mean {:8.3f} ms  p50 {:8.3f}  p99 {:8.3f}  max {:8.3f}\n", what, ms.size(), mean,
             ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"transit_bench"};
  std::string feed_path = "../shared/data/gtfs/mta_nyc_subway_bus_20260526-20270102.zip";
  int32_t date = 20260916;
  size_t queries = 10000, range_queries = 200;
  app.add_option("--feed", feed_path);
  app.add_option("--date", date);
  app.add_option("--queries", queries);
  app.add_option("--range-queries", range_queries);
  CLI11_PARSE(app, argc, argv);

  auto start = Clock::now();
  gtfs::ValidationReport report;
  auto feed = gtfs::LoadFeed(feed_path, gtfs::FeedOptions{}, report);
  if (!feed.ok()) {
    fmt::print(stderr, "{}\n", feed.status().message());
    return 1;
  }
  const double read_ms = MillisSince(start);
  fmt::print("feed: {} stops, {} trips, {} stop times, {} problems; read in {:.0f} ms\n", feed->stops.size(),
             feed->trips.size(), feed->stop_times.size(), report.total(), read_ms);
  start = Clock::now();
  auto net = network::TransitNetwork::Create(std::move(*feed), network::NetworkOptions{});
  if (!net.ok()) {
    fmt::print(stderr, "{}\n", net.status().message());
    return 1;
  }
  const double create_ms = MillisSince(start);
  start = Clock::now();
  auto day = (*net)->Day(date);
  if (!day.ok()) {
    fmt::print(stderr, "{}\n", day.status().message());
    return 1;
  }
  const double day_ms = MillisSince(start);
  const routing::Timetable& tt = (*day)->timetable;
  size_t events = 0;
  for (routing::RouteIdx r = 0; r < tt.RouteCount(); ++r) events += size_t{tt.Route(r).stop_count} * tt.Route(r).trip_count;
  fmt::print("network prepared in {:.0f} ms; day timetable {} (3 service days): {} routes, {} trip runs, {} stop events, built in {:.0f} ms; peak RSS {:.0f} MB\n",
             create_ms, date, tt.RouteCount(), tt.TripCount(), events, day_ms, PeakRssMb());

  std::vector<routing::StopIdx> served;
  for (routing::StopIdx s = 0; s < tt.StopCount(); ++s) {
    if (!tt.RoutesAt(s).empty()) served.push_back(s);
  }
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<size_t> pick(0, served.size() - 1);
  const routing::Seconds day_start = (*day)->ToTimetable((*net)->clock().ServiceDayStartUtc(date));
  std::uniform_int_distribution<routing::Seconds> when(day_start + 6 * 3600, day_start + 21 * 3600);
  routing::Raptor raptor(tt);
  std::vector<double> ea, range, by;
  size_t reached = 0;
  for (size_t i = 0; i < queries; ++i) {
    routing::RaptorQuery q;
    q.sources = {{served[pick(rng)], 0}};
    q.targets = {{served[pick(rng)], 0}};
    q.departure = when(rng);
    q.max_transfers = 4;
    auto t0 = Clock::now();
    auto r = raptor.Route(q);
    ea.push_back(MillisSince(t0));
    if (r.ok() && !r->journeys.empty()) ++reached;
  }
  for (size_t i = 0; i < range_queries; ++i) {
    routing::RaptorQuery q;
    q.sources = {{served[pick(rng)], 0}};
    q.targets = {{served[pick(rng)], 0}};
    q.departure = when(rng);
    q.window_end = q.departure + 2 * 3600;
    q.max_transfers = 4;
    auto t0 = Clock::now();
    auto r = raptor.RouteRange(q);
    range.push_back(MillisSince(t0));
    routing::RaptorQuery a = q;
    a.arrive_by = q.departure + 2 * 3600;
    t0 = Clock::now();
    auto b = raptor.RouteArriveBy(a);
    by.push_back(MillisSince(t0));
  }
  fmt::print("earliest arrival: {} of {} queries reached their target\n", reached, queries);
  Print("earliest arrival", ea);
  Print("range, 2-hour window", range);
  Print("arrive-by", by);

  // Real time as the hub applies it: 1,000 trip updates (random trips running that day, a delay
  // of 1–10 minutes from a random stop on, one in ten cancelled) resolved against the feed, then
  // applied to the three-day timetable (network::WithRealtime).
  gtfs::RealtimeFeed rt;
  rt.timestamp = static_cast<uint64_t>((*net)->clock().ServiceDayStartUtc(date) + 12 * 3600);
  {
    std::vector<uint32_t> running;
    for (const network::TripRun& run : (*day)->runs) {
      if (run.service_date == date && run.shift == 0 && !(*net)->RunsByFrequency(run.feed_trip)) running.push_back(run.feed_trip);
    }
    std::shuffle(running.begin(), running.end(), rng);
    running.resize(std::min<size_t>(running.size(), 1000));
    for (uint32_t t : running) {
      const gtfs::Trip& trip = (*net)->feed().trips[t];
      gtfs::TripUpdate u;
      u.entity_id = trip.id;
      u.trip.trip_id = trip.id;
      u.trip.start_date = std::to_string(date);
      if (rng() % 10 == 0) {
        u.trip.relationship = gtfs::TripRelationship::kCanceled;
      } else {
        gtfs::StopTimeUpdate st;
        st.stop_sequence = (*net)->feed().stop_times[trip.first_stop_time + rng() % trip.stop_time_count].stop_sequence;
        gtfs::StopTimeEvent late;
        late.delay = static_cast<int32_t>(60 * (1 + rng() % 10));
        st.departure = late;
        u.stop_time_updates.push_back(st);
      }
      rt.trip_updates.push_back(std::move(u));
    }
  }
  std::vector<double> resolve_ms, apply_ms;
  size_t applied_trips = 0;
  for (int run = 0; run < 7; ++run) {
    gtfs::ValidationReport report;
    auto t0 = Clock::now();
    auto snapshot = network::ResolveRealtime(**net, rt, static_cast<int64_t>(rt.timestamp), report);
    resolve_ms.push_back(MillisSince(t0));
    if (!snapshot.ok()) {
      fmt::print(stderr, "{}\n", snapshot.status().message());
      return 1;
    }
    t0 = Clock::now();
    auto applied = network::WithRealtime(**net, **day, *snapshot);
    apply_ms.push_back(MillisSince(t0));
    if (!applied.ok()) {
      fmt::print(stderr, "{}\n", applied.status().message());
      return 1;
    }
    applied_trips = (*snapshot)->updates.trips.size();
  }
  fmt::print("GTFS-RT: {} trip updates resolved ({} matched)\n", rt.trip_updates.size(), applied_trips);
  Print("resolve 1,000 trip updates", resolve_ms);
  Print("apply to the 3-day timetable", apply_ms);
  fmt::print("peak RSS {:.0f} MB\n", PeakRssMb());
  return 0;
}
