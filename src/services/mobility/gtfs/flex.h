// GTFS-Flex: the on-demand part of a feed — zones (locations.geojson), location groups, booking
// rules and the stop_times rows that offer a pickup/drop-off window in a zone instead of a timed
// stop. The record types are plain values owned by the Feed; FlexReader fills them while
// LoadFeed runs (it is LoadFeed's helper, not a public entry point) and is not thread-safe.
//
// Forms read. The adopted reference (stop_times.location_id / location_group_id,
// location_groups.txt + location_group_stops.txt) and the earlier draft the published examples
// still use: a stop_times.stop_id naming a locations.geojson feature or an areas.txt area, and
// areas.txt + stop_areas.txt grouping zones and stops (read only when location_groups.txt is
// absent). A timed stop time that merely names a booking rule stays a regular stop time.
//
// Trips. A trip with flex rows is copied to Feed::flex_trips (its stop-time fields unused) and
// its rows become Feed::flex_windows, sorted by (flex trip, stop_sequence). A trip with no usable
// timed stop time leaves Feed::trips quietly; one with both kinds (a deviated route) is in both.
//
// Validation, as for the rest of the feed: a row or feature is left out with file, line (or
// features[i]) and reason — an unknown zone, group, stop or booking rule, a missing or reversed
// window, times beside a window, a pickup_type/drop_off_type the reference forbids with a window,
// a ring that is not a ring, a zone over a limit (FlexLimits). locations.geojson larger than
// FlexLimits::max_locations_bytes is fatal (like any file over a limit); unparsable or not a
// FeatureCollection, it is skipped whole with one problem. One problem keeps its record: a
// feature without a properties object (the reference requires one) is kept without a name.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "services/mobility/gtfs/csv.h"
#include "services/mobility/gtfs/zip_reader.h"
#include "util/status.h"
#include "util/string_map.h"

namespace boost::json {
class value;
}

namespace cityhub::mobility::gtfs {

struct Feed;
class ValidationReport;

// Limits on locations.geojson (over them: the file is refused, or the feature left out). The
// file is parsed into a DOM, which costs several times its size (measured: 53 MB of positions
// peaked near 450 MB), hence the file limit; the vertex limits bound what is kept.
inline constexpr uint64_t kMaxLocationsBytes = uint64_t{32} << 20;  // the file: 32 MiB
inline constexpr size_t kMaxFlexZones = 100'000;                   // features in the file
inline constexpr size_t kMaxZoneVertices = 100'000;                // positions of one feature
inline constexpr size_t kMaxFlexVertices = 4'000'000;              // positions of all features

struct FlexLimits {
  uint64_t max_locations_bytes = kMaxLocationsBytes;
  size_t max_zones = kMaxFlexZones;
  size_t max_zone_vertices = kMaxZoneVertices;
  size_t max_vertices = kMaxFlexVertices;
};

struct LatLon {
  double lat = 0, lon = 0;
};

// One GeoJSON polygon: rings[0] is the boundary, the others are holes. Rings are kept as
// written (closing position included when given); orientation is not required.
struct FlexPolygon {
  std::vector<std::vector<LatLon>> rings;
};

// A locations.geojson feature: an area where a vehicle picks up or drops off anywhere.
struct FlexZone {
  std::string id, name, description;  // name/description: properties stop_name, stop_desc
  std::vector<FlexPolygon> polygons;   // one for a Polygon, several for a MultiPolygon
  LatLon min, max;                     // bounding box of all rings
};

// A set of stops (location_group_stops.txt) — and, in the draft form, of zones — served alike.
struct LocationGroup {
  std::string id, name;
  std::vector<uint32_t> stops;  // Feed::stops indexes
  std::vector<uint32_t> zones;  // Feed::zones indexes (draft areas.txt form only)
};

enum class BookingType : uint8_t {
  kRealTime = 0,    // book any time, up to the ride
  kSameDay = 1,     // up to the same day, prior_notice_duration_min ahead
  kPriorDays = 2,   // up to prior_notice_last_day days before
};

struct BookingRule {
  std::string id;
  BookingType type = BookingType::kRealTime;
  int32_t prior_notice_duration_min = -1;  // minutes; -1 when not given
  int32_t prior_notice_duration_max = -1;  // minutes; -1 when not given
  int32_t prior_notice_last_day = -1;      // days before the ride; -1 when not given
  int32_t prior_notice_last_time = -1;     // seconds after midnight; -1 when not given
  int32_t prior_notice_start_day = -1;
  int32_t prior_notice_start_time = -1;
  uint32_t prior_notice_service = UINT32_MAX;  // Feed::services index, UINT32_MAX when none
  std::string message, pickup_message, drop_off_message, phone_number, info_url, booking_url;
};

// Where a flex window applies.
enum class FlexPlaceKind : uint8_t { kZone, kLocationGroup, kStop };

// One flex stop_times row: the vehicle picks up and/or drops off at `place` during
// [window_start, window_end] (seconds since the service day's noon minus 12 h, as stop times).
struct FlexWindow {
  uint32_t flex_trip = 0;  // Feed::flex_trips index
  FlexPlaceKind place_kind = FlexPlaceKind::kZone;
  uint32_t place = 0;      // Feed::zones, Feed::location_groups or Feed::stops index
  uint32_t stop_sequence = 0;
  int32_t window_start = 0, window_end = 0;
  uint32_t pickup_booking_rule = UINT32_MAX;    // Feed::booking_rules index, UINT32_MAX if none
  uint32_t drop_off_booking_rule = UINT32_MAX;
  uint8_t pickup_type = 0;    // 1: no pickup; 2: phone the agency; 3: coordinate with driver
  uint8_t drop_off_type = 0;  // 1: no drop-off; otherwise as pickup_type
  uint64_t line = 0;          // its stop_times.txt line, for later reports

  bool allows_pickup() const { return pickup_type != 1; }
  bool allows_drop_off() const { return drop_off_type != 1; }
};

// The stop_times fields FlexReader looks at, as written.
struct StopTimeFields {
  uint64_t line = 0;
  uint32_t trip = 0;  // Feed::trips index as read (before trips without stop times are dropped)
  std::string_view stop_id, location_id, location_group_id, arrival, departure, sequence,
      pickup_type, drop_off_type, window_start, window_end, pickup_rule, drop_off_rule;
};

class FlexReader {
 public:
  // Reads an optional CSV table of the zip into rows (FeedLoader's reader, so problems and
  // limits are handled alike). Returns false when the file is absent or skipped whole.
  using TableReader = std::function<Result<bool>(
      std::string_view file, const std::vector<ColumnSpec>& columns,
      const std::function<void(const Row&)>& on_row)>;

  FlexReader(Feed& feed, ValidationReport& report, ZipArchive& zip, FlexLimits limits,
             TableReader read_table)
      : feed_(feed), report_(report), zip_(zip), limits_(limits),
        read_table_(std::move(read_table)) {}

  // Reads locations.geojson, location groups (or draft areas) and booking_rules.txt. Call after
  // stops, services and trips are read, before stop_times. Returns non-ok only for a fatal
  // problem (locations.geojson over max_locations_bytes, or an unreadable zip member).
  Status ReadPlacesAndRules();

  // Takes a stop_times row if it is a flex row (returns true; it is kept or reported here).
  // Returns false for a regular row, which the caller reads as before.
  bool TakeStopTime(const StopTimeFields& row);

  // Ends stop_times: copies the trips of the rows taken to Feed::flex_trips and orders the
  // windows. Call before Feed::trips is renumbered.
  void FinishStopTimes();

  // Whether trip `trip` (index as read) has flex rows.
  bool HasWindows(uint32_t trip) const {
    return trip < trip_has_windows_.size() && trip_has_windows_[trip];
  }

 private:
  Status ReadLocations();
  // The bytes of locations.geojson, nullopt when the zip has none; an error when over the limit.
  Result<std::optional<std::string>> ReadLocationsFile();
  // Adds features[index] as a zone, or reports why it is left out.
  void ReadZone(size_t index, const boost::json::value& feature, size_t& vertices_left);
  void ReadLocationGroups();
  void ReadDraftAreas();
  void ReadBookingRules();
  void Skip(std::string_view file, uint64_t line, std::string_view field, std::string reason);
  void Fatal(std::string_view file, std::string reason);
  // Resolves the place a flex row names; false (reported) when it names none or several.
  bool ResolvePlace(const StopTimeFields& row, FlexWindow& window);
  // The window, stop_sequence (false, reported, when missing or bad) …
  bool ReadWindowTimes(const StopTimeFields& row, FlexWindow& window);
  // … and the pickup/drop-off types and booking rules.
  bool ReadWindowRules(const StopTimeFields& row, FlexWindow& window);
  // Whether `id` is already a stop, zone or location group id (reported as a duplicate).
  bool IdTaken(std::string_view id) const;

  Feed& feed_;
  ValidationReport& report_;
  ZipArchive& zip_;
  FlexLimits limits_;
  TableReader read_table_;
  std::vector<bool> trip_has_windows_;
};

}  // namespace cityhub::mobility::gtfs
