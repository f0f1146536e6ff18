/* Distribution: local only or distributed, decided once for every read family.
 *
 * A read is distributed when the hub has a federation client (ApiDeps::distributed_reads), the
 * caller did not ask for `local=true` (§5.7.1, §5.7.2: "no Context Source Registrations shall be
 * considered"), and the directory finds registrations of the tenant that match the operation,
 * entities and attributes asked. The loop check (Via, §6.3.18) is the broker's: a request that has
 * passed through this hub before is answered locally there.
 *
 * What the sources are sent: the selection (id, idPattern, type, attrs) as expanded IRIs,
 * narrowed per source to its registration; the caller's filters (q, geo-query, scopeQ) as written,
 * with the caller's @context so that their terms mean what the caller meant; entity reads add
 * `options=sysAttrs`, so that the merge can prefer the most recently modified instance (§4.5.5;
 * the hub renders system attributes only when the caller asked for them). Projection (pick, omit),
 * languages, datasetId, joins and the representation are applied by the hub to the merged
 * entities, so they are not forwarded.
 */
#include "api/distributed.h"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include "api/request.h"
#include "broker/context_source_client.h"

namespace cityhub::api {

namespace {

// The Link URL the caller's terms are read with ("" = the core context, which needs no Link).
std::string LinkContextOf(const ApiDeps& deps, const ngsild::Context& ctx) {
  if (deps.contexts && ctx.LinkUrl() == deps.contexts->Core()->LinkUrl()) return "";
  return ctx.LinkUrl();
}

}  // namespace

Result<std::string> SourceAliasOf(const ApiDeps& deps, const std::string& tenant) {
  auto id = deps.entities->SourceId();
  if (!id.ok()) return id.status();
  constexpr std::string_view kPrefix = "urn:ngsi-ld:ContextSource:";
  std::string uuid = id->substr(std::min(id->size(), kPrefix.size()));
  return tenant.empty() ? uuid : fmt::format("{}.{}", uuid, tenant);
}

Result<std::unique_ptr<Distribution>> PlanDistribution(const http::Request& req, const ApiDeps& deps,
                                                       const std::string& tenant, const ngsild::Context& ctx,
                                                       DistributionRequest request) {
  auto local = BoolParam(req, "local");
  if (!local.ok()) return local.status();
  if (*local || !deps.distributed_reads || !deps.registrations) return std::unique_ptr<Distribution>();
  request.match.operation = request.operation;
  std::vector<broker::ContextSource> sources = deps.registrations->Match(tenant, request.match);
  if (sources.empty()) return std::unique_ptr<Distribution>();
  auto alias = SourceAliasOf(deps, tenant);
  if (!alias.ok()) return alias.status();

  auto plan = std::make_unique<Distribution>();
  plan->sources = std::move(sources);
  plan->forwarded_selection = request.match;
  if (request.type_selection) {
    plan->forwarded_selection.entity_types = {request.type_selection->ToString([](const std::string& t) { return t; })};
  }
  plan->query = broker::EncodeQuery(request.params);

  broker::DistributedCall& call = plan->call;
  call.link_context = LinkContextOf(deps, ctx);
  call.via = std::string(req.headers.Get("Via"));
  call.alias = std::move(*alias);
  ngsild::ContextResolver* contexts = deps.contexts;
  call.resolve_context = [contexts, tenant](std::string_view url) -> Result<ngsild::ContextPtr> {
    if (url.empty()) return contexts->Core();
    return contexts->ResolveUrl(url, tenant);
  };
  call.limits = deps.limits.parse;
  call.selection = request.forward_selection ? &plan->forwarded_selection : nullptr;
  call.query_has_terms = request.params_have_terms;
  return plan;
}

DistributionRequest QueryDistribution(std::string operation, const QuerySpec& spec, const broker::EntityQuery& q) {
  DistributionRequest out;
  out.operation = std::move(operation);
  out.match.entity_ids = q.ids;
  out.match.id_pattern = q.id_pattern;
  out.match.entity_types = q.types;
  out.match.attributes = q.attrs;
  out.type_selection = q.type_selection;
  auto forward = [&](const char* name, const std::optional<std::string>& value) {
    if (value) out.params.emplace_back(name, *value);
  };
  forward("q", spec.q);
  forward("scopeQ", spec.scope_q);
  forward("georel", spec.georel);
  forward("geometry", spec.geometry);
  forward("geoproperty", spec.geoproperty);
  if (spec.coordinates) {
    out.params.emplace_back("coordinates", spec.coordinates->is_string() ? std::string(spec.coordinates->get_string())
                                                                         : boost::json::serialize(*spec.coordinates));
  }
  out.params_have_terms = spec.q || spec.scope_q || spec.geoproperty;
  return out;
}

void AskSystemAttributes(DistributionRequest* request) { request->params.emplace_back("options", "sysAttrs"); }

void AddSourceWarnings(const std::vector<broker::SourceWarning>& warnings, http::Response* r) {
  for (const auto& w : warnings) r->headers.Add("NGSILD-Warning", w.HeaderValue());
}

}  // namespace cityhub::api
