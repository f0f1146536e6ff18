#include "app/api_server.h"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "app/backup.h"
#include "app/start_failure.h"

namespace cityhub::app {

namespace {

// Query slots: CPU-bound queries beyond the cores only time-slice them, so they queue here
// while the large worker pool stays for writes (whose disk syncs it groups).
unsigned QueryThreadsOf(const Config& config) {
  return config.query_threads > 0 ? config.query_threads : std::max(1u, 2 * std::thread::hardware_concurrency());
}

http::ServerOptions ServerOptionsOf(const Config& config, const std::string& host, unsigned short port,
                                    std::function<bool(const http::Request&)> runs_inline) {
  http::ServerOptions o;
  o.runs_inline = std::move(runs_inline);
  o.host = host;
  o.port = port;
  o.io_threads = config.io_threads;
  o.worker_threads = config.worker_threads;
  o.limits.max_body_bytes = config.max_body_bytes;
  o.limits.max_header_bytes = config.max_header_bytes;
  o.limits.upload_paths = {"/mobility/v1/feed", "/mobility/v1/realtime"};
  o.limits.max_upload_bytes = config.gtfs_max_upload_mb << 20;
  o.limits.request_timeout = std::chrono::milliseconds(config.request_timeout_ms);
  o.limits.idle_timeout = std::chrono::milliseconds(config.idle_timeout_ms);
  o.limits.max_connections = config.max_connections;
  o.limits.max_connections_per_address = config.max_connections_per_address;
  o.tls_cert_file = config.tls_cert_file;
  o.tls_key_file = config.tls_key_file;
  return o;
}

}  // namespace

ApiServer::ApiServer(const Config& config, const std::string& host, unsigned short port, api::ApiDeps deps,
                     store::Store& store)
    : config_(config),
      host_(host),
      query_threads_(QueryThreadsOf(config)),
      query_slots_(query_threads_),
      deps_(std::move(deps)),
      store_(store),
      backup_root_(std::filesystem::absolute(config.backup_dir)),
      server_(ServerOptionsOf(config, host, port, [this](const http::Request& r) { return api::RunsInline(router_, deps_, r); }),
              [this](const http::Request& r) { return api::Dispatch(router_, deps_, r); }) {
  deps_.ready = &ready_;
  deps_.store = &store_;
  deps_.query_slots = &query_slots_;
  deps_.limits.max_json_depth = config.max_json_depth;
  api::RegisterRoutes(router_, deps_);
  router_.Add("POST", "/admin/backup", [this](const http::Request& r, const http::PathParams&) {
    return AdminBackup(store_, backup_root_, deps_.limits, r);
  });
}

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const Config& config, const std::string& host,
                                                    unsigned short port, api::ApiDeps deps, store::Store& store) {
  std::unique_ptr<ApiServer> api(new ApiServer(config, host, port, std::move(deps), store));
  if (Status st = api->server_.Listen(); !st.ok()) return StartFailure(st.message());
  api->server_.StopOnSignals();
  if (ServesTls(config)) {
    spdlog::info("TLS: serving https on {}:{} with the certificate in '{}'", host, api->server_.port(),
                 config.tls_cert_file);
  }
  return api;
}

void ApiServer::Run() {
  ready_ = true;
  spdlog::info("cityhub ready on {}:{} with data in '{}' ({} worker threads, {} query threads)", host_, server_.port(),
               config_.data_dir, config_.worker_threads, query_threads_);
  server_.Run();
  ready_ = false;
}

}  // namespace cityhub::app
