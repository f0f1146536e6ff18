// EntityService: the one use case every write and entity read goes through (DESIGN §1), whoever
// the caller is (HTTP API, IoT agent, importers, services). Each write is one store transaction
// (TenantStore::Update): the entities' records are read once, the NGSI-LD rules from ngsild/ and
// the access decision are applied to them, and what results is stored — under a per-entity
// lock, so that read-modify-write cycles on one entity never interleave. Only what the Store
// has made durable is acknowledged.
//
// Tenants: "" is the default tenant; a create makes an unknown tenant, any other operation on
// an unknown tenant returns NotFound. Tenant names are validated here.
//
// Transient entities: one whose expiresAt has passed is absent for every operation (NotFound;
// a create may take its id) until PurgeExpired deletes it.
//
// Access: every write names who writes (`w`, write_access.h) and is authorized here, under the
// entity's lock, on the entity loaded for the write: PermissionDenied (nothing written) when
// `w` may not make it. Entities record `w.subject()` as their owner when created.
// Thread-safe: call from any number of threads.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "broker/subscription_matcher.h"
#include "broker/write_access.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "ngsild/stored_render.h"
#include "ngsild/update.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

// One entity's outcome in a batch operation.
struct BatchError {
  std::string entity_id;
  Status status;
};
struct BatchResult {
  std::vector<std::string> success;  // ids, in request order
  std::vector<BatchError> errors;
  size_t created = 0;                // how many of `success` were newly created
  std::vector<std::string> created_ids;  // those ids, in request order
};

// What AddTo hands to Committed for one write (the observer's own type).
struct PendingChanges {
  virtual ~PendingChanges() = default;
};

// What a committed write owes beyond the entities themselves — the notifications of the
// subscriptions it fires (DESIGN §1: in the same transaction, so none is lost). Implemented by
// the notification outbox; EntityService calls it under the entities' locks, inside the store
// transaction (TenantStore::Update's function), with every entity the write changes.
class ChangeObserver {
 public:
  virtual ~ChangeObserver() = default;
  // True if changes in `tenant` may owe anything: only then does the service keep the states
  // before the change (a copy per changed entity).
  virtual bool Watching(std::string_view tenant) const = 0;
  // Adds the records the changes owe to `ws` (the outbox); sets *pending to what Committed
  // needs once the write is durable (null: nothing). Runs again, with a fresh `ws` and
  // `pending`, if the store retries the transaction: changing anything but these is allowed
  // only where a repeat is harmless (taking a fresh outbox sequence number leaves a gap).
  virtual Status AddTo(std::string_view tenant, store::TenantStore& ts, const std::vector<EntityChange>& changes,
                       store::WriteSet& ws, std::unique_ptr<PendingChanges>* pending) = 0;
  // AddTo's `pending` once its write is durable (still under the entities' locks, so an
  // entity's records arrive in the order of its changes). Not called if the write failed.
  virtual void Committed(std::string_view tenant, std::unique_ptr<PendingChanges> pending) = 0;
};

// Limits the service enforces (documented in docs/API.md).
struct EntityServiceLimits {
  size_t max_batch_entities = 1000;
  size_t max_attributes = 1000;  // per entity after an update (creates: ngsild::ParseLimits)
};

class EntityService {
 public:
  EntityService(store::Store& store, EntityServiceLimits limits = {});

  // Brings every tenant's index terms up to kIndexVersion (index_terms.h), re-deriving them
  // from the stored entities where a tenant's recorded version differs; calls `on_rebuilt`
  // (tenant, entities) for each tenant rebuilt. Run before serving: it takes no entity locks.
  Status EnsureIndexed(const std::function<void(std::string_view tenant, uint64_t entities)>& on_rebuilt = {});

  // Create Entity. AlreadyExists if the id is taken. Creates the tenant if needed.
  Status Create(const WriteAccess& w, std::string_view tenant, ngsild::Entity e);
  // Retrieve Entity. NotFound for an unknown tenant or id.
  Result<ngsild::Entity> Get(std::string_view tenant, std::string_view id);
  // Get(), the entity left in its storage text (for rendering straight from it, see
  // ngsild/stored_render.h). NotFound likewise, and for an expired transient entity.
  Result<ngsild::StoredEntity> GetStored(std::string_view tenant, std::string_view id);
  // Delete Entity. NotFound if absent.
  Status Delete(const WriteAccess& w, std::string_view tenant, std::string_view id);
  // Replace Entity (PUT): keeps createdAt. NotFound if absent. `e.types` empty keeps the types.
  Status Replace(const WriteAccess& w, std::string_view tenant, std::string_view id, ngsild::Entity e);
  // Merge Entity (PATCH /entities/{id}). `types` (expanded), if non-empty, are added; a
  // `scope` (null: none given) replaces the entity's; `expires_at`, if given, sets the entity's
  // expiresAt, also in Append and Update.
  Status Merge(const WriteAccess& w, std::string_view tenant, std::string_view id, ngsild::AttrMap attrs,
               const std::vector<std::string>& types, int64_t now_ms, const boost::json::value& scope = nullptr,
               std::optional<ngsild::ExpiresAt> expires_at = std::nullopt);
  // Append (§5.6.3) / Update (§5.6.2) Attributes; `types` (expanded) are added to the entity's
  // and `scope` (null: none given) changes its scope as ngsild::SetScope says for the
  // operation. NotFound if the entity is absent.
  Result<ngsild::UpdateResult> Append(const WriteAccess& w, std::string_view tenant, std::string_view id,
                                      ngsild::AttrMap attrs, bool no_overwrite, int64_t now_ms,
                                      const std::vector<std::string>& types = {},
                                      const boost::json::value& scope = nullptr,
                                      std::optional<ngsild::ExpiresAt> expires_at = std::nullopt);
  Result<ngsild::UpdateResult> Update(const WriteAccess& w, std::string_view tenant, std::string_view id,
                                      ngsild::AttrMap attrs, int64_t now_ms, const std::vector<std::string>& types = {},
                                      const boost::json::value& scope = nullptr,
                                      std::optional<ngsild::ExpiresAt> expires_at = std::nullopt);
  // Update() without holding the calling thread across the disk sync (TenantStore::
  // UpdateDeferred): the same checks, effects and answer, told to `done` — on the store's commit
  // thread once the write is durable, or before this returns when it failed before or the store
  // commits synchronously. The entity's lock is held until then, so a later write of the entity
  // waits for this one's commit. `done` must not block.
  void UpdateDeferred(const WriteAccess& w, std::string_view tenant, std::string_view id, ngsild::AttrMap attrs,
                      int64_t now_ms, const std::vector<std::string>& types, const boost::json::value& scope,
                      std::optional<ngsild::ExpiresAt> expires_at,
                      std::function<void(Result<ngsild::UpdateResult>)> done);
  // True while a write of the entity holds its lock (a deferred update: until its commit), i.e.
  // while a write of it would wait.
  bool Busy(std::string_view tenant, std::string_view id);
  // Partial Attribute Update / Replace Attribute / Delete Attribute. NotFound names whether the
  // entity or the attribute is missing.
  Status PartialUpdateAttribute(const WriteAccess& w, std::string_view tenant, std::string_view id, const std::string& attr,
                                ngsild::Instances fragment, int64_t now_ms);
  Status ReplaceAttribute(const WriteAccess& w, std::string_view tenant, std::string_view id, const std::string& attr,
                          ngsild::Instances instances, int64_t now_ms);
  Status DeleteAttribute(const WriteAccess& w, std::string_view tenant, std::string_view id, const std::string& attr,
                         const std::optional<std::string>& dataset_id, bool delete_all);

  // Batch operations (§5.6.7–5.6.10, §5.6.20): every valid item is written in one atomic,
  // durable store write; items that fail are reported, never half-applied.
  BatchResult BatchCreate(const WriteAccess& w, std::string_view tenant, std::vector<ngsild::Entity> entities);
  // Upsert: creates missing entities; existing ones are replaced (`replace`) or have their
  // attributes updated/appended (update mode), where an NGSI-LD Null deletes; an item that
  // creates or replaces an entity may not hold an NGSI-LD Null (BadRequestData).
  BatchResult BatchUpsert(const WriteAccess& w, std::string_view tenant, std::vector<ngsild::Entity> entities, bool replace);
  // Update: appends attributes to existing entities (`no_overwrite` keeps existing ones); an
  // NGSI-LD Null deletes the instance it names.
  BatchResult BatchUpdate(const WriteAccess& w, std::string_view tenant, std::vector<ngsild::Entity> entities, bool no_overwrite);
  BatchResult BatchMerge(const WriteAccess& w, std::string_view tenant, std::vector<ngsild::Entity> entities);
  BatchResult BatchDelete(const WriteAccess& w, std::string_view tenant, const std::vector<std::string>& ids);

  // Transient entities (§4.22): deletes up to `max_entities` of the tenant's entities whose
  // expiresAt is at or before `now_ms`, in one durable write, like any deletion (history,
  // entityDeleted notifications). Returns how many; NotFound for an unknown tenant;
  // PermissionDenied (nothing deleted) if `w` may not delete one of them.
  Result<size_t> PurgeExpired(const WriteAccess& w, std::string_view tenant, int64_t now_ms, size_t max_entities);

  // Discovery (§5.7.5–5.7.10); names are expanded IRIs.
  Result<std::vector<std::string>> Types(std::string_view tenant);
  struct TypeInfo {
    std::string type;
    uint64_t entity_count = 0;
    std::vector<std::pair<std::string, std::vector<std::string>>> attributes;  // name, attr types
  };
  // NotFound if no entity has `type`.
  Result<TypeInfo> TypeDetails(std::string_view tenant, const std::string& type);
  // Attribute names per type for /types?details=true.
  Result<std::vector<std::string>> AttributesOfType(std::string_view tenant, const std::string& type);
  Result<std::vector<std::string>> Attributes(std::string_view tenant);
  struct AttributeInfo {
    std::string name;
    uint64_t count = 0;
    std::vector<std::string> types;       // entity types having it
    std::vector<std::string> attr_types;  // "Property", "Relationship", …
  };
  // NotFound if no entity has `attr`.
  Result<AttributeInfo> AttributeDetails(std::string_view tenant, const std::string& attr);
  Result<std::vector<std::string>> TypesWithAttribute(std::string_view tenant, const std::string& attr);

  // Calls `observer` with the duration in seconds of every durable store write (for
  // /metrics). Set before serving; not thread-safe against concurrent calls.
  void SetCommitObserver(std::function<void(double)> observer) { commit_observer_ = std::move(observer); }
  // Adds an observer of changes (the notification outbox, the history recorder); each adds
  // its records to every write, in the order added. Add before serving.
  void AddChangeObserver(ChangeObserver* observer) { change_observers_.push_back(observer); }

  // Entities per tenant, approximately (for /metrics).
  std::vector<std::pair<std::string, uint64_t>> EntityCounts();

  // True for the default tenant ("") and for every tenant a create has made.
  bool TenantExists(std::string_view tenant);

  // The hub's identity as a context source (§5.2.40): a urn:ngsi-ld:ContextSource:<uuid> made
  // on the first call and kept in the default tenant, so it stays the same across restarts.
  // Errors: the store's.
  Result<std::string> SourceId();

 private:
  // Entity locks: a write holds the 64-bit hashes of (tenant, id) of its entities, so it waits
  // only for writes of the same entities — with a fixed set of striped mutexes, a priority
  // write would wait for any big batch that merely shares a stripe (most do).
  size_t LockKeyOf(std::string_view tenant, std::string_view id) const;
  class EntityLock;

  Result<store::TenantStore*> OpenTenant(std::string_view tenant, bool create);
  static store::EntityRecord ToRecord(const ngsild::Entity& e);
  // Writes entities of `tenant` as one store transaction (TenantStore::Update) over `ids`, whose
  // locks the caller holds: `build(current, ws, changes)` turns the ids' current records into
  // what to store and the changes that makes (EntityChange pointers into `build`'s own state);
  // the change observers add what those owe, and hear of them once the write is durable, which
  // is timed for the commit observer. An empty `ws` writes and owes nothing. Returns build's
  // error, an observer's or the store's. `build` may run more than once (see Update): it must
  // reset what a previous run left and leave the request's inputs intact.
  template <typename Build>
  Status Commit(std::string_view tenant, store::TenantStore& ts, const std::vector<std::string_view>& ids,
                Build&& build);
  // Commit, its outcome told to `done`: with `deferred`, through TenantStore::UpdateDeferred
  // (`build` still runs before this returns; the observers hear of the changes on the commit
  // thread, before `done`), else at once.
  template <typename Build>
  void CommitThen(std::string_view tenant, store::TenantStore& ts, const std::vector<std::string_view>& ids,
                  Build&& build, bool deferred, store::CommitDone done);
  bool Watching(std::string_view tenant) const {
    for (auto* o : change_observers_) {
      if (o->Watching(tenant)) return true;
    }
    return false;
  }
  // Applies `change` to an existing entity under its lock, authorizes the result for `w` (the
  // request naming the attributes `named`) and stores it. `change(entity, write)` may run more
  // than once (see Commit); setting `write` false stores nothing.
  template <typename Fn>
  Status Modify(const WriteAccess& w, std::string_view tenant, std::string_view id, const std::vector<std::string>& named,
                Fn&& change);
  // Modify, its outcome told to `done` (see CommitThen); the entity's lock is held until then.
  // Update or UpdateDeferred.
  void UpdateThen(const WriteAccess& w, std::string_view tenant, std::string_view id, ngsild::AttrMap attrs,
                  int64_t now_ms, const std::vector<std::string>& types, const boost::json::value& scope,
                  std::optional<ngsild::ExpiresAt> expires_at, bool deferred,
                  std::function<void(Result<ngsild::UpdateResult>)> done);
  template <typename Fn>
  void ModifyThen(const WriteAccess& w, std::string_view tenant, std::string_view id,
                  const std::vector<std::string>& named, Fn&& change, bool deferred, store::CommitDone done);
  // BadRequestData if an update made `e` larger than the limits allow.
  Status CheckSize(const ngsild::Entity& e) const;
  // Runs a batch: `apply(existing-or-null, item, made)` returns the entity the item leaves —
  // the item itself when it is stored as given, else one it adds to `made` — or an error; it
  // leaves the item intact (it may run more than once). Each item's outcome is authorized for
  // `w`.
  template <typename Apply>
  BatchResult RunBatch(const WriteAccess& w, std::string_view tenant, std::vector<ngsild::Entity>& items, bool create_tenant,
                       Apply&& apply);

  store::Store& store_;
  EntityServiceLimits limits_;
  std::mutex locks_mutex_;
  std::condition_variable lock_released_;
  std::unordered_set<size_t> locked_;  // the keys held, guarded by locks_mutex_
  std::mutex source_id_mutex_;
  std::string source_id_;  // guarded by source_id_mutex_; empty until SourceId() made or read it
  std::function<void(double)> commit_observer_;
  std::vector<ChangeObserver*> change_observers_;
};

}  // namespace cityhub::broker
