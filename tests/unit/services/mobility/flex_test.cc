// GTFS-Flex: the published examples (CITYHUB_SHARED/data/gtfs-flex) load with their zones,
// booking rules and windows, hand-checked points get (or do not get) their on-demand service,
// polygons agree with Boost.Geometry, built feeds check the window arithmetic, and bad input is
// reported with file, line or feature and reason.
#include "services/mobility/flex/on_demand.h"
#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/feed_snapshot.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <boost/geometry.hpp>

#include <algorithm>
#include <cmath>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "scratch.h"

namespace cityhub::mobility::flex {
namespace {

namespace fs = std::filesystem;
namespace bg = boost::geometry;
using gtfs::Feed;
using gtfs::Problem;
using gtfs::ValidationReport;
using test_support::Files;
using S = Problem::Severity;

constexpr int32_t H = 3600;
constexpr int32_t M = 60;

std::string SharedFlex(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/gtfs-flex/" + name;
}

// Writes `files` into a fresh zip (stored uncompressed when `store`, which is quicker for large
// test members) and returns its path.
std::string WriteZip(const std::string& name, const Files& files, bool store = false) {
  return test_support::WriteTestZip(test_support::ScratchDir("cityhub_flex_test"), name, files, store);
}

// All members of a zip, read whole (test helper, independent of ZipArchive).
Files ReadAll(const std::string& zip_path) {
  Files files;
  int error = 0;
  zip_t* z = zip_open(zip_path.c_str(), ZIP_RDONLY, &error);
  if (z == nullptr) return files;
  for (zip_int64_t i = 0; i < zip_get_num_entries(z, 0); ++i) {
    std::string out;
    if (zip_file_t* f = zip_fopen_index(z, i, 0)) {
      char buf[4096];
      for (zip_int64_t n; (n = zip_fread(f, buf, sizeof buf)) > 0;) out.append(buf, n);
      zip_fclose(f);
    }
    files[zip_get_name(z, i, 0)] = std::move(out);
  }
  zip_discard(z);
  return files;
}

struct Loaded {
  Result<Feed> feed;
  ValidationReport report;
};

Loaded Load(const std::string& path, gtfs::FeedOptions options = {}) {
  ValidationReport report;
  Result<Feed> feed = gtfs::LoadFeed(path, options, report);
  return {std::move(feed), std::move(report)};
}

std::string Describe(const ValidationReport& report) {
  std::string out;
  for (const Problem& p : report.problems()) {
    out += p.file + ":" + std::to_string(p.line) + " [" + p.field + "] " + p.reason + "\n";
  }
  return out;
}

bool HasProblem(const ValidationReport& report, std::string_view file, uint64_t line,
                std::string_view field, std::string_view reason_part, S severity = S::kSkipped) {
  for (const Problem& p : report.problems()) {
    if (p.file == file && p.line == line && p.field == field && p.severity == severity &&
        p.reason.find(reason_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

OnDemandIndex IndexOf(const Feed& feed, OnDemandOptions options = {}) {
  Result<OnDemandIndex> index = OnDemandIndex::Build(feed, options);
  EXPECT_TRUE(index.ok()) << index.status().message();
  return std::move(index).value();
}

std::set<std::string> TripIdsOf(const Feed& feed, const std::vector<FlexService>& services) {
  std::set<std::string> ids;
  for (const FlexService& s : services) ids.insert(feed.flex_trips[s.flex_trip].id);
  return ids;
}

std::set<std::string> StopIdsOf(const Feed& feed, const std::vector<OnDemandLeg>& legs) {
  std::set<std::string> ids;
  for (const OnDemandLeg& leg : legs) ids.insert(feed.stops[leg.stop].id);
  return ids;
}

// Data rows of a simple CSV file (no quoted commas) whose `column` is not empty.
size_t CountRowsWith(const std::string& text, const std::string& column) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream names(line);
  for (std::string name; std::getline(names, name, ',');) header.push_back(name);
  size_t index = std::find(header.begin(), header.end(), column) - header.begin();
  size_t count = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    if (index < fields.size() && !fields[index].empty() && fields[index] != "\r") ++count;
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// The published examples.

TEST(FlexExamplesTest, OnDemandServiceAspenDowntowner) {
  Loaded loaded = Load(SharedFlex("FlexExample--on-demand-service.zip"));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message() << Describe(loaded.report);
  const Feed& feed = loaded.feed.value();
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);
  // locations.geojson: one Polygon "area_294" of 113 positions, properties {}.
  ASSERT_EQ(feed.zones.size(), 1u);
  EXPECT_EQ(feed.zones[0].id, "area_294");
  ASSERT_EQ(feed.zones[0].polygons.size(), 1u);
  ASSERT_EQ(feed.zones[0].polygons[0].rings.size(), 1u);
  EXPECT_EQ(feed.zones[0].polygons[0].rings[0].size(), 113u);
  EXPECT_DOUBLE_EQ(feed.zones[0].polygons[0].rings[0][0].lon, -106.8313489);
  EXPECT_DOUBLE_EQ(feed.zones[0].polygons[0].rings[0][0].lat, 39.1981031);
  // The only trip is on demand: no regular trip, one flex trip with its two rows.
  EXPECT_TRUE(feed.trips.empty());
  ASSERT_EQ(feed.flex_trips.size(), 1u);
  EXPECT_EQ(feed.flex_trips[0].id, "t_1854078_b_29084_tn_0");
  ASSERT_EQ(feed.flex_windows.size(), 2u);
  const gtfs::FlexWindow& pickup = feed.flex_windows[0];
  EXPECT_EQ(pickup.window_start, 11 * H);
  EXPECT_EQ(pickup.window_end, 23 * H);
  EXPECT_TRUE(pickup.allows_pickup());
  EXPECT_FALSE(pickup.allows_drop_off());
  EXPECT_FALSE(feed.flex_windows[1].allows_pickup());
  EXPECT_TRUE(feed.flex_windows[1].allows_drop_off());
  ASSERT_EQ(feed.booking_rules.size(), 1u);
  const gtfs::BookingRule& rule = feed.booking_rules[0];
  EXPECT_EQ(rule.id, "booking_route_17102");
  EXPECT_EQ(rule.type, gtfs::BookingType::kRealTime);
  EXPECT_EQ(rule.phone_number, "877-230-6045");
  EXPECT_EQ(rule.info_url, "https://www.cityofaspen.com/270/Downtowner");
  EXPECT_NE(rule.message.find("Downtowner Android/iOS mobile app"), std::string::npos);
  EXPECT_EQ(pickup.pickup_booking_rule, 0u);

  OnDemandIndex index = IndexOf(feed);
  const LatLon wagner_park{39.1895, -106.8185};  // downtown Aspen
  const LatLon rio_grande_park{39.1911, -106.8175};
  const LatLon denver{39.74, -104.99};
  const int32_t wednesday = 20220601;  // service runs daily 2022-04-14 .. 2022-11-23
  auto services = index.PickupServicesAt(wagner_park, wednesday, {12 * H, 12 * H + 30 * M});
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0].window, 0u);
  EXPECT_EQ(index.PlaceOf(services[0].window).id, "area_294");
  EXPECT_EQ(index.DropOffServicesAt(wagner_park, wednesday, {12 * H, 13 * H}).size(), 1u);
  EXPECT_TRUE(index.PickupServicesAt(denver, wednesday, {12 * H, 13 * H}).empty());
  // Outside the 11:00-23:00 window, and on days without service: nothing.
  EXPECT_TRUE(index.PickupServicesAt(wagner_park, wednesday, {8 * H, 10 * H + 59 * M}).empty());
  EXPECT_EQ(index.PickupServicesAt(wagner_park, wednesday, {23 * H, 23 * H}).size(), 1u);  // ends count
  EXPECT_EQ(index.PickupServicesAt(wagner_park, wednesday, {8 * H, 11 * H}).size(), 1u);
  EXPECT_TRUE(index.PickupServicesAt(wagner_park, wednesday, {23 * H + 1, 24 * H}).empty());
  EXPECT_TRUE(index.PickupServicesAt(wagner_park, 20221124, {12 * H, 13 * H}).empty());
  EXPECT_TRUE(index.PickupServicesAt(wagner_park, 20220413, {12 * H, 13 * H}).empty());

  // Within the zone, the whole journey can be made on demand, with the Downtowner's rule.
  auto direct = index.DirectLegs(wagner_park, rio_grande_park, wednesday, {12 * H, 13 * H});
  ASSERT_EQ(direct.size(), 1u);
  EXPECT_EQ(direct[0].pickup_booking_rule, 0u);
  EXPECT_EQ(direct[0].drop_off_booking_rule, 0u);
  EXPECT_EQ(direct[0].earliest_departure, 12 * H);
  EXPECT_EQ(direct[0].latest_departure, 13 * H);
  EXPECT_EQ(direct[0].stop, gtfs::kNoIndex);
  EXPECT_GT(direct[0].ride_seconds, 0);
  EXPECT_TRUE(index.DirectLegs(wagner_park, denver, wednesday, {12 * H, 13 * H}).empty());
  // The feed has no stops, so there is no leg to or from a stop.
  EXPECT_TRUE(index.AccessLegs(wagner_park, wednesday, {12 * H, 13 * H}).empty());
}

TEST(FlexExamplesTest, SameDayServiceCrippleCreekWeekdayAndWeekend) {
  Loaded loaded = Load(SharedFlex("FlexExample--same-day-service.zip"));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);
  ASSERT_EQ(feed.zones.size(), 1u);
  EXPECT_EQ(feed.zones[0].polygons[0].rings[0].size(), 354u);
  ASSERT_EQ(feed.booking_rules.size(), 1u);
  EXPECT_EQ(feed.booking_rules[0].type, gtfs::BookingType::kSameDay);
  EXPECT_EQ(feed.booking_rules[0].prior_notice_duration_min, 20);
  EXPECT_EQ(feed.booking_rules[0].phone_number, "719-689-7711");
  ASSERT_EQ(feed.flex_trips.size(), 2u);
  EXPECT_EQ(feed.flex_windows.size(), 4u);

  OnDemandIndex index = IndexOf(feed);
  const LatLon cripple_creek{38.7466, -105.1783};
  const LatLon colorado_springs{38.8339, -104.8214};
  const std::string weekday_trip = "t_1912057_b_78157_tn_0";  // 07:00-19:00, Monday-Friday
  const std::string weekend_trip = "t_1912056_b_78157_tn_0";  // 07:45-16:45, weekends
  const int32_t wednesday = 20221019, saturday = 20221022;
  EXPECT_EQ(TripIdsOf(feed, index.PickupServicesAt(cripple_creek, wednesday, {18 * H, 18 * H})),
            std::set<std::string>{weekday_trip});
  EXPECT_TRUE(index.PickupServicesAt(cripple_creek, saturday, {18 * H, 18 * H}).empty());
  EXPECT_EQ(TripIdsOf(feed, index.PickupServicesAt(cripple_creek, saturday, {8 * H, 8 * H})),
            std::set<std::string>{weekend_trip});
  EXPECT_TRUE(index.PickupServicesAt(cripple_creek, saturday, {7 * H, 7 * H + 44 * M}).empty());
  EXPECT_TRUE(index.PickupServicesAt(colorado_springs, wednesday, {8 * H, 18 * H}).empty());
  EXPECT_TRUE(index.PickupServicesAt(cripple_creek, 20230515, {8 * H, 9 * H}).empty());  // ended
}

TEST(FlexExamplesTest, VariousBrocktonZonesDeviatedRouteAndAreas) {
  const std::string path = SharedFlex("FlexExample--various.zip");
  Loaded loaded = Load(path);
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  Files files = ReadAll(path);
  EXPECT_EQ(feed.zones.size(), 17u);
  // Every row with a window is a flex window (counted here from the file).
  EXPECT_EQ(feed.flex_windows.size(),
            CountRowsWith(files["stop_times.txt"], "start_pickup_drop_off_window"));
  for (const Problem& p : loaded.report.problems()) {
    EXPECT_NE(p.file, "locations.geojson") << Describe(loaded.report);
    EXPECT_NE(p.file, "booking_rules.txt") << Describe(loaded.report);
    EXPECT_EQ(p.reason.find("unknown stop_id"), std::string::npos) << Describe(loaded.report);
  }
  // The draft's areas group zones: 2751431 "ADA + Stoughton" is area_263 and area_408.
  const gtfs::LocationGroup& ada =
      feed.location_groups[feed.location_group_by_id.at("2751431")];
  EXPECT_EQ(ada.name, "ADA + Stoughton");
  ASSERT_EQ(ada.zones.size(), 2u);
  EXPECT_EQ(feed.zones[ada.zones[0]].id, "area_263");
  EXPECT_EQ(feed.zones[ada.zones[1]].id, "area_408");
  // Booking rule of the deviated route: book by 1 day before.
  const gtfs::BookingRule& rockland = feed.booking_rules[feed.booking_rule_by_id.at("booking_route_2947")];
  EXPECT_EQ(rockland.type, gtfs::BookingType::kPriorDays);
  EXPECT_EQ(rockland.prior_notice_last_day, 1);
  EXPECT_NE(rockland.pickup_message.find("deviated pickup"), std::string::npos);

  // The deviated route keeps its 7 timed stops as a regular trip and has 4 flex windows.
  const std::string deviated = "t_1343475_b_29144_tn_0";
  ASSERT_TRUE(feed.trip_by_id.contains(deviated));
  EXPECT_EQ(feed.trips[feed.trip_by_id.at(deviated)].stop_time_count, 7u);
  ASSERT_TRUE(feed.flex_trip_by_id.contains(deviated));
  // A trip with windows only is on demand, not a regular trip.
  EXPECT_FALSE(feed.trip_by_id.contains("t_1442937_b_29144_tn_0"));
  EXPECT_TRUE(feed.flex_trip_by_id.contains("t_1442937_b_29144_tn_0"));

  OnDemandIndex index = IndexOf(feed);
  const int32_t wednesday = 20221019;
  // Ocean State Job Lot (stop 800057), near the Rockland Flex route: the deviation zone
  // between stops 800056 and 800057 picks up 08:45-08:50:06 on weekdays.
  const gtfs::Stop& job_lot = feed.stops[feed.stop_by_id.at("800057")];
  auto services = index.PickupServicesAt({job_lot.lat, job_lot.lon}, wednesday, {8 * H + 46 * M, 8 * H + 46 * M});
  std::set<std::string> zones;
  for (const FlexService& s : services) {
    EXPECT_EQ(feed.flex_trips[s.flex_trip].id, deviated);
    zones.insert(std::string(index.PlaceOf(s.window).id));
    EXPECT_EQ(feed.flex_windows[s.window].pickup_booking_rule, feed.booking_rule_by_id.at("booking_route_2947"));
  }
  EXPECT_EQ(zones, std::set<std::string>{"radius_1207_s_800056_s_800057"});
  // Its access legs reach the timed stops inside the later deviation zones of the same trip.
  auto legs = index.AccessLegs({job_lot.lat, job_lot.lon}, wednesday, {8 * H + 45 * M, 9 * H});
  std::set<std::string> reached = StopIdsOf(feed, legs);
  EXPECT_TRUE(reached.contains("800058")) << legs.size();
  EXPECT_TRUE(reached.contains("810903"));
  for (const OnDemandLeg& leg : legs) {
    EXPECT_EQ(feed.flex_trips[leg.flex_trip].id, deviated);
    const gtfs::FlexWindow& down = feed.flex_windows[leg.drop_off_window];
    EXPECT_LE(leg.earliest_departure + leg.ride_seconds, down.window_end);
    EXPECT_GE(leg.earliest_departure + leg.ride_seconds, down.window_start);
  }
  // Sunday: the Rockland Flex does not run.
  EXPECT_TRUE(index.AccessLegs({job_lot.lat, job_lot.lon}, 20221023, {8 * H, 10 * H}).empty());

  // Stop and Shop (807886) lies in area_263: on a Saturday 17:30-21:15 trip t_1442982 picks up
  // there and drops off in the same zone; through the ADA + Stoughton area (area_263 and
  // area_408) also 07:20-17:30.
  const gtfs::Stop& shop = feed.stops[feed.stop_by_id.at("807886")];
  const int32_t saturday = 20221022;
  EXPECT_EQ(TripIdsOf(feed, index.PickupServicesAt({shop.lat, shop.lon}, saturday, {18 * H, 18 * H})),
            std::set<std::string>{"t_1442982_b_29144_tn_0"});
  auto ada_services = index.PickupServicesAt({shop.lat, shop.lon}, saturday, {10 * H, 10 * H});
  ASSERT_EQ(ada_services.size(), 1u);
  EXPECT_EQ(index.PlaceOf(ada_services[0].window).id, "2751431");
}

// Every zone of the examples answers "inside?" as Boost.Geometry does, at random points in and
// around it (on valid polygons; a point exactly on an edge has probability zero).
TEST(FlexExamplesTest, ZoneContainsAgreesWithBoostGeometry) {
  using Point = bg::model::d2::point_xy<double>;
  using Polygon = bg::model::polygon<Point>;
  size_t checked = 0, inside = 0;
  for (const char* name : {"FlexExample--on-demand-service.zip", "FlexExample--same-day-service.zip",
                           "FlexExample--various.zip"}) {
    Loaded loaded = Load(SharedFlex(name));
    ASSERT_TRUE(loaded.feed.ok());
    std::mt19937 random(7);
    for (const gtfs::FlexZone& zone : loaded.feed.value().zones) {
      std::vector<Polygon> polygons;
      for (const gtfs::FlexPolygon& p : zone.polygons) {
        Polygon polygon;
        for (size_t r = 0; r < p.rings.size(); ++r) {
          auto& ring = r == 0 ? polygon.outer() : (polygon.inners().emplace_back(), polygon.inners().back());
          for (const LatLon& v : p.rings[r]) ring.push_back(Point(v.lon, v.lat));
        }
        bg::correct(polygon);
        ASSERT_TRUE(bg::is_valid(polygon)) << zone.id;
        polygons.push_back(polygon);
      }
      double dlat = zone.max.lat - zone.min.lat, dlon = zone.max.lon - zone.min.lon;
      std::uniform_real_distribution<double> lat(zone.min.lat - dlat / 4, zone.max.lat + dlat / 4);
      std::uniform_real_distribution<double> lon(zone.min.lon - dlon / 4, zone.max.lon + dlon / 4);
      for (int i = 0; i < 2000; ++i) {
        LatLon p{lat(random), lon(random)};
        bool expected = std::any_of(polygons.begin(), polygons.end(), [&](const Polygon& polygon) {
          return bg::within(Point(p.lon, p.lat), polygon);
        });
        ASSERT_EQ(OnDemandIndex::ZoneContains(zone, p), expected)
            << zone.id << " at " << p.lat << "," << p.lon;
        ++checked;
        inside += expected;
      }
    }
  }
  EXPECT_EQ(checked, 19u * 2000u);
  EXPECT_GT(inside, checked / 10);  // the points are not all outside
}

// Reading Flex must not change the regular part of a feed: the various example read with and
// without its Flex files gives the same trips and stop times.
TEST(FlexExamplesTest, RegularTripsAreTheSameWithoutTheFlexFiles) {
  const std::string path = SharedFlex("FlexExample--various.zip");
  Files files = ReadAll(path);
  for (const char* flex_file : {"locations.geojson", "booking_rules.txt", "areas.txt", "stop_areas.txt"}) {
    ASSERT_EQ(files.erase(flex_file), 1u) << flex_file;
  }
  Loaded with = Load(path);
  Loaded without = Load(WriteZip("various_without_flex.zip", files));
  ASSERT_TRUE(with.feed.ok() && without.feed.ok());
  const Feed& a = with.feed.value();
  const Feed& b = without.feed.value();
  ASSERT_EQ(a.trips.size(), b.trips.size());
  for (size_t t = 0; t < a.trips.size(); ++t) {
    ASSERT_EQ(a.trips[t].id, b.trips[t].id);
    ASSERT_EQ(a.trips[t].first_stop_time, b.trips[t].first_stop_time);
    ASSERT_EQ(a.trips[t].stop_time_count, b.trips[t].stop_time_count);
  }
  ASSERT_EQ(a.stop_times.size(), b.stop_times.size());
  for (size_t i = 0; i < a.stop_times.size(); ++i) {
    ASSERT_EQ(a.stop_times[i].stop, b.stop_times[i].stop);
    ASSERT_EQ(a.stop_times[i].arrival, b.stop_times[i].arrival);
    ASSERT_EQ(a.stop_times[i].departure, b.stop_times[i].departure);
  }
  EXPECT_TRUE(b.flex_windows.empty());
  EXPECT_GT(a.flex_windows.size(), 0u);
}

// A feed snapshot keeps the Flex records: the various example read back answers as before.
TEST(FlexExamplesTest, SnapshotKeepsZonesRulesAndWindows) {
  Loaded loaded = Load(SharedFlex("FlexExample--various.zip"));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  const std::string file = (fs::temp_directory_path() / "cityhub_flex_test.snapshot").string();
  ASSERT_TRUE(gtfs::WriteFeedSnapshot(feed, file).ok());
  Result<Feed> back = gtfs::ReadFeedSnapshot(file);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->zones.size(), feed.zones.size());
  for (size_t z = 0; z < feed.zones.size(); ++z) {
    EXPECT_EQ(back->zones[z].id, feed.zones[z].id);
    ASSERT_EQ(back->zones[z].polygons.size(), feed.zones[z].polygons.size());
    EXPECT_EQ(back->zones[z].polygons[0].rings[0].size(), feed.zones[z].polygons[0].rings[0].size());
    EXPECT_EQ(back->zones[z].max.lat, feed.zones[z].max.lat);
    EXPECT_EQ(back->zone_by_id.at(feed.zones[z].id), z);
  }
  ASSERT_EQ(back->location_groups.size(), feed.location_groups.size());
  EXPECT_EQ(back->location_groups[0].zones, feed.location_groups[0].zones);
  ASSERT_EQ(back->booking_rules.size(), feed.booking_rules.size());
  EXPECT_EQ(back->booking_rules[0].message, feed.booking_rules[0].message);
  EXPECT_EQ(back->booking_rules[0].prior_notice_last_day, feed.booking_rules[0].prior_notice_last_day);
  ASSERT_EQ(back->flex_trips.size(), feed.flex_trips.size());
  EXPECT_EQ(back->flex_trip_by_id.at("t_1442937_b_29144_tn_0"), feed.flex_trip_by_id.at("t_1442937_b_29144_tn_0"));
  ASSERT_EQ(back->flex_windows.size(), feed.flex_windows.size());
  for (size_t w = 0; w < feed.flex_windows.size(); ++w) {
    EXPECT_EQ(back->flex_windows[w].place, feed.flex_windows[w].place);
    EXPECT_EQ(back->flex_windows[w].window_end, feed.flex_windows[w].window_end);
    EXPECT_EQ(back->flex_windows[w].pickup_booking_rule, feed.flex_windows[w].pickup_booking_rule);
  }
  OnDemandIndex before = IndexOf(feed);
  OnDemandIndex after = IndexOf(back.value());
  const gtfs::Stop& shop = feed.stops[feed.stop_by_id.at("807886")];
  auto a = before.AccessLegs({shop.lat, shop.lon}, 20221022, {7 * H, 22 * H});
  auto b = after.AccessLegs({shop.lat, shop.lon}, 20221022, {7 * H, 22 * H});
  ASSERT_EQ(a.size(), b.size());
  EXPECT_GT(a.size(), 100u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].stop, b[i].stop);
    EXPECT_EQ(a[i].earliest_departure, b[i].earliest_departure);
    EXPECT_EQ(a[i].ride_seconds, b[i].ride_seconds);
  }
  fs::remove(file);
}

// ---------------------------------------------------------------------------------------------
// Built feeds.

// A square [lat0, lat1] × [lon0, lon1] as a GeoJSON ring (closed, counter-clockwise).
std::string Ring(double lat0, double lat1, double lon0, double lon1) {
  std::ostringstream out;
  out.precision(10);
  out << "[[" << lon0 << "," << lat0 << "],[" << lon1 << "," << lat0 << "],[" << lon1 << ","
      << lat1 << "],[" << lon0 << "," << lat1 << "],[" << lon0 << "," << lat0 << "]]";
  return out.str();
}

std::string Feature(const std::string& id, const std::string& geometry,
                    const std::string& properties = R"({"stop_name":"Zone"})") {
  return R"({"type":"Feature","id":")" + id + R"(","properties":)" + properties +
         R"(,"geometry":)" + geometry + "}";
}

std::string Collection(const std::vector<std::string>& features) {
  std::string out = R"({"type":"FeatureCollection","features":[)";
  for (size_t i = 0; i < features.size(); ++i) out += (i ? "," : "") + features[i];
  return out + "]}";
}

// Zone Z: a MultiPolygon of a square with a square hole, and a second square further north.
const std::string kZoneZ = Feature(
    "Z",
    R"({"type":"MultiPolygon","coordinates":[[)" + Ring(35.20, 35.30, 128.80, 128.90) + "," +
        Ring(35.24, 35.26, 128.84, 128.86) + "],[" + Ring(35.40, 35.45, 128.80, 128.85) + "]]}",
    R"({"stop_name":"Gimhae DRT","stop_desc":"north and south"})");

// Gimhae-like flex feed: DRT1 rides within zone Z 08:00-10:00 on weekdays; DRT2 picks up in Z
// 08:00-08:30 and drops off at the stops of group G 09:00-09:30; BUS is a regular trip.
Files FlexFeed() {
  return {
      {"agency.txt", "agency_id,agency_name,agency_url,agency_timezone\nA,Gimhae,http://x,Asia/Seoul\n"},
      {"stops.txt",
       "stop_id,stop_name,stop_lat,stop_lon,location_type\n"
       "IN1,South,35.21,128.81,0\nIN2,North,35.42,128.82,0\nHOLE,Hole,35.25,128.85,0\n"
       "OUT,Far,35.52,128.81,0\nSTATION,Station,35.22,128.83,1\n"},
      {"routes.txt", "route_id,agency_id,route_short_name,route_type\nR,A,1,3\nD,A,DRT,3\n"},
      {"calendar.txt",
       "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
       "WK,1,1,1,1,1,0,0,20260101,20261231\n"},
      {"trips.txt", "route_id,service_id,trip_id\nR,WK,BUS\nD,WK,DRT1\nD,WK,DRT2\n"},
      {"stop_times.txt",
       "trip_id,arrival_time,departure_time,stop_id,location_id,location_group_id,stop_sequence,"
       "pickup_type,drop_off_type,start_pickup_drop_off_window,end_pickup_drop_off_window,"
       "pickup_booking_rule_id,drop_off_booking_rule_id\n"
       "BUS,08:00:00,08:00:00,IN1,,,1,0,0,,,,\n"
       "BUS,08:30:00,08:30:00,OUT,,,2,0,0,,,,\n"
       "DRT1,,,,Z,,1,2,1,08:00:00,10:00:00,BR1,\n"
       "DRT1,,,,Z,,2,1,2,08:00:00,10:00:00,,BR1\n"
       "DRT2,,,,Z,,1,2,1,08:00:00,08:30:00,BR1,\n"
       "DRT2,,,,,G,2,1,2,09:00:00,09:30:00,,BR2\n"},
      {"locations.geojson", Collection({kZoneZ})},
      {"location_groups.txt", "location_group_id,location_group_name\nG,Far stops\n"},
      {"location_group_stops.txt", "location_group_id,stop_id\nG,OUT\n"},
      {"booking_rules.txt",
       "booking_rule_id,booking_type,prior_notice_duration_min,prior_notice_last_day,message,"
       "phone_number,info_url,booking_url\n"
       "BR1,1,30,,Call ahead,055-000-0000,http://info,http://book\n"
       "BR2,2,,1,A day ahead,055-111-1111,,\n"},
  };
}

constexpr int32_t kWednesday = 20260107;
constexpr int32_t kSaturday = 20260110;
// Vehicle at 10 m/s with no detour, so a ride along a meridian is easy to check by hand:
// 0.01° of latitude is 6,371,008.8 m × π / 180 × 0.01 = 1,111.95 m, i.e. 112 s rounded up.
constexpr OnDemandOptions kTenMetresPerSecond{.detour_factor = 1.0, .speed_m_per_s = 10.0};

TEST(FlexFeedTest, BuiltFeedReadsZonesGroupsRulesAndWindows) {
  Loaded loaded = Load(WriteZip("flex.zip", FlexFeed()));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);
  ASSERT_EQ(feed.zones.size(), 1u);
  const gtfs::FlexZone& z = feed.zones[0];
  EXPECT_EQ(z.name, "Gimhae DRT");
  EXPECT_EQ(z.description, "north and south");
  ASSERT_EQ(z.polygons.size(), 2u);
  EXPECT_EQ(z.polygons[0].rings.size(), 2u);  // boundary and hole
  EXPECT_DOUBLE_EQ(z.min.lat, 35.20);
  EXPECT_DOUBLE_EQ(z.max.lat, 35.45);
  EXPECT_DOUBLE_EQ(z.max.lon, 128.90);
  ASSERT_EQ(feed.location_groups.size(), 1u);
  EXPECT_EQ(feed.location_groups[0].stops, std::vector<uint32_t>{feed.stop_by_id.at("OUT")});
  ASSERT_EQ(feed.booking_rules.size(), 2u);
  EXPECT_EQ(feed.booking_rules[0].booking_url, "http://book");
  EXPECT_EQ(feed.booking_rules[1].prior_notice_last_day, 1);
  // BUS stays a regular trip; DRT1 and DRT2 are on demand only.
  ASSERT_EQ(feed.trips.size(), 1u);
  EXPECT_EQ(feed.trips[0].id, "BUS");
  ASSERT_EQ(feed.flex_trips.size(), 2u);
  EXPECT_EQ(feed.flex_trips[1].id, "DRT2");
  EXPECT_EQ(feed.flex_trips[1].route, feed.route_by_id.at("D"));
  ASSERT_EQ(feed.flex_windows.size(), 4u);
  const gtfs::FlexWindow& g = feed.flex_windows[3];
  EXPECT_EQ(g.flex_trip, 1u);
  EXPECT_EQ(g.place_kind, gtfs::FlexPlaceKind::kLocationGroup);
  EXPECT_EQ(g.window_start, 9 * H);
  EXPECT_EQ(g.drop_off_booking_rule, 1u);
  EXPECT_EQ(g.line, 7u);
}

TEST(FlexFeedTest, MultiPolygonWithHoleDecidesWhoIsServed) {
  Loaded loaded = Load(WriteZip("flex.zip", FlexFeed()));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  OnDemandIndex index = IndexOf(feed);
  const TimeWindow morning{8 * H, 9 * H};
  auto served = [&](LatLon p) { return TripIdsOf(feed, index.PickupServicesAt(p, kWednesday, morning)); };
  const std::set<std::string> both{"DRT1", "DRT2"};
  EXPECT_EQ(served({35.22, 128.82}), both);   // south square
  EXPECT_EQ(served({35.43, 128.84}), both);   // north square (second polygon)
  EXPECT_TRUE(served({35.25, 128.85}).empty());   // in the hole
  EXPECT_TRUE(served({35.35, 128.82}).empty());   // between the squares
  EXPECT_TRUE(served({35.22, 128.95}).empty());   // east of the zone
  EXPECT_TRUE(served({35.43, 128.87}).empty());   // inside the bounding box, outside both squares
  // Stops inside Z: IN1 and IN2, not the one in the hole, not the far one, not the station.
  std::vector<std::string> in_zone;
  for (uint32_t s : index.StopsOf(0)) in_zone.push_back(feed.stops[s].id);
  EXPECT_EQ(in_zone, (std::vector<std::string>{"IN1", "IN2"}));
  // Drop-off in Z is the second row of DRT1 only (DRT2 drops off at group G).
  auto drop = index.DropOffServicesAt({35.22, 128.82}, kWednesday, morning);
  ASSERT_EQ(drop.size(), 1u);
  EXPECT_EQ(drop[0].window, 1u);
}

TEST(FlexFeedTest, AccessLegsToStopsInTheZoneWithWindowArithmetic) {
  Loaded loaded = Load(WriteZip("flex.zip", FlexFeed()));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  OnDemandIndex index = IndexOf(feed, kTenMetresPerSecond);
  const LatLon origin{35.22, 128.81};  // 0.01° north of IN1, 0.30° south of OUT
  auto legs = index.AccessLegs(origin, kWednesday, {8 * H, 9 * H});
  // DRT1 reaches IN1 and IN2 (both in Z); DRT2 reaches OUT (group G).
  ASSERT_EQ(legs.size(), 3u);
  EXPECT_EQ(StopIdsOf(feed, legs), (std::set<std::string>{"IN1", "IN2", "OUT"}));
  for (const OnDemandLeg& leg : legs) {
    const std::string& stop = feed.stops[leg.stop].id;
    if (stop == "IN1") {
      EXPECT_EQ(feed.flex_trips[leg.flex_trip].id, "DRT1");
      EXPECT_EQ(leg.ride_seconds, 112);
      EXPECT_EQ(leg.earliest_departure, 8 * H);
      EXPECT_EQ(leg.latest_departure, 9 * H);
      EXPECT_EQ(feed.booking_rules[leg.pickup_booking_rule].id, "BR1");
      EXPECT_EQ(feed.booking_rules[leg.drop_off_booking_rule].id, "BR1");
    } else if (stop == "OUT") {
      // 0.30° = 33,358.5 m: 3,336 s. Drop-off 09:00-09:30, so leave no earlier than
      // 09:00 − 3,336 s = 08:04:24 and no later than the pickup window's 08:30.
      EXPECT_EQ(feed.flex_trips[leg.flex_trip].id, "DRT2");
      EXPECT_EQ(leg.ride_seconds, 3336);
      EXPECT_EQ(leg.earliest_departure, 9 * H - 3336);
      EXPECT_EQ(leg.latest_departure, 8 * H + 30 * M);
      EXPECT_EQ(feed.booking_rules[leg.drop_off_booking_rule].id, "BR2");
    }
  }
  // Near the end of DRT1's window: a leg to IN1 must arrive by 10:00, so leave by 09:58:08.
  auto late = index.AccessLegs(origin, kWednesday, {9 * H + 58 * M, 10 * H + 30 * M});
  std::vector<OnDemandLeg> to_in1;
  for (const OnDemandLeg& leg : late) {
    if (feed.stops[leg.stop].id == "IN1") to_in1.push_back(leg);
  }
  ASSERT_EQ(to_in1.size(), 1u);
  EXPECT_EQ(to_in1[0].earliest_departure, 9 * H + 58 * M);
  EXPECT_EQ(to_in1[0].latest_departure, 10 * H - 112);
  EXPECT_TRUE(index.AccessLegs(origin, kWednesday, {9 * H + 59 * M, 10 * H + 30 * M}).size() <
              late.size());
  // The last second it can leave gives a leg of that one departure; a second later, none.
  const int32_t last = 10 * H - 112;
  auto at_last = index.AccessLegs(origin, kWednesday, {last, last});
  ASSERT_EQ(at_last.size(), 1u);
  EXPECT_EQ(at_last[0].earliest_departure, last);
  EXPECT_EQ(at_last[0].latest_departure, last);
  EXPECT_EQ(at_last[0].earliest_arrival(), 10 * H);
  EXPECT_TRUE(index.AccessLegs(origin, kWednesday, {last + 1, last + 1}).empty());
  // Outside the windows, on a Saturday, or from outside the zone: nothing.
  EXPECT_TRUE(index.AccessLegs(origin, kWednesday, {10 * H + 1, 12 * H}).empty());
  EXPECT_TRUE(index.AccessLegs(origin, kSaturday, {8 * H, 9 * H}).empty());
  EXPECT_TRUE(index.AccessLegs({35.25, 128.85}, kWednesday, {8 * H, 9 * H}).empty());
}

TEST(FlexFeedTest, EgressAndDirectLegs) {
  Loaded loaded = Load(WriteZip("flex.zip", FlexFeed()));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  OnDemandIndex index = IndexOf(feed, kTenMetresPerSecond);
  const LatLon destination{35.22, 128.81};
  // Only DRT1 drops off in Z; it picks up at IN1 and IN2, the stops inside Z.
  auto egress = index.EgressLegs(destination, kWednesday, {8 * H, 9 * H});
  EXPECT_EQ(StopIdsOf(feed, egress), (std::set<std::string>{"IN1", "IN2"}));
  for (const OnDemandLeg& leg : egress) {
    EXPECT_EQ(feed.flex_trips[leg.flex_trip].id, "DRT1");
    if (feed.stops[leg.stop].id == "IN1") {
      EXPECT_EQ(leg.ride_seconds, 112);
    }
  }
  // Point to point inside Z: DRT1 only (DRT2 cannot drop off in Z).
  auto direct = index.DirectLegs({35.22, 128.81}, {35.23, 128.81}, kWednesday, {8 * H, 9 * H});
  ASSERT_EQ(direct.size(), 1u);
  EXPECT_EQ(feed.flex_trips[direct[0].flex_trip].id, "DRT1");
  EXPECT_EQ(direct[0].ride_seconds, 112);
  EXPECT_EQ(index.PlaceOf(direct[0].pickup_window).name, "Gimhae DRT");
  // From the south square to the north square is one zone: allowed.
  EXPECT_EQ(index.DirectLegs({35.22, 128.81}, {35.43, 128.84}, kWednesday, {8 * H, 9 * H}).size(), 1u);
  // To the hole, outside the zone, or on a Saturday: no on-demand journey.
  EXPECT_TRUE(index.DirectLegs({35.22, 128.81}, {35.25, 128.85}, kWednesday, {8 * H, 9 * H}).empty());
  EXPECT_TRUE(index.DirectLegs({35.22, 128.81}, {35.60, 128.81}, kWednesday, {8 * H, 9 * H}).empty());
  EXPECT_TRUE(index.DirectLegs({35.22, 128.81}, {35.23, 128.81}, kSaturday, {8 * H, 9 * H}).empty());
}

TEST(FlexFeedTest, RideTimeScalesWithDetourAndSpeedAndOptionsAreChecked) {
  Loaded loaded = Load(WriteZip("flex.zip", FlexFeed()));
  ASSERT_TRUE(loaded.feed.ok());
  OnDemandIndex slow = IndexOf(loaded.feed.value(), {.detour_factor = 1.5, .speed_m_per_s = 10});
  EXPECT_EQ(slow.RideSeconds({35.22, 128.81}, {35.21, 128.81}), 167);  // 1,111.95 m × 1.5 / 10
  EXPECT_EQ(slow.RideSeconds({35.22, 128.81}, {35.22, 128.81}), 0);
  EXPECT_FALSE(OnDemandIndex::Build(loaded.feed.value(), {.detour_factor = 0.5}).ok());
  EXPECT_FALSE(OnDemandIndex::Build(loaded.feed.value(), {.detour_factor = kMaxDetourFactor + 1}).ok());
  EXPECT_FALSE(OnDemandIndex::Build(loaded.feed.value(), {.speed_m_per_s = 0}).ok());
  EXPECT_FALSE(OnDemandIndex::Build(loaded.feed.value(), {.speed_m_per_s = kMinVehicleSpeed / 2}).ok());
  EXPECT_FALSE(OnDemandIndex::Build(loaded.feed.value(), {.speed_m_per_s = std::nan("")}).ok());
  // The slowest, most winding vehicle allowed, half way round the Earth: still a valid ride.
  OnDemandIndex slowest = IndexOf(loaded.feed.value(),
                                  {.detour_factor = kMaxDetourFactor, .speed_m_per_s = kMinVehicleSpeed});
  EXPECT_GT(slowest.RideSeconds({0, 0}, {0, 180}), 100'000'000);
}

TEST(FlexFeedTest, FeedWithOnlyFlexTripsLoadsWithoutReportingThem) {
  Files files = FlexFeed();
  files["stop_times.txt"].erase(files["stop_times.txt"].find("BUS,08:00"),
                                files["stop_times.txt"].find("DRT1,") - files["stop_times.txt"].find("BUS,08:00"));
  Loaded loaded = Load(WriteZip("flex_only.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  EXPECT_TRUE(loaded.feed.value().trips.empty());
  EXPECT_EQ(loaded.feed.value().flex_trips.size(), 2u);
  for (const Problem& p : loaded.report.problems()) {
    EXPECT_EQ(p.reason.find("DRT"), std::string::npos) << Describe(loaded.report);
  }
  // With the flex rows gone too, there is no trip at all: still fatal.
  files["stop_times.txt"] = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n";
  Loaded empty = Load(WriteZip("no_trips.zip", files));
  EXPECT_FALSE(empty.feed.ok());
  EXPECT_TRUE(empty.report.has_fatal());
}

// A flex row at a stop (stop_id with a window) and a night window past midnight: DRT3 picks up
// at stop IN1 23:00-25:30 and drops off anywhere in Z.
TEST(FlexFeedTest, StopPlacesAndWindowsPastMidnight) {
  Files files = FlexFeed();
  files["trips.txt"] += "D,WK,DRT3\n";
  files["stop_times.txt"] +=
      "DRT3,,,IN1,,,1,2,1,23:00:00,25:30:00,BR1,\n"
      "DRT3,,,,Z,,2,1,2,23:00:00,25:30:00,,BR1\n";
  Loaded loaded = Load(WriteZip("night.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);
  ASSERT_EQ(feed.flex_windows.size(), 6u);
  EXPECT_EQ(feed.flex_windows[4].place_kind, gtfs::FlexPlaceKind::kStop);
  EXPECT_EQ(feed.flex_windows[4].window_end, 25 * H + 30 * M);
  OnDemandIndex index = IndexOf(feed, kTenMetresPerSecond);
  EXPECT_EQ(index.PlaceOf(4).id, "IN1");
  // From stop IN1 to a point 0.01° north in Z at 00:30 of the Wednesday service day's night.
  auto egress = index.EgressLegs({35.22, 128.81}, kWednesday, {24 * H + 30 * M, 24 * H + 40 * M});
  ASSERT_EQ(egress.size(), 1u);
  EXPECT_EQ(feed.flex_trips[egress[0].flex_trip].id, "DRT3");
  EXPECT_EQ(feed.stops[egress[0].stop].id, "IN1");
  EXPECT_EQ(egress[0].ride_seconds, 112);
  EXPECT_EQ(egress[0].latest_departure, 24 * H + 40 * M);
  // A stop is not an area: a point beside IN1 is not picked up by DRT3.
  EXPECT_TRUE(TripIdsOf(feed, index.PickupServicesAt({35.21, 128.81}, kWednesday, {23 * H, 26 * H}))
                  .empty());
  EXPECT_EQ(TripIdsOf(feed, index.DropOffServicesAt({35.22, 128.81}, kWednesday, {25 * H, 25 * H})),
            std::set<std::string>{"DRT3"});
  // After 25:30 nothing runs.
  EXPECT_TRUE(index.EgressLegs({35.22, 128.81}, kWednesday, {25 * H + 31 * M, 27 * H}).empty());
}

// Two drop-off windows of one trip reach the same stop: the leg kept is the one arriving first.
TEST(FlexFeedTest, OneLegPerStopAndTripTheEarliestArriving) {
  Files files = FlexFeed();
  files["trips.txt"] += "D,WK,DRT5\n";
  files["stop_times.txt"] +=
      "DRT5,,,,Z,,1,2,1,08:00:00,12:00:00,,\n"
      "DRT5,,,,Z,,2,1,2,10:00:00,12:00:00,,\n"   // drop-off from 10:00 only
      "DRT5,,,,Z,,3,1,2,08:00:00,12:00:00,,\n";  // drop-off any time
  Loaded loaded = Load(WriteZip("two_drop_offs.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  OnDemandIndex index = IndexOf(feed, kTenMetresPerSecond);
  std::vector<OnDemandLeg> to_in1;
  for (const OnDemandLeg& leg : index.AccessLegs({35.22, 128.81}, kWednesday, {8 * H, 12 * H})) {
    if (feed.flex_trips[leg.flex_trip].id == "DRT5" && feed.stops[leg.stop].id == "IN1") to_in1.push_back(leg);
  }
  ASSERT_EQ(to_in1.size(), 1u);
  EXPECT_EQ(feed.flex_windows[to_in1[0].drop_off_window].stop_sequence, 3u);
  EXPECT_EQ(to_in1[0].earliest_departure, 8 * H);
  // Asked for 10:00 onwards both arrive alike, and the one that may leave later is kept: both
  // may leave until 11:58:08, so either is right; the leg still leaves within the query.
  auto late = index.AccessLegs({35.22, 128.81}, kWednesday, {10 * H, 12 * H});
  size_t drt5_in1 = 0;
  for (const OnDemandLeg& leg : late) {
    if (feed.flex_trips[leg.flex_trip].id != "DRT5" || feed.stops[leg.stop].id != "IN1") continue;
    ++drt5_in1;
    EXPECT_EQ(leg.earliest_departure, 10 * H);
    EXPECT_EQ(leg.latest_departure, 12 * H - 112);
  }
  EXPECT_EQ(drt5_in1, 1u);
}

// A zone holding more stops than one query returns: the legs kept are those arriving first.
TEST(FlexFeedTest, AccessLegsAreCutToTheLimitKeepingTheNearest) {
  Files files = FlexFeed();
  std::string& stops = files["stops.txt"];
  for (int i = 0; i < 110; ++i) {
    for (int j = 0; j < 100; ++j) {  // a grid over the south square, hole included
      stops += "G" + std::to_string(i) + "_" + std::to_string(j) + ",g," +
               std::to_string(35.2005 + i * 0.0009) + "," + std::to_string(128.8005 + j * 0.00099) + ",0\n";
    }
  }
  Loaded loaded = Load(WriteZip("many_stops.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  OnDemandIndex index = IndexOf(feed, kTenMetresPerSecond);
  ASSERT_GT(index.StopsOf(1).size(), kMaxOnDemandLegs);  // DRT1's drop-off window in Z
  const LatLon origin{35.21, 128.81};
  auto legs = index.AccessLegs(origin, kWednesday, {8 * H, 9 * H});
  ASSERT_EQ(legs.size(), kMaxOnDemandLegs);
  std::set<uint32_t> kept;
  int32_t slowest_kept = 0;
  for (const OnDemandLeg& leg : legs) {
    kept.insert(leg.stop);
    slowest_kept = std::max(slowest_kept, leg.earliest_arrival());
  }
  EXPECT_EQ(kept.size(), legs.size());  // one leg per stop (DRT2 reaches OUT only, further away)
  for (uint32_t s : index.StopsOf(1)) {
    if (kept.contains(s)) continue;
    const gtfs::Stop& stop = feed.stops[s];
    EXPECT_GE(8 * H + index.RideSeconds(origin, {stop.lat, stop.lon}), slowest_kept) << stop.id;
  }
  EXPECT_TRUE(std::is_sorted(legs.begin(), legs.end(), [](const OnDemandLeg& a, const OnDemandLeg& b) {
    return a.stop < b.stop;
  }));
}

TEST(FlexFeedTest, FeedWithoutFlexAndPointsThatAreNotNumbersGiveNothing) {
  Files files = FlexFeed();
  for (const char* name : {"locations.geojson", "location_groups.txt", "location_group_stops.txt",
                           "booking_rules.txt"}) {
    files.erase(name);
  }
  files["stop_times.txt"] = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                            "BUS,08:00:00,08:00:00,IN1,1\nBUS,08:30:00,08:30:00,OUT,2\n";
  Loaded plain = Load(WriteZip("plain.zip", files));
  ASSERT_TRUE(plain.feed.ok());
  EXPECT_TRUE(plain.feed.value().flex_trips.empty());
  OnDemandIndex none = IndexOf(plain.feed.value());
  EXPECT_TRUE(none.AccessLegs({35.21, 128.81}, kWednesday, {0, 48 * H}).empty());
  EXPECT_TRUE(none.DirectLegs({35.21, 128.81}, {35.22, 128.81}, kWednesday, {0, 48 * H}).empty());

  Loaded flex = Load(WriteZip("flex.zip", FlexFeed()));
  ASSERT_TRUE(flex.feed.ok());
  OnDemandIndex index = IndexOf(flex.feed.value());
  const double nan = std::nan("");
  EXPECT_TRUE(index.PickupServicesAt({nan, 128.82}, kWednesday, {8 * H, 9 * H}).empty());
  EXPECT_TRUE(index.AccessLegs({35.22, nan}, kWednesday, {8 * H, 9 * H}).empty());
  EXPECT_TRUE(index.PickupServicesAt({35.22, 128.82}, kWednesday, {9 * H, 8 * H}).empty());  // reversed
}

// ---------------------------------------------------------------------------------------------
// Bad input.

TEST(FlexBadInputTest, BrokenGeojsonIsReportedAndItsZonesRowsSkipped) {
  for (const std::string& text : {std::string(R"({"type":"FeatureCollection","features":[)"),
                                  std::string(R"({"type":"Feature","features":[]})"),
                                  std::string("[1,2,3]"), std::string(100'000, '['),
                                  std::string(R"({"type":"FeatureCollection","features":[1e400]})")}) {
    Files files = FlexFeed();
    files["locations.geojson"] = text;
    Loaded loaded = Load(WriteZip("broken_geojson.zip", files));
    ASSERT_TRUE(loaded.feed.ok()) << text;  // the regular trip still loads
    EXPECT_TRUE(loaded.feed.value().zones.empty());
    EXPECT_TRUE(HasProblem(loaded.report, "locations.geojson", 0, "", "the file is ignored")) << Describe(loaded.report);
    EXPECT_TRUE(HasProblem(loaded.report, "stop_times.txt", 4, "location_id", "unknown location_id 'Z'"));
    EXPECT_EQ(loaded.feed.value().trips.size(), 1u);
  }
}

TEST(FlexBadInputTest, GeojsonWithAByteOrderMarkIsRead) {
  Files files = FlexFeed();
  files["locations.geojson"] = "\xEF\xBB\xBF" + Collection({kZoneZ});
  Loaded loaded = Load(WriteZip("bom.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);
  ASSERT_EQ(loaded.feed.value().zones.size(), 1u);
  EXPECT_EQ(loaded.feed.value().zones[0].name, "Gimhae DRT");
}

TEST(FlexBadInputTest, BadFeaturesAreLeftOutNamingTheFeature) {
  const std::string square = R"({"type":"Polygon","coordinates":[)" + Ring(35.20, 35.30, 128.80, 128.90) + "]}";
  Files files = FlexFeed();
  files["locations.geojson"] = Collection({
      kZoneZ,                                                                  // 0: fine
      R"({"type":"Feature","properties":{},"geometry":)" + square + "}",      // 1: no id
      Feature("P", R"({"type":"Point","coordinates":[128.8,35.2]})"),         // 2: not an area
      Feature("T", R"({"type":"Polygon","coordinates":[[[128.8,35.2],[128.9,35.2],[128.8,35.2]]]})"),
      Feature("L", R"({"type":"Polygon","coordinates":[[[128.8,95.2],[128.9,35.2],[128.9,35.3],[128.8,95.2]]]})"),
      Feature("Z", square),                                                   // 5: duplicate id
      Feature("IN1", square),                                                 // 6: a stop's id
      R"({"type":"Feature","id":"NOPROPS","geometry":)" + square + "}",       // 7: kept
      Feature("NOGEOM", "null"),                                              // 8
      "42",                                                                   // 9
  });
  Loaded loaded = Load(WriteZip("bad_features.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  const auto& r = loaded.report;
  const std::string f = "locations.geojson";
  EXPECT_TRUE(HasProblem(r, f, 0, "features[1]", "has no id")) << Describe(r);
  EXPECT_TRUE(HasProblem(r, f, 0, "features[2]", "geometry type 'Point' is not Polygon or MultiPolygon"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[3]", "ring 0 has fewer than 3 distinct positions"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[4]", "ring 0 position 0 is not [lon, lat]"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[5]", "id 'Z' is already"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[6]", "id 'IN1' is already"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[7]", "no properties object (kept"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[8]", "has no geometry object"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[9]", "not an object"));
  std::vector<std::string> ids;
  for (const auto& zone : feed.zones) ids.push_back(zone.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"Z", "NOPROPS"}));
  EXPECT_EQ(feed.zones[0].name, "Gimhae DRT");  // the first Z, not the duplicate
}

TEST(FlexBadInputTest, ZoneOverTheVertexLimitIsLeftOutAndTheOthersKept) {
  std::string huge = R"({"type":"Polygon","coordinates":[[)";
  const size_t vertices = 1'000'000;
  huge.reserve(vertices * 12);
  for (size_t i = 0; i < vertices; ++i) huge += i ? ",[128.8,35.2]" : "[128.8,35.2]";
  huge += "]]}";
  Files files = FlexFeed();
  files["locations.geojson"] = Collection({Feature("HUGE", huge), kZoneZ});
  Loaded loaded = Load(WriteZip("huge_zone.zip", files, /*store=*/true));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  EXPECT_TRUE(HasProblem(loaded.report, "locations.geojson", 0, "features[0]",
                         "more than 100000 positions (the zone limit)"))
      << Describe(loaded.report);
  ASSERT_EQ(loaded.feed.value().zones.size(), 1u);
  EXPECT_EQ(loaded.feed.value().zones[0].id, "Z");
  EXPECT_EQ(loaded.feed.value().flex_windows.size(), 4u);
}

TEST(FlexBadInputTest, GeojsonOverTheFileLimitIsFatal) {
  Files files = FlexFeed();
  files["locations.geojson"] = Collection({kZoneZ});
  gtfs::FeedOptions options;
  options.flex.max_locations_bytes = files["locations.geojson"].size() - 1;
  Loaded loaded = Load(WriteZip("geojson_too_large.zip", files), options);
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_EQ(loaded.feed.status().code(), Status::Code::kPayloadTooLarge);
  EXPECT_NE(loaded.feed.status().message().find("locations.geojson is larger than"), std::string::npos);
  EXPECT_TRUE(loaded.report.has_fatal());
  options.flex.max_locations_bytes = files["locations.geojson"].size();  // exactly: fine
  EXPECT_TRUE(Load(WriteZip("geojson_at_limit.zip", files), options).feed.ok());
}

// Small limits, so each is reached with a few features: 5 positions a zone, 12 in the file,
// 3 features.
TEST(FlexBadInputTest, FeatureCountAndFileVertexLimitsLeaveTheRestOut) {
  const std::string square = R"({"type":"Polygon","coordinates":[)" + Ring(35.20, 35.30, 128.80, 128.90) + "]}";
  const std::string with_hole = R"({"type":"Polygon","coordinates":[)" + Ring(35.20, 35.30, 128.80, 128.90) +
                                "," + Ring(35.24, 35.26, 128.84, 128.86) + "]}";
  Files files = FlexFeed();
  files["locations.geojson"] = Collection({Feature("A", square), Feature("B", with_hole),
                                           Feature("C", square), Feature("D", square),
                                           Feature("Z", square)});
  gtfs::FeedOptions options;
  options.flex = {.max_zones = 4, .max_zone_vertices = 5, .max_vertices = 12};
  Loaded loaded = Load(WriteZip("limits.zip", files), options);
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const auto& r = loaded.report;
  const std::string f = "locations.geojson";
  EXPECT_TRUE(HasProblem(r, f, 0, "features", "5 features, more than 4; the rest are ignored")) << Describe(r);
  EXPECT_TRUE(HasProblem(r, f, 0, "features[1]", "more than 5 positions (the zone limit)"));
  EXPECT_TRUE(HasProblem(r, f, 0, "features[3]", "the file's positions pass 12 (the feed limit)"));
  std::vector<std::string> ids;
  for (const auto& zone : loaded.feed.value().zones) ids.push_back(zone.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"A", "C"}));  // B too big, D over the file's budget
}

TEST(FlexBadInputTest, BadBookingRulesAndUnknownRuleIds) {
  Files files = FlexFeed();
  files["booking_rules.txt"] +=
      "BAD_TYPE,3,,,,,,\n"          // line 4
      "NO_MIN,1,,,,,,\n"            // line 5
      "NO_DAY,2,,,,,,\n"            // line 6
      "BR1,0,,,,,,\n"               // line 7: duplicate
      "NEG,1,-5,,,,,\n";            // line 8
  files["stop_times.txt"] +=
      "DRT1,,,,Z,,3,2,1,08:00:00,10:00:00,NOPE,\n"      // line 8
      "DRT1,,,,Z,,4,1,2,08:00:00,10:00:00,,NO_MIN\n";   // line 9
  Loaded loaded = Load(WriteZip("bad_rules.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const auto& r = loaded.report;
  const std::string f = "booking_rules.txt";
  EXPECT_TRUE(HasProblem(r, f, 4, "booking_type", "bad booking_type '3'")) << Describe(r);
  EXPECT_TRUE(HasProblem(r, f, 5, "prior_notice_duration_min", "required for booking_type 1"));
  EXPECT_TRUE(HasProblem(r, f, 6, "prior_notice_last_day", "required for booking_type 2"));
  EXPECT_TRUE(HasProblem(r, f, 7, "booking_rule_id", "duplicate booking_rule_id 'BR1'"));
  EXPECT_TRUE(HasProblem(r, f, 8, "prior_notice_duration_min", "bad prior_notice_duration_min '-5'"));
  EXPECT_TRUE(HasProblem(r, "stop_times.txt", 8, "pickup_booking_rule_id",
                         "unknown pickup_booking_rule_id 'NOPE'"));
  EXPECT_TRUE(HasProblem(r, "stop_times.txt", 9, "drop_off_booking_rule_id",
                         "unknown drop_off_booking_rule_id 'NO_MIN'"));
  EXPECT_EQ(loaded.feed.value().booking_rules.size(), 2u);
  EXPECT_EQ(loaded.feed.value().flex_windows.size(), 4u);
}

TEST(FlexBadInputTest, BookingRuleTimesAndServices) {
  Files files = FlexFeed();
  files["booking_rules.txt"] =
      "booking_rule_id,booking_type,prior_notice_duration_min,prior_notice_last_day,"
      "prior_notice_last_time,prior_notice_start_day,prior_notice_start_time,prior_notice_service_id\n"
      "BR1,2,,1,17:00:00,7,08:30:00,WK\n"     // line 2: fine
      "BR2,2,,1,17:61:00,,,\n"                // line 3: bad time
      "BR3,2,,1,17:00:00,,,HOLIDAYS\n"        // line 4: unknown service
      "BR4,2,,one,,,,\n";                     // line 5: bad number
  Loaded loaded = Load(WriteZip("rule_times.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const auto& r = loaded.report;
  const std::string f = "booking_rules.txt";
  EXPECT_TRUE(HasProblem(r, f, 3, "prior_notice_last_time", "bad time '17:61:00'")) << Describe(r);
  EXPECT_TRUE(HasProblem(r, f, 4, "prior_notice_service_id", "unknown service_id 'HOLIDAYS'"));
  EXPECT_TRUE(HasProblem(r, f, 5, "prior_notice_last_day", "bad prior_notice_last_day 'one'"));
  const Feed& feed = loaded.feed.value();
  ASSERT_EQ(feed.booking_rules.size(), 1u);
  const gtfs::BookingRule& rule = feed.booking_rules[0];
  EXPECT_EQ(rule.prior_notice_last_time, 17 * H);
  EXPECT_EQ(rule.prior_notice_start_day, 7);
  EXPECT_EQ(rule.prior_notice_start_time, 8 * H + 30 * M);
  EXPECT_EQ(rule.prior_notice_service, feed.service_by_id.at("WK"));
  EXPECT_EQ(rule.prior_notice_duration_min, -1);
  // DRT2's drop-off names BR2, which was left out: that row goes too.
  EXPECT_TRUE(HasProblem(r, "stop_times.txt", 7, "drop_off_booking_rule_id", "unknown drop_off_booking_rule_id 'BR2'"));
  EXPECT_EQ(feed.flex_windows.size(), 3u);
}

TEST(FlexBadInputTest, BadFlexStopTimesAreReportedWithLineAndField) {
  Files files = FlexFeed();
  files["stop_times.txt"] +=
      "DRT1,,,,Z,,3,2,1,,10:00:00,,\n"                  // 8: no window start
      "DRT1,,,,Z,,4,2,1,10:00:00,09:00:00,,\n"          // 9: end before start
      "DRT1,09:00:00,,,Z,,5,2,1,08:00:00,10:00:00,,\n"  // 10: a time beside a window
      "DRT1,,,,Z,,6,0,1,08:00:00,10:00:00,,\n"          // 11: pickup_type 0 with a window
      "DRT1,,,IN1,Z,,7,2,1,08:00:00,10:00:00,,\n"       // 12: stop_id and location_id
      "DRT1,,,,NOWHERE,,8,2,1,08:00:00,10:00:00,,\n"    // 13: unknown location_id
      "DRT1,,,,,NOGROUP,9,2,1,08:00:00,10:00:00,,\n"    // 14: unknown location_group_id
      "DRT1,,,,Z,,2,2,1,08:00:00,10:00:00,,\n"          // 15: duplicate stop_sequence 2
      "DRT1,,,,Z,,10,2,1,8am,10:00:00,,\n"              // 16: bad time
      "DRT1,,,STATION,,,11,2,1,08:00:00,10:00:00,,\n"   // 17: a station is not a place
      "NOTRIP,,,,Z,,1,2,1,08:00:00,10:00:00,,\n";      // 18: unknown trip
  files["location_group_stops.txt"] += "NOGROUP,IN1\nG,NOSTOP\n";
  Loaded loaded = Load(WriteZip("bad_flex_rows.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const auto& r = loaded.report;
  const std::string f = "stop_times.txt";
  EXPECT_TRUE(HasProblem(r, f, 8, "start_pickup_drop_off_window", "is required")) << Describe(r);
  EXPECT_TRUE(HasProblem(r, f, 9, "end_pickup_drop_off_window", "before start"));
  EXPECT_TRUE(HasProblem(r, f, 10, "arrival_time", "forbidden with a pickup/drop-off window"));
  EXPECT_TRUE(HasProblem(r, f, 11, "pickup_type", "pickup_type must be 1 or 2"));
  EXPECT_TRUE(HasProblem(r, f, 12, "stop_id", "exactly one of stop_id, location_id"));
  EXPECT_TRUE(HasProblem(r, f, 13, "location_id", "unknown location_id 'NOWHERE'"));
  EXPECT_TRUE(HasProblem(r, f, 14, "location_group_id", "unknown location_group_id 'NOGROUP'"));
  EXPECT_TRUE(HasProblem(r, f, 15, "stop_sequence", "duplicate stop_sequence 2 in trip 'DRT1'"));
  EXPECT_TRUE(HasProblem(r, f, 16, "start_pickup_drop_off_window", "bad time '8am'"));
  EXPECT_TRUE(HasProblem(r, f, 17, "stop_id", "'STATION' is not a stop, zone or location group"));
  EXPECT_TRUE(HasProblem(r, f, 18, "trip_id", "unknown trip_id 'NOTRIP'"));
  EXPECT_TRUE(HasProblem(r, "location_group_stops.txt", 3, "location_group_id",
                         "unknown location_group_id 'NOGROUP'"));
  EXPECT_TRUE(HasProblem(r, "location_group_stops.txt", 4, "stop_id", "'NOSTOP' is not a known stop"));
  // Only the four good rows are windows, and the first row of sequence 2 is the one kept.
  const Feed& feed = loaded.feed.value();
  ASSERT_EQ(feed.flex_windows.size(), 4u);
  EXPECT_EQ(feed.flex_windows[1].line, 5u);
}

// The draft form the published examples use: stop_times.stop_id names a zone or an areas.txt
// area, and stop_areas.txt puts zones and stops in areas; feature ids may be numbers.
TEST(FlexBadInputTest, DraftAreasAndTheirProblems) {
  Files files = FlexFeed();
  files.erase("location_groups.txt");
  files.erase("location_group_stops.txt");
  files["locations.geojson"] = Collection(
      {kZoneZ, R"({"type":"Feature","id":77,"properties":{},"geometry":{"type":"Polygon","coordinates":[)" +
                   Ring(35.5, 35.6, 128.5, 128.6) + "]}}"});
  files["areas.txt"] = "area_id,area_name\nA1,Z and far\nZ,clash\nA2,empty\n";
  files["stop_areas.txt"] = "area_id,stop_id\nA1,Z\nA1,OUT\nNOAREA,Z\nA1,NOWHERE\nA1,77\n";
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,drop_off_type,"
      "start_pickup_drop_off_window,end_pickup_drop_off_window\n"
      "BUS,08:00:00,08:00:00,IN1,1,0,0,,\n"
      "BUS,08:30:00,08:30:00,OUT,2,0,0,,\n"
      "DRT1,,,Z,1,2,1,08:00:00,10:00:00\n"
      "DRT1,,,A1,2,1,2,08:00:00,10:00:00\n"
      "DRT1,,,77,3,1,2,08:00:00,10:00:00\n";
  Loaded loaded = Load(WriteZip("draft.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  const auto& r = loaded.report;
  EXPECT_TRUE(HasProblem(r, "areas.txt", 3, "area_id", "area_id 'Z' is empty or already")) << Describe(r);
  EXPECT_TRUE(HasProblem(r, "stop_areas.txt", 4, "area_id", "unknown area_id 'NOAREA'"));
  EXPECT_TRUE(HasProblem(r, "stop_areas.txt", 5, "stop_id", "'NOWHERE' is neither a zone nor a stop"));
  ASSERT_EQ(feed.location_groups.size(), 2u);
  const gtfs::LocationGroup& a1 = feed.location_groups[feed.location_group_by_id.at("A1")];
  EXPECT_EQ(a1.zones, (std::vector<uint32_t>{feed.zone_by_id.at("Z"), feed.zone_by_id.at("77")}));
  EXPECT_EQ(a1.stops, std::vector<uint32_t>{feed.stop_by_id.at("OUT")});
  ASSERT_EQ(feed.flex_windows.size(), 3u);
  EXPECT_EQ(feed.flex_windows[0].place_kind, gtfs::FlexPlaceKind::kZone);
  EXPECT_EQ(feed.flex_windows[1].place_kind, gtfs::FlexPlaceKind::kLocationGroup);
  EXPECT_EQ(feed.flex_windows[2].place, feed.zone_by_id.at("77"));
  // From Z, the area's drop-off reaches the stops in Z and the area's own stop OUT; the
  // numbered zone has no stops.
  OnDemandIndex index = IndexOf(feed, kTenMetresPerSecond);
  auto legs = index.AccessLegs({35.22, 128.81}, kWednesday, {8 * H, 9 * H});
  EXPECT_EQ(StopIdsOf(feed, legs), (std::set<std::string>{"IN1", "IN2", "OUT"}));
  EXPECT_EQ(index.DirectLegs({35.22, 128.81}, {35.55, 128.55}, kWednesday, {8 * H, 9 * H}).size(), 1u);
}

// Adopted location groups are stops only: a traveller is picked up at one of them, never at a
// point between; a group may not take a stop's or zone's id.
TEST(FlexBadInputTest, LocationGroupOfStopsPicksUpOnlyAtItsStops) {
  Files files = FlexFeed();
  files["location_groups.txt"] += "Z,clash\nIN1,clash too\n";
  files["trips.txt"] += "D,WK,DRT4\n";
  files["stop_times.txt"] +=
      "DRT4,,,,,G,1,2,1,08:00:00,09:00:00,,\n"
      "DRT4,,,,Z,,2,1,2,08:00:00,12:00:00,,\n";
  Loaded loaded = Load(WriteZip("group_pickup.zip", files));
  ASSERT_TRUE(loaded.feed.ok());
  const Feed& feed = loaded.feed.value();
  EXPECT_TRUE(HasProblem(loaded.report, "location_groups.txt", 3, "location_group_id",
                         "'Z' is already a stop, zone or group id"))
      << Describe(loaded.report);
  EXPECT_TRUE(HasProblem(loaded.report, "location_groups.txt", 4, "location_group_id",
                         "'IN1' is already a stop, zone or group id"));
  OnDemandIndex index = IndexOf(feed, kTenMetresPerSecond);
  const gtfs::Stop& out = feed.stops[feed.stop_by_id.at("OUT")];
  EXPECT_TRUE(index.PickupServicesAt({out.lat, out.lon}, kWednesday, {8 * H, 9 * H}).empty());
  auto egress = index.EgressLegs({35.22, 128.81}, kWednesday, {8 * H, 9 * H});
  std::vector<std::string> from_group;
  for (const OnDemandLeg& leg : egress) {
    if (feed.flex_trips[leg.flex_trip].id != "DRT4") continue;
    from_group.push_back(feed.stops[leg.stop].id);
    EXPECT_EQ(leg.ride_seconds, 3336);  // 0.30° of latitude at 10 m/s
    EXPECT_EQ(leg.earliest_departure, 8 * H);
    EXPECT_EQ(leg.latest_departure, 9 * H);
  }
  EXPECT_EQ(from_group, std::vector<std::string>{"OUT"});
}

// Damaged geojson, made by cutting, repeating and overwriting pieces of a good file: whatever
// survives is well-formed (rings of at least three positions on the globe, bounding boxes that
// hold them), every problem names locations.geojson and a feature or the whole file, and the
// index answers over what was kept.
TEST(FlexBadInputTest, DamagedGeojsonKeepsOnlyWellFormedZones) {
  const std::string good = Collection(
      {kZoneZ, Feature("Y", R"({"type":"Polygon","coordinates":[)" + Ring(35.5, 35.6, 128.5, 128.6) + "]}")});
  const std::string alphabet = "[]{},:\"0123456789.-eE ntrufals";
  std::mt19937 random(42);
  size_t kept_zones = 0, problems = 0;
  for (int round = 0; round < 300; ++round) {
    std::string text = good;
    for (int edit = 0, edits = 1 + static_cast<int>(random() % 4); edit < edits && !text.empty(); ++edit) {
      size_t at = random() % text.size();
      size_t length = std::min<size_t>(1 + random() % 20, text.size() - at);
      switch (random() % 4) {
        case 0: text[at] = alphabet[random() % alphabet.size()]; break;
        case 1: text.erase(at, length); break;
        case 2: text.insert(at, text.substr(at, length)); break;
        default: text.resize(at); break;
      }
    }
    Files files = FlexFeed();
    files["locations.geojson"] = text;
    Loaded loaded = Load(WriteZip("damaged.zip", files));
    ASSERT_TRUE(loaded.feed.ok()) << text;  // the regular trip always remains
    const Feed& feed = loaded.feed.value();
    for (const gtfs::FlexZone& zone : feed.zones) {
      ASSERT_FALSE(zone.polygons.empty()) << text;
      for (const gtfs::FlexPolygon& polygon : zone.polygons) {
        ASSERT_FALSE(polygon.rings.empty()) << text;
        for (const auto& ring : polygon.rings) {
          ASSERT_GE(ring.size(), 3u) << text;
          for (const LatLon& v : ring) {
            ASSERT_TRUE(v.lat >= zone.min.lat && v.lat <= zone.max.lat && v.lon >= zone.min.lon &&
                        v.lon <= zone.max.lon && v.lat >= -90 && v.lat <= 90 && v.lon >= -180 &&
                        v.lon <= 180)
                << text;
          }
        }
      }
    }
    for (const Problem& p : loaded.report.problems()) {
      if (p.file != "locations.geojson") continue;
      ++problems;
      EXPECT_EQ(p.line, 0u);
      EXPECT_TRUE(p.field.empty() || p.field.starts_with("features")) << p.field;
      EXPECT_FALSE(p.reason.empty());
    }
    kept_zones += feed.zones.size();
    OnDemandIndex index = IndexOf(feed);
    for (const FlexService& service : index.PickupServicesAt({35.21, 128.81}, kWednesday, {8 * H, 9 * H})) {
      ASSERT_EQ(feed.flex_windows[service.window].place_kind, gtfs::FlexPlaceKind::kZone);
      ASSERT_LT(feed.flex_windows[service.window].place, feed.zones.size());
    }
  }
  EXPECT_GT(kept_zones, 0u);  // some damage leaves zones intact …
  EXPECT_GT(problems, 0u);    // … and some is reported
}

}  // namespace
}  // namespace cityhub::mobility::flex
