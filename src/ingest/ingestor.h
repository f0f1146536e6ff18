// Ingestor: the IoT agent's measure path (issue 7). A message from a device — over HTTP
// (`/iot/d`, `/iot/json`) or MQTT — is authenticated against the DeviceRegistry, decoded
// (ingest/measures.h), mapped to NGSI-LD attributes (the device's or its group's mappings:
// name, Property/GeoProperty/Relationship, unitCode; `observedAt` from the payload's time or
// the receive time) and queued. One writer thread ("ingest-writer") turns what is queued into
// store transactions: up to `max_batch` entities per EntityService::BatchUpsert, so thousands
// of measures share one durable commit (and its history and notification records). A device
// whose entity appears twice in the queue gets two transactions, in order — never one that
// merges two measures of the same attribute (its history keeps both).
//
// A message that cannot be authenticated or decoded is refused whole with the reason (counted
// on the device's status and in the stats; the payload is never logged). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "broker/entity_service.h"
#include "ingest/measures.h"
#include "ingest/registry.h"
#include "ngsild/context.h"
#include "util/status.h"

namespace cityhub::ingest {

struct IngestOptions {
  MeasureLimits limits;
  size_t max_batch = 1000;                 // entities per transaction
  size_t max_queued = 100'000;             // messages waiting; beyond, Ingest waits (back-pressure)
};

struct IngestStats {
  uint64_t messages = 0;         // accepted
  uint64_t measures = 0;         // attribute values accepted
  uint64_t rejected = 0;         // refused: malformed or too large
  uint64_t unauthenticated = 0;  // refused: unknown device or wrong key
  uint64_t transactions = 0;     // store commits
  uint64_t write_failures = 0;   // accepted messages the store refused
};

// kByDevice: the device's protocol decides (UltraLight or JSON).
enum class MeasureFormat { kUltralight, kJson, kSingle, kByDevice };

struct DeviceMessage {
  std::string key;        // the credential (k=, or the topic's key)
  std::string device_id;  // i=, or the topic's device id
  MeasureFormat format = MeasureFormat::kUltralight;
  std::string payload;
  std::string attr;       // kSingle: the attribute's object_id
  std::optional<std::string> tenant;  // when the channel names one (HTTP fiware-service), it must match
  std::optional<int64_t> observed_ms; // a time the channel gives (HTTP t=), else the payload's/receive time
  util::TimeFraction observed_fraction;  // observed_ms's fraction as written
};

class Ingestor {
 public:
  Ingestor(broker::EntityService& entities, const DeviceRegistry& registry, ngsild::ContextPtr core,
           IngestOptions options = {});
  ~Ingestor();  // commits what is queued, then stops
  Ingestor(const Ingestor&) = delete;
  Ingestor& operator=(const Ingestor&) = delete;

  // Accepts one message. With `wait`, returns once its transaction committed (or the store's
  // error); else once queued. Unauthenticated, BadRequestData or PayloadTooLarge: nothing of it
  // is written.
  Status Ingest(const DeviceMessage& message, bool wait);
  IngestStats Stats() const;
  const MeasureLimits& limits() const { return options_.limits; }

 private:
  struct Pending {
    DevicePtr device;
    ngsild::Entity entity;
    size_t measures = 0;
    std::shared_ptr<std::promise<Status>> done;  // null: nobody waits
  };
  Result<ngsild::Entity> ToEntity(const Device& device, const std::vector<MeasureGroup>& groups, int64_t now_ms,
                                  size_t* measures) const;
  void Run();
  void Commit(std::vector<Pending>& batch);

  broker::EntityService& entities_;
  const DeviceRegistry& registry_;
  ngsild::ContextPtr core_;
  const IngestOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable wake_producers_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  IngestStats stats_;
  std::thread writer_;
};

}  // namespace cityhub::ingest
