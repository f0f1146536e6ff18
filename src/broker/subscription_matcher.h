// SubscriptionMatcher: which subscriptions a committed entity change triggers (GS CIM 009 §5.8,
// §4.5 notification triggers). Subscriptions are compiled once (q, geoQ, scopeQ, idPatterns)
// and indexed per tenant by the entity ids or else the types their selectors name, or else by
// their watched attributes, so a change evaluates only the subscriptions that could care about
// it: 10,000 subscriptions on one entity each cost an update one lookup, not 10,000 tests.
//
// When a change fires a subscription (documented in docs/API.md, "Subscriptions"):
//   - it is active (isActive, not past expiresAt) and not periodic (no timeInterval);
//   - the entity (after the change; before it for a deletion) matches one of the selectors
//     (a type it has; the id, or else the idPattern, when given);
//   - one of its notificationTrigger kinds happened: entityCreated, entityDeleted; per attribute
//     instance (datasetId) attributeCreated / attributeUpdated (any rewrite of an instance,
//     even to the same value, since modifiedAt changes) / attributeDeleted, of a watched
//     attribute when watchedAttributes is given; entityUpdated = any of the three on an
//     existing entity. A creation counts as attributeCreated for each of its attributes, a
//     deletion as attributeDeleted for each; with watchedAttributes, entityCreated /
//     entityDeleted need the entity to have a watched attribute;
//   - with datasetId (§4.5.5), all of the above is judged on the selected instances only: a
//     change to another instance of a watched attribute fires nothing, and entityCreated /
//     entityDeleted need the entity to hold a selected instance;
//   - q, geoQ and scopeQ hold for that entity.
// Thread-safe: Match, Find and Periodic share a reader lock; Put and Remove take it exclusively
// and update the index in place (O(log n) for subscriptions filed by id or type).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "broker/entity_view.h"
#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "util/status.h"
#include "util/string_map.h"

namespace cityhub::broker {

// One entity's change by one committed write.
struct EntityChange {
  const ngsild::Entity* before = nullptr;  // null: the entity was created
  const ngsild::Entity* after = nullptr;   // null: the entity was deleted
};

// A subscription ready to be evaluated. Immutable; shared by snapshots.
class CompiledSubscription {
 public:
  // Compiles a stored subscription (ngsild/subscription.h); `contexts` resolves the @context
  // its q was written in. Errors if the stored form cannot be compiled (corruption, or a
  // remote @context that cannot be had now).
  // `view` (may be null: everything) is what the subscription's owner may see: it fires only
  // for entities the view shows, judged on the redacted entity, and notifies them redacted.
  // A watched attribute the view hides never makes it fire. `tenant` is the subscription's (its
  // @context is resolved there).
  static Result<std::shared_ptr<const CompiledSubscription>> Compile(const boost::json::object& stored,
                                                                     ngsild::ContextResolver& contexts,
                                                                     std::shared_ptr<const EntityView> view = nullptr,
                                                                     std::string_view tenant = {});

  const std::string& id() const { return id_; }
  const boost::json::object& stored() const { return stored_; }
  // The entity types its selectors name (expanded); empty if it selects by watched attributes.
  const std::vector<std::string>& types() const { return types_; }
  // The entity ids its selectors name when every selector names one (else empty).
  const std::vector<std::string>& ids() const { return ids_; }
  // Its watchedAttributes (expanded; empty = any attribute).
  const std::vector<std::string>& watched() const { return watched_; }

  // The trigger kind the change fires ("entityCreated", "attributeUpdated", …), or nullopt.
  std::optional<std::string> Fires(const EntityChange& change, int64_t now_ms) const;
  // True if `e` is one of the entities it is about: selectors, q, geoQ and scopeQ (no trigger).
  bool Selects(const ngsild::Entity& e) const;
  // Context source registration subscriptions (§5.11): true if the registration (a stored form,
  // ngsild/csource_registration.h) is one it is about at `now_ms`: the subscription is active,
  // the registration not expired, and one of the registration's information items overlaps the
  // subscription — an EntityInfo of a type a selector takes (or an item naming no entities),
  // with an id equal to the selector's or matched by the other side's idPattern (two patterns
  // are taken to overlap), and propertyNames/relationshipNames sharing a watched attribute
  // (either side naming none: any) — and q, csf, geoQ and scopeQ hold for the registration.
  bool MatchesRegistration(const boost::json::object& registration, int64_t now_ms) const;
  // Periodic subscriptions: the timeInterval in seconds (nullopt for on-change ones).
  std::optional<double> Period() const;
  // Neither paused (isActive false) nor expired at `now_ms`.
  bool ActiveAt(int64_t now_ms) const;
  // What its owner may see (null: everything).
  const EntityView* view() const { return view_.get(); }

  struct Impl;

 private:
  std::string id_;
  boost::json::object stored_;
  std::vector<std::string> types_;
  std::vector<std::string> ids_;
  std::vector<std::string> watched_;
  std::shared_ptr<const EntityView> view_;
  std::shared_ptr<const Impl> impl_;
};
using CompiledSubscriptionPtr = std::shared_ptr<const CompiledSubscription>;

struct SubscriptionMatch {
  CompiledSubscriptionPtr subscription;
  std::string trigger;
};

class SubscriptionMatcher {
 public:
  // Adds or replaces the tenant's subscription with s->id().
  void Put(std::string_view tenant, CompiledSubscriptionPtr s);
  // Put for many at once (loading at start-up).
  void PutAll(std::string_view tenant, std::vector<CompiledSubscriptionPtr> all);
  void Remove(std::string_view tenant, std::string_view id);
  // The subscriptions of the tenant that the change fires, in id order.
  std::vector<SubscriptionMatch> Match(std::string_view tenant, const EntityChange& change, int64_t now_ms) const;
  // How many subscriptions of the tenant are held.
  size_t Size(std::string_view tenant) const;
  // Context source registration subscriptions: those of the tenant a registration change
  // concerns, with their triggerReason (§5.3.2) — "newlyMatching" when the registration matches
  // after the change but did not before (or was created), "updated" when it matched before and
  // still does, "noLongerMatching" when it matched before and no longer does (or was deleted);
  // `before`/`after` null for a creation/deletion; `before` is judged at `before_at_ms` (just
  // before it expired, for an expiry), `after` at `now_ms`. In id order.
  std::vector<SubscriptionMatch> MatchRegistration(std::string_view tenant, const boost::json::object* before,
                                                   const boost::json::object* after, int64_t before_at_ms,
                                                   int64_t now_ms) const;
  // The tenant's subscription `id` as held now; null if there is none.
  CompiledSubscriptionPtr Find(std::string_view tenant, std::string_view id) const;
  // Every periodic subscription (timeInterval) of every tenant, as (tenant, subscription).
  std::vector<std::pair<std::string, CompiledSubscriptionPtr>> Periodic() const;

 private:
  using Keyed = std::map<std::string, std::vector<CompiledSubscriptionPtr>, std::less<>>;
  struct Index {
    util::StringMap<CompiledSubscriptionPtr> by_id;
    // Each on-change subscription is filed under one key: the entity ids when every selector
    // names one, else its types; without selectors, its watched attributes, else `any`.
    Keyed by_entity_id;
    Keyed by_type;
    Keyed by_watched;
    std::vector<CompiledSubscriptionPtr> any;
    std::vector<CompiledSubscriptionPtr> periodic;       // timeInterval: never Fires

    void File(CompiledSubscriptionPtr s);   // adds, or replaces the one with its id
    void Unfile(const std::string& id);
    // Calls fn(map or null, key, bucket) for each bucket `s` is filed in (creating it).
    template <typename Fn>
    void ForEachKey(const CompiledSubscription& s, Fn&& fn);
  };

  mutable std::shared_mutex mutex_;  // readers match; Put and Remove write in place
  std::map<std::string, Index, std::less<>> tenants_;
};

}  // namespace cityhub::broker
