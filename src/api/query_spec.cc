#include "api/query_spec.h"

#include <fmt/format.h>

#include "api/request.h"
#include "ngsild/entity.h"
#include "ngsild/geo.h"
#include "ngsild/qlang.h"

namespace cityhub::api {
namespace json = boost::json;
using http::Request;

namespace {

Status CheckIdList(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (!ngsild::IsUri(id)) return Status::BadRequestData(fmt::format("entity id '{}' is not a URI", id.substr(0, 100)));
  }
  return Status::Ok();
}

Result<std::vector<std::string>> ListParam(const Request& req, std::string_view name) {
  const std::string* v = req.Param(name);
  if (!v) return std::vector<std::string>();
  return SplitList(*v, name);
}

std::optional<std::string> OptionalParam(const Request& req, std::string_view name) {
  const std::string* v = req.Param(name);
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

}  // namespace

Result<QuerySpec> QuerySpecFromParams(const Request& req) {
  QuerySpec spec;
  auto ids = ListParam(req, "id");
  if (!ids.ok()) return ids.status();
  spec.ids = std::move(*ids);
  if (const std::string* type = req.Param("type")) spec.types.push_back(*type);
  spec.id_pattern = OptionalParam(req, "idPattern").value_or("");
  spec.q = OptionalParam(req, "q");
  spec.scope_q = OptionalParam(req, "scopeQ");
  spec.georel = OptionalParam(req, "georel");
  spec.geometry = OptionalParam(req, "geometry");
  if (const std::string* c = req.Param("coordinates")) spec.coordinates = json::value(*c);
  spec.geoproperty = OptionalParam(req, "geoproperty");
  if (req.Param("datasetId")) {
    auto datasets = ListParam(req, "datasetId");
    if (!datasets.ok()) return datasets.status();
    spec.dataset_ids = std::move(*datasets);
  }
  return spec;
}

Result<std::optional<ngsild::TypeSelection>> TypeSelectionOf(const std::vector<std::string>& expressions,
                                                             const ngsild::Context& ctx) {
  ngsild::TypeSelection selection;
  for (const auto& text : expressions) {
    if (text == "*") return std::optional<ngsild::TypeSelection>();  // every type
    auto one = ngsild::TypeSelection::Parse(text, ctx);
    if (!one.ok()) return one.status();
    selection.Add(*one);
  }
  if (selection.empty()) return std::optional<ngsild::TypeSelection>();
  return std::optional<ngsild::TypeSelection>(std::move(selection));
}

Result<broker::EntityQuery> CompileQuery(const QuerySpec& spec, const ngsild::Context& ctx,
                                         const std::optional<std::set<std::string>>& attrs, const ApiLimits& limits,
                                         bool require_selector) {
  broker::EntityQuery q;
  CITYHUB_RETURN_IF_ERROR(CheckIdList(spec.ids));
  q.ids = spec.ids;
  auto selection = TypeSelectionOf(spec.types, ctx);
  if (!selection.ok()) return selection.status();
  if (*selection) {
    q.types = (*selection)->IndexTypes();
    if (!(*selection)->IsPlainList()) q.type_selection = std::move(**selection);
  }
  q.id_pattern = spec.id_pattern;
  if (attrs) q.attrs.assign(attrs->begin(), attrs->end());
  if (spec.q) {
    auto filter = ngsild::QFilter::Parse(*spec.q, ctx, limits.query);
    if (!filter.ok()) return filter.status();
    q.q = std::move(*filter);
  }
  if (spec.scope_q) {
    auto filter = ngsild::ScopeFilter::Parse(*spec.scope_q, limits.query);
    if (!filter.ok()) return filter.status();
    q.scope = std::move(*filter);
  }
  const bool any_geo = spec.georel || spec.geometry || spec.coordinates;
  if (any_geo) {
    if (!spec.georel || !spec.geometry || !spec.coordinates) {
      return Status::BadRequestData("a geo-query needs georel, geometry and coordinates together");
    }
    std::string geoproperty = ctx.ExpandTerm(spec.geoproperty ? *spec.geoproperty : std::string("location"));
    // A string (the GET parameter, or a body giving the JSON as text) is parsed as JSON.
    auto geo = ngsild::GeoQuery::Parse(*spec.georel, *spec.geometry, *spec.coordinates, std::move(geoproperty));
    if (!geo.ok()) return geo.status();
    q.geo = std::move(*geo);
  } else if (spec.geoproperty) {
    return Status::BadRequestData("geoproperty needs a geo-query (georel, geometry, coordinates)");
  }
  if (require_selector && q.ids.empty() && spec.types.empty() && q.id_pattern.empty() && q.attrs.empty() && !q.q && !q.geo && !q.scope) {
    return Status::BadRequestData(
        "a query needs at least one of type, id, idPattern, attrs, q, a geo-query or scopeQ");
  }
  return q;
}

Result<std::optional<std::set<std::string>>> DatasetSelectionOf(const QuerySpec& spec) {
  if (!spec.dataset_ids) return std::optional<std::set<std::string>>();
  auto selection = ngsild::ParseDatasetSelection(*spec.dataset_ids, "datasetId");
  if (!selection.ok()) return selection.status();
  return std::optional<std::set<std::string>>(std::move(*selection));
}

Result<std::vector<broker::OrderKey>> OrderByOf(const Request& req, const ngsild::Context& ctx, bool has_geo) {
  using Direction = broker::OrderKey::Direction;
  std::vector<broker::OrderKey> keys;
  if (req.Param("collation")) {
    return Status::NotSupported("parameter 'collation' is not supported: strings are ordered by Unicode code point");
  }
  const std::string* param = req.Param("orderBy");
  if (!param) return keys;
  auto items = SplitList(*param, "orderBy");
  if (!items.ok()) return items.status();
  if (items->size() > kMaxOrderKeys) {
    return Status::BadRequestData(fmt::format("parameter 'orderBy': at most {} keys", kMaxOrderKeys));
  }
  for (const auto& item : *items) {
    const size_t semicolon = item.find(';');
    const std::string name = item.substr(0, semicolon);
    const std::string direction = semicolon == std::string::npos ? "asc" : item.substr(semicolon + 1);
    broker::OrderKey key;
    if (direction == "asc") {
      key.direction = Direction::kAsc;
    } else if (direction == "desc") {
      key.direction = Direction::kDesc;
    } else if (direction == "dist-asc" || direction == "dist-desc") {
      key.direction = direction == "dist-asc" ? Direction::kDistanceAsc : Direction::kDistanceDesc;
      if (!has_geo) {
        return Status::BadRequestData(fmt::format(
            "parameter 'orderBy': '{}' orders by the distance to a geo-query's geometry and needs a geo-query "
            "(georel, geometry, coordinates)", direction));
      }
    } else {
      return Status::BadRequestData(fmt::format(
          "parameter 'orderBy': '{}' is not a direction (asc, desc, dist-asc, dist-desc)", direction.substr(0, 64)));
    }
    if (name.find_first_of(".[") != std::string::npos) {
      return Status::NotSupported(fmt::format("parameter 'orderBy': '{}': ordering by a sub-attribute or a member of a "
                                              "value is not supported; name an attribute", name.substr(0, 64)));
    }
    if (!ngsild::IsValidName(name)) {
      return Status::BadRequestData(fmt::format("parameter 'orderBy': '{}' is not an attribute name", name.substr(0, 64)));
    }
    key.attr = ctx.ExpandTerm(name);
    keys.push_back(std::move(key));
  }
  return keys;
}

Result<std::set<std::string>> ExpandAttrs(const std::vector<std::string>& attrs, const ngsild::Context& ctx) {
  std::set<std::string> expanded;
  for (const auto& a : attrs) {
    if (!ngsild::IsValidName(a)) return Status::BadRequestData(fmt::format("attrs: invalid name '{}'", a.substr(0, 64)));
    expanded.insert(ctx.ExpandTerm(a));
  }
  return expanded;
}

namespace {

Result<std::string> StringMember(const json::object& o, std::string_view name, std::string_view where) {
  const json::value* v = o.if_contains(name);
  if (!v || !v->is_string()) return Status::BadRequestData(fmt::format("{}'{}' must be a string", where, name));
  return std::string(v->get_string());
}

Result<std::vector<std::string>> StringList(const json::value& v, std::string_view name) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.emplace_back(v.get_string());
    return out;
  }
  if (!v.is_array()) return Status::BadRequestData(fmt::format("'{}' must be a string or an array of strings", name));
  for (const auto& item : v.get_array()) {
    if (!item.is_string()) return Status::BadRequestData(fmt::format("'{}' must hold only strings", name));
    out.emplace_back(item.get_string());
  }
  return out;
}

// The `entities` member: EntitySelectors {id?, idPattern?, type}. Several selectors are an OR;
// this hub takes several when they differ only in `type`, or all name one `id` each.
Status ReadSelectors(const json::value& v, QuerySpec* spec) {
  if (!v.is_array() || v.get_array().empty()) return Status::BadRequestData("'entities' must be a non-empty array of EntitySelectors");
  const json::array& selectors = v.get_array();
  bool all_ids = true;
  bool only_types = true;
  for (size_t i = 0; i < selectors.size(); ++i) {
    std::string where = fmt::format("entities[{}]: ", i);
    if (!selectors[i].is_object()) return Status::BadRequestData(where + "an EntitySelector must be an object");
    const json::object& s = selectors[i].get_object();
    for (const auto& [key, member] : s) {
      if (key != "id" && key != "idPattern" && key != "type") {
        return Status::BadRequestData(fmt::format("{}unknown member '{}'", where, std::string_view(key).substr(0, 64)));
      }
    }
    if (!s.contains("type")) return Status::BadRequestData(where + "'type' is required");
    auto type = StringMember(s, "type", where);
    if (!type.ok()) return type.status();
    spec->types.push_back(std::move(*type));
    all_ids = all_ids && s.contains("id") && !s.contains("idPattern");
    only_types = only_types && s.size() == 1;
    if (s.contains("id")) {
      auto id = StringMember(s, "id", where);
      if (!id.ok()) return id.status();
      spec->ids.push_back(std::move(*id));
    }
    if (s.contains("idPattern")) {
      auto pattern = StringMember(s, "idPattern", where);
      if (!pattern.ok()) return pattern.status();
      spec->id_pattern = std::move(*pattern);
    }
  }
  if (selectors.size() > 1 && !all_ids && !only_types) {
    return Status::NotSupported(
        "several EntitySelectors are supported when they differ only in 'type', or when each names an 'id'");
  }
  return Status::Ok();
}

Status ReadGeoQ(const json::value& v, QuerySpec* spec) {
  if (!v.is_object()) return Status::BadRequestData("'geoQ' must be an object");
  const json::object& g = v.get_object();
  for (const auto& [key, member] : g) {
    std::string_view k = key;
    if (k == "coordinates") {
      spec->coordinates = member;
    } else if (k == "georel" || k == "geometry" || k == "geoproperty") {
      if (!member.is_string()) return Status::BadRequestData(fmt::format("geoQ: '{}' must be a string", k));
      std::string text(member.get_string());
      (k == "georel" ? spec->georel : k == "geometry" ? spec->geometry : spec->geoproperty) = std::move(text);
    } else {
      return Status::BadRequestData(fmt::format("geoQ: unknown member '{}'", k.substr(0, 64)));
    }
  }
  if (!spec->georel || !spec->geometry || !spec->coordinates) {
    return Status::BadRequestData("geoQ needs georel, geometry and coordinates");
  }
  return Status::Ok();
}

}  // namespace

Status ReadQueryBody(const json::object& body, QuerySpec* spec, std::optional<std::vector<std::string>>* attrs,
                     const json::object** temporal_q) {
  if (const json::value* type = body.if_contains("type"); type && !(type->is_string() && type->get_string() == "Query")) {
    return Status::BadRequestData("'type' of a Query must be \"Query\"");
  }
  for (const auto& [key, v] : body) {
    std::string_view k = key;
    if (k == "type" || k == "@context") continue;
    if (k == "entities") {
      CITYHUB_RETURN_IF_ERROR(ReadSelectors(v, spec));
    } else if (k == "attrs") {
      auto list = StringList(v, "attrs");
      if (!list.ok()) return list.status();
      *attrs = std::move(*list);
    } else if (k == "q" || k == "scopeQ") {
      if (!v.is_string()) return Status::BadRequestData(fmt::format("'{}' must be a string", k));
      (k == "q" ? spec->q : spec->scope_q) = std::string(v.get_string());
    } else if (k == "datasetId") {
      auto list = StringList(v, "datasetId");
      if (!list.ok()) return list.status();
      spec->dataset_ids = std::move(*list);
    } else if (k == "geoQ") {
      CITYHUB_RETURN_IF_ERROR(ReadGeoQ(v, spec));
    } else if (k == "temporalQ" && temporal_q) {
      if (!v.is_object()) return Status::BadRequestData("'temporalQ' must be an object");
      *temporal_q = &v.get_object();
    } else if (k == "temporalQ" || k == "csf") {
      return Status::NotSupported(fmt::format("'{}' is not supported in entity queries", k));
    } else {
      return Status::BadRequestData(fmt::format("unknown Query member '{}'", k.substr(0, 64)));
    }
  }
  return Status::Ok();
}


}  // namespace cityhub::api
