// Route registration and the top-level dispatch: routing failures become ProblemDetails, every
// answered request is counted in the metrics under its route pattern, and a handler that
// throws (a bug) becomes a 500 without taking the server down. Before an NGSI-LD handler runs,
// its URL parameters are checked against the operation's (parameters.h) and the tenant it names
// must exist unless the operation creates tenants; every NGSI-LD answer names the tenant and,
// when the client asked for an NGSI-LD version, the one applied (Prefer, §6.3.6).
#include "api/api.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "api/caller.h"
#include "api/metrics.h"
#include "api/parameters.h"
#include "api/request.h"
#include "broker/registration_service.h"
#include "http/server.h"
#include "ngsild/context.h"
#include "security/api_keys.h"
#include "security/audit_log.h"
#include "security/authenticator.h"
#include "security/rate_limiter.h"
#include "store/store.h"
#include "util/http_syntax.h"

namespace cityhub::api {
namespace json = boost::json;

void RegisterEntityRoutes(http::Router& router, const ApiDeps& deps);
void RegisterQueryRoutes(http::Router& router, const ApiDeps& deps);
void RegisterEntityMapRoutes(http::Router& router, const ApiDeps& deps);
void RegisterBatchRoutes(http::Router& router, const ApiDeps& deps);
void RegisterDiscoveryRoutes(http::Router& router, const ApiDeps& deps);
void RegisterContextRoutes(http::Router& router, const ApiDeps& deps);
void RegisterOpsRoutes(http::Router& router, const ApiDeps& deps);
void RegisterSubscriptionRoutes(http::Router& router, const ApiDeps& deps);
void RegisterRegistrationRoutes(http::Router& router, const ApiDeps& deps);
void RegisterTemporalRoutes(http::Router& router, const ApiDeps& deps);
void RegisterPrivacyRoutes(http::Router& router, const ApiDeps& deps);
void RegisterIotRoutes(http::Router& router, const ApiDeps& deps);
void RegisterServiceRoutes(http::Router& router, const ApiDeps& deps);
void RegisterInfoRoutes(http::Router& router, const ApiDeps& deps);
void RegisterMobilityRoutes(http::Router& router, const ApiDeps& deps);

void RegisterRoutes(http::Router& router, const ApiDeps& deps) {
  RegisterEntityRoutes(router, deps);
  RegisterQueryRoutes(router, deps);
  RegisterEntityMapRoutes(router, deps);
  RegisterBatchRoutes(router, deps);
  RegisterDiscoveryRoutes(router, deps);
  RegisterContextRoutes(router, deps);
  RegisterOpsRoutes(router, deps);
  RegisterSubscriptionRoutes(router, deps);
  RegisterRegistrationRoutes(router, deps);
  RegisterTemporalRoutes(router, deps);
  RegisterPrivacyRoutes(router, deps);
  RegisterIotRoutes(router, deps);
  RegisterServiceRoutes(router, deps);
  RegisterInfoRoutes(router, deps);
  RegisterMobilityRoutes(router, deps);
}

namespace {

// The liveness and readiness probes answer without credentials (they reveal nothing).
bool IsPublic(std::string_view path) { return path == "/health" || path == "/health/live" || path == "/health/ready"; }

// `text` cut to `max` bytes, with every byte outside printable ASCII, and the quote and
// backslash, replaced: RFC 6750's error_description allows no others, and a control byte in a
// header value would make the response invalid.
std::string PlainText(std::string_view text, size_t max) {
  std::string out(text.substr(0, max));
  for (char& c : out) {
    if (c == '"') c = '\'';
    else if (c < 0x20 || c > 0x7e || c == '\\') c = '?';
  }
  return out;
}

// 401 with the RFC 6750 challenge.
http::Response Challenge(const Status& st, bool token_given) {
  http::Response resp = Problem(st);
  std::string challenge = "Bearer realm=\"cityhub\"";
  if (token_given) {
    challenge += fmt::format(", error=\"invalid_token\", error_description=\"{}\"", PlainText(st.message(), 200));
  }
  resp.headers.Add("WWW-Authenticate", challenge);
  return resp;
}

// 429 with Retry-After.
http::Response TooManyRequests(std::string detail, double retry_after_s) {
  http::Response resp = Problem(Status(Status::Code::kTooManyRequests, std::move(detail)));
  resp.headers.Add("Retry-After", std::to_string(std::max(1, static_cast<int>(std::ceil(retry_after_s)))));
  return resp;
}

bool IsNgsiLd(std::string_view path) { return path.substr(0, 12) == "/ngsi-ld/v1/"; }

// The NGSI-LD operations that make the tenant they name when it does not exist yet (§4.14: a
// tenant is created implicitly by the first creation of an entity, subscription, context source
// registration or temporal representation in it).
bool CreatesTenant(std::string_view method, std::string_view route) {
  return method == "POST" &&
         (route == "/ngsi-ld/v1/entities" || route == "/ngsi-ld/v1/entityOperations/create" ||
          route == "/ngsi-ld/v1/entityOperations/upsert" || route == "/ngsi-ld/v1/subscriptions" ||
          route == "/ngsi-ld/v1/csourceRegistrations" || route == "/ngsi-ld/v1/csourceSubscriptions" ||
          route == "/ngsi-ld/v1/temporal/entities");
}

// NonexistentTenant when an NGSI-LD operation that does not create a tenant names one that
// does not exist (§6.3.14); ok otherwise (an invalid name is left to the handler's 400).
Status CheckTenant(const ApiDeps& deps, const http::Router::Match& m, const http::Request& req) {
  if (!deps.entities || !IsNgsiLd(m.pattern) || CreatesTenant(req.method, m.pattern)) return Status::Ok();
  auto tenant = TenantOf(req);
  if (!tenant.ok() || deps.entities->TenantExists(*tenant)) return Status::Ok();
  return Status(Status::Code::kNonexistentTenant, fmt::format("tenant '{}' does not exist", *tenant));
}

// The answer of the route `m` matched (or the routing error).
http::Response Route(const ApiDeps& deps, const http::Router::Match& m, const http::Request& req) {
  switch (m.kind) {
    case http::Router::MatchKind::kFound:
      if (Status st = CheckParameters(req.method, m.pattern, req); !st.ok()) return Problem(st);
      if (Status st = CheckTenant(deps, m, req); !st.ok()) return Problem(st);
      try {
        return (*m.handler)(req, m.params);
      } catch (const std::exception& e) {
        spdlog::error("handler for {} {} failed: {}", req.method, m.pattern, e.what());
        return Problem(Status::Internal("the request could not be processed"));
      }
    case http::Router::MatchKind::kMethodNotAllowed: {
      std::string allow = fmt::format("{}", fmt::join(m.allowed, ", "));
      json::object body = ProblemJson(Status::NotSupported(fmt::format("method {} is not allowed here; allowed: {}", req.method, allow)));
      body["status"] = 405;
      http::Response resp = PlainJson(405, body);
      resp.headers.Add("Allow", allow);
      return resp;
    }
    case http::Router::MatchKind::kBadPath:
      return Problem(Status::InvalidRequest("the request path has an invalid percent-encoding"));
    case http::Router::MatchKind::kEmptySegment:
      return Problem(Status::BadRequestData(
          fmt::format("the request path '{}' has an empty segment (two slashes in a row)", req.path.substr(0, 200))));
    case http::Router::MatchKind::kPathNotFound:
      break;
  }
  return Problem(Status::NotFound(fmt::format("no resource at path '{}'", req.path.substr(0, 200))));
}

// The operation a route performs, for the policy (nullopt: public, no credentials needed).
std::optional<security::Operation> OperationOf(std::string_view method, std::string_view route, std::string_view path) {
  using security::Operation;
  // Devices authenticate their measures with their own keys (ingest/registry.h).
  if (IsPublic(path) || route == "/cityhub/v1/transparency" || route == "/iot/d" || route == "/iot/json") return std::nullopt;
  auto starts = [&](std::string_view prefix) { return route.substr(0, prefix.size()) == prefix; };
  if (route == "/metrics" || starts("/admin/") || starts("/iot/")) return Operation::kAdmin;
  // Importing a transit feed replaces what every traveller of the tenant is told.
  if ((route == "/mobility/v1/feed" || route == "/mobility/v1/realtime") && method != "GET") return Operation::kAdmin;
  if (starts("/ngsi-ld/v1/jsonldContexts")) return method == "GET" ? Operation::kRead : Operation::kAdmin;
  if (starts("/ngsi-ld/v1/subscriptions") || starts("/cityhub/v1/subscriptions")) return Operation::kSubscribe;
  // Registrations steer where the hub sends requests and what it holds, and may carry a
  // source's credentials (contextSourceInfo): reading them is as privileged as writing them.
  if (starts("/ngsi-ld/v1/csourceRegistrations")) return Operation::kRegister;
  // A context source registration subscription is notified of registrations, in full: it needs
  // the right to read them.
  if (starts("/ngsi-ld/v1/csourceSubscriptions")) return Operation::kRegister;
  if (route == "/ngsi-ld/v1/entityOperations/query" || route == "/ngsi-ld/v1/temporal/entityOperations/query") {
    return Operation::kRead;
  }
  // An EntityMap is the product of its owner's query: managing it is part of reading.
  if (starts("/ngsi-ld/v1/entityMaps/") || starts("/ngsi-ld/v1/entityMap/")) return Operation::kRead;
  return method == "GET" ? Operation::kRead : Operation::kWrite;
}

// The tenant a route's rights are checked in: the NGSILD-Tenant header's, but the default
// tenant for what spans every tenant (metrics, backups, @context management).
std::string_view RightsTenant(std::string_view route, std::string_view method, std::string_view header_tenant) {
  if (route == "/metrics" || route.substr(0, 7) == "/admin/") return "";
  if (route.substr(0, 26) == "/ngsi-ld/v1/jsonldContexts" && method != "GET") return "";
  return header_tenant;
}

// The principal of the request's credentials: an API key (X-API-Key, or Authorization: ApiKey)
// or a Bearer JWT — with `verify` false only one verified before (API keys cost a hash lookup
// either way).
int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The API key the request presents (X-API-Key, or Authorization: ApiKey <key>); empty if none.
std::string_view ApiKeyOf(const http::Request& req) {
  std::string_view key = req.headers.Get("X-API-Key");
  std::string_view authorization = req.headers.Get("Authorization");
  if (key.empty() && authorization.size() > 7 && http::HeaderNameEquals(authorization.substr(0, 7), "ApiKey ")) {
    key = authorization.substr(7);
  }
  return key;
}

Result<security::Principal> Authenticate(const SecurityDeps& security, const http::Request& req, bool verify) {
  const int64_t now_s = NowSeconds();
  std::string_view authorization = req.headers.Get("Authorization");
  std::string_view key = ApiKeyOf(req);
  if (!key.empty()) {
    if (!security.api_keys) return Status(Status::Code::kUnauthenticated, "API keys are not accepted by this hub");
    return security.api_keys->Authenticate(key, now_s);
  }
  if (!security.jwt) {
    return Status(Status::Code::kUnauthenticated, "an API key is required (X-API-Key header)");
  }
  return security.jwt->Authenticate(authorization, now_s, verify);
}

bool CredentialsGiven(const http::Request& req) {
  return req.headers.Has("Authorization") || req.headers.Has("X-API-Key");
}

// Records the request in the audit log when it is one the log keeps: writes, denials,
// authentication failures, rate-limited requests, reads that showed classified attributes in
// clear, and federated reads — reads another hub forwarded, which carry its Via header
// (GS CIM 009 §6.3.18): the subject is the hub's own authenticated identity, the detail the
// Via chain it sent (broker aliases, never personal data). Failures and rate-limited requests — what a client can repeat at will — are summarised
// per client and reason (AuditLog::AppendRepeated), so a flood costs the log a few lines.
void Audit(const SecurityDeps& security, const http::Request& req, const Caller& caller, std::string_view tenant,
           std::optional<security::Operation> op, int status, std::string_view refusal) {
  if (!security.audit) return;
  std::string_view event;
  if (status == 401) event = "auth-failure";
  else if (status == 403 && caller.principal()) event = "denied";
  else if (status == 429) event = "rate-limited";
  else if (op && *op != security::Operation::kRead && req.method != "GET") event = "write";
  else if (req.headers.Has("Via")) event = "federated-read";
  else if (caller.read_personal()) event = "read-personal";
  else return;
  security::AuditRecord r;
  r.time_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  r.event = std::string(event);
  r.subject = caller.principal() ? caller.principal()->subject : "";
  r.tenant = std::string(tenant);
  r.method = req.method;
  r.path = req.path.substr(0, 1024);  // the query string may carry personal values: left out
  r.status = status;
  r.remote = req.remote_address;
  r.detail = PlainText(refusal, 200);
  if (event == "federated-read") {
    r.detail = PlainText(fmt::format("via {}{}", req.headers.Get("Via"),
                                     caller.read_personal() ? "; classified attributes shown in clear" : ""), 200);
  }
  if (status == 401 || status == 429) {
    security.audit->AppendRepeated(std::move(r));
  } else {
    security.audit->Append(std::move(r));
  }
}

// The answer to a request once its route is known: authentication, rights, rate limit, handler.
// `refusal` gets the reason of a 401 or 429 for the audit log.
http::Response Handle(const ApiDeps& deps, const http::Router::Match& m, const http::Request& req, Caller* caller,
                      std::string* tenant, std::optional<security::Operation>* op, std::string* refusal) {
  const SecurityDeps& security = deps.security;
  const bool found = m.kind == http::Router::MatchKind::kFound;
  *op = OperationOf(req.method, found ? std::string_view(m.pattern) : std::string_view(req.path), req.path);
  if (!security.enabled() || !*op) return Route(deps, m, req);
  // A client whose authentications keep failing is refused before any signature check: only
  // credentials that cost a lookup (an API key, a token verified before) still get through, so a
  // valid caller behind the same address keeps working while a flood of bad tokens costs nothing.
  const std::string client = util::ClientOf(req.remote_address);
  double retry_after = 0;
  const bool over = security.auth_failures && security.auth_failures->Exhausted(client, &retry_after);
  auto principal = Authenticate(security, req, !over);
  if (!principal.ok()) {
    if (over || (security.auth_failures && !security.auth_failures->Allow(client, &retry_after))) {
      *refusal = "too many failed authentications from this address";
      return TooManyRequests(*refusal + "; retry later with valid credentials", retry_after);
    }
    *refusal = principal.status().message();
    return Challenge(principal.status(), CredentialsGiven(req));
  }
  caller->Authenticated(&security, std::move(*principal));
  if (security.rate_limits && !security.rate_limits->Allow(caller->subject(), &retry_after)) {
    *refusal = "the principal's request rate is above its limit";
    return TooManyRequests(fmt::format("the request rate of '{}' is above its limit", caller->subject()), retry_after);
  }
  if (!found) return Route(deps, m, req);
  auto header_tenant = TenantOf(req);
  if (!header_tenant.ok()) return Problem(header_tenant.status());
  *tenant = std::string(RightsTenant(m.pattern, req.method, *header_tenant));
  if (Status st = caller->Require(*tenant, **op); !st.ok()) return Problem(st);
  CallerScope scope(caller);
  return Route(deps, m, req);
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The ngsi-ld=<version> preference of the Prefer headers (RFC 7240: comma-separated
// preferences, each `token [= value] *(; parameter)`, the token case-insensitive, the value a
// token or a quoted string), or nullopt when none is given.
std::optional<std::string> PreferredVersion(const http::Request& req) {
  for (std::string_view header : req.headers.GetAll("Prefer")) {
    while (!header.empty()) {
      const size_t comma = header.find(',');
      std::string_view pref = header.substr(0, comma);
      header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
      pref = TrimSpaces(pref.substr(0, pref.find(';')));
      const size_t eq = pref.find('=');
      if (eq == std::string_view::npos || !http::HeaderNameEquals(TrimSpaces(pref.substr(0, eq)), "ngsi-ld")) {
        continue;
      }
      std::string_view value = TrimSpaces(pref.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
  }
  return std::nullopt;
}

// True if `version` ("major.minor", optionally ".patch") is 1.8 or later: what the hub's
// payloads conform to (they hold nothing a later 1.x version changed the meaning of).
bool ConformsTo(std::string_view version) {
  unsigned major = 0, minor = 0;
  const auto dot = version.find('.');
  if (dot == std::string_view::npos) return false;
  auto number = [](std::string_view digits, unsigned* out) {
    if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string_view::npos) return false;
    *out = static_cast<unsigned>(std::stoul(std::string(digits)));
    return true;
  };
  std::string_view rest = version.substr(dot + 1);
  if (auto patch = rest.find('.'); patch != std::string_view::npos) {
    unsigned ignored = 0;
    if (!number(rest.substr(patch + 1), &ignored)) return false;
    rest = rest.substr(0, patch);
  }
  if (!number(version.substr(0, dot), &major) || !number(rest, &minor)) return false;
  return major == 1 && minor >= 8;
}

// Headers every NGSI-LD answer carries: the tenant it was addressed to (NGSILD-Tenant, §6.3.14)
// and, when the client preferred an NGSI-LD version the answer conforms to,
// Preference-Applied (§6.3.6, §4.3.6.8). A preference for an earlier version is not applied:
// the hub does not rewrite payloads into older versions' forms, and says so by leaving the
// header out (RFC 7240 §3).
void AddNgsiLdHeaders(const http::Request& req, http::Response* resp) {
  auto tenant = TenantOf(req);
  if (tenant.ok() && !tenant->empty() && !resp->headers.Has("NGSILD-Tenant")) {
    resp->headers.Add("NGSILD-Tenant", *tenant);
  }
  if (auto version = PreferredVersion(req); version && ConformsTo(*version)) {
    resp->headers.Add("Preference-Applied", std::string("ngsi-ld=") + std::string(kNgsiLdVersion));
  }
}

}  // namespace

bool RunsInline(const http::Router& router, const ApiDeps& deps, const http::Request& req) {
  const bool read = req.method == "GET";
  if ((!read && req.method != "PATCH") || !deps.store || !deps.store->ReadsLocally()) return false;
  // Parameters that stay within the entity; any other goes to a worker (join and containedBy
  // read further entities, entityMap writes one, an unknown one is refused there).
  static constexpr std::string_view kReadParams[] = {"type", "attrs", "pick", "omit", "geometryProperty", "lang",
                                                     "datasetId", "options", "format", "local"};
  static constexpr std::string_view kWriteParams[] = {"type", "local"};
  for (const auto& [name, value] : req.query) {
    const bool local = read ? std::find(std::begin(kReadParams), std::end(kReadParams), name) != std::end(kReadParams)
                            : std::find(std::begin(kWriteParams), std::end(kWriteParams), name) != std::end(kWriteParams);
    if (!local) return false;
  }
  const http::Router::Match m = router.Find(req.method, req.path);
  if (m.kind != http::Router::MatchKind::kFound ||
      m.pattern != (read ? "/ngsi-ld/v1/entities/{entityId}" : "/ngsi-ld/v1/entities/{entityId}/attrs")) {
    return false;
  }
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return false;
  if (!read) {
    // An update waits for no disk sync (EntityService::UpdateDeferred) — but it would wait for
    // the entity's previous write to commit, and an @context in an ld+json body may need a download.
    if (MediaOf(req.headers.Get("Content-Type")) == "application/ld+json") return false;
    if (!deps.entities || deps.entities->Busy(*tenant, m.params.Get("entityId"))) return false;
  }
  if (deps.registrations && deps.registrations->Any(*tenant)) return false;
  if (auto link = ContextLink(req); link && (!deps.contexts || !deps.contexts->ResolvedWithoutFetch(*link, *tenant))) {
    return false;
  }
  const SecurityDeps& security = deps.security;
  if (!security.enabled()) return true;
  if (!ApiKeyOf(req).empty()) return security.api_keys != nullptr;  // held in memory
  return security.jwt && security.jwt->Authenticate(req.headers.Get("Authorization"), NowSeconds(), /*verify=*/false).ok();
}

namespace {
// A deferred answer (DeferAnswer): given by the handler's callback, finished by Dispatch — in
// whichever order the two come.
class LaterAnswer {
 public:
  explicit LaterAnswer(http::Responder respond) : respond_(std::move(respond)) {}

  void Give(http::Response answer) {
    std::unique_lock lock(mutex_);
    if (!finish_) {
      given_ = std::move(answer);  // the handler has not returned to Dispatch yet
      return;
    }
    lock.unlock();
    Deliver(std::move(answer));
  }
  // What Dispatch does to every answer before it leaves.
  void SetFinish(std::function<void(http::Response&)> finish) {
    std::unique_lock lock(mutex_);
    finish_ = std::move(finish);
    if (!given_) return;
    http::Response answer = std::move(*given_);
    given_.reset();
    lock.unlock();
    Deliver(std::move(answer));
  }

 private:
  void Deliver(http::Response answer) {
    finish_(answer);
    respond_(std::move(answer));
  }

  const http::Responder respond_;
  std::mutex mutex_;
  std::function<void(http::Response&)> finish_;  // set once, under mutex_
  std::optional<http::Response> given_;         // under mutex_
};

// The deferred answer of the request Dispatch runs on this thread, once its handler asked for one.
thread_local std::shared_ptr<LaterAnswer>* t_later = nullptr;
}  // namespace

namespace {
// Gives the deferred answer once; if every copy of the answering function is gone unused — the
// handler threw before its write was queued, or the completion failed — the answer is a 500,
// so that no request is left without one (and without its audit record).
class AnswerOnce {
 public:
  explicit AnswerOnce(std::shared_ptr<LaterAnswer> later) : later_(std::move(later)) {}
  ~AnswerOnce() {
    if (!given_.exchange(true)) {
      later_->Give(Problem(Status::Internal("the request failed before its answer was made; its outcome is unknown")));
    }
  }
  void Give(http::Response answer) {
    if (!given_.exchange(true)) later_->Give(std::move(answer));
  }

 private:
  const std::shared_ptr<LaterAnswer> later_;
  std::atomic<bool> given_{false};
};
}  // namespace

std::function<void(http::Response)> DeferAnswer() {
  if (t_later == nullptr) return {};
  http::Responder respond = http::DeferResponse();
  if (!respond) return {};
  auto later = std::make_shared<LaterAnswer>(std::move(respond));
  *t_later = later;
  auto once = std::make_shared<AnswerOnce>(later);
  return [once](http::Response answer) { once->Give(std::move(answer)); };
}

http::Response Dispatch(const http::Router& router, const ApiDeps& deps, const http::Request& req) {
  auto start = std::chrono::steady_clock::now();
  http::Router::Match m = router.Find(req.method, req.path);
  const std::string route = m.kind == http::Router::MatchKind::kFound ? m.pattern : "unmatched";
  auto caller = std::make_shared<Caller>();  // outlives Dispatch when the answer comes later
  auto tenant = std::make_shared<std::string>();
  std::optional<security::Operation> op;
  auto refusal = std::make_shared<std::string>();
  std::shared_ptr<LaterAnswer> later;
  http::Response resp;
  {
    std::shared_ptr<LaterAnswer>* const outer = std::exchange(t_later, &later);
    resp = Handle(deps, m, req, caller.get(), tenant.get(), &op, refusal.get());
    t_later = outer;
  }
  auto finish = [&deps, &req, start, route, caller, tenant, op, refusal](http::Response& answer) {
    if (IsNgsiLd(req.path)) AddNgsiLdHeaders(req, &answer);
    Audit(deps.security, req, *caller, *tenant, op, answer.status, *refusal);
    if (deps.metrics) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      deps.metrics->ObserveRequest(route, req.method, answer.status, seconds);
    }
  };
  if (later) {
    later->SetFinish(std::move(finish));  // the request stays valid until the answer is given
    return resp;                          // dropped by the server
  }
  finish(resp);
  return resp;
}

}  // namespace cityhub::api
