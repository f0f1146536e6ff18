#include "app/outbound.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/start_failure.h"

namespace cityhub::app {

namespace {

// How the hub asks registered context sources (docs/API.md "Distributed operations").
Result<broker::ContextSourceClientOptions> FederationOptions(const Config& config,
                                                            std::shared_ptr<const net::AddressPolicy> addresses) {
  auto credentials = broker::SourceCredentials::Load(config.federation_credentials);
  if (!credentials.ok()) return credentials.status();
  broker::ContextSourceClientOptions o;
  o.default_timeout = std::chrono::milliseconds(config.federation_timeout_ms);
  o.health.cooldown = std::chrono::milliseconds(config.federation_cooldown_ms);
  o.health.max_in_flight = config.federation_max_in_flight;
  o.max_answer_bytes = config.federation_max_answer_bytes;
  o.credentials = std::move(*credentials);
  o.addresses = std::move(addresses);
  o.ca_file = config.notify_ca_file;
  return o;
}

}  // namespace

Result<Outbound> OutboundOf(const Config& config) {
  auto addresses = net::AddressPolicy::FromList(config.outbound_allow);
  if (!addresses.ok()) return SettingError(fmt::format("--outbound-allow: {}", addresses.status().message()));
  Outbound out;
  out.addresses = std::make_shared<const net::AddressPolicy>(std::move(*addresses));
  auto allowed_headers = broker::EndpointPolicy::ParseAllowedHeaders(config.notification_allow_headers);
  if (!allowed_headers.ok()) {
    return SettingError(fmt::format("--notification-allow-headers: {}", allowed_headers.status().message()));
  }
  out.endpoints = std::make_shared<const broker::EndpointPolicy>(out.addresses, std::move(*allowed_headers));
  spdlog::info("outbound connections (notifications, @context downloads, JWKS): {}{}", out.addresses->Describe(),
               out.addresses->allowed().empty() ? " (--outbound-allow adds networks, e.g. 127.0.0.0/8,::1 for "
                                                  "receivers on this machine)"
                                                : "");
  auto federation = FederationOptions(config, out.addresses);
  if (!federation.ok()) {
    return SettingError(fmt::format("--federation-credentials: {}", federation.status().message()));
  }
  out.federation = std::move(*federation);
  spdlog::info("distributed operations: {} ms per source unless registered otherwise, {} ms cooldown, "
               "credentials for {} origin(s)", out.federation.default_timeout.count(),
               out.federation.health.cooldown.count(), out.federation.credentials.size());
  return out;
}

}  // namespace cityhub::app
