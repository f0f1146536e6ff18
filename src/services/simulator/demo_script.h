// DemoScript: what the demo city's devices say, second by second (issue 7) — pure logic without
// I/O, so that the scenario is unit-testable and its outcome exact: the same seed gives the same
// measures, and the warnings they must raise are known in advance.
//
// The city (MakeDemoCity): five water-level bollards along the Haeban stream, one underpass flood
// sensor, six vibration sensors, three air-quality stations and three car parks with 200
// ParkingSpot sensors, modelled on Gimhae.
//
// The script, one cycle of 180 simulated seconds, repeated:
//   10 s      one vibration sensor (vibration-5) jolts alone: noise, no earthquake alert;
//   20–140 s  a flood: the river rises to its peak at 80 s and recedes. The bollards peak at
//             5.5, 4.5, 3.5, 2.5 and 1.5 m, i.e. each a different stage under the default rules
//             (serious, alert, caution, interest, none) with margins far above the noise; the
//             underpass fills to 0.40 m (serious) and drains;
//   90–91 s   an earthquake: vibration-0 … vibration-3 feel 0.3–0.6 g (confirmed by ≥ 3 sensors);
//   151 s     sixty seconds without ground motion: the earthquake alert clears;
//   every s   five cars arrive at or leave random parking spots; the air drifts.
// Every measure carries its simulated time (UL 2.0 leading timestamp), so the hub's rules judge
// the scenario by the script's clock, not by delivery timing — the outcome is the same at any
// speed. Under the default rules one cycle from a fresh hub raises exactly ExpectedStages().
// (From the second cycle on, the rate-of-rise rule also sees the rises and warns earlier.)
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace cityhub::services {

struct DemoDevice {
  std::string id;    // device id (also the last part of its entity id)
  std::string type;  // entity type
  std::string key;   // its credential
  double lon = 0, lat = 0;
  std::string site;  // ParkingSpot: its car park's entity id
};

struct DemoSite {
  std::string id, name;
  double lon = 0, lat = 0;
  int spots = 0;
};

struct DemoCity {
  std::vector<DemoDevice> rivers, vibrations, airs, spots;
  DemoDevice underpass;
  std::vector<DemoSite> sites;
};
DemoCity MakeDemoCity();

constexpr int kDemoCycleSeconds = 180;

// One MQTT message of a device: an UltraLight 2.0 payload.
struct DemoMessage {
  const DemoDevice* device;
  std::string payload;
  int measures = 1;
};

class DemoScript {
 public:
  // `start_ms`: the simulated time of second 0.
  DemoScript(const DemoCity& city, int64_t start_ms, uint32_t seed = 2026);
  DemoScript(DemoCity&&, int64_t, uint32_t = 2026) = delete;  // keeps a reference: the city must outlive it

  // Every spot's initial state (about 60 % occupied).
  std::vector<DemoMessage> Start();
  // The messages of simulated second `t` (0, 1, 2, …; call in order).
  std::vector<DemoMessage> Step(int t);

  // The highest river level of the last step (m), and free spots per site now.
  double RiverMax() const { return river_max_; }
  std::map<std::string, int> FreeSpots() const;

  // The alert stages one cycle raises from a fresh hub under the default rules: sensor id →
  // its alert's warningStage values in order ("cleared" last); "earthquake" → the quake's.
  static std::map<std::string, std::vector<std::string>> ExpectedStages();

 private:
  std::string Stamped(int t, const std::string& ul) const;

  const DemoCity& city_;
  int64_t start_ms_;
  std::mt19937 rng_;
  std::normal_distribution<double> noise_{0, 1};
  std::vector<bool> occupied_;
  double air_[3] = {30, 28, 35};
  double river_max_ = 0;
};

}  // namespace cityhub::services
