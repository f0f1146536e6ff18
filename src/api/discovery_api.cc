// /ngsi-ld/v1/types and /ngsi-ld/v1/attributes (GS CIM 009 §5.7.5–5.7.10): what entity types
// and attributes exist in a tenant. Lists come from the store's indexes; the details of one
// type or attribute read the entities that have it.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/caller.h"
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

// For a caller whose reads rules restrict: the types it may see entities of (others are left
// out of every list, as if the tenant had none of them).
void KeepVisibleTypes(std::string_view tenant, std::vector<std::string>* types) {
  security::Access access = CurrentCaller().AccessFor(tenant, security::Operation::kRead);
  if (access.all()) return;
  std::erase_if(*types, [&](const std::string& t) { return !access.TypeMayBeVisible(t); });
}

// The same for attributes: those some visible type has.
Status KeepVisibleAttributes(const ApiDeps& deps, std::string_view tenant, std::vector<std::string>* attrs) {
  if (CurrentCaller().AccessFor(tenant, security::Operation::kRead).all()) return Status::Ok();
  Status failure;
  std::erase_if(*attrs, [&](const std::string& attr) {
    auto types = deps.entities->TypesWithAttribute(tenant, attr);
    if (!types.ok()) {
      failure = types.status();
      return true;
    }
    KeepVisibleTypes(tenant, &*types);
    return types->empty();
  });
  return failure;
}

json::array Compacted(const std::vector<std::string>& iris, const ngsild::Context& ctx) {
  json::array out;
  for (const auto& iri : iris) out.emplace_back(ctx.CompactIri(iri));
  return out;
}

Response ListTypes(const Request& req, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto types = deps.entities->Types(in->tenant);
  if (!types.ok()) return Problem(types.status());
  KeepVisibleTypes(in->tenant, &*types);
  if (!in->details) {
    json::array list = Compacted(*types, *in->ctx);
    std::string id = ListId("EntityTypeList", list);
    return JsonResponse(200, json::object{{"id", id}, {"type", "EntityTypeList"}, {"typeList", std::move(list)}},
                        in->media, *in->ctx);
  }
  json::array out;
  for (const auto& type : *types) {
    auto attrs = deps.entities->AttributesOfType(in->tenant, type);
    if (!attrs.ok()) return Problem(attrs.status());
    if (Status st = KeepVisibleAttributes(deps, in->tenant, &*attrs); !st.ok()) return Problem(st);
    out.emplace_back(json::object{{"id", type},
                                  {"type", "EntityType"},
                                  {"typeName", in->ctx->CompactIri(type)},
                                  {"attributeNames", Compacted(*attrs, *in->ctx)}});
  }
  return JsonResponse(200, std::move(out), in->media, *in->ctx);
}

Response TypeInfo(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  const std::string& name = p.Get("type");
  if (!ngsild::IsValidName(name)) return Problem(Status::BadRequestData("the type name in the path is invalid"));
  std::vector<std::string> asked{in->ctx->ExpandTerm(name)};
  KeepVisibleTypes(in->tenant, &asked);
  if (asked.empty()) return Problem(Status::NotFound(fmt::format("no entity of type '{}'", name.substr(0, 100))));
  auto info = deps.entities->TypeDetails(in->tenant, asked[0]);
  if (!info.ok()) return Problem(info.status());
  json::array details;
  for (const auto& [attr, attr_types] : info->attributes) {
    json::array kinds;
    for (const auto& k : attr_types) kinds.emplace_back(k);
    details.emplace_back(json::object{{"id", attr},
                                      {"type", "Attribute"},
                                      {"attributeName", in->ctx->CompactIri(attr)},
                                      {"attributeTypes", std::move(kinds)}});
  }
  json::object out{{"id", info->type},
                   {"type", "EntityTypeInfo"},
                   {"typeName", in->ctx->CompactIri(info->type)},
                   {"entityCount", info->entity_count},
                   {"attributeDetails", std::move(details)}};
  return JsonResponse(200, std::move(out), in->media, *in->ctx);
}

Response ListAttributes(const Request& req, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto attrs = deps.entities->Attributes(in->tenant);
  if (!attrs.ok()) return Problem(attrs.status());
  if (Status st = KeepVisibleAttributes(deps, in->tenant, &*attrs); !st.ok()) return Problem(st);
  if (!in->details) {
    json::array list = Compacted(*attrs, *in->ctx);
    std::string id = ListId("AttributeList", list);
    return JsonResponse(200, json::object{{"id", id}, {"type", "AttributeList"}, {"attributeList", std::move(list)}},
                        in->media, *in->ctx);
  }
  json::array out;
  for (const auto& attr : *attrs) {
    auto types = deps.entities->TypesWithAttribute(in->tenant, attr);
    if (!types.ok()) return Problem(types.status());
    KeepVisibleTypes(in->tenant, &*types);
    out.emplace_back(json::object{{"id", attr},
                                  {"type", "Attribute"},
                                  {"attributeName", in->ctx->CompactIri(attr)},
                                  {"typeNames", Compacted(*types, *in->ctx)}});
  }
  return JsonResponse(200, std::move(out), in->media, *in->ctx);
}

Response AttributeInfo(const Request& req, const PathParams& p, const ApiDeps& deps) {
  auto in = ReadDiscovery(req, deps);
  if (!in.ok()) return Problem(in.status());
  const std::string& name = p.Get("attrId");
  if (!ngsild::IsValidName(name)) return Problem(Status::BadRequestData("the attribute name in the path is invalid"));
  std::vector<std::string> asked{in->ctx->ExpandTerm(name)};
  if (Status st = KeepVisibleAttributes(deps, in->tenant, &asked); !st.ok()) return Problem(st);
  if (asked.empty()) return Problem(Status::NotFound(fmt::format("no attribute '{}'", name.substr(0, 100))));
  auto info = deps.entities->AttributeDetails(in->tenant, asked[0]);
  if (!info.ok()) return Problem(info.status());
  KeepVisibleTypes(in->tenant, &info->types);
  json::array kinds;
  for (const auto& k : info->attr_types) kinds.emplace_back(k);
  json::object out{{"id", info->name},
                   {"type", "Attribute"},
                   {"attributeName", in->ctx->CompactIri(info->name)},
                   {"attributeCount", info->count},
                   {"attributeTypes", std::move(kinds)},
                   {"typeNames", Compacted(info->types, *in->ctx)}};
  return JsonResponse(200, std::move(out), in->media, *in->ctx);
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
