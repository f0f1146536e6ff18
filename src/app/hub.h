// Hub: the running server — a stack of parts, each started when it is built and stopped when it
// is destroyed. Member order is the start order, and reverse destruction the stop order:
//
//   checks of the settings (listen address, outbound policy, authentication; nothing opened)
//   → Storage (store, @contexts) → BrokerStack (entity, query and temporal services,
//   subscriptions, registrations, federation, outbox and notifier) → CityServices (warning,
//   parking, mobility) → IotAgent (devices, ingestor, MQTT) → Housekeeping (periodic jobs)
//   → ApiServer (HTTP, last to start and first to stop).
//
// So the HTTP server stops accepting and drains before anything it uses goes; the IoT agent
// commits its queued measures while the services still watch the writes; the notifier stops
// after every writer, leaving what it did not deliver in the outbox; the store closes last,
// with every acknowledged write on disk. A part that fails to start leaves the ones before it
// to their destructors: there is no other cleanup path. The Hub owns every part; started, run
// and destroyed by one thread (the parts run their own).
#pragma once

#include <memory>

#include "api/metrics.h"
#include "app/config.h"
#include "app/outbound.h"
#include "app/security_setup.h"
#include "util/status.h"

namespace cityhub::app {

class ApiServer;
class BrokerStack;
class CityServices;
class Housekeeping;
class IotAgent;
class Storage;

class Hub {
 public:
  // Starts every part in order. On failure logs what failed, then stops what had started, so
  // nothing is left running or open (the data dir may be opened again at once); the Status,
  // made by SettingError or StartFailure, says what failed.
  static Result<std::unique_ptr<Hub>> Start(const Config& config);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Serves until SIGINT or SIGTERM, then drains the requests in flight. Call once; destroying
  // the Hub then stops the other parts.
  void Run();

 private:
  explicit Hub(const Config& config);
  // Builds the parts in member order; on failure the parts built so far stay for ~Hub to stop.
  Status StartParts();

  const Config config_;  // the parts keep references into this copy
  Outbound outbound_;
  SecuritySetup security_;
  api::Metrics metrics_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<BrokerStack> broker_;
  std::unique_ptr<CityServices> services_;
  std::unique_ptr<IotAgent> iot_;
  std::unique_ptr<Housekeeping> housekeeping_;
  std::unique_ptr<ApiServer> api_;
};

// Serves until a stop signal. Returns the process exit code: 0 after a clean shutdown, 2 when a
// setting is wrong, 1 when starting failed otherwise.
int Serve(const Config& config);

}  // namespace cityhub::app
