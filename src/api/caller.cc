#include "api/caller.h"

#include <fmt/format.h>

#include <chrono>
#include <mutex>

#include "security/api_keys.h"
#include "security/privacy.h"
#include "security/role_directory.h"

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

// Whether `p` reads `cls`'s attributes in clear in `tenant` (true when nothing is classified).
bool ReadsInClear(const security::PrivacyPolicy* privacy, const security::Principal& p, std::string_view tenant,
                  DataClass cls) {
  return !privacy || HoldsAny(p, tenant, privacy->Rule(cls).readers);
}

// Sees nothing: the view of an owner whose key was revoked or has expired.
class NothingView final : public broker::EntityView {
 public:
  bool Visible(std::string_view, const std::vector<std::string>&, std::string_view) const override { return false; }
  Shown AttributeShown(std::string_view, const std::vector<std::string>&, std::string_view,
                       std::string_view) const override {
    return Shown::kHidden;
  }
  bool Pseudonymise(ngsild::Instance&) const override { return false; }
  bool ChangesValues() const override { return false; }
  bool ShowsEverything(std::string_view, const std::vector<std::string>&, std::string_view) const override {
    return false;
  }
};

// The owner's view as its rights are now, re-derived when the rights' sources change.
class OwnerView final : public broker::EntityView {
 public:
  OwnerView(const SecurityDeps& security, std::string tenant, security::Principal stored, Operation needed)
      : security_(security), tenant_(std::move(tenant)), stored_(std::move(stored)), needed_(needed) {}

  bool Visible(std::string_view id, const std::vector<std::string>& types, std::string_view owner) const override {
    auto v = Current();
    return !v || v->Visible(id, types, owner);
  }
  Shown AttributeShown(std::string_view id, const std::vector<std::string>& types, std::string_view owner,
                       std::string_view attr) const override {
    auto v = Current();
    return v ? v->AttributeShown(id, types, owner, attr) : Shown::kClear;
  }
  bool Pseudonymise(ngsild::Instance& instance) const override {
    auto v = Current();
    return !v || v->Pseudonymise(instance);
  }
  bool ChangesValues() const override {
    auto v = Current();
    return v && v->ChangesValues();
  }
  bool ShowsEverything(std::string_view id, const std::vector<std::string>& types,
                       std::string_view owner) const override {
    auto v = Current();
    return !v || v->ShowsEverything(id, types, owner);
  }

 private:
  static int64_t NowS() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  uint64_t Generation() const {
    return (security_.api_keys ? security_.api_keys->Generation() : 0) + (security_.roles ? security_.roles->generation() : 0);
  }
  // The inner view (null: everything in clear).
  std::shared_ptr<const broker::EntityView> Current() const {
    const uint64_t generation = Generation();
    const int64_t now = NowS();
    std::lock_guard lock(mutex_);
    if (!derived_ || generation != generation_ || (expires_at_ != 0 && now >= expires_at_)) {
      Derive(now);
      derived_ = true;
      generation_ = generation;
    }
    return view_;
  }
  void Derive(int64_t now) const {
    security::Principal p = stored_;
    expires_at_ = 0;
    if (security_.api_keys && p.subject.starts_with("apikey:")) {
      auto current = security_.api_keys->Current(p.subject, now);
      if (!current) {
        view_ = std::make_shared<NothingView>();
        return;
      }
      p = std::move(*current);
      expires_at_ = p.expires_at;
    } else if (security_.roles) {
      if (auto roles = security_.roles->RolesOf(p.subject)) p.roles = std::move(*roles);
    }
    if (needed_ == Operation::kRead) {
      view_ = MakeReadView(security_, p, tenant_, nullptr);
    } else if (PolicyOf(security_).AccessFor(p, tenant_, needed_).none()) {
      view_ = std::make_shared<NothingView>();
    } else {
      view_ = nullptr;
    }
  }

  const SecurityDeps& security_;
  const std::string tenant_;
  const security::Principal stored_;
  const Operation needed_;
  mutable std::mutex mutex_;
  mutable bool derived_ = false;
  mutable uint64_t generation_ = 0;
  mutable int64_t expires_at_ = 0;
  mutable std::shared_ptr<const broker::EntityView> view_;
};

thread_local const Caller* current_caller = nullptr;

}  // namespace

std::unique_ptr<broker::EntityView> MakeReadView(const SecurityDeps& security, const security::Principal& principal,
                                                 std::string_view tenant, std::atomic<bool>* personal_read) {
  Access access = PolicyOf(security).AccessFor(principal, tenant, Operation::kRead);
  const auto& privacy = security.privacy;
  if (access.all() && !privacy) return nullptr;
  bool personal = privacy && ReadsInClear(privacy.get(), principal, tenant, DataClass::kPersonal);
  bool sensitive = privacy && ReadsInClear(privacy.get(), principal, tenant, DataClass::kSensitive);
  std::string key = security.pseudonyms ? security.pseudonyms->TenantKey(tenant) : std::string();
  return std::make_unique<PolicyView>(security.policy, std::move(access), privacy, personal, sensitive, std::move(key),
                                      personal_read);
}

std::shared_ptr<const broker::EntityView> MakeOwnerView(const SecurityDeps& security, std::string_view tenant,
                                                        std::optional<security::Principal> owner, Operation needed) {
  if (!owner) return security.enabled() ? std::make_shared<NothingView>() : nullptr;
  return std::make_shared<OwnerView>(security, std::string(tenant), std::move(*owner), needed);
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

PolicyWriteAccess Caller::Writes(std::string_view tenant) const {
  if (!principal_) return PolicyWriteAccess();
  return PolicyWriteAccess(*security_, *principal_, tenant);
}

PolicyWriteAccess::PolicyWriteAccess(const SecurityDeps& security, const security::Principal& principal,
                                     std::string_view tenant)
    : subject_(principal.subject),
      policy_(security.policy),
      access_(PolicyOf(security).AccessFor(principal, tenant, Operation::kWrite)),
      privacy_(security.privacy),
      personal_in_clear_(ReadsInClear(privacy_.get(), principal, tenant, DataClass::kPersonal)),
      sensitive_in_clear_(ReadsInClear(privacy_.get(), principal, tenant, DataClass::kSensitive)) {
  unrestricted_ = access_.all() && personal_in_clear_ && sensitive_in_clear_;
}

bool PolicyWriteAccess::MayWrite(const Target& t) const { return access_.Entity(EntityFacts{t.id, &t.types, t.owner}); }

bool PolicyWriteAccess::MayWriteAttribute(const Target& t, std::string_view attr) const {
  if (!access_.Attribute(EntityFacts{t.id, &t.types, t.owner}, attr)) return false;
  switch (privacy_ ? privacy_->ClassOf(t.types, attr) : DataClass::kNone) {
    case DataClass::kNone: return true;
    case DataClass::kPersonal: return personal_in_clear_;
    case DataClass::kSensitive: return sensitive_in_clear_;
  }
  return false;
}

bool PolicyWriteAccess::MayDelete(const Target& t) const {
  return access_.EveryAttribute(EntityFacts{t.id, &t.types, t.owner});
}

const Caller& CurrentCaller() {
  static const Caller kNobody;
  return current_caller ? *current_caller : kNobody;
}

CallerScope::CallerScope(const Caller* caller) : previous_(current_caller) { current_caller = caller; }
CallerScope::~CallerScope() { current_caller = previous_; }

}  // namespace cityhub::api
