#include "store/postgres/hub_slot.h"

#include <mutex>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "store/postgres/pg_connection.h"
#include "util/periodic_task.h"

namespace cityhub::store::pg {

struct HubSlotLock::State {
  HubSlotOptions options;
  mutable std::mutex mutex;  // conn and slot: the check thread and slot()
  std::unique_ptr<Connection> conn;
  HubSlot slot{0, kHubSlots};
  std::unique_ptr<util::PeriodicTask> check;

  // Opens a connection and locks a free slot, `preferred` first; Ok with the slot taken.
  Status Take(std::optional<uint32_t> preferred) {
    auto opened = Connection::Open(options.conninfo, options.connect_timeout);
    if (!opened.ok()) return opened.status();
    for (uint32_t i = 0; i <= kHubSlots; ++i) {
      uint32_t candidate = 0;
      if (i == 0) {
        if (!preferred) continue;
        candidate = *preferred;
      } else {
        candidate = i - 1;
      }
      auto got = (*opened)->Exec("taking a hub slot", "SELECT pg_try_advisory_lock($1::int, $2::int)",
                                 {Param::Int(kHubSlotClass), Param::Int(candidate)});
      if (!got.ok()) return got.status();
      if (got->Get(0, 0) != "t") continue;
      {
        std::lock_guard lock(mutex);
        conn = std::move(*opened);
        slot = {candidate, kHubSlots};
      }
      if (options.taken) options.taken(slot);
      return Status::Ok();
    }
    return Status(Status::Code::kUnavailable,
                  fmt::format("no hub slot is free: {} hubs, the most, already share this database", kHubSlots));
  }

  // The check thread: takes a slot again when the session is gone (said once per loss; the
  // retries while the database is out of reach are quiet).
  void Check() {
    uint32_t held = 0;
    {
      std::lock_guard lock(mutex);
      held = slot.slot;
      if (conn) {
        auto alive = conn->Exec("checking the hub slot", "SELECT 1");
        if (alive.ok()) return;
        conn.reset();
        spdlog::warn("the database session holding hub slot {} was lost; history stamps keep the slot until "
                     "it is taken again", held);
      }
    }
    if (Status st = Take(held); !st.ok()) {
      spdlog::debug("cannot take a hub slot again yet: {}", st.message());
      return;
    }
    spdlog::info("hub slot {} taken again", slot.slot);
  }
};

Result<std::unique_ptr<HubSlotLock>> HubSlotLock::Start(HubSlotOptions options) {
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  CITYHUB_RETURN_IF_ERROR(state->Take(std::nullopt));
  State* s = state.get();
  state->check = std::make_unique<util::PeriodicTask>("pg-hub-slot", s->options.interval, [s] { s->Check(); });
  state->check->Start();
  return std::unique_ptr<HubSlotLock>(new HubSlotLock(std::move(state)));
}

HubSlotLock::HubSlotLock(std::unique_ptr<State> state) : state_(std::move(state)) {}

HubSlotLock::~HubSlotLock() {
  state_->check.reset();  // no check runs once this returns
  std::lock_guard lock(state_->mutex);
  state_->conn.reset();  // the session ends: the slot is free
}

HubSlot HubSlotLock::slot() const {
  std::lock_guard lock(state_->mutex);
  return state_->slot;
}

}  // namespace cityhub::store::pg
