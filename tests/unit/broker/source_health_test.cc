// Tests for SourceHealth's rules with explicit times (GS CIM 009 §5.2.34 management.cooldown:
// after a failed distributed operation the source is left alone for the cooldown), and its
// thread-safety under concurrent admissions.
#include "broker/source_health.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace cityhub::broker {
namespace {

using namespace std::chrono_literals;
using Clock = SourceHealth::Clock;

TEST(SourceHealthTest, AFailureStartsTheCooldownAndASkipSaysWhy) {
  SourceHealth health(SourceHealth::Options{.max_in_flight = 4, .cooldown = 1000ms});
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(health.TryAcquire("http://a", t0).admitted);
  health.Release("http://a", false, std::nullopt, t0 + 100ms);
  SourceHealth::Admission during = health.TryAcquire("http://a", t0 + 600ms);
  EXPECT_FALSE(during.admitted);
  EXPECT_EQ(during.reason, "cooling down after a failure (500 ms left)");
  EXPECT_TRUE(health.TryAcquire("http://b", t0 + 600ms).admitted) << "other sources are not affected";
  EXPECT_TRUE(health.TryAcquire("http://a", t0 + 1100ms).admitted) << "the cooldown ends";
}

TEST(SourceHealthTest, TheRegistrationsCooldownOverridesTheDefaultAndZeroMeansNone) {
  SourceHealth health(SourceHealth::Options{.max_in_flight = 4, .cooldown = 10s});
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(health.TryAcquire("http://a", t0).admitted);
  health.Release("http://a", false, 200ms, t0);
  EXPECT_FALSE(health.TryAcquire("http://a", t0 + 100ms).admitted);
  ASSERT_TRUE(health.TryAcquire("http://a", t0 + 250ms).admitted);
  health.Release("http://a", false, 0ms, t0 + 250ms);
  EXPECT_TRUE(health.TryAcquire("http://a", t0 + 251ms).admitted);
}

TEST(SourceHealthTest, ASuccessStartsNoCooldown) {
  SourceHealth health;
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(health.TryAcquire("http://a", t0).admitted);
  health.Release("http://a", true, std::nullopt, t0);
  EXPECT_TRUE(health.TryAcquire("http://a", t0 + 1ms).admitted);
}

TEST(SourceHealthTest, AtMostMaxInFlightRequestsPerSource) {
  SourceHealth health(SourceHealth::Options{.max_in_flight = 2, .cooldown = 1s});
  const Clock::time_point t0 = Clock::now();
  EXPECT_TRUE(health.TryAcquire("http://a", t0).admitted);
  EXPECT_TRUE(health.TryAcquire("http://a", t0).admitted);
  SourceHealth::Admission third = health.TryAcquire("http://a", t0);
  EXPECT_FALSE(third.admitted);
  EXPECT_EQ(third.reason, "too many requests in flight (2)");
  EXPECT_EQ(health.InFlight("http://a"), 2u);
  health.Release("http://a", true, std::nullopt, t0);
  EXPECT_TRUE(health.TryAcquire("http://a", t0).admitted);
}

TEST(SourceHealthTest, IdleSourcesAreForgottenBeyondTheBoundButBusyOnesAreKept) {
  SourceHealth health(SourceHealth::Options{.max_in_flight = 1, .cooldown = 1s, .max_sources = 2});
  const Clock::time_point t0 = Clock::now();
  ASSERT_TRUE(health.TryAcquire("http://busy", t0).admitted);
  ASSERT_TRUE(health.TryAcquire("http://idle", t0).admitted);
  health.Release("http://idle", true, std::nullopt, t0);
  ASSERT_TRUE(health.TryAcquire("http://new", t0).admitted);
  EXPECT_EQ(health.InFlight("http://busy"), 1u);
  EXPECT_FALSE(health.TryAcquire("http://busy", t0).admitted);
}

TEST(SourceHealthTest, ConcurrentAdmissionsNeverExceedTheLimit) {
  SourceHealth health(SourceHealth::Options{.max_in_flight = 3, .cooldown = 0ms});
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (!health.TryAcquire("http://a").admitted) continue;
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --inside;
        health.Release("http://a", true, std::nullopt);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(health.InFlight("http://a"), 0u);
}

}  // namespace
}  // namespace cityhub::broker
