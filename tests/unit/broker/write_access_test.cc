// Tests for the one write decision (broker::AuthorizeWrite) on plain entities, and for
// EntityService applying it under the entity's lock with a single read of the entity per update
// (a counting decorator around a real RocksDB store).
#include "broker/write_access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "broker/entity_service.h"
#include "counting_store.h"
#include "temp_store.h"

namespace cityhub::broker {
namespace {

using ::testing::HasSubstr;
using ngsild::Entity;

Entity Make(std::string id, std::vector<std::string> types, std::vector<std::pair<std::string, int>> attrs,
            std::string owner = "") {
  Entity e;
  e.id = std::move(id);
  e.types = std::move(types);
  e.owner = std::move(owner);
  for (auto& [name, value] : attrs) e.attrs[name] = {ngsild::Instance{{"type", "Property"}, {"value", value}}};
  return e;
}

// A flood app: FloodMonitoring entities, their `level` and `status` only.
const SystemWriteAccess kFloodApp("flood-app", {"Flood"}, {"level", "status"});

TEST(AuthorizeWrite, NewEntitiesAreJudgedOnTheRequestedTypes) {
  const Entity flood = Make("urn:x:1", {"Flood"}, {{"level", 1}});
  EXPECT_TRUE(AuthorizeWrite(kFloodApp, "t", nullptr, &flood, {}).ok());
  const Entity person = Make("urn:x:2", {"Person"}, {{"level", 1}});
  Status st = AuthorizeWrite(kFloodApp, "t", nullptr, &person, {});
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_THAT(st.message(), HasSubstr("'flood-app' may not create entity 'urn:x:2' in tenant 't'"));
  const Entity extra = Make("urn:x:3", {"Flood"}, {{"level", 1}, {"name", 2}});
  EXPECT_THAT(AuthorizeWrite(kFloodApp, "", nullptr, &extra, {}).message(), HasSubstr("attribute 'name'"));
}

TEST(AuthorizeWrite, ExistingEntitiesAreJudgedOnTheStoredTypesNotTheRequestedOnes) {
  // The type injection: a Person stays a Person, whatever the body claims.
  const Entity before = Make("urn:p:1", {"Person"}, {{"level", 1}});
  Entity after = before;
  after.types.push_back("Flood");
  after.attrs["level"][0]["value"] = 9;
  EXPECT_EQ(AuthorizeWrite(kFloodApp, "t", &before, &after, {"level"}).code(), Status::Code::kPermissionDenied);
  // The same change without the type: still the stored Person.
  Entity same_type = before;
  same_type.attrs["level"][0]["value"] = 9;
  EXPECT_EQ(AuthorizeWrite(kFloodApp, "t", &before, &same_type, {"level"}).code(), Status::Code::kPermissionDenied);
}

TEST(AuthorizeWrite, AddingOrRemovingATypeIsAWriteOfThatType) {
  const Entity flood = Make("urn:f:1", {"Flood"}, {{"level", 1}});
  Entity added = flood;
  added.types.push_back("Person");
  EXPECT_THAT(AuthorizeWrite(kFloodApp, "t", &flood, &added, {}).message(), HasSubstr("add or remove type 'Person'"));
  const Entity both = Make("urn:f:2", {"Flood", "Person"}, {{"level", 1}});
  Entity removed = both;
  removed.types = {"Flood"};
  EXPECT_EQ(AuthorizeWrite(kFloodApp, "t", &both, &removed, {}).code(), Status::Code::kPermissionDenied);
  const SystemWriteAccess both_types("ops", {"Flood", "Person"}, {});
  EXPECT_TRUE(AuthorizeWrite(both_types, "t", &flood, &added, {}).ok());
}

TEST(AuthorizeWrite, EveryAttributeNamedOrChangedMustBeWritable) {
  const Entity before = Make("urn:f:1", {"Flood"}, {{"level", 1}, {"note", 1}});
  Entity level = before;
  level.attrs["level"][0]["value"] = 2;
  EXPECT_TRUE(AuthorizeWrite(kFloodApp, "t", &before, &level, {"level"}).ok());
  // Named by the request but left as it was (e.g. noOverwrite): still judged.
  EXPECT_THAT(AuthorizeWrite(kFloodApp, "t", &before, &before, {"note"}).message(), HasSubstr("attribute 'note'"));
  // Changed although the request did not name it (a replace drops it): judged.
  Entity dropped = before;
  dropped.attrs.erase("note");
  EXPECT_THAT(AuthorizeWrite(kFloodApp, "t", &before, &dropped, {}).message(), HasSubstr("attribute 'note'"));
  Entity added = before;
  added.attrs["owner"] = {ngsild::Instance{{"type", "Property"}, {"value", 1}}};
  EXPECT_EQ(AuthorizeWrite(kFloodApp, "t", &before, &added, {}).code(), Status::Code::kPermissionDenied);
}

TEST(AuthorizeWrite, DeletionNeedsTheRightToDeleteAndUnrestrictedSkipsEverything) {
  const Entity flood = Make("urn:f:1", {"Flood"}, {{"level", 1}});
  EXPECT_THAT(AuthorizeWrite(kFloodApp, "t", &flood, nullptr, {}).message(), HasSubstr("may not delete"));
  const Entity person = Make("urn:p:1", {"Person"}, {{"name", 1}});
  EXPECT_TRUE(AuthorizeWrite(AnyoneMayWrite(), "t", &person, nullptr, {}).ok());
  EXPECT_TRUE(AuthorizeWrite(AnyoneMayWrite(), "t", nullptr, &person, {}).ok());
  EXPECT_TRUE(AuthorizeWrite(kFloodApp, "t", nullptr, nullptr, {}).ok());
}

// --- EntityService: the decision under the lock, one read per update ----------------------

class GuardedServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.ok()); }
  ngsild::AttrMap Level(int value) {
    ngsild::AttrMap m;
    m["level"] = {ngsild::Instance{{"type", "Property"}, {"value", value}}};
    return m;
  }

  TempStore store_{"write-access-test"};
  std::unique_ptr<CountingStore> counting_ = std::make_unique<CountingStore>(*store_);
  std::unique_ptr<EntityService> svc_ = std::make_unique<EntityService>(*counting_);
};

TEST_F(GuardedServiceTest, ARestrictedUpdateReadsTheEntityOnceAndARefusedOneWritesNothing) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Make("urn:f:1", {"Flood"}, {{"level", 1}})).ok());
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Make("urn:p:1", {"Person"}, {{"level", 1}})).ok());
  CountingTenantStore& ts = counting_->Of("t");
  for (int i = 0; i < 10; ++i) {
    const int gets = ts.gets, writes = ts.writes;
    ASSERT_TRUE(svc_->Merge(kFloodApp, "t", "urn:f:1", Level(i + 2), {}, 1000 + i).ok());
    EXPECT_EQ(ts.gets - gets, 1) << "one read per update";
    EXPECT_EQ(ts.writes - writes, 1);
  }
  const int gets = ts.gets, writes = ts.writes;
  Status st = svc_->Merge(kFloodApp, "t", "urn:p:1", Level(7), {"Flood"}, 2000);
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(ts.gets - gets, 1);
  EXPECT_EQ(ts.writes - writes, 0);
  auto person = svc_->Get("t", "urn:p:1");
  ASSERT_TRUE(person.ok());
  EXPECT_EQ(person->types, std::vector<std::string>{"Person"});
  EXPECT_EQ(person->attrs["level"][0]["value"], 1);
}

TEST_F(GuardedServiceTest, ARefusedWriterLearnsNothingFromTheChangesErrors) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Make("urn:p:1", {"Person"}, {{"name", 1}})).ok());
  // The attribute does not exist: a writer allowed the entity hears NotFound; one that is not,
  // only that it may not write.
  EXPECT_EQ(svc_->DeleteAttribute(kFloodApp, "t", "urn:p:1", "level", std::nullopt, false).code(),
            Status::Code::kPermissionDenied);
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Make("urn:f:1", {"Flood"}, {{"level", 1}})).ok());
  EXPECT_EQ(svc_->DeleteAttribute(kFloodApp, "t", "urn:f:1", "status", std::nullopt, false).code(),
            Status::Code::kNotFound);
}

TEST_F(GuardedServiceTest, CreatedEntitiesRecordTheirWriterAndBatchesJudgeEachItem) {
  ASSERT_TRUE(svc_->Create(kFloodApp, "t", Make("urn:f:1", {"Flood"}, {{"level", 1}})).ok());
  EXPECT_EQ(svc_->Get("t", "urn:f:1")->owner, "flood-app");
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Make("urn:p:1", {"Person"}, {{"level", 1}})).ok());
  std::vector<Entity> items{Make("urn:f:1", {"Flood"}, {{"level", 5}}), Make("urn:p:1", {"Flood"}, {{"level", 5}}),
                            Make("urn:f:2", {"Flood"}, {{"level", 5}})};
  BatchResult r = svc_->BatchUpsert(kFloodApp, "t", std::move(items), /*replace=*/false);
  EXPECT_EQ(r.success, (std::vector<std::string>{"urn:f:1", "urn:f:2"}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].entity_id, "urn:p:1");
  EXPECT_EQ(r.errors[0].status.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(svc_->Get("t", "urn:p:1")->types, std::vector<std::string>{"Person"});
  BatchResult d = svc_->BatchDelete(kFloodApp, "t", {"urn:f:1"});
  EXPECT_EQ(d.errors.size(), 1u);  // system principals never delete
  EXPECT_TRUE(svc_->Get("t", "urn:f:1").ok());
}

}  // namespace
}  // namespace cityhub::broker
