// Tests that every EntityService write is one store transaction (TenantStore::Update): each
// entity is read once per write — counted through the interface (CountingStore) and in the bytes
// RocksDB itself returns (its per-thread perf context) — and the writes stay right when a
// backend runs the transaction's function more than once, as a retrying database may.
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "broker/entity_service.h"
#include "counting_store.h"
#include "temp_store.h"

namespace cityhub::broker {
namespace {

using ngsild::Entity;

Entity Spot(std::string id, int occupancy, int64_t expires_at = 0) {
  Entity e;
  e.id = std::move(id);
  e.types = {"https://example.org/ParkingSpot"};
  e.attrs["https://example.org/occupancy"] = {ngsild::Instance{{"type", "Property"}, {"value", occupancy}}};
  e.attrs["https://example.org/name"] = {ngsild::Instance{{"type", "Property"}, {"value", "spot " + e.id}}};
  e.expires_at = expires_at;
  return e;
}

ngsild::AttrMap Occupancy(int value) {
  ngsild::AttrMap m;
  m["https://example.org/occupancy"] = {ngsild::Instance{{"type", "Property"}, {"value", value}}};
  return m;
}

// The entity's occupancy; -1 if it could not be read or has none.
int OccupancyOf(const Result<Entity>& e) {
  if (!e.ok()) return -1;
  auto it = e->attrs.find("https://example.org/occupancy");
  if (it == e->attrs.end() || it->second.empty()) return -1;
  return static_cast<int>(it->second.front().at("value").as_int64());
}

// The bytes of entity values RocksDB returned to this thread's point lookups while `f` ran.
uint64_t RocksBytesRead(const std::function<void()>& f) {
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  f();
  const rocksdb::PerfContext& pc = *rocksdb::get_perf_context();
  const uint64_t bytes = pc.get_read_bytes + pc.multiget_read_bytes;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  return bytes;
}

// Records what the service hands a change observer: how often AddTo ran, and the changes of
// each write that reached Committed.
class RecordingObserver final : public ChangeObserver {
 public:
  struct Changes : PendingChanges {
    std::vector<std::string> ids;  // "+id" created, "-id" deleted, "~id" changed
  };
  bool Watching(std::string_view) const override { return true; }
  Status AddTo(std::string_view, store::TenantStore&, const std::vector<EntityChange>& changes, store::WriteSet& ws,
               std::unique_ptr<PendingChanges>* pending) override {
    ++add_to_runs;
    auto out = std::make_unique<Changes>();
    for (const auto& c : changes) {
      const char mark = !c.before ? '+' : !c.after ? '-' : '~';
      out->ids.push_back(mark + (c.after ? c.after->id : c.before->id));
    }
    ws.outbox.push_back({++sequence, "owed"});
    *pending = std::move(out);
    return Status::Ok();
  }
  void Committed(std::string_view, std::unique_ptr<PendingChanges> pending) override {
    committed.push_back(std::move(static_cast<Changes&>(*pending).ids));
  }

  int add_to_runs = 0;
  uint64_t sequence = 0;
  std::vector<std::vector<std::string>> committed;
};

class EntityUpdateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.ok());
    ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Spot("urn:spot:0", 0)).ok());
    ts_ = &counting_->Of("t");
  }

  // The bytes of the stored records of `ids`, read once.
  uint64_t RecordBytes(const std::vector<std::string_view>& ids) {
    return RocksBytesRead([&] { ts_->GetMany(ids); });
  }

  // Runs `write`, expecting it to read `reads` records through the store interface, `bytes`
  // from RocksDB, and to hand the store one write.
  void ExpectOneReadEach(const std::function<void()>& write, int reads, uint64_t bytes) {
    const int gets = ts_->gets, writes = ts_->writes;
    EXPECT_EQ(RocksBytesRead(write), bytes) << "bytes read from RocksDB";
    EXPECT_EQ(ts_->gets - gets, reads) << "records read through the store interface";
    EXPECT_EQ(ts_->writes - writes, 1);
  }

  TempStore store_{"entity-update-test"};
  std::unique_ptr<CountingStore> counting_ = std::make_unique<CountingStore>(*store_);
  std::unique_ptr<EntityService> svc_ = std::make_unique<EntityService>(*counting_);
  CountingTenantStore* ts_ = nullptr;
};

TEST_F(EntityUpdateTest, PatchCreateAndDeleteReadTheEntityOnce) {
  const uint64_t record = RecordBytes({"urn:spot:0"});
  ASSERT_GT(record, 0u);
  ExpectOneReadEach([&] { ASSERT_TRUE(svc_->Merge(AnyoneMayWrite(), "t", "urn:spot:0", Occupancy(1), {}, 1000).ok()); },
                    1, record);
  ExpectOneReadEach(
      [&] { ASSERT_TRUE(svc_->Update(AnyoneMayWrite(), "t", "urn:spot:0", Occupancy(2), 2000).ok()); }, 1,
      RecordBytes({"urn:spot:0"}));
  ExpectOneReadEach([&] { ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Spot("urn:spot:1", 0)).ok()); }, 1, 0);
  ExpectOneReadEach([&] { ASSERT_TRUE(svc_->Delete(AnyoneMayWrite(), "t", "urn:spot:1").ok()); }, 1,
                    RecordBytes({"urn:spot:1"}));
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:0")), 2);
  EXPECT_TRUE(svc_->Get("t", "urn:spot:1").status().IsNotFound());
}

TEST_F(EntityUpdateTest, ABatchUpsertOfTenReadsEachEntityOnceAndWritesOnce) {
  for (int i = 1; i < 5; ++i) {
    ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Spot(fmt::format("urn:spot:{}", i), 0)).ok());
  }
  std::vector<Entity> items;
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    items.push_back(Spot(fmt::format("urn:spot:{}", i), 7));  // five exist, five are new
    ids.push_back(items.back().id);
  }
  const uint64_t existing = RecordBytes({ids.begin(), ids.end()});
  ASSERT_GT(existing, 0u);
  BatchResult r;
  ExpectOneReadEach([&] { r = svc_->BatchUpsert(AnyoneMayWrite(), "t", items, /*replace=*/false); }, 10, existing);
  EXPECT_EQ(r.success, ids);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.created, 5u);
  for (const auto& id : ids) EXPECT_EQ(OccupancyOf(svc_->Get("t", id)), 7) << id;

  // An id named twice is read once, and the second item applies on top of the first.
  items = {Spot("urn:spot:3", 8), Spot("urn:spot:3", 9)};
  ExpectOneReadEach([&] { r = svc_->BatchUpsert(AnyoneMayWrite(), "t", items, /*replace=*/false); }, 1,
                    RecordBytes({"urn:spot:3"}));
  EXPECT_EQ(r.success, (std::vector<std::string>{"urn:spot:3", "urn:spot:3"}));
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:3")), 9);

  ExpectOneReadEach([&] { r = svc_->BatchDelete(AnyoneMayWrite(), "t", {"urn:spot:8", "urn:spot:9", "urn:spot:8"}); },
                    2, RecordBytes({"urn:spot:8", "urn:spot:9"}));
  EXPECT_EQ(r.success, (std::vector<std::string>{"urn:spot:8", "urn:spot:9"}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].status.IsNotFound());
}

TEST_F(EntityUpdateTest, PurgeReadsEachExpiredEntityOnce) {
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Spot(fmt::format("urn:spot:{}", i), 0, /*expires_at=*/1000)).ok());
  }
  const uint64_t expired = RecordBytes({"urn:spot:1", "urn:spot:2", "urn:spot:3"});
  Result<size_t> purged = size_t{0};
  ExpectOneReadEach([&] { purged = svc_->PurgeExpired(AnyoneMayWrite(), "t", 2000, 100); }, 3, expired);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 3u);
  EXPECT_TRUE(svc_->Get("t", "urn:spot:0").ok());
}

TEST_F(EntityUpdateTest, ARefusedOrEmptyChangeWritesNothingAndOwesNothing) {
  RecordingObserver observer;
  svc_->AddChangeObserver(&observer);
  int commits = 0;
  svc_->SetCommitObserver([&](double) { ++commits; });
  EXPECT_EQ(svc_->Create(AnyoneMayWrite(), "t", Spot("urn:spot:0", 3)).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(svc_->Merge(SystemWriteAccess("app", {"Other"}, {}), "t", "urn:spot:0", Occupancy(3), {}, 1000).code(),
            Status::Code::kPermissionDenied);
  // Appending what is there already (no overwrite) changes nothing: nothing is stored.
  auto appended = svc_->Append(AnyoneMayWrite(), "t", "urn:spot:0", Occupancy(3), /*no_overwrite=*/true, 1000);
  ASSERT_TRUE(appended.ok());
  EXPECT_FALSE(appended->changed());
  EXPECT_EQ(observer.add_to_runs, 0);
  EXPECT_TRUE(observer.committed.empty());
  EXPECT_EQ(commits, 0);
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:0")), 0);
  auto outbox = ts_->LastOutboxSequence();
  ASSERT_TRUE(outbox.ok());
  EXPECT_EQ(*outbox, 0u);

  ASSERT_TRUE(svc_->Merge(AnyoneMayWrite(), "t", "urn:spot:0", Occupancy(4), {}, 1000).ok());
  EXPECT_EQ(commits, 1);
  EXPECT_EQ(observer.committed, (std::vector<std::vector<std::string>>{{"~urn:spot:0"}}));
}

// A backend may run an Update's function again (a retried transaction); only the last run's
// WriteSet is written. Every write must then come out as if the function had run once.
TEST_F(EntityUpdateTest, WritesComeOutRightWhenTheStoreRunsTheFunctionTwice) {
  ts_->runs_per_update = 2;
  RecordingObserver observer;
  svc_->AddChangeObserver(&observer);

  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "t", Spot("urn:spot:1", 1)).ok());
  ASSERT_TRUE(svc_->Merge(AnyoneMayWrite(), "t", "urn:spot:0", Occupancy(5), {}, 1000).ok());
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:0")), 5);
  auto updated = svc_->Update(AnyoneMayWrite(), "t", "urn:spot:0", Occupancy(6), 2000);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->updated.size(), 1u);
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:0")), 6);
  ASSERT_TRUE(svc_->ReplaceAttribute(AnyoneMayWrite(), "t", "urn:spot:0", "https://example.org/occupancy",
                                     Occupancy(7).begin()->second, 3000)
                  .ok());
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:0")), 7);
  ASSERT_TRUE(svc_->Replace(AnyoneMayWrite(), "t", "urn:spot:1", Spot("urn:spot:1", 8)).ok());
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:1")), 8);

  BatchResult r = svc_->BatchUpsert(AnyoneMayWrite(), "t", {Spot("urn:spot:1", 9), Spot("urn:spot:2", 9)}, false);
  EXPECT_EQ(r.success, (std::vector<std::string>{"urn:spot:1", "urn:spot:2"}));
  EXPECT_EQ(r.created, 1u);
  EXPECT_EQ(r.created_ids, std::vector<std::string>{"urn:spot:2"});
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(OccupancyOf(svc_->Get("t", "urn:spot:2")), 9);
  r = svc_->BatchCreate(AnyoneMayWrite(), "t", {Spot("urn:spot:2", 1), Spot("urn:spot:3", 1)});
  EXPECT_EQ(r.success, std::vector<std::string>{"urn:spot:3"});
  EXPECT_EQ(r.errors.size(), 1u);
  r = svc_->BatchDelete(AnyoneMayWrite(), "t", {"urn:spot:3"});
  EXPECT_EQ(r.success, std::vector<std::string>{"urn:spot:3"});
  EXPECT_TRUE(r.errors.empty());
  ASSERT_TRUE(svc_->Delete(AnyoneMayWrite(), "t", "urn:spot:2").ok());

  // Each write's changes reach Committed once, from the run that was written.
  EXPECT_EQ(observer.committed,
            (std::vector<std::vector<std::string>>{{"+urn:spot:1"},
                                                   {"~urn:spot:0"},
                                                   {"~urn:spot:0"},
                                                   {"~urn:spot:0"},
                                                   {"~urn:spot:1"},
                                                   {"~urn:spot:1", "+urn:spot:2"},
                                                   {"+urn:spot:3"},
                                                   {"-urn:spot:3"},
                                                   {"-urn:spot:2"}}));
  EXPECT_EQ(observer.add_to_runs, 2 * static_cast<int>(observer.committed.size()));
}

}  // namespace
}  // namespace cityhub::broker
