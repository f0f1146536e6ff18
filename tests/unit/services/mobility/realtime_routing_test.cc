// The real-time chain on real data: BART's GTFS-RT file (29 Dec 2016) decoded, resolved against
// bart_2016.zip, applied to that day's timetable — and journeys change as the delays say: a
// hand-checked one (a traveller who missed a train on paper catches it because it is late), then
// every delayed stop checked against a direct scan of the trips' new times.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/realtime.h"
#include "services/mobility/gtfs/trip_changes.h"
#include "services/mobility/routing/raptor.h"
#include "services/mobility/routing/timetable_update.h"
#include "util/time.h"

namespace cityhub::mobility {
namespace {

constexpr int32_t kDate = 20161229;  // a Thursday: BART's WKDY service
constexpr int32_t Hms(int h, int m, int s = 0) { return h * 3600 + m * 60 + s; }

std::string SharedPath(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/" + name;
}

// BART's timetable for kDate: every trip running that day with the feed's times, no footpaths
// (so a journey with one trip is exactly one ride).
struct BartDay {
  gtfs::Feed feed;
  routing::Timetable scheduled, live;
  std::vector<uint32_t> trip_idx;  // by feed trip: its TripIdx, UINT32_MAX when not running
  gtfs::ResolvedTripUpdates resolved;

  BartDay() { Load(); }

  // Loads, builds and applies; a void function so that gtest's ASSERTs can stop it.
  void Load() {
    gtfs::ValidationReport report;
    auto loaded = gtfs::LoadFeed(SharedPath("gtfs/bart_2016.zip"), gtfs::FeedOptions{}, report);
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    if (!loaded.ok()) return;
    feed = std::move(loaded).value();
    routing::TimetableBuilder builder;
    for (const gtfs::Stop& s : feed.stops) builder.AddStop(s.lat, s.lon);
    trip_idx.assign(feed.trips.size(), UINT32_MAX);
    for (uint32_t t = 0; t < feed.trips.size(); ++t) {
      const gtfs::Trip& trip = feed.trips[t];
      if (!feed.ServiceRunsOn(trip.service, kDate)) continue;
      std::vector<routing::TripStop> calls;
      for (uint32_t i = 0; i < trip.stop_time_count; ++i) {
        const gtfs::StopTime& st = feed.stop_times[trip.first_stop_time + i];
        calls.push_back({st.stop, st.arrival, st.departure});
      }
      auto idx = builder.AddTrip(calls, true);
      ASSERT_TRUE(idx.ok()) << trip.id << ": " << idx.status().message();
      trip_idx[t] = idx.value();
    }
    auto built = builder.Build();
    ASSERT_TRUE(built.ok()) << built.status().message();
    scheduled = std::move(built).value();

    std::ifstream in(SharedPath("gtfs-rt/bart_tripupdates_20161229.pb"), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    auto rt = gtfs::ParseRealtimeFeed(bytes.str());
    ASSERT_TRUE(rt.ok()) << rt.status().message();
    gtfs::ValidationReport problems;
    const gtfs::ServiceDayStartUtc pacific = [](int32_t d) {  // PST, UTC−8, no clock change near
      return util::DaysFromCivil(d / 10000, d / 100 % 100, d % 100) * 86400 + 8 * 3600;
    };
    auto r = gtfs::ResolveTripUpdates(feed, *rt, {kDate, pacific}, problems);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(problems.total(), 0u);
    resolved = std::move(r).value();

    std::vector<routing::TripChange> changes;
    for (const gtfs::TripRealtime& t : resolved.trips) {
      ASSERT_NE(trip_idx[t.trip], UINT32_MAX) << feed.trips[t.trip].id << " does not run that day";
      routing::TripChange c{trip_idx[t.trip], t.cancelled, {}, {}};
      for (const gtfs::RealtimeStopTime& s : t.stop_times) {
        c.times.push_back({s.arrival, s.departure});
        c.skipped.push_back(s.skipped ? 1 : 0);
      }
      changes.push_back(std::move(c));
    }
    auto applied = routing::ApplyTripChanges(scheduled, changes, {});
    ASSERT_TRUE(applied.ok()) << applied.status().message();
    live = std::move(applied).value();
  }

  uint32_t Stop(const std::string& id) const { return feed.stop_by_id.at(id); }
};

const BartDay& Bart() {
  static const BartDay day;
  return day;
}

// Earliest arrival at `to` riding one trip from `from`, leaving no earlier than `departure`.
routing::Seconds OneRide(const routing::Timetable& tt, uint32_t from, uint32_t to, routing::Seconds departure) {
  routing::Raptor raptor(tt);
  routing::RaptorQuery q;
  q.sources = {{from, 0}};
  q.targets = {{to, 0}};
  q.departure = departure;
  q.max_transfers = 0;
  auto r = raptor.Route(q);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r->arrival_by_trips.back() : routing::kUnreachable;
}

TEST(RealtimeRouting, ALateTrainCanStillBeCaught) {
  const BartDay& bart = Bart();
  // stop_times.txt: 14DC10 leaves 24TH at 09:37 and reaches 16TH at 09:39; the next train is
  // 17DCM11, 24TH 09:39 → 16TH 09:41. The real-time feed: 14DC10 leaves 24TH 2 min late (09:39)
  // and is on time again at 16TH (09:39); 17DCM11 is 3 min late from GLEN on (16TH at 09:44).
  const uint32_t from = bart.Stop("24TH"), to = bart.Stop("16TH");
  EXPECT_EQ(OneRide(bart.scheduled, from, to, Hms(9, 37, 30)), Hms(9, 41));
  EXPECT_EQ(OneRide(bart.live, from, to, Hms(9, 37, 30)), Hms(9, 39));
  // Just after 14DC10's late departure, the live answer is the late 17DCM11.
  EXPECT_EQ(OneRide(bart.scheduled, from, to, Hms(9, 39, 30)), Hms(9, 47));
  EXPECT_EQ(OneRide(bart.live, from, to, Hms(9, 39, 30)), Hms(9, 44));
}

TEST(RealtimeRouting, EveryDelayedDepartureGivesTheAnswerOfADirectScan) {
  const BartDay& bart = Bart();
  // The trips as they run, by feed trip: scheduled times, replaced by the resolved ones.
  std::vector<std::vector<std::pair<routing::Seconds, routing::Seconds>>> live_times(bart.feed.trips.size());
  for (uint32_t t = 0; t < bart.feed.trips.size(); ++t) {
    const gtfs::Trip& trip = bart.feed.trips[t];
    for (uint32_t i = 0; i < trip.stop_time_count; ++i) {
      const gtfs::StopTime& st = bart.feed.stop_times[trip.first_stop_time + i];
      live_times[t].emplace_back(st.arrival, st.departure);
    }
  }
  for (const gtfs::TripRealtime& t : bart.resolved.trips) {
    for (size_t i = 0; i < t.stop_times.size(); ++i) live_times[t.trip][i] = {t.stop_times[i].arrival, t.stop_times[i].departure};
  }
  auto direct_scan = [&](uint32_t from, uint32_t to, routing::Seconds departure) {
    routing::Seconds best = routing::kUnreachable;
    for (uint32_t t = 0; t < bart.feed.trips.size(); ++t) {
      const gtfs::Trip& trip = bart.feed.trips[t];
      if (bart.trip_idx[t] == UINT32_MAX) continue;
      bool boarded = false;
      for (uint32_t i = 0; i < trip.stop_time_count; ++i) {
        const uint32_t stop = bart.feed.stop_times[trip.first_stop_time + i].stop;
        if (boarded && stop == to) best = std::min(best, live_times[t][i].first);
        if (stop == from && live_times[t][i].second >= departure) boarded = true;
      }
    }
    return best;
  };
  size_t queries = 0, changed = 0;
  for (const gtfs::TripRealtime& t : bart.resolved.trips) {
    const gtfs::Trip& trip = bart.feed.trips[t.trip];
    for (uint32_t i = 0; i + 1 < trip.stop_time_count; ++i) {
      const gtfs::StopTime& st = bart.feed.stop_times[trip.first_stop_time + i];
      if (t.stop_times[i].departure == st.departure) continue;
      const uint32_t to = bart.feed.stop_times[trip.first_stop_time + i + 1].stop;
      const routing::Seconds live = OneRide(bart.live, st.stop, to, st.departure);
      ASSERT_EQ(live, direct_scan(st.stop, to, st.departure)) << trip.id << " position " << i;
      if (OneRide(bart.scheduled, st.stop, to, st.departure) != live) ++changed;
      ++queries;
    }
  }
  EXPECT_GT(queries, 50u);
  EXPECT_GT(changed, 10u);  // the delays do change answers
}

}  // namespace
}  // namespace cityhub::mobility
