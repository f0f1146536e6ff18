#include "store/rocksdb_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <thread>

#include "store_test_util.h"

namespace cityhub::store {
namespace {

using namespace cityhub::store::testing;  // Record, Put, Count, …

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class RocksDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "cityhub-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    options_.data_dir = (root_ / "data").string();
    options_.block_cache_bytes = 8 << 20;
    options_.write_buffer_bytes = 4 << 20;
    Reopen();
  }

  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  void Reopen() {
    store_.reset();
    auto opened = OpenRocksDbStore(options_);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    auto tenant = store_->Tenant("", false);
    ASSERT_TRUE(tenant.ok()) << tenant.status().message();
    db_ = *tenant;
  }

  // Closes the store and runs `edit` on the default tenant's database opened with plain
  // RocksDB (handles: default, entities, index, meta), to plant what an older or newer
  // cityhub would have written.
  void WithRawDefaultDb(const std::function<void(rocksdb::DB*, const std::vector<rocksdb::ColumnFamilyHandle*>&)>& edit) {
    store_.reset();
    const std::string path = (root_ / "data" / "default").string();
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"entities", {}}, {"index", {}}, {"meta", {}}, {"outbox", {}}, {"history", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path, families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    edit(db.get(), handles);
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  }

  fs::path root_;
  RocksDbOptions options_;
  std::unique_ptr<Store> store_;
  TenantStore* db_ = nullptr;
};












TEST_F(RocksDbStoreTest, NamedTenantsAreCappedButExistingOnesStayUsable) {
  options_.max_tenants = 2;
  Reopen();
  ASSERT_TRUE(store_->Tenant("a", true).ok());
  ASSERT_TRUE(store_->Tenant("b", true).ok());
  auto third = store_->Tenant("c", true);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), Status::Code::kBadRequestData);
  EXPECT_NE(third.status().message().find("maximum of 2"), std::string::npos);
  EXPECT_TRUE(store_->Tenant("a", true).ok());  // existing tenants are still served
  EXPECT_TRUE(store_->Tenant("", true).ok());   // the default tenant never counts
}


TEST_F(RocksDbStoreTest, WritesSchemaVersionAndRefusesNewer) {
  WithRawDefaultDb([](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
    std::string version;
    ASSERT_TRUE(db->Get({}, handles[3], "schema_version", &version).ok());
    EXPECT_EQ(version, "4");
    ASSERT_TRUE(db->Put({}, handles[3], "schema_version", "5").ok());
  });
  auto opened = OpenRocksDbStore(options_);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kOperationNotSupported);
  EXPECT_THAT(opened.status().message(), HasSubstr("schema version 5"));
}

TEST_F(RocksDbStoreTest, MigratesVersionOneRecordsWhichKeepNoTerms) {
  WithRawDefaultDb([](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
    // A version 1 record: format 1, types ["A"], attributes ["x"], then the document.
    const std::string v1_record = std::string("\x01\x01\x01" "A" "\x01\x01" "x", 7) + "doc";
    ASSERT_TRUE(db->Put({}, handles[1], "e1", v1_record).ok());
    ASSERT_TRUE(db->Put({}, handles[3], "schema_version", "1").ok());
  });
  Reopen();
  auto record = db_->Get("e1");
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->document, "doc");
  EXPECT_THAT(record->types, ElementsAre("A"));
  EXPECT_THAT(record->attributes, ElementsAre("x"));
  EXPECT_THAT(record->terms, IsEmpty());
  // The record can be rewritten with terms (the database is now at the current version).
  auto upgraded = Record("e1", {"A"}, {"x"}, "doc2");
  upgraded.terms = {{"k1", "p"}};
  Put(db_, upgraded);
  EXPECT_EQ(db_->Get("e1")->terms, upgraded.terms);
}





TEST_F(RocksDbStoreTest, BackupOpensAsAStoreWithTheData) {
  auto city = store_->Tenant("city1", true);
  ASSERT_TRUE(city.ok());
  Put(db_, Record("e1", {"A"}, {"x"}, "one"));
  Put(*city, Record("e2", {"B"}, {"y"}, "two"));
  const std::string backup = (root_ / "backup").string();
  auto st = store_->Backup(backup);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(store_->Backup(backup).code(), Status::Code::kAlreadyExists);
  Put(db_, Record("e3", {"A"}, {"x"}, "after backup"));

  RocksDbOptions copy_options = options_;
  copy_options.data_dir = backup;
  auto copy = OpenRocksDbStore(copy_options);
  ASSERT_TRUE(copy.ok()) << copy.status().message();
  EXPECT_THAT((*copy)->ListTenants(), ElementsAre("", "city1"));
  auto copy_default = (*copy)->Tenant("", false);
  ASSERT_TRUE(copy_default.ok());
  EXPECT_EQ((*copy_default)->Get("e1")->document, "one");
  EXPECT_EQ((*copy_default)->Get("e3").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(Count((*copy_default)->CountType("A")), 1u);
  auto copy_city = (*copy)->Tenant("city1", false);
  ASSERT_TRUE(copy_city.ok());
  EXPECT_EQ((*copy_city)->Get("e2")->document, "two");
}










TEST_F(RocksDbStoreTest, ATenantIsADatabaseDirectoryInsideTheDataDir) {
  ASSERT_TRUE(store_->Tenant("city1", true).ok());
  EXPECT_TRUE(fs::exists(root_ / "data" / "tenants" / "city1" / "CURRENT"));
  EXPECT_TRUE(fs::exists(root_ / "data" / "default" / "CURRENT"));
  EXPECT_FALSE(store_->Tenant("../escape", true).ok());
  EXPECT_FALSE(fs::exists(root_ / "data" / "escape"));
}

TEST_F(RocksDbStoreTest, BackupAfterCloseIsUnavailable) {
  store_->Close();
  EXPECT_EQ(store_->Backup((root_ / "b").string()).code(), Status::Code::kUnavailable);
}

TEST(ValidTenantNameTest, AcceptsOnlySafeNames) {
  EXPECT_TRUE(ValidTenantName("a"));
  EXPECT_TRUE(ValidTenantName("city_1"));
  EXPECT_TRUE(ValidTenantName("Seoul-Gangnam"));
  EXPECT_TRUE(ValidTenantName(std::string(64, 'x')));

  EXPECT_FALSE(ValidTenantName(""));
  EXPECT_FALSE(ValidTenantName("."));
  EXPECT_FALSE(ValidTenantName(".."));
  EXPECT_FALSE(ValidTenantName("a/b"));
  EXPECT_FALSE(ValidTenantName("a\\b"));
  EXPECT_FALSE(ValidTenantName("a.b"));
  EXPECT_FALSE(ValidTenantName("a b"));
  EXPECT_FALSE(ValidTenantName("-x"));
  EXPECT_FALSE(ValidTenantName(std::string(65, 'x')));
  EXPECT_FALSE(ValidTenantName("s\xc3\xa9oul"));
  EXPECT_FALSE(ValidTenantName(std::string("a\0b", 3)));
}

// --- Update: the read-modify-write transaction ---------------------------------------------

// The bytes of entity values RocksDB returned to this thread's point lookups while `f` ran.
uint64_t BytesRead(const std::function<void()>& f) {
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  f();
  const uint64_t bytes = rocksdb::get_perf_context()->get_read_bytes + rocksdb::get_perf_context()->multiget_read_bytes;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  return bytes;
}

TEST_F(RocksDbStoreTest, UpdateHandsItsFunctionTheCurrentRecordsAndWritesWhatItReturns) {
  Put(db_, Record("e1", {"A"}, {"x"}, "one"));
  Put(db_, Record("e2", {"A"}, {"y"}, "two"));
  int runs = 0;
  Status st = db_->Update({"e2", "absent", "e1", "e2"}, [&](const CurrentRecords& current) -> Result<WriteSet> {
    ++runs;
    EXPECT_EQ(current.size(), 4u);
    EXPECT_EQ(current[0]->document, "two");
    EXPECT_EQ(current[0]->attributes, Strings{"y"});
    EXPECT_TRUE(current[1].status().IsNotFound());
    EXPECT_EQ(current[2]->document, "one");
    EXPECT_EQ(current[3]->id, "e2");
    WriteSet ws;
    ws.puts.push_back(Record("e1", {"B"}, {"x"}, current[2]->document + "+"));
    ws.puts.push_back(Record("absent", {"A"}, {"z"}, "new"));
    ws.deletes.push_back("e2");
    ws.outbox.push_back({1, "owed"});
    return ws;
  });
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(runs, 1) << "RocksDB runs the function exactly once";
  EXPECT_EQ(db_->Get("e1")->document, "one+");
  EXPECT_EQ(db_->Get("absent")->document, "new");
  EXPECT_TRUE(db_->Get("e2").status().IsNotFound());
  EXPECT_EQ(Count(db_->CountType("A")), 1u);
  EXPECT_EQ(Count(db_->CountType("B")), 1u);
  EXPECT_EQ(Count(db_->CountAttribute("y")), 0u);
  EXPECT_EQ(db_->LastOutboxSequence().value(), 1u);
  // An empty WriteSet writes nothing; an Update of no ids still writes what is not an entity.
  EXPECT_TRUE(db_->Update({"e1"}, [](const CurrentRecords&) -> Result<WriteSet> { return WriteSet{}; }).ok());
  EXPECT_TRUE(db_->Update({}, [](const CurrentRecords& current) -> Result<WriteSet> {
                   EXPECT_TRUE(current.empty());
                   WriteSet ws;
                   ws.meta_puts.emplace_back("k", "v");
                   return ws;
                 }).ok());
  EXPECT_EQ(db_->GetMeta("k").value(), "v");
}

TEST_F(RocksDbStoreTest, UpdateKeepsIndexesAndTermsRightAcrossPutPutDelete) {
  auto update = [&](std::string id, std::optional<EntityRecord> next) {
    Status st = db_->Update({id}, [&](const CurrentRecords&) -> Result<WriteSet> {
      WriteSet ws;
      if (next) {
        ws.puts.push_back(*next);
      } else {
        ws.deletes.push_back(id);
      }
      return ws;
    });
    ASSERT_TRUE(st.ok()) << st.message();
  };
  Put(db_, Record("other", {"A"}, {"y"}));
  EntityRecord first = WithTerms("e1", {{"a", "1"}, {"b", "1"}});
  first.types = {"A"};
  first.attributes = {"x", "y"};
  update("e1", first);
  EXPECT_EQ(Count(db_->CountType("A")), 2u);
  EXPECT_EQ(Count(db_->CountAttribute("x")), 1u);
  EXPECT_EQ(Count(db_->CountAttribute("y")), 2u);
  EXPECT_THAT(Terms(db_, {"", ""}), ElementsAre("a|e1|1", "b|e1|1"));

  EntityRecord second = WithTerms("e1", {{"b", "2"}, {"c", ""}});  // a removed, b changed, c added
  second.types = {"C"};
  second.attributes = {"z"};
  update("e1", second);
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("A", "C"));
  EXPECT_THAT(Value(db_->ListAttributes()), ElementsAre("y", "z"));
  EXPECT_THAT(Value(db_->AttributesOfType("A")), ElementsAre("y"));
  EXPECT_EQ(Count(db_->CountType("A")), 1u);
  EXPECT_EQ(Count(db_->CountAttribute("x")), 0u);
  EXPECT_THAT(Terms(db_, {"", ""}), ElementsAre("b|e1|2", "c|e1|"));

  update("e1", std::nullopt);
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("A"));
  EXPECT_THAT(Value(db_->ListAttributes()), ElementsAre("y"));
  EXPECT_EQ(Count(db_->CountType("C")), 0u);
  EXPECT_THAT(Terms(db_, {"", ""}), IsEmpty());
  Reopen();
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("A"));
  EXPECT_TRUE(db_->Get("e1").status().IsNotFound());
}

TEST_F(RocksDbStoreTest, AnUpdateThatFailsWritesNothing) {
  Put(db_, Record("e1", {"A"}, {"x"}, "kept"));
  auto everything = [](std::string doc) {
    WriteSet ws;
    ws.puts.push_back(Record("e1", {"B"}, {"y"}, std::move(doc)));
    ws.outbox.push_back({7, "owed"});
    ws.meta_puts.emplace_back("k", "v");
    ws.history.push_back({"e1", "y", 0, "h"});
    return ws;
  };
  auto nothing_written = [&] {
    EXPECT_EQ(db_->Get("e1")->document, "kept");
    EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("A"));
    EXPECT_EQ(db_->LastOutboxSequence().value(), 0u);
    EXPECT_TRUE(db_->GetMeta("k").status().IsNotFound());
    EXPECT_THAT(Value(db_->HistoryAttributes("e1")), IsEmpty());
  };
  // The function's own error comes back.
  Status st = db_->Update({"e1"}, [](const CurrentRecords&) -> Result<WriteSet> {
    return Status::PermissionDenied("may not");
  });
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(st.message(), "may not");
  nothing_written();
  // A put of an id the Update did not read is a bug in the caller.
  st = db_->Update({"e2"}, [&](const CurrentRecords&) -> Result<WriteSet> { return everything("changed"); });
  EXPECT_EQ(st.code(), Status::Code::kInternal);
  EXPECT_THAT(st.message(), HasSubstr("'e1'"));
  nothing_written();
  WriteSet deletes_unread;
  deletes_unread.deletes.push_back("e1");
  st = db_->Update({}, [&](const CurrentRecords&) -> Result<WriteSet> { return deletes_unread; });
  EXPECT_EQ(st.code(), Status::Code::kInternal);
  nothing_written();
  // An invalid WriteSet is refused as Write refuses it.
  st = db_->Update({"e1"}, [&](const CurrentRecords&) -> Result<WriteSet> {
    WriteSet ws = everything("changed");
    ws.puts.back().types = {""};
    return ws;
  });
  EXPECT_EQ(st.code(), Status::Code::kBadRequestData);
  nothing_written();
}

TEST_F(RocksDbStoreTest, UpdateReadsEachRecordOnce) {
  Put(db_, Record("e1", {"A"}, {"x"}, std::string(300, 'd')));
  Put(db_, Record("e2", {"A"}, {"x"}, std::string(500, 'd')));
  const uint64_t once = BytesRead([&] { db_->GetMany({"e1", "e2", "absent"}); });
  ASSERT_GT(once, 800u);
  const uint64_t by_update = BytesRead([&] {
    Status st = db_->Update({"e1", "e2", "absent"}, [](const CurrentRecords& current) -> Result<WriteSet> {
      WriteSet ws;
      ws.puts.push_back(current[0].value());
      ws.puts.push_back(Record("absent", {"A"}, {"x"}));
      ws.deletes.push_back("e2");
      return ws;
    });
    EXPECT_TRUE(st.ok()) << st.message();
  });
  EXPECT_EQ(by_update, once) << "the index changes come from the records already read";
  EXPECT_EQ(Count(db_->CountType("A")), 2u);
}

TEST_F(RocksDbStoreTest, UpdateAfterCloseIsUnavailableAndRunsNothing) {
  store_->Close();
  bool ran = false;
  Status st = db_->Update({"e1"}, [&](const CurrentRecords&) -> Result<WriteSet> {
    ran = true;
    return WriteSet{};
  });
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace cityhub::store
