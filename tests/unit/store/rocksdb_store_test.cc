#include "store/rocksdb_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

namespace cityhub::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Strings = std::vector<std::string>;

EntityRecord Record(std::string id, Strings types, Strings attrs, std::string doc = "{}") {
  EntityRecord r;
  r.id = std::move(id);
  r.types = std::move(types);
  r.attributes = std::move(attrs);
  r.document = std::move(doc);
  return r;
}

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

  static void Put(TenantStore* t, EntityRecord record) {
    WriteSet ws;
    ws.puts.push_back(std::move(record));
    auto st = t->Write(ws);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  static void Delete(TenantStore* t, std::string id) {
    WriteSet ws;
    ws.deletes.push_back(std::move(id));
    auto st = t->Write(ws);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  static Strings ScanIds(TenantStore* t, const ScanOptions& opts) {
    Strings ids;
    auto st = t->ScanIds(opts, [&](std::string_view id) {
      ids.emplace_back(id);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return ids;
  }

  static Strings ScanRecords(TenantStore* t, const ScanOptions& opts) {
    Strings ids;
    auto st = t->Scan(opts, [&](const EntityRecord& r) {
      EXPECT_EQ(r.document, "doc of " + r.id);
      ids.push_back(r.id);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return ids;
  }

  static Strings Value(Result<Strings> r) {
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r.value() : Strings{"<error>"};
  }

  static uint64_t Count(Result<uint64_t> r) {
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r.value() : ~uint64_t{0};
  }

  fs::path root_;
  RocksDbOptions options_;
  std::unique_ptr<Store> store_;
  TenantStore* db_ = nullptr;
};

TEST_F(RocksDbStoreTest, PutGetDelete) {
  const std::string doc("{\"a\":1}\0\xff binary", 17);
  Put(db_, Record("urn:e:1", {"T1", "T2"}, {"speed", "location"}, doc));

  auto got = db_->Get("urn:e:1");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->id, "urn:e:1");
  EXPECT_THAT(got->types, ElementsAre("T1", "T2"));
  EXPECT_THAT(got->attributes, ElementsAre("speed", "location"));
  EXPECT_EQ(got->document, doc);

  EXPECT_EQ(db_->Get("urn:e:2").status().code(), Status::Code::kNotFound);
  Delete(db_, "urn:e:1");
  EXPECT_EQ(db_->Get("urn:e:1").status().code(), Status::Code::kNotFound);
  Delete(db_, "urn:e:absent");
  EXPECT_EQ(Count(db_->CountType("T1")), 0u);
}

TEST_F(RocksDbStoreTest, GetManyReadsEachIdInTheOrderGiven) {
  Put(db_, Record("urn:e:1", {"T"}, {"a"}, R"({"n":1})"));
  Put(db_, Record("urn:e:2", {"T"}, {"b"}, R"({"n":2})"));
  auto got = db_->GetMany({"urn:e:2", "urn:e:missing", "urn:e:1", "urn:e:2"});
  ASSERT_EQ(got.size(), 4u);
  ASSERT_TRUE(got[0].ok());
  EXPECT_EQ(got[0]->id, "urn:e:2");
  EXPECT_EQ(got[0]->document, R"({"n":2})");
  EXPECT_EQ(got[0]->attributes, Strings{"b"});
  EXPECT_TRUE(got[1].status().IsNotFound());
  ASSERT_TRUE(got[2].ok());
  EXPECT_EQ(got[2]->document, R"({"n":1})");
  ASSERT_TRUE(got[3].ok());
  EXPECT_EQ(got[3]->id, "urn:e:2");
  EXPECT_TRUE(db_->GetMany({}).empty());
}

TEST_F(RocksDbStoreTest, RejectsNamesThatWouldBreakIndexKeys) {
  WriteSet ws;
  ws.puts.push_back(Record("urn:e:1", {std::string("T\0x", 3)}, {}));
  EXPECT_EQ(db_->Write(ws).code(), Status::Code::kBadRequestData);
  ws.puts = {Record("urn:e:1", {"T"}, {""})};
  EXPECT_EQ(db_->Write(ws).code(), Status::Code::kBadRequestData);
  ws.puts = {Record("", {"T"}, {})};
  EXPECT_EQ(db_->Write(ws).code(), Status::Code::kBadRequestData);
  EXPECT_EQ(db_->Get("urn:e:1").status().code(), Status::Code::kNotFound);
}

TEST_F(RocksDbStoreTest, IndexesFollowUpdatesAndDeletes) {
  Put(db_, Record("e1", {"A"}, {"x", "y"}));
  Put(db_, Record("e2", {"A", "AB"}, {"y"}));
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("A", "AB"));
  EXPECT_THAT(Value(db_->ListAttributes()), ElementsAre("x", "y"));
  EXPECT_THAT(Value(db_->AttributesOfType("A")), ElementsAre("x", "y"));
  EXPECT_THAT(Value(db_->AttributesOfType("AB")), ElementsAre("y"));
  EXPECT_THAT(Value(db_->TypesWithAttribute("x")), ElementsAre("A"));
  EXPECT_THAT(Value(db_->TypesWithAttribute("y")), ElementsAre("A", "AB"));
  EXPECT_EQ(Count(db_->CountType("A")), 2u);
  EXPECT_EQ(Count(db_->CountType("AB")), 1u);
  EXPECT_EQ(Count(db_->CountAttribute("y")), 2u);

  Put(db_, Record("e1", {"C"}, {"z"}));
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("A", "AB", "C"));
  EXPECT_THAT(Value(db_->ListAttributes()), ElementsAre("y", "z"));
  EXPECT_THAT(Value(db_->AttributesOfType("A")), ElementsAre("y"));
  EXPECT_THAT(Value(db_->AttributesOfType("C")), ElementsAre("z"));
  EXPECT_THAT(Value(db_->TypesWithAttribute("x")), IsEmpty());
  EXPECT_EQ(Count(db_->CountType("A")), 1u);
  EXPECT_EQ(Count(db_->CountAttribute("x")), 0u);

  Delete(db_, "e2");
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("C"));
  EXPECT_THAT(Value(db_->ListAttributes()), ElementsAre("z"));
  EXPECT_THAT(Value(db_->AttributesOfType("A")), IsEmpty());
  EXPECT_EQ(Count(db_->CountType("A")), 0u);
  EXPECT_EQ(Count(db_->CountAttribute("y")), 0u);
}

TEST_F(RocksDbStoreTest, ListingsSkipManyEntitiesOfOneValue) {
  WriteSet ws;
  for (int i = 0; i < 500; ++i) {
    ws.puts.push_back(Record("e" + std::to_string(i), {i % 2 ? "Odd" : "Even"}, {"v"}));
  }
  ws.puts.push_back(Record("last", {"Z"}, {"w"}));
  ASSERT_TRUE(db_->Write(ws).ok());
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("Even", "Odd", "Z"));
  EXPECT_THAT(Value(db_->TypesWithAttribute("v")), ElementsAre("Even", "Odd"));
  EXPECT_EQ(Count(db_->CountType("Odd")), 250u);
  EXPECT_EQ(Count(db_->CountAttribute("v")), 500u);
}

TEST_F(RocksDbStoreTest, SameIdTwiceInOneWriteSetLastWins) {
  WriteSet ws;
  ws.puts.push_back(Record("e1", {"A"}, {"x"}, "first"));
  ws.puts.push_back(Record("e1", {"B"}, {"y"}, "second"));
  ASSERT_TRUE(db_->Write(ws).ok());
  auto got = db_->Get("e1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->document, "second");
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("B"));
  EXPECT_THAT(Value(db_->ListAttributes()), ElementsAre("y"));

  WriteSet put_then_delete;
  put_then_delete.puts.push_back(Record("e1", {"C"}, {"z"}));
  put_then_delete.deletes.push_back("e1");
  ASSERT_TRUE(db_->Write(put_then_delete).ok());
  EXPECT_EQ(db_->Get("e1").status().code(), Status::Code::kNotFound);
  EXPECT_THAT(Value(db_->ListTypes()), IsEmpty());
  EXPECT_THAT(Value(db_->ListAttributes()), IsEmpty());
}

TEST_F(RocksDbStoreTest, MultiTypeScanIsAscendingUnionWithoutDuplicates) {
  for (auto [id, types] : std::vector<std::pair<std::string, Strings>>{
           {"a5", {"T2"}}, {"a1", {"T1"}}, {"a3", {"T1", "T2"}}, {"a4", {"T3"}}, {"a2", {"T2"}}}) {
    Put(db_, Record(id, types, {}, "doc of " + id));
  }
  ScanOptions opts;
  opts.types = {"T2", "T1", "T2"};
  EXPECT_THAT(ScanIds(db_, opts), ElementsAre("a1", "a2", "a3", "a5"));
  EXPECT_THAT(ScanRecords(db_, opts), ElementsAre("a1", "a2", "a3", "a5"));
  opts.types = {"T3", "Unknown"};
  EXPECT_THAT(ScanRecords(db_, opts), ElementsAre("a4"));
  EXPECT_THAT(ScanRecords(db_, ScanOptions{}), ElementsAre("a1", "a2", "a3", "a4", "a5"));

  int visited = 0;
  opts.types = {"T1", "T2"};
  ASSERT_TRUE(db_->ScanIds(opts, [&](std::string_view) { return ++visited < 2; }).ok());
  EXPECT_EQ(visited, 2);
}

TEST_F(RocksDbStoreTest, ScanRespectsAfterIdAndIdPrefix) {
  const Strings ids = {"urn:x:1", "urn:x:2", "urn:x:3", "urn:x:10",
                       "urn:y:1", "urn:a:1", std::string("\xff\xff", 2)};
  for (const auto& id : ids) {
    Put(db_, Record(id, {id == "urn:x:2" ? "Other" : "T"}, {}, "doc of " + id));
  }
  ScanOptions opts;
  opts.id_prefix = "urn:x:";
  EXPECT_THAT(ScanIds(db_, opts), ElementsAre("urn:x:1", "urn:x:10", "urn:x:2", "urn:x:3"));
  opts.after_id = "urn:x:10";
  EXPECT_THAT(ScanRecords(db_, opts), ElementsAre("urn:x:2", "urn:x:3"));
  opts.types = {"T"};
  EXPECT_THAT(ScanIds(db_, opts), ElementsAre("urn:x:3"));
  opts.after_id = "urn:a:9";
  EXPECT_THAT(ScanRecords(db_, opts), ElementsAre("urn:x:1", "urn:x:10", "urn:x:3"));
  opts.after_id = "urn:x:3";
  EXPECT_THAT(ScanIds(db_, opts), IsEmpty());

  ScanOptions after_only;
  after_only.after_id = "urn:x:3";
  EXPECT_THAT(ScanIds(db_, after_only), ElementsAre("urn:y:1", std::string("\xff\xff", 2)));
  ScanOptions high_prefix;
  high_prefix.id_prefix = "\xff";
  EXPECT_THAT(ScanIds(db_, high_prefix), ElementsAre(std::string("\xff\xff", 2)));
  high_prefix.types = {"T"};
  EXPECT_THAT(ScanIds(db_, high_prefix), ElementsAre(std::string("\xff\xff", 2)));
}

TEST_F(RocksDbStoreTest, TenantsAreIsolated) {
  auto city = store_->Tenant("city1", true);
  ASSERT_TRUE(city.ok()) << city.status().message();
  Put(db_, Record("urn:e:1", {"Default"}, {"a"}, "default doc"));
  Put(*city, Record("urn:e:1", {"City"}, {"b"}, "city doc"));

  EXPECT_EQ(db_->Get("urn:e:1")->document, "default doc");
  EXPECT_EQ((*city)->Get("urn:e:1")->document, "city doc");
  EXPECT_THAT(Value(db_->ListTypes()), ElementsAre("Default"));
  EXPECT_THAT(Value((*city)->ListTypes()), ElementsAre("City"));
  ASSERT_TRUE((*city)->PutMeta("k", "city").ok());
  EXPECT_EQ(db_->GetMeta("k").status().code(), Status::Code::kNotFound);
  EXPECT_THAT(store_->ListTenants(), ElementsAre("", "city1"));
  EXPECT_TRUE(fs::exists(root_ / "data" / "tenants" / "city1" / "CURRENT"));
  EXPECT_TRUE(fs::exists(root_ / "data" / "default" / "CURRENT"));
}

TEST_F(RocksDbStoreTest, UnknownTenantIsNotFoundAndBadNamesAreRefused) {
  EXPECT_EQ(store_->Tenant("nope", false).status().code(), Status::Code::kNotFound);
  EXPECT_THAT(store_->ListTenants(), ElementsAre(""));
  EXPECT_FALSE(store_->Tenant("../escape", true).ok());
  EXPECT_FALSE(fs::exists(root_ / "data" / "escape"));
}

TEST_F(RocksDbStoreTest, ConcurrentTenantCreationOpensOnce) {
  std::vector<TenantStore*> seen(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto t = store_->Tenant("racy", true);
      seen[i] = t.ok() ? *t : nullptr;
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_NE(seen[0], nullptr);
  for (auto* p : seen) EXPECT_EQ(p, seen[0]);
}

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

TEST_F(RocksDbStoreTest, ReopenKeepsDataTenantsAndIndexes) {
  auto city = store_->Tenant("city1", true);
  ASSERT_TRUE(city.ok());
  Put(db_, Record("e1", {"A"}, {"x"}, "one"));
  Put(*city, Record("e2", {"B"}, {"y"}, "two"));
  ASSERT_TRUE(db_->PutMeta("ctx/a", "1").ok());

  Reopen();
  EXPECT_THAT(store_->ListTenants(), ElementsAre("", "city1"));
  EXPECT_EQ(db_->Get("e1")->document, "one");
  EXPECT_EQ(db_->GetMeta("ctx/a").value(), "1");
  EXPECT_THAT(Value(db_->AttributesOfType("A")), ElementsAre("x"));
  city = store_->Tenant("city1", false);
  ASSERT_TRUE(city.ok());
  EXPECT_EQ((*city)->Get("e2")->document, "two");
  EXPECT_EQ(Count((*city)->CountType("B")), 1u);
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

TEST_F(RocksDbStoreTest, OutboxRecordsAreWrittenWithTheChangeScannedInOrderAndDeleted) {
  EXPECT_EQ(db_->LastOutboxSequence().value(), 0u);
  WriteSet ws;
  ws.puts.push_back(Record("e1", {"A"}, {"x"}, "one"));
  ws.outbox = {{7, "n7"}, {300, "n300"}, {5, "n5"}};
  ASSERT_TRUE(db_->Write(ws).ok());
  // An outbox-only write (a periodic notification owes no entity change).
  WriteSet only;
  only.outbox = {{1ULL << 40, "big"}};
  ASSERT_TRUE(db_->Write(only).ok());
  auto scan = [&](uint64_t from) {
    std::vector<std::pair<uint64_t, std::string>> seen;
    EXPECT_TRUE(db_->ScanOutbox(from, [&](uint64_t seq, std::string_view v) {
      seen.emplace_back(seq, std::string(v));
      return true;
    }).ok());
    return seen;
  };
  using Seen = std::vector<std::pair<uint64_t, std::string>>;
  EXPECT_EQ(scan(0), (Seen{{5, "n5"}, {7, "n7"}, {300, "n300"}, {1ULL << 40, "big"}}));
  EXPECT_EQ(scan(8), (Seen{{300, "n300"}, {1ULL << 40, "big"}}));
  EXPECT_EQ(db_->LastOutboxSequence().value(), 1ULL << 40);
  // Early stop.
  int visited = 0;
  ASSERT_TRUE(db_->ScanOutbox(0, [&](uint64_t, std::string_view) { return ++visited < 2; }).ok());
  EXPECT_EQ(visited, 2);
  ASSERT_TRUE(db_->DeleteOutbox({7, 1ULL << 40, 999}).ok());  // 999 is absent: not an error
  EXPECT_EQ(scan(0), (Seen{{5, "n5"}, {300, "n300"}}));
  EXPECT_EQ(db_->LastOutboxSequence().value(), 300u);
  // Durable across a restart, and the entity of the same write is there too.
  Reopen();
  EXPECT_EQ(scan(0), (Seen{{5, "n5"}, {300, "n300"}}));
  EXPECT_EQ(db_->Get("e1")->document, "one");
}

TEST_F(RocksDbStoreTest, HistoryBlocksAreAppendedScannedByRangeRewrittenAndDeleted) {
  using Blocks = std::vector<std::pair<int64_t, std::string>>;
  auto scan = [&](std::string_view id, std::string_view attr, int64_t first, int64_t last, bool backwards) {
    Blocks seen;
    auto st = db_->ScanHistory(id, attr, first, last, backwards, [&](int64_t block, std::string_view bytes) {
      seen.emplace_back(block, std::string(bytes));
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return seen;
  };
  // Appends in the same write as the entity; negative block numbers sort before positive ones.
  WriteSet ws;
  ws.puts.push_back(Record("urn:e1", {"A"}, {"p"}, "one"));
  ws.history = {{"urn:e1", "p", 5, "a"}, {"urn:e1", "p", -3, "n"}, {"urn:e1", "q", 5, "Q"}, {"urn:e2", "p", 5, "X"}};
  ws.history_entities = {{"urn:e1", "header1"}};
  ASSERT_TRUE(db_->Write(ws).ok());
  // Appends to an existing block concatenate in commit order, also across many writes.
  for (int i = 0; i < 200; ++i) {
    WriteSet more;
    more.history = {{"urn:e1", "p", 5, std::to_string(i % 10)}};
    ASSERT_TRUE(db_->Write(more).ok());
  }
  std::string expected5 = "a";
  for (int i = 0; i < 200; ++i) expected5 += std::to_string(i % 10);
  const int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(scan("urn:e1", "p", kMin, kMax, false), (Blocks{{-3, "n"}, {5, expected5}}));
  EXPECT_EQ(scan("urn:e1", "p", kMin, kMax, true), (Blocks{{5, expected5}, {-3, "n"}}));
  EXPECT_EQ(scan("urn:e1", "p", -3, 4, false), (Blocks{{-3, "n"}}));
  EXPECT_EQ(scan("urn:e1", "p", 5, 5, false), (Blocks{{5, expected5}}));
  EXPECT_TRUE(scan("urn:e1", "p", 6, kMax, false).empty());
  EXPECT_EQ(scan("urn:e2", "p", kMin, kMax, false), (Blocks{{5, "X"}}));  // ids do not bleed
  EXPECT_TRUE(scan("urn:e", "p", kMin, kMax, false).empty());
  EXPECT_THAT(Value(db_->HistoryAttributes("urn:e1")), ElementsAre("p", "q"));
  EXPECT_THAT(Value(db_->HistoryAttributes("urn:e")), IsEmpty());
  EXPECT_EQ(db_->GetHistoryEntity("urn:e1").value(), "header1");
  EXPECT_EQ(db_->GetHistoryEntity("urn:e2").status().code(), Status::Code::kNotFound);

  // Rewriting a block replaces it; empty bytes remove it.
  ASSERT_TRUE(db_->PutHistoryBlock("urn:e1", "p", 5, "rewritten").ok());
  ASSERT_TRUE(db_->PutHistoryBlock("urn:e1", "q", 5, "").ok());
  EXPECT_EQ(scan("urn:e1", "p", kMin, kMax, false), (Blocks{{-3, "n"}, {5, "rewritten"}}));
  EXPECT_THAT(Value(db_->HistoryAttributes("urn:e1")), ElementsAre("p"));

  // Durable across a restart.
  Reopen();
  EXPECT_EQ(scan("urn:e1", "p", kMin, kMax, false), (Blocks{{-3, "n"}, {5, "rewritten"}}));

  // Deleting blocks before a number (retention), of one attribute, then everything.
  WriteSet later;
  later.history = {{"urn:e1", "p", 9, "z"}, {"urn:e1", "r", 1, "r1"}, {"urn:e1", "r", 9, "r9"}};
  ASSERT_TRUE(db_->Write(later).ok());
  ASSERT_TRUE(db_->DeleteHistory("urn:e1", "", 6).ok());
  EXPECT_EQ(scan("urn:e1", "p", kMin, kMax, false), (Blocks{{9, "z"}}));
  EXPECT_EQ(scan("urn:e1", "r", kMin, kMax, false), (Blocks{{9, "r9"}}));
  ASSERT_TRUE(db_->DeleteHistory("urn:e1", "r", kMax).ok());
  EXPECT_THAT(Value(db_->HistoryAttributes("urn:e1")), ElementsAre("p"));
  EXPECT_EQ(db_->GetHistoryEntity("urn:e1").value(), "header1");
  ASSERT_TRUE(db_->DeleteHistory("urn:e1", "", kMax).ok());
  EXPECT_THAT(Value(db_->HistoryAttributes("urn:e1")), IsEmpty());
  EXPECT_EQ(db_->GetHistoryEntity("urn:e1").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(scan("urn:e2", "p", kMin, kMax, false), (Blocks{{5, "X"}}));  // another entity's stays

  // Headers are listed by id.
  WriteSet headers;
  headers.history_entities = {{"urn:b", "B"}, {"urn:a", "A"}};
  ASSERT_TRUE(db_->Write(headers).ok());
  std::vector<std::pair<std::string, std::string>> listed;
  ASSERT_TRUE(db_->ScanHistoryEntities([&](std::string_view id, std::string_view header) {
    listed.emplace_back(id, header);
    return true;
  }).ok());
  EXPECT_EQ(listed, (std::vector<std::pair<std::string, std::string>>{{"urn:a", "A"}, {"urn:b", "B"}}));
  // Attribute names are validated like the entities'.
  WriteSet bad;
  bad.history = {{"urn:e1", "", 1, "x"}};
  EXPECT_FALSE(db_->Write(bad).ok());
}

TEST_F(RocksDbStoreTest, MetadataChangesGoInTheSameWriteAsTheOutbox) {
  ASSERT_TRUE(db_->PutMeta("reg/gone", "old").ok());
  WriteSet ws;
  ws.meta_puts = {{"reg/a", "A"}, {"reg/b", "B"}};
  ws.meta_deletes = {"reg/gone", "reg/b"};  // deletes apply after puts
  ws.outbox = {{3, "owed"}};
  ASSERT_TRUE(db_->Write(ws).ok());
  Reopen();
  EXPECT_EQ(db_->GetMeta("reg/a").value(), "A");
  EXPECT_EQ(db_->GetMeta("reg/b").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(db_->GetMeta("reg/gone").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(db_->LastOutboxSequence().value(), 3u);
  // a metadata-only write is a write too
  WriteSet only;
  only.meta_puts = {{"reg/c", "C"}};
  ASSERT_TRUE(db_->Write(only).ok());
  EXPECT_EQ(db_->GetMeta("reg/c").value(), "C");
}

TEST_F(RocksDbStoreTest, MetaCrudAndPrefixScan) {
  EXPECT_EQ(db_->GetMeta("ctx/a").status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(db_->PutMeta("ctx/b", "B").ok());
  ASSERT_TRUE(db_->PutMeta("ctx/a", "A").ok());
  ASSERT_TRUE(db_->PutMeta("ctz", "other").ok());
  ASSERT_TRUE(db_->PutMeta("ctx/a", "A2").ok());
  EXPECT_EQ(db_->GetMeta("ctx/a").value(), "A2");

  std::vector<std::pair<std::string, std::string>> seen;
  auto collect = [&](std::string_view k, std::string_view v) {
    seen.emplace_back(k, v);
    return true;
  };
  ASSERT_TRUE(db_->ScanMeta("ctx/", collect).ok());
  EXPECT_THAT(seen, ElementsAre(std::pair<std::string, std::string>{"ctx/a", "A2"},
                                std::pair<std::string, std::string>{"ctx/b", "B"}));
  seen.clear();
  ASSERT_TRUE(db_->ScanMeta("", collect).ok());
  EXPECT_EQ(seen.size(), 3u);  // user keys only, never the schema version

  ASSERT_TRUE(db_->DeleteMeta("ctx/a").ok());
  ASSERT_TRUE(db_->DeleteMeta("never-there").ok());
  EXPECT_EQ(db_->GetMeta("ctx/a").status().code(), Status::Code::kNotFound);
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

TEST_F(RocksDbStoreTest, ConcurrentWritersOnDistinctIdsAllPersist) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteSet ws;
        ws.puts.push_back(Record("t" + std::to_string(t) + "-" + std::to_string(i),
                                 {"Sensor", "T" + std::to_string(t)}, {"value"}));
        if (!db_->Write(ws).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Count(db_->CountType("Sensor")), uint64_t{kThreads * kPerThread});
  EXPECT_EQ(ScanIds(db_, ScanOptions{}).size(), size_t{kThreads * kPerThread});
  const uint64_t estimate = db_->ApproximateEntityCount();
  EXPECT_GE(estimate, uint64_t{kThreads * kPerThread / 2});
  EXPECT_LE(estimate, uint64_t{kThreads * kPerThread * 2});

  Reopen();
  EXPECT_EQ(Count(db_->CountType("Sensor")), uint64_t{kThreads * kPerThread});
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Count(db_->CountType("T" + std::to_string(t))), uint64_t{kPerThread});
  }
}

TEST_F(RocksDbStoreTest, CallsAfterCloseAreUnavailable) {
  Put(db_, Record("e1", {"A"}, {}));
  store_->Close();
  store_->Close();
  EXPECT_EQ(store_->Tenant("", false).status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(db_->Get("e1").status().code(), Status::Code::kUnavailable);
  WriteSet late;
  late.puts.push_back(Record("e2", {"A"}, {}));
  EXPECT_EQ(db_->Write(late).code(), Status::Code::kUnavailable);
  EXPECT_EQ(db_->ListTypes().status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(store_->Backup((root_ / "b").string()).code(), Status::Code::kUnavailable);
  Reopen();
  EXPECT_TRUE(db_->Get("e1").ok());
}

// Every (term, id, payload) in `range`, as "term|id|payload".
Strings Terms(TenantStore* t, TermRange range) {
  Strings out;
  auto st = t->ScanTerms({range}, [&](std::string_view term, std::string_view id, std::string_view payload) {
    out.push_back(std::string(term) + "|" + std::string(id) + "|" + std::string(payload));
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

EntityRecord WithTerms(std::string id, std::vector<IndexTerm> terms) {
  auto r = Record(std::move(id), {"A"}, {"x"});
  r.terms = std::move(terms);
  return r;
}

TEST_F(RocksDbStoreTest, TermsAreScannedInTermThenIdOrderWithPayloads) {
  Put(db_, WithTerms("e2", {{"b", "2"}, {"a", ""}}));
  Put(db_, WithTerms("e1", {{"b", "1"}}));
  // An id that is a prefix of another and an id holding bytes that look like a length.
  Put(db_, WithTerms(std::string("e\0\x01", 3), {{"b", "x"}}));
  EXPECT_THAT(Terms(db_, {"a", "b"}), ElementsAre("a|e2|"));
  EXPECT_THAT(Terms(db_, {"b", "c"}),
              ElementsAre(std::string("b|e\0\x01|x", 7), "b|e1|1", "b|e2|2"));
  EXPECT_EQ(Terms(db_, {"", ""}).size(), 4u);
  // Early stop.
  int visited = 0;
  ASSERT_TRUE(db_->ScanTerms({{"", ""}}, [&](auto, auto, auto) { return ++visited < 2; }).ok());
  EXPECT_EQ(visited, 2);
  // Several ranges, visited in the order given, each within its own bounds.
  Strings seen;
  ASSERT_TRUE(db_->ScanTerms({{"b", "c"}, {"a", "b"}, {"z", ""}}, [&](auto term, auto id, auto) {
    seen.push_back(std::string(term) + "|" + std::string(id));
    return true;
  }).ok());
  EXPECT_EQ(seen, (Strings{std::string("b|e\0\x01", 5), "b|e1", "b|e2", "a|e2"}));
}

// `prefix` and `n` as 4 digits.
std::string Numbered(std::string prefix, int n) {
  std::string digits = std::to_string(n);
  return prefix + std::string(4 - digits.size(), '0') + digits;
}

TEST_F(RocksDbStoreTest, CompactingTermsKeepsEveryLiveTermAndDropsNoneWrongly) {
  // Replace the terms of 2,000 records (the rebuild case): the old ones are deleted keys.
  for (int round = 0; round < 2; ++round) {
    WriteSet ws;
    for (int i = 0; i < 2000; ++i) {
      ws.puts.push_back(WithTerms(Numbered("e", i), {{"r" + std::to_string(round) + "/" + Numbered("", i % 100), "p"}}));
    }
    ASSERT_TRUE(db_->Write(ws).ok());
  }
  ASSERT_TRUE(db_->CompactTerms().ok());
  EXPECT_THAT(Terms(db_, {"r0", "r1"}), ::testing::IsEmpty());
  EXPECT_EQ(Terms(db_, {"r1", "r2"}).size(), 2000u);
  EXPECT_THAT(Terms(db_, {"r1/0007", "r1/0008"}).front(), "r1/0007|e0007|p");
  EXPECT_TRUE(db_->Get("e1999").ok());
  Reopen();
  EXPECT_EQ(Terms(db_, {"r1", "r2"}).size(), 2000u);
}

TEST_F(RocksDbStoreTest, TermsFollowUpdatesDeletesAndReopen) {
  Put(db_, WithTerms("e1", {{"a", "1"}, {"b", "1"}}));
  Put(db_, WithTerms("e1", {{"b", "2"}, {"c", ""}}));  // a removed, b's payload changed, c added
  EXPECT_THAT(Terms(db_, {"", ""}), ElementsAre("b|e1|2", "c|e1|"));
  EXPECT_EQ(db_->Get("e1")->terms, (std::vector<IndexTerm>{{"b", "2"}, {"c", ""}}));
  Reopen();
  EXPECT_THAT(Terms(db_, {"", ""}), ElementsAre("b|e1|2", "c|e1|"));
  Delete(db_, "e1");
  EXPECT_THAT(Terms(db_, {"", ""}), IsEmpty());
}

TEST_F(RocksDbStoreTest, RejectsDuplicateOversizedAndEmptyTerms) {
  WriteSet ws;
  ws.puts.push_back(WithTerms("e1", {{"a", ""}, {"a", "x"}}));
  EXPECT_EQ(db_->Write(ws).code(), Status::Code::kInternal);
  ws.puts = {WithTerms("e1", {{std::string(kMaxTermBytes + 1, 'k'), ""}})};
  EXPECT_EQ(db_->Write(ws).code(), Status::Code::kInternal);
  ws.puts = {WithTerms("e1", {{"k", std::string(kMaxTermPayloadBytes + 1, 'p')}})};
  EXPECT_EQ(db_->Write(ws).code(), Status::Code::kInternal);
  ws.puts = {WithTerms("e1", {{"", ""}})};
  EXPECT_EQ(db_->Write(ws).code(), Status::Code::kInternal);
  EXPECT_EQ(db_->Get("e1").status().code(), Status::Code::kNotFound);
  EXPECT_THAT(Terms(db_, {"", ""}), IsEmpty());
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

}  // namespace
}  // namespace cityhub::store
