// EntityMaps over HTTP (GS CIM 009 §5.14, §6.x): where a map lives and who may use it — shared
// by the /entityMaps resource (entity_maps_api.cc) and the queries that make and read maps
// (query_api.cc). A map is visible only to the principal whose query made it and to the
// tenant's admins; to anyone else it does not exist.
#pragma once

#include <string>
#include <string_view>

#include "api/api.h"
#include "broker/entity_map_store.h"
#include "util/status.h"

namespace cityhub::api {

// The canonical resource path of map `id` (the spec text's /entityMaps/{entityMapId}).
std::string EntityMapLocation(std::string_view id);

// The map named by `ref` — its id, or its location (a path or URL ending in
// /entityMaps/{id} or /entityMap/{id}) — in `tenant`, if the current caller may use it.
// NotFound otherwise (also for one that has expired).
Result<broker::EntityMap> EntityMapOfCaller(const ApiDeps& deps, std::string_view tenant, std::string_view ref);

}  // namespace cityhub::api
