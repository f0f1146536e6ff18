// The command line's way to ask a running hub on this host for something (backup, GTFS import):
// one request through net::SendToHub, with the admin's credentials from $CITYHUB_API_KEY or
// $CITYHUB_TOKEN.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/hub_client.h"

namespace cityhub::app {

using net::HubReply;

// net::SendToHub with an X-API-Key ($CITYHUB_API_KEY) or bearer token ($CITYHUB_TOKEN) header
// added when either is set.
Result<HubReply> SendToHub(const std::string& host, unsigned short port, bool tls, std::string_view method,
                           std::string_view path, std::string_view content_type, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace cityhub::app
