// OutboxWriter: the ChangeObserver that turns the subscriptions an entity change fires into
// outbox records, in the same store write as the change (DESIGN §1, at-least-once). One record
// per changed entity that fires at least one subscription:
//   {"at": epoch ms, "entity": stored document (after the change; before it for a deletion),
//    "deleted": bool, "previous": stored document before the change (only when a fired
//    subscription has showChanges), "notify": [[subscription id, trigger], …]}
// Records are numbered per tenant, continuing after a restart from the outbox's last number;
// records of one entity are numbered in the order of its changes (they are made under its
// lock). Once a write is durable its records go to `on_committed` (the Notifier), which
// delivers and removes them.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/entity_service.h"
#include "broker/subscription_matcher.h"

namespace cityhub::broker {

class OutboxWriter : public ChangeObserver {
 public:
  using CommittedFn = std::function<void(std::string_view tenant, std::vector<store::OutboxRecord> records)>;
  explicit OutboxWriter(const SubscriptionMatcher& matcher, CommittedFn on_committed = {})
      : matcher_(matcher), on_committed_(std::move(on_committed)) {}

  bool Watching(std::string_view tenant) const override { return matcher_.Size(tenant) > 0; }
  Status AddTo(std::string_view tenant, store::TenantStore& ts, const std::vector<EntityChange>& changes,
               store::WriteSet& ws) override;
  void Committed(std::string_view tenant, std::vector<store::OutboxRecord> records) override {
    if (on_committed_) on_committed_(tenant, std::move(records));
  }

 private:
  // The next record number of the tenant (the outbox's last + 1 the first time).
  Result<uint64_t> NextSequence(std::string_view tenant, store::TenantStore& ts);

  const SubscriptionMatcher& matcher_;
  const CommittedFn on_committed_;
  std::mutex mutex_;
  std::map<std::string, uint64_t, std::less<>> next_;
};

}  // namespace cityhub::broker
