// The API side of Linked Entity Retrieval (GS CIM 009 v1.8 §4.5.23; broker/linked_entities.h
// does the walk): reading `join`, `joinLevel` and `containedBy`, the nested projection of the
// attribute projection language (`pick=name,isParked{name,location}`, §4.21), and rendering an
// answer's entities with their linked entities for retrieve and both queries.
// Stateless functions; thread-safe.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "api/api.h"
#include "broker/entity_view.h"
#include "broker/linked_entities.h"
#include "http/message.h"
#include "ngsild/context.h"
#include "ngsild/entity.h"

namespace cityhub::api {

struct EntityRead;

// `join`, `joinLevel` and `containedBy` (URL parameters; `contained_by_body`, when not null,
// is the containedBy member of a Query body and replaces the parameter). BadRequestData naming
// what is wrong.
Result<broker::JoinOptions> JoinOptionsOf(const http::Request& req, const boost::json::value* contained_by_body = nullptr);

// A pick/omit list in the projection language with nesting: items separated by ',', each a
// member name ("id", "type", "scope", an attribute) optionally followed by a braced list
// applying to the entities the attribute links to. `top` receives the first-level names as
// the rendered entity names them (for pick: every item; for omit: the items without braces —
// `omit=rel{a}` removes `a` from the linked entities, not `rel`); the result holds the
// nested projections. BadRequestData naming the parameter and the position of a fault.
Result<broker::LinkedProjection> ParseNestedProjection(std::string_view text, std::string_view param, bool keep,
                                                       const ngsild::Context& ctx, std::vector<std::string>* top);

// `entities` (as the reader sees them) rendered for `in`: with join flat or inline, followed
// by or holding their linked entities, read with `view`. `one`: the answer of retrieve — an
// entity (inline, none) or an array of it and its linked entities (flat); else an array. A
// GeoJSON media type makes Features (and a FeatureCollection). TooManyResults past the
// linked-entity limit.
Result<boost::json::value> RenderAnswer(const EntityRead& in, std::vector<ngsild::Entity> entities, const ApiDeps& deps,
                                        const broker::EntityView* view, bool one);

}  // namespace cityhub::api
