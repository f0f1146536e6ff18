// /ngsi-ld/v1/jsonldContexts (GS CIM 009 §5.13): register (hosted), list, serve and delete
// @context documents. The documents themselves live in ngsild::ContextResolver. A request sees
// the Hosted and ImplicitlyCreated contexts of its NGSILD-Tenant, whose read right
// api::Dispatch has checked, and the Cached copies of published documents: another tenant's are
// not found.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/request.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

std::string_view KindName(ngsild::StoredContext::Kind k) {
  switch (k) {
    case ngsild::StoredContext::Kind::kHosted:
      return "Hosted";
    case ngsild::StoredContext::Kind::kCached:
      return "Cached";
    case ngsild::StoredContext::Kind::kImplicitlyCreated:
      return "ImplicitlyCreated";
  }
  return "Hosted";
}

json::object DetailsJson(const ngsild::StoredContext& c) {
  json::object o{{"URL", c.url},
                 {"localId", c.id},
                 {"kind", KindName(c.kind)},
                 {"createdAt", util::FormatDateTime(c.created_at_ms)},
                 {"numberOfHits", c.number_of_hits}};
  if (c.last_used_ms > 0) o["lastUsage"] = util::FormatDateTime(c.last_used_ms);
  return o;
}

Response AddContext(const Request& req, const ApiDeps& deps) {
  auto body = ParseJsonBody(req, deps.limits);
  if (!body.ok()) return Problem(body.status());
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto stored = deps.contexts->AddHosted(body->value, *tenant);
  if (!stored.ok()) return Problem(stored.status());
  Response r;
  r.status = 201;
  r.headers.Add("Location", stored->url);
  return r;
}

Response ListContexts(const Request& req, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto details = BoolParam(req, "details");
  if (!details.ok()) return Problem(details.status());
  std::optional<ngsild::StoredContext::Kind> kind;
  if (const std::string* k = req.Param("kind")) {
    if (*k == "Hosted") {
      kind = ngsild::StoredContext::Kind::kHosted;
    } else if (*k == "Cached") {
      kind = ngsild::StoredContext::Kind::kCached;
    } else if (*k == "ImplicitlyCreated") {
      kind = ngsild::StoredContext::Kind::kImplicitlyCreated;
    } else {
      return Problem(Status::BadRequestData("parameter 'kind' must be Hosted, Cached or ImplicitlyCreated"));
    }
  }
  json::array out;
  for (const auto& c : deps.contexts->List(kind, *tenant)) {
    if (*details) {
      out.emplace_back(DetailsJson(c));
    } else {
      out.emplace_back(c.url);
    }
  }
  return PlainJson(200, out);
}

Response ServeContext(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto c = deps.contexts->Get(p.Get("contextId"), *tenant);
  if (!c.ok()) return Problem(c.status());
  if (const std::string* d = req.Param("details"); d && *d == "true") return PlainJson(200, DetailsJson(*c));
  Response r;
  r.status = 200;
  r.headers.Add("Content-Type", "application/ld+json");
  r.body = c->document;
  return r;
}

Response DeleteContext(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto reload = BoolParam(req, "reload");
  if (!reload.ok()) return Problem(reload.status());
  Status st = deps.contexts->Remove(p.Get("contextId"), *reload, *tenant);
  return st.ok() ? NoContent() : Problem(st);
}

}  // namespace

void RegisterContextRoutes(http::Router& router, const ApiDeps& deps) {
  const std::string base = "/ngsi-ld/v1/jsonldContexts";
  router.Add("POST", base, [&deps](const Request& r, const PathParams&) { return AddContext(r, deps); });
  router.Add("GET", base, [&deps](const Request& r, const PathParams&) { return ListContexts(r, deps); });
  router.Add("GET", base + "/{contextId}", [&deps](const Request& r, const PathParams& p) { return ServeContext(r, p, deps); });
  router.Add("DELETE", base + "/{contextId}", [&deps](const Request& r, const PathParams& p) { return DeleteContext(r, p, deps); });
}

}  // namespace cityhub::api
