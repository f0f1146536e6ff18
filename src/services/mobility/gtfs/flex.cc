// FlexReader: locations.geojson is read whole (it is bounded by FlexLimits, and a DOM
// makes a feature's checks plain code), its vertices counted against the zone and file limits
// before a ring is copied, so a hostile file costs at most the bytes it is allowed. The CSV
// files go through FeedLoader's table reader. Stop_times rows are classified one at a time as
// LoadFeed streams them; only the flex ones are kept here.
#include "services/mobility/gtfs/flex.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <tuple>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "services/mobility/gtfs/feed.h"
#include "util/json.h"

namespace cityhub::mobility::gtfs {
namespace {

namespace json = boost::json;

constexpr std::string_view kLocationsFile = "locations.geojson";
constexpr uint32_t kNone = kNoIndex;

// A non-negative decimal integer, nullopt when `text` is anything else.
std::optional<int32_t> ParseCount(std::string_view text) {
  int32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

std::optional<double> NumberOf(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

// A GeoJSON position [lon, lat, (altitude)] on the globe.
std::optional<LatLon> ReadPosition(const json::value& v) {
  const json::array* a = v.if_array();
  if (a == nullptr || a->size() < 2 || a->size() > 3) return std::nullopt;
  auto lon = NumberOf((*a)[0]);
  auto lat = NumberOf((*a)[1]);
  if (!lon || !lat || *lon < -180 || *lon > 180 || *lat < -90 || *lat > 90) return std::nullopt;
  return LatLon{*lat, *lon};
}

// Vertex budgets of one feature and of the whole file, and their limits for the reasons.
struct VertexBudget {
  size_t zone_left;
  size_t file_left;
  size_t zone_limit;
  size_t file_limit;
};

// Reads a Polygon's coordinates into `out`; returns the reason when they are not a polygon.
std::string ReadPolygon(const json::value& coordinates, FlexPolygon& out, VertexBudget& budget) {
  const json::array* rings = coordinates.if_array();
  if (rings == nullptr || rings->empty()) return "a polygon needs an array of rings";
  for (size_t r = 0; r < rings->size(); ++r) {
    const json::array* ring = (*rings)[r].if_array();
    if (ring == nullptr) return fmt::format("ring {} is not an array of positions", r);
    if (ring->size() > budget.zone_left) {
      return fmt::format("more than {} positions (the zone limit)", budget.zone_limit);
    }
    if (ring->size() > budget.file_left) {
      return fmt::format("the file's positions pass {} (the feed limit)", budget.file_limit);
    }
    budget.zone_left -= ring->size();
    budget.file_left -= ring->size();
    std::vector<LatLon> points;
    points.reserve(ring->size());
    for (size_t p = 0; p < ring->size(); ++p) {
      auto position = ReadPosition((*ring)[p]);
      if (!position) return fmt::format("ring {} position {} is not [lon, lat] on the globe", r, p);
      points.push_back(*position);
    }
    bool closed = points.size() > 1 && points.front().lat == points.back().lat &&
                  points.front().lon == points.back().lon;
    if (points.size() < (closed ? 4u : 3u)) {
      return fmt::format("ring {} has fewer than 3 distinct positions", r);
    }
    out.rings.push_back(std::move(points));
  }
  return {};
}

// Reads a feature's geometry into `zone`; returns the reason when it is not a (Multi)Polygon.
std::string ReadGeometry(const json::object& feature, FlexZone& zone, VertexBudget& budget) {
  const json::value* geometry = feature.if_contains("geometry");
  const json::object* g = geometry ? geometry->if_object() : nullptr;
  if (g == nullptr) return "has no geometry object";
  const json::value* type = g->if_contains("type");
  const json::value* coordinates = g->if_contains("coordinates");
  if (type == nullptr || !type->is_string()) return "geometry has no type";
  if (coordinates == nullptr) return "geometry has no coordinates";
  if (type->get_string() == "Polygon") {
    zone.polygons.emplace_back();
    return ReadPolygon(*coordinates, zone.polygons.back(), budget);
  }
  if (type->get_string() != "MultiPolygon") {
    return fmt::format("geometry type '{}' is not Polygon or MultiPolygon",
                       std::string_view(type->get_string()));
  }
  const json::array* polygons = coordinates->if_array();
  if (polygons == nullptr || polygons->empty()) return "a MultiPolygon needs an array of polygons";
  for (const json::value& polygon : *polygons) {
    zone.polygons.emplace_back();
    std::string reason = ReadPolygon(polygon, zone.polygons.back(), budget);
    if (!reason.empty()) return fmt::format("polygon {}: {}", zone.polygons.size() - 1, reason);
  }
  return {};
}

void ComputeBounds(FlexZone& zone) {
  zone.min = {90, 180};
  zone.max = {-90, -180};
  for (const FlexPolygon& polygon : zone.polygons) {
    for (const auto& ring : polygon.rings) {
      for (const LatLon& p : ring) {
        zone.min = {std::min(zone.min.lat, p.lat), std::min(zone.min.lon, p.lon)};
        zone.max = {std::max(zone.max.lat, p.lat), std::max(zone.max.lon, p.lon)};
      }
    }
  }
}

std::optional<std::string> IdOf(const json::object& feature) {
  const json::value* id = feature.if_contains("id");
  if (id == nullptr) return std::nullopt;
  if (id->is_string()) return std::string(id->get_string());
  if (id->is_int64()) return std::to_string(id->get_int64());
  if (id->is_uint64()) return std::to_string(id->get_uint64());
  return std::nullopt;
}

std::string StringProperty(const json::object& properties, std::string_view key) {
  const json::value* v = properties.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool IsBoardable(const Stop& stop) {
  return stop.location_type == LocationType::kStop ||
         stop.location_type == LocationType::kBoardingArea;
}

}  // namespace

void FlexReader::Skip(std::string_view file, uint64_t line, std::string_view field,
                      std::string reason) {
  report_.Add({std::string(file), line, std::string(field), std::move(reason),
               Problem::Severity::kSkipped});
}

void FlexReader::Fatal(std::string_view file, std::string reason) {
  report_.Add({std::string(file), 0, "", std::move(reason), Problem::Severity::kFatal});
}

bool FlexReader::IdTaken(std::string_view id) const {
  return feed_.stop_by_id.contains(id) || feed_.zone_by_id.contains(id) ||
         feed_.location_group_by_id.contains(id);
}

Status FlexReader::ReadPlacesAndRules() {
  CITYHUB_RETURN_IF_ERROR(ReadLocations());
  if (zip_.FindMember("location_groups.txt")) {
    ReadLocationGroups();
  } else if (!feed_.zones.empty()) {
    ReadDraftAreas();
  }
  ReadBookingRules();
  return Status::Ok();
}

Result<std::optional<std::string>> FlexReader::ReadLocationsFile() {
  std::optional<ZipMember> member = zip_.FindMember(kLocationsFile);
  if (!member) return std::optional<std::string>();
  const uint64_t max_bytes = limits_.max_locations_bytes;
  const std::string too_large = fmt::format("{} is larger than {} bytes", kLocationsFile, max_bytes);
  if (member->declared_size > max_bytes) {
    Fatal(kLocationsFile, too_large);
    return Status(Status::Code::kPayloadTooLarge, report_.FirstFatal());
  }
  std::string text;
  text.reserve(member->declared_size);
  Status read = zip_.ReadMember(*member, [&](std::string_view chunk) {
    if (text.size() + chunk.size() > max_bytes) {
      return Status(Status::Code::kPayloadTooLarge, too_large);
    }
    text.append(chunk);
    return Status::Ok();
  });
  if (!read.ok()) {
    Fatal(kLocationsFile, read.message());
    return Status(read.code(), report_.FirstFatal());
  }
  return std::optional<std::string>(std::move(text));
}

Status FlexReader::ReadLocations() {
  Result<std::optional<std::string>> text = ReadLocationsFile();
  if (!text.ok()) return text.status();
  if (!text.value()) return Status::Ok();
  // The document lives only while its zones are copied out: one arena, freed at once.
  json::monotonic_resource arena;
  boost::system::error_code ec;
  std::string_view json_text = *text.value();
  if (json_text.starts_with("\xEF\xBB\xBF")) json_text.remove_prefix(3);  // a UTF-8 BOM, as in CSV
  json::value root = util::ParseJson(json_text, json::parse_options{}, ec, &arena);
  text.value().reset();
  if (ec) {
    Skip(kLocationsFile, 0, "", fmt::format("not valid JSON ({}); the file is ignored", ec.message()));
    return Status::Ok();
  }
  const json::object* collection = root.if_object();
  const json::value* type = collection ? collection->if_contains("type") : nullptr;
  const json::value* features = collection ? collection->if_contains("features") : nullptr;
  if (type == nullptr || !type->is_string() || type->get_string() != "FeatureCollection" ||
      features == nullptr || !features->is_array()) {
    Skip(kLocationsFile, 0, "",
         "not a GeoJSON FeatureCollection with a features array; the file is ignored");
    return Status::Ok();
  }
  const json::array& list = features->get_array();
  if (list.size() > limits_.max_zones) {
    Skip(kLocationsFile, 0, "features",
         fmt::format("{} features, more than {}; the rest are ignored", list.size(),
                     limits_.max_zones));
  }
  size_t vertices_left = limits_.max_vertices;
  for (size_t i = 0; i < std::min(list.size(), limits_.max_zones); ++i) {
    ReadZone(i, list[i], vertices_left);
  }
  return Status::Ok();
}

void FlexReader::ReadZone(size_t index, const json::value& value, size_t& vertices_left) {
  const std::string where = fmt::format("features[{}]", index);
  const json::object* feature = value.if_object();
  if (feature == nullptr) return Skip(kLocationsFile, 0, where, "the feature is not an object; left out");
  FlexZone zone;
  auto id = IdOf(*feature);
  if (!id || id->empty()) {
    return Skip(kLocationsFile, 0, where, "the feature has no id (a string); left out");
  }
  if (IdTaken(*id)) {
    return Skip(kLocationsFile, 0, where,
                fmt::format("id '{}' is already a stop or zone id; left out", *id));
  }
  zone.id = std::move(*id);
  VertexBudget budget{limits_.max_zone_vertices, vertices_left, limits_.max_zone_vertices,
                      limits_.max_vertices};
  std::string reason = ReadGeometry(*feature, zone, budget);
  if (!reason.empty()) {
    return Skip(kLocationsFile, 0, where, fmt::format("zone '{}': {}; left out", zone.id, reason));
  }
  vertices_left = budget.file_left;
  const json::value* properties = feature->if_contains("properties");
  if (properties != nullptr && properties->is_object()) {
    zone.name = StringProperty(properties->get_object(), "stop_name");
    zone.description = StringProperty(properties->get_object(), "stop_desc");
  } else {
    Skip(kLocationsFile, 0, where,
         fmt::format("zone '{}' has no properties object (kept, without a name)", zone.id));
  }
  ComputeBounds(zone);
  feed_.zone_by_id.emplace(zone.id, static_cast<uint32_t>(feed_.zones.size()));
  feed_.zones.push_back(std::move(zone));
}

void FlexReader::ReadLocationGroups() {
  auto read = read_table_("location_groups.txt",
                          {{"location_group_id", true}, {"location_group_name", false}},
                          [&](const Row& row) {
    if (row[0].empty()) return Skip("location_groups.txt", row.line(), "location_group_id",
                                    "location_group_id is empty");
    if (IdTaken(row[0])) {
      return Skip("location_groups.txt", row.line(), "location_group_id",
                  fmt::format("location_group_id '{}' is already a stop, zone or group id", row[0]));
    }
    feed_.location_group_by_id.emplace(std::string(row[0]),
                                       static_cast<uint32_t>(feed_.location_groups.size()));
    feed_.location_groups.push_back({std::string(row[0]), std::string(row[1]), {}, {}});
  });
  if (!read.ok() || !read.value()) return;
  constexpr std::string_view kFile = "location_group_stops.txt";
  read_table_(kFile, {{"location_group_id", true}, {"stop_id", true}}, [&](const Row& row) {
    auto group = feed_.location_group_by_id.find(row[0]);
    if (group == feed_.location_group_by_id.end()) {
      return Skip(kFile, row.line(), "location_group_id",
                  fmt::format("unknown location_group_id '{}'", row[0]));
    }
    auto stop = feed_.stop_by_id.find(row[1]);
    if (stop == feed_.stop_by_id.end() || !IsBoardable(feed_.stops[stop->second])) {
      return Skip(kFile, row.line(), "stop_id",
                  fmt::format("stop_id '{}' is not a known stop or boarding area", row[1]));
    }
    feed_.location_groups[group->second].stops.push_back(stop->second);
  });
}

void FlexReader::ReadDraftAreas() {
  auto read = read_table_("areas.txt", {{"area_id", true}, {"area_name", false}},
                          [&](const Row& row) {
    if (row[0].empty() || IdTaken(row[0])) {
      return Skip("areas.txt", row.line(), "area_id",
                  fmt::format("area_id '{}' is empty or already a stop or zone id", row[0]));
    }
    feed_.location_group_by_id.emplace(std::string(row[0]),
                                       static_cast<uint32_t>(feed_.location_groups.size()));
    feed_.location_groups.push_back({std::string(row[0]), std::string(row[1]), {}, {}});
  });
  if (!read.ok() || !read.value()) return;
  constexpr std::string_view kFile = "stop_areas.txt";
  read_table_(kFile, {{"area_id", true}, {"stop_id", true}}, [&](const Row& row) {
    auto group = feed_.location_group_by_id.find(row[0]);
    if (group == feed_.location_group_by_id.end()) {
      return Skip(kFile, row.line(), "area_id", fmt::format("unknown area_id '{}'", row[0]));
    }
    LocationGroup& members = feed_.location_groups[group->second];
    if (auto zone = feed_.zone_by_id.find(row[1]); zone != feed_.zone_by_id.end()) {
      members.zones.push_back(zone->second);
    } else if (auto stop = feed_.stop_by_id.find(row[1]);
               stop != feed_.stop_by_id.end() && IsBoardable(feed_.stops[stop->second])) {
      members.stops.push_back(stop->second);
    } else {
      Skip(kFile, row.line(), "stop_id",
           fmt::format("stop_id '{}' is neither a zone nor a stop", row[1]));
    }
  });
}

void FlexReader::ReadBookingRules() {
  constexpr std::string_view kFile = "booking_rules.txt";
  enum { kId, kType, kDurationMin, kDurationMax, kLastDay, kLastTime, kStartDay, kStartTime,
         kService, kMessage, kPickupMessage, kDropOffMessage, kPhone, kInfoUrl, kBookingUrl };
  read_table_(kFile,
      {{"booking_rule_id", true}, {"booking_type", true}, {"prior_notice_duration_min", false},
       {"prior_notice_duration_max", false}, {"prior_notice_last_day", false},
       {"prior_notice_last_time", false}, {"prior_notice_start_day", false},
       {"prior_notice_start_time", false}, {"prior_notice_service_id", false},
       {"message", false}, {"pickup_message", false}, {"drop_off_message", false},
       {"phone_number", false}, {"info_url", false}, {"booking_url", false}},
      [&](const Row& row) {
    BookingRule rule;
    auto type = ParseCount(row[kType]);
    if (!type || *type > 2) {
      return Skip(kFile, row.line(), "booking_type", fmt::format("bad booking_type '{}'", row[kType]));
    }
    rule.type = static_cast<BookingType>(*type);
    for (auto [column, name, target] :
         {std::tuple{kDurationMin, "prior_notice_duration_min", &rule.prior_notice_duration_min},
          std::tuple{kDurationMax, "prior_notice_duration_max", &rule.prior_notice_duration_max},
          std::tuple{kLastDay, "prior_notice_last_day", &rule.prior_notice_last_day},
          std::tuple{kStartDay, "prior_notice_start_day", &rule.prior_notice_start_day}}) {
      if (row[column].empty()) continue;
      auto value = ParseCount(row[column]);
      if (!value) return Skip(kFile, row.line(), name, fmt::format("bad {} '{}'", name, row[column]));
      *target = *value;
    }
    for (auto [column, name, target] :
         {std::tuple{kLastTime, "prior_notice_last_time", &rule.prior_notice_last_time},
          std::tuple{kStartTime, "prior_notice_start_time", &rule.prior_notice_start_time}}) {
      if (row[column].empty()) continue;
      auto value = ParseGtfsTime(row[column]);
      if (!value) return Skip(kFile, row.line(), name, fmt::format("bad time '{}'", row[column]));
      *target = *value;
    }
    if (rule.type == BookingType::kSameDay && rule.prior_notice_duration_min < 0) {
      return Skip(kFile, row.line(), "prior_notice_duration_min",
                  "prior_notice_duration_min is required for booking_type 1");
    }
    if (rule.type == BookingType::kPriorDays && rule.prior_notice_last_day < 0) {
      return Skip(kFile, row.line(), "prior_notice_last_day",
                  "prior_notice_last_day is required for booking_type 2");
    }
    if (!row[kService].empty()) {
      auto service = feed_.service_by_id.find(row[kService]);
      if (service == feed_.service_by_id.end()) {
        return Skip(kFile, row.line(), "prior_notice_service_id",
                    fmt::format("unknown service_id '{}'", row[kService]));
      }
      rule.prior_notice_service = service->second;
    }
    if (row[kId].empty()) return Skip(kFile, row.line(), "booking_rule_id", "booking_rule_id is empty");
    if (!feed_.booking_rule_by_id.emplace(std::string(row[kId]), feed_.booking_rules.size()).second) {
      return Skip(kFile, row.line(), "booking_rule_id",
                  fmt::format("duplicate booking_rule_id '{}'", row[kId]));
    }
    rule.id = row[kId];
    rule.message = row[kMessage];
    rule.pickup_message = row[kPickupMessage];
    rule.drop_off_message = row[kDropOffMessage];
    rule.phone_number = row[kPhone];
    rule.info_url = row[kInfoUrl];
    rule.booking_url = row[kBookingUrl];
    feed_.booking_rules.push_back(std::move(rule));
  });
}

bool FlexReader::ResolvePlace(const StopTimeFields& row, FlexWindow& window) {
  constexpr std::string_view kFile = "stop_times.txt";
  int named = !row.stop_id.empty() + !row.location_id.empty() + !row.location_group_id.empty();
  if (named != 1) {
    Skip(kFile, row.line, "stop_id",
         "exactly one of stop_id, location_id and location_group_id must be given");
    return false;
  }
  if (!row.location_group_id.empty()) {
    auto group = feed_.location_group_by_id.find(row.location_group_id);
    if (group == feed_.location_group_by_id.end()) {
      Skip(kFile, row.line, "location_group_id",
           fmt::format("unknown location_group_id '{}'", row.location_group_id));
      return false;
    }
    window.place_kind = FlexPlaceKind::kLocationGroup;
    window.place = group->second;
    return true;
  }
  std::string_view id = row.location_id.empty() ? row.stop_id : row.location_id;
  if (auto zone = feed_.zone_by_id.find(id); zone != feed_.zone_by_id.end()) {
    window.place_kind = FlexPlaceKind::kZone;
    window.place = zone->second;
    return true;
  }
  if (!row.location_id.empty()) {
    Skip(kFile, row.line, "location_id", fmt::format("unknown location_id '{}'", id));
    return false;
  }
  if (auto stop = feed_.stop_by_id.find(id);
      stop != feed_.stop_by_id.end() && IsBoardable(feed_.stops[stop->second])) {
    window.place_kind = FlexPlaceKind::kStop;
    window.place = stop->second;
    return true;
  }
  if (auto group = feed_.location_group_by_id.find(id); group != feed_.location_group_by_id.end()) {
    window.place_kind = FlexPlaceKind::kLocationGroup;  // the draft's area named in stop_id
    window.place = group->second;
    return true;
  }
  Skip(kFile, row.line, "stop_id",
       fmt::format("stop_id '{}' is not a stop, zone or location group", id));
  return false;
}

bool FlexReader::TakeStopTime(const StopTimeFields& row) {
  bool has_window = !row.window_start.empty() || !row.window_end.empty();
  bool names_flex_place =
      !row.location_id.empty() || !row.location_group_id.empty() ||
      (!row.stop_id.empty() && !feed_.stop_by_id.contains(row.stop_id) &&
       (feed_.zone_by_id.contains(row.stop_id) ||
        feed_.location_group_by_id.contains(row.stop_id)));
  if (!has_window && !names_flex_place) return false;

  FlexWindow window;
  window.line = row.line;
  if (!ResolvePlace(row, window) || !ReadWindowTimes(row, window) ||
      !ReadWindowRules(row, window)) {
    return true;
  }
  window.flex_trip = row.trip;
  if (trip_has_windows_.size() <= row.trip) trip_has_windows_.resize(feed_.trips.size(), false);
  trip_has_windows_[row.trip] = true;
  feed_.flex_windows.push_back(window);
  return true;
}

bool FlexReader::ReadWindowTimes(const StopTimeFields& row, FlexWindow& window) {
  constexpr std::string_view kFile = "stop_times.txt";
  if (!row.arrival.empty() || !row.departure.empty()) {
    Skip(kFile, row.line, "arrival_time",
         "arrival_time and departure_time are forbidden with a pickup/drop-off window");
    return false;
  }
  for (auto [text, name, target] :
       {std::tuple{row.window_start, "start_pickup_drop_off_window", &window.window_start},
        std::tuple{row.window_end, "end_pickup_drop_off_window", &window.window_end}}) {
    if (text.empty()) {
      Skip(kFile, row.line, name, fmt::format("{} is required for a flex stop time", name));
      return false;
    }
    auto time = ParseGtfsTime(text);
    if (!time) {
      Skip(kFile, row.line, name, fmt::format("bad time '{}'", text));
      return false;
    }
    *target = *time;
  }
  if (window.window_end < window.window_start) {
    Skip(kFile, row.line, "end_pickup_drop_off_window",
         "end_pickup_drop_off_window is before start_pickup_drop_off_window");
    return false;
  }
  auto sequence = ParseCount(row.sequence);
  if (!sequence) {
    Skip(kFile, row.line, "stop_sequence", fmt::format("bad stop_sequence '{}'", row.sequence));
    return false;
  }
  window.stop_sequence = static_cast<uint32_t>(*sequence);
  return true;
}

bool FlexReader::ReadWindowRules(const StopTimeFields& row, FlexWindow& window) {
  constexpr std::string_view kFile = "stop_times.txt";
  for (auto [text, name, target] : {std::tuple{row.pickup_type, "pickup_type", &window.pickup_type},
                                    std::tuple{row.drop_off_type, "drop_off_type",
                                               &window.drop_off_type}}) {
    auto value = text.empty() ? std::optional<int32_t>(0) : ParseCount(text);
    if (!value || *value > 3) {
      Skip(kFile, row.line, name, fmt::format("bad {} '{}'", name, text));
      return false;
    }
    *target = static_cast<uint8_t>(*value);
  }
  if (window.pickup_type == 0 || window.pickup_type == 3 || window.drop_off_type == 0) {
    Skip(kFile, row.line, window.drop_off_type == 0 ? "drop_off_type" : "pickup_type",
         "with a pickup/drop-off window, pickup_type must be 1 or 2 and drop_off_type 1, 2 or 3");
    return false;
  }
  for (auto [id, name, target] :
       {std::tuple{row.pickup_rule, "pickup_booking_rule_id", &window.pickup_booking_rule},
        std::tuple{row.drop_off_rule, "drop_off_booking_rule_id", &window.drop_off_booking_rule}}) {
    if (id.empty()) continue;
    auto rule = feed_.booking_rule_by_id.find(id);
    if (rule == feed_.booking_rule_by_id.end()) {
      Skip(kFile, row.line, name, fmt::format("unknown {} '{}'", name, id));
      return false;
    }
    *target = rule->second;
  }
  return true;
}

void FlexReader::FinishStopTimes() {
  std::vector<uint32_t> flex_index(trip_has_windows_.size(), kNone);
  for (uint32_t t = 0; t < trip_has_windows_.size(); ++t) {
    if (!trip_has_windows_[t]) continue;
    flex_index[t] = static_cast<uint32_t>(feed_.flex_trips.size());
    Trip trip = feed_.trips[t];
    trip.first_stop_time = 0;
    trip.stop_time_count = 0;
    feed_.flex_trip_by_id.emplace(trip.id, flex_index[t]);
    feed_.flex_trips.push_back(std::move(trip));
  }
  std::vector<FlexWindow>& windows = feed_.flex_windows;
  for (FlexWindow& w : windows) w.flex_trip = flex_index[w.flex_trip];
  std::stable_sort(windows.begin(), windows.end(), [](const FlexWindow& a, const FlexWindow& b) {
    return a.flex_trip != b.flex_trip ? a.flex_trip < b.flex_trip
                                      : a.stop_sequence < b.stop_sequence;
  });
  size_t kept = 0;
  for (size_t i = 0; i < windows.size(); ++i) {
    if (kept > 0 && windows[kept - 1].flex_trip == windows[i].flex_trip &&
        windows[kept - 1].stop_sequence == windows[i].stop_sequence) {
      Skip("stop_times.txt", windows[i].line, "stop_sequence",
           fmt::format("duplicate stop_sequence {} in trip '{}'", windows[i].stop_sequence,
                       feed_.flex_trips[windows[i].flex_trip].id));
      continue;
    }
    windows[kept++] = windows[i];
  }
  windows.resize(kept);
}

}  // namespace cityhub::mobility::gtfs
