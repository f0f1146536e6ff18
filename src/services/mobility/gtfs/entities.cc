#include "services/mobility/gtfs/entities.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace cityhub::mobility::gtfs {
namespace json = boost::json;
using V = GtfsVocabulary;

namespace {

// Characters a GTFS id keeps in an entity id: unreserved, plus those the URN syntax and the
// Smart Data Models id pattern both allow. Everything else (including '%') is percent-encoded.
bool KeptInId(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~:@!$+*,").find(static_cast<char>(c)) != std::string_view::npos;
}

// The shape of a language tag the hub accepts as a languageMap key: subtags of 1–8 letters or
// digits joined by '-', at most 35 characters in all.
bool IsLanguageMapKey(std::string_view tag) {
  if (tag.empty() || tag.size() > 35) return false;
  size_t part = 0;
  for (char c : tag) {
    if (c == '-') {
      if (part == 0) return false;
      part = 0;
    } else if (!std::isalnum(static_cast<unsigned char>(c)) || ++part > 8) {
      return false;
    }
  }
  return part > 0;
}

json::object Property(json::value value) { return json::object{{"type", "Property"}, {"value", std::move(value)}}; }

json::object Relationship(json::value object) {
  return json::object{{"type", "Relationship"}, {"object", std::move(object)}};
}

json::object PointAt(const Stop& stop) {
  return json::object{{"type", "GeoProperty"},
                      {"value", json::object{{"type", "Point"}, {"coordinates", json::array{stop.lon, stop.lat}}}}};
}

// `text` without leading and trailing spaces (some feeds write " " for an empty name).
std::string_view Trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

void SetText(json::object& entity, std::string_view attr, std::string_view text) {
  text = Trimmed(text);
  if (!text.empty()) entity[attr] = Property(json::string(text));
}

// Builds one kind of entity, with what every kind shares: the id, the feed key and the
// record-skipping rules.
class EntityWriter {
 public:
  EntityWriter(const Feed& feed, const TranslationIndex& translations, const EntityOptions& options,
               FeedEntities& out)
      : feed_(feed), translations_(translations), options_(options), out_(out) {}

  // The new entity, or null when its id would be too long (reported).
  json::object* Start(std::string_view type, std::string_view type_iri, std::string_view gtfs_id,
                      std::string_view file) {
    std::string id = GtfsEntityId(type, options_.feed_key, gtfs_id);
    if (id.size() > kMaxEntityIdBytes) {
      Skip(file, fmt::format("{} '{}…': its entity id would exceed {} bytes", type, gtfs_id.substr(0, 40),
                             kMaxEntityIdBytes));
      return nullptr;
    }
    out_.entities.push_back(json::object{{"id", std::move(id)}, {"type", type_iri}});
    return &out_.entities.back();
  }

  void Skip(std::string_view file, std::string reason) {
    out_.skipped.push_back({std::string(file), 0, "", std::move(reason), Problem::Severity::kSkipped});
  }

  // `attr` (a name): a Property, or a LanguageProperty when the feed translates it (see the
  // header).
  void SetName(json::object& entity, std::string_view attr, TranslatedField field, uint32_t record,
               std::string_view original) {
    auto translated = options_.translated_names ? translations_.AllTranslations(field, record, original)
                                                : std::vector<std::pair<std::string_view, std::string_view>>{};
    json::object map;
    for (const auto& [language, text] : translated) {
      if (IsLanguageMapKey(language)) map[language] = json::string(text);
    }
    if (map.empty()) {
      SetText(entity, attr, original);
      return;
    }
    if (!Trimmed(original).empty()) {
      std::string_view own = translations_.FeedLanguage();
      std::string_view key = IsLanguageMapKey(own) && own != "mul" ? own : std::string_view("@none");
      if (!map.contains(key)) map[key] = json::string(Trimmed(original));
    }
    entity[attr] = json::object{{"type", "LanguageProperty"}, {"languageMap", std::move(map)}};
  }

  std::string AgencyId(uint32_t agency) const {
    return GtfsEntityId("GtfsAgency", options_.feed_key, feed_.agencies[agency].id);
  }

  const Feed& feed() const { return feed_; }
  const EntityOptions& options() const { return options_; }

 private:
  const Feed& feed_;
  const TranslationIndex& translations_;
  const EntityOptions& options_;
  FeedEntities& out_;
};

void AddAgencies(EntityWriter& w, FeedEntities& out) {
  const Feed& feed = w.feed();
  for (uint32_t a = 0; a < feed.agencies.size(); ++a) {
    const Agency& agency = feed.agencies[a];
    json::object* e = w.Start("GtfsAgency", V::kAgencyType, agency.id, "agency.txt");
    if (!e) continue;
    w.SetName(*e, V::kAgencyName, TranslatedField::kAgencyName, a, agency.name);
    SetText(*e, V::kPage, agency.url);
    SetText(*e, V::kPhone, agency.phone);
    SetText(*e, V::kTimezone, agency.timezone);
    SetText(*e, V::kLanguage, agency.lang);
    std::string_view source = w.options().source;
    if (source.empty() && feed.feed_info) source = feed.feed_info->publisher_url;
    if (source.empty()) source = agency.url;
    SetText(*e, V::kSource, source);
    ++out.agencies;
  }
}

// Stop and station attributes alike.
void SetPlace(EntityWriter& w, json::object& e, uint32_t s) {
  const Stop& stop = w.feed().stops[s];
  w.SetName(e, V::kName, TranslatedField::kStopName, s, stop.name);
  e[V::kLocation] = PointAt(stop);
  SetText(e, V::kCode, stop.code);
  SetText(e, V::kZoneCode, stop.zone_id);
  e[V::kWheelChairAccessible] = Property(int64_t{stop.wheelchair_boarding});
}

// For each stop, the agencies whose trips call there, ascending.
std::vector<std::vector<uint32_t>> AgenciesByStop(const Feed& feed) {
  std::vector<std::vector<uint32_t>> agencies(feed.stops.size());
  for (const Trip& trip : feed.trips) {
    if (trip.route >= feed.routes.size()) continue;
    uint32_t agency = feed.routes[trip.route].agency;
    if (agency == kNoIndex && feed.agencies.size() == 1) agency = 0;
    if (agency >= feed.agencies.size()) continue;
    for (uint32_t i = 0; i < trip.stop_time_count; ++i) {
      std::vector<uint32_t>& at = agencies[feed.stop_times[trip.first_stop_time + i].stop];
      if (std::find(at.begin(), at.end(), agency) == at.end()) at.push_back(agency);
    }
  }
  for (auto& at : agencies) std::sort(at.begin(), at.end());
  return agencies;
}

void AddStationsAndStops(EntityWriter& w, FeedEntities& out) {
  const Feed& feed = w.feed();
  // Station entity ids by stop index (empty: not a station written), and children per station.
  std::vector<std::string> station_ids(feed.stops.size());
  std::vector<std::vector<uint32_t>> children(feed.stops.size());
  auto has_place = [&](uint32_t s, std::string_view kind) {
    if (feed.stops[s].has_position) return true;
    w.Skip("stops.txt", fmt::format("{} '{}' has no position: left out", kind, feed.stops[s].id));
    return false;
  };
  for (uint32_t s = 0; s < feed.stops.size(); ++s) {
    const Stop& stop = feed.stops[s];
    if (stop.location_type == LocationType::kStop && stop.parent_station < feed.stops.size()) {
      children[stop.parent_station].push_back(s);
    }
  }
  std::vector<std::string> stop_ids(feed.stops.size());
  for (uint32_t s = 0; s < feed.stops.size(); ++s) {
    if (feed.stops[s].location_type == LocationType::kStop) {
      stop_ids[s] = GtfsEntityId("GtfsStop", w.options().feed_key, feed.stops[s].id);
    }
  }
  for (uint32_t s = 0; s < feed.stops.size(); ++s) {
    if (feed.stops[s].location_type != LocationType::kStation || !has_place(s, "station")) continue;
    json::object* e = w.Start("GtfsStation", V::kStationType, feed.stops[s].id, "stops.txt");
    if (!e) continue;
    station_ids[s] = (*e)["id"].as_string().c_str();
    SetPlace(w, *e, s);
    json::array has_stop;
    for (uint32_t child : children[s]) {
      if (feed.stops[child].has_position && stop_ids[child].size() <= kMaxEntityIdBytes) {
        has_stop.emplace_back(stop_ids[child]);
      }
    }
    if (!has_stop.empty()) (*e)[V::kHasStop] = Relationship(std::move(has_stop));
    ++out.stations;
  }
  const std::vector<std::vector<uint32_t>> agencies = AgenciesByStop(feed);
  for (uint32_t s = 0; s < feed.stops.size(); ++s) {
    const Stop& stop = feed.stops[s];
    if (stop.location_type != LocationType::kStop || !has_place(s, "stop")) continue;
    json::object* e = w.Start("GtfsStop", V::kStopType, stop.id, "stops.txt");
    if (!e) continue;
    SetPlace(w, *e, s);
    if (stop.parent_station < feed.stops.size() && !station_ids[stop.parent_station].empty()) {
      (*e)[V::kHasParentStation] = Relationship(json::string(station_ids[stop.parent_station]));
    }
    json::array operators;
    for (uint32_t a : agencies[s]) {
      std::string id = w.AgencyId(a);
      if (id.size() <= kMaxEntityIdBytes) operators.emplace_back(std::move(id));
    }
    if (!operators.empty()) (*e)[V::kOperatedBy] = Relationship(std::move(operators));
    ++out.stops;
  }
}

void AddRoutes(EntityWriter& w, FeedEntities& out) {
  const Feed& feed = w.feed();
  for (uint32_t r = 0; r < feed.routes.size(); ++r) {
    const Route& route = feed.routes[r];
    json::object* e = w.Start("GtfsRoute", V::kRouteType, route.id, "routes.txt");
    if (!e) continue;
    if (!Trimmed(route.long_name).empty()) {
      w.SetName(*e, V::kName, TranslatedField::kRouteLongName, r, route.long_name);
    } else {
      w.SetName(*e, V::kName, TranslatedField::kRouteShortName, r, route.short_name);
    }
    SetText(*e, V::kShortName, route.short_name);
    (*e)[V::kRouteTypeAttr] = Property(json::string(std::to_string(route.route_type)));
    SetText(*e, V::kRouteColor, route.color);
    SetText(*e, V::kRouteTextColor, route.text_color);
    uint32_t agency = route.agency;
    if (agency == kNoIndex && feed.agencies.size() == 1) agency = 0;
    if (agency < feed.agencies.size()) {
      std::string id = w.AgencyId(agency);
      if (id.size() <= kMaxEntityIdBytes) (*e)[V::kOperatedBy] = Relationship(json::string(id));
    }
    ++out.routes;
  }
}

}  // namespace

bool IsValidFeedKey(std::string_view feed_key) {
  if (feed_key.empty() || feed_key.size() > kMaxFeedKeyBytes) return false;
  return std::all_of(feed_key.begin(), feed_key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

std::string GtfsEntityId(std::string_view type, std::string_view feed_key, std::string_view gtfs_id) {
  std::string id = fmt::format("urn:ngsi-ld:{}:{}", type, feed_key);
  if (gtfs_id.empty()) return id;
  id.push_back(':');
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : gtfs_id) {
    if (KeptInId(c)) {
      id.push_back(static_cast<char>(c));
    } else {
      id.push_back('%');
      id.push_back(kHex[c >> 4]);
      id.push_back(kHex[c & 0xf]);
    }
  }
  return id;
}

Result<FeedEntities> BuildFeedEntities(const Feed& feed, const TranslationIndex& translations,
                                       const EntityOptions& options) {
  if (!IsValidFeedKey(options.feed_key)) {
    return Status::InvalidRequest(fmt::format(
        "feed key '{}' must be 1 to {} ASCII letters, digits, '-', '_' or '.'", options.feed_key.substr(0, 80),
        kMaxFeedKeyBytes));
  }
  FeedEntities out;
  EntityWriter writer(feed, translations, options, out);
  AddAgencies(writer, out);
  AddStationsAndStops(writer, out);
  AddRoutes(writer, out);
  return out;
}

std::vector<std::string> EntityIds(const std::vector<json::object>& entities) {
  std::vector<std::string> ids;
  ids.reserve(entities.size());
  for (const json::object& e : entities) {
    const json::value* id = e.if_contains("id");
    if (id && id->is_string()) ids.emplace_back(id->get_string());
  }
  return ids;
}

std::vector<std::string> StaleEntityIds(std::vector<std::string> previous, std::vector<std::string> current) {
  std::sort(previous.begin(), previous.end());
  previous.erase(std::unique(previous.begin(), previous.end()), previous.end());
  std::sort(current.begin(), current.end());
  std::vector<std::string> stale;
  std::set_difference(previous.begin(), previous.end(), current.begin(), current.end(), std::back_inserter(stale));
  return stale;
}

}  // namespace cityhub::mobility::gtfs
