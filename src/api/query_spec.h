// QuerySpec: an entity query as the client wrote it — URL parameters (GET /entities,
// GET /temporal/entities) or a Query body (POST /entityOperations/query, POST
// /temporal/entityOperations/query) — and its compilation into a broker::EntityQuery
// (names expanded with the request's @context, q / geoQ / scopeQ parsed). Shared by the entity
// and the temporal queries so both read selectors and filters the same way.
// Stateless functions; thread-safe.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "api/api.h"
#include "broker/query_service.h"
#include "http/message.h"
#include "ngsild/context.h"
#include "ngsild/type_selection.h"
#include "util/status.h"

namespace cityhub::api {

struct QuerySpec {
  std::vector<std::string> ids;
  std::vector<std::string> types;  // §4.17 type selections, any of them ("*": every type)
  std::string id_pattern;
  std::optional<std::string> q;
  std::optional<std::string> scope_q;
  std::optional<std::string> georel;
  std::optional<std::string> geometry;
  std::optional<boost::json::value> coordinates;  // JSON, or a string holding JSON text
  std::optional<std::string> geoproperty;
  std::optional<std::vector<std::string>> dataset_ids;  // datasetId (§4.5.5), as written
};

// From the URL parameters id, type, idPattern, q, scopeQ, georel, geometry, coordinates,
// geoproperty, datasetId. InvalidRequest for an empty list item.
Result<QuerySpec> QuerySpecFromParams(const http::Request& req);

// From a Query body (§5.2.23): entities, attrs (into *attrs, unexpanded), q, geoQ, scopeQ,
// datasetId.
// `temporal_q` null: a temporalQ member is refused (entity queries); else it receives it.
Status ReadQueryBody(const boost::json::object& body, QuerySpec* spec, std::optional<std::vector<std::string>>* attrs,
                     const boost::json::object** temporal_q = nullptr);

// The disjunction of the §4.17 type selections `expressions`, expanded with `ctx`; nullopt
// when there are none or one is "*" (every type). BadRequestData for a selection the grammar
// refuses.
Result<std::optional<ngsild::TypeSelection>> TypeSelectionOf(const std::vector<std::string>& expressions,
                                                             const ngsild::Context& ctx);

// Compiles the query; `attrs` are expanded names. BadRequestData / InvalidRequest naming what
// is wrong; `require_selector`: at least one of type, id, idPattern, attrs, q, geo or scope.
Result<broker::EntityQuery> CompileQuery(const QuerySpec& spec, const ngsild::Context& ctx,
                                         const std::optional<std::set<std::string>>& attrs, const ApiLimits& limits,
                                         bool require_selector = true);

// The datasetId selection of the query ("" = the default instances), nullopt when it has none;
// BadRequestData for an item that is neither a URI nor "@none".
Result<std::optional<std::set<std::string>>> DatasetSelectionOf(const QuerySpec& spec);

// The `orderBy` URL parameter (v1.9.1 §4.23): comma-separated keys `attr[;asc|desc|dist-asc|
// dist-desc]` (asc by default; at most kMaxOrderKeys), names expanded with `ctx`; empty without
// the parameter. BadRequestData naming the fault (a bad name or direction, a distance order
// without a geo-query: `has_geo`); NotSupported for a sub-attribute path and for `collation`
// (strings order by Unicode code point only).
constexpr size_t kMaxOrderKeys = 8;
Result<std::vector<broker::OrderKey>> OrderByOf(const http::Request& req, const ngsild::Context& ctx, bool has_geo);

// The expanded names of attrs given in a body (BadRequestData for an invalid one).
Result<std::set<std::string>> ExpandAttrs(const std::vector<std::string>& attrs, const ngsild::Context& ctx);

}  // namespace cityhub::api
