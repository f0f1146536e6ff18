#include "services/simulator/demo_city.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "net/hub_client.h"
#include "net/mqtt_client.h"
#include "services/simulator/demo_script.h"
#include "util/time.h"

namespace cityhub::services {
namespace json = boost::json;

namespace {

struct HttpAnswer {
  int status = -1;  // -1: no answer
  std::string body;
};

// One request to the hub, with the admin's API key when one is given.
HttpAnswer Http(const DemoCityOptions& o, const std::string& method, const std::string& path, const std::string& body = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!o.api_key.empty()) headers.emplace_back("X-API-Key", o.api_key);
  auto reply = net::SendToHub(o.hub_host, o.hub_port, /*tls=*/false, method, path, "application/json", body, headers);
  if (!reply.ok()) return {};
  return HttpAnswer{reply->status, std::move(reply->body)};
}

json::object DeviceJson(const DemoDevice& d, const json::array& attributes, const json::array& statics = {}) {
  json::array st = statics;
  st.push_back(json::object{{"name", "location"}, {"type", "geo:json"},
                            {"value", json::object{{"type", "Point"}, {"coordinates", json::array{d.lon, d.lat}}}}});
  return json::object{{"device_id", d.id}, {"entity_type", d.type}, {"device_key", d.key}, {"transport", "MQTT"},
                      {"attributes", attributes}, {"static_attributes", std::move(st)}};
}

json::object Mapping(const char* object_id, const char* name, const char* unit = nullptr) {
  json::object m{{"object_id", object_id}, {"name", name}, {"type", "Number"}};
  if (unit) m["unitCode"] = unit;
  return m;
}

std::atomic<bool> interrupted{false};

// One line on the terminal: what the hub says about alerts and car parks.
void Report(const DemoCityOptions& o, const DemoCity& city, int t, long measures, double river_max) {
  int flood_alerts = 0, quake_alerts = 0;
  auto alerts = Http(o, "GET", "/ngsi-ld/v1/entities?type=https://smartdatamodels.org/dataModel.Alert/Alert&options=keyValues&limit=100");
  boost::system::error_code ec;
  auto list = json::parse(alerts.body, ec);
  if (!ec && list.is_array()) {
    for (const auto& a : list.get_array()) {
      const json::object& obj = a.get_object();
      const json::value* stage = obj.if_contains("warningStage");
      if (!stage || *stage == "cleared") continue;
      const json::value* sub = obj.if_contains("https://smartdatamodels.org/dataModel.Alert/subCategory");
      (sub && *sub == "earthquake" ? quake_alerts : flood_alerts)++;
    }
  }
  std::string parking;
  for (const auto& s : city.sites) {
    auto r = Http(o, "GET", fmt::format("/ngsi-ld/v1/entities/{}?options=keyValues", s.id));
    auto e = json::parse(r.body, ec);
    const json::value* free = !ec && e.is_object() ? e.get_object().if_contains("https://smartdatamodels.org/dataModel.Parking/availableSpotNumber") : nullptr;
    if (!free && !ec && e.is_object()) free = e.get_object().if_contains("availableSpotNumber");
    parking += fmt::format("  {} {}/{} free", s.name, free ? json::serialize(*free) : "?", s.spots);
  }
  std::cout << fmt::format("t={:>4}s  measures {:>7}  river {:.2f} m  active alerts: flood {} earthquake {} |{}\n", t,
                           measures, river_max, flood_alerts, quake_alerts, parking)
            << std::flush;
}

}  // namespace

int RunDemoCity(const DemoCityOptions& o) {
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  const DemoCity city = MakeDemoCity();
  const auto& [rivers, vibrations, airs, spots, underpass, sites] = city;

  // --- provisioning ---------------------------------------------------------------------
  json::array batch;
  for (const auto& s : sites) {
    batch.push_back(json::object{{"id", s.id}, {"type", "OffStreetParking"},
                                 {"name", json::object{{"type", "Property"}, {"value", s.name}}},
                                 {"location", json::object{{"type", "GeoProperty"},
                                                           {"value", json::object{{"type", "Point"}, {"coordinates", json::array{s.lon, s.lat}}}}}}});
  }
  if (Http(o, "POST", "/ngsi-ld/v1/entityOperations/upsert", json::serialize(batch)).status / 100 != 2) {
    std::cerr << fmt::format("cannot reach the hub at http://{}:{} (or it refused the car parks; with authentication give "
                             "an admin API key in CITYHUB_API_KEY)\n", o.hub_host, o.hub_port);
    return 1;
  }
  json::array devices;
  for (const auto& d : rivers) devices.push_back(DeviceJson(d, {Mapping("l", "waterLevel", "MTR")}));
  devices.push_back(DeviceJson(underpass, {Mapping("d", "waterDepth", "MTR")}));
  for (const auto& d : vibrations) devices.push_back(DeviceJson(d, {Mapping("a", "acceleration", "G")}));
  for (const auto& d : airs) {
    devices.push_back(DeviceJson(d, {Mapping("no2", "no2", "GQ"), Mapping("pm10", "pm10", "GQ"), Mapping("pm25", "pm25", "GQ")}));
  }
  for (size_t i = 0; i < spots.size(); ++i) {
    json::object d = DeviceJson(spots[i], {json::object{{"object_id", "s"}, {"name", "status"}, {"type", "Text"}}},
                                {json::object{{"name", "refParkingSite"}, {"type", "Relationship"}, {"value", spots[i].site}}});
    d["entity_name"] = fmt::format("urn:ngsi-ld:ParkingSpot:gimhae:{}", spots[i].id);
    devices.push_back(std::move(d));
  }
  size_t provisioned = 0;
  for (size_t i = 0; i < devices.size(); i += 100) {
    json::array part(devices.begin() + static_cast<std::ptrdiff_t>(i),
                     devices.begin() + static_cast<std::ptrdiff_t>(std::min(devices.size(), i + 100)));
    auto r = Http(o, "POST", "/iot/devices", json::serialize(json::object{{"devices", std::move(part)}}));
    if (r.status == 201) provisioned += std::min<size_t>(100, devices.size() - i);
    // 409: provisioned by an earlier run (the keys are the demo's own, so they still work).
  }

  // --- MQTT -------------------------------------------------------------------------------
  net::MqttClientOptions mqtt_options;
  mqtt_options.broker.host = o.mqtt_host;
  mqtt_options.broker.port = std::to_string(o.mqtt_port);
  mqtt_options.client_id = "cityhub-demo-city";
  mqtt_options.connect_timeout = std::chrono::seconds(30);
  mqtt_options.auto_reconnect = true;
  mqtt_options.max_inflight = 1000;
  net::MqttClient client(std::move(mqtt_options));  // the broker is the operator's: no outbound policy
  if (Status connected = client.Connect(); !connected.ok()) {
    std::cerr << fmt::format("cannot reach the MQTT broker at {}:{}: {}\n", o.mqtt_host, o.mqtt_port, connected.message());
    return 1;
  }
  long measures = 0, messages = 0, failed = 0;
  auto publish = [&](const std::vector<DemoMessage>& batch) {
    for (const auto& m : batch) {
      const std::string topic = fmt::format("/ul/{}/{}/attrs", m.device->key, m.device->id);
      // A full in-flight window or send queue is back-pressure: wait a little (up to 5 s) rather than lose the message.
      for (int attempt = 0;; ++attempt) {
        const Status taken = client.Publish(topic, m.payload, 1, false);
        if (taken.ok()) {
          measures += m.measures;
          ++messages;
          break;
        }
        if (taken.code() != net::MqttClient::kBusy || attempt >= 5000) {
          if (failed == 0) std::cerr << "cannot publish: " << taken.message() << "\n";
          ++failed;  // the connection is gone: this message is lost
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  };
  std::cout << fmt::format("demo city: {} devices ({} newly provisioned), 3 car parks with {} spots; publishing to mqtt://{}:{}\n"
                           "script (repeats every {} s): noisy vibration at 10 s (no alert), flood 20–140 s, earthquake at 90 s\n",
                           devices.size(), provisioned, spots.size(), o.mqtt_host, o.mqtt_port, kDemoCycleSeconds);

  // --- the script ---------------------------------------------------------------------------
  const auto start = std::chrono::steady_clock::now();
  DemoScript script(city, o.start_ms ? o.start_ms : util::NowMillis());
  publish(script.Start());
  const int last_second = o.cycles > 0 ? o.cycles * kDemoCycleSeconds : -1;
  for (int t = 0; !interrupted && t != last_second; ++t) {
    const double real = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.duration_s > 0 && real >= o.duration_s) break;
    publish(script.Step(t));
    if (t % 5 == 0) Report(o, city, t, measures, script.RiverMax());
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                              std::chrono::duration<double>((t + 1) / o.speed)));
  }
  // Every QoS 1 message handed to the client is delivered before we leave.
  failed += static_cast<long>(client.WaitForDeliveries(std::chrono::seconds(10)));
  client.Disconnect(std::chrono::seconds(2));
  std::string free;
  for (const auto& [site, n] : script.FreeSpots()) free += fmt::format(" {}={}", site.substr(site.rfind(':') + 1), n);
  std::cout << fmt::format("published {} measures in {} messages ({} failed); free spots:{}\n", measures, messages, failed, free)
            << std::flush;
  return failed == 0 ? 0 : 1;
}

}  // namespace cityhub::services
