// Delivery of the outbox by several hubs on one PostgreSQL database (store.h, OutboxOwner;
// outbox_claims.h): two "hubs" are two stores on one database. A partition is owned by one hub at
// a time, the hubs share them fairly, a partition given up is free only once nothing of it is
// being sent, a dead hub's partitions are taken over at once, and the owner of a partition hears
// of every record written to it, by any hub.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/postgres/hub_slot.h"
#include "store/postgres/outbox_claims.h"
#include "store/postgres/postgres_store.h"
#include "test_server.h"

namespace cityhub::store {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// What a hub's notifier would hear, recorded.
class RecordingOwner : public OutboxOwner {
 public:
  void PartitionGained(uint32_t p) override {
    std::lock_guard lock(mutex_);
    owned_.insert(p);
    ++gained_[p];
    changed_.notify_all();
  }
  void PartitionLost(uint32_t p) override {
    std::lock_guard lock(mutex_);
    owned_.erase(p);
    ++lost_[p];
    changed_.notify_all();
  }
  void OutboxWritten(std::string_view tenant, uint32_t p, std::vector<uint64_t> sequences) override {
    std::lock_guard lock(mutex_);
    for (uint64_t s : sequences) written_.insert({std::string(tenant), p, s});
    changed_.notify_all();
  }
  size_t Sending(uint32_t) const override { return sending_.load(); }

  std::set<uint32_t> Owned() {
    std::lock_guard lock(mutex_);
    return owned_;
  }
  int Lost(uint32_t p) {
    std::lock_guard lock(mutex_);
    return lost_[p];
  }
  bool Heard(const std::string& tenant, uint32_t p, uint64_t s) {
    std::lock_guard lock(mutex_);
    return written_.contains({tenant, p, s});
  }
  // Waits (with a deadline) until `done` holds of what is owned.
  template <typename Pred>
  bool WaitOwned(Pred done, std::chrono::milliseconds deadline = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return done(owned_); });
  }
  bool WaitHeard(const std::string& tenant, uint32_t p, uint64_t s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return written_.contains({tenant, p, s}); });
  }

  std::atomic<size_t> sending_{0};

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<uint32_t> owned_;
  std::map<uint32_t, int> gained_, lost_;
  std::set<std::tuple<std::string, uint32_t, uint64_t>> written_;
};

class PgDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(database_.ok());
    options_.conninfo = database_.uri();
  }
  std::unique_ptr<Store> Open() {
    auto s = OpenPostgresStore(options_);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Ends the database session holding `partition`'s lock (a hub killed, its connection cut).
  void KillHolderOf(uint32_t partition) { KillLockHolder(pg::kOutboxLockClass, partition); }
  // Ends the database session holding the advisory lock (`lock_class`, `key`).
  void KillLockHolder(int32_t lock_class, uint32_t key) {
    auto admin = database_.Admin();
    ASSERT_TRUE(admin);
    auto killed = admin->Exec(
        "test",
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid "
        "AND objid = $2::bigint::oid AND objsubid = 2 AND granted "
        // (this test's database only: ctest runs other tests' hubs beside it, with their own)
        "AND database = (SELECT oid FROM pg_database WHERE datname = $3)",
        {pg::Param::Int(lock_class), pg::Param::Int(key), pg::Param::Text(database_.name())});
    ASSERT_TRUE(killed.ok()) << killed.status().message();
    ASSERT_EQ(killed->size(), 1u);
  }
  static bool Disjoint(const std::set<uint32_t>& a, const std::set<uint32_t>& b) {
    return std::none_of(a.begin(), a.end(), [&](uint32_t p) { return b.contains(p); });
  }

  testing::TestDatabase database_{"cityhub_pgdelivery"};
  PostgresStoreOptions options_;
};

// One hub alone owns every partition as soon as it starts delivering; a second one gets its
// fair half from it, and no partition is ever owned by both.
TEST_F(PgDeliveryTest, HubsSharePartitionsFairlyAndNeverOwnOneTogether) {
  RecordingOwner at_a, at_b;  // before the stores: they call them until they close
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->OutboxPartitions(), pg::kOutboxPartitions);
  ASSERT_TRUE(a->DeliverOutbox(&at_a).ok());
  EXPECT_EQ(at_a.Owned().size(), pg::kOutboxPartitions);  // before DeliverOutbox returned
  ASSERT_TRUE(b->DeliverOutbox(&at_b).ok());
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && at_b.Owned().size() < pg::kOutboxPartitions / 2) {
    EXPECT_TRUE(Disjoint(at_a.Owned(), at_b.Owned()));
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(at_a.Owned().size(), pg::kOutboxPartitions / 2);
  EXPECT_EQ(at_b.Owned().size(), pg::kOutboxPartitions / 2);
  EXPECT_TRUE(Disjoint(at_a.Owned(), at_b.Owned()));
  a->StopDeliveringOutbox();
  b->StopDeliveringOutbox();
}

// A partition given up for the other hub's share stays locked while its records are being sent:
// the next owner never sends one of them at the same time.
TEST_F(PgDeliveryTest, APartitionGivenUpIsFreeOnlyOnceNothingOfItIsBeingSent) {
  RecordingOwner at_a, at_b;
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  at_a.sending_ = 1;
  ASSERT_TRUE(a->DeliverOutbox(&at_a).ok());
  ASSERT_TRUE(b->DeliverOutbox(&at_b).ok());
  // A stops delivering half of them (told they are lost) but keeps them locked.
  ASSERT_TRUE(at_a.WaitOwned([](const auto& o) { return o.size() == pg::kOutboxPartitions / 2; }));
  std::this_thread::sleep_for(1500ms);  // three rounds of claiming
  EXPECT_TRUE(at_b.Owned().empty());
  at_a.sending_ = 0;
  ASSERT_TRUE(at_b.WaitOwned([](const auto& o) { return o.size() == pg::kOutboxPartitions / 2; }));
  EXPECT_TRUE(Disjoint(at_a.Owned(), at_b.Owned()));
}

// A hub whose session ends (killed, its connection cut) frees its partitions: the other hub takes
// them all within a round or two, and the first is told it lost them before it takes any back.
TEST_F(PgDeliveryTest, TheOtherHubTakesOverWhenTheOwnersSessionEnds) {
  RecordingOwner at_a, at_b;
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->DeliverOutbox(&at_a).ok());
  ASSERT_TRUE(b->DeliverOutbox(&at_b).ok());
  ASSERT_TRUE(at_b.WaitOwned([](const auto& o) { return o.size() == pg::kOutboxPartitions / 2; }));
  const std::set<uint32_t> was_a = at_a.Owned();
  ASSERT_FALSE(was_a.empty());
  const auto killed_at = Clock::now();
  KillHolderOf(*was_a.begin());
  ASSERT_TRUE(at_b.WaitOwned([&](const auto& o) {
    return std::all_of(was_a.begin(), was_a.end(), [&](uint32_t p) { return o.contains(p); });
  }));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at);
  EXPECT_LT(took, 3s);
  std::printf("takeover of %zu partitions: %lld ms\n", was_a.size(), static_cast<long long>(took.count()));
  for (uint32_t p : was_a) EXPECT_GE(at_a.Lost(p), 1) << "partition " << p;
  // A comes back (a new session) and gets its share again; never two owners meanwhile.
  ASSERT_TRUE(at_a.WaitOwned([](const auto& o) { return o.size() == pg::kOutboxPartitions / 2; }));
  EXPECT_TRUE(Disjoint(at_a.Owned(), at_b.Owned()));
}

// A record written by one hub, numbered by the database, reaches the owner of its partition on
// another hub (NOTIFY at commit), and can be read by partition and by number.
TEST_F(PgDeliveryTest, TheOwnerOfAPartitionHearsOfRecordsWrittenByAnyHub) {
  RecordingOwner at_a;
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->DeliverOutbox(&at_a).ok());
  auto on_b = b->Tenant("gumi", true);
  ASSERT_TRUE(on_b.ok());
  uint64_t first = 0, second = 0;
  WriteSet ws;
  ws.outbox = {{0, "to 5", &first, 5}, {0, "to 9", &second, 9}};
  ASSERT_TRUE((*on_b)->Write(ws).ok());
  EXPECT_TRUE(at_a.WaitHeard("gumi", 5, first));
  EXPECT_TRUE(at_a.WaitHeard("gumi", 9, second));
  EXPECT_FALSE(at_a.Heard("gumi", 5, second));
  auto on_a = a->Tenant("gumi", false);
  ASSERT_TRUE(on_a.ok());
  std::vector<std::pair<uint64_t, std::string>> read;
  auto collect = [&](uint64_t s, std::string_view v) {
    read.emplace_back(s, std::string(v));
    return true;
  };
  ASSERT_TRUE((*on_a)->ScanOutboxPartition(9, collect).ok());
  EXPECT_EQ(read, (std::vector<std::pair<uint64_t, std::string>>{{second, "to 9"}}));
  read.clear();
  ASSERT_TRUE((*on_a)->ReadOutbox({second, first, 12345}, collect).ok());
  EXPECT_EQ(read, (std::vector<std::pair<uint64_t, std::string>>{{first, "to 5"}, {second, "to 9"}}));
  WriteSet bad;
  bad.outbox = {{0, "nowhere", nullptr, pg::kOutboxPartitions}};
  EXPECT_EQ((*on_b)->Write(bad).code(), Status::Code::kInternal);
}

// Hub slots (store/hub_slot.h): every hub on one database holds a slot no other hub holds, the
// lowest free one; a hub's slot is free once it stops; a lost session takes its slot again; and
// past kHubSlots hubs a hub is refused with the reason.
TEST_F(PgDeliveryTest, EveryHubOnTheDatabaseHoldsASlotOfItsOwn) {
  std::mutex mutex;
  std::vector<uint32_t> taken;  // every slot taken, in order, by any lock of this test
  auto start = [&]() -> std::unique_ptr<pg::HubSlotLock> {
    pg::HubSlotOptions o;
    o.conninfo = database_.uri();
    o.interval = 100ms;
    o.taken = [&](HubSlot slot) {
      EXPECT_EQ(slot.slots, pg::kHubSlots);
      std::lock_guard lock(mutex);
      taken.push_back(slot.slot);
    };
    auto started = pg::HubSlotLock::Start(std::move(o));
    EXPECT_TRUE(started.ok()) << started.status().message();
    return started.ok() ? std::move(*started) : nullptr;
  };
  auto a = start(), b = start(), c = start();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(std::set<uint32_t>({a->slot().slot, b->slot().slot, c->slot().slot}), (std::set<uint32_t>{0, 1, 2}));
  const uint32_t freed = b->slot().slot;
  b.reset();
  auto d = start();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->slot().slot, freed);

  // a's session is cut (the server restarted, the connection broke): it takes its slot again.
  const uint32_t lost = a->slot().slot;
  KillLockHolder(pg::kHubSlotClass, lost);
  size_t before = 0;
  {
    std::lock_guard lock(mutex);
    before = taken.size();
  }
  bool again = false;
  for (int i = 0; i < 200 && !again; ++i) {
    std::this_thread::sleep_for(50ms);
    std::lock_guard lock(mutex);
    again = taken.size() > before && taken.back() == lost;
  }
  EXPECT_TRUE(again) << "the slot of the lost session was not taken again";
  EXPECT_EQ(a->slot().slot, lost);
  auto admin = database_.Admin();
  ASSERT_TRUE(admin);
  auto held = admin->Exec("test",
                          "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid "
                          "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = $2)",
                          {pg::Param::Int(pg::kHubSlotClass), pg::Param::Text(database_.name())});
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->Get(0, 0), "3");

  // Every slot held: one more hub is refused.
  std::vector<std::unique_ptr<pg::HubSlotLock>> more;
  for (uint32_t i = 3; i < pg::kHubSlots; ++i) {
    more.push_back(start());
    ASSERT_TRUE(more.back());
  }
  pg::HubSlotOptions o;
  o.conninfo = database_.uri();
  auto refused = pg::HubSlotLock::Start(std::move(o));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(refused.status().message().find("no hub slot is free"), std::string::npos) << refused.status().message();
}

TEST(OutboxNoticeTest, ParsesWhatTheWriteSends) {
  uint32_t p = 0;
  std::vector<uint64_t> seqs;
  std::string tenant;
  ASSERT_TRUE(pg::ParseOutboxNotice("7 3,11,12 gumi", &p, &seqs, &tenant));
  EXPECT_EQ(p, 7u);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 11, 12}));
  EXPECT_EQ(tenant, "gumi");
  ASSERT_TRUE(pg::ParseOutboxNotice("0  ", &p, &seqs, &tenant));  // too many to name; default tenant
  EXPECT_TRUE(seqs.empty());
  EXPECT_EQ(tenant, "");
  EXPECT_FALSE(pg::ParseOutboxNotice("x 1 t", &p, &seqs, &tenant));
  EXPECT_FALSE(pg::ParseOutboxNotice("1 1,y t", &p, &seqs, &tenant));
  EXPECT_FALSE(pg::ParseOutboxNotice("1", &p, &seqs, &tenant));
}

}  // namespace
}  // namespace cityhub::store
