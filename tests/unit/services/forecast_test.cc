// Tests for services/parking/occupancy_forecast: resampling with carry-forward, the choice of
// seasonality by history length, an exactly periodic week forecast without error, a departure
// from the usual curve that persists (φ fitted from the residuals) beating both baselines, and
// the backtest's refusal to score a history under two days.
#include "services/parking/occupancy_forecast.h"

#include <cmath>
#include <functional>
#include <random>

#include <gtest/gtest.h>

namespace cityhub::services {
namespace {

constexpr int64_t kDay = 24LL * 3600 * 1000;
constexpr int64_t kStart = 1'780'000'000'000LL - 1'780'000'000'000LL % kForecastStepMs;  // a slot boundary in 2026

// A weekday / weekend curve: busy 9:00–18:00 on weekdays, a midday bump at weekends.
double Usual(int64_t t_ms) {
  const double hour = static_cast<double>(t_ms % kDay) / 3'600'000.0;
  const int64_t day = t_ms / kDay;  // 1970-01-01 was a Thursday: days 2 and 3 of each week are Sat/Sun
  const bool weekend = day % 7 == 2 || day % 7 == 3;
  if (weekend) return 0.2 + 0.5 * std::exp(-std::pow((hour - 13) / 3, 2));
  return hour < 8 || hour > 19 ? 0.1 : 0.1 + 0.8 * std::sin(M_PI * (hour - 8) / 11);
}

OccupancySeries Series(size_t days, const std::function<double(int64_t, size_t)>& value) {
  OccupancySeries s;
  s.start_ms = kStart;
  for (size_t i = 0; i < days * 96; ++i) s.values.push_back(value(kStart + static_cast<int64_t>(i) * kForecastStepMs, i));
  return s;
}

TEST(OccupancyForecast, ResampleAveragesSlotsAndCarriesValuesForward) {
  constexpr int64_t kSlot = kForecastStepMs;
  const auto s = Resample({{kStart + 2 * kSlot, 0.5}, {kStart, 0.25}, {kStart + 5 * kSlot, 1.5}}, kSlot, kStart, 7);
  ASSERT_EQ(s.values.size(), 7u);
  EXPECT_DOUBLE_EQ(s.values[0], 0.25);
  EXPECT_DOUBLE_EQ(s.values[1], 0.25);  // carried forward
  EXPECT_DOUBLE_EQ(s.values[2], 0.5);
  EXPECT_DOUBLE_EQ(s.values[4], 0.5);
  EXPECT_DOUBLE_EQ(s.values[5], 1.0);  // clamped: an occupancy is a fraction
  EXPECT_DOUBLE_EQ(s.values[6], 1.0);
  const auto late = Resample({{kStart + 3 * kSlot, 0.4}}, kSlot, kStart, 5);
  EXPECT_TRUE(std::isnan(late.values[0]) && std::isnan(late.values[2]));  // nothing before the first data
  EXPECT_DOUBLE_EQ(late.values[4], 0.4);
}

TEST(OccupancyForecast, ResampleWeighsTimeNotInstanceCounts) {
  constexpr int64_t kMinute = 60'000;
  // Slot 0: empty (0) for its first minute — a burst of provisioning at one minute — then 0.8
  // from minute 1 to the end. Slot 1: 0.8 held, until 0.2 at its last three minutes.
  std::vector<std::pair<int64_t, double>> minutes{{kStart, 0.0}, {kStart + kMinute, 0.8},
                                                  {kStart + 27 * kMinute, 0.2}};
  const auto s = Resample(minutes, kMinute, kStart, 3);
  EXPECT_NEAR(s.values[0], 0.8 * 14 / 15, 1e-12);
  EXPECT_NEAR(s.values[1], (0.8 * 12 + 0.2 * 3) / 15, 1e-12);
  EXPECT_DOUBLE_EQ(s.values[2], 0.2);
  // The first data in the middle of a slot: the slot is the mean of its minutes from there on.
  const auto mid = Resample({{kStart + 10 * kMinute, 0.6}}, kMinute, kStart, 2);
  EXPECT_DOUBLE_EQ(mid.values[0], 0.6);
}

TEST(OccupancyForecast, SeasonalityFollowsTheLengthOfHistory) {
  auto usual = [](int64_t t, size_t) { return Usual(t); };
  EXPECT_EQ(Fit(Series(1, usual)).seasonality, Seasonality::kNone);
  EXPECT_EQ(Fit(Series(3, usual)).seasonality, Seasonality::kDaily);
  EXPECT_EQ(Fit(Series(15, usual)).seasonality, Seasonality::kWeekly);
  EXPECT_EQ(Fit(Series(15, usual), 5 * 96).seasonality, Seasonality::kDaily);  // fitted on the first five days
  EXPECT_TRUE(Fit(OccupancySeries{kStart, {NAN, NAN}}).profile.empty());
}

TEST(OccupancyForecast, AnExactlyWeeklyPatternIsForecastWithoutError) {
  const auto s = Series(28, [](int64_t t, size_t) { return Usual(t); });
  const OccupancyModel m = Fit(s);
  ASSERT_EQ(m.seasonality, Seasonality::kWeekly);
  const int64_t week_after = kStart + 28 * kDay;
  for (int64_t t = week_after; t < week_after + 7 * kDay; t += 7 * kForecastStepMs) {
    EXPECT_NEAR(m.Predict(t, Usual(t), 4), Usual(t + 4 * kForecastStepMs), 1e-9);
  }
  const BacktestResult b = Backtest(s);
  EXPECT_EQ(b.points, 7u * 96);
  EXPECT_LT(b.mae, 1e-9);
  EXPECT_GT(b.persistence_mae, 0.02);  // the curve moves within an hour: "as an hour ago" is wrong
}

TEST(OccupancyForecast, APersistentDepartureIsCarriedAndBeatsBothBaselines) {
  // The usual curve plus a departure that decays by 0.9 per slot (events, weather), plus noise.
  std::mt19937 rng(7);
  std::normal_distribution<double> shock(0, 0.04), noise(0, 0.01);
  double departure = 0;
  const auto s = Series(35, [&](int64_t t, size_t) {
    departure = 0.9 * departure + shock(rng);
    return std::clamp(Usual(t) + departure + noise(rng), 0.0, 1.0);
  });
  const OccupancyModel m = Fit(s);
  EXPECT_GT(m.phi, 0.75);
  EXPECT_LT(m.phi, 0.97);
  const BacktestResult b = Backtest(s);
  EXPECT_EQ(b.points, 7u * 96);
  EXPECT_LT(b.mae, b.persistence_mae);
  EXPECT_LT(b.mae, b.profile_mae);
  // A site fuller than usual now is forecast fuller than usual an hour later, but less so.
  const int64_t t = kStart + 35 * kDay + 10 * 3'600'000;
  const double ahead = m.Predict(t, m.ProfileAt(t) + 0.2, 4) - m.ProfileAt(t + 4 * kForecastStepMs);
  EXPECT_GT(ahead, 0.0);
  EXPECT_LT(ahead, 0.2);
}

TEST(OccupancyForecast, WithoutAUsualCurveTheForecastIsTheCurrentOccupancy) {
  const OccupancyModel m = Fit(Series(1, [](int64_t t, size_t) { return Usual(t); }));
  EXPECT_EQ(m.seasonality, Seasonality::kNone);
  EXPECT_DOUBLE_EQ(m.Predict(kStart + kDay, 0.37, 4), 0.37);
}

TEST(OccupancyForecast, ForecastsStayFractionsAndShortHistoriesAreNotScored) {
  const auto s = Series(3, [](int64_t t, size_t) { return Usual(t); });
  const OccupancyModel m = Fit(s);
  EXPECT_DOUBLE_EQ(m.Predict(kStart, 5.0, 4), 1.0);
  EXPECT_DOUBLE_EQ(m.Predict(kStart, -5.0, 4), 0.0);
  EXPECT_EQ(Backtest(Series(1, [](int64_t t, size_t) { return Usual(t); })).points, 0u);
  const BacktestResult three_days = Backtest(s);
  EXPECT_EQ(three_days.points, 96u);  // the last third of the history
  // Two and a half days: under two days before the test window, no usual curve to score.
  OccupancySeries shorter = s;
  shorter.values.resize(240);
  EXPECT_EQ(Backtest(shorter).points, 0u);
  EXPECT_EQ(Backtest(OccupancySeries{}).points, 0u);
}

}  // namespace
}  // namespace cityhub::services
