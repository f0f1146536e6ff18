// The demo city (issue 7): a small city modelled on Gimhae that a newcomer can watch come alive —
// river water-level bollards along the Haeban stream, an underpass flood sensor, vibration
// sensors, air-quality stations and three car parks with 200 parking-spot sensors. It
// provisions its devices and car parks on a running hub (HTTP), then publishes realistic
// series through MQTT to the hub's IoT agent, with a scripted flood (the river rises through the
// four warning stages and recedes), a single noisy vibration spike (which must raise nothing)
// and a scripted earthquake (four sensors within two seconds). Every few seconds it prints what
// is happening: measures sent, river level, alerts raised, free parking spaces.
// The script repeats every 180 simulated seconds. `cityhub simulate` runs it.
#pragma once

#include <string>

namespace cityhub::services {

struct DemoCityOptions {
  std::string hub_host = "127.0.0.1";
  unsigned short hub_port = 1026;
  std::string mqtt_host = "127.0.0.1";
  unsigned short mqtt_port = 1883;
  double speed = 1.0;        // simulated seconds per real second
  double duration_s = 0;     // real seconds to run (0: until interrupted)
  std::string api_key;       // an admin's API key when the hub requires credentials
};

// Runs the demo city; returns the process exit code (0 after duration_s, 1 if the hub or the
// broker cannot be reached).
int RunDemoCity(const DemoCityOptions& options);

}  // namespace cityhub::services
