// Identifiers the hub makes up: random (version 4) UUIDs for generated resource ids such as
// urn:ngsi-ld:Subscription:<uuid>. Thread-safe.
#pragma once

#include <string>

namespace cityhub::util {

// A random UUID in its 36-character lower-case text form (RFC 9562 version 4).
std::string RandomUuid();

}  // namespace cityhub::util
