// mqtt_load: plays many IoT devices publishing UltraLight measures through an MQTT broker to a
// hub's IoT agent (docs/PERFORMANCE.md, issue 7). Devices d0…d(N-1) with keys
// "bench-key-<i>-0123456789" must be provisioned (bench/run_ingest_bench.sh does it). Each
// message carries --measures values ("m0|…|m1|…"); messages go round-robin over the devices, as
// fast as the broker takes them (QoS 1, up to --inflight unacknowledged) or at --rate messages
// per second. Prints messages and measures published per second.
//
// With --alert-sensors K, river gauges r0…r(K-1) (keys "river-key-<i>-0123456789") also publish,
// every --alert-interval-ms, a water level that alternately raises a serious flood warning and
// clears it; the tool subscribes to the topic the hub's Alert subscription notifies
// (--alert-topic) and prints the latency from each publish to the arrival of its alert
// notification (p50, p99, max): sensor → MQTT → hub → early warning → Alert → MQTT → subscriber,
// split at the timestamps the notification carries (the hub's clock, the same machine's): the
// reading as the hub stamped it on arrival, the Alert's write (sysAttrs), notifiedAt; and how
// long the broker takes to acknowledge (PUBACK) a gauge's publish.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <mqtt/async_client.h>

int main(int argc, char** argv) {
  CLI::App app{"mqtt_load: devices publishing UltraLight measures"};
  int port = 1883, devices = 1000, measures = 5, seconds = 10, qos = 1, inflight = 1000;
  double rate = 0;
  std::string topic_prefix = "/ul";
  int alert_sensors = 0, alert_interval_ms = 200;
  std::string alert_topic = "alerts";
  app.add_option("--port", port, "broker port on 127.0.0.1");
  app.add_option("--devices", devices);
  app.add_option("--measures", measures, "values per message");
  app.add_option("--seconds", seconds);
  app.add_option("--rate", rate, "messages per second (0 = as fast as the broker acknowledges)");
  app.add_option("--qos", qos);
  app.add_option("--inflight", inflight);
  app.add_option("--alert-sensors", alert_sensors);
  app.add_option("--alert-interval-ms", alert_interval_ms);
  app.add_option("--alert-topic", alert_topic);
  CLI11_PARSE(app, argc, argv);

  mqtt::async_client client(fmt::format("tcp://127.0.0.1:{}", port), "cityhub-mqtt-load");
  auto opts = mqtt::connect_options_builder().clean_session(true).max_inflight(inflight).finalize();
  client.connect(opts)->wait();
  std::vector<std::string> topics;
  for (int i = 0; i < devices; ++i) topics.push_back(fmt::format("{}/bench-key-{}-0123456789/d{}/attrs", topic_prefix, i, i));

  std::atomic<long> acked{0};
  class Listener : public mqtt::iaction_listener {
   public:
    explicit Listener(std::atomic<long>& n) : n_(n) {}
    void on_success(const mqtt::token&) override { n_.fetch_add(1, std::memory_order_relaxed); }
    void on_failure(const mqtt::token&) override {}

   private:
    std::atomic<long>& n_;
  } listener(acked);

  // Alert latency: when each gauge last published, and the stage that publish must produce.
  using Clock = std::chrono::steady_clock;
  std::mutex alert_mutex;
  std::map<std::string, std::pair<Clock::time_point, std::string>> expected;  // sensor id -> (sent, stage)
  std::map<std::string, std::chrono::system_clock::time_point> sent_wall;      // sensor id -> sent, wall clock
  std::vector<double> latencies_ms, acked_ms;
  // The hops of an alert, from the timestamps the notification carries (the hub's clock, this
  // machine's): the gauge's reading as the hub stamped it on arrival (the Alert's dateIssued when
  // raised, validTo when cleared: the gauges send no time of their own), the Alert's write (its
  // warningStage's modifiedAt, sysAttrs) and notifiedAt.
  std::map<std::string, std::vector<double>> hops_ms;
  const std::vector<std::string> hop_order = {"publish -> hub reads it", "hub reads it -> Alert written",
                                              "Alert written -> notifier sends", "notifier -> subscriber (MQTT)",
                                              "the hub's part: reads it -> notifier sends"};
  // notifiedAt ("2026-12-07T15:02:29.123Z") as the wall clock; the epoch if it is not that form.
  auto wall_of = [](std::string_view t) {
    std::tm tm{};
    int ms = 0;
    if (std::sscanf(std::string(t).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &ms) != 7) {
      return std::chrono::system_clock::time_point{};
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(ms);
  };
  mqtt::async_client listener_client(fmt::format("tcp://127.0.0.1:{}", port), "cityhub-mqtt-load-alerts");
  if (alert_sensors > 0) {
    listener_client.set_message_callback([&](mqtt::const_message_ptr msg) {
      const auto now = Clock::now();
      const auto wall_now = std::chrono::system_clock::now();
      boost::system::error_code ec;
      auto doc = boost::json::parse(msg->get_payload_str(), ec);
      if (ec || !doc.is_object()) return;
      const auto* body = doc.get_object().if_contains("body");
      const auto* data = body && body->is_object() ? body->get_object().if_contains("data") : nullptr;
      if (!data || !data->is_array()) return;
      const auto* notified = body->get_object().if_contains("notifiedAt");
      const auto notified_at = notified && notified->is_string() ? wall_of(notified->get_string()) : std::chrono::system_clock::time_point{};
      for (const auto& d : data->get_array()) {
        if (!d.is_object()) continue;
        std::string source, stage;
        using Wall = std::chrono::system_clock::time_point;
        Wall written_at{}, read_at{};
        for (const auto& [k, v] : d.get_object()) {
          if (!v.is_object()) continue;
          const auto* value = v.get_object().if_contains("value");
          if (!value || !value->is_string()) continue;
          if (std::string_view(k).ends_with("alertSource")) source = std::string(value->get_string());
          // A cleared Alert still carries the dateIssued of its raise: the later of the two.
          if (std::string_view(k).ends_with("dateIssued") || std::string_view(k).ends_with("validTo")) {
            read_at = std::max(read_at, wall_of(value->get_string()));
          }
          if (std::string_view(k).ends_with("warningStage")) {
            stage = std::string(value->get_string());
            const auto* modified = v.get_object().if_contains("modifiedAt");
            if (modified && modified->is_string()) written_at = wall_of(modified->get_string());
          }
        }
        std::lock_guard lock(alert_mutex);
        auto it = expected.find(source);
        if (it != expected.end() && it->second.second == stage) {
          latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - it->second.first).count());
          const auto ms = [](Wall from, Wall to) { return std::chrono::duration<double, std::milli>(to - from).count(); };
          if (notified_at != Wall{} && written_at != Wall{} && read_at != Wall{}) {
            hops_ms[hop_order[0]].push_back(ms(sent_wall[source], read_at));
            hops_ms[hop_order[1]].push_back(ms(read_at, written_at));
            hops_ms[hop_order[2]].push_back(ms(written_at, notified_at));
            hops_ms[hop_order[3]].push_back(ms(notified_at, wall_now));
            hops_ms[hop_order[4]].push_back(ms(read_at, notified_at));
          }
          expected.erase(it);
        }
      }
    });
    listener_client.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    listener_client.subscribe(alert_topic, 0)->wait();
  }
  std::atomic<bool> alerts_done{false};
  std::thread alerter([&] {
    if (alert_sensors <= 0) return;
    mqtt::async_client gauge(fmt::format("tcp://127.0.0.1:{}", port), "cityhub-mqtt-load-gauges");
    gauge.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    for (long n = 0; !alerts_done.load(); ++n) {
      const int i = static_cast<int>(n % alert_sensors);
      const bool raise = (n / alert_sensors) % 2 == 0;
      const std::string sensor = fmt::format("urn:ngsi-ld:WaterLevelSensor:r{}", i);
      {
        std::lock_guard lock(alert_mutex);
        expected[sensor] = {Clock::now(), raise ? "serious" : "cleared"};
        sent_wall[sensor] = std::chrono::system_clock::now();
      }
      const std::string payload = raise ? "l|5.5" : "l|0.5";
      const auto publishing = Clock::now();
      gauge.publish(fmt::format("/ul/river-key-{}-0123456789/r{}/attrs", i, i), payload.data(), payload.size(), 1, false)->wait();
      {
        std::lock_guard lock(alert_mutex);
        acked_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - publishing).count());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(alert_interval_ms));
    }
    gauge.disconnect()->wait();
  });

  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  long sent = 0;
  std::string payload;
  while (std::chrono::steady_clock::now() < end) {
    if (rate > 0) {
      const auto due = start + std::chrono::microseconds(static_cast<long>(sent * 1e6 / rate));
      if (due > std::chrono::steady_clock::now()) std::this_thread::sleep_until(due);
    }
    // Keep at most `inflight` unacknowledged (Paho refuses more).
    while (qos > 0 && sent - acked.load(std::memory_order_relaxed) >= inflight - 1) std::this_thread::yield();
    payload.clear();
    for (int m = 0; m < measures; ++m) payload += fmt::format("{}m{}|{}", m ? "|" : "", m, (sent + m) % 1000 / 10.0);
    try {
      client.publish(topics[sent % devices], payload.data(), payload.size(), qos, false, nullptr, listener);
      ++sent;
    } catch (const mqtt::exception&) {
      std::this_thread::yield();
    }
  }
  while (qos > 0 && acked.load() < sent && std::chrono::steady_clock::now() < end + std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format("published {} messages ({} measures) in {:.2f} s: {:.0f} messages/s, {:.0f} measures/s (QoS {})\n",
                           sent, sent * measures, secs, sent / secs, sent * measures / secs, qos);
  alerts_done = true;
  alerter.join();
  if (alert_sensors > 0) {
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the last notifications
    std::lock_guard lock(alert_mutex);
    auto pct = [](std::vector<double>& v, double p) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
    };
    std::cout << fmt::format("alert latency (publish -> Alert notification): {} alerts, p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms; {} not received\n",
                             latencies_ms.size(), pct(latencies_ms, 0.5), pct(latencies_ms, 0.99), pct(latencies_ms, 1.0), expected.size());
    std::cout << fmt::format("  publish -> broker's PUBACK: p50 {:.1f} ms, p99 {:.1f} ms\n", pct(acked_ms, 0.5), pct(acked_ms, 0.99));
    for (const auto& hop : hop_order) {
      auto& v = hops_ms[hop];
      if (!v.empty()) std::cout << fmt::format("  {}: p50 {:.1f} ms, p99 {:.1f} ms\n", hop, pct(v, 0.5), pct(v, 0.99));
    }
    listener_client.disconnect()->wait();
  }
  client.disconnect()->wait();
  return 0;
}
