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
// Priority lane. A message carrying an attribute a warning rule reads (IngestOptions::urgent,
// e.g. a river gauge's water level) goes to a lane of its own, so a warning never waits behind
// bulk data: a second writer ("ingest-urgent") drains that lane in small transactions while the
// bulk writer works through its big ones. An entity that has carried such an attribute keeps to
// the priority lane from then on (its bulk messages still queued move over, in order, and a bulk
// transaction holding it is waited for), so one entity's messages are written in the order they
// arrived, whatever the lane. The lane reorders, it never drops: each lane has its own bound.
//
// Reading ahead (Offer, the MQTT path). Every MQTT client of the process shares one receive
// thread (Paho's), and what that thread has not read waits in the broker's queue in arrival order
// — a warning's message behind every bulk message before it. So the receive thread only
// authenticates: a message of a device that may feed a warning rule (MayFeedRules: a mapping to
// an attribute a rule reads, or an entity that has carried one) is decoded and queued at once,
// any other is handed to the decode thread ("ingest-decode"), which decodes and queues it in
// order. The receive thread then reads on at a few microseconds a message, so a backlog builds
// in the hub — where the priority lane passes it — rather than in the broker. The hand-over
// queue keeps raw messages, so its bound (`max_arrival_bytes`) holds far more than a lane's:
// 64 MiB is some 190,000 messages of five measures, 40 s of a flood offering 25 % more than
// the writer commits. When it is full the receive thread waits — the back-pressure that reaches the
// broker, and from then on a warning's message waits in the broker's queue too.
//
// A message that cannot be authenticated or decoded is refused whole with the reason (counted
// on the device's status and in the stats; the payload is never logged). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/entity_service.h"
#include "ingest/measures.h"
#include "ingest/registry.h"
#include "ngsild/context.h"
#include "util/status.h"

namespace cityhub::ingest {

enum class Lane { kBulk, kPriority };
std::string_view LaneName(Lane lane);  // "bulk", "priority"

// Where a message's time goes: from its arrival to its place in the lane (admit: the decode
// thread's queue for an MQTT message, decoding, and waiting for room in the lane), waiting in
// the lane for its writer, and the transaction that writes it (the entity service's work and
// the commit).
enum class IngestStage { kAdmit, kQueued, kCommit };
std::string_view IngestStageName(IngestStage stage);  // "admit", "queued", "commit"

struct IngestOptions {
  MeasureLimits limits;
  size_t max_batch = 250;                  // entities per bulk transaction (each holds the store's write queue)
  size_t max_priority_batch = 50;          // entities per priority transaction
  size_t max_queued = 100'000;             // messages waiting per lane; beyond, Ingest waits (back-pressure)
  // Bytes of messages Offer holds for the decode thread (raw, a hundred bytes or so each, not the
  // decoded entities the lanes hold); beyond, Offer waits.
  size_t max_arrival_bytes = 64u << 20;
  // True if a warning rule reads `attribute` (expanded) of an entity of `types`: a message that
  // carries one takes the priority lane. Unset: every message is bulk. Called concurrently.
  std::function<bool(const std::vector<std::string>& types, std::string_view attribute)> urgent;
  // Told each accepted message's time per stage (seconds); called on the ingest threads.
  std::function<void(Lane, IngestStage, double seconds)> observe;
};

struct IngestStats {
  uint64_t messages = 0;         // accepted
  uint64_t measures = 0;         // attribute values accepted
  uint64_t rejected = 0;         // refused: malformed or too large
  uint64_t unauthenticated = 0;  // refused: unknown device or wrong key
  uint64_t transactions = 0;     // store commits
  uint64_t priority_messages = 0;      // of `messages`, taken by the priority lane
  uint64_t priority_transactions = 0;  // of `transactions`, the priority lane's
  uint64_t write_failures = 0;   // accepted messages the store refused
  // Waiting now: MQTT messages for the decode thread (and their bytes, against
  // max_arrival_bytes), and decoded messages in each lane.
  uint64_t waiting_decode = 0;
  uint64_t waiting_decode_bytes = 0;
  uint64_t waiting_bulk = 0;
  uint64_t waiting_priority = 0;
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
  // Accepts one message without waiting for its commit (the MQTT path; see "Reading ahead"):
  // Unauthenticated is told here, a decoding error only in the stats and on the device's status.
  Status Offer(DeviceMessage message);
  IngestStats Stats() const;
  const MeasureLimits& limits() const { return options_.limits; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    DevicePtr device;
    ngsild::Entity entity;
    size_t measures = 0;
    std::shared_ptr<std::promise<Status>> done;  // null: nobody waits
    Clock::time_point queued_at;
  };
  struct Arrival {  // a message Offer handed to the decode thread
    DevicePtr device;
    std::string entity_key;  // tenant + '\n' + the device's entity id
    DeviceMessage message;
    Clock::time_point at;    // when it reached the hub
    int64_t received_ms = 0; // the same, as the measures' time when the message gives none
  };
  // One lane's queue and what its writer is committing.
  struct LaneState {
    std::deque<Pending> queue;
    std::condition_variable wake_writer;
    std::string committing_tenant;
    std::unordered_set<std::string> committing;  // entity ids of the transaction under way
    std::thread writer;
  };
  // The message's device (a refusal is counted).
  Result<DevicePtr> Authenticate(const DeviceMessage& message);
  // Ingest after authentication; `arrived`: when the message reached the hub, `now_ms` the same
  // on the wall clock.
  Status Accept(const DevicePtr& device, const DeviceMessage& message, bool wait, Clock::time_point arrived,
                int64_t now_ms);
  // Decodes and maps a message (a refusal is counted and returned).
  Result<Pending> Prepare(const DevicePtr& device, const DeviceMessage& message, int64_t now_ms, bool wait);
  // Puts `p` in its lane, waiting for room.
  Status Queue(Pending p, bool urgent, Clock::time_point arrived);
  // Marks p's entity urgent now (Route's first urgent message), before `p` is queued.
  void TurnUrgent(const Pending& p);
  bool IsUrgent(const std::string& entity_key) const;
  // True if a message of `device` may carry an attribute a warning rule reads.
  bool MayFeedRules(const Device& device) const;
  void Decode();  // the decode thread
  // Takes the entity's messages still waiting for the decode thread (in order), once the one the
  // decode thread holds, if it is the entity's, is queued: a message read at once must not pass
  // them (whichever device of the entity sent them).
  std::vector<Arrival> TakeArrivalsOf(const std::string& entity_key);
  Result<ngsild::Entity> ToEntity(const Device& device, const std::vector<MeasureGroup>& groups, int64_t now_ms,
                                  size_t* measures) const;
  bool Urgent(const ngsild::Entity& entity) const;
  // The lane `p` goes to; moves its entity's queued bulk messages to the priority lane when it
  // first turns urgent. Under mutex_.
  Lane Route(const Pending& p, bool urgent);
  bool BulkCommitting(const std::vector<Pending>& batch) const;  // under mutex_
  void Run(Lane lane);
  void Commit(Lane lane, std::vector<Pending>& batch);
  void Observe(Lane lane, IngestStage stage, Clock::time_point since) const;

  broker::EntityService& entities_;
  const DeviceRegistry& registry_;
  ngsild::ContextPtr core_;
  const IngestOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_producers_;
  std::condition_variable bulk_committed_;
  LaneState bulk_, priority_;
  // Tenant + '\n' + entity id of every entity that has carried an urgent attribute.
  std::unordered_set<std::string> urgent_entities_;
  bool stopping_ = false;
  IngestStats stats_;

  // Offer's hand-over to the decode thread (its own lock: the receive thread never waits for
  // the lanes' lock while a writer holds it).
  mutable std::mutex arrivals_mutex_;
  std::condition_variable wake_decoder_;
  std::condition_variable arrivals_room_;
  std::deque<Arrival> arrivals_;
  size_t arrival_bytes_ = 0;  // ArrivalBytes of arrivals_
  std::unordered_map<std::string, size_t> arrivals_of_;  // messages in arrivals_, per entity key
  std::string decoding_;              // the entity key of the message the decode thread holds
  std::condition_variable decoded_;   // decoding_ changed
  bool stop_decoding_ = false;
  std::thread decoder_;
};

}  // namespace cityhub::ingest
