// IndexTerms: what the broker indexes of an entity, as store::IndexTerm keys, and the key
// ranges a query scans to find candidates. The store only keeps and scans the keys; their
// meaning lives here, next to the query planner that reads them (DESIGN §3: indexes narrow,
// the evaluator decides).
//
// Value index: for each type T of the entity and each attribute A, one key per distinct value
// that q compares for A (ngsild::ForEachComparable), so `type=T&q=A==v` or a range on A is a
// key-range scan. Spatial index: for each GeoProperty A, S2 cell ids — a point's leaf cell with
// its position as payload (the planner can then decide geo-relations without reading the
// entity), or the covering cells of another geometry's bounding box. Expiry index: one key per
// transient entity, ordered by its expiresAt.
// Thread-safe (pure functions).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ngsild/entity.h"
#include "ngsild/geo.h"
#include "ngsild/qlang.h"
#include "store/store.h"

namespace cityhub::broker {

// Bump when IndexTermsOf changes what it derives: EntityService::EnsureIndexed then
// re-derives the terms of every stored entity.
inline constexpr int kIndexVersion = 5;

// The entity's terms, distinct by key.
std::vector<store::IndexTerm> IndexTermsOf(const ngsild::Entity& e);

// The scans that find every entity of `type` with a comparable value of the term's attribute
// satisfying `term`; nullopt if the value index cannot answer it (then scan the type). Before
// trusting the ranges the caller checks `overflow`: an entity with more values of the attribute
// than the index keeps has a key there, and then the index must not be used either.
struct ValueScan {
  std::vector<store::TermRange> ranges;
  store::TermRange overflow;
};
std::optional<ValueScan> ValueScanFor(std::string_view type, const ngsild::QIndexTerm& term);

// The scans that find every entity of `type` whose GeoProperty `attr` may intersect `box`:
// `points` are ranges of point keys (payload: the position, see DecodePoint); `any_area` is the
// range of all non-point keys of (type, attr) — if it is empty, `area_ranges` need not be
// scanned — and `area_ranges` those of the cells of other geometries that may intersect the
// box (payload: the geometry's ngsild::EncodeGeometry copy when it is small, else empty; decide
// on it with GeoQuery::MatchesEncoded).
struct SpatialScan {
  std::vector<store::TermRange> points;
  store::TermRange any_area;
  std::vector<store::TermRange> area_ranges;
};
SpatialScan SpatialScanFor(std::string_view type, std::string_view attr, const ngsild::GeoBox& box);

// The keys of the transient entities whose expiresAt is at or before `now_ms` (expired).
store::TermRange ExpiredRange(int64_t now_ms);

// The position in a point key's payload; false if `payload` holds none.
bool DecodePoint(std::string_view payload, double* lon, double* lat);

}  // namespace cityhub::broker
