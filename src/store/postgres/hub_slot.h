// HubSlotLock: this hub's slot among the hubs sharing one PostgreSQL database (store/hub_slot.h):
// a session-level advisory lock (kHubSlotClass, slot) on a connection of its own, held while the
// hub runs, so no two hubs hold one slot and a hub that dies frees its slot with its session.
// Every `interval` the lock's connection is checked; if the session was lost (the server
// restarted, the connection broke), a slot is taken again — the same one if it is still free —
// and made current. Between the loss and that check another hub could take the freed slot; the
// window is one interval (plus the time the loss takes to show), and a clash needs both hubs to
// record an instance of one attribute in the same microsecond within it. Writes go on meanwhile.
// A slot freed and taken by a process whose clock is behind the last holder's stamps could in
// principle repeat one of them: hubs' clocks are expected to be synchronised (NTP). One slot per
// process: several PostgreSQL stores in one process (tests) share the last one taken.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "store/hub_slot.h"
#include "util/status.h"

namespace cityhub::store::pg {

// The first key of the slots' advisory locks ("slot"); the second is the slot.
inline constexpr int32_t kHubSlotClass = 0x736c6f74;
// How many hubs may share one database. History stamps of one hub are 1 µs × kHubSlots apart
// at the least.
inline constexpr uint32_t kHubSlots = 16;

struct HubSlotOptions {
  std::string conninfo;
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds interval{2000};
  // Called with each slot taken (at Start, and again after a lost session); the store makes it
  // current (SetCurrentHubSlot).
  std::function<void(HubSlot)> taken;
};

class HubSlotLock {
 public:
  // Takes the lowest free slot. Unavailable if the database cannot be reached or kHubSlots hubs
  // hold every slot.
  static Result<std::unique_ptr<HubSlotLock>> Start(HubSlotOptions options);
  ~HubSlotLock();  // ends the session: the slot is free for another hub
  HubSlotLock(const HubSlotLock&) = delete;
  HubSlotLock& operator=(const HubSlotLock&) = delete;

  HubSlot slot() const;

  struct State;

 private:
  explicit HubSlotLock(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace cityhub::store::pg
