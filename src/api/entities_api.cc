// /ngsi-ld/v1/entities: create, retrieve, replace, merge, delete an entity and its attributes,
// and query entities (GS CIM 009 §5.6, §5.7). Each handler: tenant → body → @context → parse
// → one EntityService call → status code the spec gives (201/204/207/200, or ProblemDetails).
#include <cctype>
#include <functional>
#include <iterator>
#include <set>

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

constexpr std::string_view kEntitiesPath = "/ngsi-ld/v1/entities";

Result<ObjectRequest> ReadObject(const Request& req, const ApiDeps& deps, bool allow_merge_patch = false) {
  return ReadObjectRequest(req, deps, allow_merge_patch, "an entity or attributes");
}

// The path id must be a URI; a body id, when given, must equal it.
Status CheckIds(const std::string& path_id, const json::object* body) {
  if (!ngsild::IsUri(path_id)) return Status::BadRequestData(fmt::format("entity id '{}' in the path is not a URI", path_id.substr(0, 100)));
  if (body) {
    const json::value* id = body->if_contains("id");
    if (id && !(id->is_string() && id->get_string() == path_id)) {
      return Status::BadRequestData("the 'id' in the body differs from the entity id in the path");
    }
  }
  return Status::Ok();
}

json::object UpdateResultJson(const ngsild::UpdateResult& r, const ngsild::Context& ctx) {
  json::array updated;
  for (const auto& name : r.updated) updated.emplace_back(ctx.CompactIri(name));
  json::array not_updated;
  for (const auto& [name, reason] : r.not_updated) {
    not_updated.emplace_back(json::object{{"attributeName", ctx.CompactIri(name)}, {"reason", reason}});
  }
  return json::object{{"updated", std::move(updated)}, {"notUpdated", std::move(not_updated)}};
}

Response UpdateResponse(Result<ngsild::UpdateResult> r, const ngsild::Context& ctx) {
  if (!r.ok()) return Problem(r.status());
  if (r->not_updated.empty()) return NoContent();
  return PlainJson(207, UpdateResultJson(*r, ctx));
}

// An entity write — create (§5.6.1), replace (§5.6.18), merge (§5.6.17) — with the entity's
// exclusive and redirect registrations (§4.3.6.2): each source is sent the part of the client's
// fragment its registration covers (`method` on `path`), and `write_here` writes the rest here,
// given the attributes (expanded) that went to sources — or returns nullopt when nothing is left
// to write here. Nothing is written here for a redirect registration. `done` is the answer when
// every party took its part; see WriteAnswer for the others.
using LocalWrite = std::function<std::optional<Status>(const std::set<std::string>& forwarded)>;
Response SplitEntityWrite(const Request& req, const ApiDeps& deps, const ObjectRequest& in,
                          broker::ContextSourceRequest match, const std::string& method, const std::string& path,
                          const LocalWrite& write_here, const Response& done) {
  const std::string id = match.entity_ids.front();
  auto plan = PlanWrite(req, deps, in.tenant, *in.ctx, std::move(match));
  if (!plan.ok()) return Problem(plan.status());
  if (!*plan) {
    std::optional<Status> st = write_here({});
    return !st || st->ok() ? done : Problem(*st);
  }
  ForwardedFragment forwarded = ForwardFragment(deps, **plan, id, method, path, in.object(), *in.ctx);
  std::optional<Status> st;
  if (!(*plan)->redirected) st = write_here(forwarded.attributes);
  if (!st) return WriteAnswer(id, std::nullopt, forwarded.report, done);
  return WriteAnswer(id, st->ok() ? done : Problem(*st), forwarded.report, done);
}

Response CreateEntity(const Request& req, const ApiDeps& deps) {
  auto in = ReadObject(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto e = ngsild::ParseEntity(in->object(), *in->ctx, util::NowMillis(), deps.limits.parse);
  if (!e.ok()) return Problem(e.status());
  std::string id = e->id;
  Response created;
  created.status = 201;
  created.headers.Add("Location", fmt::format("{}/{}", kEntitiesPath, PathSegment(id)));
  if (!in->tenant.empty()) created.headers.Add("NGSILD-Tenant", in->tenant);
  broker::ContextSourceRequest match{"createEntity", {id}, "", e->types, {}};
  for (const auto& [name, instances] : e->attrs) match.attributes.push_back(name);
  // The entity is created here too (with the attributes no source took), so that it exists
  // locally whatever an exclusive source holds.
  return SplitEntityWrite(req, deps, *in, std::move(match), "POST", "/entities",
                          [&](const std::set<std::string>& forwarded) -> std::optional<Status> {
                            for (const auto& name : forwarded) e->attrs.erase(name);
                            return deps.entities->Create(CurrentCaller().Writes(in->tenant), in->tenant, std::move(*e));
                          },
                          created);
}

// `answer`, and with entityMap=true the map of this operation (§5.7.1: "If an EntityMap has been
// requested, the HTTP response shall include an NGSILD-EntityMap HTTP header"), the one entity.
Response AnswerWithMap(const ApiDeps& deps, const EntityRead& in, const std::string& id, Response answer, bool make_map) {
  if (!make_map) return answer;
  auto made = deps.entity_maps->Create(in.tenant, CurrentCaller().subject(), {id}, util::NowMillis());
  if (!made.ok()) return Problem(made.status());
  answer.headers.Add("NGSILD-EntityMap", EntityMapLocation(made->id));
  return answer;
}

// The 200 answer of a retrieve: `e` (visible to the caller, of the type asked) redacted for the
// caller, 404 when it holds none of the attributes asked (§5.7.1.4), with the map asked for.
Response RetrievedEntity(const ApiDeps& deps, const EntityRead& in, ngsild::Entity e, const broker::EntityView* view,
                         bool make_map) {
  if (view) view->Redact(e);
  if (Status found = in.CheckProjectionFound(e); !found.ok()) return Problem(found);
  const std::string id = e.id;
  std::vector<ngsild::Entity> answer;
  answer.push_back(std::move(e));
  auto body = RenderAnswer(in, std::move(answer), deps, view, true);
  if (!body.ok()) return Problem(body.status());
  return AnswerWithMap(deps, in, id, JsonResponse(200, std::move(*body), in.media, *in.ctx), make_map);
}

// Retrieve with the matching context sources (§5.7.1, §4.3.6): the hub's entity, when it holds
// one the caller may see of the type asked, merged with the sources' parts; 404 when nobody holds
// it. Each source that could not contribute is named in an NGSILD-Warning (§6.3.17).
Response RetrieveDistributed(const ApiDeps& deps, const EntityRead& in, const std::string& id,
                             const std::optional<ngsild::TypeSelection>& types, const Distribution& plan, bool make_map) {
  auto e = deps.entities->Get(in.tenant, id);
  if (!e.ok() && e.status().code() != Status::Code::kNotFound) return Problem(e.status());
  auto view = CurrentCaller().ReadView(in.tenant);
  std::optional<ngsild::Entity> local;
  if (e.ok() && (!view || view->Visible(*e)) && (!types || types->Matches(e->types))) local = std::move(*e);
  auto answer = deps.distributed_reads->RetrieveEntity(std::move(local), id, plan.query, plan.sources, plan.call);
  Response r;
  if (!answer.entity) {
    r = Problem(Status::NotFound(fmt::format("entity '{}' is held neither here nor by a context source that answered", id)));
  } else if (view && !view->Visible(*answer.entity)) {
    r = Problem(Status::PermissionDenied(fmt::format("entity '{}' may not be read", id)));
  } else if (types && !types->Matches(answer.entity->types)) {
    r = Problem(Status::NotFound(fmt::format("entity '{}' is not of the type asked", id)));
  } else {
    r = RetrievedEntity(deps, in, std::move(*answer.entity), view.get(), make_map);
  }
  AddSourceWarnings(answer.warnings, &r);
  return r;
}

Response RetrieveEntity(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const std::string& id = p.Get("entityId");
  auto in = ReadEntityRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto make_map = BoolParam(req, "entityMap");
  if (!make_map.ok()) return Problem(make_map.status());
  if (*make_map && !deps.entity_maps) return Problem(Status::NotSupported("EntityMaps are not supported by this hub"));
  Status id_ok = CheckIds(id, nullptr);
  if (!id_ok.ok()) return Problem(id_ok);
  std::optional<ngsild::TypeSelection> types;
  if (const std::string* type = req.Param("type")) {
    auto selection = TypeSelectionOf({*type}, *in->ctx);
    if (!selection.ok()) return Problem(selection.status());
    types = std::move(*selection);
  }
  DistributionRequest asked;
  asked.operation = "retrieveEntity";
  asked.match.entity_ids = {id};
  if (types) asked.match.entity_types = types->IndexTypes();
  if (types) asked.type_selection = types;
  const std::set<std::string>* attrs = in->attrs ? &*in->attrs : nullptr;
  if (!attrs && in->projection) attrs = &in->projection->PickedAttributes();
  if (attrs) asked.match.attributes.assign(attrs->begin(), attrs->end());
  AskSystemAttributes(&asked);
  auto plan = PlanDistribution(req, deps, in->tenant, *in->ctx, std::move(asked));
  if (!plan.ok()) return Problem(plan.status());
  if (*plan) return RetrieveDistributed(deps, *in, id, types, **plan, *make_map);

  auto e = deps.entities->GetStored(in->tenant, id);
  if (!e.ok()) return Problem(e.status());
  // Visibility first: the answer about a hidden entity must not depend on its type.
  auto view = CurrentCaller().ReadView(in->tenant);
  if (view && !view->Visible(e->id, e->types, e->owner)) {
    return Problem(Status::PermissionDenied(fmt::format("entity '{}' may not be read", id)));
  }
  if (types && !types->Matches(e->types)) {
    return Problem(Status::NotFound(fmt::format("entity '{}' is not of type '{}'", id, req.Param("type")->substr(0, 100))));
  }
  if (!in->RendersFromText() || (view && !view->ShowsEverything(e->id, e->types, e->owner))) {
    auto entity = ngsild::DeserializeEntity(e->text());
    if (!entity.ok()) return Problem(entity.status());
    return RetrievedEntity(deps, *in, std::move(*entity), view.get(), *make_map);
  }
  // Nothing to redact, nothing the DOM is needed for: rendered straight from the stored text.
  if (Status found = in->CheckFound(*e); !found.ok()) return Problem(found);
  auto body = in->RenderTextOne(*e);
  if (!body.ok()) return Problem(body.status());
  return AnswerWithMap(deps, *in, e->id, JsonTextResponse(200, std::move(*body), in->media, *in->ctx), *make_map);
}

Response DeleteEntity(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const std::string& id = p.Get("entityId");
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  Status st = CheckIds(id, nullptr);
  if (!st.ok()) return Problem(st);
  // With exclusive or redirect registrations for the entity, its sources delete it too (§5.6.6
  // with §4.3.6.2); a hub that holds no part of it then answers for them.
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return Problem(ctx.status());
  auto plan = PlanWrite(req, deps, *tenant, **ctx, broker::ContextSourceRequest{"deleteEntity", {id}, "", {}, {}});
  if (!plan.ok()) return Problem(plan.status());
  if (!*plan) {
    st = deps.entities->Delete(CurrentCaller().Writes(*tenant), *tenant, id);
    return st.ok() ? NoContent() : Problem(st);
  }
  auto forwarded = ForwardFragment(deps, **plan, id, "DELETE", "/entities/" + broker::PercentEncode(id), {}, **ctx);
  if ((*plan)->redirected) return WriteAnswer(id, std::nullopt, forwarded.report, NoContent());
  st = deps.entities->Delete(CurrentCaller().Writes(*tenant), *tenant, id);
  if (st.code() == Status::Code::kNotFound && !forwarded.report.succeeded.empty()) {
    return WriteAnswer(id, std::nullopt, forwarded.report, NoContent());
  }
  return WriteAnswer(id, st.ok() ? NoContent() : Problem(st), forwarded.report, NoContent());
}

Response ReplaceEntity(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const std::string& id = p.Get("entityId");
  auto in = ReadObject(req, deps);
  if (!in.ok()) return Problem(in.status());
  Status st = CheckIds(id, &in->object());
  if (!st.ok()) return Problem(st);
  auto e = ngsild::ParseEntity(in->object(), *in->ctx, util::NowMillis(), deps.limits.parse, false);
  if (!e.ok()) return Problem(e.status());
  broker::ContextSourceRequest match{"replaceEntity", {id}, "", e->types, {}};
  for (const auto& [name, instances] : e->attrs) match.attributes.push_back(name);
  return SplitEntityWrite(req, deps, *in, std::move(match), "PUT", "/entities/" + broker::PercentEncode(id),
                          [&](const std::set<std::string>& forwarded) -> std::optional<Status> {
                            for (const auto& name : forwarded) e->attrs.erase(name);
                            return deps.entities->Replace(CurrentCaller().Writes(in->tenant), in->tenant, id, std::move(*e));
                          },
                          NoContent());
}

// The body of a request that changes some attributes of the entity in the path (merge,
// append, update): checked ids, the parsed attributes and the entity members it sets.
struct AttributeChange {
  ObjectRequest in;
  std::string id;
  ngsild::AttrMap attrs;
  std::vector<std::string> types;  // expanded; empty: none given
  json::value scope;               // null: none given
  std::optional<ngsild::ExpiresAt> expires_at;  // the entity member expiresAt, when given (§4.22)
  int64_t now = 0;
};

// Rewrites a request body before it is parsed (Merge Entity's `lang`).
using ParsedRequestHook = std::function<void(json::object&)>;

// `allow_null`: the operation deletes what an NGSI-LD Null names (merge, update).
Result<AttributeChange> ReadAttributeChange(const Request& req, const PathParams& p, const ApiDeps& deps,
                                            bool is_merge, bool allow_null, const ParsedRequestHook& hook = {}) {
  AttributeChange c;
  c.id = p.Get("entityId");
  auto in = ReadObject(req, deps, /*allow_merge_patch=*/is_merge);
  if (!in.ok()) return in.status();
  c.in = std::move(*in);
  if (hook) hook(c.in.body.get_object());
  CITYHUB_RETURN_IF_ERROR(CheckIds(c.id, &c.in.object()));
  c.now = util::NowMillis();
  auto attrs = ngsild::ParseAttributes(c.in.object(), *c.in.ctx, c.now, deps.limits.parse, allow_null);
  if (!attrs.ok()) return attrs.status();
  c.attrs = std::move(*attrs);
  json::object head{{"id", c.id}};
  for (std::string_view key : {"type", "@type", "scope"}) {
    if (const json::value* v = c.in.object().if_contains(key)) head[key] = *v;
  }
  auto parsed = ngsild::ParseEntity(head, *c.in.ctx, c.now, deps.limits.parse, /*require_id_type=*/false);
  if (!parsed.ok()) return parsed.status();
  c.types = std::move(parsed->types);
  c.scope = std::move(parsed->scope);
  if (const json::value* expires = c.in.object().if_contains("expiresAt")) {
    auto at = ngsild::ParseExpiresAt(*expires, c.now);
    if (!at.ok()) return at.status();
    c.expires_at = *at;
  }
  return c;
}

// True for a BCP 47 language tag as written: subtags of 1 to 8 letters or digits joined by '-',
// the first of letters.
bool IsLanguageTag(std::string_view tag) {
  size_t run = 0;
  for (size_t i = 0; i <= tag.size(); ++i) {
    if (i == tag.size() || tag[i] == '-') {
      if (run == 0 || run > 8) return false;
      run = 0;
    } else if (std::isalpha(static_cast<unsigned char>(tag[i])) ||
               (std::isdigit(static_cast<unsigned char>(tag[i])) && i > run)) {
      ++run;
    } else {
      return false;
    }
  }
  return !tag.empty() && std::isalpha(static_cast<unsigned char>(tag[0]));
}

// Merge Entity's `lang` (§5.6.17; v1.8.1 OpenAPI mergeEntity): the language of the plain strings
// given for LanguageProperties — in a fragment typed LanguageProperty (or holding a
// languageMap), a `languageMap` or `value` that is a string becomes {"<lang>": string}. An
// NGSI-LD Null stays a deletion.
void ApplyMergeLanguage(json::object& body, const std::string& lang) {
  auto fix = [&lang](json::value& v) {
    json::object* o = v.if_object();
    if (!o) return;
    const json::value* type = o->if_contains("type");
    const bool language = (type && *type == "LanguageProperty") || o->contains("languageMap");
    if (!language) return;
    for (std::string_view member : {"languageMap", "value"}) {
      json::value* text = o->if_contains(member);
      if (!text || !text->is_string() || text->get_string() == ngsild::kNullMarker) continue;
      json::object map{{lang, *text}};
      o->erase(member);
      (*o)["languageMap"] = std::move(map);
      return;
    }
  };
  for (auto& [key, value] : body) {
    if (key == "id" || key == "type" || key == "@id" || key == "@type" || key == "@context" || key == "scope") continue;
    if (json::array* instances = value.if_array()) {
      for (auto& item : *instances) fix(item);
    } else {
      fix(value);
    }
  }
}

// Merge Entity's `observedAt` (v1.8.1 OpenAPI Query.observedAt): "When a merge operation applies
// to a pre-existing Attribute which previously contained an "observedAt" sub-attribute, the value
// held in this query parameter shall be used if no specific "observedAt" sub-Attribute is found
// in the payload body." Judged per instance (datasetId) on the entity as read just before the
// merge; a write racing in between may add or drop an observedAt the merge does not see.
void ApplyMergeObservedAt(ngsild::AttrMap& attrs, ngsild::Entity current, const std::string& observed_at) {
  for (auto& [name, instances] : attrs) {
    for (auto& inst : instances) {
      if (inst.contains("observedAt")) continue;
      const ngsild::Instance* before = current.FindInstance(name, ngsild::DatasetIdOf(inst));
      if (before && before->contains("observedAt")) inst["observedAt"] = observed_at;
    }
  }
}

Response MergeEntity(const Request& req, const PathParams& p, const ApiDeps& deps) {
  std::optional<std::string> observed_at;
  if (const std::string* at = req.Param("observedAt")) {
    std::optional<std::string> utc = util::DateTimeInUtc(*at);
    if (!utc) {
      return Problem(Status::BadRequestData("parameter 'observedAt' must be a DateTime with a time zone, e.g. 2024-05-01T10:00:00Z"));
    }
    observed_at = at->ends_with("Z") ? *at : *utc;  // in UTC, with the fraction digits written
  }
  const std::string* lang = req.Param("lang");
  if (lang && !IsLanguageTag(*lang)) {
    return Problem(Status::BadRequestData(
        fmt::format("parameter 'lang' must be one language tag (e.g. en, ko, fr-CH), not '{}'", lang->substr(0, 100))));
  }
  ParsedRequestHook hook;
  if (lang) hook = [lang](json::object& body) { ApplyMergeLanguage(body, *lang); };
  auto c = ReadAttributeChange(req, p, deps, /*is_merge=*/true, /*allow_null=*/true, hook);
  if (!c.ok()) return Problem(c.status());
  if (observed_at) {
    auto current = deps.entities->Get(c->in.tenant, c->id);
    if (current.ok()) ApplyMergeObservedAt(c->attrs, std::move(*current), *observed_at);
  }
  broker::ContextSourceRequest match{"mergeEntity", {c->id}, "", c->types, {}};
  for (const auto& [name, instances] : c->attrs) match.attributes.push_back(name);
  return SplitEntityWrite(req, deps, c->in, std::move(match), "PATCH", "/entities/" + broker::PercentEncode(c->id),
                          [&](const std::set<std::string>& forwarded) -> std::optional<Status> {
                            for (const auto& name : forwarded) c->attrs.erase(name);
                            if (!forwarded.empty() && c->attrs.empty()) return std::nullopt;
                            return deps.entities->Merge(CurrentCaller().Writes(c->in.tenant), c->in.tenant, c->id,
                                                        std::move(c->attrs), c->types, c->now, c->scope, c->expires_at);
                          },
                          NoContent());
}

// An attribute write — append (§5.6.3), update (§5.6.2) — with the entity's exclusive and
// redirect registrations (§4.3.6.2): each source is sent the attributes its registration covers
// (`method` on /entities/{id}/attrs), `write` writes the rest here (nothing for a redirect). 204
// when every party wrote everything; otherwise 207 with an UpdateResult whose notUpdated entries
// of a source carry its registrationId (§5.2.19). With nothing to forward, `write_alone` (if
// given) may take the write over and answer it later (DeferAnswer); nullopt when it cannot.
Response SplitAttributeWrite(const Request& req, const ApiDeps& deps, AttributeChange& c, std::string operation,
                        const std::string& method,
                        const std::function<Result<ngsild::UpdateResult>(AttributeChange&)>& write,
                        const std::function<std::optional<Response>(AttributeChange&)>& write_alone = {}) {
  const ngsild::Context& ctx = *c.in.ctx;
  broker::ContextSourceRequest match{std::move(operation), {c.id}, "", c.types, {}};
  for (const auto& [name, instances] : c.attrs) match.attributes.push_back(name);
  auto plan = PlanWrite(req, deps, c.in.tenant, ctx, std::move(match));
  if (!plan.ok()) return Problem(plan.status());
  if (!*plan) {
    if (write_alone) {
      if (auto answered = write_alone(c)) return std::move(*answered);
    }
    return UpdateResponse(write(c), ctx);
  }
  auto forwarded = ForwardFragment(deps, **plan, c.id, method, "/entities/" + broker::PercentEncode(c.id) + "/attrs",
                                   c.in.object(), ctx);
  for (const auto& name : forwarded.attributes) c.attrs.erase(name);
  ngsild::UpdateResult local;
  if (!(*plan)->redirected && !c.attrs.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, instances] : c.attrs) names.push_back(name);
    auto r = write(c);
    if (r.ok()) {
      local = std::move(*r);
    } else if (forwarded.report.succeeded.empty() && forwarded.report.errors.empty()) {
      return Problem(r.status());
    } else {
      for (auto& name : names) local.not_updated.emplace_back(std::move(name), r.status().message());
    }
  }
  for (const auto& id : forwarded.report.succeeded) {
    for (const auto& name : forwarded.attributes_of[id]) local.updated.push_back(name);
  }
  json::object result = UpdateResultJson(local, ctx);
  json::array& not_updated = result["notUpdated"].as_array();
  for (const auto& e : forwarded.report.errors) {
    for (const auto& name : forwarded.attributes_of[e.registration_id]) {
      not_updated.emplace_back(json::object{{"attributeName", ctx.CompactIri(name)},
                                            {"reason", e.status.message()},
                                            {"registrationId", e.registration_id}});
    }
  }
  if (not_updated.empty()) return NoContent();
  return PlainJson(207, std::move(result));
}

Response AppendAttrs(const Request& req, const PathParams& p, const ApiDeps& deps) {
  if (const std::string* options = req.Param("options"); options && *options != "noOverwrite") {
    return Problem(Status::InvalidRequest("parameter 'options' may only be noOverwrite here"));
  }
  auto c = ReadAttributeChange(req, p, deps, /*is_merge=*/false, /*allow_null=*/false);
  if (!c.ok()) return Problem(c.status());
  const bool no_overwrite = HasOption(req, "noOverwrite");
  return SplitAttributeWrite(req, deps, *c, "appendAttrs", "POST", [&](AttributeChange& local) {
    return deps.entities->Append(CurrentCaller().Writes(local.in.tenant), local.in.tenant, local.id, std::move(local.attrs),
                                 no_overwrite, local.now, local.types, local.scope, local.expires_at);
  });
}

Response UpdateAttrs(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto c = ReadAttributeChange(req, p, deps, /*is_merge=*/false, /*allow_null=*/true);
  if (!c.ok()) return Problem(c.status());
  auto write = [&](AttributeChange& local) {
    return deps.entities->Update(CurrentCaller().Writes(local.in.tenant), local.in.tenant, local.id, std::move(local.attrs),
                                 local.now, local.types, local.scope, local.expires_at);
  };
  // The thread that runs this waits for no disk sync: the answer is given once the commit is
  // durable (docs/ARCHITECTURE.md, "A request, end to end").
  auto write_alone = [&](AttributeChange& local) -> std::optional<Response> {
    auto answer = DeferAnswer();
    if (!answer) return std::nullopt;
    deps.entities->UpdateDeferred(CurrentCaller().Writes(local.in.tenant), local.in.tenant, local.id,
                                  std::move(local.attrs), local.now, local.types, local.scope, local.expires_at,
                                  [answer, ctx = local.in.ctx](Result<ngsild::UpdateResult> r) {
                                    answer(UpdateResponse(std::move(r), *ctx));
                                  });
    return Response();  // dropped: the answer comes later
  };
  return SplitAttributeWrite(req, deps, *c, "updateEntity", "PATCH", write, write_alone);
}

// True when an attribute fragment carries no type and no value member, e.g. {"observedAt": …}.
bool IsMetadataOnly(const json::object& o) {
  for (std::string_view m : {"type", "value", "object", "languageMap", "vocab", "json", "valueList", "objectList"}) {
    if (o.contains(m)) return false;
  }
  return true;
}

// Parses the body of PATCH/PUT /entities/{id}/attrs/{attrId}. A PATCH fragment may update
// only some members: it is parsed as a Property with a placeholder value that is then removed,
// so only the members it names are merged.
Result<ngsild::Instances> ParseFragment(const ObjectRequest& in, const std::string& attr, bool partial,
                                        const ApiDeps& deps, int64_t now) {
  json::object body = in.object();
  body.erase("@context");
  bool metadata_only = partial && IsMetadataOnly(body);
  if (metadata_only) {
    body["type"] = "Property";
    body["value"] = 0;
  }
  auto inst = ngsild::ParseAttribute(attr, body, *in.ctx, now, deps.limits.parse, partial);
  if (!inst.ok()) return inst.status();
  if (metadata_only) {
    for (auto& i : *inst) {
      i.erase("type");
      i.erase("value");
      i.erase("createdAt");
    }
  }
  return inst;
}

// A single-attribute operation — partial update (§5.6.4 updateAttrs), replace (§5.6.19
// replaceAttrs), delete (§5.6.5 deleteAttrs) — on an attribute an exclusive or redirect
// registration covers: it goes to that registration's source(s) as the client sent it and is not
// done here (the hub holds no such attribute, §4.3.6.2). nullopt when the attribute is the hub's.
// 204 when every source took it; otherwise 207 with an UpdateResult whose notUpdated entry names
// the registrationId (§5.2.19).
std::optional<Response> ForwardedAttributeOperation(const Request& req, const ApiDeps& deps, const std::string& tenant,
                                                    const ngsild::Context& ctx, std::string operation,
                                                    const std::string& id, const std::string& attr,
                                                    const json::object* body) {
  auto plan = PlanWrite(req, deps, tenant, ctx, broker::ContextSourceRequest{std::move(operation), {id}, "", {}, {attr}});
  if (!plan.ok()) return Problem(plan.status());
  if (!*plan) return std::nullopt;
  broker::ForwardedRequest forwarded;
  forwarded.method = req.method;
  // The attribute by the caller's term: the source reads it with the caller's @context (Link or body).
  forwarded.path = fmt::format("/entities/{}/attrs/{}", broker::PercentEncode(id), broker::PercentEncode(ctx.CompactIri(attr)));
  std::vector<std::pair<std::string, std::string>> params;
  for (const char* name : {"datasetId", "deleteAll"}) {
    if (const std::string* v = req.Param(name)) params.emplace_back(name, *v);
  }
  forwarded.query = broker::EncodeQuery(params);
  forwarded.use_registered_context = false;
  broker::DistributedCall call = (*plan)->call;
  if (body) {
    forwarded.body = json::serialize(*body);
    if (body->contains("@context")) {
      forwarded.content_type = "application/ld+json";
      call.link_context.clear();
    }
  }
  broker::WriteReport report = deps.distributed_writes->Forward(
      id, (*plan)->sources, [&](const broker::ContextSource&) { return forwarded; }, call);
  if (report.errors.empty()) return NoContent();
  json::array updated, not_updated;
  if (!report.succeeded.empty()) updated.emplace_back(ctx.CompactIri(attr));
  for (const auto& e : report.errors) {
    not_updated.emplace_back(json::object{
        {"attributeName", ctx.CompactIri(attr)}, {"reason", e.status.message()}, {"registrationId", e.registration_id}});
  }
  return PlainJson(207, json::object{{"updated", std::move(updated)}, {"notUpdated", std::move(not_updated)}});
}

Response AttributeWrite(const Request& req, const PathParams& p, const ApiDeps& deps, bool partial) {
  const std::string& id = p.Get("entityId");
  const std::string& attr_name = p.Get("attrId");
  auto in = ReadObject(req, deps);
  if (!in.ok()) return Problem(in.status());
  Status st = CheckIds(id, nullptr);
  if (!st.ok()) return Problem(st);
  if (!ngsild::IsValidName(attr_name)) return Problem(Status::BadRequestData("the attribute name in the path is invalid"));
  if (attr_name == ngsild::kScopeMember) {  // §5.6.4.4: "If the target Attribute is scope, then an error of type BadRequestData"
    return Problem(Status::BadRequestData(
        "scope is not an attribute: change it with PATCH or POST /entities/{entityId}/attrs, or DELETE …/attrs/scope"));
  }
  std::string attr = in->ctx->ExpandTerm(attr_name);
  int64_t now = util::NowMillis();
  auto inst = ParseFragment(*in, attr_name, partial, deps, now);
  if (!inst.ok()) return Problem(inst.status());
  st = ngsild::CheckGeoOnly(attr, attr_name, *inst);
  if (!st.ok()) return Problem(st);
  if (auto forwarded = ForwardedAttributeOperation(req, deps, in->tenant, *in->ctx,
                                                   partial ? "updateAttrs" : "replaceAttrs", id, attr, &in->object())) {
    return std::move(*forwarded);
  }
  const PolicyWriteAccess writes = CurrentCaller().Writes(in->tenant);
  st = partial ? deps.entities->PartialUpdateAttribute(writes, in->tenant, id, attr, std::move(*inst), now)
               : deps.entities->ReplaceAttribute(writes, in->tenant, id, attr, std::move(*inst), now);
  return st.ok() ? NoContent() : Problem(st);
}

Response DeleteAttr(const Request& req, const PathParams& p, const ApiDeps& deps) {
  const std::string& id = p.Get("entityId");
  const std::string& attr_name = p.Get("attrId");
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return Problem(ctx.status());
  Status st = CheckIds(id, nullptr);
  if (!st.ok()) return Problem(st);
  if (!ngsild::IsValidName(attr_name)) return Problem(Status::BadRequestData("the attribute name in the path is invalid"));
  std::optional<std::string> dataset_id;
  if (const std::string* ds = req.Param("datasetId")) {
    if (!ngsild::IsUri(*ds)) return Problem(Status::BadRequestData("parameter 'datasetId' must be a URI"));
    dataset_id = *ds;
  }
  auto delete_all = BoolParam(req, "deleteAll");
  if (!delete_all.ok()) return Problem(delete_all.status());
  // §5.6.5.4: "If the target Attribute is scope, remove the scope Attribute from the target Entity."
  const std::string attr =
      attr_name == ngsild::kScopeMember ? std::string(ngsild::kScopeMember) : (*ctx)->ExpandTerm(attr_name);
  if (attr != ngsild::kScopeMember) {
    if (auto forwarded = ForwardedAttributeOperation(req, deps, *tenant, **ctx, "deleteAttrs", id, attr, nullptr)) {
      return std::move(*forwarded);
    }
  }
  st = deps.entities->DeleteAttribute(CurrentCaller().Writes(*tenant), *tenant, id, attr, dataset_id, *delete_all);
  return st.ok() ? NoContent() : Problem(st);
}

}  // namespace

void RegisterEntityRoutes(http::Router& router, const ApiDeps& deps) {
  const std::string base(kEntitiesPath);
  router.Add("POST", base, [&deps](const Request& r, const PathParams&) { return CreateEntity(r, deps); });
  const std::string one = base + "/{entityId}";
  router.Add("GET", one, [&deps](const Request& r, const PathParams& p) { return RetrieveEntity(r, p, deps); });
  router.Add("DELETE", one, [&deps](const Request& r, const PathParams& p) { return DeleteEntity(r, p, deps); });
  router.Add("PUT", one, [&deps](const Request& r, const PathParams& p) { return ReplaceEntity(r, p, deps); });
  router.Add("PATCH", one, [&deps](const Request& r, const PathParams& p) { return MergeEntity(r, p, deps); });
  const std::string attrs = one + "/attrs";
  router.Add("POST", attrs, [&deps](const Request& r, const PathParams& p) { return AppendAttrs(r, p, deps); });
  router.Add("PATCH", attrs, [&deps](const Request& r, const PathParams& p) { return UpdateAttrs(r, p, deps); });
  const std::string attr = attrs + "/{attrId}";
  router.Add("PATCH", attr, [&deps](const Request& r, const PathParams& p) { return AttributeWrite(r, p, deps, true); });
  router.Add("PUT", attr, [&deps](const Request& r, const PathParams& p) { return AttributeWrite(r, p, deps, false); });
  router.Add("DELETE", attr, [&deps](const Request& r, const PathParams& p) { return DeleteAttr(r, p, deps); });
}

}  // namespace cityhub::api
