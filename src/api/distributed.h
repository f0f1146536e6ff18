// Distribution: the one place where a read decides whether it is answered from the hub's own data
// only or together with the registered context sources (GS CIM 009 §4.3.6), and how the request
// is restated for them. Every distributed read of the API — retrieve and query entities, type and
// attribute discovery, temporal retrieve and query — asks PlanDistribution first: nullopt means
// "local only" (no federation configured, `local=true`, or no registration matches), and the
// handler answers as it always did; otherwise it hands the plan to broker::DistributedRead with
// its local answer and adds the plan's warnings (AddSourceWarnings) to the response.
// Stateless functions; thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/api.h"
#include "api/query_spec.h"
#include "broker/context_source.h"
#include "broker/distributed_read.h"
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
};

// The plan for `request` in `tenant`, read with `ctx` (the caller's @context); null when the
// read is local only. BadRequestData for a `local` parameter that is not true or false.
Result<std::unique_ptr<Distribution>> PlanDistribution(const http::Request& req, const ApiDeps& deps,
                                                       const std::string& tenant, const ngsild::Context& ctx,
                                                       DistributionRequest request);

// The selection and forwarded parameters of an entity query (GET /entities, POST
// /entityOperations/query, their temporal forms): ids, idPattern, types, attrs from `q` (compiled,
// names expanded), q / geo-query / scopeQ from `spec` as the client wrote them.
DistributionRequest QueryDistribution(std::string operation, const QuerySpec& spec, const broker::EntityQuery& q);

// Asks the sources of an entity read for system attributes (options=sysAttrs), so that the merge
// can prefer the most recently modified instance (§4.5.5); the hub shows them only when the
// caller asked for them.
void AskSystemAttributes(DistributionRequest* request);

// Adds one NGSILD-Warning header per source that did not contribute (§6.3.17).
void AddSourceWarnings(const std::vector<broker::SourceWarning>& warnings, http::Response* r);

// The hub's contextSourceAlias for `tenant` (§5.2.40, as GET /info/sourceIdentity shows it): the
// uuid of its source id, with ".<tenant>" for a named tenant. InternalError when the source id
// cannot be read.
Result<std::string> SourceAliasOf(const ApiDeps& deps, const std::string& tenant);

}  // namespace cityhub::api
