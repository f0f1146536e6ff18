/* HTTP notification delivery: a notification becomes one POST through net::HttpClient, which
 * keeps connections alive per receiver origin, bounds every phase by a deadline and connects
 * only where the outbound policy allows (see net/http_client.cc for those trade-offs).
 *
 * What is particular to notifications lives here: the request carries the notification's
 * Content-Type, Link and NGSILD-Tenant, and of the subscription's receiverInfo only the headers
 * the EndpointPolicy allows — checked again at delivery, for subscriptions stored before a rule
 * changed. Any 2xx is a delivery; a 3xx is a failure (redirects are not followed, so an allowed
 * receiver cannot point the hub elsewhere). A kept-alive connection the receiver closed is
 * retried once on a fresh one, which at-least-once delivery allows.
 */
#include "broker/http_sender.h"

#include <utility>

#include <fmt/format.h>

#include "net/http_client.h"

namespace cityhub::broker {
namespace {

constexpr size_t kMaxResponseBody = 64 << 10;  // answers are read and discarded

net::HttpRequest ToRequest(OutgoingNotification&& n, const EndpointPolicy& rules,
                           std::chrono::milliseconds default_timeout) {
  net::HttpRequest req;
  req.method = "POST";
  req.url = std::move(n.uri);
  req.headers.emplace_back("Content-Type", n.content_type);
  if (!n.link.empty()) req.headers.emplace_back("Link", n.link);
  if (!n.tenant.empty()) req.headers.emplace_back("NGSILD-Tenant", n.tenant);
  for (auto& [name, value] : n.receiver_info) {
    if (rules.HeaderAllowed(name)) req.headers.emplace_back(std::move(name), std::move(value));
  }
  req.body = std::move(n.body);
  req.timeout = n.timeout.count() > 0 ? n.timeout : default_timeout;
  req.max_response_bytes = kMaxResponseBody;
  return req;
}

}  // namespace

struct HttpSender::Impl {
  HttpSenderOptions options;
  net::HttpClient client;

  explicit Impl(HttpSenderOptions o)
      : options(std::move(o)), client([this] {
          net::HttpClientOptions c;
          c.connect_timeout = options.connect_timeout;
          c.max_connections_per_origin = options.max_connections_per_origin;
          c.ca_file = options.ca_file;
          c.addresses = std::shared_ptr<const net::AddressPolicy>(options.endpoints, &options.endpoints->addresses());
          c.thread_name = "notify-http";
          c.purpose = "notification";
          return c;
        }()) {}
};

namespace {
HttpSenderOptions WithDefaults(HttpSenderOptions o) {
  if (!o.endpoints) o.endpoints = std::make_shared<const EndpointPolicy>();
  return o;
}
}  // namespace

HttpSender::HttpSender(HttpSenderOptions options) : impl_(std::make_unique<Impl>(WithDefaults(std::move(options)))) {}

HttpSender::~HttpSender() = default;

void HttpSender::Send(OutgoingNotification n, std::function<void(DeliveryOutcome)> done) {
  impl_->client.Send(ToRequest(std::move(n), *impl_->options.endpoints, impl_->options.response_timeout),
                     [done = std::move(done)](net::HttpOutcome outcome) {
                       if (!outcome.ok) return done(DeliveryOutcome{false, std::move(outcome.error)});
                       const unsigned status = outcome.response.status;
                       if (status >= 200 && status < 300) return done(DeliveryOutcome{true, {}});
                       done(DeliveryOutcome{false, fmt::format("HTTP {}", status)});
                     });
}

}  // namespace cityhub::broker
