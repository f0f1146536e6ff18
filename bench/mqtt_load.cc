// mqtt_load: plays many IoT devices publishing UltraLight measures through an MQTT broker to a
// hub's IoT agent (docs/PERFORMANCE.md, issue 7). Devices d0…d(N-1) with keys
// "bench-key-<i>-0123456789" must be provisioned (bench/run_ingest_bench.sh does it). Each
// message carries --measures values ("m0|…|m1|…"); messages go round-robin over the devices, as
// fast as the broker takes them (QoS 1, up to --inflight unacknowledged) or at --rate messages
// per second. Prints messages and measures published per second.
#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <mqtt/async_client.h>

int main(int argc, char** argv) {
  CLI::App app{"mqtt_load: devices publishing UltraLight measures"};
  int port = 1883, devices = 1000, measures = 5, seconds = 10, qos = 1, inflight = 1000;
  double rate = 0;
  std::string topic_prefix = "/ul";
  app.add_option("--port", port, "broker port on 127.0.0.1");
  app.add_option("--devices", devices);
  app.add_option("--measures", measures, "values per message");
  app.add_option("--seconds", seconds);
  app.add_option("--rate", rate, "messages per second (0 = as fast as the broker acknowledges)");
  app.add_option("--qos", qos);
  app.add_option("--inflight", inflight);
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
  client.disconnect()->wait();
  return 0;
}
