/* Per-source admission for distributed operations.
 *
 * A federated hub that has gone away must not cost every query its full timeout, and a hub
 * that is slow must not be buried under more concurrent requests than it can answer. Both are
 * decided here under one mutex: the state per source is three numbers, and the critical
 * section is a map lookup, so a lock is cheaper than anything cleverer. The cooldown starts at
 * the end of the failed request (not its start): a source that times out after 3 s with a 10 s
 * cooldown is next asked 13 s after the first attempt. There is no half-open probing: when the
 * cooldown ends the next request is sent as usual and its outcome decides.
 */
#include "broker/source_health.h"

#include <fmt/format.h>

namespace cityhub::broker {

SourceHealth::SourceHealth(Options options) : options_(options) {}

SourceHealth::Admission SourceHealth::TryAcquire(std::string_view source, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= options_.max_sources) ForgetIdle(now);
    it = sources_.emplace(std::string(source), State{}).first;
  }
  State& s = it->second;
  if (now < s.cool_until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(s.cool_until - now);
    return {false, fmt::format("cooling down after a failure ({} ms left)", left.count())};
  }
  if (s.in_flight >= options_.max_in_flight) {
    return {false, fmt::format("too many requests in flight ({})", s.in_flight)};
  }
  ++s.in_flight;
  return {true, {}};
}

void SourceHealth::Release(std::string_view source, bool succeeded, std::optional<std::chrono::milliseconds> cooldown,
                           Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = sources_.find(source);
  if (it == sources_.end()) return;  // forgotten while busy cannot happen: busy ones are kept
  State& s = it->second;
  if (s.in_flight > 0) --s.in_flight;
  if (succeeded) return;
  const std::chrono::milliseconds pause = cooldown.value_or(options_.cooldown);
  if (pause.count() > 0) s.cool_until = std::max(s.cool_until, now + pause);
}

size_t SourceHealth::InFlight(std::string_view source) const {
  std::lock_guard lock(mutex_);
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.in_flight;
}

// Drops the sources with nothing to remember: no request open and no cooldown running.
void SourceHealth::ForgetIdle(Clock::time_point now) {
  std::erase_if(sources_, [now](const auto& entry) {
    return entry.second.in_flight == 0 && entry.second.cool_until <= now;
  });
}

}  // namespace cityhub::broker
