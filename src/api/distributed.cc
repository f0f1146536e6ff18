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
 * with the caller's @context so that their terms mean what the caller meant; a retrieve adds
 * `options=sysAttrs`, so that the merge can prefer the most recently modified instance (§4.5.5;
 * the hub renders system attributes only when the caller asked for them), a query only when the
 * caller asked for them (see AskSystemAttributes). Projection (pick, omit),
 * languages, datasetId, joins and the representation are applied by the hub to the merged
 * entities, so they are not forwarded.
 */
#include "api/distributed.h"

#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/caller.h"
#include "api/request.h"
#include "broker/context_source_client.h"
#include "ngsild/distributed_merge.h"
#include "util/time.h"

namespace cityhub::api {

namespace {

// The Link URL the caller's terms are read with ("" = the core context, which needs no Link; an
// inline @context is hosted here, under the hub's public URL). Only an http(s) URL is sent.
std::string LinkContextOf(const ApiDeps& deps, const ngsild::Context& ctx) {
  const std::string& url = ctx.LinkUrl();
  if (deps.contexts && url == deps.contexts->Core()->LinkUrl()) return "";
  if (!url.starts_with("http://") && !url.starts_with("https://")) return "";
  return url;
}

// What every distributed call of a request carries: the caller's @context, its Via, and the
// hub's alias for the tenant.
Result<broker::DistributedCall> CallOf(const http::Request& req, const ApiDeps& deps, const std::string& tenant,
                                       const ngsild::Context& ctx) {
  auto alias = SourceAliasOf(deps, tenant);
  if (!alias.ok()) return alias.status();
  broker::DistributedCall call;
  call.link_context = LinkContextOf(deps, ctx);
  call.via = std::string(req.headers.Get("Via"));
  call.alias = std::move(*alias);
  return call;
}

// Ok when the caller may make the forwarded write: the hub writes to its sources with its own
// credentials, so it decides for them what it would decide for its own data — the entity judged
// on every type known for it (the hub's copy, the request, the registrations) and its owner here
// ("" when the hub holds none), each attribute sent, and deletion as a whole. PermissionDenied
// naming what may not be written otherwise.
Status AuthorizeForwarded(const ApiDeps& deps, const std::string& tenant, const broker::ContextSourceRequest& match,
                          const std::vector<broker::ContextSource>& sources) {
  const PolicyWriteAccess writes = CurrentCaller().Writes(tenant);
  if (writes.Unrestricted()) return Status::Ok();
  const std::string& id = match.entity_ids.front();
  std::set<std::string> known(match.entity_types.begin(), match.entity_types.end());
  for (const auto& s : sources) known.insert(s.entity_types.begin(), s.entity_types.end());
  std::string owner;
  if (auto here = deps.entities->Get(tenant, id); here.ok()) {
    known.insert(here->types.begin(), here->types.end());
    owner = here->owner;
  }
  const std::vector<std::string> types(known.begin(), known.end());
  const broker::WriteAccess::Target target{id, types, owner};
  const bool deleting = match.operation == "deleteEntity";
  if (deleting ? !writes.MayDelete(target) : !writes.MayWrite(target)) {
    return Status::PermissionDenied(fmt::format("entity '{}' may not be {}", id.substr(0, 200), deleting ? "deleted" : "written"));
  }
  for (const auto& attr : match.attributes) {
    if (!writes.MayWriteAttribute(target, attr)) {
      return Status::PermissionDenied(
          fmt::format("attribute '{}' of entity '{}' may not be written", attr.substr(0, 200), id.substr(0, 200)));
    }
  }
  return Status::Ok();
}

// Leaves in `sources` those whose registration `csf` matches (§4.9): the registrations of the
// tenant it selects, asked of the registration service as GET /csourceRegistrations?csf= would.
Status KeepCsfMatches(const ApiDeps& deps, const std::string& tenant, const ngsild::Context& ctx,
                      const ngsild::QFilter& csf, std::vector<broker::ContextSource>* sources) {
  broker::RegistrationQuery query;
  query.csf = csf;
  auto page = deps.registrations->Query(tenant, query, ctx, 0, std::numeric_limits<size_t>::max(), util::NowMillis());
  if (!page.ok()) return page.status();
  std::set<std::string, std::less<>> selected;
  for (const auto& r : page->items) {
    if (const auto* id = r.if_contains("id"); id && id->is_string()) selected.emplace(id->get_string());
  }
  std::erase_if(*sources, [&](const broker::ContextSource& s) { return !selected.contains(s.registration_id); });
  return Status::Ok();
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
  std::optional<ngsild::QFilter> csf;
  if (request.csf) {
    auto parsed = ngsild::QFilter::Parse(*request.csf, ctx, deps.limits.query);
    if (!parsed.ok()) return Status(parsed.status().code(), "parameter 'csf': " + parsed.status().message());
    csf = std::move(*parsed);
  }
  if (*local || !deps.distributed_reads || !deps.registrations) return std::unique_ptr<Distribution>();
  if (request.merged_as_json && CurrentCaller().ReadView(tenant)) return std::unique_ptr<Distribution>();
  request.match.operation = request.operation;
  std::vector<broker::ContextSource> sources = deps.registrations->Match(tenant, request.match);
  if (csf && !sources.empty()) CITYHUB_RETURN_IF_ERROR(KeepCsfMatches(deps, tenant, ctx, *csf, &sources));
  if (sources.empty()) return std::unique_ptr<Distribution>();
  auto base = CallOf(req, deps, tenant, ctx);
  if (!base.ok()) return base.status();

  auto plan = std::make_unique<Distribution>();
  plan->call = std::move(*base);
  plan->sources = std::move(sources);
  plan->forwarded_selection = request.match;
  if (request.type_selection) {
    plan->forwarded_selection.entity_types = {request.type_selection->ToString([](const std::string& t) { return t; })};
  }
  plan->query = broker::EncodeQuery(request.params);

  broker::DistributedCall& call = plan->call;
  ngsild::ContextResolver* contexts = deps.contexts;
  call.resolve_context = [contexts, tenant](std::string_view url) -> Result<ngsild::ContextPtr> {
    if (url.empty()) return contexts->Core();
    return contexts->ResolveUrl(url, tenant);
  };
  call.limits = deps.limits.parse;
  call.selection = request.forward_selection ? &plan->forwarded_selection : nullptr;
  call.query_has_terms = request.params_have_terms;
  // An inline @context is hosted here for the caller's tenant, where a source cannot read it
  // (hosted contexts are per tenant). Without terms to read, the sources need none: the selection
  // is expanded and their answers are read with what they were sent.
  if (!call.query_has_terms && call.link_context.find("/ngsi-ld/v1/jsonldContexts/") != std::string::npos) {
    call.link_context.clear();
  }
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

Result<std::unique_ptr<WritePlan>> PlanWrite(const http::Request& req, const ApiDeps& deps, const std::string& tenant,
                                             const ngsild::Context& ctx, broker::ContextSourceRequest match) {
  auto local = BoolParam(req, "local");
  if (!local.ok()) return local.status();
  if (*local || !deps.distributed_writes || !deps.registrations) return std::unique_ptr<WritePlan>();
  std::vector<broker::ContextSource> sources = deps.registrations->Match(tenant, match);
  std::erase_if(sources, [](const broker::ContextSource& s) {
    return s.mode != broker::RegistrationMode::kExclusive && s.mode != broker::RegistrationMode::kRedirect;
  });
  if (sources.empty()) return std::unique_ptr<WritePlan>();
  CITYHUB_RETURN_IF_ERROR(AuthorizeForwarded(deps, tenant, match, sources));
  auto call = CallOf(req, deps, tenant, ctx);
  if (!call.ok()) return call.status();
  auto plan = std::make_unique<WritePlan>();
  for (const auto& s : sources) plan->redirected = plan->redirected || s.mode == broker::RegistrationMode::kRedirect;
  plan->sources = std::move(sources);
  plan->call = std::move(*call);
  return plan;
}

ForwardedFragment ForwardFragment(const ApiDeps& deps, const WritePlan& plan, const std::string& entity_id,
                                  const std::string& method, const std::string& path, const boost::json::object& fragment,
                                  const ngsild::Context& ctx, bool batch_item, const std::string& query) {
  ForwardedFragment out;
  std::vector<broker::ContextSource> asked;
  std::map<std::string, std::string> bodies;  // by registration id
  for (const auto& s : plan.sources) {
    ngsild::FragmentSplit split = ngsild::SplitFragment(fragment, ctx, s.attributes);
    if (!split.matched_any && !fragment.empty() && s.mode != broker::RegistrationMode::kRedirect) continue;
    for (const auto& [key, value] : split.matched) {
      if (split.rest.contains(key)) continue;
      out.attributes.insert(ctx.ExpandTerm(key));
      out.attributes_of[s.registration_id].push_back(ctx.ExpandTerm(key));
    }
    asked.push_back(s);
    std::string body = split.matched.empty() ? std::string() : boost::json::serialize(split.matched);
    bodies[s.registration_id] = batch_item ? "[" + body + "]" : std::move(body);
  }
  // The body's own @context (application/ld+json) travels with it; otherwise the caller's Link.
  const bool ld_json = fragment.contains("@context");
  broker::DistributedCall call = plan.call;
  if (ld_json) call.link_context.clear();
  out.report = deps.distributed_writes->Forward(
      entity_id, asked,
      [&](const broker::ContextSource& s) {
        broker::ForwardedRequest r;
        r.method = method;
        r.path = path;
        r.query = query;
        r.use_registered_context = false;
        r.body = bodies.at(s.registration_id);
        if (ld_json) r.content_type = "application/ld+json";
        return r;
      },
      call);
  return out;
}

http::Response WriteAnswer(const std::string& entity_id, std::optional<http::Response> local,
                           const broker::WriteReport& report, http::Response done) {
  const bool local_ok = local && local->status < 300;
  if (report.errors.empty() && (!local || local_ok)) return local ? std::move(*local) : std::move(done);
  // The hub's own part failed and no source took a part: the hub's error is the answer.
  if (report.errors.empty() && report.succeeded.empty()) return std::move(*local);
  boost::json::array success, errors;
  if (local_ok || !report.succeeded.empty()) success.emplace_back(entity_id);
  if (local && local->status >= 300) {
    boost::system::error_code ec;
    boost::json::value problem = boost::json::parse(local->body, ec);
    errors.emplace_back(boost::json::object{{"entityId", entity_id}, {"error", ec ? boost::json::value() : problem}});
  }
  for (const auto& e : report.errors) {
    errors.emplace_back(boost::json::object{
        {"entityId", e.entity_id}, {"registrationId", e.registration_id}, {"error", ProblemJson(e.status)}});
  }
  return PlainJson(207, boost::json::object{{"success", std::move(success)}, {"errors", std::move(errors)}});
}

void AskSystemAttributes(DistributionRequest* request) { request->params.emplace_back("options", "sysAttrs"); }

void AddSourceWarnings(const std::vector<broker::SourceWarning>& warnings, http::Response* r) {
  for (const auto& w : warnings) r->headers.Add("NGSILD-Warning", w.HeaderValue());
}

}  // namespace cityhub::api
