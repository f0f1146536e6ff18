// Route registration and the top-level dispatch: routing failures become ProblemDetails, every
// answered request is counted in the metrics under its route pattern, and a handler that
// throws (a bug) becomes a 500 without taking the server down.
#include "api/api.h"

#include <algorithm>
#include <chrono>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "api/metrics.h"
#include "api/request.h"

namespace cityhub::api {
namespace json = boost::json;

void RegisterEntityRoutes(http::Router& router, const ApiDeps& deps);
void RegisterQueryRoutes(http::Router& router, const ApiDeps& deps);
void RegisterBatchRoutes(http::Router& router, const ApiDeps& deps);
void RegisterDiscoveryRoutes(http::Router& router, const ApiDeps& deps);
void RegisterContextRoutes(http::Router& router, const ApiDeps& deps);
void RegisterOpsRoutes(http::Router& router, const ApiDeps& deps);
void RegisterSubscriptionRoutes(http::Router& router, const ApiDeps& deps);
void RegisterTemporalRoutes(http::Router& router, const ApiDeps& deps);

void RegisterRoutes(http::Router& router, const ApiDeps& deps) {
  RegisterEntityRoutes(router, deps);
  RegisterQueryRoutes(router, deps);
  RegisterBatchRoutes(router, deps);
  RegisterDiscoveryRoutes(router, deps);
  RegisterContextRoutes(router, deps);
  RegisterOpsRoutes(router, deps);
  RegisterSubscriptionRoutes(router, deps);
  RegisterTemporalRoutes(router, deps);
}

namespace {

// The liveness and readiness probes answer without credentials (they reveal nothing).
bool IsPublic(std::string_view path) { return path == "/health" || path == "/health/live" || path == "/health/ready"; }

// 401 with the RFC 6750 challenge.
http::Response Challenge(const Status& st, bool token_given) {
  http::Response resp = Problem(st);
  std::string challenge = "Bearer realm=\"cityhub\"";
  if (token_given) {
    std::string reason(st.message());
    std::replace(reason.begin(), reason.end(), '"', '\'');
    challenge += fmt::format(", error=\"invalid_token\", error_description=\"{}\"", reason);
  }
  resp.headers.Add("WWW-Authenticate", challenge);
  return resp;
}

// The answer of the route `m` matched (or the routing error).
http::Response Route(const http::Router::Match& m, const http::Request& req) {
  switch (m.kind) {
    case http::Router::MatchKind::kFound:
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
    case http::Router::MatchKind::kPathNotFound:
      break;
  }
  return Problem(Status::NotFound(fmt::format("no resource at path '{}'", req.path.substr(0, 200))));
}

// Ok, or why the request's credentials are refused (only with authentication configured).
Status Authenticate(const ApiDeps& deps, const http::Request& req) {
  if (!deps.auth || IsPublic(req.path)) return Status::Ok();
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto principal = deps.auth->Authenticate(req.headers.Get("Authorization"), now_s);
  return principal.ok() ? Status::Ok() : principal.status();
}

}  // namespace

http::Response Dispatch(const http::Router& router, const ApiDeps& deps, const http::Request& req) {
  auto start = std::chrono::steady_clock::now();
  http::Router::Match m = router.Find(req.method, req.path);
  const std::string_view route = m.kind == http::Router::MatchKind::kFound ? std::string_view(m.pattern) : "unmatched";
  Status auth = Authenticate(deps, req);
  http::Response resp = auth.ok() ? Route(m, req) : Challenge(auth, !req.headers.Get("Authorization").empty());
  if (deps.metrics) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    deps.metrics->ObserveRequest(route, req.method, resp.status, seconds);
  }
  return resp;
}

}  // namespace cityhub::api
