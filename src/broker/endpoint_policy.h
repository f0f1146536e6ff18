// EndpointPolicy: what a subscription's notification endpoint may ask of the hub, checked when
// the subscription is created or updated and again by the senders at delivery. Two rules: an
// endpoint whose host is an IP address literal must be one the outbound AddressPolicy allows
// (host names are resolved and checked by the senders at delivery, on the addresses they then
// connect to), and receiverInfo may not set request headers that carry credentials, route or
// frame the request, or that the hub itself sets — unless the operator allows the credential
// and forwarding ones by name.
// Immutable after construction; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "net/address_policy.h"
#include "util/status.h"

namespace cityhub::broker {

class EndpointPolicy {
 public:
  // `addresses` null = public addresses only. `allowed_headers`: names (any case) of protected
  // headers receiverInfo may set nonetheless (see ParseAllowedHeaders).
  explicit EndpointPolicy(std::shared_ptr<const net::AddressPolicy> addresses = nullptr,
                          std::vector<std::string> allowed_headers = {});

  // The names of "Name[,Name…]" for the constructor. BadRequestData naming the header when it
  // is not a header name or is one that can never be allowed (Host, Content-Length,
  // Transfer-Encoding, Connection and the other framing and hop-by-hop headers, and those the
  // hub sets: Content-Type, Link, NGSILD-Tenant).
  static Result<std::vector<std::string>> ParseAllowedHeaders(std::string_view list);

  // Checks the endpoint of a stored subscription (ngsild/subscription.h). Ok when it may be
  // stored; BadRequestData naming the member — notification.endpoint.uri (with the address's
  // range) or notification.endpoint.receiverInfo (with the header) — when not.
  Status Check(const boost::json::object& stored_subscription) const;

  // True when receiverInfo's `key` may become a request header (or an MQTT metadata member).
  bool HeaderAllowed(std::string_view key) const;

  const net::AddressPolicy& addresses() const { return *addresses_; }

 private:
  std::shared_ptr<const net::AddressPolicy> addresses_;
  std::vector<std::string> allowed_headers_;  // lower case
};

}  // namespace cityhub::broker
