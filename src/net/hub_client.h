// HubClient: one blocking HTTP/1.1 request to a cityhub the operator runs — the command line
// asking the hub on this host for a backup or a GTFS import (app/hub_client.h adds the admin's
// credentials), the demo city provisioning its devices. Not for addresses from clients of the
// hub: no outbound policy applies (net::HttpClient is that client). The host is "localhost" or
// an IPv4 literal. Over TLS the hub's certificate is not verified: it names the public host, not
// 127.0.0.1, and the connection never leaves this machine.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace cityhub::net {

struct HubReply {
  int status = 0;
  std::string body;
};

// Sends `method path` with `body` (of `content_type`, may be empty) and `headers` (name, value;
// a pair holding CR or LF is left out) to the hub at host:port and reads the answer until the
// hub closes the connection. Internal when the hub cannot be reached or answers garbage.
Result<HubReply> SendToHub(const std::string& host, unsigned short port, bool tls, std::string_view method,
                           std::string_view path, std::string_view content_type, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace cityhub::net
