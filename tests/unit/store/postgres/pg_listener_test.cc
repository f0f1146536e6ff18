// pg::Listener against a real PostgreSQL 15 (the CTest fixture's server).
#include "store/postgres/pg_listener.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/postgres/pg_connection.h"
#include "test_server.h"

namespace cityhub::store::pg {
namespace {

using namespace std::chrono_literals;
using cityhub::store::testing::TestServerUri;

// What the listener reported, waited for with a deadline.
class Heard {
 public:
  void Notify(std::string_view channel, std::string_view payload) {
    std::lock_guard lock(mutex_);
    notes_.push_back(std::string(channel) + "|" + std::string(payload));
    changed_.notify_all();
  }
  void Resumed() {
    std::lock_guard lock(mutex_);
    ++resumed_;
    changed_.notify_all();
  }
  bool WaitNotes(size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return notes_.size() >= n; });
  }
  bool WaitResumed(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 15s, [&] { return resumed_ >= n; });
  }
  std::vector<std::string> notes() {
    std::lock_guard lock(mutex_);
    return notes_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> notes_;
  int resumed_ = 0;
};

class PgListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(TestServerUri().empty()) << "no test server: run through ctest (fixture postgres.server.start)";
    auto c = Connection::Open(TestServerUri(), 5s);
    ASSERT_TRUE(c.ok()) << c.status().message();
    conn_ = std::move(*c);
  }

  std::unique_ptr<Listener> Start(std::vector<std::string> channels) {
    ListenerOptions o;
    o.conninfo = TestServerUri();
    o.channels = std::move(channels);
    o.retry_delay = 50ms;
    o.on_notify = [this](std::string_view c, std::string_view p) { heard_.Notify(c, p); };
    o.on_resumed = [this] { heard_.Resumed(); };
    auto l = Listener::Start(std::move(o));
    EXPECT_TRUE(l.ok()) << l.status().message();
    return l.ok() ? std::move(*l) : nullptr;
  }

  void Notify(std::string_view channel, std::string_view payload) {
    auto r = conn_->Exec("notify", "SELECT pg_notify($1, $2)", {Param::Text(channel), Param::Text(payload)});
    ASSERT_TRUE(r.ok()) << r.status().message();
  }

  Heard heard_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(PgListenerTest, HearsCommittedNotificationsInOrderOnItsChannelsOnly) {
  auto listener = Start({"cityhub_test_a", "Odd \"Name\""});
  ASSERT_TRUE(listener);
  Notify("cityhub_test_other", "not for us");
  Notify("cityhub_test_a", "1");
  Notify("Odd \"Name\"", "2");
  Notify("cityhub_test_a", "3");
  ASSERT_TRUE(heard_.WaitNotes(3));
  EXPECT_EQ(heard_.notes(), (std::vector<std::string>{"cityhub_test_a|1", "Odd \"Name\"|2", "cityhub_test_a|3"}));
}

TEST_F(PgListenerTest, HearsNothingOfATransactionUntilItCommits) {
  auto listener = Start({"cityhub_test_tx"});
  ASSERT_TRUE(listener);
  ASSERT_TRUE(conn_->Exec("begin", "BEGIN").ok());
  Notify("cityhub_test_tx", "in the transaction");
  std::this_thread::sleep_for(200ms);  // a notification delivered early would have arrived by now
  EXPECT_TRUE(heard_.notes().empty());
  ASSERT_TRUE(conn_->Exec("commit", "COMMIT").ok());
  ASSERT_TRUE(heard_.WaitNotes(1));
  EXPECT_EQ(heard_.notes().front(), "cityhub_test_tx|in the transaction");
}

TEST_F(PgListenerTest, ReconnectsAfterItsConnectionIsKilledAndSaysSo) {
  auto listener = Start({"cityhub_test_kill"});
  ASSERT_TRUE(listener);
  auto killed = conn_->Exec("kill",
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = 'cityhub-listener' AND query LIKE 'LISTEN%cityhub_test_kill%'");
  ASSERT_TRUE(killed.ok()) << killed.status().message();
  ASSERT_EQ(killed->GetInt(0, 0).value(), 1);
  ASSERT_TRUE(heard_.WaitResumed(1));
  // LISTENing again: a notification sent now is heard.
  Notify("cityhub_test_kill", "after");
  ASSERT_TRUE(heard_.WaitNotes(1));
  EXPECT_EQ(heard_.notes().back(), "cityhub_test_kill|after");
}

TEST(PgListenerStart, UnreachableServerIsUnavailable) {
  ListenerOptions o;
  o.conninfo = "postgresql://127.0.0.1:1/nothing";
  o.channels = {"x"};
  o.connect_timeout = 2s;
  auto l = Listener::Start(std::move(o));
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), Status::Code::kUnavailable);
}

}  // namespace
}  // namespace cityhub::store::pg
