// EntityRead: what a request that returns entities asks for — tenant, media type (JSON,
// JSON-LD, GeoJSON), representation, @context, the `attrs` filter, the pick/omit projection
// (v1.8 §4.21), `lang` (§4.15), `datasetId` (§4.5.5) and `geometryProperty` — and the rendering of entities for it.
// Shared by retrieve (GET /entities/{id}) and both queries (GET /entities, POST
// /entityOperations/query). Plain values; thread-safe once built.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "api/api.h"
#include "api/request.h"
#include "broker/linked_entities.h"
#include "http/message.h"
#include "ngsild/render.h"

namespace cityhub::api {

// Entity members (id, type, attributes) to keep (pick) or to drop (omit), as the rendered
// entity names them.
struct Projection {
  std::set<std::string> names;
  bool keep = true;  // pick; false for omit
};

struct EntityRead {
  std::string tenant;
  MediaType media = MediaType::kJson;
  Representation rep;
  ngsild::ContextPtr ctx;
  std::optional<std::set<std::string>> attrs;      // expanded names
  std::optional<Projection> projection;
  std::optional<std::vector<std::string>> lang;     // preferred language tags
  std::string geometry_attr;                        // as the rendered entity names it
  broker::JoinOptions join;                         // join, joinLevel, containedBy (§4.5.23)
  // The nested part of pick/omit (`rel{attr}`), applied to linked entities; null without one.
  std::optional<broker::LinkedProjection> linked_projection;
  // datasetId (§4.5.5): the instances shown of each attribute ("" = the default instance).
  std::optional<std::set<std::string>> datasets;

  // The entity in the representation asked for (without "@context"). The entities are taken
  // by value: their values are moved into the rendering (pass std::move when done with them).
  boost::json::object Render(ngsild::Entity e, ngsild::NameCache* names = nullptr) const;
  // Render(), as a GeoJSON Feature when the media type is GeoJSON.
  boost::json::value RenderOne(ngsild::Entity e, ngsild::NameCache* names = nullptr) const;
  // A JSON array, or a GeoJSON FeatureCollection.
  boost::json::value RenderList(std::vector<ngsild::Entity> entities) const;
};

// A `lang` parameter's text (§4.15; null when absent): the language tags in order of
// preference; nullopt when absent or "*" (every language). BadRequestData naming a tag that is
// not one.
Result<std::optional<std::vector<std::string>>> LangOf(const std::string* lang);

// Reads the options above from the request's headers and URL parameters (and the @context
// from `body` when the request has one, see ContextOf); BadRequestData, NotAcceptable,
// LdContextNotAvailable … naming what was wrong.
Result<EntityRead> ReadEntityRequest(const http::Request& req, const ApiDeps& deps,
                                     const boost::json::object* body = nullptr, bool ld_json = false);

}  // namespace cityhub::api
