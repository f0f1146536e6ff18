#include "api/caller.h"

#include <fmt/format.h>

#include "security/privacy.h"

namespace cityhub::api {

namespace {

using security::Access;
using security::DataClass;
using security::EntityFacts;
using security::Operation;

// Access rules and privacy treatment of one principal in one tenant.
class PolicyView final : public broker::EntityView {
 public:
  PolicyView(std::shared_ptr<const security::Policy> policy, Access access,
             std::shared_ptr<const security::PrivacyPolicy> privacy, bool personal_in_clear, bool sensitive_in_clear,
             std::string tenant_key, std::atomic<bool>* personal_read)
      : policy_(std::move(policy)),
        access_(std::move(access)),
        privacy_(std::move(privacy)),
        personal_in_clear_(personal_in_clear),
        sensitive_in_clear_(sensitive_in_clear),
        tenant_key_(std::move(tenant_key)),
        personal_read_(personal_read) {}

  bool Visible(std::string_view id, const std::vector<std::string>& types, std::string_view owner) const override {
    return access_.Entity(EntityFacts{id, &types, owner});
  }

  Shown AttributeShown(std::string_view id, const std::vector<std::string>& types, std::string_view owner,
                       std::string_view attr) const override {
    if (!access_.Attribute(EntityFacts{id, &types, owner}, attr)) return Shown::kHidden;
    const DataClass cls = privacy_ ? privacy_->ClassOf(types, attr) : DataClass::kNone;
    if (cls == DataClass::kNone) return Shown::kClear;
    if (cls == DataClass::kPersonal ? personal_in_clear_ : sensitive_in_clear_) {
      if (personal_read_) personal_read_->store(true, std::memory_order_relaxed);
      return Shown::kClear;
    }
    return privacy_->Rule(cls).treatment == security::Treatment::kPseudonymise ? Shown::kPseudonym : Shown::kHidden;
  }

  bool Pseudonymise(ngsild::Instance& instance) const override {
    return security::Pseudonymiser::Apply(tenant_key_, instance);
  }

  bool ChangesValues() const override {
    if (!privacy_) return false;
    auto pseudonymised = [&](security::DataClass c, bool in_clear) {
      return !in_clear && privacy_->Rule(c).treatment == security::Treatment::kPseudonymise;
    };
    return pseudonymised(DataClass::kPersonal, personal_in_clear_) || pseudonymised(DataClass::kSensitive, sensitive_in_clear_);
  }

  bool ShowsEverything(std::string_view id, const std::vector<std::string>& types,
                       std::string_view owner) const override {
    // Classified attributes go through AttributeShown even in clear: their reads are audited.
    return access_.EveryAttribute(EntityFacts{id, &types, owner}) && !(privacy_ && privacy_->Classifies(types));
  }

 private:
  std::shared_ptr<const security::Policy> policy_;  // access_ points into it
  Access access_;
  std::shared_ptr<const security::PrivacyPolicy> privacy_;
  bool personal_in_clear_;
  bool sensitive_in_clear_;
  std::string tenant_key_;
  std::atomic<bool>* personal_read_;
};

const security::Policy& PolicyOf(const SecurityDeps& s) {
  static const security::Policy kBuiltIn;
  return s.policy ? *s.policy : kBuiltIn;
}

bool HoldsAny(const security::Principal& p, std::string_view tenant, const std::vector<std::string>& roles) {
  for (const auto& r : roles) {
    if (p.HasRole(tenant, r)) return true;
  }
  return false;
}

thread_local const Caller* current_caller = nullptr;

}  // namespace

std::unique_ptr<broker::EntityView> MakeReadView(const SecurityDeps& security, const security::Principal& principal,
                                                 std::string_view tenant, std::atomic<bool>* personal_read) {
  Access access = PolicyOf(security).AccessFor(principal, tenant, Operation::kRead);
  const auto& privacy = security.privacy;
  if (access.all() && !privacy) return nullptr;
  bool personal = privacy && HoldsAny(principal, tenant, privacy->Rule(DataClass::kPersonal).readers);
  bool sensitive = privacy && HoldsAny(principal, tenant, privacy->Rule(DataClass::kSensitive).readers);
  std::string key = security.pseudonyms ? security.pseudonyms->TenantKey(tenant) : std::string();
  return std::make_unique<PolicyView>(security.policy, std::move(access), privacy, personal, sensitive, std::move(key),
                                      personal_read);
}

Access Caller::AccessFor(std::string_view tenant, Operation op) const {
  if (!principal_) return Access::All();
  return PolicyOf(*security_).AccessFor(*principal_, tenant, op);
}

Status Caller::Require(std::string_view tenant, Operation op) const {
  if (!principal_ || !AccessFor(tenant, op).none()) return Status::Ok();
  return Status::PermissionDenied(fmt::format("'{}' may not {} in tenant '{}'", principal_->subject,
                                              security::OperationName(op), tenant.empty() ? "default" : tenant));
}

std::unique_ptr<broker::EntityView> Caller::ReadView(std::string_view tenant) const {
  if (!principal_) return nullptr;
  return MakeReadView(*security_, *principal_, tenant, &personal_read_);
}

bool Caller::WritesUnrestricted(std::string_view tenant) const {
  return !principal_ || AccessFor(tenant, Operation::kWrite).all();
}

Status Caller::CheckWrite(std::string_view tenant, const ngsild::Entity& e, const std::vector<std::string>& attrs) const {
  if (!principal_) return Status::Ok();
  Access access = AccessFor(tenant, Operation::kWrite);
  if (access.all()) return Status::Ok();
  const EntityFacts facts{e.id, &e.types, e.owner};
  auto denied = [&](std::string_view what) {
    return Status::PermissionDenied(fmt::format("'{}' may not write {} of entity '{}' in tenant '{}'", principal_->subject,
                                                what, e.id, tenant.empty() ? "default" : tenant));
  };
  if (!access.Entity(facts)) return denied("any attribute");
  for (const auto& a : attrs) {
    if (!access.Attribute(facts, a)) return denied(fmt::format("attribute '{}'", a));
  }
  return Status::Ok();
}

Status Caller::CheckWriteAll(std::string_view tenant, const ngsild::Entity& e) const {
  return CheckWrite(tenant, e, e.AttributeNames());
}

Status Caller::CheckDelete(std::string_view tenant, const ngsild::Entity& e) const {
  if (!principal_) return Status::Ok();
  Access access = AccessFor(tenant, Operation::kWrite);
  if (access.all() || access.EveryAttribute(EntityFacts{e.id, &e.types, e.owner})) return Status::Ok();
  return Status::PermissionDenied(fmt::format("'{}' may not delete entity '{}' in tenant '{}'", principal_->subject, e.id,
                                              tenant.empty() ? "default" : tenant));
}

const Caller& CurrentCaller() {
  static const Caller kNobody;
  return current_caller ? *current_caller : kNobody;
}

CallerScope::CallerScope(const Caller* caller) : previous_(current_caller) { current_caller = caller; }
CallerScope::~CallerScope() { current_caller = previous_; }

}  // namespace cityhub::api
