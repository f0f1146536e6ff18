// MqttSender: delivers notifications to mqtt:// and mqtts:// endpoints (GS CIM 009 §7.2 MQTT
// binding) through net::MqttClient — one connection per broker, user and MQTT version, opened
// on first use and reused. The message is {"metadata": {Content-Type, Link,
// receiverInfo…}, "body": Notification} published to the URI's topic, with notifierInfo's
// MQTT-QoS (0, 1, 2; default 0) and MQTT-Version (mqtt3.1.1, mqtt5.0; default mqtt5.0); user
// and password come from the URI's userinfo. The broker's name is resolved before each connect
// and only addresses the EndpointPolicy's outbound policy allows are connected to; receiverInfo
// members the policy does not allow are left out of the metadata. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "broker/endpoint_policy.h"
#include "broker/notification_sender.h"

namespace cityhub::broker {

struct MqttSenderOptions {
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds publish_timeout{10000};  // until the broker acknowledges (QoS 1, 2)
  std::chrono::milliseconds reconnect_pause{1000};   // after a failed connect, sends fail at once
  std::string ca_file;  // PEM file of the CAs trusted for mqtts:// instead of the system trust store
  // Where it may connect and which receiverInfo members it sends (null: public addresses only,
  // no protected members).
  std::shared_ptr<const EndpointPolicy> endpoints;
};

class MqttSender : public NotificationSender {
 public:
  explicit MqttSender(MqttSenderOptions options = {});
  ~MqttSender() override;  // disconnects; sends still in progress are abandoned
  MqttSender(const MqttSender&) = delete;
  MqttSender& operator=(const MqttSender&) = delete;

  // Publishes the notification; ok once the broker took it (QoS 0: written to the
  // connection; QoS 1 and 2: acknowledged).
  void Send(OutgoingNotification n, std::function<void(DeliveryOutcome)> done) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::broker
