// HubClient: the command line's way to ask a running hub on this host for something (backup,
// GTFS import): one HTTP/1.1 request over loopback, with the admin's credentials from
// $CITYHUB_API_KEY or $CITYHUB_TOKEN. Over TLS the hub's certificate is not verified: it names
// the public host, not 127.0.0.1, and the connection never leaves this machine.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace cityhub::app {

struct HubReply {
  int status = 0;
  std::string body;
};

// Sends `method path` with `body` (of `content_type`, may be empty) and `headers` (name, value)
// to the hub at host:port. Internal when the hub cannot be reached or answers garbage.
Result<HubReply> SendToHub(const std::string& host, unsigned short port, bool tls, std::string_view method,
                           std::string_view path, std::string_view content_type, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace cityhub::app
