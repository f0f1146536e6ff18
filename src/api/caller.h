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
#include "broker/write_access.h"
#include "ngsild/entity.h"
#include "security/policy.h"
#include "security/principal.h"
#include "util/status.h"

namespace cityhub::api {

// The view of `principal` in `tenant` for reading (null: everything in clear). `personal_read`
// (may be null) is set when the view shows a classified attribute in clear (for the audit log).
std::unique_ptr<broker::EntityView> MakeReadView(const SecurityDeps& security, const security::Principal& principal,
                                                 std::string_view tenant, std::atomic<bool>* personal_read);

// What one principal may write in one tenant: the policy's write rules, and the privacy rule
// that a classified attribute (personal or sensitive) is written only by a principal that may
// read it in clear — so no one can plant chosen values and compare their pseudonyms with others'
// (docs/SECURITY.md, "Pseudonyms cannot be probed"). Immutable; valid while the SecurityDeps are.
class PolicyWriteAccess final : public broker::WriteAccess {
 public:
  // Everything (no authentication configured).
  PolicyWriteAccess() = default;
  PolicyWriteAccess(const SecurityDeps& security, const security::Principal& principal, std::string_view tenant);

  std::string_view subject() const override { return subject_; }
  bool Unrestricted() const override { return unrestricted_; }
  bool MayWrite(const Target& t) const override;
  bool MayWriteAttribute(const Target& t, std::string_view attr) const override;
  bool MayDelete(const Target& t) const override;

 private:
  bool unrestricted_ = true;
  std::string subject_;
  std::shared_ptr<const security::Policy> policy_;  // access_ points into it
  security::Access access_ = security::Access::All();
  std::shared_ptr<const security::PrivacyPolicy> privacy_;  // null: nothing classified
  bool personal_in_clear_ = true;
  bool sensitive_in_clear_ = true;
};

// The view of what `owner` left running in `tenant` (its subscriptions): it follows the owner's
// rights as they are now — an API key's current roles, none once the key is revoked or expired;
// a token subject's roles from its latest token (security/role_directory.h), else `owner`'s as
// stored — re-derived whenever the key file or the directory changes. Without an owner (made
// while the hub had no authentication) it sees everything while there is still none, and
// nothing once authentication is on: no one answers for it. With `needed` other than kRead
// (context source registration subscriptions: kRegister) it shows everything while the owner
// holds that operation in the tenant and nothing once it does not. Thread-safe.
std::shared_ptr<const broker::EntityView> MakeOwnerView(const SecurityDeps& security, std::string_view tenant,
                                                        std::optional<security::Principal> owner,
                                                        security::Operation needed = security::Operation::kRead);

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

  // What the caller may write in `tenant`; the broker applies it to every write.
  PolicyWriteAccess Writes(std::string_view tenant) const;

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
