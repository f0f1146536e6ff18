// SharedMetaFeed: the PostgreSQL store's bookkeeping for metadata every hub holds in memory
// (store.h, SharedMetaObserver) — which prefixes are watched and by whom, and per tenant the
// last change this hub has applied. The store finds the changes (a table of the last version of
// each announced key, read after the version this feed has applied); the feed hands each newer
// one to the observers of its prefix, in version order, and skips what it already applied, so a
// change found twice (by the listener and by a writer) is applied once.
// Thread-safe. Apply calls the observers one change at a time, holding the feed's apply lock
// but not the one Watched takes: an observer may write metadata nobody watches, never watched
// metadata or entities (Apply may run inside an Update, whose lock such a write would wait for).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/store.h"

namespace cityhub::store::pg {

// One announced key as a read found it: the version of its last change and its value then.
struct SharedMetaChange {
  int64_t version = 0;
  std::string key;
  std::optional<std::string> value;  // nullopt: deleted
};

class SharedMetaFeed {
 public:
  void Watch(std::string prefix, SharedMetaObserver* observer);
  // Forgets `observer`; waits for an Apply calling it to finish.
  void Unwatch(SharedMetaObserver* observer);
  // True once anything is watched: only then do writes announce and Updates catch up.
  bool Active() const { return active_.load(std::memory_order_acquire); }
  // True if a change of `key` is announced (some observer watches its prefix).
  bool Watched(std::string_view key) const;
  // The version of the last change of `tenant` applied here (0: none yet).
  int64_t Applied(std::string_view tenant) const;
  // Records that this hub's state of `tenant` already reflects every change up to `version`
  // (read at start-up, before the observers load that metadata); never lowers it.
  void Skip(std::string_view tenant, int64_t version);
  // Hands the changes newer than Applied(tenant) to their observers, in version order.
  void Apply(std::string_view tenant, std::vector<SharedMetaChange> changes);

 private:
  mutable std::mutex watch_mutex_;  // guards observers_
  std::vector<std::pair<std::string, SharedMetaObserver*>> observers_;
  mutable std::mutex apply_mutex_;  // guards applied_ and orders Apply calls
  std::map<std::string, int64_t, std::less<>> applied_;
  std::atomic<bool> active_{false};
};

}  // namespace cityhub::store::pg
