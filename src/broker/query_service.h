// QueryService: the Query Entities use case (GS CIM 009 §5.7.2) — which entities of a tenant
// match ids, types, idPattern, attrs, q, a geo-query and scopeQ, one page of them in id order,
// and optionally how many there are. It plans which index narrows the candidates (the type
// index, the value index for a q conjunct, or the spatial index; see docs/ARCHITECTURE.md
// "Query planning") and lets the ngsild/ evaluators decide every match.
// Thread-safe: call from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/entity_view.h"
#include "ngsild/entity.h"
#include "ngsild/geo.h"
#include "ngsild/qlang.h"
#include "ngsild/type_selection.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

// One key of orderBy (v1.9.1 §4.23): an attribute whose value orders the entities, or, by
// distance, a GeoProperty whose distance to the geo-query's geometry does.
struct OrderKey {
  enum class Direction { kAsc, kDesc, kDistanceAsc, kDistanceDesc };
  std::string attr;  // expanded IRI
  Direction direction = Direction::kAsc;
  bool ByDistance() const { return direction == Direction::kDistanceAsc || direction == Direction::kDistanceDesc; }
};

// What GET /entities and POST /entityOperations/query ask for. Names are expanded IRIs.
struct EntityQuery {
  std::vector<std::string> ids;    // any of these ids (empty = any)
  std::vector<std::string> types;  // any of these types (empty = any)
  // A §4.17 selection with conjunctions (`(A;B)|C`): when set, it decides the type match and
  // `types` holds its IndexTypes(). Unset for a plain list of types.
  std::optional<ngsild::TypeSelection> type_selection;
  std::string id_pattern;          // RE2 pattern the id must match (empty = any)
  std::vector<std::string> attrs;  // entity must have at least one of these (empty = any)
  std::optional<ngsild::QFilter> q;
  std::optional<ngsild::GeoQuery> geo;
  std::optional<ngsild::ScopeFilter> scope;
  size_t limit = 20;
  size_t offset = 0;
  bool count = false;              // compute the total number of matches
  // orderBy: the matches in this order (ties, and no keys: ascending id). Distance keys need
  // `geo`.
  std::vector<OrderKey> order_by;
  // What the caller may see (null: everything). Entities it hides are no match; the others are
  // matched and returned redacted.
  const EntityView* view = nullptr;
  // The page as storage text (QueryResult::documents) instead of entities, for a caller that
  // renders straight from it (ngsild/stored_render.h): what the caller sees of each entity —
  // its stored document, or the redacted entity serialized the same way. Ignored with order_by.
  bool as_text = false;
};

struct QueryResult {
  std::vector<ngsild::Entity> entities;  // empty with EntityQuery::as_text
  std::vector<std::string> documents;    // with EntityQuery::as_text: the page, in order
  std::optional<uint64_t> total;   // set when EntityQuery::count
};

// Limits the service enforces (documented in docs/API.md).
struct QueryServiceLimits {
  size_t max_id_pattern_bytes = 1024;
  int64_t max_regex_memory_bytes = 1 << 20;
  std::chrono::milliseconds max_query_time{10'000};  // past it: TooComplexQuery
  size_t max_ordered = 10'000;  // matches an orderBy query may sort; beyond: TooManyResults
};

class QueryService {
 public:
  explicit QueryService(store::Store& store, QueryServiceLimits limits = {});

  // The page [offset, offset + limit) of the matches in ascending id order (or in the order of
  // `order_by`, ties by id), and their number if asked. NotFound for an unknown tenant,
  // InvalidRequest for a bad idPattern, TooComplexQuery if evaluating takes longer than the
  // limit, TooManyResults if an ordered query matches more than max_ordered entities.
  Result<QueryResult> Query(std::string_view tenant, const EntityQuery& q) const;

 private:
  store::Store& store_;
  QueryServiceLimits limits_;
};

}  // namespace cityhub::broker
