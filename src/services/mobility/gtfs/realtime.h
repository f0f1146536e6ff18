// RealtimeFeed: one GTFS-Realtime message (trip updates and vehicle positions) decoded into
// plain structs, so nothing outside realtime.cc sees protobuf. ParseRealtimeFeed and
// ParseRealtimeFeedText are the producers; a RealtimeFeed is a plain value that owns its data.
//
// What is kept. The header's timestamp and incrementality; for each entity that is not deleted,
// its trip update and/or vehicle position, field for field as sent (nothing is matched against
// a static feed here: that is trip_changes.h). Absent optional fields are std::nullopt or empty
// strings, never made-up defaults, so "delay 0" and "no delay" stay different. Alerts, shapes,
// occupancy and producers' extensions are not read; unknown fields are ignored.
//
// Errors. Bytes that are not a FeedMessage (malformed protobuf, truncated input, garbage),
// a missing header, or an entity without its id → InvalidRequest naming what and, for an
// entity, which one. Input over a RealtimeLimits bound → PayloadTooLarge naming the bound, and
// the size check on bytes is made before decoding, so memory stays proportional to the limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace cityhub::mobility::gtfs {

// 64 MB: a whole city's trip updates are a few MB (BART's: 3 KB; large agencies: ~10 MB).
inline constexpr uint64_t kDefaultMaxRealtimeBytes = 64ull << 20;
inline constexpr size_t kDefaultMaxRealtimeEntities = 200'000;
// One update per stop of the longest trip a routing timetable takes (routing::kMaxStopsPerTrip),
// so an added trip that passes here is never too long for ApplyTripChanges.
inline constexpr size_t kDefaultMaxStopTimeUpdatesPerTrip = 1'000;

struct RealtimeLimits {
  uint64_t max_bytes = kDefaultMaxRealtimeBytes;
  size_t max_entities = kDefaultMaxRealtimeEntities;
  size_t max_stop_time_updates_per_trip = kDefaultMaxStopTimeUpdatesPerTrip;
};

// The schedule relationships, values as on the wire. A value the specification may add later
// is kept as its number (e.g. static_cast<TripRelationship>(9)), never read as SCHEDULED, so
// consumers can refuse what they do not understand.
//
// TripDescriptor.schedule_relationship.
enum class TripRelationship : uint8_t {
  kScheduled = 0, kAdded = 1, kUnscheduled = 2, kCanceled = 3,
  kReplacement = 5, kDuplicated = 6, kDeleted = 7, kNew = 8
};

// StopTimeUpdate.schedule_relationship.
enum class StopRelationship : uint8_t { kScheduled = 0, kSkipped = 1, kNoData = 2, kUnscheduled = 3 };

// VehiclePosition.current_status (values as on the wire).
enum class VehicleStopStatus : uint8_t { kIncomingAt = 0, kStoppedAt = 1, kInTransitTo = 2 };

struct TripDescriptor {
  std::string trip_id, route_id;
  std::string start_date;  // "YYYYMMDD" as sent, empty when absent
  std::string start_time;  // "HH:MM:SS" as sent, empty when absent
  std::optional<uint32_t> direction_id;
  TripRelationship relationship = TripRelationship::kScheduled;

  bool operator==(const TripDescriptor&) const = default;
};

struct VehicleDescriptor {
  std::string id, label, license_plate;

  bool operator==(const VehicleDescriptor&) const = default;
};

struct StopTimeEvent {
  std::optional<int32_t> delay;  // seconds late (negative: early)
  std::optional<int64_t> time;   // POSIX seconds; wins over delay when both are given

  bool operator==(const StopTimeEvent&) const = default;
};

struct StopTimeUpdate {
  std::optional<uint32_t> stop_sequence;
  std::string stop_id;  // empty when absent
  std::optional<StopTimeEvent> arrival, departure;
  StopRelationship relationship = StopRelationship::kScheduled;

  bool operator==(const StopTimeUpdate&) const = default;
};

struct TripUpdate {
  std::string entity_id;
  TripDescriptor trip;
  std::optional<VehicleDescriptor> vehicle;
  std::optional<uint64_t> timestamp;
  std::optional<int32_t> delay;  // trip-wide delay
  std::vector<StopTimeUpdate> stop_time_updates;  // in the feed's order

  bool operator==(const TripUpdate&) const = default;
};

struct VehiclePosition {
  std::string entity_id;
  std::optional<TripDescriptor> trip;
  std::optional<VehicleDescriptor> vehicle;
  bool has_position = false;  // latitude and longitude both given
  double lat = 0, lon = 0;
  std::optional<float> bearing;  // degrees clockwise from north
  std::optional<float> speed;    // metres per second
  std::optional<uint64_t> timestamp;
  VehicleStopStatus current_status = VehicleStopStatus::kInTransitTo;
  std::string stop_id;
  std::optional<uint32_t> current_stop_sequence;

  bool operator==(const VehiclePosition&) const = default;
};

struct RealtimeFeed {
  std::string version;  // gtfs_realtime_version
  uint64_t timestamp = 0;  // POSIX seconds, 0 when the header has none
  bool differential = false;  // DIFFERENTIAL, else FULL_DATASET
  std::vector<TripUpdate> trip_updates;          // in entity order
  std::vector<VehiclePosition> vehicle_positions;  // in entity order
  std::vector<std::string> deleted_entity_ids;   // entities with is_deleted (differential feeds)

  bool operator==(const RealtimeFeed&) const = default;
};

// Decodes a binary FeedMessage. Returns the feed; InvalidRequest for input that is not a valid
// FeedMessage or breaks the rules above; PayloadTooLarge when over a limit.
Result<RealtimeFeed> ParseRealtimeFeed(std::string_view bytes, const RealtimeLimits& limits = {});

// The same from protobuf's text format (.txtpb / .asciipb files): for tests and tools.
// Unknown fields and extensions are skipped as in the binary form.
Result<RealtimeFeed> ParseRealtimeFeedText(std::string_view text, const RealtimeLimits& limits = {});

}  // namespace cityhub::mobility::gtfs
