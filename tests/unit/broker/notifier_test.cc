// The notifier and shared metadata (several hubs on one database): a record naming a
// subscription this hub has not heard of yet — made on another hub a moment ago — is not dropped
// before the notifier has caught the tenant's shared metadata up (Store::CatchUpSharedMeta) and
// looked again; a record for a subscription that exists nowhere is dropped, caught up once. And
// delivery statuses, stored one key per subscription; sends never wait for the notifier's own
// store writes.
#include "broker/notifier.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "broker/subscription_service.h"
#include "counting_store.h"
#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "temp_store.h"
#include "util/time.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// A store whose CatchUpSharedMeta runs `on_catch_up`: what another hub changed becomes known then.
class CatchingUpStore final : public store::Store {
 public:
  explicit CatchingUpStore(store::Store& inner) : inner_(inner) {}
  Result<store::TenantStore*> Tenant(std::string_view name, bool create) override { return inner_.Tenant(name, create); }
  std::vector<std::string> ListTenants() override { return inner_.ListTenants(); }
  Status Backup(const std::string& dir) override { return inner_.Backup(dir); }
  void Close() override {}
  Status CatchUpSharedMeta(std::string_view tenant) override {
    ++catch_ups;
    if (failing_catch_ups > 0) {
      --failing_catch_ups;
      return Status(Status::Code::kUnavailable, "the database is out of reach");
    }
    if (on_catch_up) on_catch_up(tenant);
    return Status::Ok();
  }

  std::function<void(std::string_view)> on_catch_up;
  std::atomic<int> catch_ups{0};
  std::atomic<int> failing_catch_ups{0};  // the next ones fail

 private:
  store::Store& inner_;
};

// Records which subscriptions were notified; every send succeeds.
class RecordingSender : public NotificationSender {
 public:
  void Send(OutgoingNotification n, std::function<void(DeliveryOutcome)> done) override {
    {
      std::lock_guard lock(mutex_);
      sent_.push_back(n.subscription);
    }
    changed_.notify_all();
    done(DeliveryOutcome{true, ""});
  }
  bool WaitFor(const std::string& subscription) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return std::find(sent_.begin(), sent_.end(), subscription) != sent_.end(); });
  }
  bool WaitForSends(const std::string& subscription, size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] {
      return static_cast<size_t>(std::count(sent_.begin(), sent_.end(), subscription)) >= n;
    });
  }
  std::vector<std::string> Sent() {
    std::lock_guard lock(mutex_);
    return sent_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> sent_;
};

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(temp_.ok());
    ASSERT_TRUE(resolver_.Init().ok());
    ASSERT_TRUE(subscriptions_.LoadAll({}).ok());
  }
  OutboxEntry Owed(uint64_t sequence, std::string subscription) {
    auto e = ngsild::ParseEntity(json::parse(R"({"id":"urn:e:1","type":"Sensor","level":1})").as_object(),
                                 *resolver_.Core(), 1000, {});
    EXPECT_TRUE(e.ok()) << e.status().message();
    OutboxEntry entry;
    entry.sequence = sequence;
    entry.at_ms = util::NowMillis();
    entry.entity = std::move(*e);
    entry.subscriptions = {std::move(subscription)};
    return entry;
  }

  // "urn:s:late" was made on another hub: this one knows it once it catches up.
  void LateSubscriptionKnownOnCatchUp() {
    store_.on_catch_up = [&](std::string_view tenant) {
      if (matcher_.Find(tenant, "urn:s:late")) return;
      auto made = subscriptions_.Create(
          tenant,
          json::parse(R"({"type":"Subscription","id":"urn:s:late","entities":[{"type":"Sensor"}],
                         "notification":{"endpoint":{"uri":"http://receiver.example/"}}})")
              .as_object(),
          *resolver_.Core(), 1);
      ASSERT_TRUE(made.ok()) << made.status().message();
    };
  }

  TempStore temp_{"notifier-test"};
  CatchingUpStore store_{*temp_};
  ngsild::ContextResolver resolver_{{}, {}};
  SubscriptionMatcher matcher_;
  SubscriptionService subscriptions_{store_, &matcher_, &resolver_};
  RecordingSender sender_;
};

TEST_F(NotifierTest, ARecordForASubscriptionNotHeardOfYetIsDeliveredOnceCaughtUp) {
  // Another hub made the subscription; this one learns of it only by catching up.
  LateSubscriptionKnownOnCatchUp();
  Notifier notifier(store_, matcher_, resolver_, sender_, nullptr, nullptr);
  ASSERT_TRUE(notifier.Start().ok());
  ASSERT_FALSE(matcher_.Find("", "urn:s:late"));
  std::vector<OutboxEntry> entries;
  entries.push_back(Owed(1, "urn:s:late"));
  notifier.Committed("", std::move(entries));
  EXPECT_TRUE(sender_.WaitFor("urn:s:late"));
  EXPECT_EQ(store_.catch_ups.load(), 1);
  notifier.Stop();
}

// When catching up fails (the database out of reach), a record naming an unknown subscription is
// not dropped: it stays in the outbox and its partition is read again a moment later.
TEST_F(NotifierTest, ARecordIsKeptWhenCatchingUpFailsAndDeliveredOnceItWorks) {
  LateSubscriptionKnownOnCatchUp();
  store_.failing_catch_ups = 1;
  OutboxEntry entry = Owed(1, "urn:s:late");
  json::object record{{"at", entry.at_ms},
                      {"entity", ngsild::SerializeEntity(entry.entity)},
                      {"deleted", false},
                      {"notify", json::array{json::array{"urn:s:late", "entityCreated"}}}};
  auto ts = store_.Tenant("", true);
  ASSERT_TRUE(ts.ok());
  store::WriteSet ws;
  ws.outbox.push_back({1, json::serialize(record)});
  ASSERT_TRUE((*ts)->Write(ws).ok());
  Notifier notifier(store_, matcher_, resolver_, sender_, nullptr, nullptr);
  ASSERT_TRUE(notifier.Start().ok());
  std::vector<OutboxEntry> entries;
  entries.push_back(std::move(entry));
  notifier.Committed("", std::move(entries));
  EXPECT_TRUE(sender_.WaitFor("urn:s:late"));
  EXPECT_EQ(store_.catch_ups.load(), 2);
  notifier.Stop();
}

TEST_F(NotifierTest, ARecordForASubscriptionThatExistsNowhereIsDroppedAfterOneCatchUp) {
  Notifier notifier(store_, matcher_, resolver_, sender_, nullptr, nullptr);
  ASSERT_TRUE(notifier.Start().ok());
  std::vector<OutboxEntry> entries;
  entries.push_back(Owed(1, "urn:s:gone"));
  notifier.Committed("", std::move(entries));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (store_.catch_ups.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(store_.catch_ups.load(), 1);
  notifier.Stop();
  EXPECT_TRUE(sender_.Sent().empty());
  EXPECT_EQ(notifier.Stats().outbox_records, 0u);
}

// Delivery statuses are kept one key per subscription (hubs delivering different subscriptions
// never overwrite each other's); the one document per tenant an older hub kept is moved there.
TEST_F(NotifierTest, StatusesAreKeptPerSubscriptionAndAnOlderHubsDocumentIsMovedThere) {
  auto made = subscriptions_.Create(
      "", json::parse(R"({"type":"Subscription","id":"urn:s:old","entities":[{"type":"Sensor"}],
                          "notification":{"endpoint":{"uri":"http://receiver.example/"}}})").as_object(),
      *resolver_.Core(), 1);
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto ts = store_.Tenant("", false);
  ASSERT_TRUE(ts.ok());
  ASSERT_TRUE((*ts)->PutMeta("subscription-statuses", R"({"urn:s:old":{"timesSent":7,"failing":false}})").ok());
  {
    Notifier notifier(store_, matcher_, resolver_, sender_, nullptr, &subscriptions_);
    ASSERT_TRUE(notifier.Start().ok());
    EXPECT_EQ(notifier.StatusOf("", "urn:s:old").times_sent, 7u);
    std::vector<OutboxEntry> entries;
    entries.push_back(Owed(1, "urn:s:old"));
    notifier.Committed("", std::move(entries));
    ASSERT_TRUE(sender_.WaitFor("urn:s:old"));
    // The send's outcome reaches the notifier's worker after the sender saw the send.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (notifier.StatusOf("", "urn:s:old").times_sent < 8 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    notifier.Stop();  // stores the statuses
  }
  EXPECT_TRUE((*ts)->GetMeta("subscription-statuses").status().IsNotFound());
  auto stored = (*ts)->GetMeta("subscription-status/urn:s:old");
  ASSERT_TRUE(stored.ok()) << stored.status().message();
  EXPECT_EQ(json::parse(*stored).at("timesSent").to_number<int>(), 8);
}

// The notifier's store writes run on a thread of their own: with the removal of a delivered record
// stuck in the store (its commit queue behind a bulk transaction), the next record — an Alert — is
// sent anyway, the partition counts as being sent until the removal lands, and it does land.
TEST_F(NotifierTest, ASendDoesNotWaitForTheRemovalOfDeliveredRecords) {
  auto made = subscriptions_.Create(
      "", json::parse(R"({"type":"Subscription","id":"urn:s:a","entities":[{"type":"Sensor"}],
                          "notification":{"endpoint":{"uri":"http://receiver.example/"}}})").as_object(),
      *resolver_.Core(), 1);
  ASSERT_TRUE(made.ok()) << made.status().message();
  CountingStore counting(store_);
  ASSERT_TRUE(counting.Tenant("", true).ok());
  std::mutex mutex;
  std::condition_variable changed;
  bool release = false;
  int deletes = 0;
  std::set<uint64_t> removed;
  counting.Of("").before_delete_outbox = [&](const std::vector<uint64_t>& sequences) {
    std::unique_lock lock(mutex);
    ++deletes;
    removed.insert(sequences.begin(), sequences.end());
    changed.notify_all();
    changed.wait(lock, [&] { return release; });
  };
  Notifier notifier(counting, matcher_, resolver_, sender_, nullptr, nullptr);
  ASSERT_TRUE(notifier.Start().ok());
  std::vector<OutboxEntry> first;
  first.push_back(Owed(1, "urn:s:a"));
  notifier.Committed("", std::move(first));
  ASSERT_TRUE(sender_.WaitForSends("urn:s:a", 1));
  bool removing = false;
  {
    std::unique_lock lock(mutex);
    removing = changed.wait_for(lock, 10s, [&] { return deletes > 0; });
  }
  std::vector<OutboxEntry> second;
  second.push_back(Owed(2, "urn:s:a"));
  notifier.Committed("", std::move(second));
  const bool sent_while_removing = sender_.WaitForSends("urn:s:a", 2);
  // Until its delivered records are removed, their partition counts as being sent: it is not
  // handed to another hub, which would send them again.
  ASSERT_NE(counting.outbox_owner, nullptr);
  const size_t sending_while_removing = counting.outbox_owner->Sending(0);
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  bool released = false;
  for (int i = 0; i < 1000 && !released; ++i) {
    released = counting.outbox_owner->Sending(0) == 0;
    if (!released) std::this_thread::sleep_for(10ms);
  }
  notifier.Stop();
  EXPECT_GE(sending_while_removing, 1u);
  EXPECT_TRUE(released) << "the partition stayed counted as sending after the removals landed";
  EXPECT_TRUE(removing) << "the delivered record was never removed";
  EXPECT_TRUE(sent_while_removing) << "the second record waited for the first one's removal";
  EXPECT_EQ(removed, (std::set<uint64_t>{1, 2})) << "each delivered record is removed, the last one at the stop";
}

}  // namespace
}  // namespace cityhub::broker
