#include "broker/entity_map_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/ids.h"

namespace cityhub::broker {
namespace {

constexpr size_t kOverheadPerId = 32;  // the std::string itself, roughly

Status Unknown(std::string_view id) {
  return Status::NotFound(fmt::format("EntityMap '{}' does not exist (or has expired)", id.substr(0, 200)));
}

}  // namespace

EntityMapStore::EntityMapStore(EntityMapLimits limits) : limits_(limits) {}

std::string EntityMapStore::Key(std::string_view tenant, std::string_view id) {
  std::string key(tenant);
  key.push_back('\0');
  key.append(id);
  return key;
}

void EntityMapStore::Erase(std::map<std::string, Held>::iterator it) {
  bytes_ -= it->second.bytes;
  maps_.erase(it);
}

void EntityMapStore::DropExpired(int64_t now_ms) {
  for (auto it = maps_.begin(); it != maps_.end();) {
    auto next = std::next(it);
    if (it->second.map.expires_at <= now_ms) Erase(it);
    it = next;
  }
}

Result<EntityMap> EntityMapStore::Create(std::string_view tenant, std::string_view owner, std::vector<std::string> ids,
                                         int64_t now_ms) {
  if (ids.size() > limits_.max_entities) {
    return Status::TooManyResults(fmt::format(
        "the query matches more than {} entities, the most an EntityMap holds; narrow the query", limits_.max_entities));
  }
  size_t bytes = sizeof(EntityMap);
  for (const auto& id : ids) bytes += id.size() + kOverheadPerId;
  std::lock_guard lock(mutex_);
  DropExpired(now_ms);
  // The owner's maps in this tenant: past the limit, the one expiring first makes way.
  std::vector<std::map<std::string, Held>::iterator> own;
  for (auto it = maps_.begin(); it != maps_.end(); ++it) {
    if (it->second.tenant == tenant && it->second.map.owner == owner) own.push_back(it);
  }
  std::sort(own.begin(), own.end(),
            [](const auto& a, const auto& b) { return a->second.map.expires_at < b->second.map.expires_at; });
  for (size_t i = 0; own.size() - i >= limits_.max_per_owner && i < own.size(); ++i) Erase(own[i]);
  if (bytes_ + bytes > limits_.max_bytes) {
    return Status(Status::Code::kUnavailable,
                  "too many EntityMaps are held; retry without entityMap=true, or later");
  }
  EntityMap map;
  map.id = "urn:ngsi-ld:EntityMap:" + util::RandomUuid();
  map.owner = std::string(owner);
  map.expires_at = now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(limits_.ttl).count();
  map.ids = std::make_shared<const std::vector<std::string>>(std::move(ids));
  bytes_ += bytes;
  maps_.emplace(Key(tenant, map.id), Held{std::string(tenant), map, bytes});
  return map;
}

Result<EntityMap> EntityMapStore::Get(std::string_view tenant, std::string_view id, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = maps_.find(Key(tenant, id));
  if (it == maps_.end()) return Unknown(id);
  if (it->second.map.expires_at <= now_ms) {
    Erase(it);
    return Unknown(id);
  }
  return it->second.map;
}

Status EntityMapStore::SetExpiry(std::string_view tenant, std::string_view id, int64_t expires_at, int64_t now_ms) {
  const int64_t latest = now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(limits_.max_ttl).count();
  std::lock_guard lock(mutex_);
  auto it = maps_.find(Key(tenant, id));
  if (it == maps_.end() || it->second.map.expires_at <= now_ms) return Unknown(id);
  if (expires_at <= now_ms) return Status::BadRequestData("'expiresAt' must be in the future");
  if (expires_at > latest) {
    return Status::BadRequestData(
        fmt::format("'expiresAt' may be at most {} s from now", limits_.max_ttl.count()));
  }
  it->second.map.expires_at = expires_at;
  return Status::Ok();
}

Status EntityMapStore::Delete(std::string_view tenant, std::string_view id, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = maps_.find(Key(tenant, id));
  if (it == maps_.end()) return Unknown(id);
  const bool expired = it->second.map.expires_at <= now_ms;
  Erase(it);
  return expired ? Unknown(id) : Status::Ok();
}

}  // namespace cityhub::broker
