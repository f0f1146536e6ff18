#include "security/rate_limiter.h"

#include <algorithm>
#include <functional>

namespace cityhub::security {

bool RateLimiter::Allow(std::string_view key, double* retry_after_s, Clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  if (now - shard.last_sweep > std::chrono::minutes(1) || shard.buckets.size() > kMaxKeys / kShards) {
    // Idle buckets are full again: dropping them changes nothing for their keys.
    const auto idle = shard.buckets.size() > kMaxKeys / kShards ? std::chrono::seconds(0) : std::chrono::seconds(60);
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
      it = now - it->second.last >= idle ? shard.buckets.erase(it) : std::next(it);
    }
    shard.last_sweep = now;
  }
  auto [it, fresh] = shard.buckets.try_emplace(std::string(key), Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.last = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  if (retry_after_s) *retry_after_s = (1 - b.tokens) / rate_;
  return false;
}

bool RateLimiter::Exhausted(std::string_view key, double* retry_after_s, Clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) return false;
  const double elapsed = std::chrono::duration<double>(now - it->second.last).count();
  const double tokens = std::min(burst_, it->second.tokens + elapsed * rate_);
  if (tokens >= 1) return false;
  if (retry_after_s) *retry_after_s = (1 - tokens) / rate_;
  return true;
}

}  // namespace cityhub::security
