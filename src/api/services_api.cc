// City services' HTTP resources (issue 7):
//   GET /cityhub/v1/parking/nearest?lat=&lon=[&minFree=1][&maxDistance=2000][&limit=5] — parking
//       sites (OffStreetParking, OnStreetParking) near a point with at least minFree available
//       spots, nearest first: [{"id", "distance" (m), "availableSpotNumber"}]. Read right needed;
//       a caller sees only sites it may read whose location and free spots it reads in clear.
//   GET /cityhub/v1/parking/{siteId}/forecast — the site's occupancy for the 15-minute slots of
//       the next hour, forecast from its last eight weeks of occupancy history, with the model
//       and its error measured on that history (services/parking/occupancy_forecast.h).
//   GET /cityhub/v1/alerts/{id}/cap — an early-warning Alert entity as a CAP 1.2 document
//       (application/cap+xml), for public warning systems and sirens; made of what the caller
//       may read of it.
#include <algorithm>
#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/request.h"
#include "services/parking/parking_service.h"
#include "services/warning/warning_service.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

Result<double> NumberParam(const Request& req, std::string_view name, std::optional<double> fallback, double lo, double hi) {
  const std::string* text = req.Param(name);
  if (!text) {
    if (fallback) return *fallback;
    return Status::BadRequestData(fmt::format("parameter '{}' is required", name));
  }
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) {
    return Status::BadRequestData(fmt::format("parameter '{}' must be a number from {} to {}", name, lo, hi));
  }
  return v;
}

Response Nearest(const Request& req, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto lat = NumberParam(req, "lat", std::nullopt, -90, 90);
  auto lon = NumberParam(req, "lon", std::nullopt, -180, 180);
  auto min_free = NumberParam(req, "minFree", 1, 0, 1e9);
  auto max_distance = NumberParam(req, "maxDistance", 2000, 1, 100'000);
  auto limit = NumberParam(req, "limit", 5, 1, 100);
  for (const auto* r : {&lat, &lon, &min_free, &max_distance, &limit}) {
    if (!r->ok()) return Problem(r->status());
  }
  std::unique_ptr<broker::EntityView> view = CurrentCaller().ReadView(*tenant);
  auto found = deps.parking->Nearest(*tenant, *lat, *lon, static_cast<int64_t>(*min_free), *max_distance,
                                     static_cast<size_t>(*limit), view.get());
  if (!found.ok()) return Problem(found.status());
  json::array out;
  for (const auto& p : *found) {
    out.push_back(json::object{{"id", p.id}, {"distance", std::round(p.distance_m)}, {"availableSpotNumber", p.available}});
  }
  return PlainJson(200, out);
}

// `v` to `decimals` decimal places (so that JSON shows 0.1508, not 0.15080000000000002).
double Rounded(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

Response Forecast(const Request& req, const PathParams& params, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  const std::string& id = params.Get("siteId");
  std::unique_ptr<broker::EntityView> view = CurrentCaller().ReadView(*tenant);
  const int64_t now = util::NowMillis();
  auto f = deps.parking->Forecast(*tenant, id, *deps.temporal, view.get(), now);
  if (!f.ok()) return Problem(f.status());
  json::array points;
  for (const auto& [at, occupancy] : f->points) {
    json::object p{{"from", util::FormatDateTime(at)}, {"to", util::FormatDateTime(at + services::kForecastStepMs)},
                   {"occupancy", Rounded(occupancy, 4)}};
    if (f->total) p["availableSpotNumber"] = std::llround(static_cast<double>(*f->total) * (1 - occupancy));
    points.push_back(std::move(p));
  }
  json::object error{{"horizon", "PT1H"}, {"points", f->error.points}};
  if (f->error.points == 0) {
    error["reason"] = "not measured: it needs at least three days of occupancy history";
  } else {
    error["meanAbsoluteError"] = Rounded(f->error.mae, 4);
    error["persistenceMeanAbsoluteError"] = Rounded(f->error.persistence_mae, 4);
    error["profileMeanAbsoluteError"] = Rounded(f->error.profile_mae, 4);
    if (f->total) error["meanAbsoluteErrorSpots"] = Rounded(f->error.mae * static_cast<double>(*f->total), 2);
  }
  json::object out{{"id", id}, {"at", util::FormatDateTime(now)}, {"occupancy", Rounded(f->occupancy, 4)}};
  if (f->total) out["totalSpotNumber"] = *f->total;
  out["forecast"] = std::move(points);
  out["model"] = json::object{{"method", "seasonal profile + AR(1) residual"},
                              {"seasonality", services::SeasonalityName(f->model.seasonality)},
                              {"phi", Rounded(f->model.phi, 4)},
                              {"historyHours", static_cast<double>(f->model.history_slots) / 4}};
  out["measuredError"] = std::move(error);
  return PlainJson(200, out);
}

std::string StringValue(const ngsild::Entity& e, const char* attr) {
  auto it = e.attrs.find(attr);
  if (it == e.attrs.end() || it->second.empty()) return "";
  const json::value* v = it->second.front().if_contains("value");
  return v && v->is_string() ? std::string(v->get_string()) : "";
}

Response AlertCap(const Request& req, const PathParams& params, const ApiDeps& deps) {
  using V = services::AlertVocabulary;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  const std::string& id = params.Get("alertId");
  auto e = deps.entities->Get(*tenant, id);
  if (!e.ok()) return Problem(e.status());
  if (std::find(e->types.begin(), e->types.end(), V::kType) == e->types.end()) {
    return Problem(Status::NotFound(fmt::format("'{}' is not an Alert", id.substr(0, 200))));
  }
  if (auto view = CurrentCaller().ReadView(*tenant)) {
    if (!view->Visible(*e)) {
      return Problem(Status::PermissionDenied(fmt::format("entity '{}' may not be read", id.substr(0, 200))));
    }
    view->Redact(*e);  // the document holds only what the caller may read
  }
  services::CapAlert a;
  a.id = e->id;
  a.sub_category = StringValue(*e, V::kSubCategory);
  a.severity = StringValue(*e, V::kSeverity);
  a.stage = StringValue(*e, V::kStage);
  a.description = StringValue(*e, V::kDescription);
  a.issued = StringValue(*e, V::kDateIssued);
  a.valid_to = StringValue(*e, V::kValidTo);
  a.sent = util::FormatDateTime(e->modified_at);
  if (a.issued.empty()) a.issued = a.sent;
  if (auto it = e->attrs.find(V::kLocation); it != e->attrs.end() && !it->second.empty()) {
    const json::value* g = it->second.front().if_contains("value");
    const json::value* c = g && g->is_object() ? g->get_object().if_contains("coordinates") : nullptr;
    if (c && c->is_array() && c->get_array().size() >= 2 && c->get_array()[0].is_number()) {
      a.point = std::make_pair(c->get_array()[1].to_number<double>(), c->get_array()[0].to_number<double>());
    }
  }
  Response r;
  r.status = 200;
  r.headers.Add("Content-Type", "application/cap+xml; charset=utf-8");
  r.body = services::CapXml(a, "cityhub");
  return r;
}

}  // namespace

void RegisterServiceRoutes(http::Router& router, const ApiDeps& deps) {
  router.Add("GET", "/cityhub/v1/alerts/{alertId}/cap",
             [&deps](const Request& r, const PathParams& p) { return AlertCap(r, p, deps); });
  if (!deps.parking) return;
  router.Add("GET", "/cityhub/v1/parking/nearest", [&deps](const Request& r, const PathParams&) { return Nearest(r, deps); });
  if (!deps.temporal) return;
  router.Add("GET", "/cityhub/v1/parking/{siteId}/forecast",
             [&deps](const Request& r, const PathParams& p) { return Forecast(r, p, deps); });
}

}  // namespace cityhub::api
