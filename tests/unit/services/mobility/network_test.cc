// Tests for services/mobility/network: the feed's clock (service day starts across daylight
// saving changes), day timetables built from real feeds (frequencies expanded, weekday and
// weekend calendars, trips past midnight), and door-to-door journeys checked by hand against
// the feeds' files (Google's sample feed, Caltrain).
#include "services/mobility/network/planner.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "services/mobility/gtfs/zip_writer.h"
#include "time_expanded_search.h"

namespace cityhub::mobility::network {
namespace {

std::string SharedGtfs(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/gtfs/" + name;
}

std::shared_ptr<TransitNetwork> Load(const std::string& name, NetworkOptions options = {}) {
  gtfs::ValidationReport report;
  auto feed = gtfs::LoadFeed(SharedGtfs(name), gtfs::FeedOptions{}, report);
  EXPECT_TRUE(feed.ok()) << feed.status().message();
  if (!feed.ok()) return nullptr;
  auto net = TransitNetwork::Create(std::move(*feed), options);
  EXPECT_TRUE(net.ok()) << net.status().message();
  return net.ok() ? *net : nullptr;
}

uint32_t StopIndex(const TransitNetwork& net, std::string_view id) {
  auto it = net.feed().stop_by_id.find(id);
  EXPECT_NE(it, net.feed().stop_by_id.end()) << id;
  return it == net.feed().stop_by_id.end() ? 0 : it->second;
}

std::string TripId(const TransitNetwork& net, const PlanLeg& leg) { return net.feed().trips[leg.feed_trip].id; }
std::string StopId(const TransitNetwork& net, const Place& p) {
  return p.stop == gtfs::kNoIndex ? "(coordinate)" : net.feed().stops[p.stop].id;
}

// Plans from stop `from` to stop `to` (their coordinates) leaving (or arriving by) `local` time.
std::vector<Itinerary> PlanBetweenStops(const TransitNetwork& net, std::string_view from, std::string_view to,
                                        int64_t at, bool arrive_by = false, double max_walk_m = 300) {
  const gtfs::Stop& a = net.feed().stops[StopIndex(net, from)];
  const gtfs::Stop& b = net.feed().stops[StopIndex(net, to)];
  PlanRequest r;
  r.from_lat = a.lat;
  r.from_lon = a.lon;
  r.to_lat = b.lat;
  r.to_lon = b.lon;
  r.time = at;
  r.arrive_by = arrive_by;
  r.max_walk_m = max_walk_m;
  auto day = net.Day(net.clock().LocalDate(at));
  EXPECT_TRUE(day.ok()) << day.status().message();
  if (!day.ok()) return {};
  Planner planner;
  auto plan = planner.Plan(net, *day, r);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : std::vector<Itinerary>{};
}

// Unix seconds of a local wall-clock time in the network's zone ("2008-06-02T07:00:00").
int64_t Local(const TransitNetwork& net, int32_t yyyymmdd, int h, int m) {
  return net.clock().ServiceDayStartUtc(yyyymmdd) + h * 3600 + m * 60;  // no DST change on these days
}

TEST(FeedClock, ServiceDaysFollowTheZonesDaylightSavingRules) {
  auto seoul = FeedClock::Load("Asia/Seoul");
  ASSERT_TRUE(seoul.ok());
  EXPECT_EQ(seoul->ServiceDayStartUtc(20260916), 1789484400);  // 2026-09-15T15:00:00Z
  EXPECT_EQ(seoul->FormatLocal(1789484400 + 8 * 3600 + 5 * 60), "2026-09-16T08:05:00+09:00");
  EXPECT_EQ(seoul->LocalDate(1789484400), 20260916);
  EXPECT_EQ(seoul->LocalDate(1789484399), 20260915);
  auto ny = FeedClock::Load("America/New_York");
  ASSERT_TRUE(ny.ok());
  // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT. Noon is 16:00Z, so the service day
  // starts at 04:00Z — 23:00 EST of the day before, not midnight; the day after starts at 04:00Z
  // again (midnight EDT), 23 hours later: GTFS times on the change day count from noon − 12 h.
  EXPECT_EQ(ny->ServiceDayStartUtc(20260308), 1772942400);
  EXPECT_EQ(ny->ServiceDayStartUtc(20260309) - ny->ServiceDayStartUtc(20260308), 86400);
  EXPECT_EQ(ny->ServiceDayStartUtc(20260308) - ny->ServiceDayStartUtc(20260307), 86400 - 3600);
  EXPECT_EQ(ny->FormatLocal(1772942400 + 12 * 3600), "2026-03-08T12:00:00-04:00");
  EXPECT_EQ(ny->FormatLocal(1772942400), "2026-03-07T23:00:00-05:00");
  auto bad = FeedClock::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Mars/Olympus_Mons"), std::string::npos);
}

TEST(DateArithmetic, AddsDaysAcrossMonthsYearsAndLeapDays) {
  EXPECT_EQ(AddDays(20240228, 1), 20240229);
  EXPECT_EQ(AddDays(20240229, 1), 20240301);
  EXPECT_EQ(AddDays(20260101, -1), 20251231);
  EXPECT_EQ(AddDays(20261207, 30), 20270106);
  EXPECT_EQ(Weekday(20261207), 0);  // a Monday
  EXPECT_EQ(Weekday(20261213), 6);
}

// Google's sample feed (America/Los_Angeles), checked against its files by hand:
// STBA (Stagecoach → Airport, 20 min) runs every 30 min from 06:00 (frequencies.txt);
// AB1 leaves the Airport at 08:00 and reaches Bullfrog at 08:10; BFC1 leaves Bullfrog at 08:20
// and reaches Furnace Creek Resort at 09:20. So leaving Stagecoach at 07:00 on a Monday, the
// 07:00 shuttle reaches the Airport at 07:20 and the journey arrives at 09:20 with 2 transfers.
TEST(Planner, GoogleSampleStagecoachToFurnaceCreekByHand) {
  auto net = Load("google_sample-feed-1.zip");
  ASSERT_TRUE(net);
  for (int32_t date : {20080602 /* PDT, -07:00 */, 20080107 /* PST, -08:00 */}) {
    const int64_t at = Local(*net, date, 7, 0);
    auto plan = PlanBetweenStops(*net, "STAGECOACH", "FUR_CREEK_RES", at);
    ASSERT_EQ(plan.size(), 1u) << date;
    const Itinerary& it = plan[0];
    EXPECT_EQ(it.transfers, 2u);
    EXPECT_EQ(it.arrival, Local(*net, date, 9, 20));
    std::vector<std::string> trips, stops;
    for (const PlanLeg& l : it.legs) {
      if (l.mode != PlanLeg::Mode::kTransit) continue;
      trips.push_back(TripId(*net, l));
      stops.push_back(StopId(*net, l.from) + ">" + StopId(*net, l.to));
    }
    EXPECT_EQ(trips, (std::vector<std::string>{"STBA", "AB1", "BFC1"}));
    EXPECT_EQ(stops, (std::vector<std::string>{"STAGECOACH>BEATTY_AIRPORT", "BEATTY_AIRPORT>BULLFROG",
                                               "BULLFROG>FUR_CREEK_RES"}));
    const PlanLeg& shuttle = it.legs[0];
    EXPECT_EQ(shuttle.departure, Local(*net, date, 7, 0));
    EXPECT_EQ(shuttle.arrival, Local(*net, date, 7, 20));
    EXPECT_EQ(shuttle.scheduled_departure, shuttle.departure);
    EXPECT_EQ(net->clock().FormatLocal(it.arrival), date == 20080602 ? "2008-06-02T09:20:00-07:00"
                                                                      : "2008-01-07T09:20:00-08:00");
  }
}

// AAMV (Airport → Amargosa Valley) runs on weekends only (service WE): 08:00 → 09:00 and
// 13:00 → 14:00. On a Saturday at 07:30 the 08:00 trip is taken; on a Monday no transit exists
// and the places are 38 km apart, too far to walk.
TEST(Planner, GoogleSampleWeekendOnlyRoute) {
  auto net = Load("google_sample-feed-1.zip");
  ASSERT_TRUE(net);
  auto saturday = PlanBetweenStops(*net, "BEATTY_AIRPORT", "AMV", Local(*net, 20080607, 7, 30));
  ASSERT_EQ(saturday.size(), 1u);
  EXPECT_EQ(saturday[0].arrival, Local(*net, 20080607, 9, 0));
  EXPECT_EQ(TripId(*net, saturday[0].legs[0]), "AAMV1");
  auto afternoon = PlanBetweenStops(*net, "BEATTY_AIRPORT", "AMV", Local(*net, 20080607, 8, 1));
  ASSERT_EQ(afternoon.size(), 1u);
  EXPECT_EQ(afternoon[0].arrival, Local(*net, 20080607, 14, 0));
  EXPECT_TRUE(PlanBetweenStops(*net, "BEATTY_AIRPORT", "AMV", Local(*net, 20080602, 7, 30)).empty());
  // Arriving by 15:00 on Saturday: the 13:00 trip is the latest that does.
  auto by = PlanBetweenStops(*net, "BEATTY_AIRPORT", "AMV", Local(*net, 20080607, 15, 0), /*arrive_by=*/true);
  ASSERT_EQ(by.size(), 1u);
  EXPECT_EQ(by[0].departure, Local(*net, 20080607, 13, 0));
  EXPECT_EQ(by[0].arrival, Local(*net, 20080607, 14, 0));
}

TEST(Planner, WalksWhenTheDestinationIsNearAndRejectsBadRequests) {
  auto net = Load("google_sample-feed-1.zip");
  ASSERT_TRUE(net);
  // NANAA and NADAV are 600 m apart: walking (600 × 1.3 / 1.25 = 624 s) beats any bus.
  auto plan = PlanBetweenStops(*net, "NANAA", "NADAV", Local(*net, 20080602, 12, 0), false, 400);
  ASSERT_FALSE(plan.empty());
  EXPECT_EQ(plan[0].legs.size(), 1u);
  EXPECT_EQ(plan[0].legs[0].mode, PlanLeg::Mode::kWalk);
  EXPECT_NEAR(static_cast<double>(plan[0].arrival - plan[0].departure), 624, 10);
  for (const Itinerary& it : plan) EXPECT_LT(it.arrival - Local(*net, 20080602, 12, 0), 24 * 3600);

  auto day = net->Day(20080602);
  ASSERT_TRUE(day.ok());
  Planner planner;
  PlanRequest bad;
  bad.from_lat = 91;
  bad.time = Local(*net, 20080602, 12, 0);
  auto r = planner.Plan(*net, *day, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("from"), std::string::npos);
  PlanRequest far;  // the middle of the Pacific
  far.from_lat = 0;
  far.from_lon = -150;
  far.to_lat = 36.9;
  far.to_lon = -116.8;
  far.time = bad.time;
  auto nf = planner.Plan(*net, *day, far);
  ASSERT_FALSE(nf.ok());
  EXPECT_TRUE(nf.status().IsNotFound());
  EXPECT_NE(nf.status().message().find("origin"), std::string::npos);
}

TEST(Departures, NextDeparturesOfAStopFollowTheFrequencies) {
  auto net = Load("google_sample-feed-1.zip");
  ASSERT_TRUE(net);
  auto day = net->Day(20080602);
  ASSERT_TRUE(day.ok());
  // STBA leaves Stagecoach every 30 min; CITY1 every 10 min between 08:00 and 10:00.
  auto board = NextDepartures(*net, **day, StopIndex(*net, "STAGECOACH"), Local(*net, 20080602, 8, 1), 6);
  ASSERT_EQ(board.size(), 6u);
  std::vector<std::pair<std::string, int64_t>> got;
  for (const Departure& d : board) got.push_back({net->feed().trips[d.feed_trip].id, (d.departure - Local(*net, 20080602, 0, 0)) / 60});
  const std::vector<std::pair<std::string, int64_t>> want{{"CITY1", 8 * 60 + 10}, {"CITY1", 8 * 60 + 20},
                                                          {"STBA", 8 * 60 + 30},  {"CITY1", 8 * 60 + 30},
                                                          {"CITY1", 8 * 60 + 40}, {"CITY1", 8 * 60 + 50}};
  EXPECT_EQ(got, want);
}

// Caltrain (America/Los_Angeles), weekday service of Wednesday 2016-04-06, from stop_times.txt
// by hand: southbound trains leaving San Francisco (platform 70012) after 08:00 are 324 (08:12,
// San Jose Diridon 70262 at 09:16), 226 (08:19 → 09:34), 228 (08:24 → 09:45), 230 (08:44 →
// 10:10) and 332 (08:56 → 10:03).
TEST(Planner, CaltrainSanFranciscoToSanJoseByHand) {
  auto net = Load("caltrain_20160406.zip");
  ASSERT_TRUE(net);
  const int32_t wed = 20160406;
  auto only_trip = [&](const std::vector<Itinerary>& plan) {
    std::vector<std::string> trips;
    for (const Itinerary& it : plan) {
      for (const PlanLeg& l : it.legs) {
        if (l.mode == PlanLeg::Mode::kTransit) trips.push_back(TripId(*net, l));
      }
    }
    return trips;
  };
  // At 08:00 the Baby Bullet 324 is the earliest arrival.
  auto at8 = PlanBetweenStops(*net, "70012", "70262", Local(*net, wed, 8, 0));
  ASSERT_EQ(at8.size(), 1u);
  EXPECT_EQ(at8[0].arrival, Local(*net, wed, 9, 16));
  EXPECT_EQ(at8[0].transfers, 0u);
  EXPECT_EQ(only_trip(at8), std::vector<std::string>{"324"});
  // At 08:20, 324 and 226 are gone: the local 228 arrives at 09:45, before 332 (10:03).
  auto at820 = PlanBetweenStops(*net, "70012", "70262", Local(*net, wed, 8, 20));
  ASSERT_EQ(at820.size(), 1u);
  EXPECT_EQ(at820[0].arrival, Local(*net, wed, 9, 45));
  EXPECT_EQ(only_trip(at820), std::vector<std::string>{"228"});
  // Arriving by 10:05: 332 (leaves 08:56, arrives 10:03) is the latest departure that does;
  // 230 arrives 10:10, too late.
  auto by = PlanBetweenStops(*net, "70012", "70262", Local(*net, wed, 10, 5), /*arrive_by=*/true);
  ASSERT_EQ(by.size(), 1u);
  EXPECT_EQ(only_trip(by), std::vector<std::string>{"332"});
  EXPECT_EQ(by[0].legs.front().departure, Local(*net, wed, 8, 56));
  EXPECT_EQ(by[0].arrival, Local(*net, wed, 10, 3));
  // Saturday has no 324: the weekend timetable applies.
  auto sat = PlanBetweenStops(*net, "70012", "70262", Local(*net, 20160409, 8, 0));
  ASSERT_FALSE(sat.empty());
  EXPECT_NE(only_trip(sat), std::vector<std::string>{"324"});
}

TEST(Departures, AStationsBoardListsItsPlatformsDepartures) {
  auto net = Load("caltrain_20160406.zip");
  ASSERT_TRUE(net);
  auto day = net->Day(20160406);
  ASSERT_TRUE(day.ok());
  // ctsf is the San Francisco station; northbound trains end at 70011, so only 70012 departs.
  auto board = NextDepartures(*net, **day, StopIndex(*net, "ctsf"), Local(*net, 20160406, 8, 0), 3);
  std::vector<std::string> trips;
  for (const Departure& d : board) {
    trips.push_back(net->feed().trips[d.feed_trip].id);
    EXPECT_EQ(net->feed().stops[d.stop].id, "70012");
  }
  EXPECT_EQ(trips, (std::vector<std::string>{"324", "226", "228"}));
  EXPECT_TRUE(NextDepartures(*net, **day, StopIndex(*net, "70011"), Local(*net, 20160406, 8, 0), 3).empty());
}

// ---- On demand (GTFS-Flex) -----------------------------------------------------------------------

// A made-up town (Asia/Seoul): bus line L runs STATION (35.20, 128.80) → MARKET (35.20, 128.86),
// 5.5 km, every 20 min from 07:00, 10 min a ride; an on-demand zone "north" (35.23–35.25 ×
// 128.79–128.81, around no stop but the square's edge) and zone "hub" around STATION
// (35.195–35.205 × 128.795–128.805): the on-demand trip picks up in "north" and drops off at the
// hub's stops between 06:00 and 22:00, booked by phone; a second one runs from the hub to "east"
// (35.19–35.21 × 128.87–128.89, around no stop) in the evening only (18:00–22:00).
std::shared_ptr<TransitNetwork> OnDemandTown() {
  auto square = [](double lat0, double lat1, double lon0, double lon1) {
    return fmt::format("[[[{2},{0}],[{3},{0}],[{3},{1}],[{2},{1}],[{2},{0}]]]", lat0, lat1, lon0, lon1);
  };
  std::string trips = "route_id,service_id,trip_id\nL,ALL,flexN\nL,ALL,flexE\n";
  std::string stop_times =
      "trip_id,arrival_time,departure_time,stop_id,location_id,stop_sequence,pickup_type,drop_off_type,"
      "start_pickup_drop_off_window,end_pickup_drop_off_window,pickup_booking_rule_id,drop_off_booking_rule_id\n"
      "flexN,,,,north,1,2,1,06:00:00,22:00:00,call,call\n"
      "flexN,,,,hub,2,1,2,06:00:00,22:00:00,call,call\n"
      "flexE,,,,hub,1,2,1,18:00:00,22:00:00,call,call\n"
      "flexE,,,,east,2,1,2,18:00:00,22:00:00,call,call\n";
  for (int i = 0; i < 40; ++i) {
    const int dep = 7 * 3600 + i * 1200;
    trips += fmt::format("L,ALL,L{}\n", i);
    stop_times += fmt::format("L{0},{1:02}:{2:02}:00,{1:02}:{2:02}:00,STATION,,1,,,,,,\n", i, dep / 3600, dep / 60 % 60);
    stop_times += fmt::format("L{0},{1:02}:{2:02}:00,{1:02}:{2:02}:00,MARKET,,2,,,,,,\n", i, (dep + 600) / 3600,
                              (dep + 600) / 60 % 60);
  }
  const std::string locations = fmt::format(
      R"({{"type":"FeatureCollection","features":[
        {{"type":"Feature","id":"north","properties":{{"stop_name":"North villages"}},"geometry":{{"type":"Polygon","coordinates":{}}}}},
        {{"type":"Feature","id":"hub","properties":{{"stop_name":"Station square"}},"geometry":{{"type":"Polygon","coordinates":{}}}}},
        {{"type":"Feature","id":"east","properties":{{"stop_name":"East farms"}},"geometry":{{"type":"Polygon","coordinates":{}}}}}]}})",
      square(35.23, 35.25, 128.79, 128.81), square(35.195, 35.205, 128.795, 128.805), square(35.19, 35.21, 128.87, 128.89));
  const std::string path = (std::filesystem::temp_directory_path() / fmt::format("cityhub-ondemand-{}.zip", ::getpid())).string();
  EXPECT_TRUE(gtfs::WriteZip(path, {{"agency.txt", "agency_id,agency_name,agency_url,agency_timezone\nA,Town Bus,https://bus.example,Asia/Seoul\n"},
                                    {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\nSTATION,Station,35.20,128.80\nMARKET,Market,35.20,128.86\n"},
                                    {"routes.txt", "route_id,agency_id,route_short_name,route_type\nL,A,L,3\n"},
                                    {"trips.txt", trips},
                                    {"stop_times.txt", stop_times},
                                    {"calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\nALL,1,1,1,1,1,1,1,20260101,20271231\n"},
                                    {"booking_rules.txt", "booking_rule_id,booking_type,phone_number,message\ncall,0,055-000-0000,Call to book\n"},
                                    {"locations.geojson", locations}})
                  .ok());
  gtfs::ValidationReport report;
  auto feed = gtfs::LoadFeed(path, gtfs::FeedOptions{}, report);
  std::filesystem::remove(path);
  EXPECT_TRUE(feed.ok()) << (feed.ok() ? "" : feed.status().message());
  for (const auto& p : report.problems()) ADD_FAILURE() << p.file << ":" << p.line << " " << p.reason;
  if (!feed.ok()) return nullptr;
  auto net = TransitNetwork::Create(std::move(*feed), NetworkOptions{});
  EXPECT_TRUE(net.ok()) << net.status().message();
  return net.ok() ? *net : nullptr;
}

std::vector<std::string> Modes(const Itinerary& it) {
  std::vector<std::string> out;
  for (const PlanLeg& l : it.legs) {
    out.push_back(l.mode == PlanLeg::Mode::kWalk ? "walk" : l.mode == PlanLeg::Mode::kTransit ? "transit" : "onDemand");
  }
  return out;
}

TEST(PlannerOnDemand, AnOnDemandRideBringsTheTravellerToTheBusAndFromIt) {
  auto net = OnDemandTown();
  ASSERT_TRUE(net);
  ASSERT_NE(net->on_demand(), nullptr);
  const int32_t date = 20260916;
  auto day = net->Day(date);
  ASSERT_TRUE(day.ok());
  Planner planner;
  PlanRequest r;
  r.from_lat = 35.24;  // in "north", 4.5 km from the station: too far to walk
  r.from_lon = 128.80;
  r.to_lat = 35.20;  // the market
  r.to_lon = 128.86;
  r.time = Local(*net, date, 8, 0);
  auto plan = planner.Plan(*net, *day, r);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->size(), 1u);
  const Itinerary& it = (*plan)[0];
  EXPECT_EQ(Modes(it), (std::vector<std::string>{"onDemand", "transit"}));
  const PlanLeg& ride = it.legs[0];
  // 35.24,128.80 → STATION: 4,448 m crow-fly × 1.3 / (25 km/h) = 833 s; the 08:20 bus is the
  // first it makes (08:00 + 833 s = 08:13:53), so the ride leaves as late as it can.
  EXPECT_EQ(ride.arrival - ride.departure, 833);
  EXPECT_EQ(net->feed().stops[ride.to.stop].id, "STATION");
  EXPECT_LE(ride.arrival, Local(*net, date, 8, 20));
  EXPECT_EQ(net->feed().booking_rules[ride.pickup_booking_rule].phone_number, "055-000-0000");
  EXPECT_EQ(net->on_demand()->PlaceOf(ride.pickup_window).id, "north");
  EXPECT_EQ(it.legs[1].departure, Local(*net, date, 8, 20));
  EXPECT_EQ(it.arrival, Local(*net, date, 8, 30));
  EXPECT_EQ(it.transfers, 0u);

  // Before the zone's service starts (05:00) the ride waits for 06:00; the bus starts at 07:00.
  r.time = Local(*net, date, 5, 0);
  plan = planner.Plan(*net, *day, r);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].arrival, Local(*net, date, 7, 10));

  // From the station square to the east farms: the evening service only. At 17:00 the ride
  // waits for 18:00; the market bus is no help (no walk of 1.5 km to the farms).
  r.from_lat = 35.20;
  r.from_lon = 128.80;
  r.to_lat = 35.20;
  r.to_lon = 128.88;
  r.time = Local(*net, date, 17, 0);
  plan = planner.Plan(*net, *day, r);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_FALSE(plan->empty());
  bool direct = false;
  for (const Itinerary& i : *plan) {
    if (Modes(i) == std::vector<std::string>{"onDemand"}) {
      direct = true;
      EXPECT_EQ(i.departure, Local(*net, date, 18, 0));
    }
  }
  EXPECT_TRUE(direct);
  // From the north villages to the east farms at 17:30: two rides, changing at the station
  // square — north → STATION (833 s), then the evening service from 18:00: STATION → 35.20,128.88
  // is 7,272 m × 1.3 / (25 km/h) = 1,362 s, so 18:22:42.
  r.from_lat = 35.24;
  r.from_lon = 128.80;
  r.time = Local(*net, date, 17, 30);
  plan = planner.Plan(*net, *day, r);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ(Modes((*plan)[0]), (std::vector<std::string>{"onDemand", "onDemand"}));
  EXPECT_EQ((*plan)[0].legs[1].departure, Local(*net, date, 18, 0));
  EXPECT_NEAR(static_cast<double>((*plan)[0].arrival - Local(*net, date, 18, 0)), 1362, 1);
  EXPECT_EQ(net->on_demand()->PlaceOf((*plan)[0].legs[1].drop_off_window).id, "east");
  r.from_lat = 35.20;
  r.from_lon = 128.80;
  // After 22:00 nothing runs there.
  r.time = Local(*net, date, 22, 30);
  plan = planner.Plan(*net, *day, r);
  EXPECT_TRUE(!plan.ok() || std::none_of(plan->begin(), plan->end(), [](const Itinerary& i) {
    return std::any_of(i.legs.begin(), i.legs.end(), [](const PlanLeg& l) { return l.mode == PlanLeg::Mode::kOnDemand; });
  }));
}

// ---- Differential tests on real feeds ------------------------------------------------------------

// The day timetable as plain trips, indexed by TripIdx, for the reference search.
routing::testing::Network AsPlainTrips(const routing::Timetable& tt) {
  routing::testing::Network net;
  for (routing::StopIdx s = 0; s < tt.StopCount(); ++s) {
    net.min_transfer.push_back(tt.Stop(s).min_transfer);
    for (const routing::Footpath& f : tt.FootpathsFrom(s)) net.footpaths.emplace_back(s, f.to, f.duration);
  }
  net.trips.resize(tt.TripCount());
  net.accessible.resize(tt.TripCount());
  for (routing::RouteIdx r = 0; r < tt.RouteCount(); ++r) {
    const auto stops = tt.RouteStops(r);
    for (uint32_t t = 0; t < tt.Route(r).trip_count; ++t) {
      const routing::TripIdx trip = tt.TripOf(r, t);
      const auto times = tt.TripTimes(r, t);
      for (size_t p = 0; p < stops.size(); ++p) {
        net.trips[trip].push_back({stops[p], times[p].arrival, times[p].departure});
      }
      net.accessible[trip] = tt.WheelchairAccessible(trip);
    }
  }
  return net;
}

// The departures at which a range query's answer can change: a trip leaving a source stop, or a
// stop one footpath away (minus the walk), within the window; and the window's end.
std::vector<routing::Seconds> ChangePoints(const routing::testing::Network& net, const routing::RaptorQuery& q) {
  std::vector<routing::Seconds> out{q.window_end};
  for (const routing::Access& src : q.sources) {
    std::vector<std::pair<routing::StopIdx, routing::Seconds>> reach{{src.stop, src.duration}};
    for (const auto& [from, to, d] : net.footpaths) {
      if (from == src.stop) reach.emplace_back(to, src.duration + d);
    }
    for (size_t t = 0; t < net.trips.size(); ++t) {
      if (q.wheelchair && !net.accessible[t]) continue;
      for (const routing::TripStop& call : net.trips[t]) {
        for (const auto& [stop, walk] : reach) {
          const routing::Seconds dep = call.departure - walk;
          if (call.stop == stop && dep >= q.departure && dep <= q.window_end) out.push_back(dep);
        }
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct RealFeedCase {
  const char* zip;
  int32_t date;
  int earliest_arrival_queries;
  int range_queries;
};

class RealFeedDifferential : public ::testing::TestWithParam<RealFeedCase> {};

// Random stop-to-stop queries on a real feed's day timetable (three service days, walking
// footpaths within 400 m, minimum transfer times): RAPTOR's earliest arrival for every number of
// trips equals the time-expanded search's, every journey is feasible, and range queries' Pareto
// sets equal the search run at every departure where the answer can change.
TEST_P(RealFeedDifferential, RaptorEqualsTimeExpandedSearch) {
  const RealFeedCase c = GetParam();
  auto net = Load(c.zip);
  ASSERT_TRUE(net);
  auto day = net->Day(c.date);
  ASSERT_TRUE(day.ok());
  const routing::Timetable& tt = (*day)->timetable;
  const routing::testing::Network plain = AsPlainTrips(tt);
  ASSERT_GT(plain.footpaths.size(), 0u);
  std::vector<routing::StopIdx> served;
  for (routing::StopIdx s = 0; s < tt.StopCount(); ++s) {
    if (!tt.RoutesAt(s).empty()) served.push_back(s);
  }
  const routing::testing::TimeExpandedSearch any(plain, false), step_free(plain, true);
  routing::Raptor raptor(tt);
  std::mt19937 rng(c.date);
  auto pick = [&] { return served[std::uniform_int_distribution<size_t>(0, served.size() - 1)(rng)]; };
  const routing::Seconds day_start = (*day)->ToTimetable(net->clock().ServiceDayStartUtc(c.date));
  auto random_query = [&] {
    routing::RaptorQuery q;
    q.sources = {{pick(), 0}};
    q.targets = {{pick(), 0}};
    q.departure = day_start + std::uniform_int_distribution<routing::Seconds>(4 * 3600, 24 * 3600)(rng);
    q.max_transfers = std::uniform_int_distribution<uint32_t>(0, 4)(rng);
    q.wheelchair = std::uniform_int_distribution<int>(0, 4)(rng) == 0;
    return q;
  };
  int reached = 0, with_transfers = 0;
  for (int i = 0; i < c.earliest_arrival_queries; ++i) {
    const routing::RaptorQuery q = random_query();
    auto got = raptor.Route(q);
    ASSERT_TRUE(got.ok()) << got.status().message();
    ASSERT_EQ(got->arrival_by_trips, (q.wheelchair ? step_free : any).EarliestArrival(q)) << c.zip << " query " << i;
    for (const routing::Journey& j : got->journeys) {
      routing::testing::ExpectFeasible(plain, q, j);
      if (j.trips > 1) ++with_transfers;
    }
    if (!got->journeys.empty()) ++reached;
  }
  EXPECT_GE(reached, c.earliest_arrival_queries * 2 / 3);  // most have a journey: not vacuous
  EXPECT_GE(with_transfers, c.earliest_arrival_queries / 10);
  int points = 0;
  for (int i = 0; i < c.range_queries; ++i) {
    routing::RaptorQuery q = random_query();
    q.window_end = q.departure + std::uniform_int_distribution<routing::Seconds>(0, 3600)(rng);
    auto got = raptor.RouteRange(q);
    ASSERT_TRUE(got.ok()) << got.status().message();
    std::vector<routing::testing::ParetoPoint> got_points;
    for (const routing::Journey& j : *got) {
      got_points.emplace_back(j.departure, j.arrival, j.trips);
      routing::testing::ExpectFeasible(plain, q, j);
    }
    std::sort(got_points.begin(), got_points.end());
    const auto& search = q.wheelchair ? step_free : any;
    ASSERT_EQ(got_points, routing::testing::BruteForceRange(search, q, ChangePoints(plain, q)))
        << c.zip << " range query " << i;
    points += static_cast<int>(got_points.size());
  }
  EXPECT_GE(points, c.range_queries);  // windows hold journeys
}

// BART on Thursday 2016-12-29 (the day of its GTFS-RT file); Heidelberg on a weekday of its feed.
INSTANTIATE_TEST_SUITE_P(Feeds, RealFeedDifferential,
                         ::testing::Values(RealFeedCase{"bart_2016.zip", 20161229, 1000, 200},
                                           RealFeedCase{"HD_GTFS.zip", 20210929, 500, 100}));

}  // namespace
}  // namespace cityhub::mobility::network
