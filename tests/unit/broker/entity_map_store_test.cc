// EntityMapStore: tenancy, expiry, the per-owner and size bounds, expiresAt updates.
#include "broker/entity_map_store.h"

#include <gtest/gtest.h>

namespace cityhub::broker {
namespace {

std::vector<std::string> Ids(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back("urn:ngsi-ld:Bus:" + std::to_string(i));
  return ids;
}

TEST(EntityMapStoreTest, KeepsTheIdsPerTenantUntilExpiry) {
  EntityMapStore store;
  auto map = store.Create("a", "kim", Ids(3), 1000);
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->owner, "kim");
  EXPECT_EQ(map->expires_at, 1000 + 600'000);
  EXPECT_EQ(map->id.rfind("urn:ngsi-ld:EntityMap:", 0), 0u);
  auto got = store.Get("a", map->id, 2000);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got->ids, Ids(3));
  EXPECT_TRUE(store.Get("b", map->id, 2000).status().IsNotFound());
  EXPECT_TRUE(store.Get("a", map->id, map->expires_at).status().IsNotFound());
}

TEST(EntityMapStoreTest, RefusesTooManyIds) {
  EntityMapLimits limits;
  limits.max_entities = 2;
  EntityMapStore store(limits);
  EXPECT_TRUE(store.Create("", "", Ids(2), 0).ok());
  EXPECT_EQ(store.Create("", "", Ids(3), 0).status().code(), Status::Code::kTooManyResults);
}

TEST(EntityMapStoreTest, AnOwnerKeepsItsNewestMaps) {
  EntityMapLimits limits;
  limits.max_per_owner = 2;
  EntityMapStore store(limits);
  auto first = store.Create("", "kim", Ids(1), 0);
  auto second = store.Create("", "kim", Ids(1), 1);
  auto other = store.Create("", "lee", Ids(1), 2);
  auto third = store.Create("", "kim", Ids(1), 3);
  ASSERT_TRUE(first.ok() && second.ok() && other.ok() && third.ok());
  EXPECT_TRUE(store.Get("", first->id, 4).status().IsNotFound());
  EXPECT_TRUE(store.Get("", second->id, 4).ok());
  EXPECT_TRUE(store.Get("", third->id, 4).ok());
  EXPECT_TRUE(store.Get("", other->id, 4).ok());
}

TEST(EntityMapStoreTest, ByteBudgetRefusesUntilMapsExpire) {
  EntityMapLimits limits;
  limits.max_bytes = 4096;
  limits.ttl = std::chrono::seconds(1);
  EntityMapStore store(limits);
  ASSERT_TRUE(store.Create("", "a", Ids(40), 0).ok());
  EXPECT_EQ(store.Create("", "b", Ids(40), 10).status().code(), Status::Code::kUnavailable);
  EXPECT_TRUE(store.Create("", "b", Ids(40), 1000).ok());  // the first expired at 1000
}

TEST(EntityMapStoreTest, SetExpiryAndDelete) {
  EntityMapStore store;
  auto map = store.Create("", "", Ids(1), 0);
  ASSERT_TRUE(map.ok());
  EXPECT_TRUE(store.SetExpiry("", map->id, 5000, 10).ok());
  EXPECT_EQ(store.Get("", map->id, 10)->expires_at, 5000);
  EXPECT_EQ(store.SetExpiry("", map->id, 10, 10).code(), Status::Code::kBadRequestData);
  EXPECT_EQ(store.SetExpiry("", map->id, 10 + 86'400'001, 10).code(), Status::Code::kBadRequestData);
  EXPECT_TRUE(store.Delete("", map->id, 20).ok());
  EXPECT_TRUE(store.Delete("", map->id, 20).IsNotFound());
  EXPECT_TRUE(store.SetExpiry("", map->id, 9000, 20).IsNotFound());
}

}  // namespace
}  // namespace cityhub::broker
