#include "app/security_setup.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/caller.h"
#include "ngsild/context_fetch.h"

namespace cityhub::app {
namespace json = boost::json;

namespace {

Result<std::string> ReadFile(const std::string& path, std::string_view option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::BadRequestData(fmt::format("{}: cannot read '{}'", option, path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The authenticator for --auth-jwks-file or --auth-jwks-url (fetched now, then refreshed).
Result<std::unique_ptr<security::Authenticator>> MakeAuthenticator(
    const Config& config, std::shared_ptr<const net::AddressPolicy> outbound, security::RoleDirectory* directory) {
  if (!config.auth_jwks_file.empty() && !config.auth_jwks_url.empty()) {
    return Status::BadRequestData("give --auth-jwks-file or --auth-jwks-url, not both");
  }
  security::AuthConfig ac;
  ac.directory = directory;
  ac.policy = {config.auth_issuer, config.auth_audience, std::chrono::seconds(config.auth_clock_skew_s)};
  if (!config.auth_jwks_file.empty()) {
    auto text = ReadFile(config.auth_jwks_file, "--auth-jwks-file");
    if (!text.ok()) return text.status();
    ac.jwks_json = std::move(*text);
  } else {
    // Through the outbound policy like every other download: a provider on the city's own
    // network needs its range in --outbound-allow (and so do the hosts it redirects to).
    auto fetcher = std::make_shared<ngsild::ContextFetcher>(std::move(outbound));
    ac.reload = [fetcher, url = config.auth_jwks_url]() -> Result<std::string> {
      auto body = fetcher->Fetch(url, std::chrono::seconds(5), 1 << 20);
      if (!body.ok()) return Status(Status::Code::kUnavailable, fmt::format("cannot fetch the JWKS from '{}': {}", url, body.status().message()));
      return body;
    };
    ac.refresh_interval = std::chrono::seconds(std::max(10u, config.auth_jwks_refresh_s));
    auto first = ac.reload();
    if (!first.ok()) return first.status();
    ac.jwks_json = std::move(*first);
  }
  return security::Authenticator::Create(std::move(ac));
}


}  // namespace

std::function<Result<std::function<std::string(std::string_view)>>(const json::value*)> FileExpander(
    ngsild::ContextResolver& contexts) {
  return [&contexts](const json::value* context) -> Result<std::function<std::string(std::string_view)>> {
    ngsild::ContextPtr ctx = contexts.Core();
    if (context) {
      auto resolved = contexts.Resolve(*context);
      if (!resolved.ok()) return resolved.status();
      ctx = *resolved;
    }
    return std::function<std::string(std::string_view)>([ctx](std::string_view term) { return ctx->ExpandTerm(term); });
  };
}

api::SecurityDeps SecuritySetup::Deps() const {
  api::SecurityDeps d;
  d.jwt = jwt.get();
  d.api_keys = api_keys.get();
  d.policy = policy;
  d.privacy = privacy;
  d.pseudonyms = pseudonyms.get();
  d.audit = audit.get();
  d.rate_limits = rate_limits.get();
  d.roles = roles.get();
  d.auth_failures = auth_failures.get();
  return d;
}

Status SetUpAuthentication(const Config& config, std::shared_ptr<const net::AddressPolicy> outbound,
                           SecuritySetup* out) {
  if (!config.auth_jwks_file.empty() || !config.auth_jwks_url.empty()) {
    auto made = MakeAuthenticator(config, std::move(outbound), out->roles.get());
    if (!made.ok()) return made.status();
    out->jwt = std::move(*made);
    spdlog::info("authentication: Bearer JWTs (issuer '{}', audience '{}')",
                 config.auth_issuer.empty() ? "any" : config.auth_issuer,
                 config.auth_audience.empty() ? "any" : config.auth_audience);
  }
  if (!config.api_keys_file.empty()) {
    auto keys = security::ApiKeyAuthenticator::Open(config.api_keys_file);
    if (!keys.ok()) return Status::BadRequestData(fmt::format("--api-keys-file: {}", keys.status().message()));
    out->api_keys = std::move(*keys);
    spdlog::info("authentication: API keys of '{}' ({} keys)", config.api_keys_file, out->api_keys->size());
  }
  if (out->authenticates()) spdlog::info("credentials are required on every request but /health and /cityhub/v1/transparency");
  return Status::Ok();
}

Status SetUpProtection(const Config& config, ngsild::ContextResolver& contexts, SecuritySetup* out) {
  const bool auth = out->authenticates();
  auto needs_auth = [&](std::string_view option) {
    return Status::BadRequestData(fmt::format("{} needs authentication (--auth-jwks-file, --auth-jwks-url or --api-keys-file)", option));
  };
  if (!config.auth_policy_file.empty()) {
    if (!auth) return needs_auth("--auth-policy-file");
    auto text = ReadFile(config.auth_policy_file, "--auth-policy-file");
    if (!text.ok()) return text.status();
    auto policy = security::Policy::Parse(*text, FileExpander(contexts));
    if (!policy.ok()) return Status::BadRequestData(fmt::format("--auth-policy-file: {}", policy.status().message()));
    out->policy = std::move(*policy);
    spdlog::info("access policy: {} rules from '{}'", out->policy->rule_count(), config.auth_policy_file);
  }
  if (!config.privacy_file.empty()) {
    auto text = ReadFile(config.privacy_file, "--privacy-file");
    if (!text.ok()) return text.status();
    auto privacy = security::PrivacyPolicy::Parse(*text, FileExpander(contexts));
    if (!privacy.ok()) return Status::BadRequestData(fmt::format("--privacy-file: {}", privacy.status().message()));
    out->privacy = std::move(*privacy);
    const std::string secret_path = config.privacy_secret_file.empty()
                                        ? (std::filesystem::path(config.data_dir) / "privacy.secret").string()
                                        : config.privacy_secret_file;
    auto secret = security::LoadOrCreateSecret(secret_path);
    if (!secret.ok()) return Status::BadRequestData(fmt::format("--privacy-secret-file: {}", secret.status().message()));
    auto pseudonyms = security::Pseudonymiser::Create(std::move(*secret));
    if (!pseudonyms.ok()) return pseudonyms.status();
    out->pseudonyms = std::move(*pseudonyms);
    spdlog::info("privacy: {} classified types from '{}'", out->privacy->types().size(), config.privacy_file);
    if (!auth) spdlog::warn("privacy: without authentication every caller reads classified attributes in clear");
  }
  std::string audit_path = config.audit_log;
  if (audit_path == "auto") audit_path = auth ? (std::filesystem::path(config.data_dir) / "audit" / "audit.log").string() : "";
  if (audit_path == "off") audit_path.clear();
  if (!audit_path.empty()) {
    if (!auth) return needs_auth("--audit-log");
    security::AuditOptions options;
    options.max_file_bytes = config.audit_log_max_bytes;
    options.keep_files = config.audit_log_keep;
    auto log = security::AuditLog::Open(audit_path, options);
    if (!log.ok()) return Status::BadRequestData(fmt::format("--audit-log: {}", log.status().message()));
    out->audit = std::move(*log);
    if (config.audit_log_max_bytes > 0) {
      spdlog::info("audit log: '{}', rotated past {} bytes, {} rotated files kept (check them with `cityhub audit verify`)",
                   audit_path, config.audit_log_max_bytes, config.audit_log_keep);
    } else {
      spdlog::info("audit log: '{}' (check it with `cityhub audit verify`)", audit_path);
    }
  }
  if (config.rate_limit_rps > 0) {
    if (!auth) return needs_auth("--rate-limit-rps");
    const double burst = config.rate_limit_burst > 0 ? config.rate_limit_burst : config.rate_limit_rps;
    out->rate_limits = std::make_unique<security::RateLimiter>(config.rate_limit_rps, burst);
    spdlog::info("rate limit: {} requests/s per principal (burst {})", config.rate_limit_rps, burst);
  }
  if (auth && config.auth_failure_rps > 0) {
    const double burst = config.auth_failure_burst > 0 ? config.auth_failure_burst : config.auth_failure_rps;
    out->auth_failures = std::make_unique<security::RateLimiter>(config.auth_failure_rps, burst);
    spdlog::info("failed authentications: {}/s per client address (burst {}), then 429", config.auth_failure_rps, burst);
  }
  return Status::Ok();
}

std::string RetentionRules(const Config& config, const SecuritySetup& security) {
  std::string rules = config.retention;
  const std::string more = security.privacy ? security.privacy->RetentionRules() : "";
  if (!more.empty()) rules += rules.empty() ? more : "," + more;
  return rules;
}

broker::SubscriptionService::ViewFactory SubscriptionViews(const api::SecurityDeps& security, security::Operation needed) {
  return [security, needed](std::string_view tenant, const json::object& stored) -> std::shared_ptr<const broker::EntityView> {
    const json::value* owner = stored.if_contains("owner");
    if (!owner || !owner->is_object()) {
      if (security.enabled()) {
        const json::value* id = stored.if_contains("id");
        spdlog::warn("subscription '{}' of tenant '{}' was made without authentication and has no owner: it notifies "
                     "nothing now that authentication is on (recreate it with credentials)",
                     id && id->is_string() ? std::string_view(id->get_string()) : std::string_view("?"),
                     tenant.empty() ? "default" : tenant);
      }
      return api::MakeOwnerView(security, tenant, std::nullopt, needed);
    }
    security::Principal p;
    if (const json::value* s = owner->get_object().if_contains("subject"); s && s->is_string()) p.subject = std::string(s->get_string());
    if (const json::value* roles = owner->get_object().if_contains("roles"); roles && roles->is_array()) {
      for (const auto& r : roles->get_array()) {
        if (r.is_string()) p.roles.emplace_back(r.get_string());
      }
    }
    return api::MakeOwnerView(security, tenant, std::move(p), needed);
  };
}

}  // namespace cityhub::app
