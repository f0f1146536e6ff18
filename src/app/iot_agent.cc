#include "app/iot_agent.h"

#include <algorithm>

#include <fmt/format.h>

#include "app/start_failure.h"

namespace cityhub::app {

namespace {

ingest::IngestOptions IngestOptionsOf(const Config& config, const services::WarningService& warning,
                                      api::Metrics& metrics) {
  ingest::IngestOptions o;
  o.urgent = [&warning](const std::vector<std::string>& types, std::string_view attribute) {
    return warning.Watches(types, attribute);
  };
  o.observe = [&metrics](ingest::Lane lane, ingest::IngestStage stage, double seconds) {
    metrics.ObserveIngest(lane, stage, seconds);
  };
  o.limits.max_payload_bytes = config.iot_max_payload_bytes;
  o.limits.max_measures = std::max<size_t>(1, config.iot_max_measures);
  return o;
}

}  // namespace

IotAgent::IotAgent(const Config& config, Storage& storage, BrokerStack& broker,
                   const services::WarningService& warning, api::Metrics& metrics)
    : devices_(storage.store()),
      ingestor_(broker.entities(), devices_, storage.contexts().Core(), IngestOptionsOf(config, warning, metrics)) {}

Result<std::unique_ptr<IotAgent>> IotAgent::Start(const Config& config, Storage& storage, BrokerStack& broker,
                                                  const services::WarningService& warning, api::Metrics& metrics) {
  std::unique_ptr<IotAgent> agent(new IotAgent(config, storage, broker, warning, metrics));
  if (Status st = agent->devices_.Load(); !st.ok()) {
    return StartFailure(fmt::format("cannot load the IoT devices: {}", st.message()));
  }
  if (!config.mqtt.empty()) {
    ingest::MqttIngestOptions mo;
    mo.uri = config.mqtt;
    mo.client_id = config.mqtt_client_id;
    mo.shared_group = config.mqtt_shared_group;
    mo.ca_file = config.notify_ca_file;
    auto started = ingest::MqttIngest::Start(agent->ingestor_, mo);
    if (!started.ok()) return StartFailure(started.status().message());
    agent->mqtt_ = std::move(*started);
  }
  return agent;
}

void IotAgent::Lend(api::ApiDeps* deps) {
  deps->devices = &devices_;
  deps->ingestor = &ingestor_;
}

}  // namespace cityhub::app
