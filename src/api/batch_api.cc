// /ngsi-ld/v1/entityOperations/{create,upsert,update,delete,merge} (GS CIM 009 §5.6.7–5.6.10,
// §5.6.20). The body is an array of entities (of ids for delete). Items that fail to parse are
// reported in the BatchOperationResult next to those the broker rejects; every valid item is
// applied in one durable store write.
//
// DELETE /ngsi-ld/v1/entities (Purge Entities, §5.6.21) belongs here too: a batch delete whose
// items are the entities a query selects. The query runs with the caller's read view (entities
// it may not see are neither deleted nor reported), then the deletions go through
// EntityService with the caller's write access, so refusals are reported per entity (207) and
// every deletion notifies subscriptions as a single delete does. At most max_batch_entities
// entities per request: a purge matching more deletes nothing (403 TooManyResults).
#include <memory>
#include <optional>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/distributed.h"
#include "api/query_spec.h"
#include "api/request.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

enum class BatchKind { kCreate, kUpsert, kUpdate, kMerge, kDelete };

struct BatchInput {
  std::string tenant;
  json::array items;
  bool ld_json = false;
};

Result<BatchInput> ReadBatch(const Request& req, const ApiDeps& deps) {
  BatchInput in;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return tenant.status();
  in.tenant = std::move(*tenant);
  auto body = ParseJsonBody(req, deps.limits);
  if (!body.ok()) return body.status();
  if (!body->value.is_array()) return Status::InvalidRequest("the body of a batch operation must be a JSON array");
  in.items = std::move(body->value.get_array());
  in.ld_json = body->ld_json;
  if (in.items.empty()) return Status::BadRequestData("the batch is empty");
  if (in.items.size() > deps.limits.max_batch_entities) {
    return Status::BadRequestData(fmt::format("a batch holds at most {} entities; got {}",
                                              deps.limits.max_batch_entities, in.items.size()));
  }
  return in;
}

std::string IdOf(const json::value& item) {
  if (item.is_string()) return std::string(item.get_string());
  if (item.is_object()) {
    if (const auto* id = item.get_object().if_contains("id"); id && id->is_string()) return std::string(id->get_string());
  }
  return "";
}

json::object BatchResultJson(const std::vector<std::string>& success, const std::vector<broker::BatchError>& errors) {
  json::array ok;
  for (const auto& id : success) ok.emplace_back(id);
  json::array err;
  for (const auto& e : errors) err.emplace_back(json::object{{"entityId", e.entity_id}, {"error", ProblemJson(e.status)}});
  return json::object{{"success", std::move(ok)}, {"errors", std::move(err)}};
}

// What the items of a batch that registrations cover did at their sources (§5.6.7–5.6.10,
// §5.6.20: "If any of the entities matches to a registration, the relevant parts of the request
// are forwarded as a distributed operation").
struct ForwardedItems {
  std::vector<std::string> success;  // items done at sources only, without a failure
  json::array errors;                // BatchEntityErrors (§5.2.17), a source's with registrationId
};

Response Respond(BatchKind kind, broker::BatchResult r, std::vector<broker::BatchError> parse_errors,
                 ForwardedItems forwarded = {}) {
  for (auto& e : parse_errors) r.errors.push_back(std::move(e));
  for (auto& id : forwarded.success) {
    if (kind == BatchKind::kCreate) r.created_ids.push_back(id);
    r.success.push_back(std::move(id));
  }
  if (kind == BatchKind::kCreate) r.created = r.created_ids.size();
  if (!r.errors.empty() || !forwarded.errors.empty()) {
    json::object result = BatchResultJson(r.success, r.errors);
    for (auto& e : forwarded.errors) result["errors"].as_array().push_back(std::move(e));
    return PlainJson(207, std::move(result));
  }
  if (kind == BatchKind::kCreate || (kind == BatchKind::kUpsert && r.created > 0)) {
    json::array ids;
    for (const auto& id : r.created_ids) ids.emplace_back(id);
    return PlainJson(201, ids);
  }
  return NoContent();
}

// The `options` values a batch operation knows: upsert takes update or replace (not both),
// update takes noOverwrite. Anything else is InvalidRequest rather than silently ignored.
Status CheckOptions(const Request& req, BatchKind kind) {
  const std::string* options = req.Param("options");
  if (!options) return Status::Ok();
  auto items = SplitList(*options, "options");
  if (!items.ok()) return items.status();
  for (const auto& item : *items) {
    bool known = (kind == BatchKind::kUpsert && (item == "update" || item == "replace")) ||
                 (kind == BatchKind::kUpdate && item == "noOverwrite");
    if (!known) return Status::InvalidRequest(fmt::format("parameter 'options': '{}' is not valid here", item.substr(0, 64)));
  }
  if (HasOption(req, "update") && HasOption(req, "replace")) {
    return Status::InvalidRequest("parameter 'options': update and replace exclude each other");
  }
  return Status::Ok();
}

// One entity of a batch. Merge, update and upsert items may hold the NGSI-LD Null
// "urn:ngsi-ld:null" (it deletes; an upsert item that creates or replaces its entity is refused
// by the broker), so their attributes are parsed apart from the id, type, scope and expiresAt.
Result<ngsild::Entity> ParseItem(const json::object& item, const ngsild::Context& ctx, int64_t now,
                                 const ApiDeps& deps, BatchKind kind) {
  bool whole = kind == BatchKind::kCreate || kind == BatchKind::kUpsert;
  Result<ngsild::Entity> e = Status::Internal("unparsed");
  if (kind == BatchKind::kMerge || kind == BatchKind::kUpdate || kind == BatchKind::kUpsert) {
    json::object head;
    for (std::string_view key : {"id", "@id", "type", "@type", "scope", "expiresAt"}) {
      if (const json::value* v = item.if_contains(key)) head[key] = *v;
    }
    e = ngsild::ParseEntity(head, ctx, now, deps.limits.parse, /*require_id_type=*/whole);
    if (e.ok()) {
      auto attrs = ngsild::ParseAttributes(item, ctx, now, deps.limits.parse, /*allow_null_value=*/true);
      if (!attrs.ok()) return attrs.status();
      e->attrs = std::move(*attrs);
    }
  } else {
    e = ngsild::ParseEntity(item, ctx, now, deps.limits.parse, /*require_id_type=*/whole);
  }
  if (e.ok() && e->id.empty()) return Status::BadRequestData("entity has no 'id'");
  return e;
}

std::string_view OperationOf(BatchKind kind) {
  switch (kind) {
    case BatchKind::kCreate: return "createBatch";
    case BatchKind::kUpsert: return "upsertBatch";
    case BatchKind::kUpdate: return "updateBatch";
    case BatchKind::kMerge: return "mergeBatch";
    case BatchKind::kDelete: break;
  }
  return "deleteBatch";
}

std::string PathOf(BatchKind kind) {
  switch (kind) {
    case BatchKind::kCreate: return "/entityOperations/create";
    case BatchKind::kUpsert: return "/entityOperations/upsert";
    case BatchKind::kUpdate: return "/entityOperations/update";
    case BatchKind::kMerge: return "/entityOperations/merge";
    case BatchKind::kDelete: break;
  }
  return "/entityOperations/delete";
}

void AddSourceErrors(const std::string& id, const broker::WriteReport& report, ForwardedItems* out) {
  for (const auto& e : report.errors) {
    out->errors.push_back(
        json::object{{"entityId", id}, {"registrationId", e.registration_id}, {"error", ProblemJson(e.status)}});
  }
}

// One valid item of a batch: the entity the hub writes, and what the client sent for it.
struct BatchItem {
  ngsild::Entity entity;
  const json::object* sent = nullptr;
  ngsild::ContextPtr ctx;
};

// Sends the part of each item an exclusive or redirect registration covers to its sources, as a
// one-item batch of the same kind (with the request's options). An item keeps, for the local
// batch, the attributes no source took; it leaves the local batch for a redirect registration,
// when an update or merge has nothing left here, or when the caller may not make the forwarded
// write (an error of that item).
std::vector<ngsild::Entity> ForwardItems(const Request& req, const ApiDeps& deps, const std::string& tenant,
                                         BatchKind kind, std::vector<BatchItem> items, ForwardedItems* out) {
  std::vector<std::pair<std::string, std::string>> options;
  if (const std::string* o = req.Param("options")) options.emplace_back("options", *o);
  const std::string query = broker::EncodeQuery(options);
  std::vector<ngsild::Entity> local;
  for (auto& item : items) {
    ngsild::Entity& e = item.entity;
    broker::ContextSourceRequest match{std::string(OperationOf(kind)), {e.id}, "", e.types, {}};
    for (const auto& [name, instances] : e.attrs) match.attributes.push_back(name);
    auto plan = PlanWrite(req, deps, tenant, *item.ctx, std::move(match));
    if (!plan.ok()) {
      out->errors.push_back(json::object{{"entityId", e.id}, {"error", ProblemJson(plan.status())}});
      continue;
    }
    if (!*plan) {
      local.push_back(std::move(e));
      continue;
    }
    auto forwarded = ForwardFragment(deps, **plan, e.id, "POST", PathOf(kind), *item.sent, *item.ctx, true, query);
    AddSourceErrors(e.id, forwarded.report, out);
    for (const auto& name : forwarded.attributes) e.attrs.erase(name);
    const bool nothing_here = (kind == BatchKind::kUpdate || kind == BatchKind::kMerge) && e.attrs.empty();
    if ((*plan)->redirected || nothing_here) {
      if (forwarded.report.errors.empty()) out->success.push_back(e.id);
      continue;
    }
    local.push_back(std::move(e));
  }
  return local;
}

// The ids of a batch delete that registrations cover are deleted at their sources too; an id
// leaves the local batch for a redirect registration or when the hub does not hold it.
std::vector<std::string> ForwardDeletes(const Request& req, const ApiDeps& deps, const std::string& tenant,
                                        std::vector<std::string> ids, ForwardedItems* out) {
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return ids;
  std::vector<std::string> local;
  for (auto& id : ids) {
    auto plan = PlanWrite(req, deps, tenant, **ctx, broker::ContextSourceRequest{"deleteBatch", {id}, "", {}, {}});
    if (!plan.ok()) {
      out->errors.push_back(json::object{{"entityId", id}, {"error", ProblemJson(plan.status())}});
      continue;
    }
    if (!*plan) {
      local.push_back(std::move(id));
      continue;
    }
    broker::ForwardedRequest forwarded;
    forwarded.method = "POST";
    forwarded.path = PathOf(BatchKind::kDelete);
    forwarded.body = json::serialize(json::array{json::value(id)});
    auto report = deps.distributed_writes->Forward(
        id, (*plan)->sources, [&](const broker::ContextSource&) { return forwarded; }, (*plan)->call);
    AddSourceErrors(id, report, out);
    if ((*plan)->redirected || !deps.entities->Get(tenant, id).ok()) {
      if (report.errors.empty()) out->success.push_back(id);
      continue;
    }
    local.push_back(std::move(id));
  }
  return local;
}

Response Batch(const Request& req, const ApiDeps& deps, BatchKind kind) {
  if (Status st = CheckOptions(req, kind); !st.ok()) return Problem(st);
  auto in = ReadBatch(req, deps);
  if (!in.ok()) return Problem(in.status());
  std::vector<broker::BatchError> parse_errors;

  if (kind == BatchKind::kDelete) {
    std::vector<std::string> ids;
    for (const auto& item : in->items) {
      if (!item.is_string() || !ngsild::IsUri(item.get_string())) {
        parse_errors.push_back({IdOf(item), Status::BadRequestData("a batch delete item must be an entity id (a URI)")});
        continue;
      }
      ids.emplace_back(item.get_string());
    }
    ForwardedItems forwarded;
    ids = ForwardDeletes(req, deps, in->tenant, std::move(ids), &forwarded);
    if (ids.empty()) return Respond(kind, {}, std::move(parse_errors), std::move(forwarded));
    return Respond(kind, deps.entities->BatchDelete(CurrentCaller().Writes(in->tenant), in->tenant, ids),
                   std::move(parse_errors), std::move(forwarded));
  }

  int64_t now = util::NowMillis();
  std::vector<BatchItem> parsed;
  parsed.reserve(in->items.size());
  for (const auto& item : in->items) {
    if (!item.is_object()) {
      parse_errors.push_back({"", Status::BadRequestData("a batch item must be an entity object")});
      continue;
    }
    auto ctx = ContextOf(req, deps, &item.get_object(), in->ld_json);
    if (!ctx.ok()) {
      parse_errors.push_back({IdOf(item), ctx.status()});
      continue;
    }
    auto e = ParseItem(item.get_object(), **ctx, now, deps, kind);
    if (!e.ok()) {
      parse_errors.push_back({IdOf(item), e.status()});
      continue;
    }
    parsed.push_back(BatchItem{std::move(*e), &item.get_object(), std::move(*ctx)});
  }
  ForwardedItems forwarded;
  std::vector<ngsild::Entity> entities = ForwardItems(req, deps, in->tenant, kind, std::move(parsed), &forwarded);
  // Nothing valid: do not touch the store (a create would otherwise make the tenant).
  if (entities.empty()) return Respond(kind, {}, std::move(parse_errors), std::move(forwarded));
  const PolicyWriteAccess writes = CurrentCaller().Writes(in->tenant);
  broker::BatchResult r;
  switch (kind) {
    case BatchKind::kCreate:
      r = deps.entities->BatchCreate(writes, in->tenant, std::move(entities));
      break;
    case BatchKind::kUpsert:
      r = deps.entities->BatchUpsert(writes, in->tenant, std::move(entities), !HasOption(req, "update"));
      break;
    case BatchKind::kUpdate:
      r = deps.entities->BatchUpdate(writes, in->tenant, std::move(entities), HasOption(req, "noOverwrite"));
      break;
    case BatchKind::kMerge:
      r = deps.entities->BatchMerge(writes, in->tenant, std::move(entities));
      break;
    case BatchKind::kDelete:
      break;
  }
  return Respond(kind, std::move(r), std::move(parse_errors), std::move(forwarded));
}

// --- DELETE /entities (Purge Entities) ------------------------------------------------------

// `drop` / `keep` (attribute names): what a purge deletes of each selected entity instead of
// the entity — the attributes named in `drop`, or all but those named in `keep`.
struct PurgeAttrs {
  std::set<std::string> names;  // expanded
  bool keep = false;
};

Result<std::optional<PurgeAttrs>> PurgeAttrsOf(const Request& req, const ngsild::Context& ctx) {
  const std::string* drop = req.Param("drop");
  const std::string* keep = req.Param("keep");
  if (drop && keep) return Status::BadRequestData("parameters 'drop' and 'keep' cannot be used together");
  if (!drop && !keep) return std::optional<PurgeAttrs>();
  const std::string_view param = drop ? "drop" : "keep";
  auto items = SplitList(drop ? *drop : *keep, param);
  if (!items.ok()) return items.status();
  PurgeAttrs out;
  out.keep = keep != nullptr;
  for (const auto& name : *items) {
    if (!ngsild::IsValidName(name)) {
      return Status::BadRequestData(fmt::format("parameter '{}': '{}' is not an attribute name", param, name.substr(0, 64)));
    }
    out.names.insert(ctx.ExpandTerm(name));
  }
  return std::optional<PurgeAttrs>(std::move(out));
}

// Deletes the attributes `which` selects of each entity: one result per entity, a failure
// naming the first attribute that could not be deleted.
broker::BatchResult PurgeAttributes(const ApiDeps& deps, const broker::WriteAccess& w, const std::string& tenant,
                                    const std::vector<ngsild::Entity>& entities, const PurgeAttrs& which) {
  broker::BatchResult r;
  for (const auto& e : entities) {
    Status failed = Status::Ok();
    for (const auto& [attr, instances] : e.attrs) {
      if (which.names.count(attr) == static_cast<size_t>(which.keep)) continue;
      failed = deps.entities->DeleteAttribute(w, tenant, e.id, attr, std::nullopt, /*delete_all=*/true);
      if (!failed.ok()) break;
    }
    if (failed.ok()) {
      r.success.push_back(e.id);
    } else {
      r.errors.push_back({e.id, failed});
    }
  }
  return r;
}

Response Purge(const Request& req, const ApiDeps& deps) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  if (req.Param("csf")) return Problem(Status::NotSupported("parameter 'csf' is not supported (no context source registrations)"));
  auto spec = QuerySpecFromParams(req);
  if (!spec.ok()) return Problem(spec.status());
  auto attrs = AttrsParam(req, *in->ctx);
  if (!attrs.ok()) return Problem(attrs.status());
  auto q = CompileQuery(*spec, *in->ctx, *attrs, deps.limits);
  if (!q.ok()) return Problem(q.status());
  auto purge_attrs = PurgeAttrsOf(req, *in->ctx);
  if (!purge_attrs.ok()) return Problem(purge_attrs.status());

  const size_t max = deps.limits.max_batch_entities;
  q->offset = 0;
  q->limit = max + 1;  // one more tells there are too many
  std::unique_ptr<broker::EntityView> view = CurrentCaller().ReadView(in->tenant);
  q->view = view.get();
  auto found = deps.queries->Query(in->tenant, *q);
  if (!found.ok()) return Problem(found.status());
  if (found->entities.size() > max) {
    return Problem(Status::TooManyResults(fmt::format(
        "the purge selects more than {} entities, the most one request deletes; nothing was deleted — narrow it "
        "(type, id, idPattern, q, scopeQ, a geo-query) and repeat", max)));
  }
  const PolicyWriteAccess writes = CurrentCaller().Writes(in->tenant);
  broker::BatchResult r;
  if (*purge_attrs) {
    r = PurgeAttributes(deps, writes, in->tenant, found->entities, **purge_attrs);
  } else if (!found->entities.empty()) {
    std::vector<std::string> ids;
    ids.reserve(found->entities.size());
    for (const auto& e : found->entities) ids.push_back(e.id);
    r = deps.entities->BatchDelete(writes, in->tenant, ids);
  }
  if (!r.errors.empty()) return PlainJson(207, BatchResultJson(r.success, r.errors));
  return NoContent();
}

}  // namespace

void RegisterBatchRoutes(http::Router& router, const ApiDeps& deps) {
  router.Add("DELETE", "/ngsi-ld/v1/entities", [&deps](const Request& r, const PathParams&) { return Purge(r, deps); });
  const std::string base = "/ngsi-ld/v1/entityOperations/";
  const std::pair<const char*, BatchKind> kinds[] = {{"create", BatchKind::kCreate}, {"upsert", BatchKind::kUpsert},
                                                     {"update", BatchKind::kUpdate}, {"merge", BatchKind::kMerge},
                                                     {"delete", BatchKind::kDelete}};
  for (const auto& [name, kind] : kinds) {
    BatchKind k = kind;
    router.Add("POST", base + name, [&deps, k](const Request& r, const PathParams&) { return Batch(r, deps, k); });
  }
}

}  // namespace cityhub::api
