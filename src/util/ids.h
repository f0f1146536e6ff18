// Identifiers the hub makes up: random (version 4) UUIDs for generated resource ids such as
// urn:ngsi-ld:Subscription:<uuid> and notification ids. Thread-safe.
#pragma once

#include <string>

namespace cityhub::util {

// A random UUID in its 36-character lower-case text form (RFC 9562 version 4).
std::string RandomUuid();
// The same from a per-thread generator seeded once from the OS: as unique, ~100 times cheaper,
// but predictable from earlier ones — for ids that only need to be unique (notification ids).
std::string FastUuid();

}  // namespace cityhub::util
