// RateLimiter: request rate limits — a token bucket per key (a principal's subject, or a client
// address for failed authentications), refilled at `rate` requests per second up to `burst`. Buckets of
// keys not seen for a minute are dropped, and at most kMaxKeys are held (the oldest go first),
// so many distinct callers cannot exhaust memory. Thread-safe; sharded to keep contention low.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cityhub::security {

class RateLimiter {
 public:
  static constexpr size_t kMaxKeys = 100'000;
  using Clock = std::chrono::steady_clock;

  RateLimiter(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst < 1 ? 1 : burst) {}

  // Takes one token of `key`'s bucket; false when empty, with the seconds until the next token.
  bool Allow(std::string_view key, double* retry_after_s, Clock::time_point now = Clock::now());
  // True when `key`'s bucket holds no whole token now, with the seconds until it does; takes
  // nothing. A key never seen has a full bucket.
  bool Exhausted(std::string_view key, double* retry_after_s, Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
    Clock::time_point last_sweep;
  };
  static constexpr size_t kShards = 16;

  const double rate_;
  const double burst_;
  std::array<Shard, kShards> shards_;
};

}  // namespace cityhub::security
