// raptor_bench: how fast services/mobility/routing answers on a big synthetic network — the
// timetable build, earliest-arrival queries, 2-hour range queries and arrive-by queries, one
// thread.
//
// The network is made up (a real feed needs the GTFS reader): stops on a square grid 300 m
// apart around Gimhae's city hall, lines as random walks on the grid without repeating a stop,
// mostly straight, each line run in both directions every 4–20 minutes from 05:00 to 24:00 at 20–40 km/h with a
// 30 s dwell; walking footpaths between stops within --radius metres. Queries are random pairs
// of served stops at random departures between 06:00 and 21:00, at most 4 transfers.
//
//   build/release/bench/raptor_bench [--grid 120] [--lines 600] [--queries 10000] [--range-queries 200]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "services/mobility/routing/raptor.h"

namespace {

using namespace cityhub::mobility::routing;
using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Summary {
  double mean = 0, p50 = 0, p99 = 0, max = 0;
};

Summary Summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  Summary s;
  for (double m : ms) s.mean += m;
  s.mean /= static_cast<double>(ms.size());
  s.p50 = ms[ms.size() / 2];
  s.p99 = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  s.max = ms.back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int grid = 120, lines = 600, queries = 10'000, range_queries = 200;
  double radius = 400;
  uint32_t seed = 1;
  CLI::App app{"RAPTOR on a synthetic network: build time and query latencies"};
  app.add_option("--grid", grid, "stops per side of the square grid");
  app.add_option("--lines", lines, "bus lines (each runs both ways)");
  app.add_option("--queries", queries, "earliest-arrival queries");
  app.add_option("--range-queries", range_queries, "2-hour range queries (and as many arrive-by queries)");
  app.add_option("--radius", radius, "walking radius between stops, metres");
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);

  std::mt19937 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const double spacing_deg = 300.0 / 111'195.0;
  TimetableBuilder builder;
  for (int y = 0; y < grid; ++y) {
    for (int x = 0; x < grid; ++x) {
      builder.AddStop(35.2285 + y * spacing_deg, 128.8894 + x * spacing_deg / 0.817, 60 * uniform(0, 2));
    }
  }
  auto start = Clock::now();
  size_t stop_events = 0;
  for (int l = 0; l < lines; ++l) {
    std::vector<StopIdx> path;
    std::set<StopIdx> used;
    int x = uniform(0, grid - 1), y = uniform(0, grid - 1);
    int dir = uniform(0, 3);
    const int length = uniform(20, 60);
    for (int i = 0; i < length * 4 && static_cast<int>(path.size()) < length; ++i) {
      const StopIdx s = static_cast<StopIdx>(y * grid + x);
      if (used.insert(s).second) path.push_back(s);
      if (uniform(0, 9) < 2) dir = uniform(0, 3);  // mostly straight on
      x = std::clamp(x + (dir == 0) - (dir == 1), 0, grid - 1);
      y = std::clamp(y + (dir == 2) - (dir == 3), 0, grid - 1);
    }
    if (path.size() < 2) continue;
    const int headway = 60 * uniform(4, 20);
    const double speed = uniform(20, 40) / 3.6;
    const Seconds hop = static_cast<Seconds>(300 / speed);
    for (int direction = 0; direction < 2; ++direction) {
      if (direction == 1) std::reverse(path.begin(), path.end());
      for (Seconds first = 5 * 3600 + uniform(0, headway); first < 24 * 3600; first += headway) {
        std::vector<TripStop> calls;
        Seconds t = first;
        for (StopIdx s : path) {
          calls.push_back({s, t, t + 30});
          t += 30 + hop;
        }
        if (!builder.AddTrip(calls, uniform(0, 9) < 8).ok()) return 1;
        stop_events += calls.size();
      }
    }
  }
  const double generate_ms = MillisSince(start);
  start = Clock::now();
  auto built = builder.Build({.radius_m = radius});
  if (!built.ok()) {
    fmt::print(stderr, "build failed: {}\n", built.status().message());
    return 1;
  }
  const Timetable tt = std::move(built).value();
  const double build_ms = MillisSince(start);
  size_t footpaths = 0, served_count = 0;
  for (StopIdx s = 0; s < tt.StopCount(); ++s) served_count += !tt.RoutesAt(s).empty();
  for (StopIdx s = 0; s < tt.StopCount(); ++s) footpaths += tt.FootpathsFrom(s).size();
  fmt::print("network: {} stops ({} served), {} routes, {} trips, {} stop events, {} footpaths\n", tt.StopCount(),
             served_count, tt.RouteCount(), tt.TripCount(), stop_events, footpaths);
  fmt::print("generate {:.0f} ms, Build() {:.0f} ms\n", generate_ms, build_ms);

  Raptor raptor(tt);
  std::vector<StopIdx> served;
  for (StopIdx s = 0; s < tt.StopCount(); ++s) {
    if (!tt.RoutesAt(s).empty()) served.push_back(s);
  }
  auto random_stop = [&] { return served[uniform(0, static_cast<int>(served.size()) - 1)]; };
  auto random_query = [&] {
    RaptorQuery q;
    q.sources = {{random_stop(), 0}};
    q.targets = {{random_stop(), 0}};
    q.departure = uniform(6 * 3600, 21 * 3600);
    q.max_transfers = 4;
    return q;
  };
  std::vector<double> ea_ms;
  size_t answered = 0;
  for (int i = 0; i < queries; ++i) {
    const RaptorQuery q = random_query();
    start = Clock::now();
    auto r = raptor.Route(q);
    ea_ms.push_back(MillisSince(start));
    if (r.ok() && !r->journeys.empty()) ++answered;
  }
  Summary ea = Summarise(ea_ms);
  fmt::print("earliest arrival: {} queries ({} with a journey): mean {:.2f} ms, p50 {:.2f}, p99 {:.2f}, max {:.2f}\n",
             queries, answered, ea.mean, ea.p50, ea.p99, ea.max);

  std::vector<double> range_ms;
  size_t journeys = 0;
  for (int i = 0; i < range_queries; ++i) {
    RaptorQuery q = random_query();
    q.window_end = q.departure + 2 * 3600;
    start = Clock::now();
    auto r = raptor.RouteRange(q);
    range_ms.push_back(MillisSince(start));
    if (r.ok()) journeys += r->size();
  }
  if (range_queries > 0) {
    Summary range = Summarise(range_ms);
    fmt::print("range (2 h window): {} queries, {} journeys: mean {:.2f} ms, p50 {:.2f}, p99 {:.2f}, max {:.2f}\n",
               range_queries, journeys, range.mean, range.p50, range.p99, range.max);
  }

  std::vector<double> arrive_by_ms;
  for (int i = 0; i < range_queries; ++i) {
    RaptorQuery q = random_query();
    q.arrive_by = q.departure + 2 * 3600;
    start = Clock::now();
    auto r = raptor.RouteArriveBy(q);
    arrive_by_ms.push_back(MillisSince(start));
  }
  if (range_queries > 0) {
    Summary by = Summarise(arrive_by_ms);
    fmt::print("arrive-by (searching 2 h back): {} queries: mean {:.2f} ms, p50 {:.2f}, p99 {:.2f}, max {:.2f}\n",
               range_queries, by.mean, by.p50, by.p99, by.max);
  }
  return 0;
}
