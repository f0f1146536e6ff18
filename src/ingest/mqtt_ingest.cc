#include "ingest/mqtt_ingest.h"

#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <unordered_set>
#include <vector>

#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

namespace cityhub::ingest {

namespace {

std::vector<std::string_view> Levels(std::string_view topic) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= topic.size(); ++i) {
    if (i == topic.size() || topic[i] == '/') {
      out.push_back(topic.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// The topic filters that cover every form ParseIngestTopic reads.
const std::vector<std::string>& Filters() {
  static const std::vector<std::string> filters = [] {
    std::vector<std::string> f;
    for (const char* lead : {"/", ""}) {
      for (const char* prefix : {"", "ul/", "json/"}) {
        f.push_back(fmt::format("{}{}+/+/attrs", lead, prefix));
        f.push_back(fmt::format("{}{}+/+/attrs/+", lead, prefix));
      }
    }
    return f;
  }();
  return filters;
}

}  // namespace

bool ParseIngestTopic(std::string_view topic, DeviceMessage* out) {
  std::vector<std::string_view> l = Levels(topic);
  if (!l.empty() && l.front().empty()) l.erase(l.begin());  // the leading '/'
  MeasureFormat format = MeasureFormat::kByDevice;
  if (l.size() >= 4 && (l[0] == "ul" || l[0] == "json") && l[3] == "attrs") {
    format = l[0] == "ul" ? MeasureFormat::kUltralight : MeasureFormat::kJson;
    l.erase(l.begin());
  }
  if ((l.size() != 3 && l.size() != 4) || l[2] != "attrs" || l[0].empty() || l[1].empty()) return false;
  out->key = std::string(l[0]);
  out->device_id = std::string(l[1]);
  out->format = format;
  if (l.size() == 4) {
    if (l[3].empty()) return false;
    out->format = MeasureFormat::kSingle;
    out->attr = std::string(l[3]);
  }
  return true;
}

struct MqttIngest::Impl : public mqtt::callback {
  Ingestor& ingestor;
  MqttIngestOptions options;
  std::unique_ptr<mqtt::async_client> client;
  mqtt::connect_options connect_options;
  std::unique_ptr<mqtt::ssl_options> tls;

  mutable std::mutex mutex;
  MqttIngestStats stats;
  // Digests of the last messages, for dropping redeliveries.
  static constexpr size_t kRemembered = 65536;
  std::vector<uint64_t> ring = std::vector<uint64_t>(kRemembered, 0);
  size_t next = 0;
  std::unordered_multiset<uint64_t> seen;

  Impl(Ingestor& i, MqttIngestOptions o) : ingestor(i), options(std::move(o)) {}

  void Subscribe() {
    const auto& filters = Filters();
    std::vector<int> qos(filters.size(), 1);
    try {
      client->subscribe(mqtt::string_collection::create(filters), qos);
    } catch (const mqtt::exception& e) {
      spdlog::warn("MQTT ingest: cannot subscribe: {}", e.what());
    }
  }

  void connected(const std::string&) override {
    {
      std::lock_guard lock(mutex);
      stats.connected = true;
    }
    spdlog::info("MQTT ingest: connected to {}", Redacted());
    Subscribe();
  }

  void connection_lost(const std::string&) override {
    std::lock_guard lock(mutex);
    stats.connected = false;
    spdlog::warn("MQTT ingest: connection to the broker lost; reconnecting");
  }

  // True if the message is a redelivery of one already taken.
  bool Duplicate(const mqtt::const_message_ptr& msg) {
    const uint64_t digest =
        (std::hash<std::string>{}(msg->get_topic()) * 31 + std::hash<std::string>{}(msg->get_payload())) | 1;  // never 0
    std::lock_guard lock(mutex);
    ++stats.received;
    if (msg->is_duplicate() && seen.count(digest)) {
      ++stats.duplicates;
      return true;
    }
    if (ring[next] != 0) seen.erase(seen.find(ring[next]));
    ring[next] = digest;
    seen.insert(digest);
    next = (next + 1) % kRemembered;
    return false;
  }

  void message_arrived(mqtt::const_message_ptr msg) override {
    DeviceMessage m;
    if (!ParseIngestTopic(msg->get_topic(), &m)) {
      std::lock_guard lock(mutex);
      ++stats.bad_topics;
      return;
    }
    if (Duplicate(msg)) return;
    m.payload = msg->get_payload_str();
    // Refusals are counted by the ingestor (and on the device); nothing to answer over MQTT.
    (void)ingestor.Ingest(m, /*wait=*/false);
  }

  std::string Redacted() const {  // the URI without its password
    auto u = boost::urls::parse_uri(options.uri);
    if (!u) return "(invalid URI)";
    return fmt::format("{}://{}:{}", u->scheme(), u->host_address(), u->has_port() ? std::string(u->port()) : "default");
  }
};

Result<std::unique_ptr<MqttIngest>> MqttIngest::Start(Ingestor& ingestor, MqttIngestOptions options) {
  auto u = boost::urls::parse_uri(options.uri);
  if (!u) return Status::BadRequestData(fmt::format("--mqtt: '{}' is not a URI", options.uri.substr(0, 200)));
  const std::string scheme(u->scheme());
  const bool tls = scheme == "mqtts";
  if (!tls && scheme != "mqtt") return Status::BadRequestData("--mqtt must be an mqtt:// or mqtts:// URI");
  const std::string host = u->host_address();
  if (host.empty()) return Status::BadRequestData("--mqtt names no broker host");
  const std::string port = u->has_port() ? std::string(u->port()) : (tls ? "8883" : "1883");
  const bool v6 = host.find(':') != std::string::npos;
  const std::string server = fmt::format("{}://{}{}{}:{}", tls ? "ssl" : "tcp", v6 ? "[" : "", host, v6 ? "]" : "", port);

  auto impl = std::make_unique<Impl>(ingestor, options);
  try {
    mqtt::create_options create(MQTTVERSION_3_1_1);
    impl->client = std::make_unique<mqtt::async_client>(server, options.client_id, create);
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(false)  // the broker keeps our QoS 1 messages while we are away
                       .keep_alive_interval(std::chrono::seconds(30))
                       .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(30))
                       .max_inflight(1000);
    if (u->has_userinfo()) builder.user_name(u->user()).password(u->password());
    if (tls) {
      auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true).verify(true);
      if (!options.ca_file.empty()) ssl.trust_store(options.ca_file);
      impl->tls = std::make_unique<mqtt::ssl_options>(ssl.finalize());
      builder.ssl(*impl->tls);
    }
    impl->connect_options = builder.finalize();
    impl->client->set_callback(*impl);
    mqtt::token_ptr tok = impl->client->connect(impl->connect_options);
    if (!tok->wait_for(options.connect_timeout)) {
      impl->client->disable_callbacks();
      return Status(Status::Code::kUnavailable, fmt::format("timed out connecting to the MQTT broker {}", impl->Redacted()));
    }
    if (!impl->client->is_connected()) {
      impl->client->disable_callbacks();
      return Status(Status::Code::kUnavailable, fmt::format("the MQTT broker {} refused the connection (code {})",
                                                            impl->Redacted(), tok->get_return_code()));
    }
  } catch (const mqtt::exception& e) {
    if (impl->client) impl->client->disable_callbacks();
    return Status(Status::Code::kUnavailable, fmt::format("cannot connect to the MQTT broker {}: {} (code {})", impl->Redacted(),
                                                          e.get_message().substr(0, 200), e.get_return_code()));
  }
  return std::unique_ptr<MqttIngest>(new MqttIngest(std::move(impl)));
}

MqttIngest::MqttIngest(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MqttIngest::~MqttIngest() {
  try {
    impl_->client->disable_callbacks();
    if (impl_->client->is_connected()) impl_->client->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
  }
}

MqttIngestStats MqttIngest::Stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace cityhub::ingest
