// /ngsi-ld/v1/csourceRegistrations (GS CIM 009 §5.9, §5.10, §6.8–6.9): register (201 +
// Location), query (filters of §5.10.2, paginated, count), retrieve, update (204), delete (204).
// Bodies are read with the request's @context (Link header or the body's @context) and
// registrations rendered with the reader's. Who may call them is decided before the handlers
// run (the "register" operation of security/policy.h).
#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/query_spec.h"
#include "api/request.h"
#include "broker/registration_service.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kRegistrationsPath = "/ngsi-ld/v1/csourceRegistrations";

Status CheckId(const std::string& id) {
  if (!ngsild::IsUri(id)) {
    return Status::BadRequestData(fmt::format("registration id '{}' in the path is not a URI", id.substr(0, 100)));
  }
  return Status::Ok();
}

// options: only sysAttrs applies to a registration.
Result<bool> SysAttrsOf(const Request& req) {
  const std::string* options = req.Param("options");
  if (!options) return false;
  auto items = SplitList(*options, "options");
  if (!items.ok()) return items.status();
  bool sys_attrs = false;
  for (const auto& item : *items) {
    if (item != "sysAttrs") {
      return Status::InvalidRequest(fmt::format("options value '{}' does not apply to registrations (sysAttrs only)",
                                                item.substr(0, 64)));
    }
    sys_attrs = true;
  }
  return sys_attrs;
}

// The DateTime of parameter `name` (BadRequestData naming it if it is not one).
Result<int64_t> TimeParam(const Request& req, std::string_view name) {
  const std::string* text = req.Param(name);
  if (!text) return Status::BadRequestData(fmt::format("parameter '{}' is missing", name));
  auto ms = util::ParseDateTime(*text);
  if (!ms) return Status::BadRequestData(fmt::format("parameter '{}' must be a DateTime such as 2030-01-01T00:00:00Z", name));
  return *ms;
}

// timerel, timeAt, endTimeAt, timeproperty (§5.10.2 with the temporal query of §4.11).
Status ReadTemporal(const Request& req, broker::RegistrationQuery* q) {
  const std::string* timerel = req.Param("timerel");
  const bool any = timerel || req.Param("timeAt") || req.Param("endTimeAt") || req.Param("timeproperty");
  if (!any) return Status::Ok();
  if (!timerel) return Status::BadRequestData("parameter 'timerel' is missing: a temporal query needs timerel and timeAt");
  using TimeRel = broker::RegistrationQuery::TimeRel;
  if (*timerel == "before") q->timerel = TimeRel::kBefore;
  else if (*timerel == "after") q->timerel = TimeRel::kAfter;
  else if (*timerel == "between") q->timerel = TimeRel::kBetween;
  else return Status::BadRequestData("parameter 'timerel' must be before, after or between");
  auto at = TimeParam(req, "timeAt");
  if (!at.ok()) return at.status();
  q->time_at_ms = *at;
  if (q->timerel == TimeRel::kBetween) {
    auto end = TimeParam(req, "endTimeAt");
    if (!end.ok()) return end.status();
    if (*end <= *at) return Status::BadRequestData("parameter 'endTimeAt' must be after 'timeAt'");
    q->end_time_at_ms = *end;
  } else if (req.Param("endTimeAt")) {
    return Status::BadRequestData("parameter 'endTimeAt' is only for timerel=between");
  }
  if (const std::string* p = req.Param("timeproperty")) {
    if (*p != "observedAt" && *p != "createdAt" && *p != "modifiedAt" && *p != "deletedAt") {
      return Status::BadRequestData("parameter 'timeproperty' must be observedAt, createdAt, modifiedAt or deletedAt");
    }
    q->timeproperty = *p;
  }
  return Status::Ok();
}

// The geo-query: geoproperty names location (default), observationSpace or operationSpace.
Status ReadGeo(const QuerySpec& spec, const ngsild::Context& ctx, broker::RegistrationQuery* q) {
  const bool any = spec.georel || spec.geometry || spec.coordinates;
  if (!any) {
    if (spec.geoproperty) return Status::BadRequestData("geoproperty needs a geo-query (georel, geometry, coordinates)");
    return Status::Ok();
  }
  if (!spec.georel || !spec.geometry || !spec.coordinates) {
    return Status::BadRequestData("a geo-query needs georel, geometry and coordinates together");
  }
  std::string member = spec.geoproperty.value_or("location");
  if (member != "location" && member != "observationSpace" && member != "operationSpace") {
    return Status::BadRequestData(fmt::format(
        "geoproperty '{}' is not a registration member: location, observationSpace or operationSpace",
        member.substr(0, 64)));
  }
  auto geo = ngsild::GeoQuery::Parse(*spec.georel, *spec.geometry, *spec.coordinates, ctx.ExpandTerm(member));
  if (!geo.ok()) return geo.status();
  q->geo = std::move(*geo);
  q->geo_member = std::move(member);
  return Status::Ok();
}

Result<broker::RegistrationQuery> QueryOf(const Request& req, const ngsild::Context& ctx, const ApiLimits& limits) {
  auto spec = QuerySpecFromParams(req);
  if (!spec.ok()) return spec.status();
  broker::RegistrationQuery q;
  for (const auto& id : spec->ids) {
    if (!ngsild::IsUri(id)) return Status::BadRequestData(fmt::format("id '{}' is not a URI", id.substr(0, 100)));
  }
  q.ids = spec->ids;
  q.id_pattern = spec->id_pattern;
  auto types = TypeSelectionOf(spec->types, ctx);
  if (!types.ok()) return types.status();
  q.types = std::move(*types);
  auto attrs = AttrsParam(req, ctx);
  if (!attrs.ok()) return attrs.status();
  if (*attrs) q.attrs.assign((*attrs)->begin(), (*attrs)->end());
  if (spec->q) {
    auto f = ngsild::QFilter::Parse(*spec->q, ctx, limits.query);
    if (!f.ok()) return f.status();
    q.q = std::move(*f);
  }
  if (const std::string* csf = req.Param("csf")) {
    auto f = ngsild::QFilter::Parse(*csf, ctx, limits.query);
    if (!f.ok()) return Status(f.status().code(), "csf: " + f.status().message());
    q.csf = std::move(*f);
  }
  if (spec->scope_q) {
    auto f = ngsild::ScopeFilter::Parse(*spec->scope_q, limits.query);
    if (!f.ok()) return f.status();
    q.scope = std::move(*f);
  }
  CITYHUB_RETURN_IF_ERROR(ReadGeo(*spec, ctx, &q));
  CITYHUB_RETURN_IF_ERROR(ReadTemporal(req, &q));
  return q;
}

Response CreateRegistration(const Request& req, const ApiDeps& deps) {
  auto in = ReadObjectRequest(req, deps, /*allow_merge_patch=*/false, "a ContextSourceRegistration");
  if (!in.ok()) return Problem(in.status());
  auto id = deps.registrations->Create(in->tenant, in->object(), *in->ctx, util::NowMillis());
  if (!id.ok()) return Problem(id.status());
  Response r;
  r.status = 201;
  r.headers.Add("Location", fmt::format("{}/{}", kRegistrationsPath, PathSegment(*id)));
  return r;
}

// The registration as a reader sees it: rendered, with the figures distributed operations
// recorded for it (§5.2.9 status, timesSent, timesFailed, lastSuccess, lastFailure; none until
// a request was sent to its source).
json::object Shown(const ApiDeps& deps, std::string_view tenant, const json::object& stored, const ngsild::Context& ctx,
                   bool sys_attrs) {
  json::object out = ngsild::RenderRegistration(stored, ctx, sys_attrs);
  const json::value* id = out.if_contains("id");
  if (!deps.source_statistics || !id || !id->is_string()) return out;
  std::optional<broker::RegistrationFigures> figures = deps.source_statistics->Of(tenant, id->get_string());
  if (!figures) return out;
  out["status"] = figures->last_failed ? "failed" : "ok";
  out["timesSent"] = figures->times_sent;
  out["timesFailed"] = figures->times_failed;
  if (figures->last_success_ms) out["lastSuccess"] = util::FormatDateTime(figures->last_success_ms);
  if (figures->last_failure_ms) out["lastFailure"] = util::FormatDateTime(figures->last_failure_ms);
  return out;
}

Response QueryRegistrations(const Request& req, const ApiDeps& deps) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto sys_attrs = SysAttrsOf(req);
  if (!sys_attrs.ok()) return Problem(sys_attrs.status());
  auto paging = PagingOf(req, deps.limits);
  if (!paging.ok()) return Problem(paging.status());
  auto query = QueryOf(req, *in->ctx, deps.limits);
  if (!query.ok()) return Problem(query.status());
  auto page = deps.registrations->Query(in->tenant, *query, *in->ctx, paging->offset, paging->limit, util::NowMillis());
  if (!page.ok()) return Problem(page.status());
  json::array items;
  for (const auto& s : page->items) items.emplace_back(Shown(deps, in->tenant, s, *in->ctx, *sys_attrs));
  Response r = JsonResponse(200, std::move(items), in->media, *in->ctx);
  if (paging->count) r.headers.Add("NGSILD-Results-Count", std::to_string(page->total));
  AddPageLinks(req, *paging, paging->offset + paging->limit < page->total, &r);
  return r;
}

Response RetrieveRegistration(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const std::string& id = p.Get("registrationId");
  if (Status st = CheckId(id); !st.ok()) return Problem(st);
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto sys_attrs = SysAttrsOf(req);
  if (!sys_attrs.ok()) return Problem(sys_attrs.status());
  auto s = deps.registrations->Get(in->tenant, id);
  if (!s.ok()) return Problem(s.status());
  return JsonResponse(200, Shown(deps, in->tenant, *s, *in->ctx, *sys_attrs), in->media, *in->ctx);
}

Response UpdateRegistration(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const std::string& id = p.Get("registrationId");
  if (Status st = CheckId(id); !st.ok()) return Problem(st);
  auto in = ReadObjectRequest(req, deps, /*allow_merge_patch=*/true, "a ContextSourceRegistration fragment");
  if (!in.ok()) return Problem(in.status());
  Status st = deps.registrations->Update(in->tenant, id, in->object(), *in->ctx, util::NowMillis());
  // Figures belong to the source they were counted for: a new endpoint starts afresh.
  if (st.ok() && deps.source_statistics && in->object().contains("endpoint")) deps.source_statistics->Forget(in->tenant, id);
  return st.ok() ? NoContent() : Problem(st);
}

Response DeleteRegistration(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const std::string& id = p.Get("registrationId");
  if (Status st = CheckId(id); !st.ok()) return Problem(st);
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  Status st = deps.registrations->Delete(*tenant, id);
  if (st.ok() && deps.source_statistics) deps.source_statistics->Forget(*tenant, id);
  return st.ok() ? NoContent() : Problem(st);
}

}  // namespace

void RegisterRegistrationRoutes(http::Router& router, const ApiDeps& deps) {
  if (!deps.registrations) return;
  const std::string base(kRegistrationsPath);
  const std::string one = base + "/{registrationId}";
  router.Add("POST", base, [&deps](const Request& r, const PathParams&) { return CreateRegistration(r, deps); });
  router.Add("GET", base, [&deps](const Request& r, const PathParams&) { return QueryRegistrations(r, deps); });
  router.Add("GET", one, [&deps](const Request& r, const PathParams& p) { return RetrieveRegistration(r, p, deps); });
  router.Add("PATCH", one, [&deps](const Request& r, const PathParams& p) { return UpdateRegistration(r, p, deps); });
  router.Add("DELETE", one, [&deps](const Request& r, const PathParams& p) { return DeleteRegistration(r, p, deps); });
}

}  // namespace cityhub::api
