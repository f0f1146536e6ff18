/* MQTT notification delivery.
 *
 * Design. Paho's async client does the protocol and its own network threads; what is ours is
 * connection management. Sends are queued to one thread owned by the sender, which finds the
 * connection for the endpoint (scheme, host, port, user, password, MQTT version), connects it
 * if needed — blocking that thread for at most connect_timeout — and starts the publish; the
 * outcome arrives on Paho's thread through a listener, or, if the broker has not acknowledged
 * within publish_timeout, the sender's thread reports a failure (whichever is first wins). A broker
 * that could not be reached is not tried again for reconnect_pause: sends to it fail at once,
 * so a dead broker costs the other MQTT endpoints one connect timeout per pause, not one per
 * notification (the notifier's own backoff spaces the retries further).
 *
 * Outbound policy. Before each connect the sender resolves the broker's host itself and keeps
 * the addresses the policy allows; none left fails the send with the one reason every refused
 * address gets, without a connection attempt. For mqtt:// Paho is then handed the checked
 * address itself, so no second lookup can answer differently. For mqtts:// Paho must be given
 * the host name, which its certificate check and SNI need, and resolves it again: there every
 * resolved address must be allowed, and what a DNS server rebinding between the two lookups
 * could reach is a TLS handshake that fails, since the internal server holds no certificate for
 * the name — no MQTT message is sent to it.
 */
#include "broker/mqtt_sender.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>
#include <variant>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include "net/address_policy.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/thread_name.h"

namespace cityhub::broker {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kMaxInflight = 65535;  // the MQTT packet-id space

struct Target {
  bool tls = false;    // mqtts
  std::string host;    // as the URI names it (no brackets)
  std::string port;
  std::string user;
  std::string password;
  bool has_user = false;
  std::string topic;
  int version = MQTTVERSION_5;
  int qos = 0;
  std::string key() const {
    return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", tls, host, port, has_user, user, password, version);
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
  t.tls = tls;
  t.host = host;
  t.port = u->has_port() ? std::string(u->port()) : (tls ? "8883" : "1883");
  if (u->has_userinfo()) {
    t.has_user = true;
    t.user = u->user();
    t.password = u->password();
  }
  std::string path = u->path();
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  if (path.empty()) return std::string("no topic");
  t.topic = path;
  const std::string version = Find(n.notifier_info, "MQTT-Version");
  if (version == "mqtt3.1.1") {
    t.version = MQTTVERSION_3_1_1;
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

// Paho's server URI: tcp://host:port or ssl://host:port, an IPv6 address in brackets.
std::string ServerUri(bool tls, const std::string& host, const std::string& port) {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", tls ? "ssl" : "tcp", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

// The addresses `host` resolves to (blocking, on the sender's thread like Paho's own connect).
std::vector<net::IpAddress> Resolve(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::vector<net::IpAddress> out;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return out;
  for (addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      std::array<uint8_t, 4> b{};
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, 4);
      out.push_back(net::IpAddress::V4(b));
    } else if (a->ai_family == AF_INET6) {
      std::array<uint8_t, 16> b{};
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, 16);
      out.push_back(net::IpAddress::V6(b));
    }
  }
  ::freeaddrinfo(found);
  return out;
}

// Paho C (1.3.12, Debian 12) never sets TCP_NODELAY on its sockets (upstream issue #530), so a
// publish written while the previous one is unacknowledged at TCP level waits for that ACK —
// which the broker may delay by tens of ms — or for a full segment: QoS 0 notifications took
// ~15 ms at 5,000/s. Paho does not expose its socket, so after a connect every TCP socket of
// this process connected to the broker's address and port gets TCP_NODELAY (harmless for any
// other connection to the same broker).
void DisableNagle(const std::string& server) {
  const size_t scheme = server.find("://");
  const size_t colon = server.rfind(':');
  if (scheme == std::string::npos || colon == std::string::npos || colon < scheme + 3) return;
  std::string host = server.substr(scheme + 3, colon - scheme - 3);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port = server.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return;
  std::vector<sockaddr_storage> broker;
  for (addrinfo* a = found; a; a = a->ai_next) {
    sockaddr_storage s{};
    std::memcpy(&s, a->ai_addr, std::min<size_t>(a->ai_addrlen, sizeof s));
    broker.push_back(s);
  }
  ::freeaddrinfo(found);
  auto same = [](const sockaddr_storage& a, const sockaddr_storage& b) {
    if (a.ss_family != b.ss_family) return false;
    if (a.ss_family == AF_INET) {
      const auto &x = reinterpret_cast<const sockaddr_in&>(a), &y = reinterpret_cast<const sockaddr_in&>(b);
      return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    const auto &x = reinterpret_cast<const sockaddr_in6&>(a), &y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  };
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    const std::string name = entry.path().filename().string();
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (std::none_of(broker.begin(), broker.end(), [&](const sockaddr_storage& b) { return same(peer, b); })) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
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

// One publish's outcome, reported once: by Paho's callback or by the publish timeout,
// whichever comes first.
struct PendingPublish {
  std::function<void(DeliveryOutcome)> done;
  std::atomic<bool> reported{false};
  Clock::time_point deadline;

  void Report(DeliveryOutcome outcome) {
    if (!reported.exchange(true)) done(std::move(outcome));
  }
};

// Paho's listener for one publish; deletes itself when Paho reports (Paho reports every
// publish, at the latest with a failure when the connection goes).
class PublishListener : public mqtt::iaction_listener {
 public:
  explicit PublishListener(std::shared_ptr<PendingPublish> pending) : pending_(std::move(pending)) {}
  void on_success(const mqtt::token&) override {
    pending_->Report(DeliveryOutcome{true, {}});
    delete this;
  }
  void on_failure(const mqtt::token&) override {
    pending_->Report(DeliveryOutcome{false, "the MQTT broker did not take the message"});
    delete this;
  }

 private:
  std::shared_ptr<PendingPublish> pending_;
};

struct Connection {
  std::unique_ptr<mqtt::ssl_options> tls;  // mqtts: outlives the client's connects
  std::unique_ptr<mqtt::async_client> client;
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
  std::set<std::string> refused_hosts;  // already logged (on `thread` only; bounded)

  // The server URI to connect `t` through — the checked address itself for mqtt://, the name
  // for mqtts:// when every address it resolves to is allowed — or "" with *reason set.
  std::string CheckedServer(const Target& t, std::string* reason) {
    const std::vector<net::IpAddress> resolved = Resolve(t.host, t.port);
    if (resolved.empty()) {
      *reason = "host name not resolved";
      return {};
    }
    const net::AddressPolicy& policy = options.endpoints->addresses();
    auto allowed = [&policy](const net::IpAddress& a) { return policy.Allows(a); };
    auto refused = std::find_if_not(resolved.begin(), resolved.end(), allowed);
    auto usable = std::find_if(resolved.begin(), resolved.end(), allowed);
    if (usable == resolved.end() || (t.tls && refused != resolved.end())) {
      const net::IpAddress& shown = refused != resolved.end() ? *refused : resolved.front();
      if (refused_hosts.size() >= 1024) refused_hosts.clear();
      if (refused_hosts.insert(t.host).second) {
        spdlog::warn("notification to MQTT broker '{}' refused: {} is a {} address, not allowed by the outbound "
                     "policy (--outbound-allow)", t.host.substr(0, 200), shown.ToString(),
                     net::AddressPolicy::SpecialRange(shown).value_or("special-purpose"));
      }
      *reason = std::string(net::kAddressRefused);
      return {};
    }
    return ServerUri(t.tls, t.tls ? t.host : usable->ToString(), t.port);
  }

  // The connected client for `t`, or null with *reason set.
  mqtt::async_client* Connected(const Target& t, std::string* reason) {
    Connection& c = connections[t.key()];
    if (c.client && c.client->is_connected()) return c.client.get();
    if (Clock::now() - c.failed_at < options.reconnect_pause) {
      *reason = "the MQTT broker could not be reached";
      return nullptr;
    }
    const std::string server = CheckedServer(t, reason);
    if (server.empty()) return nullptr;
    try {
      if (c.client && c.client->get_server_uri() != server) {  // the name resolves elsewhere now
        c.client.reset();
        c.tls.reset();
      }
      if (!c.client) {
        // Paho refuses a publish while 100 of the client's commands are queued (its default
        // maxBufferedMessages, counted whether connected or not): under load that turned
        // into failed attempts and backoff. Not buffering while disconnected stays off.
        mqtt::create_options create(t.version);
        create.set_max_buffered_messages(kMaxInflight);
        c.client = std::make_unique<mqtt::async_client>(server, fmt::format("cityhub-{}", util::RandomUuid()), create);
      }
      auto builder = mqtt::connect_options_builder()
                         .mqtt_version(t.version)
                         .connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(options.connect_timeout) +
                                          std::chrono::seconds(1))
                         .keep_alive_interval(std::chrono::seconds(30))
                         // Every subscription to this broker may have one QoS 1/2 publish
                         // unacknowledged; Paho's default of 10 would queue the rest.
                         .max_inflight(kMaxInflight);
      if (t.version == MQTTVERSION_5) {
        builder.clean_start(true);
      } else {
        builder.clean_session(true);
      }
      if (t.has_user) builder.user_name(t.user).password(t.password);
      if (t.tls) {
        // Paho C trusts the system store (OpenSSL's default paths) unless given a file, then only
        // that file. (A CApath beside it arrives empty through Paho C++ 1.2 — "invalid
        // directory" — so none is given.)
        auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true).verify(true);
        if (!options.ca_file.empty()) ssl.trust_store(options.ca_file);
        // Kept with the connection, so that the strings its C struct points to outlive every connect.
        c.tls = std::make_unique<mqtt::ssl_options>(ssl.finalize());
        c.tls->set_error_handler([](const std::string& why) { spdlog::warn("MQTT TLS: {}", why.substr(0, 300)); });
        builder.ssl(*c.tls);
      }
      mqtt::token_ptr tok = c.client->connect(builder.finalize());
      if (!tok->wait_for(options.connect_timeout)) {
        c.failed_at = Clock::now();
        *reason = "timed out connecting to the MQTT broker";
        return nullptr;
      }
      if (!c.client->is_connected()) {
        c.failed_at = Clock::now();
        *reason = fmt::format("cannot connect to the MQTT broker (code {})", tok->get_return_code());
        return nullptr;
      }
      DisableNagle(server);
    } catch (const mqtt::exception& e) {
      c.failed_at = Clock::now();
      *reason = fmt::format("cannot connect to the MQTT broker (code {})", e.get_return_code());
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
    mqtt::async_client* client = Connected(t, &reason);
    if (!client) {
      job.done(DeliveryOutcome{false, reason});
      return;
    }
    const std::string payload = Payload(job.n, *options.endpoints);
    auto pending = std::make_shared<PendingPublish>();
    pending->done = std::move(job.done);
    pending->deadline = Clock::now() + options.publish_timeout;
    auto* listener = new PublishListener(pending);
    try {
      client->publish(t.topic, payload.data(), payload.size(), t.qos, false, nullptr, *listener);
      in_flight.push_back(std::move(pending));
    } catch (const mqtt::exception&) {
      delete listener;  // Paho did not take it, so it will not call it
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
    if (!c.client || !c.client->is_connected()) continue;
    try {
      c.client->disconnect(std::chrono::milliseconds(500))->wait_for(std::chrono::seconds(1));
    } catch (const mqtt::exception&) {
    }
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
