// /ngsi-ld/v1/info/… (GS CIM 009 §5.15): who this context source is and what it conforms to.
//
// - GET /info/sourceIdentity → ContextSourceIdentity (§5.2.40): `id` (the hub's
//   urn:ngsi-ld:ContextSource:<uuid>, made once and kept), `contextSourceAlias` (unique per
//   tenant: the id's uuid, with ".<tenant>" for a named tenant, so that a loop through another
//   tenant of this hub is told apart), `contextSourceUpTime` (ISO 8601 duration since start),
//   `contextSourceTimeAt` (now) and `contextSourceExtras` (the implementation).
// - GET /info/conformance → the NGSI-LD version the payloads conform to and the operations the
//   hub serves (api/parameters.cc lists them).
#include <chrono>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/distributed.h"
#include "api/parameters.h"
#include "api/request.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

const auto kStarted = std::chrono::steady_clock::now();

// An ISO 8601 duration of whole seconds: "PT0S", "PT42S", "P2DT3H4M5S".
std::string Duration(int64_t seconds) {
  const int64_t days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60, secs = seconds % 60;
  std::string out = "P";
  if (days > 0) out += fmt::format("{}D", days);
  out += "T";
  if (hours > 0) out += fmt::format("{}H", hours);
  if (minutes > 0) out += fmt::format("{}M", minutes);
  if (secs > 0 || out == "PT") out += fmt::format("{}S", secs);
  return out;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Response SourceIdentity(const Request& req, const ApiDeps& deps) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto id = deps.entities->SourceId();
  if (!id.ok()) return Problem(id.status());
  auto alias = SourceAliasOf(deps, in->tenant);
  if (!alias.ok()) return Problem(alias.status());
  const int64_t up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - kStarted).count();
  json::object body{
      {"id", *id},
      {"type", "ContextSourceIdentity"},
      {"contextSourceAlias", std::move(*alias)},
      {"contextSourceUpTime", Duration(up)},
      {"contextSourceTimeAt", util::FormatDateTime(NowMs())},
      {"contextSourceExtras", json::object{{"implementation", "cityhub"}, {"ngsildVersion", kNgsiLdVersion}}},
  };
  return JsonResponse(200, std::move(body), in->media, *in->ctx);
}

Response Conformance(const Request& req, const ApiDeps& deps) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto id = deps.entities->SourceId();
  if (!id.ok()) return Problem(id.status());
  json::array operations;
  for (const std::string& op : NgsiLdOperations()) operations.emplace_back(op);
  json::object body{
      {"id", *id},
      {"type", "ConformanceInformation"},
      {"ngsildVersion", kNgsiLdVersion},
      {"operations", std::move(operations)},
  };
  return JsonResponse(200, std::move(body), in->media, *in->ctx);
}

}  // namespace

void RegisterInfoRoutes(http::Router& router, const ApiDeps& deps) {
  if (!deps.entities) return;
  router.Add("GET", "/ngsi-ld/v1/info/sourceIdentity",
             [&deps](const Request& r, const PathParams&) { return SourceIdentity(r, deps); });
  router.Add("GET", "/ngsi-ld/v1/info/conformance",
             [&deps](const Request& r, const PathParams&) { return Conformance(r, deps); });
}

}  // namespace cityhub::api
