// cityhub's privacy resources (issue 6; docs/API.md "Privacy"):
//   GET /cityhub/v1/transparency — public: what the hub collects, why, how long it keeps it and
//       who may read it in clear (one PrivacyObject-like entry per classified type).
//   GET /cityhub/v1/aggregates?type=T&groupBy=a,b[&q=…][&k=N] — counts of the entities of T
//       grouped by the values of attributes, for a "data safe zone": groups smaller than k are
//       suppressed (k is the configured minimum; a request may ask for more, never less). The
//       entities are those the caller may read, as it may read them (pseudonyms group equal
//       values together without revealing them).
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/query_spec.h"
#include "api/request.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

constexpr size_t kMaxGroupBy = 5;
constexpr size_t kMaxGroups = 100'000;

Response Transparency(const ApiDeps& deps) {
  json::object body = deps.security.privacy ? deps.security.privacy->Transparency()
                                            : json::object{{"privacyObjects", json::array()}};
  body["authentication"] = deps.security.enabled() ? "required" : "none (loopback or --insecure)";
  body["auditLog"] = deps.security.audit != nullptr;
  body["roles"] = json::object{{"reader", "reads entities, histories and types of its tenant"},
                               {"writer", "reads, writes and subscribes in its tenant"},
                               {"admin", "everything in its tenant, and hub operations in the default tenant"}};
  return PlainJson(200, body);
}

// The value an attribute's first instance gives a group ("" key for none).
json::value GroupValue(const ngsild::Entity& e, const std::string& attr) {
  auto it = e.attrs.find(attr);
  if (it == e.attrs.end() || it->second.empty()) return nullptr;
  const json::object& inst = it->second.front();
  for (const char* member : {"value", "object", "vocab", "languageMap", "json", "valueList"}) {
    if (const json::value* v = inst.if_contains(member)) return *v;
  }
  return nullptr;
}

Response Aggregates(const Request& req, const ApiDeps& deps) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  const std::string* type = req.Param("type");
  const std::string* group_by = req.Param("groupBy");
  if (!type || !group_by) return Problem(Status::BadRequestData("parameters 'type' and 'groupBy' are required"));
  auto names = SplitList(*group_by, "groupBy");
  if (!names.ok()) return Problem(names.status());
  if (names->size() > kMaxGroupBy) return Problem(Status::BadRequestData(fmt::format("'groupBy' names at most {} attributes", kMaxGroupBy)));
  size_t k = deps.security.privacy ? deps.security.privacy->k() : security::PrivacyPolicy::kDefaultK;
  auto asked_k = SizeParam(req, "k", k);
  if (!asked_k.ok()) return Problem(asked_k.status());
  k = std::max(k, *asked_k);

  auto spec = QuerySpecFromParams(req);
  if (!spec.ok()) return Problem(spec.status());
  spec->types = {*type};
  auto q = CompileQuery(*spec, *in->ctx, std::nullopt, deps.limits);
  if (!q.ok()) return Problem(q.status());
  std::vector<std::string> attrs;
  for (const auto& n : *names) attrs.push_back(in->ctx->ExpandTerm(n));
  std::unique_ptr<broker::EntityView> view = CurrentCaller().ReadView(in->tenant);
  q->view = view.get();

  std::map<std::string, std::pair<json::array, uint64_t>> groups;  // by serialized key
  constexpr size_t kPage = 1000;
  q->limit = kPage;
  for (q->offset = 0;; q->offset += kPage) {
    auto page = deps.queries->Query(in->tenant, *q);
    if (!page.ok()) {
      if (page.status().IsNotFound()) break;  // no such tenant: no entities
      return Problem(page.status());
    }
    for (const auto& e : page->entities) {
      json::array key;
      for (const auto& a : attrs) key.push_back(GroupValue(e, a));
      auto [it, fresh] = groups.try_emplace(json::serialize(key), std::move(key), 0);
      if (fresh && groups.size() > kMaxGroups) {
        return Problem(Status::TooManyResults(fmt::format("more than {} groups: group by fewer or coarser attributes", kMaxGroups)));
      }
      ++it->second.second;
    }
    if (page->entities.size() < kPage) break;
  }
  json::array shown;
  uint64_t suppressed_groups = 0, suppressed_entities = 0;
  for (auto& [key, group] : groups) {
    if (group.second < k) {
      ++suppressed_groups;
      suppressed_entities += group.second;
      continue;
    }
    json::object g;
    for (size_t i = 0; i < names->size(); ++i) g[(*names)[i]] = group.first[i];
    g["count"] = group.second;
    shown.push_back(std::move(g));
  }
  json::array group_names;
  for (const auto& n : *names) group_names.emplace_back(n);
  return PlainJson(200, json::object{{"type", *type},
                                     {"groupBy", std::move(group_names)},
                                     {"k", k},
                                     {"groups", std::move(shown)},
                                     {"suppressedGroups", suppressed_groups},
                                     {"suppressedEntities", suppressed_entities}});
}

}  // namespace

void RegisterPrivacyRoutes(http::Router& router, const ApiDeps& deps) {
  router.Add("GET", "/cityhub/v1/transparency", [&deps](const Request&, const PathParams&) { return Transparency(deps); });
  router.Add("GET", "/cityhub/v1/aggregates", [&deps](const Request& r, const PathParams&) { return Aggregates(r, deps); });
}

}  // namespace cityhub::api
