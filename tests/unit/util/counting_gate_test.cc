#include "util/counting_gate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace cityhub::util {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `done` for up to 10 s; true once it holds.
template <typename F>
bool Eventually(F done) {
  const auto deadline = Clock::now() + 10s;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(CountingGateTest, AtMostCapacityHoldersAtOnceAcrossManyThreads) {
  constexpr size_t kCapacity = 3;
  constexpr int kThreads = 16;
  constexpr int kRounds = 20;
  CountingGate gate(kCapacity);
  std::atomic<int> inside{0};
  std::atomic<int> peak{0};
  std::atomic<int> entered{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        auto permit = gate.AcquireFor(30s);
        if (!permit) {
          ++refused;
          continue;
        }
        int now = ++inside;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        ++entered;
        std::this_thread::sleep_for(300us);
        --inside;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(refused.load(), 0);
  EXPECT_EQ(entered.load(), kThreads * kRounds);
  EXPECT_LE(peak.load(), static_cast<int>(kCapacity));
  EXPECT_EQ(peak.load(), static_cast<int>(kCapacity));  // 16 threads contending fill the gate
  EXPECT_EQ(gate.in_use(), 0u);
  EXPECT_EQ(gate.waiting(), 0u);
}

TEST(CountingGateTest, TimedOutAcquireReportsFailureAndTakesNothing) {
  CountingGate gate(2);
  auto a = gate.AcquireFor(0s);
  auto b = gate.AcquireFor(0s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(gate.in_use(), 2u);

  const auto start = Clock::now();
  auto c = gate.AcquireFor(50ms);
  EXPECT_FALSE(c);
  EXPECT_FALSE(c.held());
  EXPECT_GE(Clock::now() - start, 50ms);
  EXPECT_EQ(gate.in_use(), 2u);
  EXPECT_EQ(gate.waiting(), 0u);  // the timed-out caller left the queue
  EXPECT_FALSE(gate.AcquireFor(0s));

  // Releasing after the timeout returns the place to the gate, not to the departed waiter.
  a.Release();
  EXPECT_EQ(gate.in_use(), 1u);
  auto d = gate.AcquireFor(0s);
  EXPECT_TRUE(d);
  EXPECT_EQ(gate.in_use(), 2u);
}

TEST(CountingGateTest, ReleaseWakesAWaiterBeforeItsDeadline) {
  CountingGate gate(1);
  auto held = gate.AcquireFor(0s);
  ASSERT_TRUE(held);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto p = gate.AcquireFor(30s);
    got = p.held();
  });
  ASSERT_TRUE(Eventually([&] { return gate.waiting() == 1; }));
  EXPECT_FALSE(got.load());
  const auto start = Clock::now();
  held.Release();
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(gate.in_use(), 0u);
}

TEST(CountingGateTest, WaitersAreServedInArrivalOrder) {
  CountingGate gate(1);
  auto held = gate.AcquireFor(0s);
  ASSERT_TRUE(held);
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&, i] {
      auto p = gate.AcquireFor(30s);
      ASSERT_TRUE(p);
      std::lock_guard lock(mu);
      order.push_back(i);
    });
    // Start the next waiter only once this one is queued.
    ASSERT_TRUE(Eventually([&] { return gate.waiting() == static_cast<size_t>(i + 1); }));
  }
  held.Release();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(CountingGateTest, ANewcomerDoesNotOvertakeAQueuedWaiter) {
  CountingGate gate(1);
  auto held = gate.AcquireFor(0s);
  ASSERT_TRUE(held);
  std::atomic<bool> waiter_got{false};
  std::thread waiter([&] {
    auto p = gate.AcquireFor(30s);
    waiter_got = p.held();
    std::this_thread::sleep_for(50ms);  // keep it while the newcomer tries
  });
  ASSERT_TRUE(Eventually([&] { return gate.waiting() == 1; }));
  held.Release();
  // The place went to the queued waiter, so a newcomer with no patience gets nothing.
  EXPECT_FALSE(gate.AcquireFor(0s));
  waiter.join();
  EXPECT_TRUE(waiter_got.load());
  EXPECT_TRUE(gate.AcquireFor(0s));
}

TEST(CountingGateTest, PermitsMoveAndReleaseExactlyOnce) {
  CountingGate gate(2);
  {
    auto a = gate.AcquireFor(0s);
    CountingGate::Permit b = std::move(a);
    EXPECT_FALSE(a);
    EXPECT_TRUE(b);
    EXPECT_EQ(gate.in_use(), 1u);
    CountingGate::Permit c = gate.AcquireFor(0s);
    EXPECT_EQ(gate.in_use(), 2u);
    c = std::move(b);  // c's own place is released, b's carried over
    EXPECT_EQ(gate.in_use(), 1u);
    c.Release();
    c.Release();
    EXPECT_EQ(gate.in_use(), 0u);
  }
  EXPECT_EQ(gate.in_use(), 0u);
}

TEST(CountingGateTest, ZeroCapacityIsOne) {
  CountingGate gate(0);
  EXPECT_EQ(gate.capacity(), 1u);
  auto a = gate.AcquireFor(0s);
  EXPECT_TRUE(a);
  EXPECT_FALSE(gate.AcquireFor(1ms));
}

}  // namespace
}  // namespace cityhub::util
