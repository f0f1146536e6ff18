// NotificationSender: the transport a notification leaves the hub by (HTTP, MQTT). The notifier
// renders a notification and hands it over as an OutgoingNotification; the sender reports the
// outcome once, through a callback that may run on any thread.
// Implementations are thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace cityhub::broker {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

struct OutgoingNotification {
  std::string subscription;  // the subscription's id
  std::string uri;           // its endpoint.uri
  std::string content_type;  // "application/json" or "application/ld+json"
  std::string link;          // the Link header value for application/json ("" = none)
  std::string tenant;        // "" = the default tenant (no NGSILD-Tenant header)
  KeyValues receiver_info;   // endpoint.receiverInfo: headers for the receiver
  KeyValues notifier_info;   // endpoint.notifierInfo: options for the sender (MQTT-QoS, …)
  std::chrono::milliseconds timeout{0};  // endpoint.timeout for the answer (0: the sender's own)
  std::string body;          // the Notification, serialized
};

struct DeliveryOutcome {
  bool ok = false;
  std::string reason;  // why it failed, fit for the subscription's status and logs (no payload)
};

class NotificationSender {
 public:
  virtual ~NotificationSender() = default;
  // Delivers `n` and calls `done` exactly once with the outcome, within the sender's timeouts
  // (sends still in progress when the sender is destroyed are abandoned without a call).
  virtual void Send(OutgoingNotification n, std::function<void(DeliveryOutcome)> done) = 0;
};

}  // namespace cityhub::broker
