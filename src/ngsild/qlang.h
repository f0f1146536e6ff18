// The NGSI-LD query language (GS CIM 009 §4.9) for `q`, and scope queries (§4.19) for
// `scopeQ`: a parser that turns the text into a compiled filter (names expanded with the
// request's @context, regular expressions compiled once with RE2) and an evaluator that decides
// whether one entity matches. The evaluator alone decides matches; indexes only narrow the
// candidates it is given (DESIGN §3), guided by QFilter::IndexTerms().
// Pure functions, no I/O; a compiled filter is immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "util/status.h"

namespace cityhub::ngsild {

// Explicit limits on a query's text and work (documented in docs/API.md). Exceeding the
// length, depth, term or pattern limits is TooComplexQuery naming the limit.
struct QueryLimits {
  size_t max_length = 8 * 1024;       // bytes of q / scopeQ text
  size_t max_depth = 32;              // nesting of parentheses
  size_t max_terms = 256;             // comparisons in one query
  size_t max_list_values = 256;       // values in one value list
  size_t max_pattern_bytes = 1024;    // one ~= / !~= regular expression
  int64_t max_regex_memory = 1 << 20; // RE2 memory budget per pattern
};

// A scalar that q compares. Values compare only with values of the same kind; ordering is
// numeric for kNumber/kDateTime/kDate/kTime and byte-wise for kString; kBoolean false < true.
struct QValue {
  enum class Kind : uint8_t { kBoolean, kNumber, kString, kDateTime, kDate, kTime };
  Kind kind = Kind::kString;
  double number = 0;   // kNumber: the number; kBoolean: 0/1; kDateTime: epoch ms;
                       // kDate: days since 1970-01-01; kTime: ms since midnight
  std::string text;    // kString (URIs are strings too)

  friend bool operator==(const QValue&, const QValue&) = default;
};

// Calls `visit` with every scalar that a q term naming this attribute without a path (e.g.
// `speed>5`) compares for `inst`: a Property's value (each element of an array value), a
// Relationship's object, each languageMap string, …. DateTime/Date/Time value objects
// ({"@type": "DateTime", "@value": …}) give kDateTime/kDate/kTime. Values that are not scalars
// (objects, nested arrays) give nothing. The store indexes exactly these values, so an entity
// matching a term is always among the index's candidates for it.
void ForEachComparable(const Instance& inst, const std::function<void(const QValue&)>& visit);

// One conjunct of the top-level AND of a q that constrains the comparable values (above) of a
// top-level attribute: every matching entity has an instance of `attr` with a comparable value
// that is one of `values` (when non-empty), or else lies within [lower, upper] (bounds optional,
// inclusive or exclusive). All values in one term have the same kind.
struct QIndexTerm {
  std::string attr;                // expanded attribute IRI
  std::vector<QValue> values;      // equality: any of these
  std::optional<QValue> lower;     // range: lower bound
  bool lower_inclusive = true;
  std::optional<QValue> upper;     // range: upper bound
  bool upper_inclusive = true;
};

class QNode;  // a node of the compiled expression (defined in qlang.cc)

// A compiled `q`.
class QFilter {
 public:
  // Parses `text`; attribute names are expanded with `ctx`. Returns InvalidRequest naming the
  // 0-based position and what was expected (e.g. "q: at position 7: expected a value after
  // '=='"), or TooComplexQuery when a limit is exceeded.
  static Result<QFilter> Parse(std::string_view text, const Context& ctx, const QueryLimits& limits = {});

  // True if `e` satisfies the query.
  bool Matches(const Entity& e) const;
  // The conjuncts an index can answer (see QIndexTerm); empty if none.
  const std::vector<QIndexTerm>& IndexTerms() const { return index_terms_; }
  // The expanded names of the top-level attributes the query mentions.
  const std::vector<std::string>& Attributes() const { return attributes_; }

 private:
  std::shared_ptr<const QNode> root_;
  std::vector<QIndexTerm> index_terms_;
  std::vector<std::string> attributes_;
};

class ScopeNode;  // a node of a compiled scope query (defined in qlang.cc)

// A compiled `scopeQ` (§4.19): scope paths like /Madrid/Gardens, "/#" wildcards, ";" and "|",
// parentheses.
class ScopeFilter {
 public:
  // InvalidRequest naming the position on a syntax error; TooComplexQuery past a limit.
  static Result<ScopeFilter> Parse(std::string_view text, const QueryLimits& limits = {});
  // True if the entity's scopes (e.scope: null, a string or an array of strings) satisfy the
  // query: a scope term holds if any of them matches it, so the terms of an AND may be
  // satisfied by different scopes (§4.19).
  bool Matches(const Entity& e) const;

 private:
  std::shared_ptr<const ScopeNode> root_;
};

}  // namespace cityhub::ngsild
