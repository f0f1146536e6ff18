// /ngsi-ld/v1/entityMaps/{entityMapId} (GS CIM 009 §5.14): retrieve (§5.14.1), update its
// expiresAt (§5.14.2) and delete (§5.14.3) the EntityMaps that queries with entityMap=true
// made (broker::EntityMapStore). The spec text names the resource /entityMaps/{id}; the v1.8.1
// OpenAPI file writes /entityMap/{id}: both paths serve the same resource, and Location-style
// references the hub gives use /entityMaps/.
#include "api/entity_maps.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/caller.h"
#include "api/request.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kMapsPath = "/ngsi-ld/v1/entityMaps/";
constexpr std::string_view kMapPathOfOpenApi = "/ngsi-ld/v1/entityMap/";

bool MayUse(const broker::EntityMap& map, std::string_view tenant) {
  const Caller& caller = CurrentCaller();
  if (!caller.principal()) return true;
  if (caller.AccessFor(tenant, security::Operation::kAdmin).all()) return true;
  return map.owner == caller.subject();
}

// §5.2.39: every entity of the map is held locally, so each maps to ["@none"]; the hub has no
// context source registrations, so linkedMaps is empty.
json::object MapJson(const broker::EntityMap& map) {
  json::object entity_map;
  for (const auto& id : *map.ids) entity_map[id] = json::array{"@none"};
  return json::object{{"id", map.id},
                      {"type", "EntityMap"},
                      {"expiresAt", util::FormatDateTime(map.expires_at)},
                      {"entityMap", std::move(entity_map)},
                      {"linkedMaps", json::object()}};
}

Result<broker::EntityMap> MapOfPath(const Request& req, const PathParams& p, const ApiDeps& deps, std::string* tenant) {
  auto t = TenantOf(req);
  if (!t.ok()) return t.status();
  *tenant = std::move(*t);
  const std::string& id = p.Get("entityMapId");
  if (!ngsild::IsUri(id)) return Status::BadRequestData(fmt::format("EntityMap id '{}' in the path is not a URI", id.substr(0, 100)));
  if (!deps.entity_maps) return Status::NotFound(fmt::format("EntityMap '{}' does not exist", id.substr(0, 200)));
  return EntityMapOfCaller(deps, *tenant, id);
}

Response RetrieveMap(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  std::string tenant;
  auto map = MapOfPath(req, p, deps, &tenant);
  if (!map.ok()) return Problem(map.status());
  return JsonResponse(200, MapJson(*map), in->media, *in->ctx);
}

// §5.14.2: the members given replace the stored ones; entityMap and linkedMaps are the hub's
// (read-only), so only expiresAt can change.
Response UpdateMap(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto in = ReadObjectRequest(req, deps, /*allow_merge_patch=*/false, "an EntityMap fragment");
  if (!in.ok()) return Problem(in.status());
  std::string tenant;
  auto map = MapOfPath(req, p, deps, &tenant);
  if (!map.ok()) return Problem(map.status());
  std::optional<int64_t> expires_at;
  for (const auto& [key, value] : in->object()) {
    if (key == "@context") continue;
    if (key == "id") {
      if (!value.is_string() || value.get_string() != map->id) {
        return Problem(Status::BadRequestData("the 'id' in the body differs from the EntityMap id in the path"));
      }
    } else if (key == "type") {
      if (!value.is_string() || value.get_string() != "EntityMap") {
        return Problem(Status::BadRequestData("'type' of an EntityMap must be \"EntityMap\""));
      }
    } else if (key == "expiresAt") {
      std::optional<int64_t> at = value.is_string() ? util::ParseDateTime(value.get_string()) : std::nullopt;
      if (!at) return Problem(Status::BadRequestData("'expiresAt' must be a DateTime such as \"2030-01-01T00:00:00Z\""));
      expires_at = *at;
    } else if (key == "entityMap" || key == "linkedMaps") {
      return Problem(Status::BadRequestData(fmt::format("'{}' of an EntityMap is read-only", std::string_view(key))));
    } else {
      return Problem(Status::BadRequestData(fmt::format("unknown EntityMap member '{}'", std::string_view(key).substr(0, 100))));
    }
  }
  if (!expires_at) return Problem(Status::BadRequestData("nothing to update: the body has no 'expiresAt'"));
  Status st = deps.entity_maps->SetExpiry(tenant, map->id, *expires_at, util::NowMillis());
  return st.ok() ? NoContent() : Problem(st);
}

Response DeleteMap(const Request& req, const PathParams& p, const ApiDeps& deps) {
  std::string tenant;
  auto map = MapOfPath(req, p, deps, &tenant);
  if (!map.ok()) return Problem(map.status());
  Status st = deps.entity_maps->Delete(tenant, map->id, util::NowMillis());
  return st.ok() ? NoContent() : Problem(st);
}

}  // namespace

std::string EntityMapLocation(std::string_view id) { return fmt::format("{}{}", kMapsPath, PathSegment(id)); }

Result<broker::EntityMap> EntityMapOfCaller(const ApiDeps& deps, std::string_view tenant, std::string_view ref) {
  std::string_view id = ref;
  for (std::string_view prefix : {kMapsPath, kMapPathOfOpenApi}) {
    if (size_t at = ref.find(prefix); at != std::string_view::npos) id = ref.substr(at + prefix.size());
  }
  auto unknown = [&] { return Status::NotFound(fmt::format("EntityMap '{}' does not exist (or has expired)", id.substr(0, 200))); };
  if (!deps.entity_maps) return unknown();
  auto map = deps.entity_maps->Get(tenant, id, util::NowMillis());
  if (!map.ok()) return map.status();
  if (!MayUse(*map, tenant)) return unknown();
  return map;
}

void RegisterEntityMapRoutes(http::Router& router, const ApiDeps& deps) {
  for (std::string_view base : {kMapsPath, kMapPathOfOpenApi}) {
    const std::string one = fmt::format("{}{{entityMapId}}", base);
    router.Add("GET", one, [&deps](const Request& r, const PathParams& p) { return RetrieveMap(r, p, deps); });
    router.Add("PATCH", one, [&deps](const Request& r, const PathParams& p) { return UpdateMap(r, p, deps); });
    router.Add("DELETE", one, [&deps](const Request& r, const PathParams& p) { return DeleteMap(r, p, deps); });
  }
}

}  // namespace cityhub::api
