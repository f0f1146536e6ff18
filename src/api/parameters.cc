// The URL parameters of each NGSI-LD operation: the table below lists, per method and route,
// every query parameter ETSI's OpenAPI description of GS CIM 009 v1.8.1 gives the operation,
// plus `offset` (§6.3.10, paging, which the OpenAPI leaves out) and `orderBy` (v1.9.1) on the
// queries. A parameter missing from its operation's list is a client mistake — a typo such as
// `tpye=Car` would otherwise widen a query or a deletion silently — and is refused with
// InvalidRequest before the handler runs. A listed one the hub does not implement (entity maps,
// the `type` disambiguation of writes, ...) is refused with
// OperationNotSupported, also before anything is read or written, rather than being ignored.
//
// Handlers still validate the values of the parameters they read; this file only decides
// which names an operation takes. Routes outside /ngsi-ld/v1/ (the hub's own /cityhub/v1/…,
// /iot/…, /health, /metrics, /admin/…) are not in the table and are not checked here.
#include "api/parameters.h"

#include <algorithm>

#include <fmt/format.h>

namespace cityhub::api {
namespace {

struct OperationParameters {
  std::string_view method;
  std::string_view route;
  std::string_view accepted;     // space-separated names
  std::string_view unsupported;  // space-separated names, a subset of `accepted`
};

// Groups shared by several operations.
#define CITYHUB_ENTITY_QUERY                                                                       \
  "id type idPattern attrs pick omit q csf geometry georel coordinates geoproperty geometryProperty " \
  "lang scopeQ containedBy join joinLevel datasetId entityMap limit offset count options format local orderBy"
#define CITYHUB_TEMPORAL_READ                                                                            \
  "attrs pick omit timeproperty timerel timeAt endTimeAt lastN lang aggrMethods aggrPeriodDuration " \
  "datasetId options format local"

constexpr OperationParameters kOperations[] = {
    // Entities (§6.4, §6.5, §6.6, §6.7).
    {"POST", "/ngsi-ld/v1/entities", "local", ""},
    {"GET", "/ngsi-ld/v1/entities", CITYHUB_ENTITY_QUERY " collation", "collation"},
    // Purge Entities (§5.6.21): the query's selectors, and what to delete of each entity.
    {"DELETE", "/ngsi-ld/v1/entities",
     "id type idPattern attrs q csf geometry georel coordinates geoproperty scopeQ drop keep local", "csf"},
    {"GET", "/ngsi-ld/v1/entities/{entityId}",
     "type attrs pick omit geometryProperty lang containedBy join joinLevel datasetId entityMap options format local",
     ""},
    {"DELETE", "/ngsi-ld/v1/entities/{entityId}", "type local", "type"},
    {"PATCH", "/ngsi-ld/v1/entities/{entityId}", "options format type observedAt lang local", "type"},
    {"PUT", "/ngsi-ld/v1/entities/{entityId}", "type local", "type"},
    {"POST", "/ngsi-ld/v1/entities/{entityId}/attrs", "type options local", "type"},
    {"PATCH", "/ngsi-ld/v1/entities/{entityId}/attrs", "type local", "type"},
    {"PATCH", "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", "type local", "type"},
    {"PUT", "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", "type local", "type"},
    {"DELETE", "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", "deleteAll datasetId type local", "type"},
    // Batch operations (§6.14 – §6.17, §6.23, §6.31).
    {"POST", "/ngsi-ld/v1/entityOperations/create", "local", ""},
    {"POST", "/ngsi-ld/v1/entityOperations/upsert", "options local", ""},
    {"POST", "/ngsi-ld/v1/entityOperations/update", "options local", ""},
    {"POST", "/ngsi-ld/v1/entityOperations/delete", "local", ""},
    {"POST", "/ngsi-ld/v1/entityOperations/merge", "local", ""},
    {"POST", "/ngsi-ld/v1/entityOperations/query",
     "limit offset count options format lang pick omit geometryProperty join joinLevel containedBy local orderBy "
     "entityMap collation",
     "collation"},
    // Subscriptions (§6.10, §6.11).
    {"POST", "/ngsi-ld/v1/subscriptions", "local", ""},
    {"GET", "/ngsi-ld/v1/subscriptions", "options limit offset count local", ""},
    {"GET", "/ngsi-ld/v1/subscriptions/{subscriptionId}", "options local", ""},
    {"PATCH", "/ngsi-ld/v1/subscriptions/{subscriptionId}", "local", ""},
    {"DELETE", "/ngsi-ld/v1/subscriptions/{subscriptionId}", "local", ""},
    // Context source registration subscriptions (§6.12, §6.13).
    {"POST", "/ngsi-ld/v1/csourceSubscriptions", "", ""},
    {"GET", "/ngsi-ld/v1/csourceSubscriptions", "options limit offset count", ""},
    {"GET", "/ngsi-ld/v1/csourceSubscriptions/{subscriptionId}", "options", ""},
    {"PATCH", "/ngsi-ld/v1/csourceSubscriptions/{subscriptionId}", "", ""},
    {"DELETE", "/ngsi-ld/v1/csourceSubscriptions/{subscriptionId}", "", ""},
    // Context source registrations (§6.8, §6.9).
    {"POST", "/ngsi-ld/v1/csourceRegistrations", "", ""},
    {"GET", "/ngsi-ld/v1/csourceRegistrations",
     "id type idPattern attrs q csf geometry georel coordinates geoproperty timeproperty timerel timeAt endTimeAt "
     "geometryProperty lang scopeQ options limit offset count",
     "geometryProperty lang"},
    {"GET", "/ngsi-ld/v1/csourceRegistrations/{registrationId}", "options", ""},
    {"PATCH", "/ngsi-ld/v1/csourceRegistrations/{registrationId}", "", ""},
    {"DELETE", "/ngsi-ld/v1/csourceRegistrations/{registrationId}", "", ""},
    // Temporal (§6.18 – §6.22, §6.24).
    {"POST", "/ngsi-ld/v1/temporal/entities", "local", ""},
    {"GET", "/ngsi-ld/v1/temporal/entities",
     "id type idPattern q csf geometry georel coordinates geoproperty scopeQ limit offset count orderBy " CITYHUB_TEMPORAL_READ,
     ""},
    {"GET", "/ngsi-ld/v1/temporal/entities/{entityId}", CITYHUB_TEMPORAL_READ, ""},
    {"DELETE", "/ngsi-ld/v1/temporal/entities/{entityId}", "local", ""},
    {"POST", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs", "local", ""},
    {"DELETE", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}", "deleteAll datasetId local", ""},
    {"PATCH", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}/{instanceId}", "local", ""},
    {"DELETE", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}/{instanceId}", "local", ""},
    {"POST", "/ngsi-ld/v1/temporal/entityOperations/query",
     "limit offset count orderBy " CITYHUB_TEMPORAL_READ, ""},
    // Discovery (§6.25 – §6.28).
    {"GET", "/ngsi-ld/v1/types", "details local", ""},
    {"GET", "/ngsi-ld/v1/types/{type}", "local", ""},
    {"GET", "/ngsi-ld/v1/attributes", "details local", ""},
    {"GET", "/ngsi-ld/v1/attributes/{attrId}", "local", ""},
    // @contexts (§6.29, §6.30).
    {"POST", "/ngsi-ld/v1/jsonldContexts", "", ""},
    {"GET", "/ngsi-ld/v1/jsonldContexts", "details kind", ""},
    {"GET", "/ngsi-ld/v1/jsonldContexts/{contextId}", "details", ""},
    {"DELETE", "/ngsi-ld/v1/jsonldContexts/{contextId}", "reload", ""},
    // EntityMaps (§5.14; the OpenAPI spells the path /entityMap/{id}).
    {"GET", "/ngsi-ld/v1/entityMaps/{entityMapId}", "", ""},
    {"PATCH", "/ngsi-ld/v1/entityMaps/{entityMapId}", "", ""},
    {"DELETE", "/ngsi-ld/v1/entityMaps/{entityMapId}", "", ""},
    {"GET", "/ngsi-ld/v1/entityMap/{entityMapId}", "", ""},
    {"PATCH", "/ngsi-ld/v1/entityMap/{entityMapId}", "", ""},
    {"DELETE", "/ngsi-ld/v1/entityMap/{entityMapId}", "", ""},
    // Context source identity and conformance.
    {"GET", "/ngsi-ld/v1/info/sourceIdentity", "", ""},
    {"GET", "/ngsi-ld/v1/info/conformance", "", ""},
};

#undef CITYHUB_ENTITY_QUERY
#undef CITYHUB_TEMPORAL_READ

// True if the space-separated `list` holds `name`.
bool Lists(std::string_view list, std::string_view name) {
  while (!list.empty()) {
    const size_t space = list.find(' ');
    if (list.substr(0, space) == name) return true;
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return false;
}

const OperationParameters* Find(std::string_view method, std::string_view route) {
  auto it = std::find_if(std::begin(kOperations), std::end(kOperations),
                         [&](const OperationParameters& op) { return op.method == method && op.route == route; });
  return it == std::end(kOperations) ? nullptr : &*it;
}

}  // namespace

Status CheckParameters(std::string_view method, std::string_view route, const http::Request& req) {
  if (req.query.empty()) return Status::Ok();
  const OperationParameters* op = Find(method, route);
  if (!op) return Status::Ok();
  for (const auto& [name, value] : req.query) {
    const std::string_view shown = std::string_view(name).substr(0, 64);
    if (!Lists(op->accepted, name)) {
      return Status::InvalidRequest(op->accepted.empty()
                                        ? fmt::format("unknown parameter '{}': {} {} takes no URL parameters", shown,
                                                      method, route)
                                        : fmt::format("unknown parameter '{}': {} {} takes {}", shown, method, route,
                                                      op->accepted));
    }
    if (Lists(op->unsupported, name)) {
      return Status::NotSupported(fmt::format("parameter '{}' of {} {} is not supported by this hub", shown, method, route));
    }
  }
  return Status::Ok();
}

std::vector<std::string> NgsiLdOperations() {
  std::vector<std::string> out;
  for (const auto& op : kOperations) out.push_back(fmt::format("{} {}", op.method, op.route));
  return out;
}

}  // namespace cityhub::api
