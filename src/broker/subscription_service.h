// SubscriptionService: the subscription use cases (GS CIM 009 §5.8; §5.11 for context source
// registration subscriptions, a second instance of kind kCsource) — create, retrieve, query,
// update, delete — for every caller. A subscription is kept in its tenant's metadata under
// "subscription/<id>" ("csourceSubscription/<id>") in the stored form of ngsild/subscription.h (JSON text), so it is as
// durable as the entities and goes with the tenant's backups. With a SubscriptionMatcher, every
// subscription is compiled before it is stored and the matcher follows each create, update and
// delete (LoadAll fills it at start-up), so the notification outbox sees the subscriptions as
// stored. Where several hubs share the store, the matcher also follows the changes the others
// make (store.h, SharedMetaObserver: LoadAll starts that), before any write that follows them.
// Thread-safe: call from any number of threads.
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

#include "broker/endpoint_policy.h"
#include "broker/subscription_matcher.h"
#include "ngsild/context.h"
#include "ngsild/subscription.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

struct SubscriptionPage {
  std::vector<boost::json::object> items;  // stored forms, ascending id
  uint64_t total = 0;                      // subscriptions of the tenant
};

class SubscriptionService : public store::SharedMetaObserver {
 public:
  // `matcher` and `contexts` are optional together (null: subscriptions are only stored).
  // `kind`: entity subscriptions (§5.8, kept under "subscription/") or context source
  // registration subscriptions (§5.11, under "csourceSubscription/", with a matcher of their
  // own that is asked with MatchRegistration only).
  explicit SubscriptionService(store::Store& store, SubscriptionMatcher* matcher = nullptr,
                               ngsild::ContextResolver* contexts = nullptr, ngsild::SubscriptionLimits limits = {},
                               ngsild::SubscriptionKind kind = ngsild::SubscriptionKind::kEntity);
  ~SubscriptionService() override;  // stops watching the store's shared metadata
  ngsild::SubscriptionKind kind() const { return kind_; }

  // Compiles every stored subscription of every tenant into the matcher; one that cannot be
  // compiled is reported to `on_error` and left out. Returns how many were loaded. Follows the
  // changes other hubs sharing the store make from then on.
  Result<size_t> LoadAll(const std::function<void(std::string_view tenant, std::string_view id, const Status&)>& on_error);

  // Create Subscription: validates `payload` (read with `ctx`) and stores it; the id is the
  // payload's or a new urn:ngsi-ld:Subscription:<uuid>. Returns the id. AlreadyExists if the id
  // is taken; BadRequestData if the tenant holds SubscriptionLimits::max_per_tenant already,
  // PermissionDenied if the owner holds max_per_owner there; creates the tenant if needed.
  // `owner` (null: none; else {"subject", "roles"}) is kept with it as the member "owner", which
  // no client payload can set, change or remove (who created it, for access control and the view
  // of its notifications; never rendered).
  Result<std::string> Create(std::string_view tenant, const boost::json::object& payload, const ngsild::Context& ctx,
                             int64_t now_ms,
                             boost::json::value owner = nullptr);
  // Retrieve Subscription: the stored form. NotFound for an unknown tenant or id.
  Result<boost::json::object> Get(std::string_view tenant, std::string_view id);
  // Query Subscriptions: the page [offset, offset + limit) in id order, and how many there are.
  Result<SubscriptionPage> List(std::string_view tenant, size_t offset, size_t limit);
  // Update Subscription: applies `fragment` (read with `ctx`). NotFound if absent.
  Status Update(std::string_view tenant, std::string_view id, const boost::json::object& fragment,
                const ngsild::Context& ctx, int64_t now_ms);
  // Delete Subscription. NotFound if absent.
  Status Delete(std::string_view tenant, std::string_view id);
  // Called after each successful Delete (the notifier forgets the subscription's queue and
  // status). Set before serving.
  // What a stored subscription's owner may see in `tenant` (null result: everything); set
  // before LoadAll. Without one every subscription sees everything.
  using ViewFactory =
      std::function<std::shared_ptr<const EntityView>(std::string_view tenant, const boost::json::object& stored)>;
  void SetViewFactory(ViewFactory views) { views_ = std::move(views); }
  // The rules a created or updated subscription's endpoint must follow (BadRequestData from
  // Create and Update otherwise); set before serving. Without one any endpoint is stored.
  void SetEndpointPolicy(std::shared_ptr<const EndpointPolicy> endpoints) { endpoints_ = std::move(endpoints); }

  // Called for each created subscription, under the service's write lock, once it is in the
  // matcher: adds to the store write of the subscription what must be committed with it (the
  // first notification of a context source registration subscription, DESIGN §1) and returns
  // what to run once that write is durable (may be empty); an error refuses the creation. Set
  // before serving; used only with a matcher.
  using CreateHook = std::function<Result<std::function<void()>>(
      std::string_view tenant, store::TenantStore& ts, const CompiledSubscription& created, store::WriteSet& ws)>;
  void SetCreateHook(CreateHook hook) { on_create_ = std::move(hook); }

  void SetDeletionObserver(std::function<void(std::string_view tenant, std::string_view id)> observer) {
    on_delete_ = std::move(observer);
  }

  // Delivery statuses (the Notifier's, opaque text) kept beside the subscriptions so that they
  // survive restarts: one metadata key per subscription — an entity subscription, or with
  // `csource` a context source registration subscription — so that hubs delivering different
  // subscriptions never overwrite each other's. Load is NotFound when none was saved.
  Status SaveDeliveryStatus(std::string_view tenant, std::string_view id, bool csource, std::string_view text);
  Status DeleteDeliveryStatus(std::string_view tenant, std::string_view id, bool csource);
  Result<std::string> LoadDeliveryStatus(std::string_view tenant, std::string_view id, bool csource);
  // Visits every status stored for the tenant. Those an older hub kept in one document per
  // tenant (keyed by id, a context source registration subscription's id marked with a leading
  // 0x1e) are first moved to their own keys.
  Status ScanDeliveryStatuses(std::string_view tenant,
                              const std::function<void(std::string_view id, bool csource, std::string_view text)>& visit);

  // A subscription changed by any hub sharing the store: into the matcher (or out of it, and the
  // deletion observer told). One that cannot be compiled here keeps its previous form.
  void SharedMetaChanged(std::string_view tenant, std::string_view key, const std::optional<std::string>& value) override;

 private:
  std::string Key(std::string_view id) const;  // the metadata key of subscription `id`
  // How many subscriptions the tenant holds (one pass over their keys; creates are rare).
  Result<size_t> Count(store::TenantStore& ts) const;
  // Subscriptions per tenant and owner subject ("<tenant>\n<subject>"), guarded by write_mutex_.
  std::map<std::string, size_t, std::less<>> owned_;
  // `stored` compiled for the matcher; null without one.
  Result<CompiledSubscriptionPtr> Compile(std::string_view tenant, const boost::json::object& stored) const;
  // Stores `stored` (compiled first, so that one the matcher cannot use is refused, not
  // stored) and publishes it to the matcher; `created`: a new one (the create hook runs).
  Status Save(std::string_view tenant, store::TenantStore& ts, const boost::json::object& stored, bool created);

  store::Store& store_;
  ViewFactory views_;
  std::shared_ptr<const EndpointPolicy> endpoints_;
  SubscriptionMatcher* matcher_;
  ngsild::ContextResolver* contexts_;
  const ngsild::SubscriptionLimits limits_;
  const ngsild::SubscriptionKind kind_;
  std::function<void(std::string_view, std::string_view)> on_delete_;
  CreateHook on_create_;
  std::mutex write_mutex_;  // serialises read-modify-write cycles (creates, updates, deletes)
};

}  // namespace cityhub::broker
