// Outbound: what the running hub may connect to and how — one address policy for every client
// (notifications, @context and JWKS downloads, GTFS-Realtime polls, context sources), the rules
// for notification endpoints built on it, and how registered context sources are asked. Built
// from the Config before anything opens, so a wrong setting stops the start-up at once; a plain
// value afterwards, shared by the parts of the hub that connect out.
#pragma once

#include <memory>

#include "app/config.h"
#include "broker/context_source_client.h"
#include "broker/endpoint_policy.h"
#include "net/address_policy.h"
#include "util/status.h"

namespace cityhub::app {

struct Outbound {
  std::shared_ptr<const net::AddressPolicy> addresses;
  std::shared_ptr<const broker::EndpointPolicy> endpoints;
  // Reads --federation-credentials' files: a bad entry fails here rather than in a later request.
  broker::ContextSourceClientOptions federation;
};

// The outbound settings of `config`, logging what they allow; a SettingError naming the option
// that is wrong.
Result<Outbound> OutboundOf(const Config& config);

}  // namespace cityhub::app
