// WriteAccess: what one principal may write in one tenant, and AuthorizeWrite, the one write
// decision every write path shares. EntityService and TemporalService call AuthorizeWrite under
// the entity's lock, on the entity they loaded for the write (or, for a new entity, on what is
// being created), so a check can neither race another writer nor be steered by what a request
// body claims about the stored entity.
//
// The decision (AuthorizeWrite):
//   - a new entity is judged on its requested types, with the writer as its owner: the entity
//     and each of its attributes must be writable;
//   - an existing entity is judged on its stored types and owner: the entity must be writable,
//     each attribute the request names or the write changes must be writable, and each type
//     added or removed is itself a write — the writer must be allowed to write an entity of that
//     type (so a body's "type" can never widen what the writer may touch);
//   - deleting an entity needs the right to delete it as a whole.
// Implementations: the api layer's from the policy and privacy files (api/caller.h), the IoT
// agent's per-device bindings (ingest/), the city services' fixed rules (SystemWriteAccess).
// Implementations are immutable and thread-safe; AnyoneMayWrite() allows everything (a hub
// without authentication).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ngsild/entity.h"
#include "util/status.h"

namespace cityhub::broker {

class WriteAccess {
 public:
  // The facts about an entity a rule may test.
  struct Target {
    std::string_view id;
    const std::vector<std::string>& types;  // expanded IRIs
    std::string_view owner;                 // its creator's subject, "" = none
  };

  virtual ~WriteAccess() = default;
  // Who writes: the owner of the entities it creates, named in refusals.
  virtual std::string_view subject() const = 0;
  // True when nothing needs checking (every write allowed): the service then skips the decision.
  virtual bool Unrestricted() const { return false; }
  // Whether the principal may write some attribute of `t` (or create it, or give it a type).
  virtual bool MayWrite(const Target& t) const = 0;
  // Whether it may create, change or remove attribute `attr` (expanded) of `t`.
  virtual bool MayWriteAttribute(const Target& t, std::string_view attr) const = 0;
  // Whether it may delete `t` as a whole (or replace it).
  virtual bool MayDelete(const Target& t) const = 0;
};

// A principal allowed every write, without a subject (no authentication configured).
const WriteAccess& AnyoneMayWrite();

// Ok, or PermissionDenied naming what `w` may not write, for the write turning `before` (null:
// absent) into `after` (null: deleted). `named` lists the attributes the request names (expanded);
// attributes whose instances differ between `before` and `after` are added to them.
Status AuthorizeWrite(const WriteAccess& w, std::string_view tenant, const ngsild::Entity* before,
                      const ngsild::Entity* after, const std::vector<std::string>& named);

// Fixed least-privilege rules of a system principal (a city service): it may write entities of
// `types` only, only the attributes `attrs` (empty: any), and delete such entities only when
// `may_delete` (a service that owns them whole, like the transit feed's stops).
class SystemWriteAccess final : public WriteAccess {
 public:
  SystemWriteAccess(std::string subject, std::vector<std::string> types, std::vector<std::string> attrs,
                    bool may_delete = false)
      : subject_(std::move(subject)), types_(std::move(types)), attrs_(std::move(attrs)), may_delete_(may_delete) {}

  std::string_view subject() const override { return subject_; }
  bool MayWrite(const Target& t) const override;
  bool MayWriteAttribute(const Target& t, std::string_view attr) const override;
  bool MayDelete(const Target& t) const override { return may_delete_ && MayWrite(t); }

 private:
  std::string subject_;
  std::vector<std::string> types_;
  std::vector<std::string> attrs_;
  bool may_delete_ = false;
};

// The principal of the purge of transient entities (EntityService::PurgeExpired, which deletes
// only entities whose expiresAt has passed): it may delete an entity, and write nothing.
class ExpiryPurgeAccess final : public WriteAccess {
 public:
  std::string_view subject() const override { return "system:expiry"; }
  bool MayWrite(const Target&) const override { return false; }
  bool MayWriteAttribute(const Target&, std::string_view) const override { return false; }
  bool MayDelete(const Target&) const override { return true; }
};

}  // namespace cityhub::broker
