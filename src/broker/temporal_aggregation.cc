#include "broker/temporal_aggregation.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "util/json.h"
#include "util/time.h"

namespace cityhub::broker {
namespace json = boost::json;

namespace {

constexpr std::pair<std::string_view, AggrMethod> kMethods[] = {
    {"totalCount", AggrMethod::kTotalCount}, {"distinctCount", AggrMethod::kDistinctCount},
    {"sum", AggrMethod::kSum},               {"avg", AggrMethod::kAvg},
    {"min", AggrMethod::kMin},               {"max", AggrMethod::kMax},
    {"stddev", AggrMethod::kStddev},         {"sumsq", AggrMethod::kSumsq},
};

constexpr int64_t kDayMs = 86'400'000;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t AddMonths(int64_t t_ms, int64_t months) {
  const int64_t days = FloorDiv(t_ms, kDayMs);
  const int64_t in_day = t_ms - days * kDayMs;
  const util::CivilDate date = util::CivilFromDays(days);
  const int64_t total = date.year * 12 + (date.month - 1) + months;
  const int64_t y = FloorDiv(total, 12);
  const int64_t m = total - y * 12 + 1;
  static constexpr int kLength[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  const int64_t last = kLength[m - 1] + (m == 2 && leap);
  const int64_t d = std::min<int64_t>(date.day, last);  // Jan 31 + P1M = Feb 28/29
  return util::DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) * kDayMs + in_day;
}

// A value as JSON: integral doubles as integers (3, not 3.0).
json::value Number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15) return static_cast<int64_t>(v);
  return v;
}

bool IsDeletion(const InstanceView& v) { return v.deleted_ms.has_value(); }

}  // namespace

Result<std::vector<AggrMethod>> ParseAggregationMethods(std::string_view list) {
  std::vector<AggrMethod> out;
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    auto it = std::find_if(std::begin(kMethods), std::end(kMethods), [&](const auto& m) { return m.first == item; });
    if (it == std::end(kMethods)) {
      return Status::BadRequestData(fmt::format(
          "parameter 'aggrMethods': unknown method '{}' (totalCount, distinctCount, sum, avg, min, max, stddev, sumsq)",
          item.substr(0, 64)));
    }
    if (std::find(out.begin(), out.end(), it->second) == out.end()) out.push_back(it->second);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

std::string_view AggregationMethodName(AggrMethod m) {
  for (const auto& [name, method] : kMethods) {
    if (method == m) return name;
  }
  return "?";
}

Result<IsoDuration> ParseIsoDuration(std::string_view text) {
  auto bad = [&] {
    return Status::BadRequestData(fmt::format(
        "parameter 'aggrPeriodDuration': '{}' is not an ISO 8601 duration such as P1D, PT15M or P1Y2M", text.substr(0, 64)));
  };
  if (text.size() < 2 || text[0] != 'P') return bad();
  IsoDuration d;
  bool in_time = false, any = false;
  char last_unit = 0;
  size_t i = 1;
  double ms = 0;
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (in_time) return bad();
      in_time = true;
      last_unit = 0;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i || j >= text.size() || j - i > 12) return bad();
    const std::string number(text.substr(i, j - i));
    const char unit = text[j];
    const bool fraction = number.find('.') != std::string::npos;
    char* end = nullptr;
    const double n = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) return bad();
    // Units in their order, each at most once; a fraction only on seconds.
    static constexpr std::string_view kDateUnits = "YMWD", kTimeUnits = "HMS";
    const std::string_view units = in_time ? kTimeUnits : kDateUnits;
    const size_t pos = units.find(unit);
    if (pos == std::string_view::npos || (last_unit && units.find(last_unit) >= pos)) return bad();
    if (fraction && !(in_time && unit == 'S')) return bad();
    last_unit = unit;
    any = true;
    if (!in_time) {
      if (unit == 'Y') d.months += static_cast<int64_t>(n) * 12;
      if (unit == 'M') d.months += static_cast<int64_t>(n);
      if (unit == 'W') ms += n * 7 * kDayMs;
      if (unit == 'D') ms += n * kDayMs;
    } else {
      if (unit == 'H') ms += n * 3'600'000;
      if (unit == 'M') ms += n * 60'000;
      if (unit == 'S') ms += n * 1000;
    }
    i = j + 1;
  }
  if (!any || (in_time && last_unit == 0)) return bad();
  if (d.months > 12'000 || ms > 1000.0 * 366 * kDayMs) return bad();
  d.ms = static_cast<int64_t>(std::llround(ms));
  return d;
}

int64_t AddDuration(int64_t t_ms, const IsoDuration& d, int64_t n) {
  if (d.months != 0) t_ms = AddMonths(t_ms, d.months * n);
  return t_ms + d.ms * n;
}

Aggregator::Aggregator(const AggregationRequest& request, int64_t origin_ms, std::optional<int64_t> range_end_ms)
    : request_(request), origin_(origin_ms), range_end_(range_end_ms) {
  want_distinct_ = std::find(request.methods.begin(), request.methods.end(), AggrMethod::kDistinctCount) !=
                   request.methods.end();
}

int64_t Aggregator::PeriodIndex(int64_t t) const {
  const IsoDuration& d = request_.period;
  if (d.IsZero()) return 0;
  if (d.months == 0) return FloorDiv(t - origin_, d.ms);
  // Calendar periods: estimate from the average month, then step to the right one.
  const double approx_ms = d.months * 30.436875 * kDayMs + static_cast<double>(d.ms);
  int64_t k = static_cast<int64_t>(std::floor(static_cast<double>(t - origin_) / approx_ms));
  while (AddDuration(origin_, d, k) > t) --k;
  while (AddDuration(origin_, d, k + 1) <= t) ++k;
  return k;
}

void Aggregator::Add(const InstanceView& v, int64_t time_ms) {
  if (time_ms < origin_ || IsDeletion(v)) return;
  newest_ = std::max(newest_.value_or(time_ms), time_ms);
  const int64_t index = PeriodIndex(time_ms);
  if (!last_period_ || index != last_index_) {
    last_period_ = &periods_[index];
    last_index_ = index;
  }
  Period& p = *last_period_;
  ++p.count;
  if (v.kind <= InstanceView::Kind::kFalse) {
    numeric_ = true;
    const double x = v.number;
    if (!p.min) p.shift = x;  // the first number of the period
    p.sum += x;
    p.sumsq += x * x;
    p.shifted_sum += x - p.shift;
    p.shifted_sumsq += (x - p.shift) * (x - p.shift);
    p.min = std::min(p.min.value_or(x), x);
    p.max = std::max(p.max.value_or(x), x);
    if (want_distinct_) p.distinct.insert(fmt::format("n{}", x));
  } else if (v.kind == InstanceView::Kind::kString) {
    textual_ = true;
    if (!p.min_text || v.text < *p.min_text) p.min_text = std::string(v.text);
    if (!p.max_text || v.text > *p.max_text) p.max_text = std::string(v.text);
    if (want_distinct_) p.distinct.insert("s" + std::string(v.text));
  } else {
    other_ = true;
    // Relationships, geometries, JSON: counted; distinct by their value member.
    if (want_distinct_ || type_ == "Property") {
      auto h = v.Materialize();
      if (h.ok()) {
        if (const json::value* t = h->instance.if_contains("type"); t && t->is_string()) type_ = t->get_string();
        if (want_distinct_) {
          json::object value = h->instance;
          for (const char* drop : {"observedAt", "unitCode", "datasetId", "instanceId"}) value.erase(drop);
          p.distinct.insert("j" + util::SerializeJson(value));
        }
      }
    }
  }
}

AggregatedAttribute Aggregator::Finish(const std::string& name) {
  AggregatedAttribute out;
  out.name = name;
  out.type = type_;
  const bool only_numbers = numeric_ && !textual_ && !other_;
  const bool only_text = textual_ && !numeric_ && !other_;
  for (AggrMethod m : request_.methods) {
    const bool applies = m == AggrMethod::kTotalCount || m == AggrMethod::kDistinctCount ||
                         ((m == AggrMethod::kMin || m == AggrMethod::kMax) && (only_numbers || only_text)) || only_numbers;
    if (!applies) continue;
    std::vector<AggregatedPeriod> rows;
    for (const auto& [k, p] : periods_) {
      AggregatedPeriod row;
      if (request_.period.IsZero()) {
        row.start_ms = origin_;
        row.end_ms = range_end_.value_or(newest_.value_or(origin_));
      } else {
        row.start_ms = AddDuration(origin_, request_.period, k);
        row.end_ms = AddDuration(origin_, request_.period, k + 1);
      }
      const double n = static_cast<double>(p.count);
      switch (m) {
        case AggrMethod::kTotalCount: row.value = p.count; break;
        case AggrMethod::kDistinctCount: row.value = p.distinct.size(); break;
        case AggrMethod::kSum: row.value = Number(p.sum); break;
        case AggrMethod::kAvg: row.value = Number(p.sum / n); break;
        case AggrMethod::kSumsq: row.value = Number(p.sumsq); break;
        case AggrMethod::kStddev: {
          const double variance =
              p.count > 1 ? std::max(0.0, (p.shifted_sumsq - p.shifted_sum * p.shifted_sum / n) / (n - 1)) : 0.0;
          row.value = Number(std::sqrt(variance));
          break;
        }
        case AggrMethod::kMin:
          row.value = only_text ? json::value(*p.min_text) : Number(*p.min);
          break;
        case AggrMethod::kMax:
          row.value = only_text ? json::value(*p.max_text) : Number(*p.max);
          break;
      }
      rows.push_back(std::move(row));
    }
    out.results.emplace_back(m, std::move(rows));
  }
  return out;
}

}  // namespace cityhub::broker
