// Temporal aggregation (GS CIM 009 §4.5.19, aggregatedValues): totalCount, distinctCount, sum,
// avg, min, max, stddev, sumsq of an attribute's instances per period of aggrPeriodDuration.
// Computed in one pass over the stored records (history_codec.h InstanceView): numbers are
// never turned into JSON, so a year of minute data is aggregated in milliseconds.
//
// Choices where the spec leaves room (docs/API.md, "Temporal"):
//   - Periods start at timeAt (after, between), else at the oldest instance in the range; each
//     is [start, start + duration); months and years are calendar months in UTC. No duration
//     (or a zero one) = one period over the whole range. Periods without instances are left
//     out.
//   - Booleans count as 1 and 0; strings have min/max (by code point order), totalCount and
//     distinctCount; other values (relationships, geometries, JSON) only the two counts.
//     A method that does not apply to an attribute's values is left out of that attribute.
//   - stddev is the sample standard deviation (n − 1; 0 for a single instance).
//   - Deletion instances ("urn:ngsi-ld:null") are not values and are not counted.
// Not thread-safe: one Aggregator per attribute and request.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "broker/history_codec.h"
#include "util/status.h"

namespace cityhub::broker {

enum class AggrMethod { kTotalCount, kDistinctCount, kSum, kAvg, kMin, kMax, kStddev, kSumsq };

// "totalCount,avg,…" → methods (deduplicated, in the order given). BadRequestData naming an
// unknown one.
Result<std::vector<AggrMethod>> ParseAggregationMethods(std::string_view list);
std::string_view AggregationMethodName(AggrMethod m);

// An ISO 8601 duration: calendar months (years × 12 + months) plus milliseconds (weeks, days,
// hours, minutes, seconds with a fraction).
struct IsoDuration {
  int64_t months = 0;
  int64_t ms = 0;
  bool IsZero() const { return months == 0 && ms == 0; }
};
// P[n]Y[n]M[n]W[n]D[T[n]H[n]M[n]S]; BadRequestData for anything else (and for durations over
// 1,000 years).
Result<IsoDuration> ParseIsoDuration(std::string_view text);
// `t` plus `n` times `d` (calendar arithmetic for months, in UTC).
int64_t AddDuration(int64_t t_ms, const IsoDuration& d, int64_t n);

struct AggregationRequest {
  std::vector<AggrMethod> methods;
  IsoDuration period;  // zero = the whole range
};

struct AggregatedPeriod {
  boost::json::value value;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

struct AggregatedAttribute {
  std::string name;  // expanded
  std::string type;  // Property, Relationship, …
  std::vector<std::pair<AggrMethod, std::vector<AggregatedPeriod>>> results;  // in request order
};

// Accumulates one attribute's instances (any order) and yields its periods.
class Aggregator {
 public:
  // Periods from `origin_ms` (see above); instances before it are ignored. `range_end_ms`:
  // the end of the query range (exclusive), or nullopt when open.
  Aggregator(const AggregationRequest& request, int64_t origin_ms, std::optional<int64_t> range_end_ms);

  // Counts an instance whose time (the query's timeproperty) is `time_ms`.
  void Add(const InstanceView& v, int64_t time_ms);
  // The result; `name` is the attribute's.
  AggregatedAttribute Finish(const std::string& name);

 private:
  struct Period {
    uint64_t count = 0;
    double sum = 0, sumsq = 0;
    // For stddev: sums of the differences to the period's first value, which keep their digits
    // where sumsq - sum²/n would cancel them out (values near 1e9 differing by 1).
    double shift = 0, shifted_sum = 0, shifted_sumsq = 0;
    std::optional<double> min, max;
    std::optional<std::string> min_text, max_text;
    std::set<std::string> distinct;  // only when distinctCount is asked
  };
  int64_t PeriodIndex(int64_t t) const;

  const AggregationRequest& request_;
  int64_t origin_;
  std::optional<int64_t> range_end_;
  std::optional<int64_t> newest_;
  bool want_distinct_ = false;
  bool numeric_ = false, textual_ = false, other_ = false;
  std::string type_ = "Property";
  std::map<int64_t, Period> periods_;
  // Instances mostly come in time order: the period of the previous one is tried first.
  int64_t last_index_ = 0;
  Period* last_period_ = nullptr;
};

}  // namespace cityhub::broker
