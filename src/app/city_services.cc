#include "app/city_services.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/security_setup.h"
#include "app/start_failure.h"

namespace cityhub::app {

namespace {

// The early-warning rules: --warning-rules, else the built-in ones (names in the core context).
Result<services::WarningRules> WarningRulesOf(const Config& config, ngsild::ContextResolver& contexts) {
  ngsild::ContextPtr core = contexts.Core();
  if (config.warning_rules.empty()) {
    return services::WarningRules::Defaults([&core](std::string_view t) { return core->ExpandTerm(t); });
  }
  std::ifstream in(config.warning_rules);
  if (!in) return Status::BadRequestData(fmt::format("cannot read '{}'", config.warning_rules));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return services::WarningRules::Parse(text, FileExpander(contexts));
}

mobility::MobilityOptions MobilityOptionsOf(const Config& c) {
  mobility::MobilityOptions o;
  o.state_dir = (std::filesystem::path(c.data_dir) / "mobility").string();
  o.network.walking.radius_m = c.transit_walk_radius_m;
  o.network.walking.detour_factor = c.transit_walk_detour;
  o.network.walking.speed_m_per_s = c.transit_walk_speed;
  o.network.default_min_transfer = static_cast<mobility::routing::Seconds>(c.transit_min_transfer_s);
  return o;
}

// The default tenant's feed from --gtfs-feed, unless it has one already (from a snapshot).
void ImportStartupFeed(const Config& config, mobility::MobilityService& mobility) {
  if (config.gtfs_feed.empty() || mobility.Get("")) return;
  mobility::gtfs::ValidationReport report;
  auto imported = mobility.Import("", config.gtfs_feed, report);
  if (imported.ok()) {
    spdlog::info("mobility: '{}' imported: {} stops, {} routes, {} trips ({} problems)", config.gtfs_feed,
                 imported->stops, imported->routes, imported->trips, report.total());
  } else {
    spdlog::error("mobility: --gtfs-feed '{}': {}", config.gtfs_feed, imported.status().message());
  }
}

}  // namespace

CityServices::CityServices(const Config& config, const Outbound& outbound, Storage& storage, BrokerStack& broker,
                           services::WarningRules warning_rules, api::Metrics& metrics)
    : warning_(broker.entities(), std::move(warning_rules)),
      parking_(broker.entities(), broker.queries()),
      feed_publisher_(broker.entities(), storage.contexts().Core()),
      mobility_(MobilityOptionsOf(config)) {
  warning_.SetLatencyObserver([&metrics](std::string_view stage, double seconds) { metrics.ObserveWarning(stage, seconds); });
  broker.entities().AddChangeObserver(&warning_);
  warning_.Start();
  broker.entities().AddChangeObserver(&parking_);
  parking_.Start();
  for (const auto& tenant : storage.store().ListTenants()) {
    if (Status st = parking_.RecountAll(tenant); !st.ok()) spdlog::warn("parking: {}", st.message());
  }
  if (Status st = parking_.RecountAll(""); !st.ok()) spdlog::warn("parking: {}", st.message());

  mobility_.SetPublisher([this](std::string_view tenant, const mobility::gtfs::Feed& feed,
                                const mobility::gtfs::Feed* previous) {
    return feed_publisher_.Publish(tenant, feed, previous);
  });
  mobility_.SetVehiclePublisher([this](std::string_view tenant, const mobility::network::TransitNetwork& net,
                                       const mobility::network::RealtimeSnapshot& snapshot) {
    return feed_publisher_.PublishVehicles(tenant, net, snapshot);
  });
  if (size_t n = mobility_.LoadSaved(); n > 0) spdlog::info("mobility: {} transit feeds loaded", n);
  ImportStartupFeed(config, mobility_);
  if (!config.gtfs_rt_url.empty()) {
    services::RealtimePollerOptions po;
    po.url = config.gtfs_rt_url;
    po.interval = std::chrono::seconds(config.gtfs_rt_poll_s);
    po.addresses = outbound.addresses;
    po.ca_file = config.notify_ca_file;
    realtime_poller_ = std::make_unique<services::RealtimePoller>(mobility_, po);
    realtime_poller_->Start();
    spdlog::info("mobility: polling GTFS-Realtime from {} every {} s", config.gtfs_rt_url, config.gtfs_rt_poll_s);
  }
}

Result<std::unique_ptr<CityServices>> CityServices::Start(const Config& config, const Outbound& outbound,
                                                          Storage& storage, BrokerStack& broker, api::Metrics& metrics) {
  auto rules = WarningRulesOf(config, storage.contexts());
  if (!rules.ok()) return SettingError(fmt::format("--warning-rules: {}", rules.status().message()));
  return std::unique_ptr<CityServices>(new CityServices(config, outbound, storage, broker, std::move(*rules), metrics));
}

void CityServices::Lend(api::ApiDeps* deps) {
  deps->parking = &parking_;
  deps->mobility = &mobility_;
}

}  // namespace cityhub::app
