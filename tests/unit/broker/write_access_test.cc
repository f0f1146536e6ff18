// Tests for the one write decision (broker::AuthorizeWrite) on plain entities, and for
// EntityService applying it under the entity's lock with a single read of the entity per update
// (a counting decorator around a real RocksDB store).
#include "broker/write_access.h"

#include <atomic>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "broker/entity_service.h"
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

// Counts entity reads on its way to the real tenant store.
class CountingTenantStore final : public store::TenantStore {
 public:
  explicit CountingTenantStore(store::TenantStore& inner) : inner_(inner) {}
  std::atomic<int> gets{0}, writes{0};

  Result<store::EntityRecord> Get(std::string_view id) override {
    ++gets;
    return inner_.Get(id);
  }
  std::vector<Result<store::EntityRecord>> GetMany(const std::vector<std::string_view>& ids) override {
    gets += static_cast<int>(ids.size());
    return inner_.GetMany(ids);
  }
  Status Write(const store::WriteSet& ws) override {
    ++writes;
    return inner_.Write(ws);
  }
  Status ScanIds(const store::ScanOptions& o, const store::IdVisitor& v) override { return inner_.ScanIds(o, v); }
  Status Scan(const store::ScanOptions& o, const store::EntityVisitor& v) override { return inner_.Scan(o, v); }
  Status ScanTerms(const std::vector<store::TermRange>& r, const store::TermVisitor& v) override {
    return inner_.ScanTerms(r, v);
  }
  Status CompactTerms() override { return inner_.CompactTerms(); }
  Status ScanOutbox(uint64_t from, const std::function<bool(uint64_t, std::string_view)>& v) override {
    return inner_.ScanOutbox(from, v);
  }
  Status DeleteOutbox(const std::vector<uint64_t>& s) override { return inner_.DeleteOutbox(s); }
  Result<uint64_t> LastOutboxSequence() override { return inner_.LastOutboxSequence(); }
  Status ScanHistory(std::string_view id, std::string_view attr, int64_t first, int64_t last, bool backwards,
                     const store::HistoryBlockVisitor& v) override {
    return inner_.ScanHistory(id, attr, first, last, backwards, v);
  }
  Result<std::vector<std::string>> HistoryAttributes(std::string_view id) override { return inner_.HistoryAttributes(id); }
  Status PutHistoryBlock(std::string_view id, std::string_view attr, int64_t block, std::string_view bytes) override {
    return inner_.PutHistoryBlock(id, attr, block, bytes);
  }
  Status DeleteHistory(std::string_view id, std::string_view attr, int64_t before) override {
    return inner_.DeleteHistory(id, attr, before);
  }
  Result<std::string> GetHistoryEntity(std::string_view id) override { return inner_.GetHistoryEntity(id); }
  Status ScanHistoryEntities(const std::function<bool(std::string_view, std::string_view)>& v) override {
    return inner_.ScanHistoryEntities(v);
  }
  Result<std::vector<std::string>> ListTypes() override { return inner_.ListTypes(); }
  Result<std::vector<std::string>> AttributesOfType(std::string_view t) override { return inner_.AttributesOfType(t); }
  Result<std::vector<std::string>> ListAttributes() override { return inner_.ListAttributes(); }
  Result<std::vector<std::string>> TypesWithAttribute(std::string_view a) override { return inner_.TypesWithAttribute(a); }
  Result<uint64_t> CountType(std::string_view t) override { return inner_.CountType(t); }
  Result<uint64_t> CountAttribute(std::string_view a) override { return inner_.CountAttribute(a); }
  uint64_t ApproximateEntityCount() override { return inner_.ApproximateEntityCount(); }
  Result<std::string> GetMeta(std::string_view k) override { return inner_.GetMeta(k); }
  Status PutMeta(std::string_view k, std::string_view v) override { return inner_.PutMeta(k, v); }
  Status DeleteMeta(std::string_view k) override { return inner_.DeleteMeta(k); }
  Status ScanMeta(std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& v) override {
    return inner_.ScanMeta(prefix, v);
  }

 private:
  store::TenantStore& inner_;
};

class CountingStore final : public store::Store {
 public:
  explicit CountingStore(store::Store& inner) : inner_(inner) {}
  Result<store::TenantStore*> Tenant(std::string_view name, bool create) override {
    auto ts = inner_.Tenant(name, create);
    if (!ts.ok()) return ts;
    auto& counting = tenants_[std::string(name)];
    if (!counting) counting = std::make_unique<CountingTenantStore>(**ts);
    return counting.get();
  }
  std::vector<std::string> ListTenants() override { return inner_.ListTenants(); }
  Status Backup(const std::string& dir) override { return inner_.Backup(dir); }
  void Close() override { inner_.Close(); }
  CountingTenantStore& Of(const std::string& tenant) { return *tenants_.at(tenant); }

 private:
  store::Store& inner_;
  std::map<std::string, std::unique_ptr<CountingTenantStore>> tenants_;
};

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
