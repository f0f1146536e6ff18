// ApplyTripChanges: cancelled trips cannot be boarded, skipped stops can be neither boarded nor
// alighted at, new times are used, overtaking caused by delays splits routes, added trips run,
// the base is left as it was, bad changes are refused naming what and where. Then a
// differential test: on seeded random networks with random changes, RAPTOR on the patched
// timetable gives the same earliest arrivals (and range and arrive-by Pareto sets) as on a
// timetable built from scratch with the changed trips.
#include "services/mobility/routing/timetable_update.h"

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "services/mobility/routing/raptor.h"

namespace cityhub::mobility::routing {
namespace {

constexpr Seconds Hm(int h, int m) { return h * 3600 + m * 60; }

Timetable Built(TimetableBuilder& b) {
  auto tt = b.Build();
  EXPECT_TRUE(tt.ok()) << tt.status().message();
  return std::move(tt).value();
}

Timetable Applied(const Timetable& base, const std::vector<TripChange>& changes, const std::vector<AddedTrip>& added = {}) {
  auto tt = ApplyTripChanges(base, changes, added);
  EXPECT_TRUE(tt.ok()) << tt.status().message();
  return tt.ok() ? std::move(tt).value() : Timetable{};
}

Seconds EarliestArrival(const Timetable& tt, StopIdx from, StopIdx to, Seconds departure, bool wheelchair = false) {
  Raptor raptor(tt);
  RaptorQuery q;
  q.sources = {{from, 0}};
  q.targets = {{to, 0}};
  q.departure = departure;
  q.wheelchair = wheelchair;
  auto r = raptor.Route(q);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r->arrival_by_trips.back() : kUnreachable;
}

// The structural promises of a Timetable: routes never overtake, every trip is in at most one
// route, the per-stop lists name exactly the (route, position) pairs of the routes.
void ExpectWellFormed(const Timetable& tt) {
  std::vector<int> seen(tt.TripCount(), 0);
  std::set<std::tuple<StopIdx, RouteIdx, uint32_t>> from_routes, from_stops;
  for (RouteIdx r = 0; r < tt.RouteCount(); ++r) {
    const auto stops = tt.RouteStops(r);
    for (uint32_t p = 0; p < stops.size(); ++p) from_routes.insert({stops[p], r, p});
    for (uint32_t t = 0; t < tt.Route(r).trip_count; ++t) {
      ++seen.at(tt.TripOf(r, t));
      const auto times = tt.TripTimes(r, t);
      for (size_t p = 0; p < times.size(); ++p) {
        EXPECT_LE(times[p].arrival, times[p].departure);
        if (p > 0) {
          EXPECT_LE(times[p - 1].departure, times[p].arrival);
        }
        if (t > 0) {
          EXPECT_LE(tt.TripTimes(r, t - 1)[p].arrival, times[p].arrival) << "route " << r << " trip " << t;
          EXPECT_LE(tt.TripTimes(r, t - 1)[p].departure, times[p].departure) << "route " << r << " trip " << t;
        }
      }
    }
  }
  for (TripIdx t = 0; t < tt.TripCount(); ++t) EXPECT_LE(seen[t], 1) << "trip " << t;
  for (StopIdx s = 0; s < tt.StopCount(); ++s) {
    for (const RouteStop& rs : tt.RoutesAt(s)) from_stops.insert({s, rs.route, rs.position});
  }
  EXPECT_EQ(from_routes, from_stops);
}

// Four stops far apart on one line a-b-c-d, two trips 20 minutes apart.
struct Line {
  TimetableBuilder builder;
  StopIdx a, b, c, d;
  TripIdx early, late;
  Timetable tt;

  Line() {
    a = builder.AddStop(35.0, 128.8);
    b = builder.AddStop(35.1, 128.8);
    c = builder.AddStop(35.2, 128.8);
    d = builder.AddStop(35.3, 128.8);
    early = Add(Hm(8, 0));
    late = Add(Hm(8, 20));
    tt = Built(builder);
  }
  TripIdx Add(Seconds start) {
    std::vector<TripStop> stops{{a, start, start},
                                {b, start + 600, start + 660},
                                {c, start + 1200, start + 1260},
                                {d, start + 1800, start + 1800}};
    return builder.AddTrip(stops, true).value();
  }
  // The trip's times shifted by `delay` from position `from` on.
  std::vector<StopTime> Times(TripIdx trip, Seconds delay, uint32_t from = 0) const {
    for (RouteIdx r = 0; r < tt.RouteCount(); ++r) {
      for (uint32_t t = 0; t < tt.Route(r).trip_count; ++t) {
        if (tt.TripOf(r, t) != trip) continue;
        auto base = tt.TripTimes(r, t);
        std::vector<StopTime> out(base.begin(), base.end());
        for (size_t p = from; p < out.size(); ++p) out[p] = {out[p].arrival + delay, out[p].departure + delay};
        return out;
      }
    }
    return {};
  }
};

TEST(ApplyTripChanges, CancelledTripCannotBeBoarded) {
  Line line;
  EXPECT_EQ(EarliestArrival(line.tt, line.a, line.d, Hm(7, 55)), Hm(8, 30));
  Timetable patched = Applied(line.tt, {{line.early, true, {}, {}}});
  ExpectWellFormed(patched);
  EXPECT_EQ(EarliestArrival(patched, line.a, line.d, Hm(7, 55)), Hm(8, 50));
  EXPECT_EQ(EarliestArrival(line.tt, line.a, line.d, Hm(7, 55)), Hm(8, 30));  // the base is unchanged
  EXPECT_EQ(patched.RouteCount(), line.tt.RouteCount());
  EXPECT_EQ(patched.TripCount(), line.tt.TripCount());
}

TEST(ApplyTripChanges, ARouteWithEveryTripCancelledStaysEmptyAndEveryQueryKindCopes) {
  Line line;
  Timetable patched = Applied(line.tt, {{line.late, true, {}, {}}, {line.early, true, {}, {}}});
  ExpectWellFormed(patched);
  ASSERT_EQ(patched.RouteCount(), line.tt.RouteCount());
  EXPECT_EQ(patched.Route(0).trip_count, 0u);
  EXPECT_EQ(EarliestArrival(patched, line.a, line.d, Hm(7, 0)), kUnreachable);
  Raptor raptor(patched);
  RaptorQuery q;
  q.sources = {{line.a, 0}};
  q.targets = {{line.d, 0}};
  q.departure = Hm(7, 0);
  q.window_end = Hm(9, 0);
  q.arrive_by = Hm(10, 0);
  auto range = raptor.RouteRange(q);
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(range->empty());
  auto arrive_by = raptor.RouteArriveBy(q);
  ASSERT_TRUE(arrive_by.ok());
  EXPECT_TRUE(arrive_by->empty());
}

TEST(ApplyTripChanges, SkippedStopCanBeNeitherBoardedNorAlightedAt) {
  Line line;
  TripChange skip_b{line.early, false, line.Times(line.early, 0), {0, 1, 0, 0}};
  Timetable patched = Applied(line.tt, {skip_b});
  ExpectWellFormed(patched);
  EXPECT_EQ(EarliestArrival(patched, line.a, line.b, Hm(7, 55)), Hm(8, 30));  // alight from the late trip
  EXPECT_EQ(EarliestArrival(patched, line.b, line.d, Hm(8, 5)), Hm(8, 50));   // board the late trip
  EXPECT_EQ(EarliestArrival(patched, line.a, line.d, Hm(7, 55)), Hm(8, 30));  // still rides past b
  EXPECT_EQ(EarliestArrival(patched, line.a, line.c, Hm(7, 55)), Hm(8, 20));
  EXPECT_GT(patched.RouteCount(), line.tt.RouteCount());  // a route a-c-d for the early trip
}

TEST(ApplyTripChanges, ATripLeftWithOneStopIsDropped) {
  Line line;
  Timetable patched = Applied(line.tt, {{line.early, false, line.Times(line.early, 0), {1, 1, 1, 0}}});
  ExpectWellFormed(patched);
  EXPECT_EQ(EarliestArrival(patched, line.a, line.d, Hm(7, 55)), Hm(8, 50));
}

TEST(ApplyTripChanges, NewTimesAreUsedAndADelayThatOvertakesSplitsTheRoute) {
  Line line;
  // 25 minutes late from b on: the early trip now reaches d after the late one.
  Timetable patched = Applied(line.tt, {{line.early, false, line.Times(line.early, 1500, 1), {}}});
  ExpectWellFormed(patched);
  EXPECT_EQ(patched.RouteCount(), line.tt.RouteCount() + 1);
  EXPECT_EQ(EarliestArrival(patched, line.a, line.d, Hm(7, 55)), Hm(8, 50));
  EXPECT_EQ(EarliestArrival(patched, line.a, line.b, Hm(7, 55)), Hm(8, 30));  // the late trip, at b first
  EXPECT_EQ(EarliestArrival(patched, line.b, line.c, Hm(8, 34)), Hm(8, 45));  // the early trip, leaving b at 8:36…
  // …and running early works too: five minutes ahead from c on.
  Timetable early = Applied(line.tt, {{line.late, false, line.Times(line.late, -300, 2), {}}});
  EXPECT_EQ(EarliestArrival(early, line.a, line.d, Hm(8, 10)), Hm(8, 45));
}

TEST(ApplyTripChanges, AddedTripsRunWithNewTripIndexes) {
  Line line;
  AddedTrip extra{{{line.d, Hm(9, 0), Hm(9, 0)}, {line.a, Hm(9, 40), Hm(9, 40)}}, false};
  AddedTrip shuttle{{{line.a, Hm(8, 5), Hm(8, 5)}, {line.c, Hm(8, 15), Hm(8, 15)}}, true};
  Timetable patched = Applied(line.tt, {}, {extra, shuttle});
  ExpectWellFormed(patched);
  ASSERT_EQ(patched.TripCount(), line.tt.TripCount() + 2);
  EXPECT_FALSE(patched.WheelchairAccessible(static_cast<TripIdx>(line.tt.TripCount())));
  EXPECT_TRUE(patched.WheelchairAccessible(static_cast<TripIdx>(line.tt.TripCount() + 1)));
  EXPECT_EQ(EarliestArrival(patched, line.d, line.a, Hm(8, 0)), Hm(9, 40));
  EXPECT_EQ(EarliestArrival(line.tt, line.d, line.a, Hm(8, 0)), kUnreachable);
  EXPECT_EQ(EarliestArrival(patched, line.a, line.c, Hm(8, 1)), Hm(8, 15));
  EXPECT_EQ(EarliestArrival(patched, line.d, line.a, Hm(8, 0), /*wheelchair=*/true), kUnreachable);
  Raptor raptor(patched);
  RaptorQuery q;
  q.sources = {{line.a, 0}};
  q.targets = {{line.c, 0}};
  q.departure = Hm(8, 1);
  auto r = raptor.Route(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 1u);
  EXPECT_EQ(r->journeys[0].legs[1].trip, line.tt.TripCount() + 1);
}

TEST(ApplyTripChanges, BadChangesAreRefusedNamingWhatAndWhere) {
  Line line;
  auto error = [&](std::vector<TripChange> changes, std::vector<AddedTrip> added = {}) {
    auto r = ApplyTripChanges(line.tt, changes, added);
    EXPECT_FALSE(r.ok());
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kBadRequestData);
      return r.status().message();
    }
    return std::string();
  };
  EXPECT_EQ(error({{7, true, {}, {}}}), "trip change 0 (trip 7): unknown trip");
  EXPECT_EQ(error({{line.early, true, {}, {}}, {line.early, true, {}, {}}}),
            "trip change 1 (trip 0): the trip is changed twice");
  EXPECT_EQ(error({{line.early, false, {{0, 0}}, {}}}), "trip change 0 (trip 0): 1 times and 0 skipped flags for 4 stops");
  EXPECT_EQ(error({{line.early, false, line.Times(line.early, 0), {0, 1}}}),
            "trip change 0 (trip 0): 4 times and 2 skipped flags for 4 stops");
  auto backwards = line.Times(line.early, 0);
  backwards[2].arrival = backwards[1].departure - 60;
  EXPECT_EQ(error({{line.early, false, backwards, {}}}),
            "trip change 0 (trip 0) position 2: arrives before the previous served stop's departure");
  // The same times are fine when the stop before is skipped and the one before that is earlier.
  EXPECT_TRUE(ApplyTripChanges(line.tt, std::vector<TripChange>{{line.early, false, backwards, {0, 1, 0, 0}}}, {}).ok());
  auto dwell = line.Times(line.early, 0);
  dwell[1].departure = dwell[1].arrival - 1;
  EXPECT_EQ(error({{line.early, false, dwell, {}}}), "trip change 0 (trip 0) position 1: arrival after departure");
  auto negative = line.Times(line.early, -Hm(9, 0));
  EXPECT_NE(error({{line.early, false, negative, {}}}).find("position 0: time outside 0.."), std::string::npos);
  auto too_late = line.Times(line.early, kMaxTime - Hm(8, 0), 3);
  EXPECT_EQ(error({{line.early, false, too_late, {}}}),
            fmt::format("trip change 0 (trip 0) position 3: time outside 0..{} seconds", kMaxTime));
  EXPECT_EQ(error({}, {{{{line.a, 0, 0}, {99, 60, 60}}, true}}), "added trip 0 position 1: unknown stop 99");
  EXPECT_EQ(error({}, {{{{line.a, 0, 0}}, true}}), "added trip 0: has 1 stops, must have 2 to 1000");
  // A trip cancelled in the base (an earlier update applied to it) cannot be changed again.
  Timetable cancelled = Applied(line.tt, {{line.early, true, {}, {}}});
  auto again = ApplyTripChanges(cancelled, std::vector<TripChange>{{line.early, true, {}, {}}}, {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), "trip change 0 (trip 0): the trip no longer runs in the base");
}

TEST(ApplyTripChanges, NoChangesGiveTheSameNetwork) {
  Line line;
  Timetable same = Applied(line.tt, {});
  ExpectWellFormed(same);
  ASSERT_EQ(same.RouteCount(), line.tt.RouteCount());
  for (RouteIdx r = 0; r < same.RouteCount(); ++r) {
    ASSERT_EQ(same.Route(r).trip_count, line.tt.Route(r).trip_count);
    for (uint32_t t = 0; t < same.Route(r).trip_count; ++t) {
      EXPECT_EQ(same.TripOf(r, t), line.tt.TripOf(r, t));
      for (size_t p = 0; p < same.Route(r).stop_count; ++p) {
        EXPECT_EQ(same.TripTimes(r, t)[p].departure, line.tt.TripTimes(r, t)[p].departure);
      }
    }
  }
}

// ---- Differential test ------------------------------------------------------------------------

struct RandomNetwork {
  std::vector<Seconds> min_transfer;
  std::vector<std::vector<TripStop>> trips;  // by TripIdx
  std::vector<bool> accessible;
  std::vector<std::tuple<StopIdx, StopIdx, Seconds>> footpaths;
};

// Times in whole minutes; lines of 2–8 stops with 4–14 trips each, some running past midnight.
RandomNetwork MakeNetwork(std::mt19937& rng) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RandomNetwork net;
  const int stops = uniform(15, 35);
  for (int s = 0; s < stops; ++s) net.min_transfer.push_back(60 * uniform(0, 3));
  for (int l = uniform(15, 30); l > 0; --l) {
    std::vector<StopIdx> seq(stops);
    for (int s = 0; s < stops; ++s) seq[s] = s;
    std::shuffle(seq.begin(), seq.end(), rng);
    seq.resize(uniform(2, 8));
    for (int t = uniform(4, 14); t > 0; --t) {
      Seconds time = 60 * uniform(6 * 60, 10 * 60) + (uniform(0, 9) == 0 ? 16 * 3600 : 0);
      std::vector<TripStop> calls;
      for (size_t p = 0; p < seq.size(); ++p) {
        if (p > 0) time += 60 * uniform(1, 12);
        const Seconds arrival = time;
        time += 60 * uniform(0, 1);
        calls.push_back({seq[p], arrival, time});
      }
      net.trips.push_back(std::move(calls));
      net.accessible.push_back(uniform(0, 9) < 7);
    }
  }
  std::set<std::pair<StopIdx, StopIdx>> seen;
  for (int f = uniform(10, 50); f > 0; --f) {
    StopIdx from = uniform(0, stops - 1), to = uniform(0, stops - 1);
    if (from != to && seen.insert({from, to}).second) net.footpaths.emplace_back(from, to, 60 * uniform(1, 15));
  }
  return net;
}

Timetable BuildFrom(const RandomNetwork& net) {
  TimetableBuilder b;
  for (size_t s = 0; s < net.min_transfer.size(); ++s) b.AddStop(35.0 + 0.1 * s, 128.8, net.min_transfer[s]);
  for (size_t t = 0; t < net.trips.size(); ++t) EXPECT_TRUE(b.AddTrip(net.trips[t], net.accessible[t]).ok());
  for (const auto& [from, to, d] : net.footpaths) EXPECT_TRUE(b.AddTransfer(from, to, d).ok());
  return Built(b);
}

// Random cancellations, delays (late or early, from a random stop on, never backwards in time)
// and skipped stops on about half the trips, plus a few added trips.
struct RandomChanges {
  std::vector<TripChange> changes;
  std::vector<AddedTrip> added;
};

RandomChanges MakeChanges(std::mt19937& rng, const RandomNetwork& net) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RandomChanges out;
  for (TripIdx t = 0; t < net.trips.size(); ++t) {
    const int kind = uniform(0, 9);
    if (kind >= 5) continue;
    TripChange c{t, kind == 0, {}, {}};
    if (!c.cancelled) {
      const auto& calls = net.trips[t];
      const size_t from = uniform(0, static_cast<int>(calls.size()) - 1);
      Seconds delay = 60 * uniform(-4, 25), previous = 0;
      for (size_t p = 0; p < calls.size(); ++p) {
        if (p > from) delay += 60 * uniform(-3, 3);  // the delay drifts stop by stop
        const Seconds shift = p >= from ? delay : 0;
        const Seconds arrival = std::max({calls[p].arrival + shift, previous, 0});
        const Seconds departure = std::max(calls[p].departure + shift, arrival);
        c.times.push_back({arrival, departure});
        previous = departure;
      }
      if (kind >= 3) {
        c.skipped.assign(calls.size(), 0);
        for (auto& s : c.skipped) s = uniform(0, 3) == 0;
      }
    }
    out.changes.push_back(std::move(c));
  }
  std::shuffle(out.changes.begin(), out.changes.end(), rng);
  const int stops = static_cast<int>(net.min_transfer.size());
  for (int a = uniform(0, 5); a > 0; --a) {
    AddedTrip trip;
    // Half of them on the stop sequence of an existing trip, half on a new one.
    std::vector<StopIdx> seq;
    if (uniform(0, 1) == 0) {
      for (const TripStop& s : net.trips[uniform(0, static_cast<int>(net.trips.size()) - 1)]) seq.push_back(s.stop);
    } else {
      for (int n = uniform(2, 6); n > 0; --n) seq.push_back(uniform(0, stops - 1));
    }
    Seconds time = 60 * uniform(6 * 60, 10 * 60);
    for (StopIdx s : seq) {
      time += 60 * uniform(1, 10);
      trip.stops.push_back({s, time, time + 60 * uniform(0, 1)});
      time = trip.stops.back().departure;
    }
    trip.accessible = uniform(0, 1) == 0;
    out.added.push_back(std::move(trip));
  }
  return out;
}

// The network as it runs after the changes: cancelled trips and skipped calls left out (trips
// left with fewer than two calls too), new times, added trips after the others.
RandomNetwork ChangedNetwork(const RandomNetwork& net, const RandomChanges& rc) {
  RandomNetwork out = net;
  std::vector<bool> dropped(net.trips.size(), false);
  for (const TripChange& c : rc.changes) {
    if (c.cancelled) {
      dropped[c.trip] = true;
      continue;
    }
    std::vector<TripStop> calls;
    for (size_t p = 0; p < c.times.size(); ++p) {
      if (c.skipped.empty() || !c.skipped[p]) calls.push_back({net.trips[c.trip][p].stop, c.times[p].arrival, c.times[p].departure});
    }
    dropped[c.trip] = calls.size() < 2;
    out.trips[c.trip] = std::move(calls);
  }
  RandomNetwork kept = out;
  kept.trips.clear();
  kept.accessible.clear();
  for (size_t t = 0; t < out.trips.size(); ++t) {
    if (dropped[t]) continue;
    kept.trips.push_back(out.trips[t]);
    kept.accessible.push_back(out.accessible[t]);
  }
  for (const AddedTrip& a : rc.added) {
    kept.trips.push_back(a.stops);
    kept.accessible.push_back(a.accessible);
  }
  return kept;
}

// What a patched trip runs as, by its TripIdx in the patched timetable (empty: it does not run).
std::vector<std::vector<TripStop>> RunningTrips(const RandomNetwork& net, const RandomChanges& rc) {
  std::vector<std::vector<TripStop>> running = net.trips;
  for (const TripChange& c : rc.changes) {
    running[c.trip].clear();
    if (c.cancelled) continue;
    for (size_t p = 0; p < c.times.size(); ++p) {
      if (c.skipped.empty() || !c.skipped[p]) {
        running[c.trip].push_back({net.trips[c.trip][p].stop, c.times[p].arrival, c.times[p].departure});
      }
    }
  }
  for (const AddedTrip& a : rc.added) running.push_back(a.stops);
  return running;
}

RaptorQuery RandomQuery(std::mt19937& rng, size_t stops) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int last = static_cast<int>(stops) - 1;
  RaptorQuery q;
  for (int i = uniform(1, 2); i > 0; --i) q.sources.push_back({static_cast<StopIdx>(uniform(0, last)), 60 * uniform(0, 5)});
  for (int i = uniform(1, 2); i > 0; --i) q.targets.push_back({static_cast<StopIdx>(uniform(0, last)), 60 * uniform(0, 5)});
  q.departure = 60 * uniform(5 * 60 + 30, 9 * 60) + (uniform(0, 9) == 0 ? 16 * 3600 : 0);
  q.window_end = q.departure + 60 * uniform(0, 120);
  q.max_transfers = uniform(0, 4);
  q.wheelchair = uniform(0, 4) == 0;
  return q;
}

// Every ride of a journey on the patched timetable is a running trip, boarded and left at stops
// it serves (not skipped ones), at its new times.
void ExpectRidesRunning(const std::vector<std::vector<TripStop>>& running, const Journey& j) {
  for (const Leg& l : j.legs) {
    if (l.kind != Leg::Kind::kTransit) continue;
    const auto& calls = running.at(l.trip);
    ASSERT_FALSE(calls.empty()) << "rides cancelled trip " << l.trip;
    auto board = std::find_if(calls.begin(), calls.end(), [&](const TripStop& s) {
      return s.stop == l.from && s.departure == l.departure;
    });
    ASSERT_NE(board, calls.end()) << "trip " << l.trip << " does not leave stop " << l.from << " then";
    auto alight = std::find_if(board + 1, calls.end(), [&](const TripStop& s) {
      return s.stop == l.to && s.arrival == l.arrival;
    });
    EXPECT_NE(alight, calls.end()) << "trip " << l.trip << " does not reach stop " << l.to << " then";
  }
}

TEST(ApplyTripChangesDifferential, EarliestArrivalsEqualARebuiltTimetable) {
  size_t queries = 0, reachable = 0, routes_split = 0;
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937 rng(seed * 104729);
    const RandomNetwork net = MakeNetwork(rng);
    const Timetable base = BuildFrom(net);
    const RandomChanges rc = MakeChanges(rng, net);
    const Timetable patched = Applied(base, rc.changes, rc.added);
    ExpectWellFormed(patched);
    const Timetable rebuilt = BuildFrom(ChangedNetwork(net, rc));
    const auto running = RunningTrips(net, rc);
    if (patched.RouteCount() > base.RouteCount()) ++routes_split;
    Raptor on_patched(patched), on_rebuilt(rebuilt);
    for (int i = 0; i < 250; ++i, ++queries) {
      const RaptorQuery q = RandomQuery(rng, net.min_transfer.size());
      auto got = on_patched.Route(q);
      auto want = on_rebuilt.Route(q);
      ASSERT_TRUE(got.ok() && want.ok());
      ASSERT_EQ(got->arrival_by_trips, want->arrival_by_trips) << "seed " << seed << " query " << i;
      for (const Journey& j : got->journeys) ExpectRidesRunning(running, j);
      if (!got->journeys.empty()) ++reachable;
    }
  }
  EXPECT_EQ(queries, 3000u);
  EXPECT_GE(reachable, queries / 2);  // most queries have a journey: the test is not vacuous
  EXPECT_GE(routes_split, 10u);       // skips and overtaking delays did make new routes
}

TEST(ApplyTripChangesDifferential, NoChangesCopyEveryRandomNetworkExactly) {
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    std::mt19937 rng(seed * 31337);
    const Timetable base = BuildFrom(MakeNetwork(rng));
    const Timetable copy = Applied(base, {});
    ASSERT_EQ(copy.RouteCount(), base.RouteCount());
    ASSERT_EQ(copy.TripCount(), base.TripCount());
    for (RouteIdx r = 0; r < base.RouteCount(); ++r) {
      ASSERT_TRUE(std::ranges::equal(copy.RouteStops(r), base.RouteStops(r)));
      ASSERT_EQ(copy.Route(r).trip_count, base.Route(r).trip_count);
      for (uint32_t t = 0; t < base.Route(r).trip_count; ++t) {
        EXPECT_EQ(copy.TripOf(r, t), base.TripOf(r, t));
        for (size_t p = 0; p < base.Route(r).stop_count; ++p) {
          EXPECT_EQ(copy.TripTimes(r, t)[p].arrival, base.TripTimes(r, t)[p].arrival);
          EXPECT_EQ(copy.TripTimes(r, t)[p].departure, base.TripTimes(r, t)[p].departure);
        }
      }
    }
    for (StopIdx s = 0; s < base.StopCount(); ++s) {
      EXPECT_EQ(copy.RoutesAt(s).size(), base.RoutesAt(s).size());
      ASSERT_EQ(copy.FootpathsFrom(s).size(), base.FootpathsFrom(s).size());
      for (size_t f = 0; f < base.FootpathsFrom(s).size(); ++f) {
        EXPECT_EQ(copy.FootpathsFrom(s)[f].to, base.FootpathsFrom(s)[f].to);
        EXPECT_EQ(copy.FootpathsFrom(s)[f].duration, base.FootpathsFrom(s)[f].duration);
      }
      EXPECT_EQ(copy.Stop(s).min_transfer, base.Stop(s).min_transfer);
    }
  }
}

TEST(ApplyTripChangesDifferential, RangeAndArriveByParetoSetsEqualARebuiltTimetable) {
  size_t queries = 0, journeys = 0;
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    std::mt19937 rng(seed * 7727);
    const RandomNetwork net = MakeNetwork(rng);
    const RandomChanges rc = MakeChanges(rng, net);
    const Timetable patched = Applied(BuildFrom(net), rc.changes, rc.added);
    const Timetable rebuilt = BuildFrom(ChangedNetwork(net, rc));
    Raptor on_patched(patched), on_rebuilt(rebuilt);
    for (int i = 0; i < 80; ++i, ++queries) {
      const RaptorQuery q = RandomQuery(rng, net.min_transfer.size());
      auto got = on_patched.RouteRange(q);
      auto want = on_rebuilt.RouteRange(q);
      ASSERT_TRUE(got.ok() && want.ok());
      auto points = [](const std::vector<Journey>& js) {
        std::vector<std::tuple<Seconds, Seconds, uint32_t>> out;
        for (const Journey& j : js) out.emplace_back(j.departure, j.arrival, j.trips);
        return out;
      };
      ASSERT_EQ(points(*got), points(*want)) << "seed " << seed << " query " << i;
      journeys += got->size();
      RaptorQuery by = q;
      by.arrive_by = q.window_end + 60 * 60;
      auto got_by = on_patched.RouteArriveBy(by);
      auto want_by = on_rebuilt.RouteArriveBy(by);
      ASSERT_TRUE(got_by.ok() && want_by.ok());
      ASSERT_EQ(points(*got_by), points(*want_by)) << "arrive-by, seed " << seed << " query " << i;
    }
  }
  EXPECT_EQ(queries, 640u);
  EXPECT_GE(journeys, queries);
}

}  // namespace
}  // namespace cityhub::mobility::routing
