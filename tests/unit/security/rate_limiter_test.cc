// Tests for security/rate_limiter: buckets per key, refill over time, and Exhausted, which looks
// without taking (what the API uses to refuse a flooding address before any work).
#include "security/rate_limiter.h"

#include <gtest/gtest.h>

namespace cityhub::security {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiterTest, BucketsArePerKeyAndRefill) {
  RateLimiter limiter(2, 3);  // 2 per second, burst 3
  const auto t0 = RateLimiter::Clock::now();
  double retry = 0;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", &retry, t0));
  EXPECT_FALSE(limiter.Allow("a", &retry, t0));
  EXPECT_NEAR(retry, 0.5, 1e-9);
  EXPECT_TRUE(limiter.Allow("b", &retry, t0));  // another key is untouched
  EXPECT_TRUE(limiter.Allow("a", &retry, t0 + 500ms));
  EXPECT_FALSE(limiter.Allow("a", &retry, t0 + 500ms));
}

TEST(RateLimiterTest, ExhaustedLooksWithoutTaking) {
  RateLimiter limiter(1, 2);
  const auto t0 = RateLimiter::Clock::now();
  double retry = 0;
  EXPECT_FALSE(limiter.Exhausted("never-seen", &retry, t0));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(limiter.Exhausted("a", &retry, t0));  // takes nothing
  EXPECT_TRUE(limiter.Allow("a", &retry, t0));
  EXPECT_FALSE(limiter.Exhausted("a", &retry, t0));
  EXPECT_TRUE(limiter.Allow("a", &retry, t0));
  EXPECT_TRUE(limiter.Exhausted("a", &retry, t0));
  EXPECT_NEAR(retry, 1.0, 1e-9);
  EXPECT_TRUE(limiter.Exhausted("a", &retry, t0 + 900ms));
  EXPECT_FALSE(limiter.Exhausted("a", &retry, t0 + 1s));  // refilled
  EXPECT_FALSE(limiter.Exhausted("b", &retry, t0));
}

}  // namespace
}  // namespace cityhub::security
