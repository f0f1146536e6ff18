// Metrics: the Prometheus metrics the hub exports at /metrics — requests by route, method and
// status, request latency per route, store commit latency, entities per tenant and notification
// delivery (sent, failed attempts, given up by reason, waiting), and the IoT agent's messages
// (accepted, rejected, unauthenticated), measures and transactions, and where a warning's time
// goes: each ingestion lane's stages and the warning service's.
// prometheus-cpp stays inside metrics.cc. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/notifier.h"
#include "ingest/ingestor.h"

namespace cityhub::api {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Counts one answered request; `route` is the matched pattern (bounded label set).
  void ObserveRequest(std::string_view route, std::string_view method, int status, double seconds);
  // Records one durable store write.
  void ObserveCommit(double seconds);
  // Records the time a device message spent in one stage of its ingestion lane (IngestStage).
  void ObserveIngest(ingest::Lane lane, ingest::IngestStage stage, double seconds);
  // Records the time a warning reading or alert spent in one stage ("queued", "alert_write").
  void ObserveWarning(std::string_view stage, double seconds);
  // The Prometheus text exposition, with the entity counts given (tenant, count), the
  // notifier's totals and the IoT agent's (null: none).
  std::string Render(const std::vector<std::pair<std::string, uint64_t>>& entity_counts,
                     const broker::NotifierStats* notifications = nullptr, const ingest::IngestStats* iot = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::api
