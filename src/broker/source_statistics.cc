#include "broker/source_statistics.h"

#include <algorithm>

namespace cityhub::broker {

void SourceStatistics::Record(std::string_view registration_id, bool succeeded, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(registration_id);
  if (it == by_id_.end()) {
    if (by_id_.size() >= kMaxRegistrations) {
      by_id_.erase(std::min_element(by_id_.begin(), by_id_.end(), [](const auto& a, const auto& b) {
        return a.second.touched < b.second.touched;
      }));
    }
    it = by_id_.emplace(std::string(registration_id), Entry{}).first;
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

std::optional<RegistrationFigures> SourceStatistics::Of(std::string_view registration_id) const {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(registration_id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second.figures;
}

void SourceStatistics::Forget(std::string_view registration_id) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(registration_id);
  if (it != by_id_.end()) by_id_.erase(it);
}

}  // namespace cityhub::broker
