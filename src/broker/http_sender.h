// HttpSender: delivers notifications by HTTP/1.1 POST to http:// and https:// endpoints
// (GS CIM 009 §7 HTTP binding), keeping connections alive per endpoint origin for reuse.
// Connects only to resolved addresses the EndpointPolicy's outbound policy allows, follows no
// redirects, and sends only the receiverInfo headers the policy allows. The transport is the
// hub's one outbound client, net::HttpClient. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "broker/endpoint_policy.h"
#include "broker/notification_sender.h"

namespace cityhub::broker {

struct HttpSenderOptions {
  std::chrono::milliseconds connect_timeout{3000};   // name resolution + connect + TLS handshake
  std::chrono::milliseconds response_timeout{10000}; // writing the request and reading the answer
  // Connections per scheme://host:port, kept alive between sends; sends beyond them wait for
  // one to come free (so a busy receiver is not flooded with new connections).
  size_t max_connections_per_origin = 32;
  // PEM file of certificate authorities trusted for https endpoints besides the system's
  // (a city's own PKI); "" = the system trust store only.
  std::string ca_file;
  // Where it may connect and which receiverInfo headers it sends (null: public addresses only,
  // no protected headers).
  std::shared_ptr<const EndpointPolicy> endpoints;
};

class HttpSender : public NotificationSender {
 public:
  explicit HttpSender(HttpSenderOptions options = {});
  ~HttpSender() override;  // stops the I/O thread; sends still in progress are abandoned
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  // POSTs the notification. ok for any 2xx answer (a 3xx is a failure: redirects are not
  // followed); otherwise the reason says what failed ("connection failed", "timed out",
  // "HTTP 503", "address not allowed by the outbound policy" — the same for every refused
  // address, which is never connected to).
  void Send(OutgoingNotification n, std::function<void(DeliveryOutcome)> done) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::broker
