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
#include "util/status.h"

namespace cityhub::api {

struct QuerySpec {
  std::vector<std::string> ids;
  std::vector<std::string> types;
  std::string id_pattern;
  std::optional<std::string> q;
  std::optional<std::string> scope_q;
  std::optional<std::string> georel;
  std::optional<std::string> geometry;
  std::optional<boost::json::value> coordinates;  // JSON, or a string holding JSON text
  std::optional<std::string> geoproperty;
};

// From the URL parameters id, type, idPattern, q, scopeQ, georel, geometry, coordinates,
// geoproperty. InvalidRequest for an empty list item.
Result<QuerySpec> QuerySpecFromParams(const http::Request& req);

// From a Query body (§5.2.23): entities, attrs (into *attrs, unexpanded), q, geoQ, scopeQ.
// `temporal_q` null: a temporalQ member is refused (entity queries); else it receives it.
Status ReadQueryBody(const boost::json::object& body, QuerySpec* spec, std::optional<std::vector<std::string>>* attrs,
                     const boost::json::object** temporal_q = nullptr);

// Compiles the query; `attrs` are expanded names. BadRequestData / InvalidRequest naming what
// is wrong; `require_selector`: at least one of type, id, idPattern, attrs, q, geo or scope.
Result<broker::EntityQuery> CompileQuery(const QuerySpec& spec, const ngsild::Context& ctx,
                                         const std::optional<std::set<std::string>>& attrs, const ApiLimits& limits,
                                         bool require_selector = true);

// The expanded names of attrs given in a body (BadRequestData for an invalid one).
Result<std::set<std::string>> ExpandAttrs(const std::vector<std::string>& attrs, const ngsild::Context& ctx);

}  // namespace cityhub::api
