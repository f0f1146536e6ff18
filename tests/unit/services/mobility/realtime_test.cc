// GTFS-Realtime decoding: the real feeds in CITYHUB_SHARED decode the same from their binary and
// text forms with the contents the files show; unknown fields and extensions are ignored; bad
// input (truncated, garbage, missing header or ids, over a limit) is refused with a clear error.
#include "services/mobility/gtfs/realtime.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>

namespace cityhub::mobility::gtfs {
namespace {

std::string ReadShared(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  std::ifstream in(std::string(shared ? shared : "../shared") + "/data/gtfs-rt/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

RealtimeFeed ParseOk(std::string_view bytes, const RealtimeLimits& limits = {}) {
  auto feed = ParseRealtimeFeed(bytes, limits);
  EXPECT_TRUE(feed.ok()) << feed.status().message();
  return feed.ok() ? std::move(feed).value() : RealtimeFeed{};
}

RealtimeFeed ParseTextOk(std::string_view text) {
  auto feed = ParseRealtimeFeedText(text);
  EXPECT_TRUE(feed.ok()) << feed.status().message();
  return feed.ok() ? std::move(feed).value() : RealtimeFeed{};
}

TEST(RealtimeFeed, BartBinaryAndTextGiveTheSameFeed) {
  RealtimeFeed binary = ParseOk(ReadShared("bart_tripupdates_20161229.pb"));
  RealtimeFeed text = ParseTextOk(ReadShared("bart_tripupdates_20161229.txtpb"));
  EXPECT_EQ(binary, text);
  EXPECT_EQ(binary.version, "1.0");
  EXPECT_EQ(binary.timestamp, 1483033164u);
  EXPECT_FALSE(binary.differential);
  EXPECT_EQ(binary.trip_updates.size(), 72u);
  EXPECT_TRUE(binary.vehicle_positions.empty());

  const TripUpdate& first = binary.trip_updates.front();
  EXPECT_EQ(first.entity_id, "19DC11");
  EXPECT_EQ(first.trip.trip_id, "19DC11");
  EXPECT_EQ(first.trip.relationship, TripRelationship::kScheduled);
  EXPECT_TRUE(first.trip.start_date.empty());
  ASSERT_EQ(first.stop_time_updates.size(), 1u);
  const StopTimeUpdate& u = first.stop_time_updates[0];
  EXPECT_EQ(u.stop_sequence, 2u);
  EXPECT_EQ(u.stop_id, "UCTY");
  EXPECT_FALSE(u.arrival.has_value());
  ASSERT_TRUE(u.departure.has_value());
  EXPECT_EQ(u.departure->delay, 0);  // given as 0: present, not absent
  EXPECT_FALSE(u.departure->time.has_value());
}

TEST(RealtimeFeed, BartHasDelayedTripsAmongTheOnTimeOnes) {
  RealtimeFeed feed = ParseOk(ReadShared("bart_tripupdates_20161229.pb"));
  int delayed = 0;
  for (const TripUpdate& t : feed.trip_updates) {
    for (const StopTimeUpdate& u : t.stop_time_updates) {
      if (u.departure && u.departure->delay.value_or(0) != 0) ++delayed;
      if (u.arrival && u.arrival->delay.value_or(0) != 0) ++delayed;
    }
  }
  EXPECT_GT(delayed, 0);
  EXPECT_LT(delayed, static_cast<int>(feed.trip_updates.size()) * 2);
}

TEST(RealtimeFeed, GoogleExampleBinaryAndTextAgree) {
  RealtimeFeed binary = ParseOk(ReadShared("google_trip-updates-full.pb"));
  RealtimeFeed text = ParseTextOk(ReadShared("google_trip-updates-full.asciipb"));
  EXPECT_EQ(binary, text);
  EXPECT_EQ(binary.timestamp, 1284457468u);
  ASSERT_EQ(binary.trip_updates.size(), 2u);
  const TripUpdate& simple = binary.trip_updates[0];
  EXPECT_EQ(simple.entity_id, "simple-trip");
  ASSERT_EQ(simple.stop_time_updates.size(), 3u);
  EXPECT_EQ(simple.stop_time_updates[0].stop_sequence, 3u);
  EXPECT_EQ(simple.stop_time_updates[0].arrival->delay, 5);
  EXPECT_EQ(simple.stop_time_updates[1].arrival->delay, 1);
  EXPECT_FALSE(simple.stop_time_updates[2].arrival.has_value());
  EXPECT_FALSE(simple.stop_time_updates[2].departure.has_value());
  const TripUpdate& frequency = binary.trip_updates[1];
  EXPECT_EQ(frequency.trip.trip_id, "frequency-expanded-trip");
  EXPECT_EQ(frequency.trip.start_time, "11:15:35");
  EXPECT_EQ(frequency.stop_time_updates[0].arrival->delay, -2);
}

TEST(RealtimeFeed, AlertsFeedHasNothingWeReadAndStillParses) {
  RealtimeFeed feed = ParseTextOk(ReadShared("google_alerts.asciipb"));
  EXPECT_TRUE(feed.trip_updates.empty());
  EXPECT_TRUE(feed.vehicle_positions.empty());
  EXPECT_GT(feed.timestamp, 0u);
}

TEST(RealtimeFeed, VehiclePositionsTripRelationshipsAndDeletedEntities) {
  RealtimeFeed feed = ParseTextOk(R"(
    header { gtfs_realtime_version: "2.0" incrementality: DIFFERENTIAL timestamp: 1700000000 }
    entity {
      id: "v1"
      vehicle {
        trip { trip_id: "T1" route_id: "R9" start_date: "20231114" start_time: "08:10:00" direction_id: 1 }
        vehicle { id: "bus-7" label: "7" license_plate: "GH 1234" }
        position { latitude: 35.25 longitude: 128.875 bearing: 90 speed: 8.5 }
        current_stop_sequence: 4
        stop_id: "S4"
        current_status: STOPPED_AT
        timestamp: 1699999990
      }
    }
    entity { id: "v2" vehicle { vehicle { id: "tram-2" } } }
    entity { id: "gone" is_deleted: true trip_update { trip { trip_id: "T0" } } }
    entity {
      id: "c"
      trip_update {
        trip { trip_id: "T2" schedule_relationship: CANCELED }
        delay: 120
        timestamp: 1699999999
        stop_time_update { stop_id: "S1" schedule_relationship: SKIPPED }
        stop_time_update { stop_sequence: 5 schedule_relationship: NO_DATA }
        stop_time_update { stop_sequence: 6 arrival { time: 1700000300 } departure { delay: -30 } }
      }
    }
    entity { id: "n" trip_update { trip { trip_id: "X" schedule_relationship: NEW } } }
  )");
  EXPECT_TRUE(feed.differential);
  ASSERT_EQ(feed.vehicle_positions.size(), 2u);
  const VehiclePosition& v = feed.vehicle_positions[0];
  EXPECT_EQ(v.entity_id, "v1");
  ASSERT_TRUE(v.trip.has_value());
  EXPECT_EQ(v.trip->route_id, "R9");
  EXPECT_EQ(v.trip->start_date, "20231114");
  EXPECT_EQ(v.trip->direction_id, 1u);
  EXPECT_EQ(v.vehicle->id, "bus-7");
  EXPECT_EQ(v.vehicle->license_plate, "GH 1234");
  EXPECT_TRUE(v.has_position);
  EXPECT_DOUBLE_EQ(v.lat, 35.25);  // exactly representable as float
  EXPECT_DOUBLE_EQ(v.lon, 128.875);
  EXPECT_EQ(v.bearing, 90.0f);
  EXPECT_EQ(v.speed, 8.5f);
  EXPECT_EQ(v.current_stop_sequence, 4u);
  EXPECT_EQ(v.stop_id, "S4");
  EXPECT_EQ(v.current_status, VehicleStopStatus::kStoppedAt);
  EXPECT_EQ(v.timestamp, 1699999990u);
  const VehiclePosition& bare = feed.vehicle_positions[1];
  EXPECT_FALSE(bare.has_position);
  EXPECT_FALSE(bare.trip.has_value());
  EXPECT_EQ(bare.current_status, VehicleStopStatus::kInTransitTo);  // the reference's default
  EXPECT_FALSE(bare.timestamp.has_value());

  EXPECT_EQ(feed.deleted_entity_ids, std::vector<std::string>{"gone"});
  ASSERT_EQ(feed.trip_updates.size(), 2u);
  const TripUpdate& c = feed.trip_updates[0];
  EXPECT_EQ(c.trip.relationship, TripRelationship::kCanceled);
  EXPECT_EQ(c.delay, 120);
  EXPECT_EQ(c.timestamp, 1699999999u);
  ASSERT_EQ(c.stop_time_updates.size(), 3u);
  EXPECT_EQ(c.stop_time_updates[0].relationship, StopRelationship::kSkipped);
  EXPECT_FALSE(c.stop_time_updates[0].stop_sequence.has_value());
  EXPECT_EQ(c.stop_time_updates[1].relationship, StopRelationship::kNoData);
  EXPECT_EQ(c.stop_time_updates[2].arrival->time, 1700000300);
  EXPECT_FALSE(c.stop_time_updates[2].arrival->delay.has_value());
  EXPECT_EQ(c.stop_time_updates[2].departure->delay, -30);
  EXPECT_EQ(feed.trip_updates[1].trip.relationship, TripRelationship::kNew);
}

TEST(RealtimeFeed, HeaderOnlyFeedsEntitiesWithBothPartsAndHalfPositions) {
  RealtimeFeed empty = ParseTextOk("header { gtfs_realtime_version: \"2.0\" timestamp: 5 }");
  EXPECT_EQ(empty.timestamp, 5u);
  EXPECT_TRUE(empty.trip_updates.empty());
  EXPECT_TRUE(empty.vehicle_positions.empty());
  EXPECT_TRUE(empty.deleted_entity_ids.empty());

  RealtimeFeed both = ParseTextOk(R"(
    header {}
    entity { id: "bus-1" trip_update { trip { trip_id: "T" } delay: 30 } vehicle { position { latitude: 35.5 } } })");
  ASSERT_EQ(both.trip_updates.size(), 1u);
  ASSERT_EQ(both.vehicle_positions.size(), 1u);
  EXPECT_EQ(both.trip_updates[0].entity_id, "bus-1");
  EXPECT_EQ(both.vehicle_positions[0].entity_id, "bus-1");
  EXPECT_FALSE(both.vehicle_positions[0].has_position);  // a latitude without its longitude
  EXPECT_EQ(both.timestamp, 0u);
  EXPECT_TRUE(both.version.empty());
}

TEST(RealtimeFeed, UnknownFieldsAndExtensionsAreIgnored) {
  const std::string bart = ReadShared("bart_tripupdates_20161229.pb");
  const RealtimeFeed plain = ParseOk(bart);
  // FeedMessage field 99 (varint 1), then extension 1000 (3 bytes), neither in our schema.
  std::string extended = bart;
  extended += std::string("\x98\x06\x01", 3);
  extended += std::string("\xc2\x3e\x03" "abc", 6);
  EXPECT_EQ(ParseOk(extended), plain);

  RealtimeFeed text = ParseTextOk(R"(
    header { gtfs_realtime_version: "2.0" feed_version: "v9" }
    entity { id: "a" alert { cause: STRIKE } }
    entity { id: "b" trip_update { trip { trip_id: "T" modified_trip { affected_trip_id: "U" } } } }
    entity { id: "c" vehicle { occupancy_status: FULL [transit_realtime.some_extension] { x: 1 } } }
  )");
  ASSERT_EQ(text.trip_updates.size(), 1u);
  EXPECT_EQ(text.trip_updates[0].trip.trip_id, "T");
  EXPECT_EQ(text.vehicle_positions.size(), 1u);
}

// FeedMessage { header {} entity { id: "a" trip_update { trip { trip_id: "T" schedule_relationship: R }
// stop_time_update { stop_sequence: 1 schedule_relationship: S } } } }, encoded by hand.
// A second trip relationship, when given, follows the first on the wire.
std::string TripUpdateWithRelationships(uint8_t trip_relationship, uint8_t stop_relationship,
                                        std::optional<uint8_t> then_trip_relationship = std::nullopt) {
  std::string trip = std::string("\x0a\x01T\x20", 4) + static_cast<char>(trip_relationship);
  if (then_trip_relationship) trip += std::string("\x20", 1) + static_cast<char>(*then_trip_relationship);
  const std::string stop_update = std::string("\x08\x01\x28", 3) + static_cast<char>(stop_relationship);
  const std::string update = "\x0a" + std::string(1, static_cast<char>(trip.size())) + trip + "\x12" +
                             std::string(1, static_cast<char>(stop_update.size())) + stop_update;
  const std::string entity = std::string("\x0a\x01" "a\x1a", 4) + static_cast<char>(update.size()) + update;
  return std::string("\x0a\x00\x12", 3) + static_cast<char>(entity.size()) + entity;
}

TEST(RealtimeFeed, RelationshipValuesUnknownToTheSchemaKeepTheirNumber) {
  RealtimeFeed known = ParseOk(TripUpdateWithRelationships(3, 1));
  ASSERT_EQ(known.trip_updates.size(), 1u);
  EXPECT_EQ(known.trip_updates[0].trip.trip_id, "T");
  EXPECT_EQ(known.trip_updates[0].trip.relationship, TripRelationship::kCanceled);
  EXPECT_EQ(known.trip_updates[0].stop_time_updates[0].relationship, StopRelationship::kSkipped);
  // 4 and 9 are no TripDescriptor relationship of this schema, 7 no StopTimeUpdate one: kept as
  // numbers, not read as the default SCHEDULED.
  for (uint8_t unnamed : {4, 9}) {
    RealtimeFeed feed = ParseOk(TripUpdateWithRelationships(unnamed, 7));
    ASSERT_EQ(feed.trip_updates.size(), 1u);
    EXPECT_EQ(static_cast<int>(feed.trip_updates[0].trip.relationship), unnamed);
    EXPECT_EQ(static_cast<int>(feed.trip_updates[0].stop_time_updates[0].relationship), 7);
  }
  // A value we know, sent with one we do not, is the one read.
  RealtimeFeed mixed = ParseOk(TripUpdateWithRelationships(3, 0, 9));
  EXPECT_EQ(mixed.trip_updates[0].trip.relationship, TripRelationship::kCanceled);
}

TEST(RealtimeFeed, TruncatedBytesAreRefusedOrAPrefixNeverACrash) {
  const std::string bart = ReadShared("bart_tripupdates_20161229.pb");
  const RealtimeFeed full = ParseOk(bart);
  auto cut = ParseRealtimeFeed(std::string_view(bart).substr(0, bart.size() - 1));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), Status::Code::kInvalidRequest);
  EXPECT_NE(cut.status().message().find("not a valid FeedMessage"), std::string::npos) << cut.status().message();
  for (size_t n = 0; n < bart.size(); ++n) {
    auto r = ParseRealtimeFeed(std::string_view(bart).substr(0, n));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidRequest) << n;
      continue;
    }
    // A cut exactly between two entities is a valid, shorter message: its entities are the first ones.
    ASSERT_LE(r->trip_updates.size(), full.trip_updates.size());
    for (size_t i = 0; i < r->trip_updates.size(); ++i) EXPECT_EQ(r->trip_updates[i], full.trip_updates[i]) << n;
  }
}

TEST(RealtimeFeed, GarbageIsRefusedWithInvalidRequest) {
  auto all_ones = ParseRealtimeFeed(std::string(64, '\xff'));
  ASSERT_FALSE(all_ones.ok());
  EXPECT_EQ(all_ones.status().code(), Status::Code::kInvalidRequest);

  auto empty = ParseRealtimeFeed("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "GTFS-Realtime feed: the header is missing");

  std::mt19937 rng(19);
  int refused = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(1 + rng() % 200, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    auto r = ParseRealtimeFeed(bytes);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidRequest);
      ++refused;
    }
  }
  EXPECT_GT(refused, 1900);  // random bytes are almost never a FeedMessage with a header

  auto text = ParseRealtimeFeedText("header { gtfs_realtime_version: \"2.0\" }\nentity { id: 7 trip_update {");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), Status::Code::kInvalidRequest);
  EXPECT_NE(text.status().message().find("line 2"), std::string::npos) << text.status().message();
}

TEST(RealtimeFeed, EntitiesWithoutIdOrTripAreNamed) {
  auto no_id = ParseRealtimeFeedText("header {} entity { id: \"a\" } entity { trip_update { trip { trip_id: \"T\" } } }");
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.status().message(), "GTFS-Realtime feed: entity 2 has no id");

  auto no_trip = ParseRealtimeFeedText("header {} entity { id: \"x\" trip_update { delay: 5 } }");
  ASSERT_FALSE(no_trip.ok());
  EXPECT_EQ(no_trip.status().message(), "entity 'x': trip update without its trip descriptor");
}

TEST(RealtimeFeed, LimitsAreEnforcedWithPayloadTooLarge) {
  const std::string bart = ReadShared("bart_tripupdates_20161229.pb");
  auto bytes = ParseRealtimeFeed(bart, {.max_bytes = 1000});
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), Status::Code::kPayloadTooLarge);
  EXPECT_NE(bytes.status().message().find("limit of 1000"), std::string::npos) << bytes.status().message();

  auto entities = ParseRealtimeFeed(bart, {.max_entities = 71});
  ASSERT_FALSE(entities.ok());
  EXPECT_EQ(entities.status().code(), Status::Code::kPayloadTooLarge);
  EXPECT_EQ(entities.status().message(), "GTFS-Realtime feed: 72 entities, more than the limit of 71");
  EXPECT_TRUE(ParseRealtimeFeed(bart, {.max_entities = 72}).ok());

  const std::string google = ReadShared("google_trip-updates-full.pb");
  auto updates = ParseRealtimeFeed(google, {.max_stop_time_updates_per_trip = 2});
  ASSERT_FALSE(updates.ok());
  EXPECT_EQ(updates.status().message(), "entity 'simple-trip': 3 stop time updates, more than the limit of 2");

  auto text = ParseRealtimeFeedText(ReadShared("bart_tripupdates_20161229.txtpb"), {.max_bytes = 1000});
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), Status::Code::kPayloadTooLarge);
}

}  // namespace
}  // namespace cityhub::mobility::gtfs
