// /ngsi-ld/v1/subscriptions (GS CIM 009 §5.8, §6.10–6.11) and /ngsi-ld/v1/csourceSubscriptions
// (§5.11, §6.12–6.13; the same data type and the same operations): create (201 + Location),
// query (paginated, count), retrieve, update (204), delete (204). Bodies are read with the
// request's @context (Link header or the body's @context) and subscriptions rendered with the
// reader's. Both resources are served by the same handlers, each with its own service.
#include <algorithm>
#include <limits>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/request.h"
#include "broker/notifier.h"
#include "broker/subscription_service.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kSubscriptionsPath = "/ngsi-ld/v1/subscriptions";
constexpr std::string_view kCsourceSubscriptionsPath = "/ngsi-ld/v1/csourceSubscriptions";

// One of the two subscription resources.
struct Resource {
  std::string_view path;
  broker::SubscriptionService* service;
  std::string_view noun;  // in messages
  bool csource;           // context source registration subscriptions
};

Result<ObjectRequest> ReadBody(const Request& req, const ApiDeps& deps) {
  return ReadObjectRequest(req, deps, /*allow_merge_patch=*/true, "a Subscription");
}

Status CheckId(const Resource& res, const std::string& id) {
  if (!ngsild::IsUri(id)) {
    return Status::BadRequestData(fmt::format("{} id '{}' in the path is not a URI", res.noun, id.substr(0, 100)));
  }
  return Status::Ok();
}

Status Hidden(const Resource& res, std::string_view id) {
  return Status::NotFound(fmt::format("{} '{}' not found", res.noun, id.substr(0, 200)));
}

// The stored "owner" of a subscription created by the current caller: its subject and the roles
// it held (its notifications show what those roles may read), or null without authentication.
json::value OwnerOfNew() {
  const security::Principal* p = CurrentCaller().principal();
  if (!p) return nullptr;
  json::array roles;
  for (const auto& r : p->roles) roles.emplace_back(r);
  return json::object{{"subject", p->subject}, {"roles", std::move(roles)}};
}

// Whether the current caller may see and change subscription `stored`: its creator, or an
// admin of the tenant.
bool MayManage(const json::object& stored, std::string_view tenant) {
  const Caller& caller = CurrentCaller();
  if (!caller.principal()) return true;
  if (caller.AccessFor(tenant, security::Operation::kAdmin).all()) return true;
  const json::value* owner = stored.if_contains("owner");
  const json::value* subject = owner && owner->is_object() ? owner->get_object().if_contains("subject") : nullptr;
  return subject && subject->is_string() && subject->get_string() == caller.subject();
}

// NotFound (as if absent) for a subscription the caller may not manage.
Status CheckManage(const Resource& res, std::string_view tenant, const std::string& id) {
  if (!CurrentCaller().principal()) return Status::Ok();
  auto s = res.service->Get(tenant, id);
  if (!s.ok()) return s.status();
  if (MayManage(*s, tenant)) return Status::Ok();
  return Hidden(res, id);
}

Response CreateSubscription(const Request& req, const Resource& res, const ApiDeps& deps) {
  auto in = ReadBody(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto id = res.service->Create(in->tenant, in->body.get_object(), *in->ctx, util::NowMillis(), OwnerOfNew());
  if (!id.ok()) return Problem(id.status());
  Response r;
  r.status = 201;
  r.headers.Add("Location", fmt::format("{}/{}", res.path, PathSegment(*id)));
  return r;
}

// The stored form with the notifier's delivery status in its notification member, as GS CIM 009
// NotificationParams has it (§5.2.14): timesSent, timesFailed, lastNotification, lastSuccess,
// lastFailure, and status "ok"/"failed" once anything was sent. cityhub's own figures
// (timesGivenUp, lastFailureReason) are at /cityhub/v1/subscriptions/{id}/delivery.
json::object WithDeliveryStatus(json::object stored, std::string_view tenant, const Resource& res, const ApiDeps& deps) {
  if (!deps.notifier) return stored;
  const json::value* id = stored.if_contains("id");
  json::value* n = stored.if_contains("notification");
  if (!id || !id->is_string() || !n || !n->is_object()) return stored;
  const broker::DeliveryStatus s = deps.notifier->StatusOf(tenant, id->get_string(), res.csource);
  json::object& out = n->get_object();
  if (s.times_sent > 0) {
    out["timesSent"] = s.times_sent;
    out["status"] = s.failing ? "failed" : "ok";
    out["lastNotification"] = util::FormatDateTime(s.last_notification_ms);
  }
  if (s.times_failed > 0) out["timesFailed"] = s.times_failed;
  if (s.last_success_ms > 0) out["lastSuccess"] = util::FormatDateTime(s.last_success_ms);
  if (s.last_failure_ms > 0) out["lastFailure"] = util::FormatDateTime(s.last_failure_ms);
  return stored;
}

// GET /cityhub/v1/subscriptions/{id}/delivery: the delivery figures an operator needs beyond the
// spec's status members — every counter, and the coarse reason of the last failure ("HTTP 503",
// "address not allowed by the outbound policy"; never a socket error or the receiver's body).
Response SubscriptionDelivery(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const Resource res{kSubscriptionsPath, deps.subscriptions, "subscription", false};
  const std::string& id = p.Get("subscriptionId");
  if (Status st = CheckId(res, id); !st.ok()) return Problem(st);
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto stored = deps.subscriptions->Get(*tenant, id);
  if (!stored.ok()) return Problem(stored.status());
  if (!MayManage(*stored, *tenant)) return Problem(Status::NotFound(fmt::format("subscription '{}' not found", id.substr(0, 200))));
  json::object out{{"id", id}};
  if (deps.notifier) {
    const broker::DeliveryStatus s = deps.notifier->StatusOf(*tenant, id);
    out["timesSent"] = s.times_sent;
    out["timesFailed"] = s.times_failed;
    out["timesGivenUp"] = s.given_up;
    if (s.times_sent > 0) out["status"] = s.failing ? "failed" : "ok";
    if (s.last_notification_ms > 0) out["lastNotification"] = util::FormatDateTime(s.last_notification_ms);
    if (s.last_success_ms > 0) out["lastSuccess"] = util::FormatDateTime(s.last_success_ms);
    if (s.last_failure_ms > 0) out["lastFailure"] = util::FormatDateTime(s.last_failure_ms);
    if (s.last_failure_ms > 0 && !s.last_failure_reason.empty()) out["lastFailureReason"] = s.last_failure_reason;
  }
  return PlainJson(200, out);
}

Response RetrieveSubscription(const Request& req, const PathParams& p, const Resource& res, const ApiDeps& deps) {
  const std::string& id = p.Get("subscriptionId");
  if (Status st = CheckId(res, id); !st.ok()) return Problem(st);
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto s = res.service->Get(in->tenant, id);
  if (!s.ok()) return Problem(s.status());
  if (!MayManage(*s, in->tenant)) return Problem(Hidden(res, id));
  const bool sys_attrs = HasOption(req, "sysAttrs");
  return JsonResponse(200, ngsild::RenderSubscription(WithDeliveryStatus(std::move(*s), in->tenant, res, deps), *in->ctx,
                                                     sys_attrs, util::NowMillis()),
                      in->media, *in->ctx);
}

Response QuerySubscriptions(const Request& req, const Resource& res, const ApiDeps& deps) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto paging = PagingOf(req, deps.limits);
  if (!paging.ok()) return Problem(paging.status());
  const Caller& caller = CurrentCaller();
  const bool all = !caller.principal() || caller.AccessFor(in->tenant, security::Operation::kAdmin).all();
  // A caller who is not an admin lists its own subscriptions: filtered before paging.
  auto page = all ? res.service->List(in->tenant, paging->offset, paging->limit)
                  : res.service->List(in->tenant, 0, std::numeric_limits<size_t>::max());
  if (!page.ok()) return Problem(page.status());
  if (!all) {
    std::erase_if(page->items, [&](const json::object& s) { return !MayManage(s, in->tenant); });
    page->total = page->items.size();
    const size_t from = std::min(paging->offset, page->items.size());
    const size_t to = std::min(page->items.size(), from + paging->limit);
    page->items = std::vector<json::object>(std::make_move_iterator(page->items.begin() + from),
                                            std::make_move_iterator(page->items.begin() + to));
  }
  json::array items;
  const int64_t now = util::NowMillis();
  const bool sys_attrs = HasOption(req, "sysAttrs");
  for (auto& s : page->items) {
    items.emplace_back(ngsild::RenderSubscription(WithDeliveryStatus(std::move(s), in->tenant, res, deps), *in->ctx, sys_attrs, now));
  }
  Response r = JsonResponse(200, std::move(items), in->media, *in->ctx);
  if (paging->count) r.headers.Add("NGSILD-Results-Count", std::to_string(page->total));
  AddPageLinks(req, *paging, paging->offset + paging->limit < page->total, &r);
  return r;
}

Response UpdateSubscription(const Request& req, const PathParams& p, const Resource& res, const ApiDeps& deps) {
  const std::string& id = p.Get("subscriptionId");
  if (Status st = CheckId(res, id); !st.ok()) return Problem(st);
  auto in = ReadBody(req, deps);
  if (!in.ok()) return Problem(in.status());
  if (Status allowed = CheckManage(res, in->tenant, id); !allowed.ok()) return Problem(allowed);
  Status st = res.service->Update(in->tenant, id, in->body.get_object(), *in->ctx, util::NowMillis());
  return st.ok() ? NoContent() : Problem(st);
}

Response DeleteSubscription(const Request& req, const PathParams& p, const Resource& res) {
  const std::string& id = p.Get("subscriptionId");
  if (Status st = CheckId(res, id); !st.ok()) return Problem(st);
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  Status st = CheckManage(res, *tenant, id);
  if (st.ok()) st = res.service->Delete(*tenant, id);
  return st.ok() ? NoContent() : Problem(st);
}

// The five operations of `res`.
void AddResourceRoutes(http::Router& router, const Resource& res, const ApiDeps& deps) {
  const std::string base(res.path);
  const std::string one = base + "/{subscriptionId}";
  router.Add("POST", base, [res, &deps](const Request& r, const PathParams&) { return CreateSubscription(r, res, deps); });
  router.Add("GET", base, [res, &deps](const Request& r, const PathParams&) { return QuerySubscriptions(r, res, deps); });
  router.Add("GET", one,
             [res, &deps](const Request& r, const PathParams& p) { return RetrieveSubscription(r, p, res, deps); });
  router.Add("PATCH", one,
             [res, &deps](const Request& r, const PathParams& p) { return UpdateSubscription(r, p, res, deps); });
  router.Add("DELETE", one, [res](const Request& r, const PathParams& p) { return DeleteSubscription(r, p, res); });
}

}  // namespace

void RegisterSubscriptionRoutes(http::Router& router, const ApiDeps& deps) {
  AddResourceRoutes(router, Resource{kSubscriptionsPath, deps.subscriptions, "subscription", false}, deps);
  if (deps.csource_subscriptions) {
    AddResourceRoutes(router,
                      Resource{kCsourceSubscriptionsPath, deps.csource_subscriptions,
                               "context source registration subscription", true},
                      deps);
  }
  router.Add("GET", "/cityhub/v1/subscriptions/{subscriptionId}/delivery",
             [&deps](const Request& r, const PathParams& p) { return SubscriptionDelivery(r, p, deps); });
}

}  // namespace cityhub::api
