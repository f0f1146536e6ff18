/* MQTT notification delivery.
 *
 * Design. net::MqttClient does the protocol (and the outbound policy check before each
 * connect); what is ours is connection management. Sends are queued to one thread owned by the
 * sender, which finds the connection for the endpoint (scheme, host, port, user, password, MQTT
 * version), connects it if needed — blocking that thread for at most connect_timeout — and
 * starts the publish; the outcome arrives on the client's thread, or, if the broker has not
 * acknowledged within publish_timeout, the sender's thread reports a failure (whichever is
 * first wins). A broker that could not be reached is not tried again for reconnect_pause: sends
 * to it fail at once, so a dead broker costs the other MQTT endpoints one connect timeout per
 * pause, not one per notification (the notifier's own backoff spaces the retries further).
 * A broker the outbound policy refuses, or whose name does not resolve, is not a connect
 * attempt: its sends fail with that reason each time, without the pause.
 */
#include "broker/mqtt_sender.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "net/mqtt_client.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/thread_name.h"

namespace cityhub::broker {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMaxInflight = 65535;  // the MQTT packet-id space

struct Target {
  net::MqttBroker broker;
  std::string topic;
  net::MqttVersion version = net::MqttVersion::k5;
  int qos = 0;
  std::string key() const {
    const net::MqttBroker& b = broker;
    return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", b.tls, b.host, b.port, b.has_user, b.user, b.password,
                       static_cast<int>(version));
  }
};

std::string Find(const KeyValues& kv, std::string_view key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return v;
  }
  return {};
}

// The target of `n`, or an error message.
std::variant<Target, std::string> ParseTarget(const OutgoingNotification& n) {
  auto u = boost::urls::parse_uri(n.uri);
  if (!u) return std::string("not a valid URI");
  const std::string scheme(u->scheme());
  Target t;
  const bool tls = scheme == "mqtts" || scheme == "MQTTS";
  if (!tls && scheme != "mqtt" && scheme != "MQTT") return std::string("not an mqtt(s) URI");
  const std::string host = u->host_address();
  if (host.empty()) return std::string("no broker host");
  t.broker.tls = tls;
  t.broker.host = host;
  t.broker.port = u->has_port() ? std::string(u->port()) : (tls ? "8883" : "1883");
  if (u->has_userinfo()) {
    t.broker.has_user = true;
    t.broker.user = u->user();
    t.broker.password = u->password();
  }
  std::string path = u->path();
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  if (path.empty()) return std::string("no topic");
  t.topic = path;
  const std::string version = Find(n.notifier_info, "MQTT-Version");
  if (version == "mqtt3.1.1") {
    t.version = net::MqttVersion::k3_1_1;
  } else if (!version.empty() && version != "mqtt5.0") {
    return fmt::format("unsupported MQTT-Version '{}'", version.substr(0, 40));
  }
  const std::string qos = Find(n.notifier_info, "MQTT-QoS");
  if (qos == "1" || qos == "2") {
    t.qos = qos[0] - '0';
  } else if (!qos.empty() && qos != "0") {
    return fmt::format("unsupported MQTT-QoS '{}'", qos.substr(0, 40));
  }
  return t;
}

// {"metadata": {...}, "body": <notification>}: the body is spliced in as already serialized.
std::string Payload(const OutgoingNotification& n, const EndpointPolicy& rules) {
  boost::json::object metadata;
  metadata["Content-Type"] = n.content_type;
  if (!n.link.empty()) metadata["Link"] = n.link;
  if (!n.tenant.empty()) metadata["NGSILD-Tenant"] = n.tenant;
  for (const auto& [k, v] : n.receiver_info) {
    if (rules.HeaderAllowed(k)) metadata[k] = v;
  }
  std::string out = "{\"metadata\":";
  out += util::SerializeJson(metadata);
  out += ",\"body\":";
  out += n.body;
  out += "}";
  return out;
}

// One publish's outcome, reported once: by the client's callback or by the publish timeout,
// whichever comes first.
struct PendingPublish {
  std::function<void(DeliveryOutcome)> done;
  std::atomic<bool> reported{false};
  Clock::time_point deadline;

  void Report(DeliveryOutcome outcome) {
    if (!reported.exchange(true)) done(std::move(outcome));
  }
};

struct Connection {
  std::unique_ptr<net::MqttClient> client;
  Clock::time_point failed_at{};  // of the last failed connect
};

struct Job {
  OutgoingNotification n;
  std::function<void(DeliveryOutcome)> done;
};

}  // namespace

struct MqttSender::Impl {
  MqttSenderOptions options;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> jobs;
  bool stopping = false;
  std::thread thread;
  std::map<std::string, Connection> connections;  // touched on `thread` only
  std::vector<std::shared_ptr<PendingPublish>> in_flight;  // touched on `thread` only

  net::MqttClientOptions ClientOptions(const Target& t) const {
    net::MqttClientOptions o;
    o.broker = t.broker;
    o.client_id = fmt::format("cityhub-{}", util::RandomUuid());
    o.version = t.version;
    o.clean_session = true;
    o.connect_timeout = options.connect_timeout;
    // Every subscription to this broker may have one QoS 1/2 publish unacknowledged; Paho's
    // default of 10 would queue the rest. It also refuses a publish while 100 commands are
    // queued (counted whether connected or not): under load that turned into failed attempts
    // and backoff.
    o.max_inflight = kMaxInflight;
    o.max_buffered = kMaxInflight;
    o.ca_file = options.ca_file;
    // Aliases the policy's address rule (never null: a sender always checks).
    o.addresses = std::shared_ptr<const net::AddressPolicy>(options.endpoints, &options.endpoints->addresses());
    o.purpose = "notification";
    return o;
  }

  // The connected client for `t`, or null with *reason set.
  net::MqttClient* Connected(const Target& t, std::string* reason) {
    Connection& c = connections[t.key()];
    if (c.client && c.client->connected()) return c.client.get();
    if (Clock::now() - c.failed_at < options.reconnect_pause) {
      *reason = "the MQTT broker could not be reached";
      return nullptr;
    }
    if (!c.client) c.client = std::make_unique<net::MqttClient>(ClientOptions(t));
    const Status connected = c.client->Connect();
    if (!connected.ok()) {
      // Refused by the policy or not resolved: no connect was attempted, so no pause.
      if (connected.code() == Status::Code::kUnavailable) c.failed_at = Clock::now();
      *reason = connected.message();
      return nullptr;
    }
    return c.client.get();
  }

  void Handle(Job job) {
    auto parsed = ParseTarget(job.n);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      job.done(DeliveryOutcome{false, *error});
      return;
    }
    const Target& t = std::get<Target>(parsed);
    std::string reason;
    net::MqttClient* client = Connected(t, &reason);
    if (!client) {
      job.done(DeliveryOutcome{false, reason});
      return;
    }
    const std::string payload = Payload(job.n, *options.endpoints);
    auto pending = std::make_shared<PendingPublish>();
    pending->done = std::move(job.done);
    pending->deadline = Clock::now() + options.publish_timeout;
    const Status taken = client->Publish(t.topic, payload, t.qos, /*retain=*/false, [pending](bool ok) {
      pending->Report(ok ? DeliveryOutcome{true, {}} : DeliveryOutcome{false, "the MQTT broker did not take the message"});
    });
    if (taken.ok()) {
      in_flight.push_back(std::move(pending));
    } else {
      pending->Report(DeliveryOutcome{false, "the MQTT broker did not take the message"});
    }
  }

  // Fails the publishes past their deadline and forgets the reported ones.
  void ExpirePublishes() {
    const Clock::time_point now = Clock::now();
    std::erase_if(in_flight, [now](const std::shared_ptr<PendingPublish>& p) {
      if (!p->reported && now >= p->deadline) p->Report(DeliveryOutcome{false, "timed out waiting for the MQTT broker"});
      return p->reported.load();
    });
  }

  void Run() {
    for (;;) {
      std::optional<Job> job;
      {
        std::unique_lock lock(mutex);
        wake.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping || !jobs.empty(); });
        if (stopping) return;
        if (!jobs.empty()) {
          job = std::move(jobs.front());
          jobs.pop_front();
        }
      }
      if (job) Handle(std::move(*job));
      ExpirePublishes();
    }
  }
};

MqttSender::MqttSender(MqttSenderOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (!impl_->options.endpoints) impl_->options.endpoints = std::make_shared<const EndpointPolicy>();
  impl_->thread = std::thread([this] {
    util::NameThisThread("notify-mqtt");
    impl_->Run();
  });
}

MqttSender::~MqttSender() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->thread.join();
  for (auto& [key, c] : impl_->connections) {
    if (c.client) c.client->Disconnect(std::chrono::seconds(1));
  }
}

void MqttSender::Send(OutgoingNotification n, std::function<void(DeliveryOutcome)> done) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->jobs.push_back(Job{std::move(n), std::move(done)});
  }
  impl_->wake.notify_one();
}

}  // namespace cityhub::broker
