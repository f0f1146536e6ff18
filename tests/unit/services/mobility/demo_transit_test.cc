// The demo transit feed: it loads with no problem at all, has the network its header describes
// (counts worked out by hand from the schedule there), lies around the demo city, is translated
// into five languages, and RAPTOR on a timetable built here from it finds journeys that change
// between lines, and night journeys past midnight.
#include "services/simulator/demo_transit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "services/mobility/gtfs/entities.h"
#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/translations.h"
#include "services/mobility/network/planner.h"
#include "services/mobility/network/transit_network.h"
#include "services/mobility/routing/raptor.h"
#include "services/simulator/demo_script.h"

namespace cityhub::services {
namespace {

namespace fs = std::filesystem;
namespace gtfs = mobility::gtfs;
namespace routing = mobility::routing;

constexpr int32_t Hm(int h, int m) { return h * 3600 + m * 60; }

double DistanceMeters(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kRadius = 6371008.8, kRad = M_PI / 180;
  const double dlat = (lat2 - lat1) * kRad, dlon = (lon2 - lon1) * kRad;
  const double a = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kRadius * std::asin(std::min(1.0, std::sqrt(a)));
}

class DemoTransitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One directory per process: ctest may run this suite's tests in parallel processes, and
    // another checkout's run may share the machine's temp dir.
    fs::create_directories(dir_);
    const std::string path = (dir_ / "gimhae.zip").string();
    Status written = WriteDemoTransitFeed(path);
    ASSERT_TRUE(written.ok()) << written.message();
    report_ = new gtfs::ValidationReport();
    auto feed = gtfs::LoadFeed(path, gtfs::FeedOptions{}, *report_);
    ASSERT_TRUE(feed.ok()) << feed.status().message();
    feed_ = new gtfs::Feed(std::move(feed).value());
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    delete feed_;
    delete report_;
    feed_ = nullptr;
    report_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(feed_, nullptr); }

  const gtfs::Feed& feed() const { return *feed_; }
  uint32_t Stop(const std::string& id) const { return feed_->stop_by_id.at(id); }

  static inline const fs::path dir_ =
      fs::temp_directory_path() / ("cityhub_demo_transit_test-" + std::to_string(::getpid()));
  static gtfs::Feed* feed_;
  static gtfs::ValidationReport* report_;
};
gtfs::Feed* DemoTransitTest::feed_ = nullptr;
gtfs::ValidationReport* DemoTransitTest::report_ = nullptr;

TEST_F(DemoTransitTest, LoadsWithoutAnyProblem) {
  for (const gtfs::Problem& p : report_->problems()) {
    ADD_FAILURE() << p.file << " line " << p.line << " " << p.field << ": " << p.reason;
  }
  EXPECT_EQ(report_->total(), 0u);
  EXPECT_EQ(feed().timezone, "Asia/Seoul");
  // The same bytes every time.
  EXPECT_EQ(MakeDemoTransitFeed(), MakeDemoTransitFeed());
}

TEST_F(DemoTransitTest, HasTheNetworkItsHeaderDescribes) {
  EXPECT_EQ(feed().agencies.size(), 1u);
  EXPECT_EQ(feed().stops.size(), 17u);  // 16 stops and the terminal station
  EXPECT_EQ(feed().routes.size(), 4u);
  // Each line both ways. Line 1: one frequency-based trip per service (4); line 2: weekdays
  // 06:00–22:40 / 20 min = 51, weekends 07:00–22:00 / 30 min = 31; line 3: weekdays
  // 06:10–22:55 / 15 min = 68, weekends 07:10–22:10 / 30 min = 31; night line: 3.
  EXPECT_EQ(feed().trips.size(), 4u + 2 * (51 + 31) + 2 * (68 + 31) + 2 * 3);
  EXPECT_EQ(feed().stop_times.size(), 4u * 6 + 2 * (51 + 31) * 6 + 2 * (68 + 31) * 7 + 2 * 3 * 6);
  ASSERT_EQ(feed().frequencies.size(), 4u);
  for (const gtfs::Frequency& f : feed().frequencies) {
    EXPECT_EQ(feed().routes[feed().trips[f.trip].route].id, "1");
    EXPECT_TRUE(f.headway_secs == 600 || f.headway_secs == 900) << f.headway_secs;
  }
  EXPECT_EQ(feed().transfers.size(), 4u);
  ASSERT_TRUE(feed().feed_info.has_value());
  EXPECT_EQ(feed().feed_info->lang, "ko");

  // The terminal is a station with its two bays.
  const gtfs::Stop& terminal = feed().stops[Stop("terminal")];
  EXPECT_EQ(terminal.location_type, gtfs::LocationType::kStation);
  EXPECT_EQ(feed().stops[Stop("terminal-1")].parent_station, Stop("terminal"));
  EXPECT_EQ(feed().stops[Stop("terminal-2")].parent_station, Stop("terminal"));

  // Calendars valid for years; New Year's Day 2026 (a Thursday) runs the weekend timetable.
  const uint32_t weekday = feed().service_by_id.at("weekday"), weekend = feed().service_by_id.at("weekend");
  EXPECT_TRUE(feed().ServiceRunsOn(weekday, 20240103));
  EXPECT_TRUE(feed().ServiceRunsOn(weekday, 20301231));
  EXPECT_FALSE(feed().ServiceRunsOn(weekday, 20310101));
  EXPECT_TRUE(feed().ServiceRunsOn(weekend, 20270102));  // a Saturday
  EXPECT_FALSE(feed().ServiceRunsOn(weekday, 20260101));
  EXPECT_TRUE(feed().ServiceRunsOn(weekend, 20260101));

  // Night trips run past midnight on the day they started.
  int past_midnight = 0;
  for (const gtfs::StopTime& st : feed().stop_times) {
    if (st.departure >= 24 * 3600) {
      ++past_midnight;
      EXPECT_EQ(feed().routes[feed().trips[st.trip].route].id, "N");
    }
  }
  EXPECT_GT(past_midnight, 0);
}

TEST_F(DemoTransitTest, EveryStopLiesNearTheDemoCity) {
  // The demo city's centre: the mean of its car parks and river bollards.
  DemoCity city = MakeDemoCity();
  double lat = 0, lon = 0, n = 0;
  for (const DemoSite& s : city.sites) lat += s.lat, lon += s.lon, ++n;
  for (const DemoDevice& d : city.rivers) lat += d.lat, lon += d.lon, ++n;
  lat /= n;
  lon /= n;
  for (const gtfs::Stop& s : feed().stops) {
    ASSERT_TRUE(s.has_position) << s.id;
    EXPECT_LT(DistanceMeters(lat, lon, s.lat, s.lon), 5000) << s.id;
  }
  // And a stop right by each car park (within 300 m).
  for (const DemoSite& site : city.sites) {
    double nearest = 1e9;
    for (const gtfs::Stop& s : feed().stops) nearest = std::min(nearest, DistanceMeters(site.lat, site.lon, s.lat, s.lon));
    EXPECT_LT(nearest, 300) << site.name;
  }
}

TEST_F(DemoTransitTest, NamesInFiveLanguages) {
  gtfs::TranslationIndex index = gtfs::TranslationIndex::Build(feed());
  EXPECT_EQ(index.Languages(), (std::vector<std::string>{"ko", "en", "ja", "vi", "zh"}));
  EXPECT_EQ(index.DefaultLanguage(), "en");
  EXPECT_EQ(index.ignored(), 0u);
  for (uint32_t s = 0; s < feed().stops.size(); ++s) {
    for (std::string lang : {"en", "zh", "ja", "vi"}) {
      gtfs::LocalizedText name = index.StopName(feed(), s, lang);
      EXPECT_TRUE(name.translated) << feed().stops[s].id << " " << lang;
      EXPECT_NE(name.text, feed().stops[s].name);
    }
  }
  EXPECT_EQ(index.StopName(feed(), Stop("city-hall"), "vi").text, "Tòa thị chính Gimhae");
  EXPECT_EQ(index.StopName(feed(), Stop("station"), "zh-CN").text, "金海站");
  EXPECT_EQ(index.StopName(feed(), Stop("station"), "ko").text, "김해역");
  for (uint32_t r = 0; r < feed().routes.size(); ++r) {
    EXPECT_TRUE(index.RouteLongName(feed(), r, "ja").translated) << feed().routes[r].id;
  }
  for (uint32_t t = 0; t < feed().trips.size(); ++t) {
    ASSERT_TRUE(index.TripHeadsign(feed(), t, "en").translated) << feed().trips[t].id;
  }
  EXPECT_EQ(index.AgencyName(feed(), 0, "en").text, "Gimhae City Bus");
}

TEST_F(DemoTransitTest, EntitiesForTheBrokerNameStopsInFiveLanguages) {
  gtfs::TranslationIndex index = gtfs::TranslationIndex::Build(feed());
  auto built = gtfs::BuildFeedEntities(feed(), index, {.feed_key = "gimhae", .source = "", .translated_names = true});
  ASSERT_TRUE(built.ok()) << built.status().message();
  const gtfs::FeedEntities& fe = built.value();
  EXPECT_EQ(fe.agencies, 1u);
  EXPECT_EQ(fe.stations, 1u);
  EXPECT_EQ(fe.stops, 16u);
  EXPECT_EQ(fe.routes, 4u);
  EXPECT_TRUE(fe.skipped.empty());
  ngsild::ContextResolver resolver{{}, {}};
  ASSERT_TRUE(resolver.Init().ok());
  for (const boost::json::object& e : fe.entities) {
    auto parsed = ngsild::ParseEntity(e, *resolver.Core(), 1'700'000'000'000, {});
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    if (e.at("type").as_string() == gtfs::GtfsVocabulary::kStopType) {
      const boost::json::object& names = e.at(gtfs::GtfsVocabulary::kName).at("languageMap").as_object();
      EXPECT_EQ(names.size(), 5u) << e.at("id");
      for (const char* lang : {"ko", "en", "zh", "ja", "vi"}) EXPECT_TRUE(names.contains(lang)) << e.at("id") << lang;
    }
  }
}

// A timetable of the trips running on `yyyymmdd`, frequency-based trips expanded; `trip_of`
// maps its TripIdx to the feed's trip.
routing::Timetable DayTimetable(const gtfs::Feed& feed, int32_t yyyymmdd, std::vector<uint32_t>& trip_of) {
  routing::TimetableBuilder builder;
  for (const gtfs::Stop& s : feed.stops) builder.AddStop(s.lat, s.lon);
  for (uint32_t t = 0; t < feed.trips.size(); ++t) {
    const gtfs::Trip& trip = feed.trips[t];
    if (!feed.ServiceRunsOn(trip.service, yyyymmdd)) continue;
    std::vector<int32_t> shifts{0};
    for (const gtfs::Frequency& f : feed.frequencies) {
      if (f.trip != t) continue;
      shifts.clear();
      const int32_t first = feed.stop_times[trip.first_stop_time].departure;
      for (int32_t start = f.start_time; start < f.end_time; start += f.headway_secs) shifts.push_back(start - first);
    }
    for (int32_t shift : shifts) {
      std::vector<routing::TripStop> stops;
      for (uint32_t i = 0; i < trip.stop_time_count; ++i) {
        const gtfs::StopTime& st = feed.stop_times[trip.first_stop_time + i];
        stops.push_back({st.stop, st.arrival + shift, st.departure + shift});
      }
      auto added = builder.AddTrip(stops, trip.wheelchair_accessible == 1);
      EXPECT_TRUE(added.ok()) << added.status().message();
      trip_of.push_back(t);
    }
  }
  for (const gtfs::Transfer& tr : feed.transfers) {
    EXPECT_TRUE(builder.AddTransfer(tr.from_stop, tr.to_stop, tr.min_transfer_time).ok());
  }
  auto tt = builder.Build();
  EXPECT_TRUE(tt.ok()) << tt.status().message();
  return std::move(tt).value();
}

routing::RaptorQuery Query(uint32_t from, uint32_t to, int32_t departure) {
  routing::RaptorQuery q;
  q.sources = {{from, 0}};
  q.targets = {{to, 0}};
  q.departure = departure;
  return q;
}

TEST_F(DemoTransitTest, RaptorChangesBetweenLines) {
  std::vector<uint32_t> trip_of;
  routing::Timetable tt = DayTimetable(feed(), 20260916, trip_of);  // a Wednesday
  // Line 1 every 10 minutes from 06:00 to 23:00 (102 departures each way) plus the timetabled trips.
  EXPECT_EQ(tt.TripCount(), 2u * 102 + 2 * 51 + 2 * 68 + 2 * 3);
  routing::Raptor raptor(tt);
  // The stream's south end is on line 1 only, Samgye-dong on lines 3 and N only.
  auto result = raptor.Route(Query(Stop("haeban-south"), Stop("samgye-dong"), Hm(8, 0)));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result.value().arrival_by_trips[1], routing::kUnreachable);
  ASSERT_FALSE(result.value().journeys.empty());
  const routing::Journey& j = result.value().journeys.front();
  EXPECT_EQ(j.trips, 2u);
  EXPECT_GT(j.arrival, Hm(8, 0));
  EXPECT_LT(j.arrival, Hm(9, 30));
  std::vector<std::string> lines;
  int32_t clock = j.departure;
  for (const routing::Leg& leg : j.legs) {
    EXPECT_LE(clock, leg.departure);
    EXPECT_LE(leg.departure, leg.arrival);
    clock = leg.arrival;
    if (leg.kind == routing::Leg::Kind::kTransit) lines.push_back(feed().routes[feed().trips[trip_of[leg.trip]].route].id);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"1", "3"}));
}

TEST_F(DemoTransitTest, NightLineRunsPastMidnightOnWeekdaysOnly) {
  std::vector<uint32_t> trip_of;
  routing::Timetable friday = DayTimetable(feed(), 20260918, trip_of);
  routing::Raptor raptor(friday);
  // After the last line 3 bus, the night bus of 00:10 (24:10 of Friday's service day).
  auto result = raptor.Route(Query(Stop("city-hall"), Stop("samgye-dong"), Hm(23, 55)));
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_FALSE(result.value().journeys.empty());
  const routing::Journey& j = result.value().journeys.front();
  EXPECT_EQ(j.trips, 1u);
  const routing::Leg* ride = nullptr;
  for (const routing::Leg& leg : j.legs) {
    if (leg.kind == routing::Leg::Kind::kTransit) ride = &leg;
  }
  ASSERT_NE(ride, nullptr);
  EXPECT_EQ(ride->departure, Hm(24, 10));
  EXPECT_GT(j.arrival, Hm(24, 10));
  EXPECT_EQ(feed().routes[feed().trips[trip_of[ride->trip]].route].id, "N");

  std::vector<uint32_t> saturday_trips;
  routing::Timetable saturday = DayTimetable(feed(), 20260919, saturday_trips);
  routing::Raptor weekend(saturday);
  auto none = weekend.Route(Query(Stop("city-hall"), Stop("samgye-dong"), Hm(23, 55)));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value().journeys.empty());
}

// Out of the box: the hub's own pipeline (TransitNetwork, Planner, departure boards) on the demo
// feed, from the City Hall car park to Samgye-dong, and the boards of the city hall stop.
TEST_F(DemoTransitTest, PlannerAndBoardsWorkOnTheDemoFeed) {
  namespace net = mobility::network;
  auto network = net::TransitNetwork::Create(feed(), net::NetworkOptions{});
  ASSERT_TRUE(network.ok()) << network.status().message();
  const net::TransitNetwork& n = *network.value();
  EXPECT_EQ(n.first_date(), 20240101);
  EXPECT_EQ(n.last_date(), 20301231);
  auto day = n.Day(20260916);  // a Wednesday
  ASSERT_TRUE(day.ok()) << day.status().message();
  const int64_t eight = n.clock().ServiceDayStartUtc(20260916) + Hm(8, 0);
  EXPECT_EQ(n.clock().FormatLocal(eight).substr(0, 19), "2026-09-16T08:00:00");

  DemoCity city = MakeDemoCity();
  const DemoSite& city_hall = city.sites.front();
  net::PlanRequest request;
  request.from_lat = city_hall.lat;
  request.from_lon = city_hall.lon;
  request.to_lat = feed().stops[Stop("samgye-dong")].lat;
  request.to_lon = feed().stops[Stop("samgye-dong")].lon;
  request.time = eight;
  net::Planner planner;
  auto plan = planner.Plan(n, day.value(), request);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_FALSE(plan.value().empty());
  const net::Itinerary& best = plan.value().front();
  EXPECT_GE(best.departure, eight);
  EXPECT_LT(best.arrival, eight + 3600);
  bool rode = false;
  for (const net::PlanLeg& leg : best.legs) rode = rode || leg.mode == net::PlanLeg::Mode::kTransit;
  EXPECT_TRUE(rode);

  // The city hall stop's board at 08:00: lines 2 and 3 (and the night line's stop, not yet).
  std::vector<net::Departure> board = net::NextDepartures(n, *day.value(), Stop("city-hall"), eight, 10);
  ASSERT_EQ(board.size(), 10u);
  std::set<std::string> lines;
  for (const net::Departure& d : board) {
    EXPECT_GE(d.departure, eight);
    EXPECT_LT(d.departure, eight + 3600);
    lines.insert(feed().routes[feed().trips[d.feed_trip].route].id);
  }
  EXPECT_EQ(lines, (std::set<std::string>{"2", "3"}));

  // Friday 23:55: the night bus of 00:10, of Friday's service day.
  auto friday = n.Day(20260918);
  ASSERT_TRUE(friday.ok()) << friday.status().message();
  const int64_t late = n.clock().ServiceDayStartUtc(20260918) + Hm(23, 55);
  std::vector<net::Departure> night = net::NextDepartures(n, *friday.value(), Stop("city-hall"), late, 1);
  ASSERT_EQ(night.size(), 1u);
  EXPECT_EQ(feed().routes[feed().trips[night[0].feed_trip].route].id, "N");
  EXPECT_EQ(night[0].service_date, 20260918);
  EXPECT_EQ(night[0].departure, late + 15 * 60);
}

}  // namespace
}  // namespace cityhub::services
