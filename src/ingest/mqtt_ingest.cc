#include "ingest/mqtt_ingest.h"

#include <array>
#include <atomic>
#include <functional>
#include <condition_variable>
#include <mutex>
#include <unordered_set>
#include <vector>

#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "net/mqtt_client.h"

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

}  // namespace

// The filters cover every form ParseIngestTopic reads.
Result<std::vector<std::string>> IngestFilters(std::string_view shared_group) {
  if (shared_group.find_first_of("/+#") != std::string_view::npos ||
      shared_group.find('\0') != std::string_view::npos || shared_group.size() > 64) {
    return Status::BadRequestData("--mqtt-shared-group: a name of at most 64 characters without '/', '+' or '#'");
  }
  const std::string share = shared_group.empty() ? std::string() : fmt::format("$share/{}/", shared_group);
  std::vector<std::string> f;
  for (const char* lead : {"/", ""}) {
    for (const char* prefix : {"", "ul/", "json/"}) {
      f.push_back(fmt::format("{}{}{}+/+/attrs", share, lead, prefix));
      f.push_back(fmt::format("{}{}{}+/+/attrs/+", share, lead, prefix));
    }
  }
  return f;
}

namespace {

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

struct MqttIngest::Impl {
  Ingestor& ingestor;
  MqttIngestOptions options;
  std::vector<std::string> filters;  // IngestFilters(options.shared_group)
  mutable std::mutex mutex;
  MqttIngestStats stats;
  // Digests of the last messages, for dropping redeliveries.
  static constexpr size_t kRemembered = 65536;
  std::vector<uint64_t> ring = std::vector<uint64_t>(kRemembered, 0);
  size_t next = 0;
  std::unordered_multiset<uint64_t> seen;
  // Last, so that it is destroyed — its callbacks stopped — before the state they touch.
  std::unique_ptr<net::MqttClient> client;

  Impl(Ingestor& i, MqttIngestOptions o) : ingestor(i), options(std::move(o)) {}

  // The session is persistent, but subscribing again after each connect costs nothing and
  // covers a broker that lost it.
  void Connected() {
    {
      std::lock_guard lock(mutex);
      stats.connected = true;
    }
    spdlog::info("MQTT ingest: connected to {}", Redacted());
    if (Status s = client->Subscribe(filters, 1); !s.ok()) spdlog::warn("MQTT ingest: {}", s.message());
  }

  void ConnectionLost() {
    std::lock_guard lock(mutex);
    stats.connected = false;
    spdlog::warn("MQTT ingest: connection to the broker lost; reconnecting");
  }

  // True if the message is a redelivery of one already taken.
  bool Duplicate(const net::MqttMessage& msg) {
    const uint64_t digest =
        (std::hash<std::string_view>{}(msg.topic) * 31 + std::hash<std::string_view>{}(msg.payload)) | 1;  // never 0
    std::lock_guard lock(mutex);
    ++stats.received;
    if (msg.duplicate && seen.count(digest)) {
      ++stats.duplicates;
      return true;
    }
    if (ring[next] != 0) seen.erase(seen.find(ring[next]));
    ring[next] = digest;
    seen.insert(digest);
    next = (next + 1) % kRemembered;
    return false;
  }

  // Callbacks under way, so that the ingestor they call outlives them (Close).
  std::mutex calls_mutex;
  std::condition_variable calls_done;
  int calls = 0;
  bool closing = false;

  void MessageArrived(const net::MqttMessage& msg) {
    {
      std::lock_guard lock(calls_mutex);
      // Only after a disconnect that did not complete in time (Close): Paho acknowledges it
      // anyway, so it is lost — but the ingestor may be gone by the time it would be queued.
      if (closing) return;
      ++calls;
    }
    Take(msg);
    {
      std::lock_guard lock(calls_mutex);
      --calls;
    }
    calls_done.notify_all();
  }
  // No callback gets past MessageArrived's check after this returns, and none is under way.
  void Close() {
    std::unique_lock lock(calls_mutex);
    closing = true;
    calls_done.wait(lock, [&] { return calls == 0; });
  }

  void Take(const net::MqttMessage& msg) {
    DeviceMessage m;
    if (!ParseIngestTopic(msg.topic, &m)) {
      std::lock_guard lock(mutex);
      ++stats.bad_topics;
      return;
    }
    if (Duplicate(msg)) return;
    m.payload = std::string(msg.payload);
    // Refusals are counted by the ingestor (and on the device); nothing to answer over MQTT.
    (void)ingestor.Offer(std::move(m));
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

  auto filters = IngestFilters(options.shared_group);
  if (!filters.ok()) return filters.status();
  auto impl = std::make_unique<Impl>(ingestor, options);
  impl->filters = std::move(*filters);
  net::MqttClientOptions o;
  o.broker.tls = tls;
  o.broker.host = host;
  o.broker.port = u->has_port() ? std::string(u->port()) : (tls ? "8883" : "1883");
  if (u->has_userinfo()) {
    o.broker.has_user = true;
    o.broker.user = u->user();
    o.broker.password = u->password();
  }
  o.client_id = options.client_id;
  o.version = net::MqttVersion::k3_1_1;
  o.clean_session = false;  // the broker keeps our QoS 1 messages while we are away
  o.connect_timeout = options.connect_timeout;
  o.auto_reconnect = true;
  o.max_inflight = 1000;
  o.ca_file = options.ca_file;
  // No outbound policy: the operator named this broker (--mqtt), no client of the hub did.
  Impl* self = impl.get();
  o.on_connected = [self] { self->Connected(); };
  o.on_connection_lost = [self] { self->ConnectionLost(); };
  o.on_message = [self](const net::MqttMessage& m) { self->MessageArrived(m); };
  impl->client = std::make_unique<net::MqttClient>(std::move(o));
  if (Status connected = impl->client->Connect(); !connected.ok()) {
    return Status(Status::Code::kUnavailable, fmt::format("{}: {}", impl->Redacted(), connected.message()));
  }
  return std::unique_ptr<MqttIngest>(new MqttIngest(std::move(impl)));
}

MqttIngest::MqttIngest(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MqttIngest::~MqttIngest() {
  impl_->client->Disconnect(std::chrono::seconds(2));
  // A callback may still be waiting for room in the ingestor's queues (it gets it: the decode
  // thread and the writers run on); the ingestor must outlive it.
  impl_->Close();
}

MqttIngestStats MqttIngest::Stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace cityhub::ingest
