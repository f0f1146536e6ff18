// IotAgent: the IoT agent inside the hub — the provisioned devices, the ingestor that writes
// their measures through the broker in batched transactions, and the MQTT subscription that
// feeds it (--mqtt; measures also arrive over the API's /iot routes). Measures that feed an
// early-warning rule take the ingestor's priority lane. The destructor
// disconnects from MQTT first, then lets the ingestor commit what is queued, so no accepted
// measure is lost. Borrows the BrokerStack and the Storage, which must outlive it.
#pragma once

#include <memory>

#include "api/api.h"
#include "app/broker_stack.h"
#include "app/config.h"
#include "app/storage.h"
#include "ingest/ingestor.h"
#include "ingest/mqtt_ingest.h"
#include "ingest/registry.h"
#include "services/warning/warning_service.h"
#include "util/status.h"

namespace cityhub::app {

class IotAgent {
 public:
  // Loads the devices and connects to --mqtt if given; StartFailure naming what failed
  // otherwise, with nothing left running.
  // `warning` (which must outlive it) tells which measures are urgent; `metrics` times the lanes.
  static Result<std::unique_ptr<IotAgent>> Start(const Config& config, Storage& storage, BrokerStack& broker,
                                                 const services::WarningService& warning, api::Metrics& metrics);
  IotAgent(const IotAgent&) = delete;
  IotAgent& operator=(const IotAgent&) = delete;

  // Points `deps` at the devices and the ingestor (they live as long as this).
  void Lend(api::ApiDeps* deps);

 private:
  IotAgent(const Config& config, Storage& storage, BrokerStack& broker, const services::WarningService& warning,
           api::Metrics& metrics);

  ingest::DeviceRegistry devices_;
  ingest::Ingestor ingestor_;
  std::unique_ptr<ingest::MqttIngest> mqtt_;  // null without --mqtt
};

}  // namespace cityhub::app
