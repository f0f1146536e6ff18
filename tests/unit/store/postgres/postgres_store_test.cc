// What is particular to the PostgreSQL store (the contract both backends hold is
// store_contract_test.cc): several hubs on one database, migrations, lost connections.
#include "store/postgres/postgres_store.h"

#include <atomic>
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

}  // namespace
}  // namespace cityhub::store
