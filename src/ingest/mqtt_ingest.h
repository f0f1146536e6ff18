// MqttIngest: devices' measures over MQTT (issue 7), through a broker such as mosquitto, with
// the FIWARE IoT Agent topics:
//   /<key>/<device>/attrs            payload in the device's protocol (UltraLight or JSON)
//   /<key>/<device>/attrs/<attr>     one attribute's raw value
//   /ul/<key>/<device>/attrs[/<attr>], /json/<key>/<device>/attrs[/<attr>]   explicit format
// (each also without the leading '/'). Messages go to the Ingestor (authentication, decoding,
// batched writes) without waiting for their commit.
//
// Delivery. The subscription is QoS 1 on a persistent session (clean session off, a fixed
// client id), so the broker keeps what arrives while the hub is down or reconnecting. The
// client acknowledges a message once it is queued for the next transaction (at most a few ms
// before it is durable): a hub crash in that window loses those measures, not more. A redelivered
// message (the MQTT DUP flag) whose topic and payload were seen among the last 65,536
// messages is dropped, so a QoS 1 redelivery does not record a measure twice.
// Several hubs (a cluster on one database) share the ingest with `shared_group`: each subscribes
// to $share/<group>/<filter> (MQTT shared subscriptions: the broker hands each message to one
// member of the group), so every measure is written once, by whichever hub took it; each hub
// needs its own client id (one persistent session each).
// It speaks MQTT through net::MqttClient. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/ingestor.h"
#include "util/status.h"

namespace cityhub::ingest {

struct MqttIngestOptions {
  std::string uri;                       // mqtt://[user:password@]host[:port] or mqtts://…
  std::string client_id = "cityhub-ingest";
  std::string shared_group;              // "": this hub takes every message; else see above
  std::string ca_file;                   // for mqtts: the CAs to trust instead of the system store
  std::chrono::milliseconds connect_timeout{5000};
};

struct MqttIngestStats {
  uint64_t received = 0;     // messages on the ingest topics
  uint64_t duplicates = 0;   // redeliveries dropped
  uint64_t bad_topics = 0;   // topics that name no device
  bool connected = false;
};

class MqttIngest {
 public:
  // Connects and subscribes (then reconnects by itself). BadRequestData for a bad URI;
  // Unavailable if the broker cannot be reached within connect_timeout.
  static Result<std::unique_ptr<MqttIngest>> Start(Ingestor& ingestor, MqttIngestOptions options);
  ~MqttIngest();  // disconnects
  MqttIngest(const MqttIngest&) = delete;
  MqttIngest& operator=(const MqttIngest&) = delete;

  MqttIngestStats Stats() const;

  struct Impl;

 private:
  explicit MqttIngest(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The topic filters the agent subscribes to: the ingest topics, each as $share/<group>/… when
// `shared_group` is set. BadRequestData for a group name MQTT cannot carry (empty is fine).
Result<std::vector<std::string>> IngestFilters(std::string_view shared_group);

// The device message a topic names (key, device id, format, attribute); false if it names none.
bool ParseIngestTopic(std::string_view topic, DeviceMessage* out);

}  // namespace cityhub::ingest
