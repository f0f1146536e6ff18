#include "services/parking/occupancy_forecast.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cityhub::services {
namespace {

constexpr size_t kSlotsPerDay = 24 * 4;
constexpr size_t kSlotsPerWeek = 7 * kSlotsPerDay;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

size_t SeasonLength(Seasonality s) { return s == Seasonality::kWeekly ? kSlotsPerWeek : kSlotsPerDay; }

size_t SlotOf(int64_t t_ms, size_t season) {
  const int64_t slot = t_ms >= 0 ? t_ms / kForecastStepMs : (t_ms - kForecastStepMs + 1) / kForecastStepMs;
  const auto m = static_cast<int64_t>(season);
  return static_cast<size_t>(((slot % m) + m) % m);
}

// Mean per slot of `season` over values[from, to); NaN where a slot has no data.
std::vector<double> MeanBySlot(const OccupancySeries& s, size_t from, size_t to, size_t season) {
  std::vector<double> sum(season, 0);
  std::vector<size_t> count(season, 0);
  for (size_t i = from; i < to; ++i) {
    if (std::isnan(s.values[i])) continue;
    const size_t k = SlotOf(s.start_ms + static_cast<int64_t>(i) * kForecastStepMs, season);
    sum[k] += s.values[i];
    ++count[k];
  }
  for (size_t k = 0; k < season; ++k) sum[k] = count[k] ? sum[k] / static_cast<double>(count[k]) : kNaN;
  return sum;
}

double Clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

}  // namespace

std::string_view SeasonalityName(Seasonality s) {
  switch (s) {
    case Seasonality::kWeekly: return "weekly";
    case Seasonality::kDaily: return "daily";
    case Seasonality::kNone: break;
  }
  return "none";
}

OccupancySeries Resample(std::vector<std::pair<int64_t, double>> period_averages, int64_t period_ms, int64_t start_ms,
                         size_t slots) {
  std::sort(period_averages.begin(), period_averages.end());
  OccupancySeries s;
  s.start_ms = start_ms;
  s.values.assign(slots, kNaN);
  period_ms = std::clamp<int64_t>(period_ms, 1, kForecastStepMs);  // a period within a slot
  const int64_t per_slot = kForecastStepMs / period_ms;
  const size_t periods = slots * static_cast<size_t>(per_slot);
  std::vector<double> level(periods, kNaN);
  for (const auto& [t, v] : period_averages) {
    if (t < start_ms || !std::isfinite(v)) continue;
    const auto i = static_cast<size_t>((t - start_ms) / period_ms);
    if (i < periods) level[i] = Clamp01(v);
  }
  for (size_t i = 1; i < periods; ++i) {
    if (std::isnan(level[i])) level[i] = level[i - 1];
  }
  for (size_t slot = 0; slot < slots; ++slot) {
    double sum = 0;
    int count = 0;
    for (size_t i = slot * static_cast<size_t>(per_slot); i < (slot + 1) * static_cast<size_t>(per_slot); ++i) {
      if (std::isnan(level[i])) continue;
      sum += level[i];
      ++count;
    }
    if (count > 0) s.values[slot] = sum / count;
  }
  return s;
}

double OccupancyModel::ProfileAt(int64_t slot_start_ms) const {
  if (profile.empty()) return kNaN;
  return profile[SlotOf(slot_start_ms, profile.size())];
}

double OccupancyModel::Predict(int64_t origin_ms, double now, int steps) const {
  if (profile.empty()) return Clamp01(now);
  const double base = ProfileAt(origin_ms);
  const double target = ProfileAt(origin_ms + steps * kForecastStepMs);
  return Clamp01(target + std::pow(phi, steps) * (now - base));
}

OccupancyModel Fit(const OccupancySeries& s, std::optional<size_t> end) {
  OccupancyModel m;
  const size_t n = std::min(end.value_or(s.values.size()), s.values.size());
  size_t first = 0;
  while (first < n && std::isnan(s.values[first])) ++first;
  if (first >= n) return m;
  const size_t span = n - first;
  m.history_slots = span;
  m.seasonality = span >= 2 * kSlotsPerWeek ? Seasonality::kWeekly
                  : span >= 2 * kSlotsPerDay ? Seasonality::kDaily
                                             : Seasonality::kNone;
  if (m.seasonality == Seasonality::kNone) return m;  // no usual curve yet: persistence
  const size_t season = SeasonLength(m.seasonality);
  const size_t window = m.seasonality == Seasonality::kWeekly ? 4 * kSlotsPerWeek : 7 * kSlotsPerDay;
  const size_t from = n - std::min(window, span);
  m.profile = MeanBySlot(s, from, n, season);
  // Slots of the week never seen fall back to the same time of day, then to the overall mean.
  const std::vector<double> daily = MeanBySlot(s, from, n, kSlotsPerDay);
  const double overall = MeanBySlot(s, from, n, 1).front();
  for (size_t k = 0; k < season; ++k) {
    if (!std::isnan(m.profile[k])) continue;
    const double d = daily[k % kSlotsPerDay];
    m.profile[k] = std::isnan(d) ? overall : d;
  }
  // φ: lag-one autocorrelation of the residuals.
  double num = 0, den = 0;
  for (size_t i = from + 1; i < n; ++i) {
    const int64_t t = s.start_ms + static_cast<int64_t>(i) * kForecastStepMs;
    const double r = s.values[i] - m.ProfileAt(t);
    const double r_prev = s.values[i - 1] - m.ProfileAt(t - kForecastStepMs);
    num += r * r_prev;
    den += r_prev * r_prev;
  }
  m.phi = den > 0 ? std::clamp(num / den, 0.0, 0.999) : 0;
  return m;
}

BacktestResult Backtest(const OccupancySeries& s) {
  BacktestResult out;
  const size_t n = s.values.size();
  size_t first = 0;
  while (first < n && std::isnan(s.values[first])) ++first;
  if (first >= n || n - first < 2 * kSlotsPerDay) return out;
  const size_t test = std::min(7 * kSlotsPerDay, (n - first) / 3);
  const size_t test_start = n - test;  // ≥ first + 128 slots: every origin below (j − 4) has data
  const OccupancyModel m = Fit(s, test_start);
  if (m.seasonality == Seasonality::kNone) return out;  // under two days before the test window
  double model = 0, persistence = 0, profile = 0;
  for (size_t j = test_start; j < n; ++j) {
    const size_t origin = j - kForecastHorizonSteps;
    const double now = s.values[origin], actual = s.values[j];
    const int64_t origin_ms = s.start_ms + static_cast<int64_t>(origin) * kForecastStepMs;
    model += std::abs(m.Predict(origin_ms, now, kForecastHorizonSteps) - actual);
    persistence += std::abs(now - actual);
    profile += std::abs(m.ProfileAt(origin_ms + kForecastHorizonSteps * kForecastStepMs) - actual);
    ++out.points;
  }
  const auto k = static_cast<double>(out.points);
  out.mae = model / k;
  out.persistence_mae = persistence / k;
  out.profile_mae = profile / k;
  return out;
}

}  // namespace cityhub::services
