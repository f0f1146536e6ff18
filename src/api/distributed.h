// Distribution: the one place where a read decides whether it is answered from the hub's own data
// only or together with the registered context sources (GS CIM 009 §4.3.6), and how the request
// is restated for them. Every distributed read of the API — retrieve and query entities, type and
// attribute discovery, temporal retrieve and query — asks PlanDistribution first: nullopt means
// "local only" (no federation configured, `local=true`, or no registration matches), and the
// handler answers as it always did; otherwise it hands the plan to broker::DistributedRead with
// its local answer and adds the plan's warnings (AddSourceWarnings) to the response.
// Stateless functions; thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/api.h"
#include "api/query_spec.h"
#include "broker/context_source.h"
#include "broker/distributed_read.h"
#include "broker/distributed_write.h"
#include "broker/query_service.h"
#include "http/message.h"
#include "ngsild/context.h"
#include "util/status.h"

namespace cityhub::api {

// A distributed read ready to go: the matching sources and what each is sent.
struct Distribution {
  std::vector<broker::ContextSource> sources;
  // What the request selects, as sources are asked for it (broker::SourceQueryParams); `call`
  // points here, so a Distribution is not copied or moved once planned.
  broker::ContextSourceRequest forwarded_selection;
  broker::DistributedCall call;
  // The parameters sent besides the selection and paging, percent-encoded ("" = none).
  std::string query;

  Distribution() = default;
  Distribution(const Distribution&) = delete;
  Distribution& operator=(const Distribution&) = delete;
};

// What a read asks of the registrations, and the parameters it forwards as written.
struct DistributionRequest {
  // §4.20 operation name ("retrieveEntity", "queryEntity", "queryBatch", "retrieveTemporal", …).
  std::string operation;
  // What the directory matches the registrations against (names expanded).
  broker::ContextSourceRequest match;
  // A §4.17 type selection with conjunctions, expanded (EntityQuery::type_selection): sent to
  // sources as written instead of `match.entity_types` (which holds its index types).
  std::optional<ngsild::TypeSelection> type_selection;
  // Parameters forwarded unchanged (q, geo-query, scopeQ, …: the caller's terms).
  std::vector<std::pair<std::string, std::string>> params;
  bool params_have_terms = false;  // `params` hold names of the caller's @context
  // Whether sources are asked for the selection (id, idPattern, type, attrs: entity reads) —
  // discovery lists take none.
  bool forward_selection = true;
  // The sources' answers are merged as JSON, where the caller's read rules cannot be applied
  // (discovery, temporal): such a read is local only for a caller whose reads are restricted.
  bool merged_as_json = false;
  // `csf` (§4.9 context source filter, the q-language over the registrations' members and own
  // properties): only the registrations it matches take part. Null: no filter.
  const std::string* csf = nullptr;
};

// The plan for `request` in `tenant`, read with `ctx` (the caller's @context); null when the
// read is local only. BadRequestData for a `local` parameter that is not true or false, and as the
// q-language says for an invalid `csf`.
Result<std::unique_ptr<Distribution>> PlanDistribution(const http::Request& req, const ApiDeps& deps,
                                                       const std::string& tenant, const ngsild::Context& ctx,
                                                       DistributionRequest request);

// The selection and forwarded parameters of an entity query (GET /entities, POST
// /entityOperations/query, their temporal forms): ids, idPattern, types, attrs from `q` (compiled,
// names expanded), q / geo-query / scopeQ from `spec` as the client wrote them.
DistributionRequest QueryDistribution(std::string operation, const QuerySpec& spec, const broker::EntityQuery& q);

// Asks the sources of an entity read for system attributes (options=sysAttrs), so that the merge
// can prefer the most recently modified instance (§4.5.5); the hub shows them only when the
// caller asked for them. A retrieve always asks; a query asks when the caller wants them shown
// (otherwise broker::DistributedRead::QueryEntities asks again for the few entities whose merge
// needs them, which keeps the sources' answers half as long).
void AskSystemAttributes(DistributionRequest* request);

// --- Writes (§5.6 with §4.3.6.2) -------------------------------------------------------------

// The exclusive and redirect registrations a write goes to. Inclusive registrations take no
// writes from the hub (their sources are written to directly).
struct WritePlan {
  std::vector<broker::ContextSource> sources;
  broker::DistributedCall call;
  // A redirect registration matched: the entity lives at its source, nothing is written here.
  bool redirected = false;
};

// The plan for a write `match` (operation, the entity id, the attributes written; expanded) in
// `tenant`; null when it is local only (no federation, `local=true`, no exclusive or redirect
// registration matches). BadRequestData for a `local` parameter that is not true or false;
// PermissionDenied when the caller may not make the write (the hub's write rules apply to what it
// forwards as to what it writes itself).
Result<std::unique_ptr<WritePlan>> PlanWrite(const http::Request& req, const ApiDeps& deps, const std::string& tenant,
                                             const ngsild::Context& ctx, broker::ContextSourceRequest match);

// Sends each planned source the part of `fragment` (the client's body, names compacted with
// `ctx`) its registration covers (ngsild::SplitFragment; a source covering none of it is not
// asked), as `method` on `path` (after /ngsi-ld/v1). Returns the sources' outcomes and the
// attributes (expanded) that went to a source, which the hub then does not write itself.
struct ForwardedFragment {
  broker::WriteReport report;
  std::set<std::string> attributes;
  std::map<std::string, std::vector<std::string>> attributes_of;  // by registration id
};
// `batch_item`: the part is sent as a one-item batch (a JSON array holding it); `query`: the
// request's parameters for the source, percent-encoded.
ForwardedFragment ForwardFragment(const ApiDeps& deps, const WritePlan& plan, const std::string& entity_id,
                                  const std::string& method, const std::string& path, const boost::json::object& fragment,
                                  const ngsild::Context& ctx, bool batch_item = false, const std::string& query = "");

// The answer of a write that went (in part) to context sources. `local`: the hub's own answer
// for its part (nullopt when nothing was written here). When every party took its part, the
// hub's answer (or `done` when it wrote nothing); when only the hub's part failed and no source
// was written to, the hub's error; otherwise 207 with a BatchOperationResult (§5.2.16): the
// entity id among the successes when any party took its part, and one BatchEntityError
// (§5.2.17) per failure — a source's with its registrationId.
http::Response WriteAnswer(const std::string& entity_id, std::optional<http::Response> local,
                           const broker::WriteReport& report, http::Response done);

// Adds one NGSILD-Warning header per source that did not contribute (§6.3.17).
void AddSourceWarnings(const std::vector<broker::SourceWarning>& warnings, http::Response* r);

// The hub's contextSourceAlias for `tenant` (§5.2.40, as GET /info/sourceIdentity shows it): the
// uuid of its source id, with ".<tenant>" for a named tenant. InternalError when the source id
// cannot be read.
Result<std::string> SourceAliasOf(const ApiDeps& deps, const std::string& tenant);

}  // namespace cityhub::api
