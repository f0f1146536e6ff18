#include "store/rocksdb/rocksdb_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <limits>
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

// Update's contract is in store_contract_test.cc; here, what RocksDB itself reads for it.

// The bytes of entity values RocksDB returned to this thread's point lookups while `f` ran.
uint64_t BytesRead(const std::function<void()>& f) {
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  f();
  const uint64_t bytes = rocksdb::get_perf_context()->get_read_bytes + rocksdb::get_perf_context()->multiget_read_bytes;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  return bytes;
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

}  // namespace
}  // namespace cityhub::store
