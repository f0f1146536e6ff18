#include "app/hub.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/api_server.h"
#include "app/broker_stack.h"
#include "app/city_services.h"
#include "app/housekeeping.h"
#include "app/iot_agent.h"
#include "app/start_failure.h"
#include "app/storage.h"

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

// Keeps a part that started in `part`, or says why it did not.
template <typename Part>
Status Keep(Result<std::unique_ptr<Part>> started, std::unique_ptr<Part>* part) {
  if (!started.ok()) return started.status();
  *part = std::move(*started);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Hub>> Hub::Start(const Config& config) {
  std::unique_ptr<Hub> hub(new Hub(config));
  if (Status st = hub->StartParts(); !st.ok()) {
    spdlog::error("{}", st.message());  // before the parts that started stop (and log)
    return st;
  }
  return hub;
}

Status Hub::StartParts() {
  auto listen = ListenAddressOf(config_);
  if (!listen.ok()) return listen.status();
  auto outbound = OutboundOf(config_);
  if (!outbound.ok()) return outbound.status();
  outbound_ = std::move(*outbound);
  if (Status st = SetUpAuthentication(config_, outbound_.addresses, &security_); !st.ok()) {
    return SettingError(fmt::format("authentication: {}", st.message()));
  }
  CITYHUB_RETURN_IF_ERROR(CheckServedAddress(config_, listen->host, security_));

  CITYHUB_RETURN_IF_ERROR(Keep(Storage::Open(config_, outbound_), &storage_));
  if (Status st = SetUpProtection(config_, storage_->contexts(), &security_); !st.ok()) {
    return SettingError(st.message());
  }
  CITYHUB_RETURN_IF_ERROR(Keep(BrokerStack::Start(config_, outbound_, *storage_, security_, metrics_), &broker_));
  CITYHUB_RETURN_IF_ERROR(Keep(CityServices::Start(config_, outbound_, *storage_, *broker_, metrics_), &services_));
  CITYHUB_RETURN_IF_ERROR(Keep(IotAgent::Start(config_, *storage_, *broker_, services_->warning(), metrics_), &iot_));
  housekeeping_ = std::make_unique<Housekeeping>(config_, *storage_, *broker_);

  api::ApiDeps deps;
  deps.security = security_.Deps();
  deps.contexts = &storage_->contexts();
  deps.metrics = &metrics_;
  broker_->Lend(&deps);
  services_->Lend(&deps);
  iot_->Lend(&deps);
  return Keep(ApiServer::Start(config_, listen->host, listen->port, std::move(deps), storage_->store()), &api_);
}

Hub::Hub(const Config& config) : config_(config) {}

Hub::~Hub() = default;

void Hub::Run() { api_->Run(); }

int Serve(const Config& config) {
  auto started = Hub::Start(config);
  if (!started.ok()) return ExitCodeOf(started.status());
  std::unique_ptr<Hub> hub = std::move(*started);
  hub->Run();
  hub.reset();  // stops every part, the HTTP server first and the store last
  spdlog::info("cityhub stopped cleanly");
  return 0;
}

}  // namespace cityhub::app
