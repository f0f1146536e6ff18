// Next-hour occupancy forecast of a parking site from its history (issue 7), pure logic: a
// series of occupancy fractions in, a forecast and its measured error out.
//
// Model (seasonal profile + AR(1) residual, fitted per site):
//   - The history is resampled to 15-minute slots, time-weighted at one-minute resolution: the
//     average of each minute's instances, a minute without instances keeping the previous
//     minute's value (occupancy is a level that holds until it changes), a slot the mean of
//     its minutes. So a burst of instances (a car park's spots being provisioned) weighs what
//     its minute weighs, not what its count does.
//   - Profile P(slot): the mean occupancy at the same slot of the week over the last four weeks
//     when at least two weeks of history exist ("weekly"), else at the same slot of the day over
//     the last seven days when at least two days exist ("daily"); slots of the season without
//     data take the daily, then the overall mean. With less history there is no usual curve
//     ("none"): the forecast is the current occupancy.
//   - The departure from the profile decays geometrically: φ is the lag-one autocorrelation of
//     the residuals (value − profile), clipped to [0, 0.999]:
//         forecast(t0 + h) = P(t0 + h) + φ^h · (value(t0) − P(t0)), clamped to [0, 1].
//     So a car park fuller than usual now is forecast fuller than usual for a while, returning
//     to its usual curve.
// Measured error (Backtest): the model is fitted on the history before the last seven days (or
// before the last third of a shorter history) and forecasts every slot of that test window from
// one hour earlier; the mean absolute error is reported beside two baselines measured on the
// same points — persistence (the value an hour earlier) and the profile alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace cityhub::services {

constexpr int64_t kForecastStepMs = 15 * 60 * 1000;
constexpr int kForecastHorizonSteps = 4;  // one hour

// Occupancy per slot: values[i] is slot [start_ms + i·step, start_ms + (i+1)·step); NaN before
// the first data.
struct OccupancySeries {
  int64_t start_ms = 0;  // a multiple of kForecastStepMs
  std::vector<double> values;
};

// Resamples (period start, average occupancy) pairs of periods of `period_ms` (any order; as an
// aggregation with that period aligned on `start_ms` yields them; kForecastStepMs must be a
// multiple of period_ms) into `slots` slots from `start_ms`: each period without data takes
// the previous one's value, each slot is the mean of its periods from the first data on.
OccupancySeries Resample(std::vector<std::pair<int64_t, double>> period_averages, int64_t period_ms, int64_t start_ms,
                         size_t slots);

enum class Seasonality { kNone, kDaily, kWeekly };
std::string_view SeasonalityName(Seasonality s);

struct OccupancyModel {
  Seasonality seasonality = Seasonality::kNone;
  std::vector<double> profile;  // per slot of the season (empty for kNone: persistence)
  double phi = 0;
  size_t history_slots = 0;     // slots with data the model was fitted on

  double ProfileAt(int64_t slot_start_ms) const;
  // The occupancy forecast `steps` slots after a slot starting at `origin_ms` whose value is `now`.
  double Predict(int64_t origin_ms, double now, int steps) const;
};

// Fits on the series' first `end` slots (all when nullopt).
OccupancyModel Fit(const OccupancySeries& s, std::optional<size_t> end = std::nullopt);

struct BacktestResult {
  size_t points = 0;             // forecasts scored (0: not enough history; the errors are unset)
  double mae = 0;                // mean absolute error of the model (occupancy fraction)
  double persistence_mae = 0;    // … of "as an hour ago"
  double profile_mae = 0;        // … of the profile alone
};

// The one-hour-ahead error over the test window (see the top of this file) of the model fitted
// on the history before it — which may be a daily one where the whole history is weekly. Needs
// at least two days of data before the test window (three days in all).
BacktestResult Backtest(const OccupancySeries& s);

}  // namespace cityhub::services
