// SecuritySetup: the security parts of a running hub (docs/SECURITY.md) built from the Config —
// authentication (JWKS, API keys), the access policy, privacy classification and pseudonyms,
// the audit log and per-principal rate limits — owned for the hub's lifetime and lent to the
// api layer as api::SecurityDeps.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/api.h"
#include "app/config.h"
#include "broker/subscription_service.h"
#include "net/address_policy.h"
#include "ngsild/context.h"
#include "security/api_keys.h"
#include "security/audit_log.h"
#include "security/authenticator.h"
#include "security/policy.h"
#include "security/privacy.h"
#include "security/rate_limiter.h"
#include "util/status.h"

namespace cityhub::app {

struct SecuritySetup {
  std::unique_ptr<security::Authenticator> jwt;
  std::unique_ptr<security::ApiKeyAuthenticator> api_keys;
  std::shared_ptr<const security::Policy> policy;
  std::shared_ptr<const security::PrivacyPolicy> privacy;
  std::unique_ptr<security::Pseudonymiser> pseudonyms;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<security::RateLimiter> rate_limits;
  // The roles token subjects presented last (their subscriptions follow them).
  std::unique_ptr<security::RoleDirectory> roles = std::make_unique<security::RoleDirectory>();
  std::unique_ptr<security::RateLimiter> auth_failures;

  bool authenticates() const { return jwt || api_keys; }
  api::SecurityDeps Deps() const;
};

// The authenticators of --auth-jwks-file/--auth-jwks-url and --api-keys-file (none: no
// authentication); the JWKS URL is fetched only from where `outbound` allows. Runs first:
// whether the hub authenticates decides where it may listen.
Status SetUpAuthentication(const Config& config, std::shared_ptr<const net::AddressPolicy> outbound,
                           SecuritySetup* out);

// The policy (--auth-policy-file), privacy (--privacy-file, --privacy-secret-file), audit log
// (--audit-log…) and rate limits (--rate-limit-rps, --auth-failure-rps); names in the files are expanded with
// `contexts`. BadRequestData naming the option and what is wrong.
Status SetUpProtection(const Config& config, ngsild::ContextResolver& contexts, SecuritySetup* out);

// The history retention rules of the Config plus those the privacy file gives its types.
std::string RetentionRules(const Config& config, const SecuritySetup& security);

// Expands the names of a configuration file (policy, privacy, warning rules): with its
// "@context" resolved by the hub's resolver (preloaded, hosted or downloaded), else the core
// context.
std::function<Result<std::function<std::string(std::string_view)>>(const boost::json::value*)> FileExpander(
    ngsild::ContextResolver& contexts);

// What a stored subscription's creator may see (its "owner" member), for its notifications;
// `needed` kRegister for context source registration subscriptions (everything or nothing, as
// the creator holds that operation now).
// The factory keeps a copy of `security`, whose parts (the SecuritySetup) must outlive it.
broker::SubscriptionService::ViewFactory SubscriptionViews(
    const api::SecurityDeps& security, security::Operation needed = security::Operation::kRead);

}  // namespace cityhub::app
