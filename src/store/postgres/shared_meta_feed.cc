#include "store/postgres/shared_meta_feed.h"

#include <algorithm>

namespace cityhub::store::pg {

void SharedMetaFeed::Watch(std::string prefix, SharedMetaObserver* observer) {
  std::lock_guard lock(watch_mutex_);
  observers_.emplace_back(std::move(prefix), observer);
  active_.store(true, std::memory_order_release);
}

bool SharedMetaFeed::Watched(std::string_view key) const {
  std::lock_guard lock(watch_mutex_);
  return std::any_of(observers_.begin(), observers_.end(), [&](const auto& o) { return key.starts_with(o.first); });
}

int64_t SharedMetaFeed::Applied(std::string_view tenant) const {
  std::lock_guard lock(apply_mutex_);
  auto it = applied_.find(tenant);
  return it == applied_.end() ? 0 : it->second;
}

void SharedMetaFeed::Skip(std::string_view tenant, int64_t version) {
  std::lock_guard lock(apply_mutex_);
  auto [it, made] = applied_.try_emplace(std::string(tenant), version);
  if (!made) it->second = std::max(it->second, version);
}

void SharedMetaFeed::Unwatch(SharedMetaObserver* observer) {
  std::lock_guard apply_lock(apply_mutex_);
  std::lock_guard lock(watch_mutex_);
  std::erase_if(observers_, [&](const auto& entry) { return entry.second == observer; });
}

void SharedMetaFeed::Apply(std::string_view tenant, std::vector<SharedMetaChange> changes) {
  std::sort(changes.begin(), changes.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  // The observers are read under the apply lock, which Unwatch takes too: once Unwatch returns,
  // no Apply holds a copy naming the observer it removed.
  std::lock_guard lock(apply_mutex_);
  std::vector<std::pair<std::string, SharedMetaObserver*>> observers;
  {
    std::lock_guard watch_lock(watch_mutex_);
    observers = observers_;
  }
  int64_t& applied = applied_.try_emplace(std::string(tenant), 0).first->second;
  for (const SharedMetaChange& change : changes) {
    if (change.version <= applied) continue;
    for (const auto& [prefix, observer] : observers) {
      if (change.key.starts_with(prefix)) observer->SharedMetaChanged(tenant, change.key, change.value);
    }
  }
  // Every change up to the newest found is now applied: a read that found version v saw every
  // change numbered below it (they are numbered in commit order, under the tenant's lock).
  if (!changes.empty()) applied = std::max(applied, changes.back().version);
}

}  // namespace cityhub::store::pg
