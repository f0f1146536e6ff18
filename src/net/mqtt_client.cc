/* MQTT client over Eclipse Paho C++.
 *
 * Design. Paho's async client does the protocol and runs its own network and callback threads;
 * this unit owns what the hub's users share: building Paho's options from MqttClientOptions,
 * the outbound policy check before a connect, bounded waits, and turning Paho's exceptions
 * into Status values. One Paho client is bound to one server URI, so when the checked address
 * of the broker changes between connects the Paho client is replaced (held by shared_ptr, so a
 * Publish on another thread keeps the old one alive until it returns).
 *
 * Outbound policy (when MqttClientOptions::addresses is set). Before each connect the client
 * resolves the broker's host itself and keeps the addresses the policy allows; none left fails
 * the connect with the one reason every refused address gets, without a connection attempt.
 * For mqtt:// Paho is then handed the checked address itself, so no second lookup can answer
 * differently. For mqtts:// Paho must be given the host name, which its certificate check and
 * SNI need, and resolves it again: there every resolved address must be allowed, and what a DNS
 * server rebinding between the two lookups could reach is a TLS handshake that fails, since the
 * internal server holds no certificate for the name — no MQTT message is sent to it. Without a
 * policy Paho is given the host name as it is.
 */
#include "net/mqtt_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

namespace cityhub::net {
namespace {

int PahoVersion(MqttVersion v) { return v == MqttVersion::k5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1; }

// Paho's server URI: tcp://host:port or ssl://host:port, an IPv6 address in brackets.
std::string ServerUri(bool tls, const std::string& host, const std::string& port) {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}", tls ? "ssl" : "tcp", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

// The addresses `host` resolves to (blocking, like Paho's own connect).
std::vector<IpAddress> Resolve(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::vector<IpAddress> out;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return out;
  for (addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      std::array<uint8_t, 4> b{};
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, 4);
      out.push_back(IpAddress::V4(b));
    } else if (a->ai_family == AF_INET6) {
      std::array<uint8_t, 16> b{};
      std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, 16);
      out.push_back(IpAddress::V6(b));
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
// other connection to the same broker). Done after Connect only: a connection Paho reopens by
// itself (auto_reconnect) keeps Nagle, since resolving names on Paho's callback thread would
// hold up message delivery.
void DisableNagle(const std::string& host, const std::string& port) {
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

// Paho's listener for one publish or subscribe; deletes itself when Paho reports (Paho reports
// every request it took, at the latest with a failure when the connection goes).
class OutcomeListener : public mqtt::iaction_listener {
 public:
  explicit OutcomeListener(std::function<void(bool)> done) : done_(std::move(done)) {}
  void on_success(const mqtt::token&) override {
    if (done_) done_(true);
    delete this;
  }
  void on_failure(const mqtt::token&) override {
    if (done_) done_(false);
    delete this;
  }

 private:
  std::function<void(bool)> done_;
};

}  // namespace

struct MqttClient::Impl : public mqtt::callback {
  MqttClientOptions options;
  std::unique_ptr<mqtt::ssl_options> tls;      // mqtts: outlives the client's connects
  mutable std::mutex mutex;                    // guards `client` (the pointer, not the client)
  std::shared_ptr<mqtt::async_client> client;  // null until the first Connect
  std::set<std::string> refused_hosts;         // already logged (bounded)

  std::shared_ptr<mqtt::async_client> Client() const {
    std::lock_guard lock(mutex);
    return client;
  }

  // The host to hand Paho — the checked address itself for mqtt://, the name for mqtts:// when
  // every address it resolves to is allowed, the name as it is without a policy — or an error.
  Result<std::string> CheckedHost() {
    const MqttBroker& b = options.broker;
    if (!options.addresses) return b.host;
    const std::vector<IpAddress> resolved = Resolve(b.host, b.port);
    if (resolved.empty()) return Status::NotFound("host name not resolved");
    auto allowed = [this](const IpAddress& a) { return options.addresses->Allows(a); };
    auto refused = std::find_if_not(resolved.begin(), resolved.end(), allowed);
    auto usable = std::find_if(resolved.begin(), resolved.end(), allowed);
    if (usable == resolved.end() || (b.tls && refused != resolved.end())) {
      LogRefused(refused != resolved.end() ? *refused : resolved.front());
      return Status::PermissionDenied(std::string(kAddressRefused));
    }
    return b.tls ? b.host : usable->ToString();
  }

  // Tells the operator, once per host, which address the policy refused and why (the caller
  // only learns that it was refused).
  void LogRefused(const IpAddress& shown) {
    if (refused_hosts.size() >= 1024) refused_hosts.clear();
    if (!refused_hosts.insert(options.broker.host).second) return;
    spdlog::warn("{} to MQTT broker '{}' refused: {} is a {} address, not allowed by the outbound policy "
                 "(--outbound-allow)", options.purpose, options.broker.host.substr(0, 200), shown.ToString(),
                 AddressPolicy::SpecialRange(shown).value_or("special-purpose"));
  }

  // A Paho client bound to `server`: the current one, or a new one when there is none or it is
  // bound elsewhere (the name resolves elsewhere now).
  std::shared_ptr<mqtt::async_client> ClientFor(const std::string& server) {
    std::shared_ptr<mqtt::async_client> current = Client();
    if (current && current->get_server_uri() == server) return current;
    if (current) current->disable_callbacks();
    mqtt::create_options create(PahoVersion(options.version));
    create.set_max_buffered_messages(options.max_buffered);
    auto fresh = std::make_shared<mqtt::async_client>(server, options.client_id, create);
    fresh->set_callback(*this);
    std::lock_guard lock(mutex);
    client = fresh;
    return fresh;
  }

  mqtt::connect_options ConnectOptions() {
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(PahoVersion(options.version))
                       // Paho's own limit a little past ours, so it gives up soon after we stop waiting.
                       .connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(options.connect_timeout) +
                                        std::chrono::seconds(1))
                       .keep_alive_interval(options.keep_alive)
                       .max_inflight(options.max_inflight);
    if (options.version == MqttVersion::k5) {
      builder.clean_start(options.clean_session);
    } else {
      builder.clean_session(options.clean_session);
    }
    if (options.auto_reconnect) builder.automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(30));
    const MqttBroker& b = options.broker;
    if (b.has_user) builder.user_name(b.user).password(b.password);
    if (b.tls) {
      // Paho C trusts the system store (OpenSSL's default paths) unless given a file, then only
      // that file. (A CApath beside it arrives empty through Paho C++ 1.2 — "invalid
      // directory" — so none is given.)
      auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true).verify(true);
      if (!options.ca_file.empty()) ssl.trust_store(options.ca_file);
      // Kept here, so that the strings its C struct points to outlive every connect.
      tls = std::make_unique<mqtt::ssl_options>(ssl.finalize());
      tls->set_error_handler([](const std::string& why) { spdlog::warn("MQTT TLS: {}", why.substr(0, 300)); });
      builder.ssl(*tls);
    }
    return builder.finalize();
  }

  void connected(const std::string&) override {
    if (options.on_connected) options.on_connected();
  }
  void connection_lost(const std::string&) override {
    if (options.on_connection_lost) options.on_connection_lost();
  }
  void message_arrived(mqtt::const_message_ptr msg) override {
    if (!options.on_message) return;
    const std::string& payload = msg->get_payload();
    options.on_message(MqttMessage{msg->get_topic(), payload, msg->get_qos(), msg->is_duplicate()});
  }
};

MqttClient::MqttClient(MqttClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

MqttClient::~MqttClient() { Disconnect(); }

Status MqttClient::Connect() {
  if (connected()) return Status::Ok();
  Result<std::string> host = impl_->CheckedHost();
  if (!host.ok()) return host.status();
  const MqttBroker& broker = impl_->options.broker;
  try {
    std::shared_ptr<mqtt::async_client> client = impl_->ClientFor(ServerUri(broker.tls, *host, broker.port));
    mqtt::token_ptr tok = client->connect(impl_->ConnectOptions());
    if (!tok->wait_for(impl_->options.connect_timeout)) {
      return Status(Status::Code::kUnavailable, "timed out connecting to the MQTT broker");
    }
    if (!client->is_connected()) {
      return Status(Status::Code::kUnavailable,
                    fmt::format("cannot connect to the MQTT broker (code {})", tok->get_return_code()));
    }
  } catch (const mqtt::exception& e) {
    return Status(Status::Code::kUnavailable,
                  fmt::format("cannot connect to the MQTT broker (code {})", e.get_return_code()));
  }
  DisableNagle(*host, broker.port);
  return Status::Ok();
}

bool MqttClient::connected() const {
  std::shared_ptr<mqtt::async_client> client = impl_->Client();
  return client && client->is_connected();
}

Status MqttClient::Publish(const std::string& topic, std::string_view payload, int qos, bool retain,
                           std::function<void(bool taken)> done) {
  std::shared_ptr<mqtt::async_client> client = impl_->Client();
  if (!client) return Status(Status::Code::kUnavailable, "not connected to the MQTT broker");
  auto* listener = new OutcomeListener(std::move(done));
  try {
    client->publish(topic, payload.data(), payload.size(), qos, retain, nullptr, *listener);
  } catch (const mqtt::exception& e) {
    delete listener;  // Paho did not take it, so it will not call it
    const int rc = e.get_return_code();
    if (rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES) {
      return Status(kBusy, "the MQTT client's send window is full");
    }
    return Status(Status::Code::kUnavailable, fmt::format("the MQTT client did not take the message (code {})", rc));
  }
  return Status::Ok();
}

Status MqttClient::Subscribe(const std::vector<std::string>& filters, int qos,
                             std::function<void(bool acknowledged)> done) {
  std::shared_ptr<mqtt::async_client> client = impl_->Client();
  if (!client) return Status(Status::Code::kUnavailable, "not connected to the MQTT broker");
  auto* listener = new OutcomeListener(std::move(done));
  try {
    client->subscribe(mqtt::string_collection::create(filters), std::vector<int>(filters.size(), qos), nullptr,
                      *listener);
  } catch (const mqtt::exception& e) {
    delete listener;  // Paho did not take it, so it will not call it
    return Status(Status::Code::kUnavailable, fmt::format("cannot subscribe: {}", e.what()));
  }
  return Status::Ok();
}

size_t MqttClient::WaitForDeliveries(std::chrono::milliseconds each) {
  std::shared_ptr<mqtt::async_client> client = impl_->Client();
  if (!client) return 0;
  size_t missing = 0;
  for (const auto& token : client->get_pending_delivery_tokens()) {
    try {
      if (!token->wait_for(each)) ++missing;
    } catch (const mqtt::exception&) {
      ++missing;
    }
  }
  return missing;
}

void MqttClient::Disconnect(std::chrono::milliseconds limit) {
  std::shared_ptr<mqtt::async_client> client = impl_->Client();
  if (!client) return;
  try {
    client->disable_callbacks();
    if (client->is_connected()) client->disconnect(limit / 2)->wait_for(limit);
  } catch (const mqtt::exception&) {
  }
}

}  // namespace cityhub::net
