// EntityMapStore: the EntityMaps (GS CIM 009 §5.2.39, §5.14) that queries with entityMap=true
// make — the ordered ids of the entities a query matched, kept so that later pages of the
// same query are served from that list (stable paging while the data changes) — held in
// memory, per tenant, each owned by the principal whose query made it, until its expiresAt.
//
// Bounds (a map is made by any reader, so memory must not grow without limit): at most
// `max_entities` ids per map (a larger match is refused: narrow the query), at most
// `max_per_owner` maps per owner and tenant (the one expiring first makes way for a new one),
// and `max_bytes` of ids in all (past it a new map is refused until some expire). Maps are
// not persisted: a restart forgets them, as a client must expect of an expiring resource.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace cityhub::broker {

struct EntityMap {
  std::string id;      // urn:ngsi-ld:EntityMap:<uuid>
  std::string owner;   // subject of the principal whose query made it ("" = none)
  int64_t expires_at = 0;  // epoch ms
  std::shared_ptr<const std::vector<std::string>> ids;  // entity ids, in the query's order
};

struct EntityMapLimits {
  size_t max_entities = 10000;
  size_t max_per_owner = 20;
  size_t max_bytes = 64 << 20;
  std::chrono::seconds ttl{600};        // expiresAt of a new map: now + ttl
  std::chrono::seconds max_ttl{86400};  // the latest expiresAt an update may set: now + max_ttl
};

class EntityMapStore {
 public:
  explicit EntityMapStore(EntityMapLimits limits = {});

  const EntityMapLimits& limits() const { return limits_; }

  // Keeps a new map of `ids` for `owner` in `tenant`, expiring `limits().ttl` after `now_ms`.
  // TooManyResults if there are more than max_entities ids; Unavailable if the byte budget is
  // spent.
  Result<EntityMap> Create(std::string_view tenant, std::string_view owner, std::vector<std::string> ids, int64_t now_ms);
  // The map `id` of `tenant`; NotFound if there is none (or it has expired).
  Result<EntityMap> Get(std::string_view tenant, std::string_view id, int64_t now_ms);
  // Moves its expiresAt. NotFound as Get; BadRequestData if `expires_at` is not after `now_ms`
  // or later than now + max_ttl.
  Status SetExpiry(std::string_view tenant, std::string_view id, int64_t expires_at, int64_t now_ms);
  // Forgets it. NotFound as Get.
  Status Delete(std::string_view tenant, std::string_view id, int64_t now_ms);

 private:
  struct Held {
    std::string tenant;
    EntityMap map;
    size_t bytes = 0;
  };
  void DropExpired(int64_t now_ms);  // with mutex_ held
  void Erase(std::map<std::string, Held>::iterator it);  // with mutex_ held
  static std::string Key(std::string_view tenant, std::string_view id);

  const EntityMapLimits limits_;
  std::mutex mutex_;
  std::map<std::string, Held> maps_;  // by Key(tenant, id)
  size_t bytes_ = 0;
};

}  // namespace cityhub::broker
