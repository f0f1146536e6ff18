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
#include "ngsild/projection.h"
#include "ngsild/render.h"
#include "ngsild/stored_render.h"

namespace cityhub::api {

struct EntityRead {
  std::string tenant;
  MediaType media = MediaType::kJson;
  Representation rep;
  ngsild::ContextPtr ctx;
  std::optional<std::set<std::string>> attrs;      // expanded names
  std::optional<ngsild::Projection> projection;
  std::optional<std::vector<std::string>> lang;     // preferred language tags, best first
  std::string geometry_attr;                        // as the rendered entity names it
  broker::JoinOptions join;                         // join, joinLevel, containedBy (§4.5.23)
  // The nested part of pick/omit (`rel{attr}`), applied to linked entities; null without one.
  std::optional<broker::LinkedProjection> linked_projection;
  // datasetId (§4.5.5): the instances shown of each attribute ("" = the default instance).
  std::optional<std::set<std::string>> datasets;

  // Ok if `e` holds one of the Attributes `attrs` names, or else `pick` names (or neither asks
  // for any); NotFound otherwise (§5.7.1.4, retrieval).
  Status CheckProjectionFound(const ngsild::Entity& e) const;

  // The entity in the representation asked for (without "@context"). The entities are taken
  // by value: their values are moved into the rendering (pass std::move when done with them).
  boost::json::object Render(ngsild::Entity e, ngsild::NameCache* names = nullptr) const;
  // Render(), as a GeoJSON Feature when the media type is GeoJSON.
  boost::json::value RenderOne(ngsild::Entity e, ngsild::NameCache* names = nullptr) const;
  // A JSON array, or a GeoJSON FeatureCollection.
  boost::json::value RenderList(std::vector<ngsild::Entity> entities) const;

  // True if this request's entities may be rendered straight from their storage text
  // (ngsild/stored_render.h): JSON or JSON-LD, and no lang, pick/omit, datasetId or join.
  bool RendersFromText() const;
  // With RendersFromText(): the body of the answer, serialized — one entity (CheckFound first),
  // or the array of `documents` (each a stored entity document), each with "@context" when
  // the media type is JSON-LD. Internal for a corrupt document.
  Result<std::string> RenderTextOne(const ngsild::StoredEntity& e) const;
  Result<std::string> RenderTextList(std::vector<std::string> documents) const;
  // CheckProjectionFound() for a stored entity (only `attrs` applies: RendersFromText() excludes pick).
  Status CheckFound(const ngsild::StoredEntity& e) const;
};

// A `lang` parameter's text (§4.15; null when absent): the language ranges in order of
// preference, best first ("*" = any language; see ngsild::ParseLanguageFilter); nullopt when
// absent. BadRequestData naming what is wrong with the list.
Result<std::optional<std::vector<std::string>>> LangOf(const std::string* lang);

// The `pick` / `omit` parameters (§4.21) read with `ctx`; nullopt when neither is given.
// BadRequestData as ngsild::Projection::Make says, and when either comes with `attrs` (the
// deprecated synonym of pick: the request would be ambiguous).
// With `linked` (not null), nested terms (`rel{attr}`) are read into it as the projection of
// the linked entities (linked_entities.h); without, they are BadRequestData.
Result<std::optional<ngsild::Projection>> ProjectionOf(const http::Request& req, const ngsild::Context& ctx,
                                                       std::optional<broker::LinkedProjection>* linked = nullptr);

// Reads the options above from the request's headers and URL parameters (and the @context
// from `body` when the request has one, see ContextOf); BadRequestData, NotAcceptable,
// LdContextNotAvailable … naming what was wrong.
Result<EntityRead> ReadEntityRequest(const http::Request& req, const ApiDeps& deps,
                                     const boost::json::object* body = nullptr, bool ld_json = false);

}  // namespace cityhub::api
