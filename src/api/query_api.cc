// Query Entities (GS CIM 009 §5.7.2): GET /ngsi-ld/v1/entities with URL parameters, and POST
// /ngsi-ld/v1/entityOperations/query (§6.23) with a Query body (§5.2.23) — one QuerySpec built
// from either, compiled against the request's @context into a broker::EntityQuery, and one
// response: the page as JSON or a GeoJSON FeatureCollection, NGSILD-Results-Count with
// count=true, and Link rel="next"/"prev" to the neighbouring pages. With entityMap=true the
// matches are kept as an EntityMap (broker::EntityMapStore) whose location the answer names
// in NGSILD-EntityMap; a request carrying that header is served from the map's id list. Running and rendering a
// query holds one of ApiDeps::query_slots (503 if none frees up within the query time limit).
#include <algorithm>
#include <unordered_map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/distributed.h"
#include "api/entity_maps.h"
#include "api/entity_read.h"
#include "api/linked_entities.h"
#include "api/query_spec.h"
#include "api/request.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

// True if the request names an EntityMap: its entity set is the map's, so the query needs no
// selector of its own.
bool NamesEntityMap(const Request& req) { return !req.headers.Get("NGSILD-EntityMap").empty(); }

// One page of the entities EntityMap `map` lists (§5.14): the ids at [offset, offset + limit)
// of the list, read now — those deleted since, expired or hidden from the caller are left out,
// so a page may come back shorter, but pages never shift. NGSILD-Results-Count is the size of
// the list.
Response PageOfMap(const Request& req, const ApiDeps& deps, const EntityRead& in, const Paging& page,
                   const broker::EntityMap& map, const broker::EntityView* view) {
  const auto& ids = *map.ids;
  const size_t begin = std::min(page.offset, ids.size());
  const size_t end = std::min(ids.size(), begin + page.limit);
  std::vector<ngsild::Entity> entities;
  if (begin < end) {
    broker::EntityQuery q;
    q.ids.assign(ids.begin() + begin, ids.begin() + end);
    q.limit = end - begin;
    q.view = view;
    auto result = deps.queries->Query(in.tenant, q);
    if (!result.ok()) return Problem(result.status());
    entities = std::move(result->entities);
    // In the map's order (a query's orderBy, else ids), not the id order the read returns.
    std::unordered_map<std::string_view, size_t> position;
    for (size_t i = begin; i < end; ++i) position.emplace(ids[i], i);
    std::sort(entities.begin(), entities.end(), [&](const ngsild::Entity& a, const ngsild::Entity& b) {
      return position[a.id] < position[b.id];
    });
  }
  auto body = RenderAnswer(in, std::move(entities), deps, view, false);
  if (!body.ok()) return Problem(body.status());
  Response r = JsonResponse(200, std::move(*body), in.media, *in.ctx);
  if (page.count) r.headers.Add("NGSILD-Results-Count", std::to_string(ids.size()));
  r.headers.Add("NGSILD-EntityMap", EntityMapLocation(map.id));
  AddPageLinks(req, page, end < ids.size(), &r);
  return r;
}

// A new EntityMap of every entity `q` matches for the caller now, in the query's order.
Result<broker::EntityMap> MakeMap(const ApiDeps& deps, const EntityRead& in, broker::EntityQuery q,
                                  const broker::EntityView* view) {
  q.offset = 0;
  q.limit = deps.entity_maps->limits().max_entities + 1;
  q.count = false;
  q.view = view;
  auto result = deps.queries->Query(in.tenant, q);
  if (!result.ok()) return result.status();
  std::vector<std::string> ids;
  ids.reserve(result->entities.size());
  for (auto& e : result->entities) ids.push_back(std::move(e.id));
  return deps.entity_maps->Create(in.tenant, CurrentCaller().subject(), std::move(ids), util::NowMillis());
}

// Runs a query with the matching context sources (§5.7.2, §4.3.6): the hub's first offset +
// limit + 1 matches and each source's are merged by id, in id order, and paged; the entity past
// the page tells whether a next page exists. The query slot is given back before the sources are
// waited for (waiting needs no CPU). Each source that could not contribute is named in an
// NGSILD-Warning (§6.3.17).
Response RunDistributedQuery(const Request& req, const ApiDeps& deps, const EntityRead& in, broker::EntityQuery q,
                             const Paging& page, const Distribution& plan, util::CountingGate::Permit slot) {
  if (!q.order_by.empty()) {
    return Problem(Status::NotSupported(
        "parameter 'orderBy' is not supported when context sources registered for the query take part; "
        "add local=true to order the hub's own entities"));
  }
  const size_t limit = page.limit == 0 ? 0 : page.limit + 1;
  q.offset = 0;
  q.limit = page.offset + limit;
  auto local = deps.queries->Query(in.tenant, q);
  if (!local.ok()) return Problem(local.status());
  slot.Release();
  auto answer = deps.distributed_reads->QueryEntities(std::move(local->entities), local->total, plan.query,
                                                      page.offset, limit, page.count, plan.sources, plan.call);
  const bool more = page.limit > 0 && answer.entities.size() > page.limit;
  if (more) answer.entities.pop_back();
  if (q.view) {
    std::erase_if(answer.entities, [&](const ngsild::Entity& e) { return !q.view->Visible(e); });
    for (auto& e : answer.entities) q.view->Redact(e);
  }
  auto body = RenderAnswer(in, std::move(answer.entities), deps, q.view, false);
  if (!body.ok()) return Problem(body.status());
  Response r = JsonResponse(200, std::move(*body), in.media, *in.ctx);
  if (answer.total) r.headers.Add("NGSILD-Results-Count", std::to_string(*answer.total));
  AddPageLinks(req, page, more, &r);
  AddSourceWarnings(answer.warnings, &r);
  return r;
}

// Pages, runs and renders a compiled query — or, with entityMap=true or an NGSILD-EntityMap
// header (§5.7.2, §5.14), the page of an EntityMap.
// `operation` and `spec` say what the sources registered for it are asked (api/distributed.h);
// queries kept as an EntityMap are local only.
Response RunQuery(const Request& req, const ApiDeps& deps, const EntityRead& in, broker::EntityQuery q,
                  std::string operation, const QuerySpec& spec) {
  auto page = PagingOf(req, deps.limits);
  if (!page.ok()) return Problem(page.status());
  auto order = OrderByOf(req, *in.ctx, q.geo.has_value());
  if (!order.ok()) return Problem(order.status());
  q.order_by = std::move(*order);
  auto make_map = BoolParam(req, "entityMap");
  if (!make_map.ok()) return Problem(make_map.status());
  const std::string_view map_ref = req.headers.Get("NGSILD-EntityMap");
  if ((*make_map || !map_ref.empty()) && !deps.entity_maps) {
    return Problem(Status::NotSupported("EntityMaps are not supported by this hub"));
  }
  std::optional<broker::EntityMap> map;
  if (!map_ref.empty()) {
    auto found = EntityMapOfCaller(deps, in.tenant, map_ref);
    if (!found.ok()) {
      return Problem(Status::BadRequestData(fmt::format("header NGSILD-EntityMap: {}", found.status().message())));
    }
    map = std::move(*found);
  }
  q.count = page->count;
  // One entity past the page tells whether a next page exists without counting them all.
  q.limit = page->limit == 0 ? 0 : page->limit + 1;
  q.offset = page->offset;

  // Running and rendering are CPU-bound: past the query slots, more at once only time-slice the
  // cores and stretch every query's latency, so the rest wait here (FIFO), up to the query
  // time limit.
  util::CountingGate::Permit slot;
  if (deps.query_slots) {
    slot = deps.query_slots->AcquireFor(deps.query_slot_wait);
    if (!slot) {
      Response busy = Problem(Status(Status::Code::kUnavailable,
                                     fmt::format("too many queries in progress: no query slot became free within {} ms; "
                                                 "retry later",
                                                 deps.query_slot_wait.count())));
      busy.headers.Add("Retry-After", "1");
      return busy;
    }
  }
  // §5.7.2.4: an entity matches only if it holds one of the projection Attributes — those
  // pick names as well as attrs (a query never answers entities reduced to nothing asked for).
  if (in.projection && q.attrs.empty()) {
    const auto& picked = in.projection->PickedAttributes();
    q.attrs.assign(picked.begin(), picked.end());
  }
  std::unique_ptr<broker::EntityView> view = CurrentCaller().ReadView(in.tenant);
  if (!map && *make_map) {
    auto made = MakeMap(deps, in, q, view.get());
    if (!made.ok()) return Problem(made.status());
    map = std::move(*made);
  }
  if (map) return PageOfMap(req, deps, in, *page, *map, view.get());
  q.view = view.get();
  DistributionRequest asked = QueryDistribution(std::move(operation), spec, q);
  // Sources are asked for system attributes when the caller wants them shown; otherwise the
  // merge asks again only for the entities that need them (DistributedRead::QueryEntities).
  if (in.rep.sys_attrs) AskSystemAttributes(&asked);
  asked.csf = req.Param("csf");
  auto plan = PlanDistribution(req, deps, in.tenant, *in.ctx, std::move(asked));
  if (!plan.ok()) return Problem(plan.status());
  if (*plan) return RunDistributedQuery(req, deps, in, std::move(q), *page, **plan, std::move(slot));
  // Rendered straight from the stored text when nothing needs the entities themselves.
  q.as_text = in.RendersFromText() && q.order_by.empty();
  auto result = deps.queries->Query(in.tenant, q);
  if (!result.ok()) return Problem(result.status());
  const bool more = page->limit > 0 && (q.as_text ? result->documents.size() : result->entities.size()) > page->limit;
  Response r;
  if (q.as_text) {
    if (more) result->documents.pop_back();
    auto body = in.RenderTextList(std::move(result->documents));
    if (!body.ok()) return Problem(body.status());
    r = JsonTextResponse(200, std::move(*body), in.media, *in.ctx);
  } else {
    if (more) result->entities.pop_back();
    auto body = RenderAnswer(in, std::move(result->entities), deps, view.get(), false);
    if (!body.ok()) return Problem(body.status());
    r = JsonResponse(200, std::move(*body), in.media, *in.ctx);
  }
  if (result->total) r.headers.Add("NGSILD-Results-Count", std::to_string(*result->total));
  AddPageLinks(req, *page, more, &r);
  return r;
}

Response QueryEntities(const Request& req, const ApiDeps& deps) {
  auto in = ReadEntityRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto spec = QuerySpecFromParams(req);
  if (!spec.ok()) return Problem(spec.status());
  auto q = CompileQuery(*spec, *in->ctx, in->attrs, deps.limits, !NamesEntityMap(req));
  if (!q.ok()) return Problem(q.status());
  return RunQuery(req, deps, *in, std::move(*q), "queryEntity", *spec);
}

// --- POST /entityOperations/query -----------------------------------------------------------

Response PostQuery(const Request& req, const ApiDeps& deps) {
  auto body = ParseJsonBody(req, deps.limits);
  if (!body.ok()) return Problem(body.status());
  if (!body->value.is_object()) return Problem(Status::InvalidRequest("the body must be a Query object"));
  const json::object& object = body->value.get_object();
  auto in = ReadEntityRequest(req, deps, &object, body->ld_json);
  if (!in.ok()) return Problem(in.status());
  // containedBy (§5.2.23) is a member of the Query body; join and joinLevel are URL parameters.
  json::object without_contained_by;
  const json::object* query = &object;
  if (const json::value* contained_by = object.if_contains("containedBy")) {
    auto join = JoinOptionsOf(req, contained_by);
    if (!join.ok()) return Problem(join.status());
    in->join = std::move(*join);
    without_contained_by = object;
    without_contained_by.erase("containedBy");
    query = &without_contained_by;
  }
  QuerySpec spec;
  std::optional<std::vector<std::string>> attrs;
  Status st = ReadQueryBody(*query, &spec, &attrs);
  if (!st.ok()) return Problem(st);
  if (attrs && in->projection) {
    return Problem(Status::BadRequestData("'attrs' cannot be combined with the parameters pick or omit"));
  }
  if (attrs) {
    auto expanded = ExpandAttrs(*attrs, *in->ctx);
    if (!expanded.ok()) return Problem(expanded.status());
    in->attrs = std::move(*expanded);
  }
  auto datasets = DatasetSelectionOf(spec);
  if (!datasets.ok()) return Problem(datasets.status());
  if (*datasets) in->datasets = std::move(*datasets);
  auto q = CompileQuery(spec, *in->ctx, in->attrs, deps.limits, !NamesEntityMap(req));
  if (!q.ok()) return Problem(q.status());
  return RunQuery(req, deps, *in, std::move(*q), "queryBatch", spec);
}

}  // namespace

void RegisterQueryRoutes(http::Router& router, const ApiDeps& deps) {
  router.Add("GET", "/ngsi-ld/v1/entities", [&deps](const Request& r, const PathParams&) { return QueryEntities(r, deps); });
  router.Add("POST", "/ngsi-ld/v1/entityOperations/query",
             [&deps](const Request& r, const PathParams&) { return PostQuery(r, deps); });
}

}  // namespace cityhub::api
