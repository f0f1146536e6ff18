// Feed entities: a GTFS feed's agencies, stations, stops and routes as NGSI-LD entities of the
// Smart Data Models transit types (dataModel.UrbanMobility: GtfsAgency, GtfsStation, GtfsStop,
// GtfsRoute), so that the broker's queries, geo-queries and subscriptions see the network.
// Pure functions of a Feed: the caller writes the entities through the broker and owns them.
//
// Form. Each entity is a boost::json::object in NGSI-LD normalized form whose type and
// attribute names are already expanded to the IRIs of the model's @context
// (https://smartdatamodels.org/dataModel.UrbanMobility/…, .../name, the core `location`). So
// the entities need no @context but the core one: the hub never has to fetch the model's
// remote context to store them, and a client that uses that context sees the short names.
// To write them through the broker: ngsild::ParseEntity(entity, *resolver.Core(), now, limits)
// gives the ngsild::Entity that EntityService::BatchUpsert takes; over HTTP they are a valid
// body for /ngsi-ld/v1/entityOperations/upsert as they are (application/json, no Link header).
//
// Mapping (GTFS field → attribute; Property unless said):
//   GtfsAgency  agency_name → agencyName, agency_url → page, agency_phone → phone,
//               agency_timezone → timezone, agency_lang → language, EntityOptions::source → source
//   GtfsStation stop_name → name, stop_code → code, position → location (GeoProperty Point
//               [lon, lat]), zone_id → zoneCode, wheelchair_boarding → wheelChairAccessible
//               (0, 1, 2 as in GTFS), its location_type 0 children → hasStop (Relationship)
//   GtfsStop    as a station, plus parent_station → hasParentStation (Relationship) and the
//               agencies whose routes call there → operatedBy (Relationship, a list)
//   GtfsRoute   route_long_name (else route_short_name) → name, route_short_name → shortName,
//               route_type → routeType (text, as the model wants), route_color → routeColor,
//               route_text_color → routeTextColor, agency → operatedBy (Relationship)
// Only stops of location_type 0 become GtfsStop and 1 GtfsStation; entrances, generic nodes and
// boarding areas are left out. A station with no child stop has no hasStop (the model requires
// it, NGSI-LD does not). Empty GTFS fields give no attribute.
//
// Names in several languages. When the feed translates a stop's, route's or agency's name
// (translations.h), `name` (agencyName) is a LanguageProperty: its languageMap holds the original under the
// feed's language ("@none" when the feed does not say) and each translation under its tag. A
// client asking with `lang=` gets a plain text Property, which is how the model types `name`.
// EntityOptions::translated_names = false keeps every name a plain Property.
//
// Ids. urn:ngsi-ld:<Type>:<feed key>:<GTFS id>, the GTFS id percent-encoded except for ASCII
// letters, digits and -._~:@!$+*, (a GTFS id may hold any text; a URN may not). An agency
// without agency_id (a single-agency feed) is urn:ngsi-ld:GtfsAgency:<feed key>.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/translations.h"
#include "util/status.h"

namespace cityhub::mobility::gtfs {

// The expanded names the entities use (dataModel.UrbanMobility's @context).
struct GtfsVocabulary {
  static constexpr std::string_view kBase = "https://smartdatamodels.org/dataModel.UrbanMobility/";
  static constexpr std::string_view kAgencyType = "https://smartdatamodels.org/dataModel.UrbanMobility/GtfsAgency";
  static constexpr std::string_view kStationType = "https://smartdatamodels.org/dataModel.UrbanMobility/GtfsStation";
  static constexpr std::string_view kStopType = "https://smartdatamodels.org/dataModel.UrbanMobility/GtfsStop";
  static constexpr std::string_view kRouteType = "https://smartdatamodels.org/dataModel.UrbanMobility/GtfsRoute";
  static constexpr std::string_view kName = "https://smartdatamodels.org/name";
  static constexpr std::string_view kSource = "https://smartdatamodels.org/source";
  static constexpr std::string_view kLocation = "https://uri.etsi.org/ngsi-ld/location";
  static constexpr std::string_view kAgencyName = "https://smartdatamodels.org/dataModel.UrbanMobility/agencyName";
  static constexpr std::string_view kPage = "https://smartdatamodels.org/dataModel.UrbanMobility/page";
  static constexpr std::string_view kPhone = "https://smartdatamodels.org/dataModel.UrbanMobility/phone";
  static constexpr std::string_view kTimezone = "https://smartdatamodels.org/dataModel.UrbanMobility/timezone";
  static constexpr std::string_view kLanguage = "https://smartdatamodels.org/dataModel.UrbanMobility/language";
  static constexpr std::string_view kCode = "https://smartdatamodels.org/dataModel.UrbanMobility/code";
  static constexpr std::string_view kZoneCode = "https://smartdatamodels.org/dataModel.UrbanMobility/zoneCode";
  static constexpr std::string_view kWheelChairAccessible =
      "https://smartdatamodels.org/dataModel.UrbanMobility/wheelChairAccessible";
  static constexpr std::string_view kHasStop = "https://smartdatamodels.org/dataModel.UrbanMobility/hasStop";
  static constexpr std::string_view kHasParentStation =
      "https://smartdatamodels.org/dataModel.UrbanMobility/hasParentStation";
  static constexpr std::string_view kOperatedBy = "https://smartdatamodels.org/dataModel.UrbanMobility/operatedBy";
  static constexpr std::string_view kShortName = "https://smartdatamodels.org/dataModel.UrbanMobility/shortName";
  static constexpr std::string_view kRouteTypeAttr = "https://smartdatamodels.org/dataModel.UrbanMobility/routeType";
  static constexpr std::string_view kRouteColor = "https://smartdatamodels.org/dataModel.UrbanMobility/routeColor";
  static constexpr std::string_view kRouteTextColor =
      "https://smartdatamodels.org/dataModel.UrbanMobility/routeTextColor";
};

// The @context document whose terms give the short names (what the model's examples cite).
inline constexpr std::string_view kUrbanMobilityContextUrl =
    "https://smart-data-models.github.io/dataModel.UrbanMobility/context.jsonld";

inline constexpr size_t kMaxFeedKeyBytes = 64;
// Longest entity id written (the hub's limit on a URI); a record whose id would be longer is
// left out and reported.
inline constexpr size_t kMaxEntityIdBytes = 2048;

struct EntityOptions {
  // Names the feed inside entity ids: 1 to kMaxFeedKeyBytes ASCII letters, digits, '-', '_', '.'.
  std::string feed_key;
  // The agencies' `source` (the model requires one): where the feed came from, e.g. its URL.
  // Empty: feed_info's publisher URL, else the agency's own URL.
  std::string source;
  bool translated_names = true;
};

struct FeedEntities {
  // Agencies, then stations, then stops, then routes, each in feed order.
  std::vector<boost::json::object> entities;
  size_t agencies = 0, stations = 0, stops = 0, routes = 0;
  // Records left out (a stop without a position, an id too long), with file and reason.
  std::vector<Problem> skipped;
};

// The entities of `feed`; `translations` must have been built from the same feed.
// InvalidRequest when options.feed_key is not a valid key.
Result<FeedEntities> BuildFeedEntities(const Feed& feed, const TranslationIndex& translations,
                                       const EntityOptions& options);

// urn:ngsi-ld:<type>:<feed_key>:<gtfs_id encoded> (no ":<gtfs_id>" when gtfs_id is empty);
// `type` is the short type name, e.g. "GtfsStop". The caller checks feed_key.
std::string GtfsEntityId(std::string_view type, std::string_view feed_key, std::string_view gtfs_id);
// `feed_key` is 1..kMaxFeedKeyBytes of [A-Za-z0-9._-].
bool IsValidFeedKey(std::string_view feed_key);

// The ids of `entities` (the "id" member of each).
std::vector<std::string> EntityIds(const std::vector<boost::json::object>& entities);
// The ids in `previous` (what an earlier import of the feed created) that `current` lacks: the
// entities a re-import must delete. Ascending, each once; the inputs may be in any order.
std::vector<std::string> StaleEntityIds(std::vector<std::string> previous, std::vector<std::string> current);

}  // namespace cityhub::mobility::gtfs
