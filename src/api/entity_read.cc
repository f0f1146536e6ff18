// EntityRead: request options of entity reads, and rendering entities for clients.
#include "api/entity_read.h"

#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/linked_entities.h"
#include "api/request.h"

namespace cityhub::api {
namespace json = boost::json;
using http::Request;

namespace {

// The `pick` / `omit` parameters; nullopt when neither is given. A list with nested items
// (`rel{attr}`; any brace) also sets `linked` (linked_entities.h).
Result<std::optional<Projection>> ProjectionOf(const Request& req, const ngsild::Context& ctx,
                                               std::optional<broker::LinkedProjection>* linked) {
  const std::string* pick = req.Param("pick");
  const std::string* omit = req.Param("omit");
  if (pick && omit) return Status::BadRequestData("parameters 'pick' and 'omit' cannot be used together");
  if (!pick && !omit) return std::optional<Projection>();
  std::string_view param = pick ? "pick" : "omit";
  if ((pick ? *pick : *omit).find_first_of("{}") != std::string::npos) {
    std::vector<std::string> top;
    auto nested = ParseNestedProjection(pick ? *pick : *omit, param, pick != nullptr, ctx, &top);
    if (!nested.ok()) return nested.status();
    *linked = std::move(*nested);
    return std::optional<Projection>(Projection{std::set<std::string>(top.begin(), top.end()), pick != nullptr});
  }
  auto items = SplitList(pick ? *pick : *omit, param);
  if (!items.ok()) return Status::BadRequestData(items.status().message());
  Projection p;
  p.keep = pick != nullptr;
  for (const auto& item : *items) {
    if (item == "id" || item == "type") {
      p.names.insert(item);
    } else if (ngsild::IsValidName(item)) {
      p.names.insert(ctx.CompactIri(ctx.ExpandTerm(item)));
    } else {
      return Status::BadRequestData(fmt::format("parameter '{}': invalid name '{}'", param, item.substr(0, 64)));
    }
  }
  return std::optional<Projection>(std::move(p));
}

void Project(json::object& rendered, const std::optional<Projection>& p) {
  if (!p) return;
  for (auto it = rendered.begin(); it != rendered.end();) {
    bool listed = p->names.count(std::string(it->key())) > 0;
    it = listed == p->keep ? std::next(it) : rendered.erase(it);
  }
}

// The attribute whose value is a GeoJSON Feature's geometry: `geometryProperty`, else
// "location" (§4.5.16), as the rendered entity names it.
std::string GeometryAttribute(const Request& req, const ngsild::Context& ctx) {
  const std::string* name = req.Param("geometryProperty");
  return ctx.CompactIri(ctx.ExpandTerm(name ? *name : std::string("location")));
}

}  // namespace

// `lang` (§4.15): the language tags in order of preference; "*" or absent = every language.
Result<std::optional<std::vector<std::string>>> LangOf(const std::string* lang) {
  if (!lang || *lang == "*") return std::optional<std::vector<std::string>>();
  auto tags = SplitList(*lang, "lang");
  if (!tags.ok()) return tags.status();
  for (const auto& tag : *tags) {
    bool ok = !tag.empty() && tag.size() <= 35 &&
              tag.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
    if (!ok && tag != "*") return Status::BadRequestData(fmt::format("parameter 'lang': '{}' is not a language tag", tag.substr(0, 40)));
  }
  return std::optional<std::vector<std::string>>(std::move(*tags));
}

json::object EntityRead::Render(ngsild::Entity e, ngsild::NameCache* names) const {
  if (datasets) ngsild::KeepDatasets(e, *datasets);
  ngsild::RenderOptions opts{rep.format, rep.sys_attrs, attrs ? &*attrs : nullptr, lang ? &*lang : nullptr, names};
  json::object rendered = ngsild::RenderEntity(std::move(e), *ctx, opts);
  Project(rendered, projection);
  return rendered;
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
