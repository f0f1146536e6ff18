// /ngsi-ld/v1/types and /ngsi-ld/v1/attributes (GS CIM 009 §5.7.5–5.7.10): what entity types
// and attributes exist in a tenant. Lists come from the store's indexes; the details of one
// type or attribute read the entities that have it. A caller whose reads are restricted (rules
// or privacy: a read view) is answered from what it may see instead — types and counts of the
// entities visible to it, attributes it reads on them in clear or as pseudonyms, 404 for a type
// or attribute it sees on no entity — which reads the entities (broker/visible_catalogue.h).
#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/distributed.h"
#include "api/request.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

// A stable id for a list resource, derived from its content (the spec only asks for a URI).
std::string ListId(std::string_view kind, const json::array& items) {
  return fmt::format("urn:ngsi-ld:{}:{:016x}", kind, std::hash<std::string>{}(json::serialize(items)));
}

struct DiscoveryRequest : ResourceRead {
  bool details = false;
};

Result<DiscoveryRequest> ReadDiscovery(const Request& req, const ApiDeps& deps) {
  auto read = ReadResourceRequest(req, deps);
  if (!read.ok()) return read.status();
  DiscoveryRequest out;
  static_cast<ResourceRead&>(out) = std::move(*read);
  auto details = BoolParam(req, "details");
  if (!details.ok()) return details.status();
  out.details = *details;
  return out;
}

// The types a restricted caller might see entities of: those some allow could match (the
// others need not be read at all).
std::vector<std::string> CandidateTypes(std::string_view tenant, std::vector<std::string> types) {
  security::Access access = CurrentCaller().AccessFor(tenant, security::Operation::kRead);
  std::erase_if(types, [&](const std::string& t) { return !access.TypeMayBeVisible(t); });
  return types;
}

// What restricts the caller's reads in `tenant` (null: nothing; the store's indexes answer). Not
// the request's own view: discovery shows names and counts, never a value, so it is no read of
// personal data in clear for the audit log.
std::unique_ptr<broker::EntityView> DiscoveryView(const ApiDeps& deps, std::string_view tenant) {
  const security::Principal* principal = CurrentCaller().principal();
  return principal ? MakeReadView(deps.security, *principal, tenant, nullptr) : nullptr;
}

// What `view` shows of the entities of `types` (broker/visible_catalogue.h).
Result<broker::VisibleCatalogue> CatalogueOf(const ApiDeps& deps, const broker::EntityView& view, std::string_view tenant,
                                             const std::vector<std::string>& types, bool presence_only) {
  return deps.catalogue->Scan(tenant, CandidateTypes(tenant, types), view, presence_only);
}

// What `view` shows of the entities of `type`. A type no allow names may still be visible on an
// entity that also has a type some allow names: those are looked for among the latter.
Result<broker::VisibleCatalogue> CatalogueOfType(const ApiDeps& deps, const broker::EntityView& view,
                                                 std::string_view tenant, const std::string& type) {
  auto direct = CandidateTypes(tenant, {type});
  if (!direct.empty()) return deps.catalogue->Scan(tenant, direct, view, false);
  auto all = deps.entities->Types(tenant);
  if (!all.ok()) return all.status();
  return deps.catalogue->Scan(tenant, CandidateTypes(tenant, std::move(*all)), view, false, type);
}

// `local` (type or attribute names, or their detailed objects, compacted with the caller's
// @context) with the lists of the matching context sources merged in (§5.7.5, §5.7.6, §5.7.8,
// §5.7.9 with §4.3.6); `local` alone when the read is local only — always for a caller whose reads
// are restricted, since the sources' lists cannot be judged by the caller's read rules.
Result<broker::DistributedRead::JsonAnswer> WithSources(const Request& req, const ApiDeps& deps,
                                                        const DiscoveryRequest& in, std::string operation,
                                                        const std::string& path, json::array local) {
  DistributionRequest asked;
  asked.operation = std::move(operation);
  asked.forward_selection = false;
  asked.merged_as_json = true;
  auto plan = PlanDistribution(req, deps, in.tenant, *in.ctx, std::move(asked));
  if (!plan.ok()) return plan.status();
  if (!*plan) return broker::DistributedRead::JsonAnswer{std::move(local), {}};
  return deps.distributed_reads->Discovery(std::move(local), path, (*plan)->query, in.details, (*plan)->sources,
                                           (*plan)->call);
}

// The 200 answer of a discovery list: the merged items (an EntityTypeList / AttributeList object
// named `list_type` holding them in `member`, or the detailed array) and the sources' warnings.
Response ListResponse(const DiscoveryRequest& in, broker::DistributedRead::JsonAnswer answer,
                      std::string_view list_type, std::string_view member) {
  Response r;
  if (in.details) {
    r = JsonResponse(200, std::move(answer.items), in.media, *in.ctx);
  } else {
    std::string id = ListId(list_type, answer.items);
    r = JsonResponse(200, json::object{{"id", id}, {"type", list_type}, {member, std::move(answer.items)}}, in.media,
                     *in.ctx);
  }
  AddSourceWarnings(answer.warnings, &r);
  return r;
}

json::array Compacted(const std::vector<std::string>& iris, const ngsild::Context& ctx) {
  json::array out;
  for (const auto& iri : iris) out.emplace_back(ctx.CompactIri(iri));
  return out;
}

template <typename Map>
std::vector<std::string> KeysOf(const Map& m) {
  std::vector<std::string> out;
  for (const auto& [key, value] : m) out.push_back(key);
  return out;
}

// The EntityType objects of `types` (§5.2.25): their attributes as `seen` shows them to a
// restricted caller, else as the store's indexes hold them.
Result<json::array> TypeDetailsOf(const ApiDeps& deps, const DiscoveryRequest& in, const std::vector<std::string>& types,
                                  const std::optional<broker::VisibleCatalogue>& seen) {
  json::array out;
  for (const auto& type : types) {
    auto attrs = seen ? Result<std::vector<std::string>>(KeysOf(seen->types.at(type).attributes))
                      : deps.entities->AttributesOfType(in.tenant, type);
    if (!attrs.ok()) return attrs.status();
    out.emplace_back(json::object{{"id", type},
                                  {"type", "EntityType"},
                                  {"typeName", in.ctx->CompactIri(type)},
                                  {"attributeNames", Compacted(*attrs, *in.ctx)}});
  }
  return out;
}

// The Attribute objects of `attrs` (§5.2.28) with the types of the entities holding them, as
// `seen` shows them to a restricted caller, else as the store's indexes hold them.
Result<json::array> AttributeDetailsOf(const ApiDeps& deps, const DiscoveryRequest& in,
                                       const std::vector<std::string>& attrs,
                                       const std::optional<broker::VisibleCatalogue>& seen) {
  json::array out;
  for (const auto& attr : attrs) {
    auto types = seen ? Result<std::vector<std::string>>(std::vector<std::string>(seen->attributes.at(attr).types.begin(),
                                                                                  seen->attributes.at(attr).types.end()))
                      : deps.entities->TypesWithAttribute(in.tenant, attr);
    if (!types.ok()) return types.status();
    out.emplace_back(json::object{{"id", attr},
                                  {"type", "Attribute"},
                                  {"attributeName", in.ctx->CompactIri(attr)},
                                  {"typeNames", Compacted(*types, *in.ctx)}});
  }
  return out;
}

Response ListTypes(const Request& req, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto types = deps.entities->Types(in->tenant);
  if (!types.ok()) return Problem(types.status());
  std::optional<broker::VisibleCatalogue> seen;
  if (auto view = DiscoveryView(deps, in->tenant)) {
    auto catalogue = CatalogueOf(deps, *view, in->tenant, *types, /*presence_only=*/!in->details);
    if (!catalogue.ok()) return Problem(catalogue.status());
    seen = std::move(*catalogue);
    std::erase_if(*types, [&](const std::string& t) { return !seen->types.contains(t); });
  }
  auto out = in->details ? TypeDetailsOf(deps, *in, *types, seen) : Result<json::array>(Compacted(*types, *in->ctx));
  if (!out.ok()) return Problem(out.status());
  auto merged = WithSources(req, deps, *in, in->details ? "retrieveEntityTypeDetails" : "retrieveEntityTypes", "/types",
                            std::move(*out));
  if (!merged.ok()) return Problem(merged.status());
  return ListResponse(*in, std::move(*merged), "EntityTypeList", "typeList");
}

// TypeDetails as the caller sees it: NotFound when it sees no entity of `type`.
Result<broker::EntityService::TypeInfo> VisibleTypeDetails(const ApiDeps& deps, std::string_view tenant,
                                                           const std::string& type) {
  auto view = DiscoveryView(deps, tenant);
  if (!view) return deps.entities->TypeDetails(tenant, type);
  auto seen = CatalogueOfType(deps, *view, tenant, type);
  if (!seen.ok()) return seen.status();
  auto it = seen->types.find(type);
  if (it == seen->types.end()) return Status::NotFound(fmt::format("no entity has type '{}'", type));
  broker::EntityService::TypeInfo info;
  info.type = type;
  info.entity_count = it->second.entities;
  for (const auto& [name, kinds] : it->second.attributes) {
    info.attributes.emplace_back(name, std::vector<std::string>(kinds.begin(), kinds.end()));
  }
  return info;
}

// The details of one type or attribute (`local`, the hub's own; NotFound when it has none) with
// those of the matching context sources merged in (§5.7.7, §5.7.10 with §4.3.6): local only as
// WithSources decides; 404 when nobody knows the name.
Response InfoWithSources(const Request& req, const ApiDeps& deps, const DiscoveryRequest& in, std::string operation,
                         broker::ContextSourceRequest match, const std::string& path, Result<json::object> local) {
  if (!local.ok() && !local.status().IsNotFound()) return Problem(local.status());
  DistributionRequest asked;
  asked.operation = std::move(operation);
  asked.match = std::move(match);
  asked.forward_selection = false;
  asked.merged_as_json = true;
  auto plan = PlanDistribution(req, deps, in.tenant, *in.ctx, std::move(asked));
  if (!plan.ok()) return Problem(plan.status());
  if (!*plan) return local.ok() ? JsonResponse(200, std::move(*local), in.media, *in.ctx) : Problem(local.status());
  std::optional<json::object> mine;
  if (local.ok()) mine = std::move(*local);
  auto answer = deps.distributed_reads->DiscoveryInfo(std::move(mine), path, (*plan)->sources, (*plan)->call);
  Response r = answer.info ? JsonResponse(200, std::move(*answer.info), in.media, *in.ctx) : Problem(local.status());
  AddSourceWarnings(answer.warnings, &r);
  return r;
}

// The hub's own EntityTypeInfo of `type` (§5.2.26); NotFound when the caller sees no entity of it.
Result<json::object> LocalTypeInfo(const ApiDeps& deps, const DiscoveryRequest& in, const std::string& type) {
  auto info = VisibleTypeDetails(deps, in.tenant, type);
  if (!info.ok()) return info.status();
  json::array details;
  for (const auto& [attr, attr_types] : info->attributes) {
    json::array kinds;
    for (const auto& k : attr_types) kinds.emplace_back(k);
    details.emplace_back(json::object{{"id", attr},
                                      {"type", "Attribute"},
                                      {"attributeName", in.ctx->CompactIri(attr)},
                                      {"attributeTypes", std::move(kinds)}});
  }
  return json::object{{"id", info->type},
                      {"type", "EntityTypeInfo"},
                      {"typeName", in.ctx->CompactIri(info->type)},
                      {"entityCount", info->entity_count},
                      {"attributeDetails", std::move(details)}};
}

Response TypeInfo(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  const std::string& name = p.Get("type");
  if (!ngsild::IsValidName(name)) return Problem(Status::BadRequestData("the type name in the path is invalid"));
  const std::string type = in->ctx->ExpandTerm(name);
  broker::ContextSourceRequest match;
  match.entity_types = {type};
  return InfoWithSources(req, deps, *in, "retrieveEntityTypeInfo", std::move(match),
                         "/types/" + broker::PercentEncode(type), LocalTypeInfo(deps, *in, type));
}

Response ListAttributes(const Request& req, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto attrs = deps.entities->Attributes(in->tenant);
  if (!attrs.ok()) return Problem(attrs.status());
  std::optional<broker::VisibleCatalogue> seen;
  if (auto view = DiscoveryView(deps, in->tenant)) {
    auto types = deps.entities->Types(in->tenant);
    if (!types.ok()) return Problem(types.status());
    auto catalogue = CatalogueOf(deps, *view, in->tenant, *types, false);
    if (!catalogue.ok()) return Problem(catalogue.status());
    seen = std::move(*catalogue);
    *attrs = KeysOf(seen->attributes);
  }
  auto out = in->details ? AttributeDetailsOf(deps, *in, *attrs, seen)
                         : Result<json::array>(Compacted(*attrs, *in->ctx));
  if (!out.ok()) return Problem(out.status());
  auto merged = WithSources(req, deps, *in, in->details ? "retrieveAttrTypeDetails" : "retrieveAttrTypes",
                            "/attributes", std::move(*out));
  if (!merged.ok()) return Problem(merged.status());
  return ListResponse(*in, std::move(*merged), "AttributeList", "attributeList");
}

// AttributeDetails as the caller sees it: NotFound when it reads `attr` on no entity.
Result<broker::EntityService::AttributeInfo> VisibleAttributeDetails(const ApiDeps& deps, std::string_view tenant,
                                                                     const std::string& attr) {
  auto view = DiscoveryView(deps, tenant);
  if (!view) return deps.entities->AttributeDetails(tenant, attr);
  auto types = deps.entities->TypesWithAttribute(tenant, attr);
  if (!types.ok()) return types.status();
  auto seen = CatalogueOf(deps, *view, tenant, *types, false);
  if (!seen.ok()) return seen.status();
  auto it = seen->attributes.find(attr);
  if (it == seen->attributes.end()) return Status::NotFound(fmt::format("no entity has attribute '{}'", attr));
  broker::EntityService::AttributeInfo info;
  info.name = attr;
  info.count = it->second.entities;
  info.types.assign(it->second.types.begin(), it->second.types.end());
  info.attr_types.assign(it->second.attr_types.begin(), it->second.attr_types.end());
  return info;
}

// The hub's own Attribute details of `attr` (§5.2.28); NotFound when the caller reads it on no entity.
Result<json::object> LocalAttributeInfo(const ApiDeps& deps, const DiscoveryRequest& in, const std::string& attr) {
  auto info = VisibleAttributeDetails(deps, in.tenant, attr);
  if (!info.ok()) return info.status();
  json::array kinds;
  for (const auto& k : info->attr_types) kinds.emplace_back(k);
  return json::object{{"id", info->name},
                      {"type", "Attribute"},
                      {"attributeName", in.ctx->CompactIri(info->name)},
                      {"attributeCount", info->count},
                      {"attributeTypes", std::move(kinds)},
                      {"typeNames", Compacted(info->types, *in.ctx)}};
}

Response AttributeInfo(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  const std::string& name = p.Get("attrId");
  if (!ngsild::IsValidName(name)) return Problem(Status::BadRequestData("the attribute name in the path is invalid"));
  const std::string attr = in->ctx->ExpandTerm(name);
  broker::ContextSourceRequest match;
  match.attributes = {attr};
  return InfoWithSources(req, deps, *in, "retrieveAttrTypeInfo", std::move(match),
                         "/attributes/" + broker::PercentEncode(attr), LocalAttributeInfo(deps, *in, attr));
}

}  // namespace

void RegisterDiscoveryRoutes(http::Router& router, const ApiDeps& deps) {
  router.Add("GET", "/ngsi-ld/v1/types", [&deps](const Request& r, const PathParams&) { return ListTypes(r, deps); });
  router.Add("GET", "/ngsi-ld/v1/types/{type}", [&deps](const Request& r, const PathParams& p) { return TypeInfo(r, p, deps); });
  router.Add("GET", "/ngsi-ld/v1/attributes", [&deps](const Request& r, const PathParams&) { return ListAttributes(r, deps); });
  router.Add("GET", "/ngsi-ld/v1/attributes/{attrId}",
             [&deps](const Request& r, const PathParams& p) { return AttributeInfo(r, p, deps); });
}

}  // namespace cityhub::api
