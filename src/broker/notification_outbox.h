// The notification outbox (DESIGN §1, at-least-once): OutboxWriter is the ChangeObserver that
// turns the subscriptions an entity change fires into outbox records, in the same store write
// as the change. One record per changed entity that fires at least one subscription:
//   {"at": epoch ms, "entity": stored document (after the change; before it for a deletion),
//    "deleted": bool, "previous": stored document before the change (when a fired subscription
//    has showChanges, or the change deleted attributes), "notify": [[subscription id, trigger], …]}
// Records are numbered per tenant: by the store, inside the write's transaction, when it numbers
// the outbox (store.h: a store several hubs share); else here, continuing after a restart from
// the outbox's last number. Either way records of one entity are numbered in the order of its
// changes (made under its lock; the store numbers them after locking its rows). Once a write is durable its records go, already in memory as OutboxEntry, to
// `on_committed` (the Notifier), which delivers and removes them; ParseOutboxRecord reads the
// records a previous run left. This file is the one place that knows the record's layout.
//
// With several delivery partitions (store.h, OutboxOwner) a change owes one record per partition
// among those of the subscriptions it fires, each naming its partition's subscriptions: a
// record is then delivered, and removed, by one hub alone. (The alternative, one record naming
// several partitions, would need every owner to strike its part off the shared row.)
//
// A context source registration change (§5.11) owes records too, written in the same store write
// as the registration (RegistrationService's write hook): one per triggerReason among the
// context source registration subscriptions it concerns,
//   {"at": epoch ms, "registrations": [stored registration (after the change; before it for a
//    deletion)], "reason": "newlyMatching" | "updated" | "noLongerMatching",
//    "notify": [[subscription id, reason], …]}
// and so does the creation of such a subscription (its first notification: every registration
// it matches then, "newlyMatching"), in the same write as the subscription.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "broker/entity_service.h"
#include "broker/subscription_matcher.h"

namespace cityhub::broker {

// One outbox record in memory.
struct OutboxEntry {
  uint64_t sequence = 0;
  uint32_t partition = 0;                  // the delivery partition of its subscriptions
  int64_t at_ms = 0;
  bool deleted = false;
  ngsild::Entity entity;                   // after the change (before it, for a deletion)
  std::optional<ngsild::Entity> previous;  // before the change, for showChanges or deleted attributes
  std::vector<std::string> subscriptions;  // ids of the subscriptions owed a notification
  // Registrations instead of an entity (then `entity` is empty and `subscriptions` are context
  // source registration subscriptions): the stored registrations and the triggerReason
  // (§5.3.2) every one of them is notified with. Empty for an entity record.
  std::vector<boost::json::object> registrations;
  std::string reason;
};

// Reads a stored record. Internal if it is unreadable.
Result<OutboxEntry> ParseOutboxRecord(uint64_t sequence, std::string_view value);

// The delivery partition of a subscription's records among `partitions` (store.h, OutboxOwner): a
// hash of its id, the same in every hub and every run, so one hub at a time sends a given
// subscription's notifications, in order.
uint32_t OutboxPartitionOf(std::string_view subscription, uint32_t partitions);

class OutboxWriter : public ChangeObserver {
 public:
  using CommittedFn = std::function<void(std::string_view tenant, std::vector<OutboxEntry> entries)>;
  explicit OutboxWriter(const SubscriptionMatcher& matcher, CommittedFn on_committed = {})
      : matcher_(matcher), on_committed_(std::move(on_committed)) {}

  bool Watching(std::string_view tenant) const override { return matcher_.Size(tenant) > 0; }
  Status AddTo(std::string_view tenant, store::TenantStore& ts, const std::vector<EntityChange>& changes,
               store::WriteSet& ws, std::unique_ptr<PendingChanges>* pending) override;
  void Committed(std::string_view tenant, std::unique_ptr<PendingChanges> pending) override;

  // The context source registration subscriptions (a matcher of their own); set before serving.
  void SetCsourceMatcher(const SubscriptionMatcher* csource) { csource_ = csource; }
  // Adds to `ws` the records a registration change owes (before null: created; after null:
  // deleted or expired; `before` judged at `before_at_ms`, 0: now) and returns what hands them to `on_committed` once `ws` is durable (nothing to do
  // when none is owed). The caller serialises the changes of a tenant's registrations.
  Result<std::function<void()>> AddRegistrationChange(std::string_view tenant, store::TenantStore& ts,
                                                      const boost::json::object* before,
                                                      const boost::json::object* after, int64_t before_at_ms,
                                                      store::WriteSet& ws);
  // Adds to `ws` the first notification of the context source registration subscription
  // `subscription`, just created: the `registrations` (stored forms) it matches, newlyMatching
  // (§5.3.2: "This value is used in the first notification"); nothing when it matches none.
  // Returns what hands the record over once `ws` is durable.
  Result<std::function<void()>> AddFirstNotification(std::string_view tenant, store::TenantStore& ts,
                                                     const CompiledSubscription& subscription,
                                                     const std::vector<boost::json::object>& registrations,
                                                     store::WriteSet& ws);

 private:
  // Numbers and serializes registration records into `ws`; returns their hand-over.
  Result<std::function<void()>> AddRegistrationRecords(std::string_view tenant, store::TenantStore& ts,
                                                       std::vector<OutboxEntry> entries, store::WriteSet& ws);
  // The next record number of the tenant (the outbox's last + 1 the first time); 0 when the
  // store numbers the outbox (it fills the number in).
  Result<uint64_t> NextSequence(std::string_view tenant, store::TenantStore& ts);

  const SubscriptionMatcher& matcher_;
  const SubscriptionMatcher* csource_ = nullptr;
  const CommittedFn on_committed_;
  std::mutex mutex_;
  std::map<std::string, uint64_t, std::less<>> next_;
};

}  // namespace cityhub::broker
