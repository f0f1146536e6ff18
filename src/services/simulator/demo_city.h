// The demo city (issue 7): a small city modelled on Gimhae that a newcomer can watch come alive.
// It provisions the city's devices and car parks (demo_script.h) on a running hub (HTTP), then
// publishes the script's measures through MQTT (QoS 1) to the hub's IoT agent: a flood (the
// bollards reaching different warning stages, the underpass all four), a single noisy
// vibration spike (which must raise nothing), an earthquake felt by four sensors, cars coming
// and going. Every 5 simulated seconds it
// prints what the hub says: measures sent, river level, active alerts, free parking spaces; at
// the end, what it published and the free spots per car park by its own count.
// `cityhub simulate` runs it.
#pragma once

#include <string>

namespace cityhub::services {

struct DemoCityOptions {
  std::string hub_host = "127.0.0.1";
  unsigned short hub_port = 1026;
  std::string mqtt_host = "127.0.0.1";
  unsigned short mqtt_port = 1883;
  double speed = 1.0;        // simulated seconds per real second
  double duration_s = 0;     // real seconds to run (0: until interrupted or the cycles are done)
  int cycles = 0;            // script cycles to run (0: no limit)
  int64_t start_ms = 0;      // the simulated time of second 0 (0: now)
  std::string api_key;       // an admin's API key when the hub requires credentials
};

// Runs the demo city; returns the process exit code: 0 when done (duration, cycles or a signal)
// with every message delivered to the broker, 1 if the hub or the broker cannot be reached or a
// message was lost.
int RunDemoCity(const DemoCityOptions& options);

}  // namespace cityhub::services
