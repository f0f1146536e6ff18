/* The built-in NGSI-LD core @context.
 *
 * The hub never downloads the core context: every request is processed as if the core context
 * were appended last (GS CIM 009 §5.5.7), so it must be available without I/O and cheaply. The
 * table below lists each term the core context defines (fact source: the published core context
 * term list; v1.9 is a superset of v1.8, so both are served by it) with the namespace its IRI
 * lives in, instead of a JSON document that would need parsing at start-up. Keeping namespace and
 * local name apart keeps the table short and makes a mistyped base IRI impossible per row.
 *
 * Only the term -> IRI mapping is kept. Term definition details such as "@type": "DateTime" or
 * "@container": "@list" belong to JSON-LD value processing, which the NGSI-LD model in this
 * folder implements directly from the spec rather than through generic JSON-LD rules.
 *
 * IsCoreContextUrl recognises every published spelling of the core context URL (unversioned and
 * -vMAJOR.MINOR[.PATCH], http or https), so a client pinning any version gets the built-in one.
 */
#include "ngsild/core_context.h"

#include <cctype>

#include "ngsild/context.h"

namespace cityhub::ngsild {
namespace core {
namespace {

using enum Namespace;

constexpr CoreTerm kCoreTerms[] = {
    {"ngsi-ld", kNgsiLd, ""},
    {"geojson", kGeoJson, ""},
    {"id", kKeyword, "id"},
    {"type", kKeyword, "type"},
    {"Attribute", kNgsiLd, "Attribute"},
    {"AttributeList", kNgsiLd, "AttributeList"},
    {"ContextSourceIdentity", kNgsiLd, "ContextSourceIdentity"},
    {"ContextSourceNotification", kNgsiLd, "ContextSourceNotification"},
    {"ContextSourceRegistration", kNgsiLd, "ContextSourceRegistration"},
    {"Date", kNgsiLd, "Date"},
    {"DateTime", kNgsiLd, "DateTime"},
    {"EntityMap", kNgsiLd, "EntityMap"},
    {"EntityType", kNgsiLd, "EntityType"},
    {"EntityTypeInfo", kNgsiLd, "EntityTypeInfo"},
    {"EntityTypeList", kNgsiLd, "EntityTypeList"},
    {"ExecutionResultDetails", kNgsiLd, "ExecutionResultDetails"},
    {"Feature", kGeoJson, "Feature"},
    {"FeatureCollection", kGeoJson, "FeatureCollection"},
    {"GeoProperty", kNgsiLd, "GeoProperty"},
    {"GeometryCollection", kGeoJson, "GeometryCollection"},
    {"JsonProperty", kNgsiLd, "JsonProperty"},
    {"LanguageProperty", kNgsiLd, "LanguageProperty"},
    {"LineString", kGeoJson, "LineString"},
    {"ListProperty", kNgsiLd, "ListProperty"},
    {"ListRelationship", kNgsiLd, "ListRelationship"},
    {"MultiLineString", kGeoJson, "MultiLineString"},
    {"MultiPoint", kGeoJson, "MultiPoint"},
    {"MultiPolygon", kGeoJson, "MultiPolygon"},
    {"Notification", kNgsiLd, "Notification"},
    {"Point", kGeoJson, "Point"},
    {"Polygon", kGeoJson, "Polygon"},
    {"Property", kNgsiLd, "Property"},
    {"Relationship", kNgsiLd, "Relationship"},
    {"Snapshot", kNgsiLd, "Snapshot"},
    {"SnapshotNotification", kNgsiLd, "SnapshotNotification"},
    {"Subscription", kNgsiLd, "Subscription"},
    {"TemporalProperty", kNgsiLd, "TemporalProperty"},
    {"Time", kNgsiLd, "Time"},
    {"VocabProperty", kNgsiLd, "VocabProperty"},
    {"accept", kNgsiLd, "accept"},
    {"aggrParams", kNgsiLd, "aggrParams"},
    {"aggrMethods", kNgsiLd, "aggrMethods"},
    {"aggrPeriodDuration", kNgsiLd, "aggrPeriodDuration"},
    {"attributeCount", kNgsiLd, "attributeCount"},
    {"attributeDetails", kNgsiLd, "attributeDetails"},
    {"attributeList", kNgsiLd, "attributeList"},
    {"attributeName", kNgsiLd, "attributeName"},
    {"attributeNames", kNgsiLd, "attributeNames"},
    {"attributeTypes", kNgsiLd, "attributeTypes"},
    {"attributes", kNgsiLd, "attributes"},
    {"attrs", kNgsiLd, "attrs"},
    {"avg", kNgsiLd, "avg"},
    {"bbox", kGeoJson, "bbox"},
    {"cacheDuration", kNgsiLd, "cacheDuration"},
    {"collation", kNgsiLd, "collation"},
    {"containedBy", kNgsiLd, "isContainedBy"},
    {"contextSourceAlias", kNgsiLd, "contextSourceAlias"},
    {"contextSourceExtras", kNgsiLd, "contextSourceExtras"},
    {"contextSourceInfo", kNgsiLd, "contextSourceInfo"},
    {"contextSourceTimeAt", kNgsiLd, "contextSourceTimeAt"},
    {"contextSourceUptime", kNgsiLd, "contextSourceUptime"},
    {"cooldown", kNgsiLd, "cooldown"},
    {"coordinates", kGeoJson, "coordinates"},
    {"createdAt", kNgsiLd, "createdAt"},
    {"csf", kNgsiLd, "csf"},
    {"data", kNgsiLd, "data"},
    {"dataset", kNgsiLd, "hasDataset"},
    {"datasetId", kNgsiLd, "datasetId"},
    {"deletedAt", kNgsiLd, "deletedAt"},
    {"description", kDcTerms, "description"},
    {"detail", kNgsiLd, "detail"},
    {"distinctCount", kNgsiLd, "distinctCount"},
    {"endAt", kNgsiLd, "endAt"},
    {"endTimeAt", kNgsiLd, "endTimeAt"},
    {"endpoint", kNgsiLd, "endpoint"},
    {"entities", kNgsiLd, "entities"},
    {"entity", kNgsiLd, "entity"},
    {"entityCount", kNgsiLd, "entityCount"},
    {"entityId", kNgsiLd, "entityId"},
    {"entityList", kNgsiLd, "entityList"},
    {"entityMap", kNgsiLd, "hasEntityMap"},
    {"entityMapLifetime", kNgsiLd, "hasEntityMapLifetime"},
    {"error", kNgsiLd, "error"},
    {"errors", kNgsiLd, "errors"},
    {"expandValues", kNgsiLd, "expandValues"},
    {"expiresAt", kNgsiLd, "expiresAt"},
    {"features", kGeoJson, "features"},
    {"format", kNgsiLd, "format"},
    {"geoQ", kNgsiLd, "geoQ"},
    {"geometry", kGeoJson, "geometry"},
    {"geoproperty", kNgsiLd, "geoproperty"},
    {"georel", kNgsiLd, "georel"},
    {"idPattern", kNgsiLd, "idPattern"},
    {"information", kNgsiLd, "information"},
    {"instanceId", kNgsiLd, "instanceId"},
    {"isActive", kNgsiLd, "isActive"},
    {"join", kNgsiLd, "join"},
    {"joinLevel", kNgsiLd, "hasJoinLevel"},
    {"json", kNgsiLd, "hasJSON"},
    {"jsonKeys", kNgsiLd, "jsonKeys"},
    {"jsonldContext", kNgsiLd, "jsonldContext"},
    {"jsons", kNgsiLd, "jsons"},
    {"key", kNgsiLd, "hasKey"},
    {"lang", kNgsiLd, "lang"},
    {"languageMap", kNgsiLd, "hasLanguageMap"},
    {"languageMaps", kNgsiLd, "hasLanguageMaps"},
    {"langString", kRdf, "langString"},
    {"lastFailure", kNgsiLd, "lastFailure"},
    {"lastN", kNgsiLd, "lastN"},
    {"lastNotification", kNgsiLd, "lastNotification"},
    {"lastSuccess", kNgsiLd, "lastSuccess"},
    {"lastUsedAt", kNgsiLd, "lastUsedAt"},
    {"linkedMaps", kNgsiLd, "linkedMaps"},
    {"localOnly", kNgsiLd, "localOnly"},
    {"location", kNgsiLd, "location"},
    {"management", kNgsiLd, "management"},
    {"managementInterval", kNgsiLd, "managementInterval"},
    {"max", kNgsiLd, "max"},
    {"min", kNgsiLd, "min"},
    {"mode", kNgsiLd, "mode"},
    {"modifiedAt", kNgsiLd, "modifiedAt"},
    {"ngsildproof", kNgsiLd, "ngsildproof"},
    {"ngsildConformance", kNgsiLd, "ngsildConformance"},
    {"notification", kNgsiLd, "notification"},
    {"notificationTrigger", kNgsiLd, "notificationTrigger"},
    {"notifiedAt", kNgsiLd, "notifiedAt"},
    {"notifierInfo", kNgsiLd, "notifierInfo"},
    {"notUpdated", kNgsiLd, "notUpdated"},
    {"object", kNgsiLd, "hasObject"},
    {"objectList", kNgsiLd, "hasObjectList"},
    {"objectLists", kNgsiLd, "hasObjectLists"},
    {"objects", kNgsiLd, "hasObjects"},
    {"objectType", kNgsiLd, "hasObjectType"},
    {"observationInterval", kNgsiLd, "observationInterval"},
    {"observationSpace", kNgsiLd, "observationSpace"},
    {"observedAt", kNgsiLd, "observedAt"},
    {"omit", kNgsiLd, "omit"},
    {"operations", kNgsiLd, "operations"},
    {"operationSpace", kNgsiLd, "operationSpace"},
    {"orderBy", kNgsiLd, "orderBy"},
    {"ordering", kNgsiLd, "ordering"},
    {"pick", kNgsiLd, "pick"},
    {"previousJson", kNgsiLd, "hasPreviousJson"},
    {"previousLanguageMap", kNgsiLd, "hasPreviousLanguageMap"},
    {"previousObject", kNgsiLd, "hasPreviousObject"},
    {"previousObjectList", kNgsiLd, "hasPreviousObjectList"},
    {"previousValue", kNgsiLd, "hasPreviousValue"},
    {"previousValueList", kNgsiLd, "hasPreviousValueList"},
    {"previousVocab", kNgsiLd, "hasPreviousVocab"},
    {"problemDetails", kNgsiLd, "problemDetails"},
    {"properties", kGeoJson, "properties"},
    {"propertyNames", kNgsiLd, "propertyNames"},
    {"q", kNgsiLd, "q"},
    {"reason", kNgsiLd, "reason"},
    {"receiverInfo", kNgsiLd, "receiverInfo"},
    {"refreshRate", kNgsiLd, "refreshRate"},
    {"registrationId", kNgsiLd, "registrationId"},
    {"registrationName", kNgsiLd, "registrationName"},
    {"relationshipNames", kNgsiLd, "relationshipNames"},
    {"resultStatus", kNgsiLd, "resultStatus"},
    {"scope", kNgsiLd, "scope"},
    {"scopeQ", kNgsiLd, "scopeQ"},
    {"showChanges", kNgsiLd, "showChanges"},
    {"snapshotId", kNgsiLd, "snapshotId"},
    {"snapshotLifetime", kNgsiLd, "snapshotLifetime"},
    {"snapshotPriority", kNgsiLd, "snapshotPriority"},
    {"snapshotQueries", kNgsiLd, "snapshotQueries"},
    {"snapshotQueriesDetails", kNgsiLd, "snapshotQueriesDetails"},
    {"snapshotStatus", kNgsiLd, "snapshotStatus"},
    {"snapshotTemporalQueries", kNgsiLd, "snapshotTemporalQueries"},
    {"snapshotTemporalQueriesDetails", kNgsiLd, "snapshotTemporalQueriesDetails"},
    {"splitEntities", kNgsiLd, "hasSplitEntities"},
    {"startAt", kNgsiLd, "startAt"},
    {"status", kNgsiLd, "status"},
    {"stddev", kNgsiLd, "stddev"},
    {"subscriptionId", kNgsiLd, "subscriptionId"},
    {"subscriptionName", kNgsiLd, "subscriptionName"},
    {"success", kNgsiLd, "success"},
    {"sum", kNgsiLd, "sum"},
    {"sumsq", kNgsiLd, "sumsq"},
    {"sysAttrs", kNgsiLd, "sysAttrs"},
    {"temporalQ", kNgsiLd, "temporalQ"},
    {"tenant", kNgsiLd, "tenant"},
    {"throttling", kNgsiLd, "throttling"},
    {"timeAt", kNgsiLd, "timeAt"},
    {"timeInterval", kNgsiLd, "timeInterval"},
    {"timeout", kNgsiLd, "timeout"},
    {"timeproperty", kNgsiLd, "timeproperty"},
    {"timerel", kNgsiLd, "timerel"},
    {"timesFailed", kNgsiLd, "timesFailed"},
    {"timesSent", kNgsiLd, "timesSent"},
    {"title", kDcTerms, "title"},
    {"totalCount", kNgsiLd, "totalCount"},
    {"triggerReason", kNgsiLd, "triggerReason"},
    {"typeList", kNgsiLd, "typeList"},
    {"typeName", kNgsiLd, "typeName"},
    {"typeNames", kNgsiLd, "typeNames"},
    {"unchanged", kNgsiLd, "unchanged"},
    {"unitCode", kNgsiLd, "unitCode"},
    {"updated", kNgsiLd, "updated"},
    {"uri", kNgsiLd, "uri"},
    {"value", kNgsiLd, "hasValue"},
    {"valueList", kNgsiLd, "hasValueList"},
    {"valueLists", kNgsiLd, "hasValueLists"},
    {"values", kNgsiLd, "hasValues"},
    {"valueType", kNgsiLd, "hasValueType"},
    {"vocab", kNgsiLd, "hasVocab"},
    {"vocabs", kNgsiLd, "hasVocabs"},
    {"watchedAttributes", kNgsiLd, "watchedAttributes"},
};

}  // namespace

std::string_view NamespaceIri(Namespace ns) {
  switch (ns) {
    case kKeyword: return "@";
    case kNgsiLd: return "https://uri.etsi.org/ngsi-ld/";
    case kGeoJson: return "https://purl.org/geojson/vocab#";
    case kDcTerms: return "http://purl.org/dc/terms/";
    case kRdf: return "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
  }
  return "";
}

std::span<const CoreTerm> CoreTerms() { return kCoreTerms; }

}  // namespace core

namespace {

// Consumes a run of one or more ASCII digits from the front of `s`.
bool ConsumeDigits(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
  s.remove_prefix(n);
  return n > 0;
}

bool ConsumePrefix(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

bool IsCoreContextUrl(std::string_view url) {
  if (!ConsumePrefix(url, "https://") && !ConsumePrefix(url, "http://")) return false;
  if (!ConsumePrefix(url, "uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context")) return false;
  if (url == ".jsonld") return true;
  // -v1.MINOR or -v1.MINOR.PATCH
  if (!ConsumePrefix(url, "-v1.") || !ConsumeDigits(url)) return false;
  if (url == ".jsonld") return true;
  return ConsumePrefix(url, ".") && ConsumeDigits(url) && url == ".jsonld";
}

}  // namespace cityhub::ngsild
