#include "services/simulator/demo_city.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <mqtt/async_client.h>

namespace cityhub::services {
namespace json = boost::json;

namespace {

struct HttpAnswer {
  int status = -1;
  std::string body;
};

// One blocking HTTP/1.1 request to the hub (Connection: close).
HttpAnswer Http(const DemoCityOptions& o, const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& extra_headers = "") {
  HttpAnswer a;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return a;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(o.hub_port);
  ::inet_pton(AF_INET, o.hub_host == "localhost" ? "127.0.0.1" : o.hub_host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return a;
  }
  std::string auth = o.api_key.empty() ? "" : fmt::format("X-API-Key: {}\r\n", o.api_key);
  std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n{}{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                method, path, o.hub_host, auth, extra_headers, body.size(), body);
  ::send(fd, req.data(), req.size(), 0);
  std::string resp;
  char buf[8192];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (resp.rfind("HTTP/1.1 ", 0) != 0 || resp.size() < 12) return a;
  a.status = std::stoi(resp.substr(9, 3));
  const size_t start = resp.find("\r\n\r\n");
  if (start != std::string::npos) a.body = resp.substr(start + 4);
  return a;
}

struct Device {
  std::string id;
  std::string type;
  std::string key;
  double lon = 0, lat = 0;
};

std::string KeyOf(const std::string& device) { return fmt::format("demo-{}-key-0123456789", device); }

json::object DeviceJson(const Device& d, const json::array& attributes, const json::array& statics = {}) {
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

}  // namespace

int RunDemoCity(const DemoCityOptions& o) {
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  // --- the city -------------------------------------------------------------------------
  std::vector<Device> rivers, vibrations, airs, spots;
  for (int i = 0; i < 5; ++i) rivers.push_back({fmt::format("haeban-{}", i), "WaterLevelSensor", "", 128.870 + i * 0.004, 35.226 + i * 0.002});
  const Device underpass{"underpass-1", "UnderpassFloodSensor", "", 128.8815, 35.2290};
  for (int i = 0; i < 6; ++i) vibrations.push_back({fmt::format("vibration-{}", i), "VibrationSensor", "", 128.86 + i * 0.01, 35.22 + (i % 3) * 0.01});
  for (int i = 0; i < 3; ++i) airs.push_back({fmt::format("air-{}", i), "AirQualityObserved", "", 128.875 + i * 0.01, 35.231});
  struct Site {
    std::string id, name;
    double lon, lat;
    int spots;
  };
  const std::vector<Site> sites = {{"urn:ngsi-ld:OffStreetParking:gimhae:city-hall", "Gimhae City Hall", 128.8893, 35.2285, 80},
                                   {"urn:ngsi-ld:OffStreetParking:gimhae:station", "Gimhae station", 128.8810, 35.2361, 70},
                                   {"urn:ngsi-ld:OffStreetParking:gimhae:market", "Dongsang market", 128.8830, 35.2335, 50}};
  std::vector<std::string> spot_site;
  for (const auto& s : sites) {
    for (int i = 0; i < s.spots; ++i) {
      const std::string id = fmt::format("{}-{}", s.id.substr(s.id.rfind(':') + 1), i);
      spots.push_back({id, "ParkingSpot", "", s.lon + (i % 10) * 0.00005, s.lat + (i / 10) * 0.00005});
      spot_site.push_back(s.id);
    }
  }
  for (auto* group : {&rivers, &vibrations, &airs, &spots}) {
    for (auto& d : *group) d.key = KeyOf(d.id);
  }

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
                                {json::object{{"name", "refParkingSite"}, {"type", "Relationship"}, {"value", spot_site[i]}}});
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
  mqtt::async_client client(fmt::format("tcp://{}:{}", o.mqtt_host, o.mqtt_port), "cityhub-demo-city");
  try {
    client.connect(mqtt::connect_options_builder().clean_session(true).automatic_reconnect(true).finalize())->wait();
  } catch (const mqtt::exception& e) {
    std::cerr << fmt::format("cannot reach the MQTT broker at {}:{}: {}\n", o.mqtt_host, o.mqtt_port, e.what());
    return 1;
  }
  long measures = 0;
  auto publish = [&](const Device& d, const std::string& payload, int count) {
    try {
      client.publish(fmt::format("/ul/{}/{}/attrs", d.key, d.id), payload.data(), payload.size(), 1, false);
      measures += count;
    } catch (const mqtt::exception&) {
    }
  };
  std::cout << fmt::format("demo city: {} devices ({} newly provisioned), 3 car parks with {} spots; publishing to mqtt://{}:{}\n"
                           "script (repeats every 180 s): noisy vibration at 20 s (no alert), flood 30–150 s, earthquake at 120 s\n",
                           devices.size(), provisioned, spots.size(), o.mqtt_host, o.mqtt_port);

  // --- the script ---------------------------------------------------------------------------
  std::mt19937 rng(2026);
  std::normal_distribution<double> noise(0, 1);
  std::vector<bool> occupied(spots.size());
  for (size_t i = 0; i < spots.size(); ++i) {
    occupied[i] = rng() % 100 < 60;
    publish(spots[i], occupied[i] ? "s|occupied" : "s|free", 1);
  }
  const auto start = std::chrono::steady_clock::now();
  double sim_t = 0, last_report = -10;
  double air[3] = {30, 28, 35};
  while (!interrupted) {
    const double real = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.duration_s > 0 && real >= o.duration_s) break;
    const double phase = std::fmod(sim_t, 180.0);
    // River: a calm level with ripples; the flood lifts it to 5.3 m at 90 s, receding by 150 s.
    const double flood = phase < 30 || phase > 150 ? 0 : phase < 90 ? (phase - 30) / 60.0 : (150 - phase) / 60.0;
    double river_max = 0;
    for (size_t i = 0; i < rivers.size(); ++i) {
      const double level = 1.0 + 0.1 * std::sin(sim_t / 20 + i) + 0.02 * noise(rng) + flood * (4.3 - 0.3 * i);
      river_max = std::max(river_max, level);
      publish(rivers[i], fmt::format("l|{:.3f}", level), 1);
    }
    publish(underpass, fmt::format("d|{:.3f}", std::max(0.0, flood * 0.35 - 0.05 + 0.005 * noise(rng))), 1);
    for (size_t i = 0; i < vibrations.size(); ++i) {
      double g = std::abs(0.01 + 0.003 * noise(rng));
      if (std::abs(phase - 20) < 0.5 && i == 5) g = 0.45;         // one noisy sensor: no alert
      if (phase >= 120 && phase < 122 && i < 4) g = 0.3 + 0.1 * i;  // the earthquake: four sensors
      publish(vibrations[i], fmt::format("a|{:.4f}", g), 1);
    }
    for (size_t i = 0; i < airs.size(); ++i) {
      air[i] = std::clamp(air[i] + noise(rng), 5.0, 120.0);
      publish(airs[i], fmt::format("no2|{:.1f}|pm10|{:.1f}|pm25|{:.1f}", air[i] * 0.8, air[i], air[i] * 0.6), 3);
    }
    for (int k = 0; k < 5; ++k) {  // cars come and go
      const size_t i = rng() % spots.size();
      occupied[i] = !occupied[i];
      publish(spots[i], occupied[i] ? "s|occupied" : "s|free", 1);
    }
    if (sim_t - last_report >= 5) {
      last_report = sim_t;
      int flood_alerts = 0, quake_alerts = 0;
      auto alerts = Http(o, "GET", "/ngsi-ld/v1/entities?type=https://smartdatamodels.org/dataModel.Alert/Alert&options=keyValues&limit=100");
      boost::system::error_code ec;
      auto list = json::parse(alerts.body, ec);
      if (!ec && list.is_array()) {
        for (const auto& a : list.get_array()) {
          const json::object& obj = a.get_object();
          const json::value* stage = obj.if_contains("warningStage");
          if (!stage || *stage == "cleared") continue;
          (obj.if_contains("https://smartdatamodels.org/dataModel.Alert/subCategory") &&
                   obj.at("https://smartdatamodels.org/dataModel.Alert/subCategory") == "earthquake"
               ? quake_alerts
               : flood_alerts)++;
        }
      }
      std::string parking;
      for (const auto& s : sites) {
        auto r = Http(o, "GET", fmt::format("/ngsi-ld/v1/entities/{}?options=keyValues", s.id));
        auto e = json::parse(r.body, ec);
        const json::value* free = !ec && e.is_object() ? e.get_object().if_contains("https://smartdatamodels.org/dataModel.Parking/availableSpotNumber") : nullptr;
        if (!free && !ec && e.is_object()) free = e.get_object().if_contains("availableSpotNumber");
        parking += fmt::format("  {} {}/{} free", s.name, free ? json::serialize(*free) : "?", s.spots);
      }
      std::cout << fmt::format("t={:>4.0f}s  measures {:>7}  river {:.2f} m  active alerts: flood {} earthquake {} |{}\n", sim_t,
                               measures, river_max, flood_alerts, quake_alerts, parking)
                << std::flush;
    }
    sim_t += 1;
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                              std::chrono::duration<double>(sim_t / o.speed)));
  }
  try {
    client.disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
  }
  return 0;
}

}  // namespace cityhub::services
