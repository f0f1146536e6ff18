// Caller: the principal a request acts for (authenticated in api::Dispatch) and what it may do —
// the policy's Access per tenant and operation (security/policy.h) and the EntityView that
// applies those rules and the privacy treatment (security/privacy.h) to what it reads.
// Without authentication configured there is no principal and everything is allowed in clear
// (the hub then serves loopback only, or with --insecure).
//
// Dispatch installs the caller of the request being handled on the handling thread
// (CurrentCaller); handlers consult it. A Caller is used by one request on one thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.h"
#include "broker/entity_view.h"
#include "ngsild/entity.h"
#include "security/policy.h"
#include "security/principal.h"
#include "util/status.h"

namespace cityhub::api {

// The view of `principal` in `tenant` for reading (null: everything in clear). `personal_read`
// (may be null) is set when the view shows a classified attribute in clear (for the audit log).
std::unique_ptr<broker::EntityView> MakeReadView(const SecurityDeps& security, const security::Principal& principal,
                                                 std::string_view tenant, std::atomic<bool>* personal_read);

class Caller {
 public:
  Caller() = default;  // no principal: allowed everything (no authentication configured)
  Caller(const Caller&) = delete;
  Caller& operator=(const Caller&) = delete;
  // The request was authenticated as `principal`, under the rules of `security`.
  void Authenticated(const SecurityDeps* security, security::Principal principal) {
    security_ = security;
    principal_ = std::move(principal);
  }

  const security::Principal* principal() const { return principal_ ? &*principal_ : nullptr; }
  // The principal's subject ("" without authentication): the owner of what it creates.
  std::string_view subject() const { return principal_ ? std::string_view(principal_->subject) : std::string_view(); }

  security::Access AccessFor(std::string_view tenant, security::Operation op) const;
  // PermissionDenied if the caller may do `op` on nothing in `tenant`.
  Status Require(std::string_view tenant, security::Operation op) const;
  // What the caller sees of `tenant` (null: everything in clear).
  std::unique_ptr<broker::EntityView> ReadView(std::string_view tenant) const;

  // PermissionDenied unless the caller may write the attributes `attrs` (expanded) of the
  // entity `e` — the stored one when it exists, else the one being created.
  Status CheckWrite(std::string_view tenant, const ngsild::Entity& e, const std::vector<std::string>& attrs) const;
  // CheckWrite of every attribute of `e` (creating or replacing it).
  Status CheckWriteAll(std::string_view tenant, const ngsild::Entity& e) const;
  // PermissionDenied unless the caller may write the entity as a whole (delete it).
  Status CheckDelete(std::string_view tenant, const ngsild::Entity& e) const;
  // True when writes need no per-entity check (everything allowed).
  bool WritesUnrestricted(std::string_view tenant) const;

  // Set when a read showed a classified attribute in clear.
  bool read_personal() const { return personal_read_.load(std::memory_order_relaxed); }

 private:
  const SecurityDeps* security_ = nullptr;
  std::optional<security::Principal> principal_;
  mutable std::atomic<bool> personal_read_{false};
};

// The caller of the request this thread handles (a default Caller outside of one).
const Caller& CurrentCaller();

// Installs `caller` as CurrentCaller() for its lifetime.
class CallerScope {
 public:
  explicit CallerScope(const Caller* caller);
  ~CallerScope();
  CallerScope(const CallerScope&) = delete;
  CallerScope& operator=(const CallerScope&) = delete;

 private:
  const Caller* previous_;
};

}  // namespace cityhub::api
