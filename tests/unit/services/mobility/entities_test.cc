// Feed entities: the Google sample feed and Caltrain as GtfsAgency / GtfsStation / GtfsStop /
// GtfsRoute entities (counts, hand-checked stops, stations and routes), every entity accepted by
// the hub's own NGSI-LD parser under the core context alone, ids of awkward GTFS ids, names in
// several languages, records left out, and the stale ids of a re-import.
#include "services/mobility/gtfs/entities.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "services/mobility/gtfs/zip_writer.h"
#include "scratch.h"

namespace cityhub::mobility::gtfs {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using V = GtfsVocabulary;

std::string SharedData(const std::string& path) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/" + path;
}

std::string SharedGtfs(const std::string& name) { return SharedData("gtfs/" + name); }

Feed Load(const std::string& path) {
  ValidationReport report;
  auto feed = LoadFeed(path, FeedOptions{}, report);
  EXPECT_TRUE(feed.ok()) << feed.status().message();
  return feed.ok() ? std::move(feed).value() : Feed{};
}

fs::path TempDir() { return test_support::ScratchDir("cityhub_entities_test"); }

FeedEntities Build(const Feed& feed, const std::string& key, bool translated_names = true) {
  TranslationIndex translations = TranslationIndex::Build(feed);
  EntityOptions options{.feed_key = key, .source = "", .translated_names = translated_names};
  auto built = BuildFeedEntities(feed, translations, options);
  EXPECT_TRUE(built.ok()) << built.status().message();
  return built.ok() ? std::move(built).value() : FeedEntities{};
}

const json::object* FindEntity(const FeedEntities& fe, std::string_view id) {
  for (const json::object& e : fe.entities) {
    if (e.at("id").as_string() == id) return &e;
  }
  return nullptr;
}

// The value (Property, GeoProperty) or object (Relationship) of an attribute, or null.
const json::value* ValueOf(const json::object& e, std::string_view attr) {
  const json::value* a = e.if_contains(attr);
  if (!a) return nullptr;
  if (const json::value* v = a->as_object().if_contains("value")) return v;
  return a->as_object().if_contains("object");
}

std::string TextOf(const json::object& e, std::string_view attr) {
  const json::value* v = ValueOf(e, attr);
  return v && v->is_string() ? std::string(v->get_string()) : std::string("<none>");
}

size_t CountOfType(const FeedEntities& fe, std::string_view type) {
  size_t n = 0;
  for (const json::object& e : fe.entities) n += e.at("type").as_string() == type;
  return n;
}

// Every entity must be one the hub itself accepts, with no @context but the core one.
void ExpectAllParse(const FeedEntities& fe) {
  ngsild::ContextResolver resolver{{}, {}};
  ASSERT_TRUE(resolver.Init().ok());
  ngsild::ContextPtr core = resolver.Core();
  for (const json::object& e : fe.entities) {
    auto parsed = ngsild::ParseEntity(e, *core, 1'700'000'000'000, {});
    ASSERT_TRUE(parsed.ok()) << json::serialize(e) << ": " << parsed.status().message();
    EXPECT_EQ(parsed.value().id, e.at("id").as_string());
    ASSERT_EQ(parsed.value().types.size(), 1u);
    EXPECT_EQ(parsed.value().types[0], e.at("type").as_string());
    for (const auto& [attr, value] : e) {
      if (attr == "id" || attr == "type") continue;
      EXPECT_TRUE(parsed.value().attrs.contains(std::string(attr))) << attr;
    }
  }
}

TEST(FeedEntities, GoogleSampleFeed) {
  Feed feed = Load(SharedGtfs("google_sample-feed-1.zip"));
  FeedEntities fe = Build(feed, "demo");
  EXPECT_EQ(fe.agencies, 1u);
  EXPECT_EQ(fe.stations, 0u);
  EXPECT_EQ(fe.stops, 9u);
  EXPECT_EQ(fe.routes, 5u);
  EXPECT_EQ(fe.entities.size(), 15u);
  EXPECT_EQ(CountOfType(fe, V::kStopType), 9u);
  EXPECT_EQ(CountOfType(fe, V::kRouteType), 5u);
  EXPECT_TRUE(fe.skipped.empty());

  const json::object* agency = FindEntity(fe, "urn:ngsi-ld:GtfsAgency:demo:DTA");
  ASSERT_NE(agency, nullptr);
  EXPECT_EQ(agency->at("type").as_string(), V::kAgencyType);
  EXPECT_EQ(TextOf(*agency, V::kAgencyName), "Demo Transit Authority");
  EXPECT_EQ(TextOf(*agency, V::kTimezone), "America/Los_Angeles");
  EXPECT_EQ(TextOf(*agency, V::kPage), "http://google.com");
  EXPECT_EQ(TextOf(*agency, V::kSource), "http://google.com");  // no feed_info: the agency's URL
  EXPECT_FALSE(agency->contains(V::kLanguage));  // no agency_lang in this feed

  // stops.txt: BEATTY_AIRPORT,Nye County Airport (Demo),,36.868446,-116.784582
  const json::object* airport = FindEntity(fe, "urn:ngsi-ld:GtfsStop:demo:BEATTY_AIRPORT");
  ASSERT_NE(airport, nullptr);
  EXPECT_EQ(TextOf(*airport, V::kName), "Nye County Airport (Demo)");
  const json::object& location = airport->at(V::kLocation).as_object();
  EXPECT_EQ(location.at("type").as_string(), "GeoProperty");
  EXPECT_EQ(location.at("value").at("type").as_string(), "Point");
  EXPECT_DOUBLE_EQ(location.at("value").at("coordinates").at(0).as_double(), -116.784582);
  EXPECT_DOUBLE_EQ(location.at("value").at("coordinates").at(1).as_double(), 36.868446);
  EXPECT_EQ(airport->at(V::kOperatedBy).at("type").as_string(), "Relationship");
  EXPECT_EQ(*ValueOf(*airport, V::kOperatedBy), (json::array{"urn:ngsi-ld:GtfsAgency:demo:DTA"}));
  EXPECT_FALSE(airport->contains(V::kHasParentStation));

  // routes.txt: AB,DTA,10,Airport - Bullfrog,,3
  const json::object* ab = FindEntity(fe, "urn:ngsi-ld:GtfsRoute:demo:AB");
  ASSERT_NE(ab, nullptr);
  EXPECT_EQ(TextOf(*ab, V::kName), "Airport - Bullfrog");
  EXPECT_EQ(TextOf(*ab, V::kShortName), "10");
  EXPECT_EQ(TextOf(*ab, V::kRouteTypeAttr), "3");
  EXPECT_EQ(TextOf(*ab, V::kOperatedBy), "urn:ngsi-ld:GtfsAgency:demo:DTA");
  EXPECT_FALSE(ab->contains(V::kRouteColor));  // empty in the feed
  ExpectAllParse(fe);
}

TEST(FeedEntities, CaltrainStationsAndPlatforms) {
  Feed feed = Load(SharedGtfs("caltrain_20160406.zip"));
  FeedEntities fe = Build(feed, "caltrain");
  EXPECT_EQ(fe.agencies, 1u);
  EXPECT_EQ(fe.stations, 31u);
  EXPECT_EQ(fe.stops, 64u);
  EXPECT_EQ(fe.routes, 4u);
  EXPECT_EQ(fe.entities.size(), 100u);

  // 70011,70011,San Francisco Caltrain,37.77639,-122.394992,1,…,0,ctsf,NB,1
  const json::object* platform = FindEntity(fe, "urn:ngsi-ld:GtfsStop:caltrain:70011");
  ASSERT_NE(platform, nullptr);
  EXPECT_EQ(TextOf(*platform, V::kName), "San Francisco Caltrain");
  EXPECT_EQ(TextOf(*platform, V::kCode), "70011");
  EXPECT_EQ(TextOf(*platform, V::kZoneCode), "1");
  EXPECT_EQ(ValueOf(*platform, V::kWheelChairAccessible)->as_int64(), 1);
  EXPECT_EQ(TextOf(*platform, V::kHasParentStation), "urn:ngsi-ld:GtfsStation:caltrain:ctsf");
  const json::value& point = platform->at(V::kLocation).at("value").at("coordinates");
  EXPECT_DOUBLE_EQ(point.at(0).as_double(), -122.394992);
  EXPECT_DOUBLE_EQ(point.at(1).as_double(), 37.77639);
  EXPECT_EQ(*ValueOf(*platform, V::kOperatedBy), (json::array{"urn:ngsi-ld:GtfsAgency:caltrain:CT"}));

  // ctsf,,San Francisco Caltrain,37.776439,-122.394323,,…,1,,,1 — platforms 70011 and 70012.
  const json::object* station = FindEntity(fe, "urn:ngsi-ld:GtfsStation:caltrain:ctsf");
  ASSERT_NE(station, nullptr);
  EXPECT_EQ(station->at("type").as_string(), V::kStationType);
  EXPECT_EQ(TextOf(*station, V::kName), "San Francisco Caltrain");
  EXPECT_DOUBLE_EQ(station->at(V::kLocation).at("value").at("coordinates").at(1).as_double(), 37.776439);
  EXPECT_EQ(*ValueOf(*station, V::kHasStop),
            (json::array{"urn:ngsi-ld:GtfsStop:caltrain:70011", "urn:ngsi-ld:GtfsStop:caltrain:70012"}));
  // San Jose Diridon has two platforms and two stops for the shuttle.
  const json::object* san_jose = FindEntity(fe, "urn:ngsi-ld:GtfsStation:caltrain:ctsj");
  ASSERT_NE(san_jose, nullptr);
  EXPECT_EQ(ValueOf(*san_jose, V::kHasStop)->as_array().size(), 3u);

  // Bu-16APR, ,Baby Bullet,2,E31837 — no agency_id column: the feed's one agency.
  const json::object* bullet = FindEntity(fe, "urn:ngsi-ld:GtfsRoute:caltrain:Bu-16APR");
  ASSERT_NE(bullet, nullptr);
  EXPECT_EQ(TextOf(*bullet, V::kName), "Baby Bullet");
  EXPECT_FALSE(bullet->contains(V::kShortName));  // " " in the feed
  EXPECT_EQ(TextOf(*bullet, V::kRouteTypeAttr), "2");
  EXPECT_EQ(TextOf(*bullet, V::kRouteColor), "E31837");
  EXPECT_EQ(TextOf(*bullet, V::kOperatedBy), "urn:ngsi-ld:GtfsAgency:caltrain:CT");
  const json::object* agency = FindEntity(fe, "urn:ngsi-ld:GtfsAgency:caltrain:CT");
  ASSERT_NE(agency, nullptr);
  EXPECT_EQ(TextOf(*agency, V::kLanguage), "en");
  EXPECT_EQ(TextOf(*agency, V::kPhone), "800-660-4287");
  ExpectAllParse(fe);
}

TEST(FeedEntities, IdsPercentEncodeWhatAUrnCannotHold) {
  EXPECT_EQ(GtfsEntityId("GtfsStop", "k", "sub:101N"), "urn:ngsi-ld:GtfsStop:k:sub:101N");
  EXPECT_EQ(GtfsEntityId("GtfsStop", "k", "a b/ü%#?"), "urn:ngsi-ld:GtfsStop:k:a%20b%2F%C3%BC%25%23%3F");
  EXPECT_EQ(GtfsEntityId("GtfsStop", "k", "x\"<>{}|\\^`'()"),
            "urn:ngsi-ld:GtfsStop:k:x%22%3C%3E%7B%7D%7C%5C%5E%60%27%28%29");
  EXPECT_EQ(GtfsEntityId("GtfsAgency", "k", ""), "urn:ngsi-ld:GtfsAgency:k");
  for (std::string id : {"a b", "\x01\x7f", "中文", "%", "\"q\""}) {
    EXPECT_TRUE(ngsild::IsUri(GtfsEntityId("GtfsStop", "k", id))) << id;
  }
  EXPECT_TRUE(IsValidFeedKey("gimhae-2026.v1_a"));
  EXPECT_FALSE(IsValidFeedKey(""));
  EXPECT_FALSE(IsValidFeedKey("a:b"));
  EXPECT_FALSE(IsValidFeedKey("a b"));
  EXPECT_FALSE(IsValidFeedKey(std::string(kMaxFeedKeyBytes + 1, 'a')));
  Feed feed;
  auto bad = BuildFeedEntities(feed, TranslationIndex{},
                               EntityOptions{.feed_key = "no/slash", .source = "", .translated_names = true});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("feed key 'no/slash'"), std::string::npos);
}

// The part after "<feed key>:" decoded: %XX back to its byte.
std::string DecodeIdPart(std::string_view id, std::string_view prefix) {
  std::string out;
  std::string_view rest = id.substr(prefix.size());
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(rest.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(rest[i]);
    }
  }
  return out;
}

// Any GTFS id, every byte value included, gives a URI the hub accepts and that decodes back to
// the GTFS id; distinct GTFS ids give distinct entity ids.
TEST(FeedEntities, EveryGtfsIdGivesAUriThatDecodesBack) {
  const std::string prefix = "urn:ngsi-ld:GtfsStop:k:";
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string gtfs_id = std::string(1, static_cast<char>(b)) + "x";
    const std::string id = GtfsEntityId("GtfsStop", "k", gtfs_id);
    EXPECT_TRUE(ngsild::IsUri(id)) << b;
    EXPECT_EQ(DecodeIdPart(id, prefix), gtfs_id) << b;
    EXPECT_TRUE(seen.insert(id).second) << b;
  }
  std::mt19937 random(19);
  for (int round = 0; round < 2000; ++round) {
    std::string gtfs_id(1 + random() % 40, ' ');
    for (char& c : gtfs_id) c = static_cast<char>(random() % 256);
    const std::string id = GtfsEntityId("GtfsStop", "k", gtfs_id);
    ASSERT_TRUE(ngsild::IsUri(id)) << id;
    ASSERT_EQ(DecodeIdPart(id, prefix), gtfs_id) << id;
  }
}

// A feed that does not say its language keeps its original names under "@none".
TEST(FeedEntities, OriginalNameUnderNoneWhenTheFeedLanguageIsUnknown) {
  fs::path dir = TempDir();
  std::string path = (dir / "no_language.zip").string();
  ASSERT_TRUE(WriteZip(path, {
      {"agency.txt", "agency_name,agency_url,agency_timezone\nBus,https://b.example,Asia/Seoul\n"},
      {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\na,시청,35.20,128.80\nb,Market,35.21,128.81\n"},
      {"routes.txt", "route_id,route_short_name,route_long_name,route_type\nR,1,,3\n"},
      {"trips.txt", "route_id,service_id,trip_id\nR,daily,T\n"},
      {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                         "T,08:00:00,08:00:00,a,1\nT,08:05:00,08:05:00,b,2\n"},
      {"calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                       "daily,1,1,1,1,1,1,1,20240101,20301231\n"},
      {"translations.txt", "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n"
                           "stops,stop_name,en,City Hall,a,,\n"}}).ok());
  Feed feed = Load(path);
  FeedEntities fe = Build(feed, "anon");
  // No agency_id: the feed's one agency, named by the feed key alone.
  ASSERT_NE(FindEntity(fe, "urn:ngsi-ld:GtfsAgency:anon"), nullptr);
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsRoute:anon:R"), V::kOperatedBy), "urn:ngsi-ld:GtfsAgency:anon");
  EXPECT_EQ(FindEntity(fe, "urn:ngsi-ld:GtfsStop:anon:a")->at(V::kName).at("languageMap"),
            (json::object{{"@none", "시청"}, {"en", "City Hall"}}));
  ExpectAllParse(fe);
}

// A feed built by hand (not through LoadFeed, which refuses such stops) with the records that
// must be left out: a stop without a position, an id too long for an entity id.
TEST(FeedEntities, LeavesOutStopsWithoutPositionOrWithOverlongIds) {
  Feed feed;
  feed.agencies.push_back({"A", "Agency", "https://a.example", "Asia/Seoul", "ko", ""});
  auto place = [](std::string id, double lat, double lon, LocationType type = LocationType::kStop) {
    Stop stop;
    stop.id = std::move(id);
    stop.name = "Name of " + stop.id.substr(0, 10);
    stop.lat = lat;
    stop.lon = lon;
    stop.has_position = true;
    stop.location_type = type;
    return stop;
  };
  Stop placed = place("placed x", 35.2, 128.9);
  Stop unplaced = place("unplaced", 0, 0);
  unplaced.has_position = false;
  Stop overlong = place(std::string(kMaxEntityIdBytes, 'z'), 35.3, 128.8);
  Stop odd_station = place("st/1", 35.2, 128.9, LocationType::kStation);
  Stop entrance = place("door", 35.2, 128.9, LocationType::kEntrance);
  entrance.parent_station = 3;
  feed.stops = {placed, unplaced, overlong, odd_station, entrance};
  feed.stops[0].parent_station = 3;
  feed.stops[1].parent_station = 3;
  FeedEntities fe = Build(feed, "hand");
  EXPECT_EQ(fe.stops, 1u);
  EXPECT_EQ(fe.stations, 1u);
  ASSERT_EQ(fe.skipped.size(), 2u);
  EXPECT_EQ(fe.skipped[0].file, "stops.txt");
  EXPECT_NE(fe.skipped[0].reason.find("stop 'unplaced' has no position"), std::string::npos) << fe.skipped[0].reason;
  EXPECT_NE(fe.skipped[1].reason.find("would exceed 2048 bytes"), std::string::npos) << fe.skipped[1].reason;
  const json::object* station = FindEntity(fe, "urn:ngsi-ld:GtfsStation:hand:st%2F1");
  ASSERT_NE(station, nullptr);
  // Only the stop that was written; the entrance is no GtfsStop.
  EXPECT_EQ(*ValueOf(*station, V::kHasStop), (json::array{"urn:ngsi-ld:GtfsStop:hand:placed%20x"}));
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsStop:hand:placed%20x"), V::kHasParentStation),
            "urn:ngsi-ld:GtfsStation:hand:st%2F1");
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsAgency:hand:A"), V::kSource), "https://a.example");
  ExpectAllParse(fe);
}

TEST(FeedEntities, TranslatedNamesAreLanguageProperties) {
  fs::path dir = TempDir();
  std::string path = (dir / "translated.zip").string();
  ASSERT_TRUE(WriteZip(path, {
      {"agency.txt", "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
                     "GB,김해버스,https://bus.example.kr,Asia/Seoul,ko\n"},
      {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\nhall,시청,35.2285,128.8893\nmarket,시장,35.2335,128.8830\n"},
      {"routes.txt", "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,GB,1,시청-시장,3\n"},
      {"trips.txt", "route_id,service_id,trip_id\nR1,daily,T1\n"},
      {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                         "T1,08:00:00,08:00:00,hall,1\nT1,08:05:00,08:05:00,market,2\n"},
      {"calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                       "daily,1,1,1,1,1,1,1,20240101,20301231\n"},
      {"feed_info.txt", "feed_publisher_name,feed_publisher_url,feed_lang\n김해시,https://www.gimhae.go.kr,ko\n"},
      {"translations.txt", "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n"
                           "stops,stop_name,en,City Hall,hall,,\n"
                           "stops,stop_name,zh-Hans,市政府,,,시청\n"
                           "routes,route_long_name,en,City Hall - Market,R1,,\n"
                           "agency,agency_name,en,Gimhae Bus,GB,,\n"
                           "stops,stop_name,not a tag!,???,hall,,\n"}}).ok());
  Feed feed = Load(path);
  FeedEntities fe = Build(feed, "gimhae");
  const json::object* hall = FindEntity(fe, "urn:ngsi-ld:GtfsStop:gimhae:hall");
  ASSERT_NE(hall, nullptr);
  const json::object& name = hall->at(V::kName).as_object();
  EXPECT_EQ(name.at("type").as_string(), "LanguageProperty");
  // The malformed tag is left out of the map.
  EXPECT_EQ(name.at("languageMap"), (json::object{{"ko", "시청"}, {"en", "City Hall"}, {"zh-Hans", "市政府"}}));
  EXPECT_EQ(FindEntity(fe, "urn:ngsi-ld:GtfsRoute:gimhae:R1")->at(V::kName).at("languageMap"),
            (json::object{{"ko", "시청-시장"}, {"en", "City Hall - Market"}}));
  EXPECT_EQ(FindEntity(fe, "urn:ngsi-ld:GtfsAgency:gimhae:GB")->at(V::kAgencyName).at("languageMap"),
            (json::object{{"ko", "김해버스"}, {"en", "Gimhae Bus"}}));
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsAgency:gimhae:GB"), V::kSource), "https://www.gimhae.go.kr");
  // Untranslated: a plain Property.
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsStop:gimhae:market"), V::kName), "시장");
  ExpectAllParse(fe);

  // A client asking with lang=en gets the English name as a plain text Property.
  ngsild::ContextResolver resolver{{}, {}};
  ASSERT_TRUE(resolver.Init().ok());
  auto parsed = ngsild::ParseEntity(*hall, *resolver.Core(), 1'700'000'000'000, {});
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const std::vector<std::string> english{"en"}, chinese{"zh-Hans"};
  ngsild::RenderOptions render;
  render.lang = &english;
  json::object shown = ngsild::RenderEntity(parsed.value(), *resolver.Core(), render);
  EXPECT_EQ(shown.at(V::kName).at("value"), "City Hall");
  EXPECT_EQ(shown.at(V::kName).at("lang"), "en");
  render.lang = &chinese;
  shown = ngsild::RenderEntity(parsed.value(), *resolver.Core(), render);
  EXPECT_EQ(shown.at(V::kName).at("value"), "市政府");

  FeedEntities plain = Build(feed, "gimhae", /*translated_names=*/false);
  EXPECT_EQ(TextOf(*FindEntity(plain, "urn:ngsi-ld:GtfsStop:gimhae:hall"), V::kName), "시청");
}

// On every real feed at hand: one entity per agency, positioned station and positioned stop,
// and per route; ids unique; every relationship points at an entity of the expected type that
// the same build made; every entity accepted by the hub.
TEST(FeedEntities, RealFeedsAreCompleteAndSelfConsistent) {
  for (std::string name : {"google_sample-feed-1.zip", "caltrain_20160406.zip", "bart_2016.zip", "HD_GTFS.zip",
                           "DB_Fernverkehr_GTFS.zip"}) {
    SCOPED_TRACE(name);
    Feed feed = Load(SharedGtfs(name));
    FeedEntities fe = Build(feed, "real");
    size_t stations = 0, stops = 0;
    for (const Stop& s : feed.stops) {
      stations += s.location_type == LocationType::kStation && s.has_position;
      stops += s.location_type == LocationType::kStop && s.has_position;
    }
    EXPECT_EQ(fe.agencies, feed.agencies.size());
    EXPECT_EQ(fe.stations, stations);
    EXPECT_EQ(fe.stops, stops);
    EXPECT_EQ(fe.routes, feed.routes.size());
    EXPECT_EQ(fe.entities.size(), fe.agencies + fe.stations + fe.stops + fe.routes);
    EXPECT_GT(fe.stops, 0u);

    std::map<std::string, std::string> type_of;  // id -> type IRI
    for (const json::object& e : fe.entities) {
      EXPECT_TRUE(type_of.emplace(std::string(e.at("id").as_string()), std::string(e.at("type").as_string())).second)
          << "duplicate id " << e.at("id").as_string();
    }
    auto expect_targets = [&](const json::object& e, std::string_view attr, std::string_view type) {
      const json::value* target = ValueOf(e, attr);
      if (!target) return;
      json::array targets = target->is_array() ? target->as_array() : json::array{*target};
      for (const json::value& t : targets) {
        auto it = type_of.find(std::string(t.as_string()));
        ASSERT_NE(it, type_of.end()) << e.at("id").as_string() << " " << attr << " -> " << t.as_string();
        EXPECT_EQ(it->second, type);
      }
    };
    size_t with_operator = 0;
    for (const json::object& e : fe.entities) {
      expect_targets(e, V::kHasParentStation, V::kStationType);
      expect_targets(e, V::kHasStop, V::kStopType);
      expect_targets(e, V::kOperatedBy, V::kAgencyType);
      with_operator += e.contains(V::kOperatedBy);
    }
    EXPECT_GE(with_operator, fe.routes);  // every route, and the stops that trips serve
    ExpectAllParse(fe);
  }
}

// NYC subway: 496 stations, each with its northbound and southbound platforms.
TEST(FeedEntities, SubwayStationsHaveTheirPlatforms) {
  Feed feed = Load(SharedGtfs("mta_nyct_subway_20260526-20261031.zip"));
  FeedEntities fe = Build(feed, "nyct");
  EXPECT_EQ(fe.stations, 496u);
  EXPECT_EQ(fe.stops, 2 * 496u);
  // 101,Van Cortlandt Park-242 St,40.889248,-73.898583,1,
  const json::object* station = FindEntity(fe, "urn:ngsi-ld:GtfsStation:nyct:101");
  ASSERT_NE(station, nullptr);
  EXPECT_EQ(TextOf(*station, V::kName), "Van Cortlandt Park-242 St");
  EXPECT_EQ(*ValueOf(*station, V::kHasStop),
            (json::array{"urn:ngsi-ld:GtfsStop:nyct:101N", "urn:ngsi-ld:GtfsStop:nyct:101S"}));
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsStop:nyct:101S"), V::kHasParentStation),
            "urn:ngsi-ld:GtfsStation:nyct:101");
}

// A stop served by two agencies names both as its operators, and one served by none, none.
TEST(FeedEntities, StopOperatedByEveryAgencyServingIt) {
  fs::path dir = TempDir();
  std::string path = (dir / "two_agencies.zip").string();
  ASSERT_TRUE(WriteZip(path, {
      {"agency.txt", "agency_id,agency_name,agency_url,agency_timezone\n"
                     "B,Bus,https://b.example,Asia/Seoul\nA,Rail,https://a.example,Asia/Seoul\n"},
      {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\nshared,Shared,35.20,128.80\nbus,Bus only,35.21,128.81\n"
                    "rail,Rail only,35.22,128.82\nidle,Unserved,35.23,128.83\n"},
      {"routes.txt", "route_id,agency_id,route_short_name,route_long_name,route_type\nRB,B,1,,3\nRA,A,2,,2\n"},
      {"trips.txt", "route_id,service_id,trip_id\nRB,daily,TB\nRA,daily,TA\n"},
      {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                         "TB,08:00:00,08:00:00,bus,1\nTB,08:05:00,08:05:00,shared,2\n"
                         "TA,09:00:00,09:00:00,shared,1\nTA,09:05:00,09:05:00,rail,2\n"},
      {"calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                       "daily,1,1,1,1,1,1,1,20240101,20301231\n"}}).ok());
  Feed feed = Load(path);
  FeedEntities fe = Build(feed, "two");
  // Agencies in feed order: B is agency 0, A agency 1.
  EXPECT_EQ(*ValueOf(*FindEntity(fe, "urn:ngsi-ld:GtfsStop:two:shared"), V::kOperatedBy),
            (json::array{"urn:ngsi-ld:GtfsAgency:two:B", "urn:ngsi-ld:GtfsAgency:two:A"}));
  EXPECT_EQ(*ValueOf(*FindEntity(fe, "urn:ngsi-ld:GtfsStop:two:rail"), V::kOperatedBy),
            (json::array{"urn:ngsi-ld:GtfsAgency:two:A"}));
  EXPECT_FALSE(FindEntity(fe, "urn:ngsi-ld:GtfsStop:two:idle")->contains(V::kOperatedBy));
  // A route without a long name is named by its short name.
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsRoute:two:RA"), V::kName), "2");
  EXPECT_EQ(TextOf(*FindEntity(fe, "urn:ngsi-ld:GtfsRoute:two:RA"), V::kOperatedBy), "urn:ngsi-ld:GtfsAgency:two:A");
}

// What a client sees that reads the entities with the model's own @context (served offline
// from the shared copy, as the hub's preload folder does): the model's short names.
TEST(FeedEntities, ClientsWithTheModelsContextSeeItsShortNames) {
  ngsild::ContextResolverOptions options;
  options.preload_dir = SharedData("jsonld-contexts");
  options.allow_remote_fetch = false;
  ngsild::ContextResolver resolver(options, {});
  ASSERT_TRUE(resolver.Init().ok());
  auto model = resolver.ResolveUrl(kUrbanMobilityContextUrl);
  ASSERT_TRUE(model.ok()) << model.status().message();

  Feed feed = Load(SharedGtfs("caltrain_20160406.zip"));
  FeedEntities fe = Build(feed, "caltrain");
  auto key_values = [&](std::string_view id) {
    const json::object* e = FindEntity(fe, id);
    EXPECT_NE(e, nullptr) << id;
    auto parsed = ngsild::ParseEntity(e ? *e : json::object{}, *resolver.Core(), 1'700'000'000'000, {});
    EXPECT_TRUE(parsed.ok()) << parsed.status().message();
    ngsild::RenderOptions render;
    render.format = ngsild::Format::kKeyValues;
    return parsed.ok() ? ngsild::RenderEntity(parsed.value(), **model, render) : json::object{};
  };
  EXPECT_EQ(key_values("urn:ngsi-ld:GtfsStop:caltrain:70011"),
            json::parse(R"({"id": "urn:ngsi-ld:GtfsStop:caltrain:70011", "type": "GtfsStop",
                "name": "San Francisco Caltrain", "code": "70011", "zoneCode": "1", "wheelChairAccessible": 1,
                "location": {"type": "Point", "coordinates": [-122.394992, 37.77639]},
                "hasParentStation": "urn:ngsi-ld:GtfsStation:caltrain:ctsf",
                "operatedBy": ["urn:ngsi-ld:GtfsAgency:caltrain:CT"]})"));
  json::object station = key_values("urn:ngsi-ld:GtfsStation:caltrain:ctsf");
  EXPECT_EQ(station.at("type"), "GtfsStation");
  EXPECT_TRUE(station.contains("hasStop"));
  EXPECT_EQ(key_values("urn:ngsi-ld:GtfsRoute:caltrain:Bu-16APR"),
            json::parse(R"({"id": "urn:ngsi-ld:GtfsRoute:caltrain:Bu-16APR", "type": "GtfsRoute",
                "name": "Baby Bullet", "routeType": "2", "routeColor": "E31837",
                "operatedBy": "urn:ngsi-ld:GtfsAgency:caltrain:CT"})"));
  EXPECT_EQ(key_values("urn:ngsi-ld:GtfsAgency:caltrain:CT"),
            json::parse(R"({"id": "urn:ngsi-ld:GtfsAgency:caltrain:CT", "type": "GtfsAgency",
                "agencyName": "Caltrain", "page": "http://www.caltrain.com", "phone": "800-660-4287",
                "timezone": "America/Los_Angeles", "language": "en", "source": "http://www.caltrain.com"})"));
}

TEST(FeedEntities, StaleIdsAreThoseAReimportNoLongerHas) {
  EXPECT_EQ(StaleEntityIds({"urn:c", "urn:a", "urn:b", "urn:b"}, {"urn:c", "urn:d", "urn:a"}),
            (std::vector<std::string>{"urn:b"}));
  EXPECT_TRUE(StaleEntityIds({}, {"urn:a"}).empty());

  Feed feed = Load(SharedGtfs("google_sample-feed-1.zip"));
  std::vector<std::string> before = EntityIds(Build(feed, "demo").entities);
  ASSERT_EQ(before.size(), 15u);
  // The next version of the feed loses a route and renames a stop.
  feed.routes.pop_back();
  feed.stops[feed.stop_by_id.at("AMV")].id = "AMV2";
  std::vector<std::string> after = EntityIds(Build(feed, "demo").entities);
  EXPECT_EQ(StaleEntityIds(before, after),
            (std::vector<std::string>{"urn:ngsi-ld:GtfsRoute:demo:AAMV", "urn:ngsi-ld:GtfsStop:demo:AMV"}));
  EXPECT_EQ(StaleEntityIds(after, before), (std::vector<std::string>{"urn:ngsi-ld:GtfsStop:demo:AMV2"}));
}

}  // namespace
}  // namespace cityhub::mobility::gtfs
