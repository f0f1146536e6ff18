// ResolveTripUpdates: BART's real trip updates matched against BART's feed (hand-checked trips,
// and every trip following the propagation rule), the Google spec example against a feed that
// lacks its trips (reported), then a small feed built here for each rule of trip_changes.h:
// delay propagation, trip-wide delay, absolute times, NO_DATA, SKIPPED, repairs of times going
// backwards, cancellations, service days, added trips and the problems reported.
#include "services/mobility/gtfs/trip_changes.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "util/time.h"

namespace cityhub::mobility::gtfs {
namespace {

constexpr int32_t Hms(int h, int m, int s = 0) { return h * 3600 + m * 60 + s; }

std::string SharedPath(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Local midnight (= noon minus 12 h without a clock change) of a zone `utc_offset_hours` from UTC.
ServiceDayStartUtc FixedOffset(int utc_offset_hours) {
  return [utc_offset_hours](int32_t d) {
    return util::DaysFromCivil(d / 10000, d / 100 % 100, d % 100) * 86400 - int64_t{utc_offset_hours} * 3600;
  };
}

Feed LoadShared(const std::string& name) {
  ValidationReport report;
  auto feed = LoadFeed(SharedPath("gtfs/" + name), FeedOptions{}, report);
  EXPECT_TRUE(feed.ok()) << feed.status().message();
  return feed.ok() ? std::move(feed).value() : Feed{};
}

const TripRealtime* Find(const ResolvedTripUpdates& r, const Feed& feed, const std::string& trip_id) {
  for (const TripRealtime& t : r.trips) {
    if (feed.trips[t.trip].id == trip_id) return &t;
  }
  return nullptr;
}

std::vector<std::string> Reasons(const ValidationReport& report) {
  std::vector<std::string> out;
  for (const Problem& p : report.problems()) out.push_back(p.file + " " + p.field + ": " + p.reason);
  return out;
}

TEST(ResolveTripUpdates, BartDelaysLandOnTheRightStops) {
  const Feed feed = LoadShared("bart_2016.zip");
  auto rt = ParseRealtimeFeed(ReadFile(SharedPath("gtfs-rt/bart_tripupdates_20161229.pb")));
  ASSERT_TRUE(rt.ok()) << rt.status().message();
  ValidationReport report;
  auto resolved = ResolveTripUpdates(feed, *rt, {20161229, FixedOffset(-8)}, report);
  ASSERT_TRUE(resolved.ok()) << resolved.status().message();
  EXPECT_EQ(report.total(), 0u) << (report.problems().empty() ? "" : Reasons(report)[0]);
  EXPECT_EQ(resolved->trips.size(), 72u);
  EXPECT_TRUE(resolved->added.empty());

  // 14DC10 (stop_times.txt: DALY 09:28, BALB 09:32, GLEN 09:34, 24TH 09:37, 16TH 09:39, CIVC 09:41):
  // 2 minutes late leaving 24TH (seq 4), on time again from 16TH (seq 5).
  const TripRealtime* t = Find(*resolved, feed, "14DC10");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->service_date, 20161229);  // a Thursday: WKDY runs
  EXPECT_FALSE(t->cancelled);
  ASSERT_GE(t->stop_times.size(), 6u);
  EXPECT_EQ(t->stop_times[2].departure, Hms(9, 34));
  EXPECT_FALSE(t->stop_times[2].predicted);
  EXPECT_EQ(t->stop_times[3].arrival, Hms(9, 39));  // only the departure delay given: it applies to both
  EXPECT_EQ(t->stop_times[3].departure, Hms(9, 39));
  EXPECT_TRUE(t->stop_times[3].predicted);
  EXPECT_EQ(t->stop_times[4].arrival, Hms(9, 39));
  EXPECT_EQ(t->stop_times[5].departure, Hms(9, 41));
}

TEST(ResolveTripUpdates, BartEveryTripFollowsThePropagationRule) {
  const Feed feed = LoadShared("bart_2016.zip");
  auto rt = ParseRealtimeFeed(ReadFile(SharedPath("gtfs-rt/bart_tripupdates_20161229.pb")));
  ASSERT_TRUE(rt.ok());
  ValidationReport report;
  auto resolved = ResolveTripUpdates(feed, *rt, {20161229, FixedOffset(-8)}, report);
  ASSERT_TRUE(resolved.ok());
  ASSERT_EQ(resolved->trips.size(), rt->trip_updates.size());
  size_t delayed_stops = 0;
  for (size_t i = 0; i < rt->trip_updates.size(); ++i) {
    const TripUpdate& u = rt->trip_updates[i];
    const TripRealtime& t = resolved->trips[i];
    const Trip& trip = feed.trips[t.trip];
    ASSERT_EQ(trip.id, u.trip.trip_id);
    ASSERT_EQ(t.stop_times.size(), trip.stop_time_count);
    // Independently: the delay in force at each stop is that of the last update at or before it
    // (BART gives departure delays by stop_sequence only).
    int32_t delay = 0;
    bool started = false;
    size_t next = 0;
    int32_t previous_departure = 0;
    for (uint32_t p = 0; p < trip.stop_time_count; ++p) {
      const StopTime& st = feed.stop_times[trip.first_stop_time + p];
      if (next < u.stop_time_updates.size() && u.stop_time_updates[next].stop_sequence == st.stop_sequence) {
        delay = u.stop_time_updates[next].departure->delay.value();
        started = true;
        ++next;
      }
      const int32_t arrival = std::max(st.arrival + (started ? delay : 0), previous_departure);
      const int32_t departure = std::max(st.departure + (started ? delay : 0), arrival);
      EXPECT_EQ(t.stop_times[p].arrival, arrival) << trip.id << " position " << p;
      EXPECT_EQ(t.stop_times[p].departure, departure) << trip.id << " position " << p;
      EXPECT_EQ(t.stop_times[p].predicted, started);
      previous_departure = departure;
      if (departure != st.departure) ++delayed_stops;
    }
    EXPECT_EQ(next, u.stop_time_updates.size()) << trip.id;
  }
  EXPECT_GT(delayed_stops, 0u);
}

TEST(ResolveTripUpdates, UnknownTripsAreReportedAndSkipped) {
  const Feed feed = LoadShared("google_sample-feed-1.zip");
  auto rt = ParseRealtimeFeed(ReadFile(SharedPath("gtfs-rt/google_trip-updates-full.pb")));
  ASSERT_TRUE(rt.ok());
  ValidationReport report;
  auto resolved = ResolveTripUpdates(feed, *rt, {20080101, FixedOffset(-8)}, report);
  ASSERT_TRUE(resolved.ok());
  EXPECT_TRUE(resolved->trips.empty());
  EXPECT_EQ(Reasons(report),
            (std::vector<std::string>{"GTFS-Realtime entity 'simple-trip' trip.trip_id: unknown trip 'trip-1'",
                                      "GTFS-Realtime entity '3' trip.trip_id: unknown trip 'frequency-expanded-trip'"}));
  EXPECT_EQ(report.problems()[0].severity, Problem::Severity::kSkipped);
}

// ---- A feed built here --------------------------------------------------------------------------

// Stops A..F; service WK runs Monday to Friday in 2024. Trip T1: A 08:00, B 08:10/08:11,
// C 08:20/08:21, D 08:30/08:31, E 08:40 (stop_sequence 10, 20, …). Trip NIGHT: A 23:50, B 24:30.
// Trip LOOP: A 09:00, B 09:10, A 09:20, C 09:30. Trip UNTIMED: A 10:00, B (no time), C 10:20.
// Trip FREQ runs every 20 minutes from 06:00 to 09:00 by the template A 0:00, B 0:10/0:11, C 0:20.
struct SmallFeed {
  Feed feed;

  SmallFeed() {
    for (const char* id : {"A", "B", "C", "D", "E", "F"}) {
      feed.stop_by_id[id] = static_cast<uint32_t>(feed.stops.size());
      Stop stop;
      stop.id = id;
      feed.stops.push_back(stop);
    }
    Route route;
    route.id = "R";
    feed.routes.push_back(route);
    feed.route_by_id["R"] = 0;
    feed.services.push_back({.id = "WK", .has_calendar = true, .weekdays = 0x1f, .start_date = 20240101,
                             .end_date = 20241231, .exceptions = {}});
    feed.service_by_id["WK"] = 0;
    AddTrip("T1", {{"A", Hms(8, 0), Hms(8, 0)}, {"B", Hms(8, 10), Hms(8, 11)}, {"C", Hms(8, 20), Hms(8, 21)},
                   {"D", Hms(8, 30), Hms(8, 31)}, {"E", Hms(8, 40), Hms(8, 40)}});
    AddTrip("NIGHT", {{"A", Hms(23, 50), Hms(23, 50)}, {"B", Hms(24, 30), Hms(24, 30)}});
    AddTrip("LOOP", {{"A", Hms(9, 0), Hms(9, 0)}, {"B", Hms(9, 10), Hms(9, 10)}, {"A", Hms(9, 20), Hms(9, 20)},
                     {"C", Hms(9, 30), Hms(9, 30)}});
    AddTrip("UNTIMED", {{"A", Hms(10, 0), Hms(10, 0)}, {"B", kNoTime, kNoTime}, {"C", Hms(10, 20), Hms(10, 20)}});
    AddTrip("FREQ", {{"A", Hms(0, 0), Hms(0, 0)}, {"B", Hms(0, 10), Hms(0, 11)}, {"C", Hms(0, 20), Hms(0, 20)}});
    feed.frequencies.push_back({feed.trip_by_id.at("FREQ"), Hms(6, 0), Hms(9, 0), 1200, true});
  }

  struct Call {
    const char* stop;
    int32_t arrival, departure;
  };
  void AddTrip(const std::string& id, std::vector<Call> calls) {
    const auto index = static_cast<uint32_t>(feed.trips.size());
    feed.trip_by_id[id] = index;
    Trip trip;
    trip.id = id;
    trip.route = 0;
    trip.service = 0;
    trip.first_stop_time = static_cast<uint32_t>(feed.stop_times.size());
    trip.stop_time_count = static_cast<uint32_t>(calls.size());
    for (size_t i = 0; i < calls.size(); ++i) {
      feed.stop_times.push_back({index, feed.stop_by_id.at(calls[i].stop), calls[i].arrival, calls[i].departure,
                                 static_cast<uint32_t>(10 * (i + 1)), 0, 0});
    }
    feed.trips.push_back(trip);
  }
};

constexpr int32_t kWednesday = 20240515;
const ServiceDayStartUtc kSeoul = FixedOffset(9);

// Resolves `entities` (text-format FeedEntity bodies) on kWednesday, Seoul time.
ResolvedTripUpdates Resolve(const SmallFeed& f, const std::string& entities, ValidationReport& report,
                            int32_t today = kWednesday) {
  auto rt = ParseRealtimeFeedText("header { gtfs_realtime_version: \"2.0\" timestamp: 1715731200 }\n" + entities);
  EXPECT_TRUE(rt.ok()) << rt.status().message();
  auto resolved = ResolveTripUpdates(f.feed, rt.ok() ? *rt : RealtimeFeed{}, {today, kSeoul}, report);
  EXPECT_TRUE(resolved.ok()) << resolved.status().message();
  return resolved.ok() ? std::move(resolved).value() : ResolvedTripUpdates{};
}

// (arrival, departure) of each stop, -1 for skipped.
std::vector<std::pair<int32_t, int32_t>> Times(const TripRealtime& t) {
  std::vector<std::pair<int32_t, int32_t>> out;
  for (const RealtimeStopTime& s : t.stop_times) out.emplace_back(s.skipped ? -1 : s.arrival, s.skipped ? -1 : s.departure);
  return out;
}

using Pairs = std::vector<std::pair<int32_t, int32_t>>;

TEST(ResolveTripUpdates, ADelayCarriesOnUntilTheNextUpdate) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" start_date: "20240515" }
      stop_time_update { stop_sequence: 20 arrival { delay: 60 } }
      stop_time_update { stop_sequence: 40 departure { delay: 120 } } } })", report);
  EXPECT_EQ(report.total(), 0u);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(r.trips[0].service_date, kWednesday);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(8, 0), Hms(8, 0)},
                                      {Hms(8, 11), Hms(8, 12)},      // arrival given, departure follows it
                                      {Hms(8, 21), Hms(8, 22)},      // carried
                                      {Hms(8, 32), Hms(8, 33)},      // departure given, arrival follows it
                                      {Hms(8, 42), Hms(8, 42)}}));
  EXPECT_FALSE(r.trips[0].stop_times[0].predicted);
  EXPECT_TRUE(r.trips[0].stop_times[1].predicted);
  EXPECT_TRUE(r.trips[0].stop_times[4].predicted);
}

TEST(ResolveTripUpdates, TripWideDelayAppliesUntilTheFirstStopUpdate) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" } delay: 30
      stop_time_update { stop_sequence: 30 arrival { delay: 90 } } } })", report);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(8, 0, 30), Hms(8, 0, 30)},
                                      {Hms(8, 10, 30), Hms(8, 11, 30)},
                                      {Hms(8, 21, 30), Hms(8, 22, 30)},
                                      {Hms(8, 31, 30), Hms(8, 32, 30)},
                                      {Hms(8, 41, 30), Hms(8, 41, 30)}}));
  EXPECT_TRUE(r.trips[0].stop_times[0].predicted);
}

TEST(ResolveTripUpdates, AbsoluteTimesAreSecondsOfTheServiceDay) {
  SmallFeed f;
  ValidationReport report;
  // 08:25:00 Seoul on 2024-05-15 is 23:25:00 UTC on the 14th.
  const int64_t at = kSeoul(kWednesday) + Hms(8, 25);
  auto r = Resolve(f, fmt::format(R"(entity {{ id: "e" trip_update {{ trip {{ trip_id: "T1" }}
      stop_time_update {{ stop_id: "C" arrival {{ time: {} }} departure {{ time: {} }} }} }} }})", at, at + 60),
                   report);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(8, 0), Hms(8, 0)},
                                      {Hms(8, 10), Hms(8, 11)},
                                      {Hms(8, 25), Hms(8, 26)},
                                      {Hms(8, 35), Hms(8, 36)},  // the 5 minutes carried on
                                      {Hms(8, 45), Hms(8, 45)}}));
}

TEST(ResolveTripUpdates, AbsoluteTimesAfterMidnightCountOnFromTheServiceDay) {
  SmallFeed f;
  ValidationReport report;
  // NIGHT of Wednesday reaches B at 24:30, i.e. 00:30 on Thursday; predicted 00:37.
  const int64_t at = kSeoul(kWednesday + 1) + Hms(0, 37);
  auto r = Resolve(f, fmt::format(R"(entity {{ id: "n" trip_update {{ trip {{ trip_id: "NIGHT" start_date: "20240515" }}
      stop_time_update {{ stop_sequence: 20 arrival {{ time: {} }} }} }} }})", at), report);
  EXPECT_EQ(report.total(), 0u);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(r.trips[0].service_date, kWednesday);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(23, 50), Hms(23, 50)}, {Hms(24, 37), Hms(24, 37)}}));
}

TEST(ResolveTripUpdates, NoDataRestoresTheScheduleAndSkippedCarriesTheDelay) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(
    entity { id: "n" trip_update { trip { trip_id: "T1" }
      stop_time_update { stop_sequence: 10 departure { delay: 300 } }
      stop_time_update { stop_sequence: 30 schedule_relationship: NO_DATA } } }
    entity { id: "s" trip_update { trip { trip_id: "LOOP" }
      stop_time_update { stop_sequence: 10 departure { delay: 120 } }
      stop_time_update { stop_sequence: 20 schedule_relationship: SKIPPED } } })", report);
  EXPECT_EQ(report.total(), 0u);
  ASSERT_EQ(r.trips.size(), 2u);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(8, 5), Hms(8, 5)},
                                      {Hms(8, 15), Hms(8, 16)},
                                      {Hms(8, 20), Hms(8, 21)},
                                      {Hms(8, 30), Hms(8, 31)},
                                      {Hms(8, 40), Hms(8, 40)}}));
  EXPECT_FALSE(r.trips[0].stop_times[2].predicted);
  EXPECT_EQ(Times(r.trips[1]), (Pairs{{Hms(9, 2), Hms(9, 2)}, {-1, -1}, {Hms(9, 22), Hms(9, 22)}, {Hms(9, 32), Hms(9, 32)}}));
  EXPECT_TRUE(r.trips[1].stop_times[1].skipped);
}

TEST(ResolveTripUpdates, RelationshipsUnknownToUsAreNotApplied) {
  SmallFeed f;
  ValidationReport report;
  RealtimeFeed rt;
  TripUpdate trip_level;
  trip_level.entity_id = "t";
  trip_level.trip.trip_id = "T1";
  trip_level.trip.relationship = static_cast<TripRelationship>(9);
  TripUpdate stop_level;
  stop_level.entity_id = "s";
  stop_level.trip.trip_id = "LOOP";
  StopTimeUpdate late;
  late.stop_sequence = 10;
  late.departure = StopTimeEvent{300, std::nullopt};
  StopTimeUpdate unknown;
  unknown.stop_sequence = 30;
  unknown.relationship = static_cast<StopRelationship>(7);
  stop_level.stop_time_updates = {late, unknown};
  rt.trip_updates = {trip_level, stop_level};
  auto r = ResolveTripUpdates(f.feed, rt, {kWednesday, kSeoul}, report);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->trips.size(), 1u);  // the trip-level one is not applied
  EXPECT_EQ(Reasons(report), std::vector<std::string>{
      "GTFS-Realtime entity 't' trip.schedule_relationship: relationship 9 is not applied (only SCHEDULED, CANCELED, "
      "DELETED, ADDED and NEW are)"});
  // The stop-level one stops the delay like NO_DATA: the schedule stands from there.
  EXPECT_EQ(Times(r->trips[0]),
            (Pairs{{Hms(9, 5), Hms(9, 5)}, {Hms(9, 15), Hms(9, 15)}, {Hms(9, 20), Hms(9, 20)}, {Hms(9, 30), Hms(9, 30)}}));
}

TEST(ResolveTripUpdates, AnUpdateWithoutTimesMeansOnTimeThere) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" }
      stop_time_update { stop_sequence: 10 departure { delay: 240 } }
      stop_time_update { stop_sequence: 40 } } })", report);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(r.trips[0].stop_times[2].arrival, Hms(8, 24));
  EXPECT_EQ(r.trips[0].stop_times[3].arrival, Hms(8, 30));
  EXPECT_EQ(r.trips[0].stop_times[4].arrival, Hms(8, 40));
}

TEST(ResolveTripUpdates, TimesGoingBackwardsAreRaisedNeverLowered) {
  SmallFeed f;
  ValidationReport report;
  // 15 minutes late at B, then 15 minutes early at C: C would be reached before leaving B.
  auto r = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" }
      stop_time_update { stop_sequence: 20 arrival { delay: 900 } }
      stop_time_update { stop_sequence: 30 arrival { delay: -900 } } } })", report);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(8, 0), Hms(8, 0)},
                                      {Hms(8, 25), Hms(8, 26)},
                                      {Hms(8, 26), Hms(8, 26)},  // raised to B's departure
                                      {Hms(8, 26), Hms(8, 26)},  // −15 min carried, raised
                                      {Hms(8, 26), Hms(8, 26)}}));
  // Running so early the time would be negative: clamped at the start of the service day.
  auto early = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" } delay: -40000 } })", report);
  ASSERT_EQ(early.trips.size(), 1u);
  EXPECT_EQ(early.trips[0].stop_times[0].arrival, 0);
  EXPECT_EQ(early.trips[0].stop_times[4].departure, 0);
}

TEST(ResolveTripUpdates, CancelledAndDeletedTripsCarryNoTimes) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(
    entity { id: "c" trip_update { trip { trip_id: "T1" schedule_relationship: CANCELED } } }
    entity { id: "d" trip_update { trip { trip_id: "LOOP" schedule_relationship: DELETED } } })", report);
  EXPECT_EQ(report.total(), 0u);
  ASSERT_EQ(r.trips.size(), 2u);
  EXPECT_TRUE(r.trips[0].cancelled);
  EXPECT_TRUE(r.trips[0].stop_times.empty());
  EXPECT_TRUE(r.trips[1].cancelled);
  EXPECT_EQ(r.trips[1].entity_id, "d");
}

TEST(ResolveTripUpdates, TheServiceDayWithoutStartDate) {
  SmallFeed f;
  ValidationReport report;
  const std::string night = R"(entity { id: "n" trip_update { trip { trip_id: "NIGHT" } delay: 60 } })";
  const std::string day = R"(entity { id: "d" trip_update { trip { trip_id: "T1" } delay: 60 } })";
  // Saturday 2024-05-18: WK does not run, but Friday's night trip is still running.
  auto saturday = Resolve(f, night + day, report, 20240518);
  ASSERT_EQ(saturday.trips.size(), 1u);
  EXPECT_EQ(saturday.trips[0].service_date, 20240517);
  EXPECT_EQ(Reasons(report), std::vector<std::string>{
      "GTFS-Realtime entity 'd' trip.start_date: no start_date, and trip 'T1' runs neither on 20240518 nor past "
      "midnight from the day before"});
  // A weekday: today.
  ValidationReport clean;
  auto wednesday = Resolve(f, night + day, clean);
  ASSERT_EQ(wednesday.trips.size(), 2u);
  EXPECT_EQ(wednesday.trips[0].service_date, kWednesday);
  EXPECT_EQ(clean.total(), 0u);
  // Across a month boundary: Saturday 2024-06-01 takes Friday 2024-05-31.
  ValidationReport other;
  auto june = Resolve(f, night, other, 20240601);
  ASSERT_EQ(june.trips.size(), 1u);
  EXPECT_EQ(june.trips[0].service_date, 20240531);
}

TEST(ResolveTripUpdates, BadStartDatesAndDuplicatesAreReported) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(
    entity { id: "a" trip_update { trip { trip_id: "T1" start_date: "2024-05-15" } } }
    entity { id: "b" trip_update { trip { trip_id: "T1" start_date: "20240519" } } }
    entity { id: "c" trip_update { trip { trip_id: "T1" start_date: "20240515" } delay: 60 } }
    entity { id: "d" trip_update { trip { trip_id: "T1" start_date: "20240515" } delay: 120 } }
    entity { id: "e" trip_update { trip { trip_id: "T1" start_date: "20240516" } delay: 180 } }
    entity { id: "f" trip_update { trip { route_id: "R" start_time: "08:00:00" } } }
    entity { id: "g" trip_update { trip { trip_id: "T1" schedule_relationship: UNSCHEDULED } } })", report);
  ASSERT_EQ(r.trips.size(), 2u);
  EXPECT_EQ(r.trips[0].stop_times[0].arrival, Hms(8, 1));  // the first update for the 15th applies
  EXPECT_EQ(r.trips[1].service_date, 20240516);
  EXPECT_EQ(Reasons(report),
            (std::vector<std::string>{
                "GTFS-Realtime entity 'a' trip.start_date: '2024-05-15' is not a YYYYMMDD date",
                "GTFS-Realtime entity 'b' trip.start_date: trip 'T1' does not run on 20240519",
                "GTFS-Realtime entity 'd' trip.trip_id: a second update for trip 'T1' on 20240515: the first one applies",
                "GTFS-Realtime entity 'f' trip.trip_id: no trip_id (trips named by route, direction and start time are "
                "not matched)",
                "GTFS-Realtime entity 'g' trip.schedule_relationship: relationship 2 is not applied (only SCHEDULED, "
                "CANCELED, DELETED, ADDED and NEW are)"}));
}

TEST(ResolveTripUpdates, UpdatesThatMatchNoStopAreReportedAndTheRestApplies) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" }
      stop_time_update { stop_id: "ZZ" arrival { delay: 999 } }
      stop_time_update { stop_sequence: 25 arrival { delay: 999 } }
      stop_time_update { stop_sequence: 20 stop_id: "C" arrival { delay: 999 } }
      stop_time_update { stop_id: "F" arrival { delay: 999 } }
      stop_time_update { arrival { delay: 999 } }
      stop_time_update { stop_id: "C" arrival { delay: 60 } }
      stop_time_update { stop_sequence: 20 arrival { delay: 999 } } } })", report);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(8, 0), Hms(8, 0)},
                                      {Hms(8, 10), Hms(8, 11)},
                                      {Hms(8, 21), Hms(8, 22)},
                                      {Hms(8, 31), Hms(8, 32)},
                                      {Hms(8, 41), Hms(8, 41)}}));
  EXPECT_EQ(Reasons(report),
            (std::vector<std::string>{
                "GTFS-Realtime entity 'e' stop_time_update[0].stop_id: unknown stop 'ZZ'",
                "GTFS-Realtime entity 'e' stop_time_update[1]: stop_sequence 25 is not on the trip after the previous update",
                "GTFS-Realtime entity 'e' stop_time_update[2].stop_id: stop 'C' does not match stop_sequence 20 (stop 'B')",
                "GTFS-Realtime entity 'e' stop_time_update[3]: stop 'F' is not on the trip after the previous update",
                "GTFS-Realtime entity 'e' stop_time_update[4]: neither stop_sequence nor stop_id given",
                "GTFS-Realtime entity 'e' stop_time_update[6]: stop_sequence 20 is not on the trip after the previous "
                "update"}));
}

TEST(ResolveTripUpdates, AStopIdOfTheSameStationOrPlaceMatchesThePlatform) {
  SmallFeed f;
  auto add_stop = [&](const std::string& id, double lat, uint32_t parent) {
    Stop stop;
    stop.id = id;
    stop.lat = lat;
    stop.lon = 128.88;
    stop.has_position = true;
    stop.parent_station = parent;
    f.feed.stop_by_id[id] = static_cast<uint32_t>(f.feed.stops.size());
    f.feed.stops.push_back(stop);
  };
  Stop& b = f.feed.stops[f.feed.stop_by_id.at("B")];
  b.lat = 35.2300;
  b.lon = 128.88;
  b.has_position = true;
  add_stop("B_STATION", 35.2290, kNoIndex);         // about 110 m away, B's parent station
  add_stop("B_NORTH", 35.2302, kNoIndex);           // about 22 m away, another id for the same place
  add_stop("B_SISTER", 35.2295, f.feed.stops.size() - 2);  // child of B_STATION, about 55 m away
  add_stop("FAR", 35.2400, kNoIndex);               // about 1.1 km away
  add_stop("B_CHILD", 35.2280, f.feed.stop_by_id.at("B"));  // about 220 m away, a platform of B
  f.feed.stops[f.feed.stop_by_id.at("B")].parent_station = f.feed.stop_by_id.at("B_STATION");
  for (const char* named : {"B_STATION", "B_NORTH", "B_SISTER", "B_CHILD"}) {
    ValidationReport report;
    auto r = Resolve(f, fmt::format(R"(entity {{ id: "e" trip_update {{ trip {{ trip_id: "T1" }}
        stop_time_update {{ stop_sequence: 20 stop_id: "{}" arrival {{ delay: 60 }} }} }} }})", named), report);
    EXPECT_EQ(report.total(), 0u) << named;
    ASSERT_EQ(r.trips.size(), 1u);
    EXPECT_EQ(r.trips[0].stop_times[1].arrival, Hms(8, 11)) << named;
  }
  ValidationReport report;
  auto far = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" }
      stop_time_update { stop_sequence: 20 stop_id: "FAR" arrival { delay: 60 } } } })", report);
  ASSERT_EQ(far.trips.size(), 1u);
  EXPECT_EQ(far.trips[0].stop_times[1].arrival, Hms(8, 10));
  EXPECT_EQ(Reasons(report), std::vector<std::string>{"GTFS-Realtime entity 'e' stop_time_update[0].stop_id: stop "
                                                      "'FAR' does not match stop_sequence 20 (stop 'B')"});

  // By stop_id alone, a call at the stop itself wins over an earlier one across the street.
  f.AddTrip("ACROSS", {{"B_NORTH", Hms(11, 0), Hms(11, 0)}, {"C", Hms(11, 10), Hms(11, 10)}, {"B", Hms(11, 20), Hms(11, 20)}});
  ValidationReport loop;
  auto across = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "ACROSS" }
      stop_time_update { stop_id: "B" arrival { delay: 120 } } } })", loop);
  EXPECT_EQ(loop.total(), 0u);
  ASSERT_EQ(across.trips.size(), 1u);
  EXPECT_EQ(Times(across.trips[0]),
            (Pairs{{Hms(11, 0), Hms(11, 0)}, {Hms(11, 10), Hms(11, 10)}, {Hms(11, 22), Hms(11, 22)}}));
}

TEST(ResolveTripUpdates, ALoopTripIsMatchedByStopIdInOrder) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "LOOP" }
      stop_time_update { stop_id: "B" arrival { delay: 60 } }
      stop_time_update { stop_id: "A" arrival { delay: 180 } } } })", report);
  EXPECT_EQ(report.total(), 0u);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(Times(r.trips[0]),
            (Pairs{{Hms(9, 0), Hms(9, 0)}, {Hms(9, 11), Hms(9, 11)}, {Hms(9, 23), Hms(9, 23)}, {Hms(9, 33), Hms(9, 33)}}));
}

TEST(ResolveTripUpdates, StopsWithoutScheduledTimesStayWithoutUnlessGivenOne) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "UNTIMED" } delay: 120 } })", report);
  ASSERT_EQ(r.trips.size(), 1u);
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(10, 2), Hms(10, 2)}, {kNoTime, kNoTime}, {Hms(10, 22), Hms(10, 22)}}));
  const int64_t at = kSeoul(kWednesday) + Hms(10, 9);
  auto timed = Resolve(f, fmt::format(R"(entity {{ id: "e" trip_update {{ trip {{ trip_id: "UNTIMED" }}
      stop_time_update {{ stop_sequence: 20 arrival {{ time: {} }} }} }} }})", at), report);
  ASSERT_EQ(timed.trips.size(), 1u);
  EXPECT_EQ(Times(timed.trips[0]), (Pairs{{Hms(10, 0), Hms(10, 0)}, {Hms(10, 9), Hms(10, 9)}, {Hms(10, 20), Hms(10, 20)}}));
}

TEST(ResolveTripUpdates, AFrequencyBasedTripIsUpdatedPerRunNamedByStartTime) {
  SmallFeed f;
  ValidationReport report;
  auto r = Resolve(f, R"(
    entity { id: "r1" trip_update { trip { trip_id: "FREQ" start_time: "07:20:00" }
      stop_time_update { stop_sequence: 20 arrival { delay: 60 } } } }
    entity { id: "r2" trip_update { trip { trip_id: "FREQ" start_time: "07:40:00" } delay: 0 } }
    entity { id: "r3" trip_update { trip { trip_id: "FREQ" start_time: "07:20:00" } delay: 300 } }
    entity { id: "r4" trip_update { trip { trip_id: "FREQ" } delay: 300 } })", report);
  ASSERT_EQ(r.trips.size(), 2u);
  EXPECT_EQ(r.trips[0].start_time, Hms(7, 20));
  EXPECT_EQ(Times(r.trips[0]), (Pairs{{Hms(7, 20), Hms(7, 20)}, {Hms(7, 31), Hms(7, 32)}, {Hms(7, 41), Hms(7, 41)}}));
  EXPECT_EQ(r.trips[1].start_time, Hms(7, 40));
  EXPECT_EQ(Times(r.trips[1]), (Pairs{{Hms(7, 40), Hms(7, 40)}, {Hms(7, 50), Hms(7, 51)}, {Hms(8, 0), Hms(8, 0)}}));
  EXPECT_EQ(Reasons(report),
            (std::vector<std::string>{
                "GTFS-Realtime entity 'r3' trip.trip_id: a second update for trip 'FREQ' on 20240515: the first one "
                "applies",
                "GTFS-Realtime entity 'r4' trip.start_time: trip 'FREQ' runs by frequencies.txt: a valid start_time "
                "must name the run, not ''"}));
  ValidationReport plain;
  auto t1 = Resolve(f, R"(entity { id: "e" trip_update { trip { trip_id: "T1" start_time: "08:00:00" } } })", plain);
  ASSERT_EQ(t1.trips.size(), 1u);
  EXPECT_EQ(t1.trips[0].start_time, kNoTime);  // not frequency-based: start_time is not needed
}

TEST(ResolveTripUpdates, AddedTripsGetStopIndexesAndServiceDayTimes) {
  SmallFeed f;
  ValidationReport report;
  const int64_t day = kSeoul(kWednesday);
  auto r = Resolve(f, fmt::format(R"(
    entity {{ id: "x1" trip_update {{ trip {{ trip_id: "EXTRA" route_id: "R" schedule_relationship: ADDED }}
      stop_time_update {{ stop_id: "D" departure {{ time: {} }} }}
      stop_time_update {{ stop_id: "E" schedule_relationship: SKIPPED }}
      stop_time_update {{ stop_id: "F" arrival {{ time: {} }} departure {{ time: {} }} }} }} }}
    entity {{ id: "x2" trip_update {{ trip {{ route_id: "NOPE" start_date: "20240516" schedule_relationship: NEW }}
      stop_time_update {{ stop_id: "A" arrival {{ time: {} }} }}
      stop_time_update {{ stop_id: "B" arrival {{ time: {} }} }} }} }}
    entity {{ id: "x3" trip_update {{ trip {{ trip_id: "BAD" schedule_relationship: ADDED }}
      stop_time_update {{ stop_id: "A" arrival {{ delay: 60 }} }}
      stop_time_update {{ stop_id: "B" arrival {{ time: {} }} }} }} }}
    entity {{ id: "x4" trip_update {{ trip {{ trip_id: "ONE" schedule_relationship: ADDED }}
      stop_time_update {{ stop_id: "A" arrival {{ time: {} }} }} }} }})",
                                  day + Hms(12, 0), day + Hms(12, 20), day + Hms(12, 21), day + 86400 + Hms(7, 0),
                                  day + 86400 + Hms(7, 5), day + Hms(13, 0), day + Hms(13, 0)),
                   report);
  EXPECT_TRUE(r.trips.empty());
  ASSERT_EQ(r.added.size(), 2u);
  const AddedTripRealtime& extra = r.added[0];
  EXPECT_EQ(extra.trip_id, "EXTRA");
  EXPECT_EQ(extra.route, 0u);
  EXPECT_EQ(extra.service_date, kWednesday);
  ASSERT_EQ(extra.stop_times.size(), 2u);  // the skipped stop left out
  EXPECT_EQ(extra.stop_times[0].stop, f.feed.stop_by_id.at("D"));
  EXPECT_EQ(extra.stop_times[0].arrival, Hms(12, 0));
  EXPECT_EQ(extra.stop_times[0].departure, Hms(12, 0));
  EXPECT_EQ(extra.stop_times[1].stop, f.feed.stop_by_id.at("F"));
  EXPECT_EQ(extra.stop_times[1].arrival, Hms(12, 20));
  EXPECT_EQ(extra.stop_times[1].departure, Hms(12, 21));
  const AddedTripRealtime& unnamed = r.added[1];
  EXPECT_EQ(unnamed.trip_id, "x2");  // no trip_id: the entity id names it
  EXPECT_EQ(unnamed.route, kNoIndex);
  EXPECT_EQ(unnamed.service_date, 20240516);
  EXPECT_EQ(unnamed.stop_times[1].arrival, Hms(7, 5));
  EXPECT_EQ(Reasons(report),
            (std::vector<std::string>{
                "GTFS-Realtime entity 'x2' trip.route_id: unknown route 'NOPE' (the added trip is kept without one)",
                "GTFS-Realtime entity 'x3' stop_time_update[0]: added trip: no absolute arrival or departure time; the "
                "trip is not added",
                "GTFS-Realtime entity 'x4' stop_time_update: added trip: fewer than two stops served; the trip is not "
                "added"}));
}

TEST(ResolveTripUpdates, RefusesOptionsItCannotWorkWith) {
  SmallFeed f;
  ValidationReport report;
  auto no_clock = ResolveTripUpdates(f.feed, RealtimeFeed{}, {kWednesday, nullptr}, report);
  ASSERT_FALSE(no_clock.ok());
  EXPECT_EQ(no_clock.status().code(), Status::Code::kInvalidRequest);
  auto bad_day = ResolveTripUpdates(f.feed, RealtimeFeed{}, {20241332, kSeoul}, report);
  ASSERT_FALSE(bad_day.ok());
  EXPECT_EQ(bad_day.status().message(), "resolving trip updates: today 20241332 is not a YYYYMMDD date");
}

}  // namespace
}  // namespace cityhub::mobility::gtfs
