// RegistrationService: the context source registration use cases (GS CIM 009 §5.9 Register,
// Update, Delete; §5.10 Retrieve, Query) for every caller, and the ContextSourceDirectory the
// distributed operations ask which registered sources a request goes to.
//
// A registration is kept in its tenant's metadata under "registration/<id>" in the stored form
// of ngsild/csource_registration.h (JSON text), so it is as durable as the entities and goes
// with the tenant's backups. Every registration is also compiled into an in-memory index per
// tenant (by entity id, by entity type, and the registrations that name neither), loaded at
// start-up by LoadAll and replaced after each create, update and delete. The index of a tenant
// is an immutable snapshot: readers take it under a shared lock held for a pointer copy, so a
// Match never waits for a write, and a write rebuilds the tenant's index (O(registrations of
// the tenant); registrations change rarely, requests match often). Where several hubs share the
// store, the index also follows the changes the others make (store.h, SharedMetaObserver).
// Thread-safe: call from any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "broker/context_source.h"
#include "ngsild/context.h"
#include "ngsild/csource_registration.h"
#include "ngsild/geo.h"
#include "ngsild/qlang.h"
#include "ngsild/type_selection.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

// What Query Context Source Registrations (§5.10.2) selects, every name expanded. A
// registration is returned when it is active (not expired), one of its information items
// matches the entities and attributes asked (§5.12), and it satisfies every filter given.
struct RegistrationQuery {
  std::vector<std::string> ids;                // empty: any
  std::string id_pattern;                      // "": none
  std::optional<ngsild::TypeSelection> types;  // none: any
  std::vector<std::string> attrs;              // empty: any
  std::optional<ngsild::QFilter> q;            // on the registration's members
  std::optional<ngsild::QFilter> csf;          // on the registration's members and properties (§4.9)
  std::optional<ngsild::ScopeFilter> scope;    // on the registration's scope
  // geo: against the registration's location, observationSpace or operationSpace (the
  // member named by geo_member).
  std::optional<ngsild::GeoQuery> geo;
  std::string geo_member = "location";
  // Temporal query (§5.10.2): without one only registrations without observationInterval and
  // managementInterval are considered; with one, only those whose interval (observationInterval
  // for observedAt, managementInterval for createdAt/modifiedAt/deletedAt) overlaps it.
  enum class TimeRel { kNone, kBefore, kAfter, kBetween };
  TimeRel timerel = TimeRel::kNone;
  std::string timeproperty = "observedAt";
  int64_t time_at_ms = 0;
  int64_t end_time_at_ms = 0;
};

struct RegistrationPage {
  std::vector<boost::json::object> items;  // stored forms, ascending id
  uint64_t total = 0;                      // registrations that matched
};

class RegistrationService : public ContextSourceDirectory, public store::SharedMetaObserver {
 public:
  explicit RegistrationService(store::Store& store, ngsild::RegistrationLimits limits = {});
  ~RegistrationService() override;

  // Indexes every stored registration of every tenant; one that cannot be read is reported to
  // `on_error` and left out. Returns how many were loaded. Follows the changes other hubs
  // sharing the store make from then on.
  Result<size_t> LoadAll(const std::function<void(std::string_view tenant, std::string_view id, const Status&)>& on_error);

  // Register (§5.9.2): validates `payload` (read with `ctx`) and stores it; the id is the
  // payload's or a new urn:ngsi-ld:ContextSourceRegistration:<uuid>. Returns the id.
  // AlreadyExists if the id is taken, or if an exclusive or redirect registration conflicts
  // with one the tenant holds or with an entity held locally (§4.3.6.2); BadRequestData for an
  // invalid payload or past RegistrationLimits::max_per_tenant. Creates the tenant if needed.
  Result<std::string> Create(std::string_view tenant, const boost::json::object& payload, const ngsild::Context& ctx,
                             int64_t now_ms);
  // Every registration of the tenant (stored forms, ascending id; expired ones too).
  std::vector<boost::json::object> All(std::string_view tenant) const;
  // Retrieve (§5.10.1): the stored form. NotFound for an unknown tenant or id.
  Result<boost::json::object> Get(std::string_view tenant, std::string_view id) const;
  // Query (§5.10.2): the page [offset, offset + limit) of the matching registrations in id
  // order. `ctx` expands the members q and csf name. Empty for an unknown tenant.
  Result<RegistrationPage> Query(std::string_view tenant, const RegistrationQuery& query, const ngsild::Context& ctx,
                                 size_t offset, size_t limit, int64_t now_ms) const;
  // Update (§5.9.3): applies `fragment` (read with `ctx`). NotFound if absent; the errors of
  // Create for the result.
  Status Update(std::string_view tenant, std::string_view id, const boost::json::object& fragment,
                const ngsild::Context& ctx, int64_t now_ms);
  // Delete (§5.9.4). NotFound if absent.
  Status Delete(std::string_view tenant, std::string_view id);

  // Expiry: runs the write hook, as for a deletion judged just before the expiry, for every
  // registration whose expiresAt passed since the tenant's last sweep, and stores the sweep's
  // time in the same write (metadata "registration-expiry-swept"), so expiries that passed
  // while the hub was stopped are handled at the next sweep. Without a write hook, nothing.
  // Returns how many expiries were handled; the first error met (the rest waits for the next
  // sweep).
  Result<size_t> SweepExpired(int64_t now_ms);

  // ContextSourceDirectory: the active, unexpired registrations of `tenant` matching `request`.
  std::vector<ContextSource> Match(std::string_view tenant, const ContextSourceRequest& request) const override;
  // True if `tenant` holds any registration (then a request may be distributed).
  bool Any(std::string_view tenant) const;
  // As Match, at time `now_ms` (tests and benchmarks).
  std::vector<ContextSource> MatchAt(std::string_view tenant, const ContextSourceRequest& request, int64_t now_ms) const;

  // Called after each successful create (before null), update and delete (after null), outside
  // the service's locks, with the stored forms: the hook of context source registration
  // subscriptions (§5.11). Set before serving.
  using Observer = std::function<void(std::string_view tenant, const boost::json::object* before,
                                      const boost::json::object* after)>;
  void SetObserver(Observer observer) { observer_ = std::move(observer); }
  // Called with every create, update, delete and expiry (before null for a create, after null
  // for a delete or an expiry) under the service's write lock, to add to the store write of the
  // registration what must be committed with it — the notification outbox records of context
  // source registration subscriptions (DESIGN §1: so none owed is lost). `before_at_ms` is when
  // `before` is to be judged (0: now; just before it expired, for an expiry). Returns what to
  // run once that write is durable (may be empty); an error refuses the change. Set before
  // serving.
  using WriteHook = std::function<Result<std::function<void()>>(
      std::string_view tenant, store::TenantStore& ts, const boost::json::object* before,
      const boost::json::object* after, int64_t before_at_ms, store::WriteSet& ws)>;
  void SetWriteHook(WriteHook hook) { write_hook_ = std::move(hook); }
  // The expanded attribute names of the entity `id` the hub holds in `tenant`, nullopt when it
  // holds none: exclusive and redirect registrations may not claim what is held locally
  // (§4.3.6.2). Set before serving; without one no local entity is checked.
  using LocalEntityProbe =
      std::function<std::optional<std::vector<std::string>>(std::string_view tenant, std::string_view id)>;
  void SetLocalEntityProbe(LocalEntityProbe probe) { local_ = std::move(probe); }

  // A registration changed by any hub sharing the store: into the tenant's index (or out).
  void SharedMetaChanged(std::string_view tenant, std::string_view key, const std::optional<std::string>& value) override;

 private:
  struct Compiled;     // a registration compiled for matching
  struct TenantIndex;  // a tenant's registrations and their index: an immutable snapshot
  std::shared_ptr<const TenantIndex> IndexOf(std::string_view tenant) const;
  // Stores `stored` (replacing `before`, null for a create) with what the write hook adds, and
  // re-indexes its tenant (caller holds write_mutex_). *committed: the hook's follow-up.
  Status Save(std::string_view tenant, store::TenantStore& ts, const boost::json::object* before,
              const boost::json::object& stored, std::function<void()>* committed);
  // AlreadyExists if `stored` (exclusive or redirect) conflicts with another registration of
  // the tenant or with a local entity.
  Status CheckConflicts(std::string_view tenant, const Compiled& candidate, int64_t now_ms) const;
  void Reindex(std::string_view tenant, std::map<std::string, std::shared_ptr<const Compiled>> regs);
  // Puts `compiled` (null: removes `id`) into a new index of the tenant.
  void Replace(std::string_view tenant, const std::string& id, std::shared_ptr<const Compiled> compiled);

  store::Store& store_;
  const ngsild::RegistrationLimits limits_;
  Observer observer_;
  WriteHook write_hook_;
  LocalEntityProbe local_;
  std::mutex write_mutex_;  // serialises read-modify-write cycles
  // Serialises Replace (a writer's and the shared metadata feed's); never held while the store
  // is called (the feed calls Replace holding the store's own lock).
  std::mutex replace_mutex_;
  std::map<std::string, int64_t, std::less<>> swept_;  // tenant -> last expiry sweep (write_mutex_)
  mutable std::shared_mutex index_mutex_;  // guards indexes_ (the pointers, not the snapshots)
  std::map<std::string, std::shared_ptr<const TenantIndex>, std::less<>> indexes_;
};

}  // namespace cityhub::broker
