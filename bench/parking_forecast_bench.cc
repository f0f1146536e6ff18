// parking_forecast_bench: the measured error of the next-hour parking occupancy forecast
// (services/parking/occupancy_forecast.h, issue 7; docs/PERFORMANCE.md).
//
// No public occupancy history of Korean car parks is at hand, so the series are simulated, and
// made hard on purpose: three kinds of car park (a commuter car park by the city hall, a station
// car park with a morning rush, a market car park busy in the afternoons and at weekends), each
// for eight weeks at 15-minute resolution, with
//   - a day-to-day level that varies (±8 %: weather, school holidays),
//   - departures from the usual curve that decay over hours (events, traffic),
//   - occasional events (a festival or a match: +30 points for four hours, 1 day in 14),
//   - one public holiday on a weekday (a weekday that behaves like a Sunday),
//   - counts of whole spots (the occupancy of N spots moves in steps of 1/N).
// For each series and seed it runs the backtest the hub's forecast endpoint reports (fit on the
// history before the last week, forecast each slot of the last week from one hour earlier) and
// prints the mean absolute error of the model and of the two baselines on the same points.
//
//   build/release/bench/parking_forecast_bench [--seeds 20]
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "services/parking/occupancy_forecast.h"

namespace {

using cityhub::services::Backtest;
using cityhub::services::BacktestResult;
using cityhub::services::kForecastStepMs;
using cityhub::services::OccupancySeries;

constexpr int64_t kDay = 24LL * 3600 * 1000;
constexpr int64_t kStart = 1'767'225'600'000LL + 4 * kDay;  // Monday 2026-01-05 00:00 UTC
constexpr double kKst = 9;                                  // curves are drawn in Korean local time

double Bump(double hour, double centre, double width) { return std::exp(-std::pow((hour - centre) / width, 2)); }

struct Kind {
  const char* name;
  int spots;
  double (*weekday)(double hour);
  double (*weekend)(double hour);
};

const Kind kKinds[] = {
    {"city hall (commuters)", 80, [](double h) { return 0.08 + 0.82 * (h > 8 && h < 18.5 ? std::pow(std::sin(M_PI * (h - 8) / 10.5), 0.3) : 0); },
     [](double h) { return 0.05 + 0.15 * Bump(h, 12, 3); }},
    {"station (morning rush)", 70, [](double h) { return 0.15 + 0.75 * (h > 6.5 && h < 20 ? std::min(1.0, (h - 6.5) / 2) * (h < 18 ? 1 : (20 - h) / 2) : 0); },
     [](double h) { return 0.1 + 0.4 * Bump(h, 14, 4); }},
    {"market (afternoons, weekends)", 50, [](double h) { return 0.1 + 0.55 * Bump(h, 15, 3) + 0.15 * Bump(h, 19, 1.5); },
     [](double h) { return 0.15 + 0.8 * Bump(h, 14, 3.5); }},
};

OccupancySeries Simulate(const Kind& kind, unsigned seed, size_t days) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> daily(1, 0.08), shock(0, 0.025);
  std::uniform_real_distribution<double> uniform(0, 1);
  OccupancySeries s;
  s.start_ms = kStart;
  const size_t holiday = 7 * 3 + 2 + rng() % 3;  // a weekday of the fourth week
  double level = 1, departure = 0;
  int64_t event_until = -1;
  double event_size = 0;
  for (size_t i = 0; i < days * 96; ++i) {
    const int64_t t = kStart + static_cast<int64_t>(i) * kForecastStepMs;
    const size_t day = i / 96;
    const double hour = std::fmod(static_cast<double>(t % kDay) / 3.6e6 + kKst, 24.0);
    if (i % 96 == 0) {
      level = daily(rng);
      if (uniform(rng) < 1.0 / 14) {  // an event today, starting between 10:00 and 18:00
        event_until = t + static_cast<int64_t>((10 + 8 * uniform(rng) + 4) * 3.6e6);
        event_size = 0.3;
      }
    }
    const bool weekend = day % 7 >= 5 || day == holiday;
    double v = level * (weekend ? kind.weekend(hour) : kind.weekday(hour));
    departure = 0.95 * departure + shock(rng);
    v += departure;
    if (t < event_until && t >= event_until - static_cast<int64_t>(4 * 3.6e6)) v += event_size;
    v = std::clamp(v, 0.0, 1.0);
    s.values.push_back(std::round(v * kind.spots) / kind.spots);  // whole spots
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"next-hour parking occupancy forecast: measured error on simulated car parks"};
  unsigned seeds = 20;
  app.add_option("--seeds", seeds, "series per kind of car park")->check(CLI::Range(1u, 1000u));
  CLI11_PARSE(app, argc, argv);
  std::printf("eight weeks per series, 15-minute slots; error of the one-hour-ahead forecast over the last week\n");
  std::printf("%-32s %7s %14s %14s %14s %12s\n", "car park", "series", "model MAE", "persistence", "profile only",
              "model spots");
  double all_model = 0, all_persistence = 0, all_profile = 0;
  for (const Kind& kind : kKinds) {
    double model = 0, persistence = 0, profile = 0;
    for (unsigned seed = 1; seed <= seeds; ++seed) {
      const BacktestResult b = Backtest(Simulate(kind, seed * 7919 + static_cast<unsigned>(kind.spots), 56));
      model += b.mae;
      persistence += b.persistence_mae;
      profile += b.profile_mae;
    }
    model /= seeds;
    persistence /= seeds;
    profile /= seeds;
    all_model += model / 3;
    all_persistence += persistence / 3;
    all_profile += profile / 3;
    std::printf("%-32s %7u %13.1f%% %13.1f%% %13.1f%% %12.1f\n", kind.name, seeds, 100 * model, 100 * persistence,
                100 * profile, model * kind.spots);
  }
  std::printf("%-32s %7u %13.1f%% %13.1f%% %13.1f%%\n", "all", seeds * 3, 100 * all_model, 100 * all_persistence,
              100 * all_profile);
  std::printf("(MAE in occupancy percentage points; \"model spots\": the model's error in spots)\n");
  return 0;
}
