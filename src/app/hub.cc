#include "app/hub.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/start_failure.h"

namespace cityhub::app {

namespace {

struct ListenAddress {
  std::string host;
  unsigned short port = 0;
};

// --listen as HOST:PORT, with the TLS files given in pairs.
Result<ListenAddress> ListenAddressOf(const Config& config) {
  ListenAddress address;
  if (!SplitHostPort(config.listen, &address.host, &address.port)) {
    return SettingError(fmt::format("--listen '{}' is not HOST:PORT", config.listen));
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return SettingError(fmt::format("TLS needs both --tls-cert-file and --tls-key-file; only {} is given",
                                    config.tls_cert_file.empty() ? "--tls-key-file" : "--tls-cert-file"));
  }
  return address;
}

// Secure by default: without authentication only a loopback address may be served, unless
// --insecure says otherwise.
Status CheckServedAddress(const Config& config, const std::string& host, const SecuritySetup& security) {
  if (security.authenticates()) return Status::Ok();  // any address may be served
  if (IsLoopbackHost(host)) {
    spdlog::info("no authentication configured: serving on loopback only");
    return Status::Ok();
  }
  if (!config.insecure) {
    return SettingError(fmt::format("refusing to listen on non-loopback address {}: authentication is not "
                                    "configured; bind to 127.0.0.1 or pass --insecure", host));
  }
  spdlog::warn("listening on {} WITHOUT authentication (--insecure): anyone who can reach it can read and write", host);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Hub>> Hub::Start(const Config& config) {
  std::unique_ptr<Hub> hub(new Hub(config));
  const Config& c = hub->config_;
  auto listen = ListenAddressOf(c);
  if (!listen.ok()) return listen.status();
  auto outbound = OutboundOf(c);
  if (!outbound.ok()) return outbound.status();
  hub->outbound_ = std::move(*outbound);
  if (Status st = SetUpAuthentication(c, hub->outbound_.addresses, &hub->security_); !st.ok()) {
    return SettingError(fmt::format("authentication: {}", st.message()));
  }
  CITYHUB_RETURN_IF_ERROR(CheckServedAddress(c, listen->host, hub->security_));

  auto storage = Storage::Open(c, hub->outbound_);
  if (!storage.ok()) return storage.status();
  hub->storage_ = std::move(*storage);
  if (Status st = SetUpProtection(c, hub->storage_->contexts(), &hub->security_); !st.ok()) {
    return SettingError(st.message());
  }
  auto broker = BrokerStack::Start(c, hub->outbound_, *hub->storage_, hub->security_, hub->metrics_);
  if (!broker.ok()) return broker.status();
  hub->broker_ = std::move(*broker);
  auto services = CityServices::Start(c, hub->outbound_, *hub->storage_, *hub->broker_);
  if (!services.ok()) return services.status();
  hub->services_ = std::move(*services);
  auto iot = IotAgent::Start(c, *hub->storage_, *hub->broker_);
  if (!iot.ok()) return iot.status();
  hub->iot_ = std::move(*iot);
  hub->housekeeping_ = std::make_unique<Housekeeping>(c, *hub->storage_, *hub->broker_);

  api::ApiDeps deps;
  deps.security = hub->security_.Deps();
  deps.contexts = &hub->storage_->contexts();
  deps.metrics = &hub->metrics_;
  hub->broker_->Lend(&deps);
  hub->services_->Lend(&deps);
  hub->iot_->Lend(&deps);
  auto api = ApiServer::Start(c, listen->host, listen->port, std::move(deps), hub->storage_->store());
  if (!api.ok()) return api.status();
  hub->api_ = std::move(*api);
  return hub;
}

int Serve(const Config& config) {
  auto started = Hub::Start(config);
  if (!started.ok()) {
    spdlog::error("{}", started.status().message());
    return ExitCodeOf(started.status());
  }
  std::unique_ptr<Hub> hub = std::move(*started);
  hub->Run();
  hub.reset();  // stops every part, the HTTP server first and the store last
  spdlog::info("cityhub stopped cleanly");
  return 0;
}

}  // namespace cityhub::app
