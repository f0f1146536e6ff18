// MqttClient: one connection to an MQTT broker (mqtt:// over TCP, mqtts:// over TLS) — the
// hub's only MQTT client code, used for notifications (broker::MqttSender), the IoT agent's
// subscriber (ingest::MqttIngest) and the demo city's publisher. Connect, publish with an
// outcome callback, subscribe with a message callback, disconnect; after a lost connection it
// reconnects by itself when asked to, otherwise on the caller's next Connect. Given an outbound
// AddressPolicy it connects only to addresses the policy allows (see mqtt_client.cc). The
// Eclipse Paho client does the protocol on its own threads and stays inside mqtt_client.cc.
// Connect and Disconnect are called from one thread at a time; Publish, Subscribe and the rest
// from any. Callbacks run on Paho's thread, so they must be short and must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/address_policy.h"
#include "util/status.h"

namespace cityhub::net {

// Where the broker is and who the client is to it.
struct MqttBroker {
  bool tls = false;   // mqtts
  std::string host;   // a name or a literal address (IPv6 without brackets)
  std::string port;   // "1883", "8883", …
  bool has_user = false;
  std::string user;
  std::string password;
};

enum class MqttVersion { k3_1_1, k5 };

// A message received on a subscription; the views live for the callback only.
struct MqttMessage {
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  bool duplicate = false;  // the broker's DUP flag: possibly a redelivery
};

struct MqttClientOptions {
  MqttBroker broker;
  std::string client_id;
  MqttVersion version = MqttVersion::k3_1_1;
  // False: the broker keeps the session — subscriptions and QoS 1/2 messages — while the client
  // is away (MQTT 5: clean start off).
  bool clean_session = true;
  std::chrono::seconds keep_alive{30};
  std::chrono::milliseconds connect_timeout{5000};  // name resolution + connect + TLS + CONNACK
  // After a lost connection, reconnect by itself (after 1 s, the pause doubling up to 30 s);
  // off: the next Connect does.
  bool auto_reconnect = false;
  int max_inflight = 1000;  // QoS 1/2 publishes unacknowledged at once; more are refused (kBusy)
  int max_buffered = 100;   // commands queued in the client; more are refused (kBusy)
  std::string ca_file;      // mqtts: PEM file of the CAs trusted instead of the system store
  // Where it may connect; null: anywhere (a broker the operator named, never one from a client).
  std::shared_ptr<const AddressPolicy> addresses;
  // What the connection is for, in the one log line per host the policy refuses
  // ("notification to MQTT broker 'x' refused: …").
  std::string purpose = "connection";

  // Called after every successful connect, the first and each automatic reconnect (the place
  // to subscribe when the session is clean).
  std::function<void()> on_connected;
  std::function<void()> on_connection_lost;
  std::function<void(const MqttMessage&)> on_message;
};

class MqttClient {
 public:
  // Why a Publish was not taken.
  static constexpr Status::Code kBusy = Status::Code::kTooManyRequests;  // the window is full: retry shortly

  explicit MqttClient(MqttClientOptions options);
  ~MqttClient();  // stops the callbacks, then disconnects (waiting up to 2 s)
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  // Connects and waits up to connect_timeout. Ok once connected (at once if already). Else:
  // PermissionDenied with kAddressRefused when the policy allows none of the broker's addresses
  // (mqtts: not every one) and NotFound when its name does not resolve — both without a
  // connection attempt — or Unavailable when the broker could not be reached or refused the
  // connection. The messages name no address and hold no remote data.
  Status Connect();
  bool connected() const;

  // Hands the message to the client. Ok: `done` (if any) is called once, with true when the
  // broker took it (QoS 0: written to the connection; 1 and 2: acknowledged), false when it did
  // not or the connection went. Not ok: `done` is never called; kBusy when the in-flight window
  // or the client's queue is full, Unavailable otherwise (not connected).
  Status Publish(const std::string& topic, std::string_view payload, int qos, bool retain,
                 std::function<void(bool taken)> done = nullptr);

  // Subscribes to `filters`, each at `qos`. Ok once the request is sent: `done` (if any) is
  // called once, with true when the broker acknowledged it, false when not or the connection
  // went. Not ok (Unavailable, not connected): `done` is never called.
  Status Subscribe(const std::vector<std::string>& filters, int qos,
                   std::function<void(bool acknowledged)> done = nullptr);

  // Waits for the acknowledgement of every QoS 1/2 publish still outstanding, up to `each` for
  // each one; returns how many were not acknowledged.
  size_t WaitForDeliveries(std::chrono::milliseconds each);

  // Stops the callbacks and disconnects, waiting up to `limit` for the broker.
  void Disconnect(std::chrono::milliseconds limit = std::chrono::seconds(2));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::net
