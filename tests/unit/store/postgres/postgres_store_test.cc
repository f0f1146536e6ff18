// What is particular to the PostgreSQL store (the contract both backends hold is
// store_contract_test.cc): several hubs on one database, migrations, lost connections.
#include "store/postgres/postgres_store.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../store_test_util.h"
#include "store/postgres/pg_connection.h"
#include "test_server.h"

namespace cityhub::store {
namespace {

using namespace cityhub::store::testing;
using namespace std::chrono_literals;

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(database_.ok());
    options_.conninfo = database_.uri();
  }

  std::unique_ptr<pg::Connection> Admin() { return database_.Admin(); }
  // A connection to the test's own database (to look behind the store's back).
  std::unique_ptr<pg::Connection> Direct() {
    auto c = pg::Connection::Open(options_.conninfo, 5s);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }
  std::unique_ptr<Store> Open() {
    auto s = OpenPostgresStore(options_);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }

  TestDatabase database_{"cityhub_pgstore"};
  PostgresStoreOptions options_;
};

// Two hubs on one database: what one writes, the other reads at once — a tenant one creates
// included; nothing is cached between them.
TEST_F(PostgresStoreTest, TwoHubsOnOneDatabaseSeeEachOthersWrites) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  auto city_a = a->Tenant("gimcheon", true);
  ASSERT_TRUE(city_a.ok()) << city_a.status().message();
  Put(*city_a, Record("urn:e:1", {"ParkingSpot"}, {"status"}, "free"));
  auto city_b = b->Tenant("gimcheon", false);
  ASSERT_TRUE(city_b.ok()) << city_b.status().message();
  EXPECT_EQ((*city_b)->Get("urn:e:1")->document, "free");
  Put(*city_b, Record("urn:e:1", {"ParkingSpot"}, {"status"}, "occupied"));
  EXPECT_EQ((*city_a)->Get("urn:e:1")->document, "occupied");
  EXPECT_EQ(Count((*city_a)->CountType("ParkingSpot")), 1u);
  EXPECT_EQ(b->ListTenants(), (Strings{"", "gimcheon"}));
}

// Hubs starting at the same moment on an empty database: the directory and each tenant's
// tables are made once, under the advisory lock, and every hub opens.
TEST_F(PostgresStoreTest, HubsStartingTogetherCreateTheSchemaOnce) {
  std::vector<std::thread> hubs;
  std::atomic<int> failed{0};
  for (int i = 0; i < 4; ++i) {
    hubs.emplace_back([&] {
      auto s = OpenPostgresStore(options_);
      if (!s.ok() || !(*s)->Tenant("daegu", true).ok()) ++failed;
    });
  }
  for (auto& h : hubs) h.join();
  EXPECT_EQ(failed.load(), 0);
  auto rows = Direct()->Exec("test", "SELECT count(*) FROM cityhub.tenants");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->Get(0, 0), "2") << "the default tenant and daegu, once each";
}

// A schema written by a newer hub is not touched by an older one.
TEST_F(PostgresStoreTest, ASchemaNewerThanTheHubIsRefused) {
  ASSERT_TRUE(Open());
  ASSERT_TRUE(Direct()->Exec("test", "UPDATE tenant_default.schema_version SET version = 99").ok());
  auto s = OpenPostgresStore(options_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kInternal);
  EXPECT_NE(s.status().message().find("version 99"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("upgrade the hub"), std::string::npos);
}

// The server dropping every connection (a restart, a failover): reads and writes go on, on
// fresh ones — a write whose pooled connection died while idle had reached nothing yet.
TEST_F(PostgresStoreTest, ReadsAndWritesSurviveTheServerDroppingIdleConnections) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto t = store->Tenant("", false);
  ASSERT_TRUE(t.ok());
  Put(*t, Record("urn:e:1", {"A"}, {"x"}, "one"));
  auto killed = Admin()->Exec("test", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                              {pg::Param::Text(database_.name())});
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  Put(*t, Record("urn:e:2", {"A"}, {"x"}, "two"));
  (void)Admin()->Exec("test", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                      {pg::Param::Text(database_.name())});
  auto got = (*t)->Get("urn:e:1");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->document, "one");
  EXPECT_EQ(Count((*t)->CountType("A")), 2u);
}

// No database: the hub is told so, and which host (without the password).
TEST_F(PostgresStoreTest, AnUnreachableDatabaseIsUnavailable) {
  PostgresStoreOptions nowhere;
  nowhere.conninfo = "postgresql://hub:pw-42@127.0.0.1:1/city";
  nowhere.connect_timeout = 2s;
  auto s = OpenPostgresStore(nowhere);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(s.status().message().find("pw-42"), std::string::npos) << s.status().message();
}

// Read-modify-writes of one entity from two hubs, which share no lock in memory, lose nothing:
// Update holds the entity's row from its read to its commit.
TEST_F(PostgresStoreTest, UpdatesOfOneEntityFromTwoHubsLoseNothing) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  auto on_a = a->Tenant("", false), on_b = b->Tenant("", false);
  ASSERT_TRUE(on_a.ok() && on_b.ok());
  Put(*on_a, Record("urn:e:counter", {"Counter"}, {"n"}, "0"));
  constexpr int kIncrements = 40;
  auto increment = [](TenantStore* t) {
    for (int i = 0; i < kIncrements; ++i) {
      Status st = t->Update({"urn:e:counter"}, [](const CurrentRecords& current) -> Result<WriteSet> {
        if (!current[0].ok()) return current[0].status();
        EntityRecord next = current[0].value();
        next.document = std::to_string(std::stoi(next.document) + 1);
        WriteSet ws;
        ws.puts.push_back(std::move(next));
        return ws;
      });
      EXPECT_TRUE(st.ok()) << st.message();
    }
  };
  std::vector<std::thread> writers;
  for (TenantStore* t : {*on_a, *on_b, *on_a, *on_b}) writers.emplace_back(increment, t);
  for (auto& w : writers) w.join();
  EXPECT_EQ((*on_b)->Get("urn:e:counter")->document, std::to_string(4 * kIncrements));
}

// The outbox is numbered by the database (store.h, NumbersOutbox): records written with 0 get
// the tenant's next numbers, in the order they come in the write, told through `assigned`.
TEST_F(PostgresStoreTest, OutboxRecordsWrittenWithZeroAreNumberedByTheDatabase) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto t = store->Tenant("", false);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE((*t)->NumbersOutbox());
  uint64_t first = 0, second = 0, third = 0;
  WriteSet ws;
  ws.outbox = {{0, "first", &first}, {0, "second", &second}};
  ASSERT_TRUE((*t)->Write(ws).ok());
  WriteSet next;
  next.outbox = {{0, "third", &third}};
  ASSERT_TRUE((*t)->Write(next).ok());
  EXPECT_GT(first, 0u);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  std::map<uint64_t, std::string> held;
  ASSERT_TRUE((*t)->ScanOutbox(0, [&](uint64_t seq, std::string_view v) {
    held[seq] = std::string(v);
    return true;
  }).ok());
  EXPECT_EQ(held, (std::map<uint64_t, std::string>{{first, "first"}, {second, "second"}, {third, "third"}}));
}

// Migration 5 starts the sequence after the numbers a hub that numbered the outbox itself left.
TEST_F(PostgresStoreTest, TheOutboxSequenceGoesOnAfterRecordsOfAnOlderHub) {
  {
    auto old = Open();
    ASSERT_TRUE(old);
    WriteSet ws;
    ws.outbox = {{41, "left by an older hub"}};
    auto t = old->Tenant("", false);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE((*t)->Write(ws).ok());
  }
  // Back to the layout before migration 5 (as an older hub left it).
  ASSERT_TRUE(Direct()->Exec("test", "DROP SEQUENCE tenant_default.outbox_seq").ok());
  ASSERT_TRUE(Direct()->Exec("test", "ALTER TABLE tenant_default.outbox DROP COLUMN part").ok());
  ASSERT_TRUE(Direct()->Exec("test", "UPDATE tenant_default.schema_version SET version = 4").ok());
  auto store = Open();
  ASSERT_TRUE(store);
  auto t = store->Tenant("", false);
  ASSERT_TRUE(t.ok());
  uint64_t assigned = 0;
  WriteSet ws;
  ws.outbox = {{0, "new", &assigned}};
  ASSERT_TRUE((*t)->Write(ws).ok());
  EXPECT_EQ(assigned, 42u);
}

// Two hubs updating one entity, each change owing an outbox record numbered by the database:
// no two records share a number (the hubs do not collide), and the numbers follow the order of
// the entity's changes (taken after its row is locked).
TEST_F(PostgresStoreTest, OutboxNumbersFollowOneEntitysChangesAcrossHubs) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  auto on_a = a->Tenant("", false), on_b = b->Tenant("", false);
  ASSERT_TRUE(on_a.ok() && on_b.ok());
  Put(*on_a, Record("urn:e:counter", {"Counter"}, {"n"}, "0"));
  constexpr int kIncrements = 40;
  std::mutex mutex;
  std::map<uint64_t, std::string> told;  // number → the value, as `assigned` said
  auto increment = [&](TenantStore* t) {
    for (int i = 0; i < kIncrements; ++i) {
      uint64_t assigned = 0;
      std::string value;
      Status st = t->Update({"urn:e:counter"}, [&](const CurrentRecords& current) -> Result<WriteSet> {
        if (!current[0].ok()) return current[0].status();
        EntityRecord next = current[0].value();
        value = next.document = std::to_string(std::stoi(next.document) + 1);
        WriteSet ws;
        ws.puts.push_back(std::move(next));
        ws.outbox.push_back({0, value, &assigned});
        return ws;
      });
      ASSERT_TRUE(st.ok()) << st.message();
      std::lock_guard lock(mutex);
      EXPECT_TRUE(told.emplace(assigned, value).second) << "number " << assigned << " given twice";
    }
  };
  std::vector<std::thread> writers;
  for (TenantStore* t : {*on_a, *on_b, *on_a, *on_b}) writers.emplace_back(increment, t);
  for (auto& w : writers) w.join();
  std::map<uint64_t, std::string> held;
  ASSERT_TRUE((*on_b)->ScanOutbox(0, [&](uint64_t seq, std::string_view v) {
    held[seq] = std::string(v);
    return true;
  }).ok());
  EXPECT_EQ(held, told);
  ASSERT_EQ(held.size(), 4u * kIncrements);
  int expected = 0;
  for (const auto& [seq, value] : held) EXPECT_EQ(value, std::to_string(++expected)) << "record " << seq;
}

// What a hub holds of shared metadata, as its observer heard it (store.h, SharedMetaObserver).
class SharedMetaCopy : public SharedMetaObserver {
 public:
  void SharedMetaChanged(std::string_view tenant, std::string_view key, const std::optional<std::string>& value) override {
    std::lock_guard lock(mutex_);
    const std::string k = std::string(tenant) + "|" + std::string(key);
    if (value) {
      held_[k] = *value;
    } else {
      held_.erase(k);
    }
    ++calls_;
    changed_.notify_all();
  }
  std::optional<std::string> Held(const std::string& tenant_key) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(tenant_key);
    return it == held_.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  // Waits (with a deadline) until `tenant_key` is held as `value` (nullopt: not held).
  bool WaitFor(const std::string& tenant_key, const std::optional<std::string>& value) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] {
      auto it = held_.find(tenant_key);
      return value ? it != held_.end() && it->second == *value : it == held_.end();
    });
  }
  int calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> held_;
  int calls_ = 0;
};

// A change of shared metadata on one hub reaches the other's observer by itself (LISTEN/NOTIFY),
// in order, deletions included; metadata under other prefixes is not announced.
TEST_F(PostgresStoreTest, SharedMetaChangesReachEveryHub) {
  SharedMetaCopy at_a, at_b;  // before the stores: their listeners call them until they close
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->WatchSharedMeta("subscription/", &at_a).ok());
  ASSERT_TRUE(b->WatchSharedMeta("subscription/", &at_b).ok());
  auto city_a = a->Tenant("daegu", true);
  ASSERT_TRUE(city_a.ok());
  ASSERT_TRUE((*city_a)->PutMeta("subscription/s1", "first").ok());
  ASSERT_TRUE((*city_a)->PutMeta("subscription/s1", "second").ok());
  ASSERT_TRUE(at_b.WaitFor("daegu|subscription/s1", "second"));
  WriteSet ws;
  ws.meta_puts.emplace_back("subscription/s2", "by write");
  ws.meta_deletes.emplace_back("subscription/s1");
  ASSERT_TRUE((*city_a)->Write(ws).ok());
  ASSERT_TRUE(at_b.WaitFor("daegu|subscription/s2", "by write"));
  ASSERT_TRUE(at_b.WaitFor("daegu|subscription/s1", std::nullopt));
  ASSERT_TRUE((*city_a)->PutMeta("other/x", "not shared").ok());
  ASSERT_TRUE((*city_a)->DeleteMeta("subscription/s2").ok());
  ASSERT_TRUE(at_b.WaitFor("daegu|subscription/s2", std::nullopt));
  EXPECT_FALSE(at_b.Held("daegu|other/x"));
}

// The version check alone: hub B hears nothing (no listener), yet an Update on B that begins
// after A's change committed runs its function only once B's observer holds that change.
TEST_F(PostgresStoreTest, AnUpdateCatchesUpWithSharedMetaBeforeItsFunctionRuns) {
  SharedMetaCopy at_a, at_b;  // before the stores: their listeners call them until they close
  auto a = Open();
  options_.listen_for_shared_meta = false;
  auto b = Open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->WatchSharedMeta("subscription/", &at_a).ok());
  ASSERT_TRUE(b->WatchSharedMeta("subscription/", &at_b).ok());
  auto city_a = a->Tenant("", false);
  auto city_b = b->Tenant("", false);
  ASSERT_TRUE(city_a.ok() && city_b.ok());
  for (int round = 0; round < 20; ++round) {
    const std::string value = "v" + std::to_string(round);
    ASSERT_TRUE((*city_a)->PutMeta("subscription/s", value).ok());
    std::optional<std::string> seen;
    Status st = (*city_b)->Update({"urn:e:1"}, [&](const CurrentRecords&) -> Result<WriteSet> {
      seen = at_b.Held("|subscription/s");
      WriteSet ws;
      ws.puts.push_back(Record("urn:e:1", {"T"}, {"a"}, value));
      return ws;
    });
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(seen, value) << "round " << round;
  }
  // Nothing changed since: the next update applies nothing again.
  const int calls = at_b.calls();
  ASSERT_TRUE((*city_b)->Update({"urn:e:1"}, [&](const CurrentRecords&) -> Result<WriteSet> { return WriteSet{}; }).ok());
  EXPECT_EQ(at_b.calls(), calls);
}

TEST_F(PostgresStoreTest, AnUpdateMayNotWriteSharedMeta) {
  SharedMetaCopy at_a;  // before the store: its listener calls it until it closes
  auto a = Open();
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->WatchSharedMeta("subscription/", &at_a).ok());
  auto city = a->Tenant("", false);
  Status st = (*city)->Update({"urn:e:1"}, [&](const CurrentRecords&) -> Result<WriteSet> {
    WriteSet ws;
    ws.meta_puts.emplace_back("subscription/s", "x");
    return ws;
  });
  EXPECT_EQ(st.code(), Status::Code::kInternal);
  EXPECT_FALSE((*city)->GetMeta("subscription/s").ok());
}

// The server dropping several idle connections at once (a restart, a failover): the pool finds
// each out before handing it over, so a write goes through on a fresh connection instead of
// failing on the second dead one.
TEST_F(PostgresStoreTest, AWriteGoesThroughAfterEveryIdleConnectionWasLost) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto t = store->Tenant("", false);
  ASSERT_TRUE(t.ok());
  constexpr int kBusy = 4;
  for (int i = 0; i < kBusy; ++i) Put(*t, Record("urn:e:" + std::to_string(i), {"A"}, {"x"}, "zero"));
  // Four updates inside their transactions at once: four pooled connections, idle afterwards.
  std::atomic<int> inside{0};
  std::vector<std::thread> updates;
  for (int i = 0; i < kBusy; ++i) {
    updates.emplace_back([&, i] {
      const std::string id = "urn:e:" + std::to_string(i);
      Status st = (*t)->Update({id}, [&](const CurrentRecords&) -> Result<WriteSet> {
        ++inside;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (inside.load() < kBusy && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
        WriteSet ws;
        ws.puts.push_back(Record(id, {"A"}, {"x"}, "one"));
        return ws;
      });
      EXPECT_TRUE(st.ok()) << st.message();
    });
  }
  for (auto& u : updates) u.join();
  ASSERT_GE(inside.load(), kBusy);
  auto killed = Admin()->Exec("test", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                              {pg::Param::Text(database_.name())});
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  WriteSet ws;
  ws.puts.push_back(Record("urn:e:new", {"A"}, {"x"}, "two"));
  Status written = (*t)->Write(ws);
  EXPECT_TRUE(written.ok()) << written.message();
  EXPECT_EQ(Count((*t)->CountType("A")), static_cast<uint64_t>(kBusy + 1));
}

// A database that turned read-only (as a standby is): writes are Unavailable, readiness says
// so, and once it takes writes again the next write goes through — the read-only connections
// were dropped, not kept in the pool.
TEST_F(PostgresStoreTest, AReadOnlyDatabaseIsNotWritableUntilItIs) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto t = store->Tenant("", false);
  ASSERT_TRUE(t.ok());
  Put(*t, Record("urn:e:1", {"A"}, {"x"}, "one"));
  EXPECT_TRUE(store->CheckWritable().ok());
  const std::string name = database_.name();
  auto terminate_sessions = [&] {
    ASSERT_TRUE(Admin()->Exec("test", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                              {pg::Param::Text(name)}).ok());
  };
  ASSERT_TRUE(Admin()->Exec("test", ("ALTER DATABASE " + name + " SET default_transaction_read_only = on").c_str()).ok());
  terminate_sessions();  // new sessions are read-only

  WriteSet ws;
  ws.puts.push_back(Record("urn:e:2", {"A"}, {"x"}, "two"));
  Status refused = (*t)->Write(ws);
  EXPECT_EQ(refused.code(), Status::Code::kUnavailable) << refused.message();
  EXPECT_NE(refused.message().find("25006"), std::string::npos) << refused.message();
  EXPECT_EQ((*t)->Get("urn:e:1")->document, "one") << "reads go on";
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (store->CheckWritable().ok() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(store->CheckWritable().code(), Status::Code::kUnavailable);

  ASSERT_TRUE(Admin()->Exec("test", ("ALTER DATABASE " + name + " RESET default_transaction_read_only").c_str()).ok());
  Status written = (*t)->Write(ws);
  EXPECT_TRUE(written.ok()) << written.message();
  while (!store->CheckWritable().ok() && std::chrono::steady_clock::now() < deadline + 5s) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(store->CheckWritable().ok());
}

// A write blocked behind another's lock is cancelled by the statement timeout: Unavailable
// within it, never a hang.
TEST_F(PostgresStoreTest, AWriteWaitingLongerThanTheStatementTimeoutIsUnavailable) {
  options_.statement_timeout = 300ms;
  auto store = Open();
  ASSERT_TRUE(store);
  auto t = store->Tenant("", false);
  ASSERT_TRUE(t.ok());
  Put(*t, Record("urn:e:1", {"A"}, {"x"}, "one"));
  auto holder = Direct();
  ASSERT_TRUE(holder);
  ASSERT_TRUE(holder->Exec("test", "BEGIN").ok());
  ASSERT_TRUE(holder->Exec("test", "SELECT 1 FROM tenant_default.entities WHERE id = convert_to('urn:e:1', 'UTF8') FOR UPDATE").ok());
  const auto start = std::chrono::steady_clock::now();
  Status st = (*t)->Update({"urn:e:1"}, [](const CurrentRecords&) -> Result<WriteSet> { return WriteSet{}; });
  EXPECT_EQ(st.code(), Status::Code::kUnavailable) << st.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_TRUE(holder->Exec("test", "ROLLBACK").ok());
  EXPECT_TRUE((*t)->Update({"urn:e:1"}, [](const CurrentRecords&) -> Result<WriteSet> { return WriteSet{}; }).ok());
}

}  // namespace
}  // namespace cityhub::store
