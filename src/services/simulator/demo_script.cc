#include "services/simulator/demo_script.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "util/time.h"

namespace cityhub::services {
namespace {

constexpr double kRiverRest = 1.0;
constexpr double kRiverPeaks[] = {5.5, 4.5, 3.5, 2.5, 1.5};
constexpr double kUnderpassPeak = 0.40;

// How far the flood has come at `phase` seconds into the cycle: 0 … 1 (peak at 80 s) … 0.
double FloodAt(int phase) {
  if (phase < 20 || phase > 140) return 0;
  return phase < 80 ? (phase - 20) / 60.0 : (140 - phase) / 60.0;
}

std::string DemoKey(const std::string& device) { return fmt::format("demo-{}-key-0123456789", device); }

}  // namespace

DemoCity MakeDemoCity() {
  DemoCity c;
  for (int i = 0; i < 5; ++i) c.rivers.push_back({fmt::format("haeban-{}", i), "WaterLevelSensor", "", 128.870 + i * 0.004, 35.226 + i * 0.002, ""});
  c.underpass = {"underpass-1", "UnderpassFloodSensor", "", 128.8815, 35.2290, ""};
  for (int i = 0; i < 6; ++i) c.vibrations.push_back({fmt::format("vibration-{}", i), "VibrationSensor", "", 128.86 + i * 0.01, 35.22 + (i % 3) * 0.01, ""});
  for (int i = 0; i < 3; ++i) c.airs.push_back({fmt::format("air-{}", i), "AirQualityObserved", "", 128.875 + i * 0.01, 35.231, ""});
  c.sites = {{"urn:ngsi-ld:OffStreetParking:gimhae:city-hall", "Gimhae City Hall", 128.8893, 35.2285, 80},
             {"urn:ngsi-ld:OffStreetParking:gimhae:station", "Gimhae station", 128.8810, 35.2361, 70},
             {"urn:ngsi-ld:OffStreetParking:gimhae:market", "Dongsang market", 128.8830, 35.2335, 50}};
  for (const auto& s : c.sites) {
    for (int i = 0; i < s.spots; ++i) {
      c.spots.push_back({fmt::format("{}-{}", s.id.substr(s.id.rfind(':') + 1), i), "ParkingSpot", "",
                         s.lon + (i % 10) * 0.00005, s.lat + (i / 10) * 0.00005, s.id});
    }
  }
  c.underpass.key = DemoKey(c.underpass.id);
  for (auto* group : {&c.rivers, &c.vibrations, &c.airs, &c.spots}) {
    for (auto& d : *group) d.key = DemoKey(d.id);
  }
  return c;
}

DemoScript::DemoScript(const DemoCity& city, int64_t start_ms, uint32_t seed)
    : city_(city), start_ms_(start_ms), rng_(seed), occupied_(city.spots.size()) {}

std::string DemoScript::Stamped(int t, const std::string& ul) const {
  return util::FormatDateTime(start_ms_ + int64_t{t} * 1000) + "|" + ul;
}

std::vector<DemoMessage> DemoScript::Start() {
  std::vector<DemoMessage> out;
  for (size_t i = 0; i < city_.spots.size(); ++i) {
    occupied_[i] = rng_() % 100 < 60;
    out.push_back({&city_.spots[i], Stamped(0, occupied_[i] ? "s|occupied" : "s|free")});
  }
  return out;
}

std::vector<DemoMessage> DemoScript::Step(int t) {
  std::vector<DemoMessage> out;
  const int phase = t % kDemoCycleSeconds;
  const double flood = FloodAt(phase);
  river_max_ = 0;
  for (size_t i = 0; i < city_.rivers.size(); ++i) {
    const double level = kRiverRest + 0.1 * std::sin(t / 20.0 + static_cast<double>(i)) + 0.02 * noise_(rng_) +
                         flood * (kRiverPeaks[i % 5] - kRiverRest);
    river_max_ = std::max(river_max_, level);
    out.push_back({&city_.rivers[i], Stamped(t, fmt::format("l|{:.3f}", level))});
  }
  const double depth = std::max(0.0, flood * (kUnderpassPeak + 0.05) - 0.05 + 0.002 * noise_(rng_));
  out.push_back({&city_.underpass, Stamped(t, fmt::format("d|{:.3f}", depth))});
  for (size_t i = 0; i < city_.vibrations.size(); ++i) {
    double g = std::abs(0.01 + 0.003 * noise_(rng_));
    if (phase == 10 && i == 5) g = 0.45;                          // one noisy sensor: no alert
    if ((phase == 90 || phase == 91) && i < 4) g = 0.3 + 0.1 * static_cast<double>(i);  // the earthquake
    out.push_back({&city_.vibrations[i], Stamped(t, fmt::format("a|{:.4f}", g))});
  }
  for (size_t i = 0; i < city_.airs.size() && i < 3; ++i) {
    air_[i] = std::clamp(air_[i] + noise_(rng_), 5.0, 120.0);
    out.push_back({&city_.airs[i], Stamped(t, fmt::format("no2|{:.1f}|pm10|{:.1f}|pm25|{:.1f}", air_[i] * 0.8, air_[i], air_[i] * 0.6)), 3});
  }
  for (int k = 0; k < 5 && !city_.spots.empty(); ++k) {  // cars come and go
    const size_t i = rng_() % city_.spots.size();
    occupied_[i] = !occupied_[i];
    out.push_back({&city_.spots[i], Stamped(t, occupied_[i] ? "s|occupied" : "s|free")});
  }
  return out;
}

std::map<std::string, int> DemoScript::FreeSpots() const {
  std::map<std::string, int> free;
  for (const auto& s : city_.sites) free[s.id] = 0;
  for (size_t i = 0; i < city_.spots.size(); ++i) {
    if (!occupied_[i]) ++free[city_.spots[i].site];
  }
  return free;
}

std::map<std::string, std::vector<std::string>> DemoScript::ExpectedStages() {
  const std::vector<std::string> serious = {"interest", "caution", "alert", "serious", "alert", "caution", "interest", "cleared"};
  return {{"haeban-0", serious},
          {"haeban-1", {"interest", "caution", "alert", "caution", "interest", "cleared"}},
          {"haeban-2", {"interest", "caution", "interest", "cleared"}},
          {"haeban-3", {"interest", "cleared"}},
          {"underpass-1", serious},
          {"earthquake", {"serious", "cleared"}}};
}

}  // namespace cityhub::services
