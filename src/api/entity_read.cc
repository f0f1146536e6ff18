// EntityRead: request options of entity reads, and rendering entities for clients.
#include "api/entity_read.h"

#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "api/linked_entities.h"
#include "api/request.h"
#include "util/json.h"

namespace cityhub::api {
namespace json = boost::json;
using http::Request;

namespace {

// The attribute whose value is a GeoJSON Feature's geometry: `geometryProperty`, else
// "location" (§4.5.16), as the rendered entity names it.
std::string GeometryAttribute(const Request& req, const ngsild::Context& ctx) {
  const std::string* name = req.Param("geometryProperty");
  return ctx.CompactIri(ctx.ExpandTerm(name ? *name : std::string("location")));
}

}  // namespace

// `lang` (§4.15): the language ranges in order of preference ("*" = any language).
Result<std::optional<std::vector<std::string>>> LangOf(const std::string* lang) {
  if (!lang) return std::optional<std::vector<std::string>>();
  auto tags = ngsild::ParseLanguageFilter(*lang);
  if (!tags.ok()) return Status::BadRequestData(fmt::format("parameter 'lang': {}", tags.status().message()));
  return std::optional<std::vector<std::string>>(std::move(*tags));
}

Result<std::optional<ngsild::Projection>> ProjectionOf(const Request& req, const ngsild::Context& ctx,
                                                       std::optional<broker::LinkedProjection>* linked) {
  const std::string* pick = req.Param("pick");
  const std::string* omit = req.Param("omit");
  if ((pick || omit) && req.Param("attrs")) {
    return Status::BadRequestData(
        fmt::format("parameter '{}' cannot be combined with 'attrs' (a deprecated synonym of pick)", pick ? "pick" : "omit"));
  }
  if (!linked) return ngsild::Projection::Make(pick, omit, ctx);
  // Nested terms (`rel{attr}`) project the linked entities (linked_entities.h); the top-level
  // names project the entity itself.
  std::optional<std::string> top_pick, top_omit;
  auto top_level = [&](const std::string* text, bool keep, std::optional<std::string>* out) -> Status {
    if (!text) return Status::Ok();
    if (text->find_first_of("{}") == std::string::npos) {
      *out = *text;
      return Status::Ok();
    }
    if (*linked) return Status::BadRequestData("only one of 'pick' and 'omit' may hold nested (Linked Entity) terms");
    std::vector<std::string> top;
    auto nested = ParseNestedProjection(*text, keep ? "pick" : "omit", keep, ctx, &top);
    if (!nested.ok()) return nested.status();
    *linked = std::move(*nested);
    if (!top.empty()) *out = fmt::format("{}", fmt::join(top, ","));
    return Status::Ok();
  };
  CITYHUB_RETURN_IF_ERROR(top_level(pick, true, &top_pick));
  CITYHUB_RETURN_IF_ERROR(top_level(omit, false, &top_omit));
  return ngsild::Projection::Make(top_pick ? &*top_pick : nullptr, top_omit ? &*top_omit : nullptr, ctx);
}

json::object EntityRead::Render(ngsild::Entity e, ngsild::NameCache* names) const {
  if (datasets) ngsild::KeepDatasets(e, *datasets);
  ngsild::RenderOptions opts{rep.format, rep.sys_attrs, attrs ? &*attrs : nullptr, lang ? &*lang : nullptr, names};
  json::object rendered = ngsild::RenderEntity(std::move(e), *ctx, opts);
  if (projection) projection->Apply(rendered);
  return rendered;
}

namespace {
Status NoneAskedFound(const std::string& id, bool attrs) {
  return Status::NotFound(fmt::format("entity '{}' has none of the attributes asked for ({})", id.substr(0, 200),
                                      attrs ? "attrs" : "pick"));
}
}  // namespace

Status EntityRead::CheckProjectionFound(const ngsild::Entity& e) const {
  const std::set<std::string>* asked = attrs ? &*attrs : nullptr;
  if (!asked && projection && !projection->PickedAttributes().empty()) asked = &projection->PickedAttributes();
  if (!asked) return Status::Ok();
  for (const auto& name : *asked) {
    auto it = e.attrs.find(name);
    if (it != e.attrs.end() && !it->second.empty()) return Status::Ok();
  }
  return NoneAskedFound(e.id, attrs.has_value());
}

Status EntityRead::CheckFound(const ngsild::StoredEntity& e) const {
  if (!attrs || e.HasAnyOf(*attrs)) return Status::Ok();
  return NoneAskedFound(e.id, true);
}

bool EntityRead::RendersFromText() const {
  return (media == MediaType::kJson || media == MediaType::kLdJson) && !projection && !datasets && !lang &&
         join.mode == broker::JoinMode::kNone && !linked_projection;
}

namespace {
// Appends `e` rendered for `in`, "@context" added before its closing brace when `context` (the
// serialized @context) is not empty.
Status AppendText(const EntityRead& in, const ngsild::StoredEntity& e, ngsild::NameCache* names,
                  const std::string& context, std::string* out) {
  ngsild::RenderOptions opts{in.rep.format, in.rep.sys_attrs, in.attrs ? &*in.attrs : nullptr, nullptr, names};
  CITYHUB_RETURN_IF_ERROR(ngsild::RenderStored(e, *in.ctx, opts, out));
  if (!context.empty()) {
    out->pop_back();
    out->append(",\"@context\":");
    out->append(context);
    out->push_back('}');
  }
  return Status::Ok();
}
std::string ContextText(const EntityRead& in) {
  return in.media == MediaType::kLdJson ? util::SerializeJson(in.ctx->AsJson()) : std::string();
}
}  // namespace

Result<std::string> EntityRead::RenderTextOne(const ngsild::StoredEntity& e) const {
  std::string out;
  CITYHUB_RETURN_IF_ERROR(AppendText(*this, e, nullptr, ContextText(*this), &out));
  return out;
}

Result<std::string> EntityRead::RenderTextList(std::vector<std::string> documents) const {
  const std::string context = ContextText(*this);
  ngsild::NameCache names;
  std::string out = "[";
  size_t stored = 0;
  for (const auto& doc : documents) stored += doc.size() + 1;
  out.reserve(stored + 2);  // compact names make the answer shorter than the stored text
  for (auto& doc : documents) {
    auto e = ngsild::StoredEntity::Read(std::move(doc));
    if (!e.ok()) return e.status();
    if (out.size() > 1) out.push_back(',');
    CITYHUB_RETURN_IF_ERROR(AppendText(*this, *e, &names, context, &out));
  }
  out.push_back(']');
  return out;
}

json::value EntityRead::RenderOne(ngsild::Entity e, ngsild::NameCache* names) const {
  json::object rendered = Render(std::move(e), names);
  if (media == MediaType::kGeoJson) return ngsild::GeoJsonFeature(std::move(rendered), geometry_attr);
  return rendered;
}

json::value EntityRead::RenderList(std::vector<ngsild::Entity> entities) const {
  json::array items;
  items.reserve(entities.size());
  ngsild::NameCache names;
  for (auto& e : entities) items.emplace_back(RenderOne(std::move(e), &names));
  if (media != MediaType::kGeoJson) return items;
  return json::object{{"type", "FeatureCollection"}, {"features", std::move(items)}};
}

Result<EntityRead> ReadEntityRequest(const Request& req, const ApiDeps& deps, const json::object* body,
                                     bool ld_json) {
  EntityRead r;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return tenant.status();
  r.tenant = std::move(*tenant);
  auto media = AcceptOf(req);
  if (!media.ok()) return media.status();
  r.media = *media;
  auto rep = RepresentationOf(req);
  if (!rep.ok()) return rep.status();
  r.rep = *rep;
  auto ctx = ContextOf(req, deps, body, ld_json);
  if (!ctx.ok()) return ctx.status();
  r.ctx = std::move(*ctx);
  auto attrs = AttrsParam(req, *r.ctx);
  if (!attrs.ok()) return attrs.status();
  r.attrs = std::move(*attrs);
  auto projection = ProjectionOf(req, *r.ctx, &r.linked_projection);
  if (!projection.ok()) return projection.status();
  r.projection = std::move(*projection);
  auto lang = LangOf(req.Param("lang"));
  if (!lang.ok()) return lang.status();
  r.lang = std::move(*lang);
  r.geometry_attr = GeometryAttribute(req, *r.ctx);
  auto join = JoinOptionsOf(req);
  if (!join.ok()) return join.status();
  r.join = std::move(*join);
  // Nested terms (`rel{attr}`) name members of Linked Entities, which are part of the answer only
  // when join retrieves them (§4.5.23); without join they project nothing, so they are an error
  // rather than silently dropped.
  if (r.linked_projection && r.join.mode == broker::JoinMode::kNone) {
    const std::string* pick = req.Param("pick");
    return Status::BadRequestData(fmt::format(
        "parameter '{}': nested terms (rel{{attr}}) project Linked Entities and need 'join' (flat or inline)",
        pick && pick->find('{') != std::string::npos ? "pick" : "omit"));
  }
  if (req.Param("datasetId")) {
    auto items = SplitList(*req.Param("datasetId"), "datasetId");
    if (!items.ok()) return items.status();
    auto datasets = ngsild::ParseDatasetSelection(*items, "parameter 'datasetId'");
    if (!datasets.ok()) return datasets.status();
    r.datasets = std::move(*datasets);
  }
  return r;
}


}  // namespace cityhub::api
