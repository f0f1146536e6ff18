// Tests for net::MqttClient against a real mosquitto on a free loopback port (tests/unit/net/
// mosquitto.h): a publish → subscribe round trip at QoS 1 through two clients, addresses the
// outbound policy refuses (never connected to), a closed port and a peer that never answers
// (clear errors within connect_timeout), publishing while not connected, and an automatic
// reconnect after the broker restarts (the subscription made again in on_connected).
#include "net/mqtt_client.h"

#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "loopback_server.h"
#include "mosquitto.h"

namespace cityhub::net {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using cityhub::testing::Mosquitto;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A port that refuses connections (bound, not listening).
unsigned short ClosedPortNumber(int* fd) {
  *fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(*fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

struct Received {
  std::string topic;
  std::string payload;
  int qos = -1;
};

// What a client's callbacks saw, with waits that end on the condition or a deadline.
class Inbox {
 public:
  void Add(const MqttMessage& m) {
    std::lock_guard lock(mutex_);
    messages_.push_back({std::string(m.topic), std::string(m.payload), m.qos});
    changed_.notify_all();
  }
  void Connected() {
    std::lock_guard lock(mutex_);
    ++connects_;
    changed_.notify_all();
  }
  void Lost() {
    std::lock_guard lock(mutex_);
    ++losses_;
    changed_.notify_all();
  }
  // The messages once there are at least `n`, or those that came within `limit`.
  std::vector<Received> WaitForMessages(size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return messages_.size() >= n; });
    return messages_;
  }
  bool WaitForConnects(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return connects_ >= n; });
  }
  bool WaitForLosses(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return losses_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Received> messages_;
  int connects_ = 0;
  int losses_ = 0;
};

// Waits up to `limit` for a publish's outcome.
class Outcome {
 public:
  std::function<void(bool)> Callback() {
    return [this](bool taken) {
      std::lock_guard lock(mutex_);
      taken_ = taken;
      reported_ = true;
      changed_.notify_all();
    };
  }
  // True when reported taken within `limit`.
  bool Taken(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return reported_; });
    return reported_ && taken_;
  }
  bool reported() {
    std::lock_guard lock(mutex_);
    return reported_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool reported_ = false;
  bool taken_ = false;
};

MqttClientOptions ToLoopback(unsigned short port, std::string client_id) {
  MqttClientOptions o;
  o.broker.host = "127.0.0.1";
  o.broker.port = std::to_string(port);
  o.client_id = std::move(client_id);
  o.connect_timeout = 3000ms;
  return o;
}

// A client subscribed to one filter at QoS 1 — again after every connect, as a clean session
// needs — with what its callbacks saw.
class TestSubscriber {
 public:
  TestSubscriber(unsigned short port, std::string filter, bool auto_reconnect = false) : filter_(std::move(filter)) {
    MqttClientOptions o = ToLoopback(port, fmt::format("test-sub-{}", ::getpid()));
    o.auto_reconnect = auto_reconnect;
    o.on_connected = [this] {
      EXPECT_TRUE(client_->Subscribe({filter_}, 1, [this](bool acknowledged) {
        if (acknowledged) inbox.Connected();
      }).ok());
    };
    o.on_connection_lost = [this] { inbox.Lost(); };
    o.on_message = [this](const MqttMessage& m) { inbox.Add(m); };
    client_ = std::make_unique<MqttClient>(std::move(o));
  }
  // Connects and waits until the subscription is acknowledged.
  ::testing::AssertionResult Start() {
    const Status connected = client_->Connect();
    if (!connected.ok()) return ::testing::AssertionFailure() << "connect: " << connected.message();
    if (!inbox.WaitForConnects(1, 5000ms)) {
      return ::testing::AssertionFailure() << "the subscription was not acknowledged";
    }
    return ::testing::AssertionSuccess();
  }
  MqttClient& client() { return *client_; }

  Inbox inbox;  // connects counted once their subscription is acknowledged

 private:
  std::string filter_;
  std::unique_ptr<MqttClient> client_;  // last: destroyed, its callbacks stopped, first
};

class MqttClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access(cityhub::testing::kMosquitto, X_OK), 0)
        << cityhub::testing::kMosquitto << " is not installed; scripts/setup.sh installs mosquitto for these tests";
    std::random_device rd;
    dir_ = fs::temp_directory_path() / fmt::format("cityhub-mqtt-client-test-{}-{}", ::getpid(), rd());
    fs::create_directories(dir_);
    int fd = -1;
    const unsigned short port = ClosedPortNumber(&fd);
    ::close(fd);
    broker_ = std::make_unique<Mosquitto>(dir_, port);
    ASSERT_TRUE(broker_->Start());
  }
  void TearDown() override {
    broker_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  std::unique_ptr<Mosquitto> broker_;
};

// A QoS 1 publish reaches a subscriber of another client, payload bytes intact, and the publisher
// learns that the broker acknowledged it. The publisher connects under a policy that allows
// loopback (its address check passes), the subscriber without one.
TEST_F(MqttClientTest, APublishReachesASubscriberAtQos1) {
  TestSubscriber sub(broker_->port(), "city/+/level");
  ASSERT_TRUE(sub.Start());
  MqttClientOptions o = ToLoopback(broker_->port(), fmt::format("test-pub-{}", ::getpid()));
  o.addresses = cityhub::testing::LoopbackPolicy();
  MqttClient publisher(std::move(o));
  const Status connected = publisher.Connect();
  ASSERT_TRUE(connected.ok()) << connected.message();
  EXPECT_TRUE(publisher.connected());

  const std::string payload("l|1.25\0tail", 11);  // any bytes, a NUL included
  Outcome outcome;
  const Status taken = publisher.Publish("city/river-3/level", payload, 1, false, outcome.Callback());
  ASSERT_TRUE(taken.ok()) << taken.message();
  EXPECT_TRUE(outcome.Taken(5000ms)) << "the broker did not acknowledge the QoS 1 publish";
  std::vector<Received> got = sub.inbox.WaitForMessages(1, 5000ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic, "city/river-3/level");
  EXPECT_EQ(got[0].payload, payload);
  EXPECT_EQ(got[0].qos, 1);

  // A topic outside the filter is not delivered; one more inside is.
  ASSERT_TRUE(publisher.Publish("city/river-3/flow", "x", 1, false).ok());
  ASSERT_TRUE(publisher.Publish("city/river-4/level", "l|2", 1, false).ok());
  EXPECT_EQ(publisher.WaitForDeliveries(5000ms), 0u);
  got = sub.inbox.WaitForMessages(2, 5000ms);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].topic, "city/river-4/level");
  EXPECT_EQ(sub.inbox.WaitForMessages(3, 200ms).size(), 2u);
}

// Under the default policy (public addresses only) a loopback broker is never connected to, by
// literal address or by a name resolving to it, mqtt:// and mqtts:// alike: the listening
// socket never sees a connection, and the error is the one every refused address gets.
TEST(MqttClientPolicyTest, RefusedAddressesAreNeverConnectedTo) {
  cityhub::testing::SilentServer listening;
  struct Case {
    const char* host;
    bool tls;
  };
  for (const Case& c : {Case{"127.0.0.1", false}, Case{"localhost", false}, Case{"localhost", true},
                        Case{"::ffff:127.0.0.1", false}}) {
    MqttClientOptions o = ToLoopback(listening.port(), "test-refused");
    o.broker.host = c.host;
    o.broker.tls = c.tls;
    o.addresses = std::make_shared<const AddressPolicy>();
    MqttClient client(std::move(o));
    const auto start = Clock::now();
    const Status connected = client.Connect();
    EXPECT_EQ(connected.code(), Status::Code::kPermissionDenied) << c.host;
    EXPECT_EQ(connected.message(), kAddressRefused) << c.host;
    EXPECT_LT(Seconds(Clock::now() - start), 1.0) << c.host;
    EXPECT_FALSE(client.connected());
  }
  // The kernel completes a connection to a listening socket even unaccepted: a readable
  // listener would mean one was made.
  pollfd p{listening.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "a connection reached the refused broker";
}

TEST(MqttClientPolicyTest, ANameThatDoesNotResolveIsNotFound) {
  MqttClientOptions o = ToLoopback(1883, "test-unresolved");
  o.broker.host = "no-such-host.invalid";
  o.addresses = cityhub::testing::LoopbackPolicy();
  MqttClient client(std::move(o));
  const Status connected = client.Connect();
  EXPECT_EQ(connected.code(), Status::Code::kNotFound);
  EXPECT_EQ(connected.message(), "host name not resolved");
}

// Nothing listening: the connect fails at once with a clear error, well within connect_timeout.
TEST(MqttClientConnectTest, AClosedPortFailsWithAClearErrorWithinTheTimeout) {
  int fd = -1;
  const unsigned short port = ClosedPortNumber(&fd);
  MqttClientOptions o = ToLoopback(port, "test-closed");
  o.connect_timeout = 2000ms;
  MqttClient client(std::move(o));
  const auto start = Clock::now();
  const Status connected = client.Connect();
  const double took = Seconds(Clock::now() - start);
  ::close(fd);
  EXPECT_EQ(connected.code(), Status::Code::kUnavailable);
  EXPECT_NE(connected.message().find("cannot connect to the MQTT broker"), std::string::npos) << connected.message();
  EXPECT_LT(took, 2.0 + 0.5);
  EXPECT_FALSE(client.connected());
}

// A peer that accepts TCP but never answers CONNECT: the connect gives up after connect_timeout.
TEST(MqttClientConnectTest, APeerThatNeverAnswersTimesOut) {
  cityhub::testing::SilentServer silent;
  MqttClientOptions o = ToLoopback(silent.port(), "test-silent");
  o.connect_timeout = 1000ms;
  MqttClient client(std::move(o));
  const auto start = Clock::now();
  const Status connected = client.Connect();
  const double took = Seconds(Clock::now() - start);
  EXPECT_EQ(connected.code(), Status::Code::kUnavailable);
  EXPECT_EQ(connected.message(), "timed out connecting to the MQTT broker");
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 1.0 + 0.5);
}

// Before any connect, and after a disconnect, a publish is refused at once and its callback is
// never called.
TEST_F(MqttClientTest, PublishingWhileNotConnectedIsRefused) {
  MqttClient client(ToLoopback(broker_->port(), "test-unconnected"));
  Outcome never;
  EXPECT_EQ(client.Publish("t", "x", 1, false, never.Callback()).code(), Status::Code::kUnavailable);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Publish("t", "x", 0, false).ok());
  client.Disconnect();
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(client.Publish("t", "x", 1, false, never.Callback()).ok());
  EXPECT_FALSE(never.reported());
}

// With auto_reconnect a client whose broker restarts reconnects by itself, on_connected runs
// again (and subscribes again), and messages flow as before.
TEST_F(MqttClientTest, AutoReconnectResubscribesAfterTheBrokerRestarts) {
  TestSubscriber sub(broker_->port(), "restart/#", /*auto_reconnect=*/true);
  ASSERT_TRUE(sub.Start());
  broker_->Stop();
  ASSERT_TRUE(sub.inbox.WaitForLosses(1, 5000ms)) << "the lost connection was not reported";
  EXPECT_FALSE(sub.client().connected());
  ASSERT_TRUE(broker_->Start());
  ASSERT_TRUE(sub.inbox.WaitForConnects(2, 10000ms)) << "no reconnect with a new subscription";
  EXPECT_TRUE(sub.client().connected());

  MqttClient publisher(ToLoopback(broker_->port(), "test-pub-restart"));
  ASSERT_TRUE(publisher.Connect().ok());
  Outcome outcome;
  ASSERT_TRUE(publisher.Publish("restart/a", "after", 1, false, outcome.Callback()).ok());
  EXPECT_TRUE(outcome.Taken(5000ms));
  std::vector<Received> got = sub.inbox.WaitForMessages(1, 5000ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "after");
}

}  // namespace
}  // namespace cityhub::net
