// The URL parameters of each NGSI-LD operation, so that one a client misspells is refused
// rather than silently ignored. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "util/status.h"

namespace cityhub::api {

// Checks the query parameters of `req`, routed to `route` (a router pattern such as
// "/ngsi-ld/v1/entities/{entityId}"), against what GS CIM 009 lists for the operation.
// Returns ok when every parameter is one the operation takes, or when `route` is not an NGSI-LD
// operation (the hub's own endpoints keep their own parameter handling). Otherwise
// InvalidRequest naming a parameter the operation does not take (a request that is not
// well-formed, §5.5.2), or OperationNotSupported naming one the spec lists for the operation
// but the hub does not implement.
Status CheckParameters(std::string_view method, std::string_view route, const http::Request& req);

// Every NGSI-LD operation of the table, as "METHOD route" (for /info/conformance).
std::vector<std::string> NgsiLdOperations();

}  // namespace cityhub::api
