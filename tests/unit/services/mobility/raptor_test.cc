// Tests for services/mobility/routing: the timetable builder (validation, overtaking trips split
// into routes, walking footpaths) and RAPTOR on hand-built networks with known answers (minimum
// transfer times, footpaths, times past midnight, wheelchair filtering, the Pareto set, range and
// arrive-by queries); then a differential test on seeded random timetables against a
// label-setting search of the time-expanded graph written here.
#include "services/mobility/routing/raptor.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <random>
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include "time_expanded_search.h"

namespace cityhub::mobility::routing {
namespace {

using testing::BruteForceRange;
using testing::ExpectFeasible;
using testing::Network;
using testing::ParetoPoint;
using testing::TimeExpandedSearch;

constexpr Seconds Hm(int h, int m) { return h * 3600 + m * 60; }

// Stops far apart (about 11 km between neighbours), so no walking radius connects them.
StopIdx FarStop(TimetableBuilder& b, int i, Seconds min_transfer = 0) {
  return b.AddStop(35.0 + 0.1 * i, 128.8, min_transfer);
}

TripIdx AddTrip(TimetableBuilder& b, std::vector<TripStop> stops, bool accessible = true) {
  auto t = b.AddTrip(stops, accessible);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? t.value() : 0;
}

Timetable Build(TimetableBuilder& b, WalkingOptions walking = {}) {
  auto tt = b.Build(walking);
  EXPECT_TRUE(tt.ok()) << tt.status().message();
  return std::move(tt).value();
}

RaptorQuery Query(StopIdx from, StopIdx to, Seconds departure, uint32_t max_transfers = 4) {
  RaptorQuery q;
  q.sources = {{from, 0}};
  q.targets = {{to, 0}};
  q.departure = departure;
  q.max_transfers = max_transfers;
  return q;
}

std::vector<Leg::Kind> Kinds(const Journey& j) {
  std::vector<Leg::Kind> out;
  for (const Leg& l : j.legs) out.push_back(l.kind);
  return out;
}

using K = Leg::Kind;

TEST(TimetableBuilder, RejectsBadTripsNamingTripAndPosition) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1);
  std::vector<TripStop> unknown{{a, 0, 0}, {7, 60, 60}};
  auto r = b.AddTrip(unknown, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "trip 0 stop 1: unknown stop 7");

  std::vector<TripStop> dwell_backwards{{a, 0, 0}, {c, 120, 60}};
  r = b.AddTrip(dwell_backwards, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "trip 0 stop 1: arrival after departure");

  std::vector<TripStop> time_backwards{{a, 100, 200}, {c, 150, 150}};
  r = b.AddTrip(time_backwards, true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("before the previous stop"), std::string::npos);

  std::vector<TripStop> one_stop{{a, 0, 0}};
  EXPECT_FALSE(b.AddTrip(one_stop, true).ok());
  std::vector<TripStop> negative{{a, -60, 0}, {c, 60, 60}};
  EXPECT_FALSE(b.AddTrip(negative, true).ok());
  std::vector<TripStop> too_late{{a, 0, 0}, {c, kMaxTime + 1, kMaxTime + 1}};
  EXPECT_FALSE(b.AddTrip(too_late, true).ok());

  EXPECT_FALSE(b.AddTransfer(a, 9, 60).ok());
  EXPECT_FALSE(b.AddTransfer(a, c, -1).ok());
  EXPECT_FALSE(b.AddTransfer(a, c, kMaxFootpathSeconds + 1).ok());
  // Nothing rejected was kept: the next good trip is trip 0.
  std::vector<TripStop> good{{a, 0, 0}, {c, 60, 60}};
  auto ok = b.AddTrip(good, true);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), 0u);
}

TEST(TimetableBuilder, SplitsOvertakingTripsIntoSeparateRoutes) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1), d = FarStop(b, 2);
  TripIdx slow = AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {c, Hm(8, 30), Hm(8, 30)}, {d, Hm(9, 0), Hm(9, 0)}});
  TripIdx express = AddTrip(b, {{a, Hm(8, 10), Hm(8, 10)}, {c, Hm(8, 20), Hm(8, 20)}, {d, Hm(8, 30), Hm(8, 30)}});
  TripIdx later = AddTrip(b, {{a, Hm(9, 0), Hm(9, 0)}, {c, Hm(9, 30), Hm(9, 30)}, {d, Hm(10, 0), Hm(10, 0)}});
  AddTrip(b, {{d, Hm(8, 0), Hm(8, 0)}, {a, Hm(8, 30), Hm(8, 30)}});
  Timetable tt = Build(b);
  EXPECT_EQ(tt.TripCount(), 4u);
  ASSERT_EQ(tt.RouteCount(), 3u);  // a-c-d twice (the express overtakes), d-a once
  for (RouteIdx r = 0; r < tt.RouteCount(); ++r) {
    auto seq = tt.RouteStops(r);
    for (uint32_t t = 1; t < tt.Route(r).trip_count; ++t) {
      for (size_t p = 0; p < seq.size(); ++p) {
        EXPECT_LE(tt.TripTimes(r, t - 1)[p].departure, tt.TripTimes(r, t)[p].departure);
        EXPECT_LE(tt.TripTimes(r, t - 1)[p].arrival, tt.TripTimes(r, t)[p].arrival);
      }
    }
  }
  EXPECT_EQ(tt.RoutesAt(a).size(), 3u);
  auto route_of = [&](TripIdx trip) {
    for (RouteIdx r = 0; r < tt.RouteCount(); ++r) {
      for (uint32_t t = 0; t < tt.Route(r).trip_count; ++t) {
        if (tt.TripOf(r, t) == trip) return r;
      }
    }
    return RouteIdx{UINT32_MAX};
  };
  EXPECT_EQ(route_of(slow), route_of(later));
  EXPECT_NE(route_of(slow), route_of(express));
  // The router still finds the express, which leaves later but arrives first.
  Raptor raptor(tt);
  auto r = raptor.Route(Query(a, d, Hm(7, 55)));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 1u);
  EXPECT_EQ(r->journeys[0].arrival, Hm(8, 30));
  EXPECT_EQ(r->journeys[0].legs[1].trip, express);
}

TEST(TimetableBuilder, WalkingFootpathsWithinRadiusAndExplicitTransfersOverride) {
  TimetableBuilder b;
  StopIdx a = b.AddStop(35.2280, 128.8890);
  StopIdx near = b.AddStop(35.2289, 128.8890);  // 0.0009° north: about 100 m
  StopIdx far = b.AddStop(35.2480, 128.8890);   // about 2.2 km
  StopIdx other = b.AddStop(35.2290, 128.8892);
  ASSERT_TRUE(b.AddTransfer(a, other, 600).ok());
  ASSERT_TRUE(b.AddTransfer(far, a, 1800).ok());
  ASSERT_TRUE(b.AddTransfer(near, near, 240).ok());
  Timetable tt = Build(b, {.radius_m = 300, .detour_factor = 1.5, .speed_m_per_s = 1.0});
  auto find = [&](StopIdx from, StopIdx to) -> std::optional<Seconds> {
    for (const Footpath& f : tt.FootpathsFrom(from)) {
      if (f.to == to) return f.duration;
    }
    return std::nullopt;
  };
  const double metres = 6'371'000.0 * 0.0009 * M_PI / 180.0;
  ASSERT_TRUE(find(a, near).has_value());
  EXPECT_EQ(*find(a, near), static_cast<Seconds>(std::ceil(metres * 1.5 / 1.0)));
  EXPECT_EQ(find(near, a), find(a, near));
  EXPECT_FALSE(find(a, far).has_value());
  EXPECT_EQ(find(a, other), 600);     // explicit, replacing the estimate
  EXPECT_EQ(find(far, a), 1800);      // explicit, beyond the radius
  EXPECT_FALSE(find(a, a).has_value());
  EXPECT_EQ(tt.Stop(near).min_transfer, 240);
  EXPECT_FALSE(b.Build({.radius_m = 100, .detour_factor = 0.5}).ok());
}

TEST(Raptor, LoopRouteServingAStopTwice) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), s = FarStop(b, 1), c = FarStop(b, 2);
  TripIdx loop = AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {s, Hm(8, 10), Hm(8, 10)}, {a, Hm(8, 20), Hm(8, 21)},
                             {c, Hm(8, 40), Hm(8, 40)}});
  Timetable tt = Build(b);
  ASSERT_EQ(tt.RoutesAt(a).size(), 2u);
  Raptor raptor(tt);
  auto from_s = raptor.Route(Query(s, c, Hm(8, 0)));
  ASSERT_TRUE(from_s.ok());
  ASSERT_EQ(from_s->journeys.size(), 1u);
  EXPECT_EQ(from_s->journeys[0].arrival, Hm(8, 40));
  EXPECT_EQ(from_s->journeys[0].legs[1].trip, loop);
  // Missing the first call at A, the traveller still boards at the second.
  auto late_at_a = raptor.Route(Query(a, c, Hm(8, 15)));
  ASSERT_TRUE(late_at_a.ok());
  ASSERT_EQ(late_at_a->journeys.size(), 1u);
  EXPECT_EQ(late_at_a->journeys[0].legs[1].departure, Hm(8, 21));
  EXPECT_EQ(late_at_a->journeys[0].arrival, Hm(8, 40));
  // Riding from A back to A is not a journey worth a trip: zero trips, zero time.
  auto round_trip = raptor.Route(Query(a, a, Hm(7, 0)));
  ASSERT_TRUE(round_trip.ok());
  ASSERT_EQ(round_trip->journeys.size(), 1u);
  EXPECT_EQ(round_trip->journeys[0].trips, 0u);
  EXPECT_EQ(round_trip->journeys[0].arrival, Hm(7, 0));
}

TEST(TimetableBuilder, WalkingFootpathsEqualAllPairsWithinRadiusAtAnyLatitude) {
  for (double base_lat : {35.2, 59.9, -33.9}) {
    std::mt19937 rng(static_cast<uint32_t>(base_lat * 100 + 1000));
    std::uniform_real_distribution<double> offset(0, 0.03);  // a city: about 3 km across
    TimetableBuilder b;
    std::vector<std::pair<double, double>> where;
    for (int i = 0; i < 400; ++i) {
      where.emplace_back(base_lat + offset(rng), 128.8 + offset(rng));
      b.AddStop(where.back().first, where.back().second);
    }
    const WalkingOptions walking{.radius_m = 250, .detour_factor = 1.2, .speed_m_per_s = 1.1};
    Timetable tt = Build(b, walking);
    // All pairs, by the spherical law of cosines (a different formula than the builder's).
    size_t expected = 0;
    for (StopIdx s = 0; s < where.size(); ++s) {
      for (StopIdx o = 0; o < where.size(); ++o) {
        if (s == o) continue;
        const double rad = M_PI / 180.0;
        const double c = std::sin(where[s].first * rad) * std::sin(where[o].first * rad) +
                         std::cos(where[s].first * rad) * std::cos(where[o].first * rad) *
                             std::cos((where[o].second - where[s].second) * rad);
        const double metres = 6'371'000.0 * std::acos(std::min(1.0, c));
        if (std::abs(metres - walking.radius_m) < 0.05) continue;  // too close to call
        auto paths = tt.FootpathsFrom(s);
        auto it = std::find_if(paths.begin(), paths.end(), [&](const Footpath& f) { return f.to == o; });
        if (metres < walking.radius_m) {
          ++expected;
          ASSERT_NE(it, paths.end()) << "lat " << base_lat << ": " << s << " -> " << o << " at " << metres << " m";
          EXPECT_NEAR(it->duration, metres * 1.2 / 1.1, 1.0);
        } else {
          EXPECT_EQ(it, paths.end()) << "lat " << base_lat << ": " << s << " -> " << o << " at " << metres << " m";
        }
      }
    }
    EXPECT_GT(expected, 400u);  // enough pairs to mean something
  }
}

// A -> B by trip 1 (arrives 8:10); B -> C by trip 2 (8:12) or trip 3 (8:20).
struct TransferNetwork {
  explicit TransferNetwork(Seconds min_transfer_at_b) {
    a = FarStop(b, 0);
    bb = FarStop(b, 1, min_transfer_at_b);
    c = FarStop(b, 2);
    t1 = AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {bb, Hm(8, 10), Hm(8, 10)}});
    t2 = AddTrip(b, {{bb, Hm(8, 12), Hm(8, 12)}, {c, Hm(8, 30), Hm(8, 30)}});
    t3 = AddTrip(b, {{bb, Hm(8, 20), Hm(8, 20)}, {c, Hm(8, 40), Hm(8, 40)}});
  }
  TimetableBuilder b;
  StopIdx a, bb, c;
  TripIdx t1, t2, t3;
};

TEST(Raptor, MinimumTransferTimeMakesTheFirstConnectionMissed) {
  TransferNetwork quick(60);
  Timetable tt_quick = Build(quick.b);
  Raptor r1(tt_quick);
  auto fast = r1.Route(Query(quick.a, quick.c, Hm(7, 50)));
  ASSERT_TRUE(fast.ok());
  ASSERT_EQ(fast->journeys.size(), 1u);
  EXPECT_EQ(fast->journeys[0].arrival, Hm(8, 30));
  EXPECT_EQ(fast->journeys[0].legs[2].trip, quick.t2);

  TransferNetwork exact(120);  // 8:10 + 2 min = 8:12: just made
  Timetable tt_exact = Build(exact.b);
  Raptor r0(tt_exact);
  auto just = r0.Route(Query(exact.a, exact.c, Hm(7, 50)));
  ASSERT_TRUE(just.ok());
  EXPECT_EQ(just->journeys.at(0).arrival, Hm(8, 30));

  TransferNetwork slow(180);  // 8:10 + 3 min > 8:12
  Timetable tt_slow = Build(slow.b);
  Raptor r2(tt_slow);
  auto missed = r2.Route(Query(slow.a, slow.c, Hm(7, 50)));
  ASSERT_TRUE(missed.ok());
  ASSERT_EQ(missed->journeys.size(), 1u);
  const Journey& j = missed->journeys[0];
  EXPECT_EQ(j.arrival, Hm(8, 40));
  EXPECT_EQ(j.trips, 2u);
  EXPECT_EQ(Kinds(j), (std::vector<K>{K::kAccess, K::kTransit, K::kTransit, K::kEgress}));
  EXPECT_EQ(j.legs[1].trip, slow.t1);
  EXPECT_EQ(j.legs[1].departure, Hm(8, 0));
  EXPECT_EQ(j.legs[2].trip, slow.t3);
  EXPECT_EQ(j.legs[2].from, slow.bb);
  EXPECT_EQ(j.legs[2].departure, Hm(8, 20));
  EXPECT_EQ(missed->arrival_by_trips[0], kUnreachable);
  EXPECT_EQ(missed->arrival_by_trips[1], kUnreachable);
  EXPECT_EQ(missed->arrival_by_trips[2], Hm(8, 40));
  // The minimum transfer time does not apply at the first boarding.
  auto from_b = r2.Route(Query(slow.bb, slow.c, Hm(8, 12)));
  ASSERT_TRUE(from_b.ok());
  EXPECT_EQ(from_b->journeys.at(0).arrival, Hm(8, 30));
}

TEST(Raptor, FootpathToAnotherStopBeatsWaiting) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), s = FarStop(b, 1), c = FarStop(b, 2), d = FarStop(b, 3);
  AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {s, Hm(8, 10), Hm(8, 10)}});
  TripIdx slow = AddTrip(b, {{s, Hm(9, 0), Hm(9, 0)}, {c, Hm(9, 20), Hm(9, 20)}});
  TripIdx from_d = AddTrip(b, {{d, Hm(8, 20), Hm(8, 20)}, {c, Hm(8, 35), Hm(8, 35)}});
  ASSERT_TRUE(b.AddTransfer(s, d, 300).ok());
  Timetable tt = Build(b);
  Raptor raptor(tt);
  auto r = raptor.Route(Query(a, c, Hm(7, 30)));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 1u);
  const Journey& j = r->journeys[0];
  EXPECT_EQ(j.arrival, Hm(8, 35));
  EXPECT_EQ(Kinds(j), (std::vector<K>{K::kAccess, K::kTransit, K::kTransfer, K::kTransit, K::kEgress}));
  EXPECT_EQ(j.legs[2].from, s);
  EXPECT_EQ(j.legs[2].to, d);
  EXPECT_EQ(j.legs[2].departure, Hm(8, 10));
  EXPECT_EQ(j.legs[2].arrival, Hm(8, 15));
  EXPECT_EQ(j.legs[3].trip, from_d);
  // With the footpath too slow for the 8:20, waiting at s for the 9:00 is best.
  TimetableBuilder b2;
  for (int i = 0; i < 4; ++i) FarStop(b2, i);
  AddTrip(b2, {{a, Hm(8, 0), Hm(8, 0)}, {s, Hm(8, 10), Hm(8, 10)}});
  AddTrip(b2, {{s, Hm(9, 0), Hm(9, 0)}, {c, Hm(9, 20), Hm(9, 20)}});
  AddTrip(b2, {{d, Hm(8, 20), Hm(8, 20)}, {c, Hm(8, 35), Hm(8, 35)}});
  ASSERT_TRUE(b2.AddTransfer(s, d, 660).ok());
  Timetable tt2 = Build(b2);
  Raptor raptor2(tt2);
  auto r2 = raptor2.Route(Query(a, c, Hm(7, 30)));
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->journeys.at(0).arrival, Hm(9, 20));
  EXPECT_EQ(r2->journeys.at(0).legs[2].trip, slow);
}

TEST(Raptor, TimesPastMidnightChainAcrossTheDayBoundary) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), s = FarStop(b, 1), c = FarStop(b, 2);
  AddTrip(b, {{a, Hm(23, 50), Hm(23, 50)}, {s, Hm(24, 20), Hm(24, 20)}});
  AddTrip(b, {{s, Hm(24, 30), Hm(24, 31)}, {c, Hm(25, 5), Hm(25, 5)}});
  AddTrip(b, {{s, Hm(0, 30), Hm(0, 30)}, {c, Hm(1, 5), Hm(1, 5)}});  // the previous night's
  Timetable tt = Build(b);
  Raptor raptor(tt);
  auto r = raptor.Route(Query(a, c, Hm(23, 45)));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 1u);
  EXPECT_EQ(r->journeys[0].arrival, Hm(25, 5));
  EXPECT_EQ(r->journeys[0].legs[2].departure, Hm(24, 31));
}

TEST(Raptor, WheelchairFilterSkipsInaccessibleTrips) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1);
  TripIdx stairs = AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {c, Hm(8, 20), Hm(8, 20)}}, false);
  TripIdx lowfloor = AddTrip(b, {{a, Hm(8, 15), Hm(8, 15)}, {c, Hm(8, 35), Hm(8, 35)}}, true);
  AddTrip(b, {{a, Hm(8, 30), Hm(8, 30)}, {c, Hm(8, 50), Hm(8, 50)}}, false);
  Timetable tt = Build(b);
  Raptor raptor(tt);
  RaptorQuery q = Query(a, c, Hm(7, 55));
  auto any = raptor.Route(q);
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->journeys.at(0).legs[1].trip, stairs);
  q.wheelchair = true;
  auto step_free = raptor.Route(q);
  ASSERT_TRUE(step_free.ok());
  ASSERT_EQ(step_free->journeys.size(), 1u);
  EXPECT_EQ(step_free->journeys[0].legs[1].trip, lowfloor);
  EXPECT_EQ(step_free->journeys[0].arrival, Hm(8, 35));
  q.departure = Hm(8, 16);
  auto none = raptor.Route(q);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->journeys.empty());
}

// A -> C direct (slow, 1 trip, arrives 10:00) or A -> B -> C (2 trips, arrives 9:00).
struct ParetoNetwork {
  ParetoNetwork() {
    a = FarStop(b, 0);
    s = FarStop(b, 1);
    c = FarStop(b, 2);
    for (int h = 8; h <= 9; ++h) {
      AddTrip(b, {{a, Hm(h, 0), Hm(h, 0)}, {c, Hm(h + 2, 0), Hm(h + 2, 0)}});
      AddTrip(b, {{a, Hm(h, 5), Hm(h, 5)}, {s, Hm(h, 30), Hm(h, 30)}});
      AddTrip(b, {{s, Hm(h, 35), Hm(h, 35)}, {c, Hm(h + 1, 0), Hm(h + 1, 0)}});
    }
  }
  TimetableBuilder b;
  StopIdx a, s, c;
};

TEST(Raptor, MoreTransfersBuyingAnEarlierArrivalAreBothInTheParetoSet) {
  ParetoNetwork net;
  Timetable tt = Build(net.b);
  Raptor raptor(tt);
  auto r = raptor.Route(Query(net.a, net.c, Hm(7, 50)));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 2u);
  EXPECT_EQ(r->journeys[0].trips, 1u);
  EXPECT_EQ(r->journeys[0].arrival, Hm(10, 0));
  EXPECT_EQ(r->journeys[1].trips, 2u);
  EXPECT_EQ(r->journeys[1].arrival, Hm(9, 0));
  EXPECT_EQ(r->arrival_by_trips, (std::vector<Seconds>{kUnreachable, Hm(10, 0), Hm(9, 0), Hm(9, 0), Hm(9, 0), Hm(9, 0)}));
  auto direct_only = raptor.Route(Query(net.a, net.c, Hm(7, 50), 0));
  ASSERT_TRUE(direct_only.ok());
  ASSERT_EQ(direct_only->journeys.size(), 1u);
  EXPECT_EQ(direct_only->journeys[0].arrival, Hm(10, 0));
}

TEST(Raptor, RangeQueryReturnsEachJourneyAtItsLatestDeparture) {
  ParetoNetwork net;
  Timetable tt = Build(net.b);
  Raptor raptor(tt);
  RaptorQuery q = Query(net.a, net.c, Hm(7, 0));
  q.sources = {{net.a, 120}};  // a 2-minute walk to A
  q.window_end = Hm(9, 30);
  auto r = raptor.RouteRange(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::vector<std::tuple<Seconds, Seconds, uint32_t>> got;
  for (const Journey& j : *r) got.emplace_back(j.departure, j.arrival, j.trips);
  std::vector<std::tuple<Seconds, Seconds, uint32_t>> want{
      {Hm(9, 3), Hm(10, 0), 2}, {Hm(8, 58), Hm(11, 0), 1}, {Hm(8, 3), Hm(9, 0), 2}, {Hm(7, 58), Hm(10, 0), 1}};
  EXPECT_EQ(got, want);
  // The window must not end before it starts.
  q.window_end = Hm(6, 0);
  EXPECT_FALSE(raptor.RouteRange(q).ok());
}

TEST(Raptor, ArriveByFindsTheLatestDepartureForEachNumberOfTrips) {
  ParetoNetwork net;
  Timetable tt = Build(net.b);
  Raptor raptor(tt);
  RaptorQuery q = Query(net.a, net.c, Hm(6, 0));
  q.arrive_by = Hm(10, 30);
  auto r = raptor.RouteArriveBy(q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].trips, 1u);
  EXPECT_EQ((*r)[0].departure, Hm(8, 0));
  EXPECT_EQ((*r)[0].arrival, Hm(10, 0));
  EXPECT_EQ((*r)[1].trips, 2u);
  EXPECT_EQ((*r)[1].departure, Hm(9, 5));
  EXPECT_EQ((*r)[1].arrival, Hm(10, 0));
  q.arrive_by = Hm(8, 59);
  auto none = raptor.RouteArriveBy(q);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(Raptor, ArriveByWithWalkingOnlyLeavesAsLateAsTheWalkAllows) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1);
  AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {c, Hm(8, 10), Hm(8, 10)}});
  ASSERT_TRUE(b.AddTransfer(a, c, 1500).ok());
  Timetable tt = Build(b);
  Raptor raptor(tt);
  RaptorQuery q = Query(a, c, Hm(7, 0));
  q.sources[0].duration = 60;
  q.targets[0].duration = 120;
  const Seconds walk = 60 + 1500 + 120;
  q.arrive_by = Hm(8, 11);  // the bus arrives 8:12: too late
  auto r = raptor.RouteArriveBy(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].trips, 0u);
  EXPECT_EQ((*r)[0].departure, Hm(8, 11) - walk);
  EXPECT_EQ((*r)[0].arrival, Hm(8, 11));
  q.arrive_by = Hm(8, 20);  // walking leaves 7:52, the bus lets one leave at 7:59
  r = raptor.RouteArriveBy(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].departure, Hm(8, 20) - walk);
  EXPECT_EQ((*r)[1].trips, 1u);
  EXPECT_EQ((*r)[1].departure, Hm(7, 59));
  EXPECT_EQ((*r)[1].arrival, Hm(8, 12));
  q.arrive_by = Hm(8, 40);  // walking leaves 8:12, after the bus: the bus is not worth a trip
  r = raptor.RouteArriveBy(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].trips, 0u);
  EXPECT_EQ((*r)[0].departure, Hm(8, 40) - walk);
}

TEST(Raptor, TheMostTransfersAllowedStillRoute) {
  TimetableBuilder b;
  const int n = static_cast<int>(kMaxQueryTransfers) + 2;
  std::vector<StopIdx> stops;
  for (int i = 0; i <= n; ++i) stops.push_back(FarStop(b, i));
  for (int i = 0; i < n; ++i) AddTrip(b, {{stops[i], Hm(8, 2 * i), Hm(8, 2 * i)}, {stops[i + 1], Hm(8, 2 * i + 1), Hm(8, 2 * i + 1)}});
  Timetable tt = Build(b);
  Raptor raptor(tt);
  auto most = raptor.Route(Query(stops[0], stops[n - 1], Hm(7, 0), kMaxQueryTransfers));
  ASSERT_TRUE(most.ok());
  ASSERT_EQ(most->journeys.size(), 1u);
  EXPECT_EQ(most->journeys[0].trips, kMaxQueryTransfers + 1);
  auto one_short = raptor.Route(Query(stops[0], stops[n], Hm(7, 0), kMaxQueryTransfers));
  ASSERT_TRUE(one_short.ok());
  EXPECT_TRUE(one_short->journeys.empty());  // would need one more trip than allowed
}

TEST(Raptor, SeveralSourcesAndTargetsWithWalkingTimes) {
  TimetableBuilder b;
  StopIdx a1 = FarStop(b, 0), a2 = FarStop(b, 1), c1 = FarStop(b, 2), c2 = FarStop(b, 3);
  AddTrip(b, {{a1, Hm(8, 5), Hm(8, 5)}, {c1, Hm(8, 30), Hm(8, 30)}});
  AddTrip(b, {{a2, Hm(8, 10), Hm(8, 10)}, {c2, Hm(8, 25), Hm(8, 25)}});
  Timetable tt = Build(b);
  Raptor raptor(tt);
  RaptorQuery q;
  q.departure = Hm(8, 0);
  q.sources = {{a1, 240}, {a2, 660}};  // a2 is too far to catch 8:10
  q.targets = {{c1, 60}, {c2, 900}};
  auto r = raptor.Route(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 1u);
  const Journey& j = r->journeys[0];
  EXPECT_EQ(j.arrival, Hm(8, 31));
  EXPECT_EQ(j.legs.front().kind, K::kAccess);
  EXPECT_EQ(j.legs.front().arrival, Hm(8, 4));
  EXPECT_EQ(j.legs.back().kind, K::kEgress);
  EXPECT_EQ(j.legs.back().from, c1);
  q.sources[1].duration = 300;  // now 8:10 is caught: 8:25 + 15 min walk = 8:40, still later
  r = raptor.Route(q);
  EXPECT_EQ(r->journeys.at(0).arrival, Hm(8, 31));
  q.targets[1].duration = 120;  // 8:27 beats 8:31
  r = raptor.Route(q);
  EXPECT_EQ(r->journeys.at(0).arrival, Hm(8, 27));
  EXPECT_EQ(r->journeys.at(0).legs.back().from, c2);
  // A source that is also a target: zero trips, walking only.
  q.targets.push_back({a1, 30});
  r = raptor.Route(q);
  ASSERT_EQ(r->journeys.size(), 1u);
  EXPECT_EQ(r->journeys[0].trips, 0u);
  EXPECT_EQ(r->journeys[0].arrival, Hm(8, 4) + 30);
  EXPECT_EQ(Kinds(r->journeys[0]), (std::vector<K>{K::kAccess, K::kEgress}));
}

TEST(Raptor, RejectsMalformedQueries) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1);
  AddTrip(b, {{a, 0, 0}, {c, 60, 60}});
  Timetable tt = Build(b);
  Raptor raptor(tt);
  RaptorQuery q = Query(a, c, 0);
  q.sources.clear();
  EXPECT_EQ(raptor.Route(q).status().message(), "query: no source stop");
  q = Query(a, 5, 0);
  EXPECT_EQ(raptor.Route(q).status().message(), "query: target 0: unknown stop 5");
  q = Query(a, c, 0, kMaxQueryTransfers + 1);
  EXPECT_EQ(raptor.Route(q).status().code(), Status::Code::kInvalidRequest);
  q = Query(a, c, -5);
  EXPECT_FALSE(raptor.Route(q).ok());
  q = Query(a, c, 0);
  q.sources[0].duration = -1;
  EXPECT_FALSE(raptor.Route(q).ok());
}

TEST(Raptor, FootpathsAreNotChained) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), s = FarStop(b, 1), w = FarStop(b, 2), c = FarStop(b, 3), z = FarStop(b, 4);
  AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {s, Hm(8, 10), Hm(8, 10)}});
  AddTrip(b, {{c, Hm(8, 30), Hm(8, 30)}, {z, Hm(8, 50), Hm(8, 50)}});
  ASSERT_TRUE(b.AddTransfer(s, w, 120).ok());
  ASSERT_TRUE(b.AddTransfer(w, c, 120).ok());
  Timetable tt = Build(b);
  Raptor raptor(tt);
  auto r = raptor.Route(Query(a, z, Hm(7, 50)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->journeys.empty());  // s -> w -> c would be two walks in a row
  auto to_w = raptor.Route(Query(a, w, Hm(7, 50)));
  ASSERT_TRUE(to_w.ok());
  ASSERT_EQ(to_w->journeys.size(), 1u);
  EXPECT_EQ(to_w->journeys[0].arrival, Hm(8, 12));
  EXPECT_EQ(Kinds(to_w->journeys[0]), (std::vector<K>{K::kAccess, K::kTransit, K::kTransfer, K::kEgress}));
}

TEST(Raptor, OneRouterServesMixedQueriesWithoutLeakingState) {
  ParetoNetwork net;
  Timetable tt = Build(net.b);
  Raptor raptor(tt);
  RaptorQuery range = Query(net.a, net.c, Hm(7, 0));
  range.window_end = Hm(9, 30);
  const auto first_range = raptor.RouteRange(range);
  ASSERT_TRUE(first_range.ok());
  // A query to another target: the range query's target must not linger.
  auto to_s = raptor.Route(Query(net.a, net.s, Hm(7, 50)));
  ASSERT_TRUE(to_s.ok());
  ASSERT_EQ(to_s->journeys.size(), 1u);
  EXPECT_EQ(to_s->journeys[0].arrival, Hm(8, 30));
  EXPECT_EQ(to_s->journeys[0].legs.back().from, net.s);
  RaptorQuery arrive = Query(net.a, net.c, Hm(6, 0));
  arrive.arrive_by = Hm(10, 30);
  ASSERT_TRUE(raptor.RouteArriveBy(arrive).ok());
  const auto second_range = raptor.RouteRange(range);
  ASSERT_TRUE(second_range.ok());
  ASSERT_EQ(second_range->size(), first_range->size());
  for (size_t i = 0; i < first_range->size(); ++i) {
    EXPECT_EQ(second_range.value()[i].departure, first_range.value()[i].departure);
    EXPECT_EQ(second_range.value()[i].arrival, first_range.value()[i].arrival);
  }
}

TEST(Raptor, RangeListsWalkingAloneOnceAtTheWindowEnd) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1);
  AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {c, Hm(8, 10), Hm(8, 10)}});
  AddTrip(b, {{a, Hm(8, 30), Hm(8, 30)}, {c, Hm(9, 15), Hm(9, 15)}});  // slower than walking
  ASSERT_TRUE(b.AddTransfer(a, c, 1800).ok());
  Timetable tt = Build(b);
  Raptor raptor(tt);
  RaptorQuery q = Query(a, c, Hm(7, 30));
  q.window_end = Hm(8, 45);
  auto r = raptor.RouteRange(q);
  ASSERT_TRUE(r.ok());
  std::vector<std::tuple<Seconds, Seconds, uint32_t>> got;
  for (const Journey& j : *r) got.emplace_back(j.departure, j.arrival, j.trips);
  // Walking: 30 min whenever one leaves; the 8:00 bus beats it; the 8:30 bus does not.
  std::vector<std::tuple<Seconds, Seconds, uint32_t>> want{{Hm(8, 45), Hm(9, 15), 0}, {Hm(8, 0), Hm(8, 10), 1}};
  EXPECT_EQ(got, want);
}

TEST(TimetableBuilder, DuplicateTripsShareARouteAndTheLastTransferGivenWins) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1);
  AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {c, Hm(8, 10), Hm(8, 10)}}, false);  // first in the route
  AddTrip(b, {{a, Hm(8, 0), Hm(8, 0)}, {c, Hm(8, 10), Hm(8, 10)}}, true);
  ASSERT_TRUE(b.AddTransfer(a, c, 600).ok());
  ASSERT_TRUE(b.AddTransfer(a, c, 900).ok());
  ASSERT_TRUE(b.AddTransfer(c, c, 60).ok());
  ASSERT_TRUE(b.AddTransfer(c, c, 30).ok());
  Timetable tt = Build(b);
  ASSERT_EQ(tt.RouteCount(), 1u);
  EXPECT_EQ(tt.Route(0).trip_count, 2u);
  ASSERT_EQ(tt.FootpathsFrom(a).size(), 1u);
  EXPECT_EQ(tt.FootpathsFrom(a)[0].duration, 900);
  EXPECT_EQ(tt.Stop(c).min_transfer, 30);
  Raptor raptor(tt);
  RaptorQuery q = Query(a, c, Hm(7, 55));
  q.wheelchair = true;  // the accessible twin comes second: the search must step past the first
  auto r = raptor.Route(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 1u);  // walking arrives 8:10 like the bus, with no trip
  EXPECT_EQ(r->journeys[0].trips, 0u);
  EXPECT_EQ(r->journeys[0].arrival, Hm(8, 10));
  q.departure = Hm(7, 56);  // walking now arrives 8:11: the bus is worth a trip
  r = raptor.Route(q);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->journeys.size(), 2u);
  EXPECT_EQ(r->journeys[1].trips, 1u);
  EXPECT_EQ(r->journeys[1].arrival, Hm(8, 10));
  EXPECT_EQ(r->journeys[1].legs[1].trip, 1u);
  EXPECT_FALSE(tt.WheelchairAccessible(tt.TripOf(0, 0)));
}

TEST(TimetableBuilder, LimitsAndEmptyNetworks) {
  TimetableBuilder b;
  StopIdx a = FarStop(b, 0), c = FarStop(b, 1);
  std::vector<TripStop> long_trip;
  for (size_t i = 0; i <= kMaxStopsPerTrip; ++i) {
    long_trip.push_back({i % 2 == 0 ? a : c, static_cast<Seconds>(i), static_cast<Seconds>(i)});
  }
  auto r = b.AddTrip(long_trip, true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("must have 2 to 1000"), std::string::npos);
  // No trips at all: a valid, empty timetable on which nothing is reachable but walking.
  Timetable tt = Build(b);
  EXPECT_EQ(tt.RouteCount(), 0u);
  EXPECT_TRUE(tt.RoutesAt(a).empty());
  Raptor raptor(tt);
  auto none = raptor.Route(Query(a, c, 0));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->journeys.empty());
  RaptorQuery q = Query(a, c, 0);
  q.window_end = 3600;
  auto range = raptor.RouteRange(q);
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(range->empty());
}

// ---- Differential test ------------------------------------------------------------------------


// All times and durations are whole minutes, so departures that matter are too.
Network RandomNetwork(uint32_t seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Network net;
  const int stops = uniform(20, 40);
  for (int s = 0; s < stops; ++s) net.min_transfer.push_back(60 * uniform(0, 3));
  const int lines = uniform(20, 35);
  net.lines = lines;
  for (int l = 0; l < lines; ++l) {
    std::vector<StopIdx> seq(stops);
    for (int s = 0; s < stops; ++s) seq[s] = s;
    std::shuffle(seq.begin(), seq.end(), rng);
    seq.resize(uniform(2, 8));
    const int trips = uniform(4, 14);
    for (int t = 0; t < trips; ++t) {
      Seconds time = 60 * uniform(6 * 60, 10 * 60);
      if (uniform(0, 9) == 0) time += 60 * 16 * 60;  // a late trip, past midnight
      std::vector<TripStop> calls;
      for (size_t p = 0; p < seq.size(); ++p) {
        if (p > 0) time += 60 * uniform(1, 12);
        const Seconds arrival = time;
        time += 60 * uniform(0, 1);
        calls.push_back({seq[p], arrival, time});
      }
      net.trips.push_back(calls);
      net.accessible.push_back(uniform(0, 9) < 7);
    }
  }
  std::set<std::pair<StopIdx, StopIdx>> seen;
  const int footpaths = uniform(10, 60);
  for (int f = 0; f < footpaths; ++f) {
    StopIdx from = uniform(0, stops - 1), to = uniform(0, stops - 1);
    if (from == to || !seen.insert({from, to}).second) continue;
    net.footpaths.emplace_back(from, to, 60 * uniform(1, 15));
  }
  return net;
}

Timetable BuildTimetable(const Network& net) {
  TimetableBuilder b;
  for (size_t s = 0; s < net.min_transfer.size(); ++s) FarStop(b, static_cast<int>(s), net.min_transfer[s]);
  for (size_t t = 0; t < net.trips.size(); ++t) AddTrip(b, net.trips[t], net.accessible[t]);
  for (const auto& [from, to, d] : net.footpaths) EXPECT_TRUE(b.AddTransfer(from, to, d).ok());
  return Build(b);
}


RaptorQuery RandomQuery(std::mt19937& rng, const Network& net) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int stops = static_cast<int>(net.min_transfer.size());
  RaptorQuery q;
  for (int i = uniform(1, 2); i > 0; --i) q.sources.push_back({static_cast<StopIdx>(uniform(0, stops - 1)), 60 * uniform(0, 5)});
  for (int i = uniform(1, 2); i > 0; --i) q.targets.push_back({static_cast<StopIdx>(uniform(0, stops - 1)), 60 * uniform(0, 5)});
  q.departure = 60 * uniform(5 * 60 + 30, 9 * 60);
  if (uniform(0, 9) == 0) q.departure += 60 * 16 * 60;
  q.max_transfers = uniform(0, 4);
  q.wheelchair = uniform(0, 4) == 0;
  return q;
}


TEST(RaptorDifferential, EarliestArrivalPerTripCountEqualsTimeExpandedSearch) {
  size_t queries = 0, reachable = 0;
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    const Network net = RandomNetwork(seed);
    const Timetable tt = BuildTimetable(net);
    EXPECT_GT(tt.RouteCount(), net.lines);  // overtaking trips were split off: FIFO is exercised
    Raptor raptor(tt);
    const TimeExpandedSearch any(net, false), step_free(net, true);
    std::mt19937 rng(seed * 7919);
    for (int i = 0; i < 200; ++i, ++queries) {
      const RaptorQuery q = RandomQuery(rng, net);
      auto got = raptor.Route(q);
      ASSERT_TRUE(got.ok()) << got.status().message();
      const auto want = (q.wheelchair ? step_free : any).EarliestArrival(q);
      ASSERT_EQ(got->arrival_by_trips, want) << "seed " << seed << " query " << i;
      size_t next = 0;
      for (uint32_t k = 0; k < want.size(); ++k) {
        if (want[k] == kUnreachable || (k > 0 && want[k] == want[k - 1])) continue;
        ASSERT_LT(next, got->journeys.size());
        const Journey& j = got->journeys[next++];
        EXPECT_EQ(j.trips, k);
        EXPECT_EQ(j.arrival, want[k]);
        ExpectFeasible(net, q, j);
      }
      EXPECT_EQ(next, got->journeys.size());
      if (!got->journeys.empty()) ++reachable;
    }
  }
  EXPECT_EQ(queries, 2000u);
  EXPECT_GE(reachable, queries * 3 / 4);  // most queries have a journey: the test is not vacuous
}

TEST(RaptorDifferential, EarliestArrivalWithDenseWalkingFootpathsEqualsTimeExpandedSearch) {
  size_t queries = 0, with_walks = 0;
  for (uint32_t seed = 31; seed <= 35; ++seed) {
    Network net = RandomNetwork(seed);
    net.footpaths.clear();
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> offset(0, 0.015);  // about 1.5 km square
    TimetableBuilder b;
    for (Seconds mtt : net.min_transfer) b.AddStop(35.22 + offset(rng), 128.87 + offset(rng), mtt);
    for (size_t t = 0; t < net.trips.size(); ++t) AddTrip(b, net.trips[t], net.accessible[t]);
    const Timetable tt = Build(b, {.radius_m = 400});
    // The search gets the builder's footpaths (their lengths are tested above) as plain transfers.
    for (StopIdx s = 0; s < tt.StopCount(); ++s) {
      for (const Footpath& f : tt.FootpathsFrom(s)) net.footpaths.emplace_back(s, f.to, f.duration);
    }
    EXPECT_GT(net.footpaths.size(), 2 * net.min_transfer.size());
    Raptor raptor(tt);
    const TimeExpandedSearch any(net, false), step_free(net, true);
    for (int i = 0; i < 100; ++i, ++queries) {
      const RaptorQuery q = RandomQuery(rng, net);
      auto got = raptor.Route(q);
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ(got->arrival_by_trips, (q.wheelchair ? step_free : any).EarliestArrival(q))
          << "seed " << seed << " query " << i;
      for (const Journey& j : got->journeys) {
        ExpectFeasible(net, q, j);
        with_walks += std::any_of(j.legs.begin(), j.legs.end(), [](const Leg& l) { return l.kind == K::kTransfer; });
      }
    }
  }
  EXPECT_EQ(queries, 500u);
  EXPECT_GE(with_walks, 50u);  // footpaths are part of many answers
}



TEST(RaptorDifferential, RangeParetoSetEqualsTimeExpandedSearch) {
  size_t queries = 0, transit_points = 0;
  for (uint32_t seed = 11; seed <= 20; ++seed) {
    const Network net = RandomNetwork(seed);
    const Timetable tt = BuildTimetable(net);
    Raptor raptor(tt);
    const TimeExpandedSearch any(net, false), step_free(net, true);
    std::mt19937 rng(seed * 104729);
    for (int i = 0; i < 100; ++i, ++queries) {
      RaptorQuery q = RandomQuery(rng, net);
      q.window_end = q.departure + 60 * std::uniform_int_distribution<int>(0, 120)(rng);
      auto got = raptor.RouteRange(q);
      ASSERT_TRUE(got.ok()) << got.status().message();
      std::vector<ParetoPoint> got_points;
      for (const Journey& j : *got) {
        got_points.emplace_back(j.departure, j.arrival, j.trips);
        ExpectFeasible(net, q, j);
      }
      std::sort(got_points.begin(), got_points.end());
      const auto want = BruteForceRange(q.wheelchair ? step_free : any, q);
      ASSERT_EQ(got_points, want) << "seed " << seed << " query " << i;
      transit_points += std::count_if(want.begin(), want.end(), [](const ParetoPoint& p) { return std::get<2>(p) > 0; });
    }
  }
  EXPECT_EQ(queries, 1000u);
  EXPECT_GE(transit_points, 1000u);  // the windows do hold many journeys
}

TEST(RaptorDifferential, ArriveByEqualsLatestDepartureOfTimeExpandedSearch) {
  for (uint32_t seed = 21; seed <= 25; ++seed) {
    const Network net = RandomNetwork(seed);
    const Timetable tt = BuildTimetable(net);
    Raptor raptor(tt);
    const TimeExpandedSearch any(net, false), step_free(net, true);
    std::mt19937 rng(seed * 31);
    for (int i = 0; i < 60; ++i) {
      RaptorQuery q = RandomQuery(rng, net);
      q.arrive_by = q.departure + 60 * std::uniform_int_distribution<int>(30, 150)(rng);
      auto got = raptor.RouteArriveBy(q);
      ASSERT_TRUE(got.ok()) << got.status().message();
      // Brute force: for each k, the latest minute whose arrival with <= k trips is in time.
      std::vector<ParetoPoint> want;
      const TimeExpandedSearch& search = q.wheelchair ? step_free : any;
      std::vector<Seconds> latest(q.max_transfers + 2, kUnreachable);
      for (Seconds dep = q.arrive_by; dep >= q.departure; dep -= 60) {
        RaptorQuery at = q;
        at.departure = dep;
        const auto best = search.EarliestArrival(at);
        for (size_t k = 0; k < best.size(); ++k) {
          if (latest[k] == kUnreachable && best[k] <= q.arrive_by) latest[k] = dep;
        }
        if (std::none_of(latest.begin(), latest.end(), [](Seconds l) { return l == kUnreachable; })) break;
      }
      Seconds previous = kUnreachable;
      for (uint32_t k = 0; k < latest.size(); ++k) {
        if (latest[k] == kUnreachable || (previous != kUnreachable && latest[k] <= previous)) continue;
        previous = latest[k];
        want.emplace_back(latest[k], 0, k);
      }
      ASSERT_EQ(got->size(), want.size()) << "seed " << seed << " query " << i;
      for (size_t n = 0; n < want.size(); ++n) {
        const Journey& j = (*got)[n];
        EXPECT_EQ(j.departure, std::get<0>(want[n]));
        EXPECT_EQ(j.trips, std::get<2>(want[n]));
        EXPECT_LE(j.arrival, q.arrive_by);
        ExpectFeasible(net, q, j);
      }
    }
  }
}

}  // namespace
}  // namespace cityhub::mobility::routing
