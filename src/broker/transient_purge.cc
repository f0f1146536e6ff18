#include "broker/transient_purge.h"

#include <spdlog/spdlog.h>

#include "util/time.h"

namespace cityhub::broker {

TransientPurge::TransientPurge(EntityService& entities, store::Store& store, std::chrono::milliseconds interval,
                               size_t max_per_sweep)
    : entities_(entities),
      store_(store),
      max_per_sweep_(max_per_sweep),
      task_("expiry-purge", interval, [this] {
        auto n = SweepOnce(util::NowMillis());
        if (!n.ok()) spdlog::warn("transient entities: purge failed: {}", n.status().message());
      }) {}

Result<size_t> TransientPurge::SweepOnce(int64_t now_ms) {
  size_t deleted = 0;
  for (const std::string& tenant : store_.ListTenants()) {
    auto n = entities_.PurgeExpired(access_, tenant, now_ms, max_per_sweep_);
    if (!n.ok()) {
      if (n.status().IsNotFound()) continue;  // tenant gone meanwhile
      return n.status();
    }
    deleted += *n;
  }
  return deleted;
}

}  // namespace cityhub::broker
