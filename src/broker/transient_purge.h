// TransientPurge: deletes transient entities once their expiresAt has passed (GS CIM 009
// §4.22), every `interval`, through EntityService::PurgeExpired as the ExpiryPurgeAccess
// principal — so history and entityDeleted notifications see an ordinary deletion. Until the
// purge runs, an expired entity is already absent to every read and write (EntityService,
// QueryService). Each sweep deletes at most `max_per_sweep` entities per tenant (one durable
// write each), so a burst of expiries is spread over several sweeps rather than one long write.
// Thread-safe: SweepOnce may be called while the thread runs.
#pragma once

#include <chrono>
#include <cstdint>

#include "broker/entity_service.h"
#include "broker/write_access.h"
#include "store/store.h"
#include "util/periodic_task.h"
#include "util/status.h"

namespace cityhub::broker {

class TransientPurge {
 public:
  TransientPurge(EntityService& entities, store::Store& store, std::chrono::milliseconds interval,
                 size_t max_per_sweep = 1000);

  void Start() { task_.Start(); }
  void Stop() { task_.Stop(); }
  // One sweep of every tenant at `now_ms`: how many entities were deleted.
  Result<size_t> SweepOnce(int64_t now_ms);

 private:
  EntityService& entities_;
  store::Store& store_;
  const size_t max_per_sweep_;
  ExpiryPurgeAccess access_;
  util::PeriodicTask task_;  // last: stopped before the members it uses go
};

}  // namespace cityhub::broker
