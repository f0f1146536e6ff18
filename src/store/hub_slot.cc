#include "store/hub_slot.h"

#include <algorithm>
#include <atomic>

namespace cityhub::store {

namespace {
std::atomic<uint64_t> hub_slot{1ULL << 32};  // slots << 32 | slot
}  // namespace

HubSlot CurrentHubSlot() {
  const uint64_t v = hub_slot.load(std::memory_order_relaxed);
  return {static_cast<uint32_t>(v & 0xffffffffu), static_cast<uint32_t>(v >> 32)};
}

void SetCurrentHubSlot(HubSlot slot) {
  const uint32_t slots = std::max<uint32_t>(1, slot.slots);
  hub_slot.store((uint64_t{slots} << 32) | (slot.slot % slots), std::memory_order_relaxed);
}

}  // namespace cityhub::store
