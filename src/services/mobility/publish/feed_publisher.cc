#include "services/mobility/publish/feed_publisher.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ngsild/parse.h"
#include "services/mobility/gtfs/entities.h"
#include "services/mobility/gtfs/translations.h"
#include "util/time.h"

namespace cityhub::services {
namespace gtfs = mobility::gtfs;
namespace json = boost::json;

namespace {

constexpr std::string_view kVehicleType = "https://smartdatamodels.org/dataModel.Transportation/Vehicle";
constexpr std::string_view kTransportation = "https://smartdatamodels.org/dataModel.Transportation/";

// The model's vehicleType for a GTFS route_type (basic and extended types).
std::string_view VehicleTypeOf(int route_type) {
  switch (route_type) {
    case 0: case 1: case 2: case 5: case 7: case 12: return "train";
    case 3: case 11: return "bus";
    case 4: return "ferry";
    case 6: return "cableCar";
    default:
      if (route_type >= 100 && route_type < 200) return "train";
      if (route_type >= 200 && route_type < 300) return "bus";
      if (route_type >= 700 && route_type < 800) return "bus";
      if (route_type >= 900 && route_type < 1000) return "tram";
      return "bus";
  }
}

// GTFS-Realtime sends positions, bearings and speeds as 32-bit floats: shown as the shortest
// decimal that is that float (37.9368, not 37.936798095703125).
double FromFloat(double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<float>(value));
  if (ec != std::errc()) return value;
  return std::strtod(std::string(buf, end).c_str(), nullptr);
}

json::object Observed(json::value value, const std::string& observed_at) {
  json::object p{{"type", "Property"}, {"value", std::move(value)}};
  if (!observed_at.empty()) p["observedAt"] = observed_at;
  return p;
}

}  // namespace

FeedPublisher::FeedPublisher(broker::EntityService& entities, ngsild::ContextPtr core)
    : entities_(entities), core_(std::move(core)) {
  using V = gtfs::GtfsVocabulary;
  access_ = std::make_unique<broker::SystemWriteAccess>(
      "system:mobility",
      std::vector<std::string>{std::string(V::kAgencyType), std::string(V::kStationType), std::string(V::kStopType),
                               std::string(V::kRouteType)},
      std::vector<std::string>{}, /*may_delete=*/true);
  vehicle_access_ = std::make_unique<broker::SystemWriteAccess>(
      "system:mobility-realtime", std::vector<std::string>{std::string(kVehicleType)}, std::vector<std::string>{});
}

Status FeedPublisher::Publish(std::string_view tenant, const gtfs::Feed& feed, const gtfs::Feed* previous) {
  gtfs::EntityOptions options;
  options.feed_key = std::string(kFeedKey);
  auto built = gtfs::BuildFeedEntities(feed, gtfs::TranslationIndex::Build(feed), options);
  if (!built.ok()) return built.status();
  Status first = Status::Ok();
  size_t failed = 0;
  auto note = [&](const Status& st) {
    if (st.ok()) return;
    if (first.ok()) first = st;
    ++failed;
  };
  const int64_t now = util::NowMillis();
  const std::vector<boost::json::object>& all = built->entities;
  for (size_t start = 0; start < all.size(); start += kPublishBatch) {
    std::vector<ngsild::Entity> batch;
    for (size_t i = start; i < std::min(all.size(), start + kPublishBatch); ++i) {
      auto e = ngsild::ParseEntity(all[i], *core_, now, ngsild::ParseLimits{});
      if (!e.ok()) {
        note(e.status());
        continue;
      }
      batch.push_back(std::move(*e));
    }
    broker::BatchResult r = entities_.BatchUpsert(*access_, tenant, std::move(batch), /*replace=*/true);
    for (const auto& error : r.errors) note(Status::BadRequestData(fmt::format("{}: {}", error.entity_id, error.status.message())));
  }
  if (previous) {
    auto before = gtfs::BuildFeedEntities(*previous, gtfs::TranslationIndex::Build(*previous), options);
    if (before.ok()) {
      const auto stale = gtfs::StaleEntityIds(gtfs::EntityIds(before->entities), gtfs::EntityIds(all));
      if (!stale.empty()) {
        broker::BatchResult r = entities_.BatchDelete(*access_, tenant, stale);
        for (const auto& error : r.errors) {
          if (!error.status.IsNotFound()) note(Status::BadRequestData(fmt::format("{}: {}", error.entity_id, error.status.message())));
        }
      }
    }
  }
  spdlog::info("mobility: {} feed entities written for tenant '{}' ({} agencies, {} stations, {} stops, {} routes){}",
               all.size() - failed, tenant, built->agencies, built->stations, built->stops, built->routes,
               failed ? fmt::format("; {} failed", failed) : "");
  if (failed > 1) return Status(first.code(), fmt::format("{} (and {} more)", first.message(), failed - 1));
  return first;
}

Status FeedPublisher::PublishVehicles(std::string_view tenant, const mobility::network::TransitNetwork& network,
                                      const mobility::network::RealtimeSnapshot& snapshot) {
  const gtfs::Feed& feed = network.feed();
  const int64_t now = util::NowMillis();
  std::vector<ngsild::Entity> batch;
  Status first = Status::Ok();
  size_t failed = 0, written = 0;
  auto note = [&](const Status& st) {
    if (st.ok()) return;
    if (first.ok()) first = st;
    ++failed;
  };
  auto flush = [&] {
    if (batch.empty()) return;
    const size_t n = batch.size();
    broker::BatchResult r = entities_.BatchUpsert(*vehicle_access_, tenant, std::move(batch), /*replace=*/false);
    for (const auto& error : r.errors) note(Status::BadRequestData(fmt::format("{}: {}", error.entity_id, error.status.message())));
    written += n - r.errors.size();
    batch.clear();
  };
  for (const gtfs::VehiclePosition& v : snapshot.vehicles) {
    if (!v.has_position) continue;
    const std::string& key = v.vehicle && !v.vehicle->id.empty() ? v.vehicle->id : v.entity_id;
    if (key.empty()) continue;
    const uint64_t at = v.timestamp.value_or(snapshot.feed_timestamp);
    const std::string observed = at ? util::FormatDateTime(static_cast<int64_t>(at) * 1000) : std::string();
    json::object e;
    e["id"] = gtfs::GtfsEntityId("Vehicle", kFeedKey, key);
    e["type"] = kVehicleType;
    json::object location{{"type", "GeoProperty"},
                          {"value", json::object{{"type", "Point"}, {"coordinates", json::array{FromFloat(v.lon), FromFloat(v.lat)}}}}};
    if (!observed.empty()) location["observedAt"] = observed;
    e["location"] = std::move(location);
    if (v.speed) e[std::string(kTransportation) + "speed"] = Observed(std::round(FromFloat(*v.speed) * 36.0) / 10.0, observed);
    if (v.bearing) e[std::string(kTransportation) + "heading"] = Observed(FromFloat(*v.bearing), observed);
    if (v.vehicle && !v.vehicle->label.empty()) e["https://smartdatamodels.org/name"] = Observed(json::string(v.vehicle->label), "");
    e[std::string(kTransportation) + "serviceStatus"] = Observed("onRoute", observed);
    uint32_t route = gtfs::kNoIndex;
    if (v.trip) {
      if (!v.trip->trip_id.empty()) {
        e["tripId"] = Observed(json::string(v.trip->trip_id), observed);
        if (auto it = feed.trip_by_id.find(v.trip->trip_id); it != feed.trip_by_id.end()) route = feed.trips[it->second].route;
      }
      if (route == gtfs::kNoIndex && !v.trip->route_id.empty()) {
        if (auto it = feed.route_by_id.find(v.trip->route_id); it != feed.route_by_id.end()) route = it->second;
      }
    }
    if (route != gtfs::kNoIndex) {
      e[std::string(kTransportation) + "vehicleType"] = Observed(json::string(VehicleTypeOf(feed.routes[route].route_type)), "");
      e["https://smartdatamodels.org/dataModel.UrbanMobility/hasRoute"] =
          json::object{{"type", "Relationship"}, {"object", gtfs::GtfsEntityId("GtfsRoute", kFeedKey, feed.routes[route].id)}};
    }
    auto parsed = ngsild::ParseEntity(e, *core_, now, ngsild::ParseLimits{});
    if (!parsed.ok()) {
      note(parsed.status());
      continue;
    }
    batch.push_back(std::move(*parsed));
    if (batch.size() >= kPublishBatch) flush();
  }
  flush();
  spdlog::debug("mobility: {} vehicle positions written for tenant '{}'", written, tenant);
  if (failed > 1) return Status(first.code(), fmt::format("{} (and {} more)", first.message(), failed - 1));
  return first;
}

}  // namespace cityhub::services
