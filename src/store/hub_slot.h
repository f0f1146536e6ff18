// HubSlot: this process's slot among the hubs sharing one database (0 of 1 for a hub alone).
// History stamps — an instance's identity, its instanceId (broker/history_codec.h) — are µs
// values congruent to `slot` modulo `slots`, so two hubs never give two instances one identity.
// The PostgreSQL store takes a slot when it opens (postgres/hub_slot.h). Thread-safe.
#pragma once

#include <cstdint>

namespace cityhub::store {

struct HubSlot {
  uint32_t slot = 0;
  uint32_t slots = 1;
};
HubSlot CurrentHubSlot();
void SetCurrentHubSlot(HubSlot slot);

}  // namespace cityhub::store
