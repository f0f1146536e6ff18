// ApiServer: the hub's HTTP front — the NGSI-LD, IoT and city-service routes and /admin/backup
// on --listen (HTTPS with --tls-cert-file), with the query slots that bound how many entity
// queries run at once. The last part of the hub to start and the first to stop: Run() returns
// once a stop signal came and the requests in flight were answered, before anything they use
// goes. Borrows the Config, every part lent in its ApiDeps and the store; they must outlive it.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "api/api.h"
#include "app/config.h"
#include "http/router.h"
#include "http/server.h"
#include "store/store.h"
#include "util/counting_gate.h"
#include "util/status.h"

namespace cityhub::app {

class ApiServer {
 public:
  // Listens on `host`:`port` and installs the SIGINT/SIGTERM handling; StartFailure saying why
  // it cannot listen (the port taken, a TLS file unusable) otherwise.
  static Result<std::unique_ptr<ApiServer>> Start(const Config& config, const std::string& host, unsigned short port,
                                                  api::ApiDeps deps, store::Store& store);
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Reports ready (/health/ready and the log), serves until SIGINT or SIGTERM, then drains the
  // requests in flight and reports not ready again. Call once.
  void Run();

 private:
  ApiServer(const Config& config, const std::string& host, unsigned short port, api::ApiDeps deps,
            store::Store& store);

  const Config& config_;
  const std::string host_;
  std::atomic<bool> ready_{false};
  const unsigned query_threads_;
  util::CountingGate query_slots_;
  api::ApiDeps deps_;
  store::Store& store_;
  const std::filesystem::path backup_root_;
  http::Router router_;
  http::Server server_;
};

}  // namespace cityhub::app
