// DistributedRead: the read operations of a federated hub (GS CIM 009 §4.3.6) as the API calls
// them — the hub's own answer in, the merged answer of the hub and its matching context sources
// out, with one warning per source that could not contribute (§6.3.17). One function per
// operation family: retrieve and query entities, type and attribute discovery, temporal
// retrieve and query. The API finds the sources (ContextSourceDirectory::Match), computes the
// local answer as without federation, calls here, and renders the result plus the warnings.
//
// Failures of sources never fail the operation: a source that is down, slow, cooling down,
// answers an error or something that is not NGSI-LD is left out and named in a warning; the
// call returns within the longest timeout of the sources asked. A request whose Via header
// already names this hub is answered from local data only (it has been here before, §6.3.18),
// and sources whose registered contextSourceAlias the Via header names are not asked again.
// Thread-safe (the client is; nothing else is shared).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "broker/context_source.h"
#include "broker/context_source_client.h"
#include "ngsild/context.h"
#include "ngsild/distributed_merge.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "util/status.h"

namespace cityhub::broker {

// A source that did not contribute, for the NGSILD-Warning header (§6.3.17).
struct SourceWarning {
  std::string registration_id;
  std::string endpoint;
  std::string reason;  // "timed out", "answered HTTP 503", "cooling down after a failure (…)", …
  // The header value: 199 (Miscellaneous Warning) with the registration id as the warn-agent,
  // e.g. 199 urn:ngsi-ld:ContextSourceRegistration:r1 "timed out".
  std::string HeaderValue() const;
};

// What every distributed read needs from the request being served.
struct DistributedCall {
  std::string link_context;  // the caller's @context URL ("" = the core context)
  std::string via;           // the request's Via header ("" = from a client)
  // The hub's contextSourceAlias for the request's tenant (GET /info/sourceIdentity), added to
  // Via and looked for there ("" = the client's default).
  std::string alias;
  // The @context an answer's names are compacted with, by the URL sent in its Link header ("" =
  // the core context); an error leaves that source out with a warning.
  std::function<Result<ngsild::ContextPtr>(std::string_view url)> resolve_context;
  ngsild::ParseLimits limits;
  // What the request selects (ids, idPattern, types, attributes; expanded), as the directory
  // was asked: each source is then asked for it narrowed to what its registration covers
  // (SourceQueryParams) before the operation's `query`. Null: `query` alone.
  const ContextSourceRequest* selection = nullptr;
  // True when `query` carries terms of the caller's @context (q, scopeQ, geoproperty, pick, …):
  // then every source is sent the caller's @context, even one registered with its own
  // jsonldContext, so that those names mean what the client meant.
  bool query_has_terms = false;
};

// The selection parameters a source is asked with (§5.7.2: id, idPattern, type, attrs), names
// as expanded IRIs: of the types and attributes the request asks, those the registration
// names (all the request asks when it names none; all it names when the request asks none);
// `with_ids` false
// leaves out id and idPattern (a retrieve names its entity in the path).
std::vector<std::pair<std::string, std::string>> SourceQueryParams(const ContextSourceRequest& selection,
                                                                   const ContextSource& source, bool with_ids);

class DistributedRead {
 public:
  // Limits of the query merge: a source is asked for at most this many entities per request
  // (offset + limit of the caller's page, capped).
  static constexpr size_t kMaxSourcePage = 1000;

  explicit DistributedRead(ContextSourceClient& client) : client_(client) {}

  struct EntityAnswer {
    std::optional<ngsild::Entity> entity;  // nullopt: neither the hub nor any source holds it
    std::vector<SourceWarning> warnings;
  };
  // Retrieve Entity (§5.7.1): GET /entities/{id}?{query} at each source (`query`: the caller's
  // parameters, names expanded), merged with `local`. A source answering 404 holds no part.
  EntityAnswer RetrieveEntity(std::optional<ngsild::Entity> local, const std::string& entity_id,
                              const std::string& query, const std::vector<ContextSource>& sources,
                              const DistributedCall& call);

  struct QueryAnswer {
    std::vector<ngsild::Entity> entities;  // the page
    std::optional<uint64_t> total;         // when `count`: see docs/API.md "Distributed operations"
    std::vector<SourceWarning> warnings;
  };
  // Query Entities (§5.7.2): GET /entities?{query}&offset=0&limit=offset+limit at each source,
  // merged with `local` (the hub's first offset + limit matches in id order, and its count),
  // ordered by id, then paged. Of the sources' answers only the entities of the page are decoded.
  // Sources are asked for system attributes only when `query` asks them (options=sysAttrs):
  // when two parties then hold one attribute instance without times to choose by (rule 3 of
  // ngsild/distributed_merge.h), the sources holding it are asked for those entities again with
  // system attributes, and that answer is merged instead.
  QueryAnswer QueryEntities(std::vector<ngsild::Entity> local, std::optional<uint64_t> local_total,
                            const std::string& query, size_t offset, size_t limit, bool count,
                            const std::vector<ContextSource>& sources, const DistributedCall& call);

  struct JsonAnswer {
    boost::json::array items;
    std::vector<SourceWarning> warnings;
  };
  // Type or attribute discovery (§5.7.5–§5.7.8): GET {path}?{query} at each source ("/types",
  // "/attributes"; `details`: the caller asked details=true). `local`: the hub's list — the
  // names (typeList / attributeList) or the detailed objects — rendered with the caller's
  // @context; the result is the same kind of list, merged.
  JsonAnswer Discovery(boost::json::array local, const std::string& path, const std::string& query, bool details,
                       const std::vector<ContextSource>& sources, const DistributedCall& call);

  struct InfoAnswer {
    std::optional<boost::json::object> info;  // nullopt: neither the hub nor any source knows it
    std::vector<SourceWarning> warnings;
  };
  // The details of one type or attribute (§5.7.7, §5.7.10): GET {path} at each source
  // ("/types/{type}" or "/attributes/{attrId}", the name as an expanded IRI); `local`: the hub's
  // EntityTypeInfo or Attribute rendered with the caller's @context (nullopt when it has none). A
  // source answering 404 knows none; the others' objects are merged (ngsild::MergeTypeInfo,
  // MergeAttributeInfo).
  InfoAnswer DiscoveryInfo(std::optional<boost::json::object> local, const std::string& path,
                           const std::vector<ContextSource>& sources, const DistributedCall& call);

  // Temporal retrieve (path "/temporal/entities/{id}") or query (path "/temporal/entities"):
  // the sources' normalized temporal entities merged with `local` (rendered the same way with
  // the caller's @context) — see ngsild::MergeTemporalEntities.
  JsonAnswer Temporal(std::vector<boost::json::object> local, const std::string& path, const std::string& query,
                      const std::vector<ContextSource>& sources, const DistributedCall& call);

 private:
  // Asks `sources` unless the call has been here before; failed and skipped ones become warnings.
  // `with_ids`: whether the selection's ids and idPattern go in the query (SourceQueryParams).
  std::vector<SourceAnswer> AskAll(const std::vector<ContextSource>& sources, ForwardedRequest request,
                                   const DistributedCall& call, bool with_ids, std::vector<SourceWarning>* warnings);
  // As AskAll, handing each source's answer to `answered` as soon as it comes (with how many
  // sources are still awaited then) instead of returning them.
  void AskEach(const std::vector<ContextSource>& sources, ForwardedRequest request, const DistributedCall& call,
               bool with_ids, std::vector<SourceWarning>* warnings,
               const std::function<void(SourceAnswer&& answer, size_t still_awaited)>& answered);

  // A source's answer to a query: its entities' ids and JSON, decoded only where needed.
  struct ListedAnswer;
  static std::optional<ListedAnswer> Listed(SourceAnswer a, const DistributedCall& call, std::string* why);
  // The second round of QueryEntities: the entities whose merge needs system times, asked again
  // with them of the sources in `listed` that answered them.
  void RefetchWithTimes(std::vector<ListedAnswer>* listed, const std::vector<ngsild::Entity>& local,
                        const std::string& query, const DistributedCall& call);

  ContextSourceClient& client_;
};

}  // namespace cityhub::broker
