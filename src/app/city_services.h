// CityServices: the city services running on the broker — early warning (floods, earthquakes),
// smart parking (each site's counts kept exact) and journey planning (the tenants' transit
// feeds, GTFS-Realtime polled when configured). Parking and warning watch every committed
// write, so they start before anything that writes (the IoT agent, the periodic jobs, the API)
// and stop after it, seeing its last writes; the EntityService keeps pointing at them (it cannot
// forget an observer), so nothing may write through the broker once they are gone. Borrows the
// BrokerStack and the Storage, which must outlive it; the API borrows parking and mobility.
#pragma once

#include <memory>

#include "api/api.h"
#include "app/broker_stack.h"
#include "app/config.h"
#include "app/outbound.h"
#include "app/storage.h"
#include "services/mobility/mobility_service.h"
#include "services/mobility/publish/feed_publisher.h"
#include "services/mobility/publish/realtime_poller.h"
#include "services/parking/parking_service.h"
#include "services/warning/warning_service.h"
#include "util/status.h"

namespace cityhub::app {

class CityServices {
 public:
  // Starts the services: warning with --warning-rules (SettingError when that file is wrong),
  // parking after recounting every site, mobility with the saved feeds and --gtfs-feed (a feed
  // that fails to import is logged, not fatal), and the --gtfs-rt-url poller.
  static Result<std::unique_ptr<CityServices>> Start(const Config& config, const Outbound& outbound,
                                                     Storage& storage, BrokerStack& broker, api::Metrics& metrics);
  CityServices(const CityServices&) = delete;
  CityServices& operator=(const CityServices&) = delete;

  // Points `deps` at parking and mobility (they live as long as this).
  void Lend(api::ApiDeps* deps);
  // The early-warning service: the IoT agent asks it which measures feed a rule.
  const services::WarningService& warning() const { return warning_; }

 private:
  CityServices(const Config& config, const Outbound& outbound, Storage& storage, BrokerStack& broker,
               services::WarningRules warning_rules, api::Metrics& metrics);

  // Stop order: the poller, parking, then warning, which so sees every write parking makes.
  services::WarningService warning_;
  services::ParkingService parking_;
  services::FeedPublisher feed_publisher_;
  mobility::MobilityService mobility_;
  std::unique_ptr<services::RealtimePoller> realtime_poller_;  // null without --gtfs-rt-url
};

}  // namespace cityhub::app
