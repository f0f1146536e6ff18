// Tests for MqttSender against a real mosquitto started by the test on a free loopback port
// (/usr/sbin/mosquitto, installed by scripts/setup.sh; its absence fails the tests), with
// mosquitto_sub reading what arrives: the payload {"metadata": {...}, "body": ...} on the
// URI's topic, QoS and MQTT versions, invalid notifierInfo, a broker that is down (fails fast,
// then reconnect_pause, then succeeds once it is up), a broker that restarts, and a fake broker
// that never acknowledges a QoS 1 publish (publish_timeout).
#include "broker/mqtt_sender.h"

#include "loopback.h"
#include "../net/mosquitto.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

namespace cityhub::broker {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using cityhub::testing::kMosquitto;
using cityhub::testing::Mosquitto;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

constexpr const char* kMosquittoSub = "/usr/bin/mosquitto_sub";
constexpr const char* kStdbuf = "/usr/bin/stdbuf";

// A message as mosquitto_sub printed it.
struct Received {
  std::string topic;
  int qos = -1;
  std::string payload;
};

// mosquitto_sub (a separate process, so the only Paho clients here are the sender's) on one
// topic filter at QoS 2, printing "MSG <topic> <qos> <payload>" per message; the constructor
// returns once the broker acknowledged the subscription.
class Subscriber {
 public:
  Subscriber(unsigned short port, const std::string& filter) {
    static std::atomic<int> n{0};
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    const std::string port_text = std::to_string(port);
    const std::string id = fmt::format("cityhub-test-sub-{}-{}", ::getpid(), ++n);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 2);
      ::close(fds[0]);
      // Line-buffered (stdbuf), or the -d lines would sit in a pipe buffer.
      ::execl(kStdbuf, kStdbuf, "-oL", kMosquittoSub, "-h", "127.0.0.1", "-p", port_text.c_str(), "-t", filter.c_str(), "-q",
              "2", "-i", id.c_str(), "-d", "-F", "MSG %t %q %p", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
    const auto until = Clock::now() + 10s;
    while (Clock::now() < until) {
      std::optional<std::string> line = Line(until);
      if (!line) break;
      if (line->find("received SUBACK") != std::string::npos) return;
    }
    ADD_FAILURE() << "mosquitto_sub did not subscribe to '" << filter << "' on port " << port;
  }
  ~Subscriber() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(fd_);
  }

  // The next message, if one arrives within `limit`.
  std::optional<Received> Next(std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (std::optional<std::string> line = Line(until)) {
      if (!line->starts_with("MSG ")) continue;  // -d debug lines
      Received r;
      const size_t topic_end = line->find(' ', 4);
      const size_t qos_end = line->find(' ', topic_end + 1);
      if (topic_end == std::string::npos || qos_end == std::string::npos) continue;
      r.topic = line->substr(4, topic_end - 4);
      r.qos = std::stoi(line->substr(topic_end + 1, qos_end - topic_end - 1));
      r.payload = line->substr(qos_end + 1);
      return r;
    }
    return std::nullopt;
  }

 private:
  // The next output line, if it comes before `until`.
  std::optional<std::string> Line(Clock::time_point until) {
    for (;;) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      ssize_t got = ::read(fd_, buf, sizeof buf);
      if (got <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<size_t>(got));
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

DeliveryOutcome SendAndWait(MqttSender& sender, OutgoingNotification n, std::chrono::milliseconds limit = 15s) {
  auto promise = std::make_shared<std::promise<DeliveryOutcome>>();
  auto future = promise->get_future();
  sender.Send(std::move(n), [promise](DeliveryOutcome outcome) { promise->set_value(std::move(outcome)); });
  if (future.wait_for(limit) != std::future_status::ready) {
    return DeliveryOutcome{false, fmt::format("test: no outcome within {} ms", limit.count())};
  }
  return future.get();
}

OutgoingNotification Notification(std::string uri) {
  OutgoingNotification n;
  n.uri = std::move(uri);
  n.content_type = "application/json";
  n.body = R"({"id":"urn:ngsi-ld:Notification:1","type":"Notification","subscriptionId":"urn:s:1",)"
           R"("notifiedAt":"2024-01-01T00:00:00.000Z","data":[{"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot"}]})";
  return n;
}

class MqttSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* binary : {kMosquitto, kMosquittoSub}) {
      ASSERT_EQ(::access(binary, X_OK), 0)
          << binary << " is not installed (or not executable); scripts/setup.sh installs mosquitto for these tests";
    }
    std::random_device rd;
    dir_ = fs::temp_directory_path() / fmt::format("cityhub-mqtt-sender-test-{}-{}", ::getpid(), rd());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    brokers_.clear();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A broker on a free port, started.
  Mosquitto& StartBroker(unsigned short port = 0) {
    brokers_.push_back(std::make_unique<Mosquitto>(dir_, port ? port : UnusedPort()));
    EXPECT_TRUE(brokers_.back()->Start());
    return *brokers_.back();
  }

  fs::path dir_;
  std::vector<std::unique_ptr<Mosquitto>> brokers_;
};

// The default outbound policy refuses loopback: a listening "broker" never sees a connection,
// by literal address or by a name resolving to it, for mqtt:// and mqtts:// alike.
TEST(MqttSenderPolicyTest, RefusedAddressesAreNeverConnectedTo) {
  unsigned short port = 0;
  const int listening = BindLoopback(&port, 8);
  MqttSender sender;  // the default policy: public addresses only
  for (std::string uri : {"mqtt://127.0.0.1:{}/t", "mqtt://localhost:{}/t", "mqtts://localhost:{}/t",
                          "mqtt://[::ffff:127.0.0.1]:{}/t"}) {
    uri = fmt::format(fmt::runtime(uri), port);
    DeliveryOutcome out = SendAndWait(sender, Notification(uri), 5s);
    EXPECT_FALSE(out.ok) << uri;
    EXPECT_EQ(out.reason, "address not allowed by the outbound policy") << uri;
  }
  pollfd p{listening, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "a connection reached the refused broker";
  ::close(listening);
}

TEST_F(MqttSenderTest, ThePayloadIsMetadataAndBodyOnTheUrisTopic) {
  Mosquitto& broker = StartBroker();
  Subscriber sub(broker.port(), "cityhub/#");
  MqttSender sender(WithLoopback<MqttSenderOptions>());
  OutgoingNotification n = Notification(broker.Uri("cityhub/notify/spots"));
  n.link = R"(<https://example.org/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json")";
  n.receiver_info = {{"X-Auth-Token", "secret-1"}, {"Fiware-Correlator", "c-42"}};
  n.notifier_info = {{"MQTT-QoS", "1"}};
  const std::string body = n.body;
  DeliveryOutcome out = SendAndWait(sender, n);
  ASSERT_TRUE(out.ok) << out.reason;
  auto msg = sub.Next(5s);
  ASSERT_TRUE(msg) << "nothing arrived";
  EXPECT_EQ(msg->topic, "cityhub/notify/spots");
  json::value payload = json::parse(msg->payload);
  ASSERT_TRUE(payload.is_object()) << msg->payload;
  EXPECT_EQ(payload.as_object().size(), 2u) << msg->payload;
  EXPECT_EQ(payload.at("metadata"), json::parse(fmt::format(
      R"({{"Content-Type":"application/json","Link":{},"X-Auth-Token":"secret-1","Fiware-Correlator":"c-42"}})",
      json::serialize(json::value(n.link)))));
  EXPECT_EQ(payload.at("body"), json::parse(body));

  // application/ld+json, no Link, and a tenant.
  OutgoingNotification ld = Notification(broker.Uri("cityhub/ld"));
  ld.content_type = "application/ld+json";
  ld.tenant = "city2";
  out = SendAndWait(sender, ld);
  ASSERT_TRUE(out.ok) << out.reason;
  msg = sub.Next(5s);
  ASSERT_TRUE(msg) << "nothing arrived";
  EXPECT_EQ(msg->topic, "cityhub/ld");
  payload = json::parse(msg->payload);
  const json::object& metadata = payload.at("metadata").as_object();
  EXPECT_EQ(metadata.at("Content-Type"), "application/ld+json");
  EXPECT_FALSE(metadata.contains("Link"));
  EXPECT_EQ(payload.at("body"), json::parse(ld.body));
}

TEST_F(MqttSenderTest, QosAndVersionsAreThoseOfNotifierInfo) {
  Mosquitto& broker = StartBroker();
  Subscriber sub(broker.port(), "q/#");
  MqttSender sender(WithLoopback<MqttSenderOptions>());
  struct Case {
    const char* version;  // "" = default (mqtt5.0)
    const char* qos;      // "" = default (0)
    int expected_qos;
  };
  const Case cases[] = {{"mqtt3.1.1", "1", 1}, {"mqtt3.1.1", "0", 0}, {"mqtt3.1.1", "2", 2}, {"", "", 0},
                        {"mqtt5.0", "1", 1},   {"mqtt5.0", "2", 2},   {"", "1", 1}};
  int i = 0;
  for (const Case& c : cases) {
    OutgoingNotification n = Notification(broker.Uri(fmt::format("q/{}", i)));
    if (*c.version) n.notifier_info.emplace_back("MQTT-Version", c.version);
    if (*c.qos) n.notifier_info.emplace_back("MQTT-QoS", c.qos);
    SCOPED_TRACE(fmt::format("version '{}' QoS '{}'", c.version, c.qos));
    DeliveryOutcome out = SendAndWait(sender, n);
    EXPECT_TRUE(out.ok) << out.reason;
    auto msg = sub.Next(5s);
    ASSERT_TRUE(msg) << "nothing arrived";
    EXPECT_EQ(msg->topic, fmt::format("q/{}", i));
    EXPECT_EQ(msg->qos, c.expected_qos);
    EXPECT_EQ(json::parse(msg->payload).at("body"), json::parse(n.body));
    ++i;
  }
  EXPECT_FALSE(sub.Next(200ms)) << "one message per send";
}

TEST_F(MqttSenderTest, InvalidNotifierInfoOrUriIsNotOkWithAReason) {
  Mosquitto& broker = StartBroker();
  MqttSender sender(WithLoopback<MqttSenderOptions>());
  struct Case {
    std::string uri;
    KeyValues info;
    std::string reason_has;
  };
  const Case cases[] = {
      {broker.Uri("t"), {{"MQTT-QoS", "3"}}, "MQTT-QoS"},
      {broker.Uri("t"), {{"MQTT-QoS", "one"}}, "MQTT-QoS"},
      {broker.Uri("t"), {{"MQTT-QoS", "-1"}}, "MQTT-QoS"},
      {broker.Uri("t"), {{"MQTT-Version", "mqtt3.1"}}, "MQTT-Version"},
      {fmt::format("mqtt://127.0.0.1:{}/", broker.port()), {}, "topic"},
      {fmt::format("http://127.0.0.1:{}/t", broker.port()), {}, "mqtt"},
  };
  for (const Case& c : cases) {
    OutgoingNotification n = Notification(c.uri);
    n.notifier_info = c.info;
    const auto start = Clock::now();
    DeliveryOutcome out = SendAndWait(sender, n);
    EXPECT_FALSE(out.ok) << c.uri;
    EXPECT_NE(out.reason.find(c.reason_has), std::string::npos) << c.uri << ": " << out.reason;
    EXPECT_LT(Seconds(Clock::now() - start), 1.0) << c.uri;
  }
  // The sender still works afterwards.
  OutgoingNotification good = Notification(broker.Uri("t"));
  good.notifier_info = {{"MQTT-QoS", "1"}};
  DeliveryOutcome out = SendAndWait(sender, good);
  EXPECT_TRUE(out.ok) << out.reason;
}

TEST_F(MqttSenderTest, ABrokerThatIsDownFailsQuicklyThenDeliveryResumesAfterTheReconnectPause) {
  const unsigned short port = UnusedPort();
  MqttSenderOptions options;
  options.endpoints = LoopbackAllowed();
  options.reconnect_pause = 1500ms;
  MqttSender sender(options);
  OutgoingNotification n = Notification(fmt::format("mqtt://127.0.0.1:{}/resume", port));
  n.notifier_info = {{"MQTT-QoS", "1"}};

  auto start = Clock::now();
  DeliveryOutcome out = SendAndWait(sender, n);
  EXPECT_FALSE(out.ok);
  EXPECT_FALSE(out.reason.empty());
  EXPECT_LT(Seconds(Clock::now() - start), 2.0) << out.reason;  // refused: no connect_timeout wait
  const auto failed_at = Clock::now();

  Mosquitto& broker = StartBroker(port);
  Subscriber sub(port, "resume");
  // Within the pause the broker is not tried: the send fails at once.
  start = Clock::now();
  out = SendAndWait(sender, n);
  if (Clock::now() - failed_at < options.reconnect_pause) {
    EXPECT_FALSE(out.ok);
    EXPECT_FALSE(out.reason.empty());
    EXPECT_LT(Seconds(Clock::now() - start), 0.2);
  }
  EXPECT_FALSE(sub.Next(100ms));
  // After it, the broker is tried again and takes the message.
  std::this_thread::sleep_until(failed_at + options.reconnect_pause + 100ms);
  out = SendAndWait(sender, n);
  EXPECT_TRUE(out.ok) << out.reason;
  auto msg = sub.Next(5s);
  ASSERT_TRUE(msg) << "nothing arrived";
  EXPECT_EQ(json::parse(msg->payload).at("body"), json::parse(n.body));
  (void)broker;
}

TEST_F(MqttSenderTest, ABrokerThatRestartsIsReconnectedTo) {
  Mosquitto& broker = StartBroker();
  MqttSender sender(WithLoopback<MqttSenderOptions>());
  OutgoingNotification n = Notification(broker.Uri("restart"));
  n.notifier_info = {{"MQTT-QoS", "1"}, {"MQTT-Version", "mqtt3.1.1"}};
  {
    Subscriber sub(broker.port(), "restart");
    DeliveryOutcome out = SendAndWait(sender, n);
    ASSERT_TRUE(out.ok) << out.reason;
    ASSERT_TRUE(sub.Next(5s));
  }
  broker.Stop();
  std::this_thread::sleep_for(300ms);  // the sender's client sees the connection lost
  ASSERT_TRUE(broker.Start());
  Subscriber sub(broker.port(), "restart");
  DeliveryOutcome out = SendAndWait(sender, n);
  EXPECT_TRUE(out.ok) << out.reason;
  EXPECT_TRUE(sub.Next(5s)) << "nothing arrived after the restart";
}

// A fake MQTT 3.1.1 broker: accepts, answers CONNECT with CONNACK (accepted), then reads and
// ignores everything — a QoS 1 PUBLISH is never acknowledged.
class SilentBroker {
 public:
  SilentBroker() {
    fd_ = BindLoopback(&port_, 4);
    thread_ = std::thread([this] { Loop(); });
  }
  ~SilentBroker() {
    stop_ = true;
    thread_.join();
    for (int c : clients_) ::close(c);
    ::close(fd_);
  }
  unsigned short port() const { return port_; }
  int publishes() const { return publishes_; }

 private:
  void Loop() {
    while (!stop_) {
      std::vector<pollfd> fds{{fd_, POLLIN, 0}};
      for (int c : clients_) fds.push_back({c, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c >= 0) clients_.push_back(c);
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        unsigned char buf[4096];
        ssize_t got = ::recv(fds[i].fd, buf, sizeof buf, 0);
        if (got <= 0) continue;
        if ((buf[0] & 0xF0) == 0x10) {  // CONNECT
          static constexpr unsigned char kConnack[] = {0x20, 0x02, 0x00, 0x00};
          (void)!::send(fds[i].fd, kConnack, sizeof kConnack, MSG_NOSIGNAL);
        } else if ((buf[0] & 0xF0) == 0x30) {  // PUBLISH
          ++publishes_;
        }
      }
    }
  }
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> publishes_{0};
  std::vector<int> clients_;
  std::thread thread_;
};

// MqttSenderOptions::publish_timeout promises a bound on waiting for the acknowledgement of a
// QoS 1/2 publish; a broker that never sends PUBACK must fail the send within it.
TEST_F(MqttSenderTest, AnUnacknowledgedPublishFailsWithinThePublishTimeout) {
  SilentBroker fake;
  MqttSenderOptions options;
  options.endpoints = LoopbackAllowed();
  options.publish_timeout = 1000ms;
  MqttSender sender(options);
  OutgoingNotification n = Notification(fmt::format("mqtt://127.0.0.1:{}/never", fake.port()));
  n.notifier_info = {{"MQTT-QoS", "1"}, {"MQTT-Version", "mqtt3.1.1"}};
  const auto start = Clock::now();
  DeliveryOutcome out = SendAndWait(sender, n, options.publish_timeout + 3s);
  EXPECT_EQ(fake.publishes(), 1);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.reason.find("test: no outcome"), std::string::npos)
      << "the send never reported an outcome: " << out.reason;
  EXPECT_LT(Seconds(Clock::now() - start), 1.0 + 1.0);
}

}  // namespace
}  // namespace cityhub::broker
