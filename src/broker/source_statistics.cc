#include "broker/source_statistics.h"

#include <algorithm>

namespace cityhub::broker {

namespace {
// Tenant names hold no newline, so the key is unambiguous.
std::string Key(std::string_view tenant, std::string_view registration_id) {
  std::string key(tenant);
  key += '\n';
  key += registration_id;
  return key;
}
}  // namespace

void SourceStatistics::Record(std::string_view tenant, std::string_view registration_id, bool succeeded, int64_t now_ms) {
  const std::string key = Key(tenant, registration_id);
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(key);
  if (it == by_id_.end()) {
    if (by_id_.size() >= kMaxRegistrations) {
      by_id_.erase(std::min_element(by_id_.begin(), by_id_.end(), [](const auto& a, const auto& b) {
        return a.second.touched < b.second.touched;
      }));
    }
    it = by_id_.emplace(key, Entry{}).first;
  }
  Entry& e = it->second;
  e.touched = ++clock_;
  ++e.figures.times_sent;
  e.figures.last_failed = !succeeded;
  if (succeeded) {
    e.figures.last_success_ms = now_ms;
  } else {
    ++e.figures.times_failed;
    e.figures.last_failure_ms = now_ms;
  }
}

std::optional<RegistrationFigures> SourceStatistics::Of(std::string_view tenant, std::string_view registration_id) const {
  const std::string key = Key(tenant, registration_id);
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(key);
  if (it == by_id_.end()) return std::nullopt;
  return it->second.figures;
}

void SourceStatistics::Forget(std::string_view tenant, std::string_view registration_id) {
  const std::string key = Key(tenant, registration_id);
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(key);
  if (it != by_id_.end()) by_id_.erase(it);
}

}  // namespace cityhub::broker
