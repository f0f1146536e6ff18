#include "app/housekeeping.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "util/time.h"

namespace cityhub::app {

Housekeeping::Housekeeping(const Config& config, Storage& storage, BrokerStack& broker)
    : registration_expiry_("csr-expiry", std::chrono::seconds(1),
                           [&registrations = broker.registrations()] {
                             auto swept = registrations.SweepExpired(util::NowMillis());
                             if (!swept.ok()) {
                               spdlog::warn("context source registration expiry: {}", swept.status().message());
                             }
                           }),
      retention_purge_(storage.store(), broker.retention(), std::chrono::seconds(std::max(1u, config.retention_check_s))),
      transient_purge_(broker.entities(), storage.store(), std::chrono::milliseconds(std::max(10u, config.expiry_sweep_ms))) {
  registration_expiry_.Start();
  retention_purge_.Start();
  transient_purge_.Start();
}

}  // namespace cityhub::app
