// Operations endpoints: /health (liveness and readiness) and /metrics (Prometheus).
// Readiness is false while the hub starts or drains, so load balancers stop sending traffic
// before a graceful shutdown finishes, and while its store cannot take writes (PostgreSQL out of
// reach or read-only, as during a failover), so they send it to the hubs that can.
#include <optional>

#include <boost/json.hpp>

#include "api/api.h"
#include "ingest/ingestor.h"
#include "api/metrics.h"
#include "api/request.h"
#include "store/store.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

Response Health(const ApiDeps& deps, bool readiness_only) {
  const bool serving = deps.ready && deps.ready->load();
  const bool store_writable = !deps.store || deps.store->CheckWritable().ok();
  const bool ready = serving && store_writable;
  if (readiness_only) return PlainJson(ready ? 200 : 503, json::object{{"status", ready ? "ready" : "not ready"}});
  return PlainJson(ready ? 200 : 503, json::object{{"status", ready ? "pass" : "fail"},
                                                   {"live", true},
                                                   {"ready", ready},
                                                   {"store", store_writable ? "writable" : "unavailable"}});
}

Response MetricsText(const ApiDeps& deps) {
  Response r;
  r.headers.Add("Content-Type", "text/plain; version=0.0.4");
  std::optional<broker::NotifierStats> notifications;
  if (deps.notifier) notifications = deps.notifier->Stats();
  std::optional<ingest::IngestStats> iot;
  if (deps.ingestor) iot = deps.ingestor->Stats();
  r.body = deps.metrics->Render(deps.entities->EntityCounts(), notifications ? &*notifications : nullptr,
                                iot ? &*iot : nullptr);
  return r;
}

}  // namespace

void RegisterOpsRoutes(http::Router& router, const ApiDeps& deps) {
  router.Add("GET", "/health", [&deps](const Request&, const PathParams&) { return Health(deps, false); });
  router.Add("GET", "/health/live", [](const Request&, const PathParams&) {
    return PlainJson(200, json::object{{"status", "live"}});
  });
  router.Add("GET", "/health/ready", [&deps](const Request&, const PathParams&) { return Health(deps, true); });
  router.Add("GET", "/metrics", [&deps](const Request&, const PathParams&) { return MetricsText(deps); });
}

}  // namespace cityhub::api
