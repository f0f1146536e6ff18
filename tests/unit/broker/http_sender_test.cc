// Tests for HttpSender against real loopback receivers: the repo's own http::Server for
// well-behaved ones (what a request carries: Content-Type, Link, NGSILD-Tenant, receiverInfo
// headers without CR/LF injection, the body; 2xx and non-2xx answers), and a small raw-socket
// server for the rest — counting accepted connections (keep-alive reuse, the per-origin
// connection cap, a kept-alive connection the receiver closed), never answering (response_timeout and the per-notification
// timeout), answering late. Connection refused on a port nobody listens on.
#include "broker/http_sender.h"

#include "loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "http/server.h"

namespace cityhub::broker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Sends `n` and waits (at most `limit`) for the outcome.
DeliveryOutcome SendAndWait(HttpSender& sender, OutgoingNotification n, std::chrono::milliseconds limit = 15s) {
  auto promise = std::make_shared<std::promise<DeliveryOutcome>>();
  auto future = promise->get_future();
  sender.Send(std::move(n), [promise](DeliveryOutcome outcome) { promise->set_value(std::move(outcome)); });
  if (future.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "no outcome within " << limit.count() << " ms";
    return DeliveryOutcome{false, "test: no outcome"};
  }
  return future.get();
}

OutgoingNotification Notification(unsigned short port, std::string path = "/notify") {
  OutgoingNotification n;
  n.uri = "http://127.0.0.1:" + std::to_string(port) + path;
  n.content_type = "application/json";
  n.body = R"({"id":"urn:ngsi-ld:Notification:1","type":"Notification","data":[]})";
  return n;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The repo's HTTP server on 127.0.0.1 (free port) in a thread, recording what it receives and
// answering `status`.
class Receiver {
 public:
  explicit Receiver(int status = 204) : status_(status), server_(Options(), [this](const http::Request& r) {
    std::lock_guard lock(mutex_);
    requests_.push_back(r);
    http::Response res;
    res.status = status_;
    return res;
  }) {
    Status st = server_.Listen();
    EXPECT_TRUE(st.ok()) << st.message();
    thread_ = std::thread([this] { server_.Run(); });
  }
  ~Receiver() {
    server_.Stop();
    thread_.join();
  }
  unsigned short port() const { return server_.port(); }
  std::vector<http::Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static http::ServerOptions Options() {
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 1;
    o.worker_threads = 0;
    return o;
  }
  const int status_;
  std::mutex mutex_;
  std::vector<http::Request> requests_;
  http::Server server_;
  std::thread thread_;
};

// A raw-socket HTTP receiver for misbehaving cases, on one thread with poll(): counts accepted
// connections and complete requests, and per request either answers nothing (kSilent), answers
// 200 and keeps the connection (kAnswer, after `delay`), or answers 200 and closes it
// (kAnswerThenClose: HTTP/1.1 without "Connection: close", so the client keeps it for reuse).
class RawServer {
 public:
  enum class Mode { kSilent, kAnswer, kAnswerThenClose };

  explicit RawServer(Mode mode, std::chrono::milliseconds delay = 0ms) : mode_(mode), delay_(delay) {
    listen_fd_ = BindLoopback(&port_, 16);
    thread_ = std::thread([this] { Loop(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    for (auto& c : clients_) ::close(c.fd);
    ::close(listen_fd_);
  }
  unsigned short port() const { return port_; }
  int accepts() const { return accepts_; }
  int requests() const { return requests_; }
  int closes() const { return closes_; }

 private:
  struct Client {
    int fd;
    std::string buffer;
  };

  void Loop() {
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (const auto& c : clients_) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd >= 0) {
          clients_.push_back({fd, {}});
          ++accepts_;
        }
      }
      std::vector<int> closed;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Client& c = clients_[i - 1];
        char buf[4096];
        ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
        if (got <= 0) {
          closed.push_back(c.fd);
          continue;
        }
        c.buffer.append(buf, static_cast<size_t>(got));
        while (std::optional<size_t> size = CompleteRequest(c.buffer)) {
          c.buffer.erase(0, *size);
          ++requests_;
          if (mode_ == Mode::kSilent) continue;
          if (delay_ > 0ms) std::this_thread::sleep_for(delay_);
          static constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
          (void)!::send(c.fd, kOk.data(), kOk.size(), MSG_NOSIGNAL);
          if (mode_ == Mode::kAnswerThenClose) {
            closed.push_back(c.fd);
            break;
          }
        }
      }
      for (int fd : closed) {
        ::close(fd);
        std::erase_if(clients_, [fd](const Client& c) { return c.fd == fd; });
        ++closes_;
      }
    }
  }

  // The size of the first complete request in `b` (headers and Content-Length body), if any.
  static std::optional<size_t> CompleteRequest(const std::string& b) {
    const size_t end = b.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    size_t length = 0;
    std::string head = b.substr(0, end);
    for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (size_t at = head.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::stoul(head.substr(at + 17));
    }
    if (b.size() < end + 4 + length) return std::nullopt;
    return end + 4 + length;
  }

  const Mode mode_;
  const std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepts_{0}, requests_{0}, closes_{0};
  std::vector<Client> clients_;  // the loop thread's
  std::thread thread_;
};

// Waits until `done()` holds, at most `limit`.
template <class F>
bool WaitFor(F done, std::chrono::milliseconds limit = 5s) {
  const auto until = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST(HttpSenderTest, A2xxAnswerIsOkAndTheRequestCarriesTheHeadersAndBody) {
  Receiver receiver(200);
  HttpSender sender(WithLoopback<HttpSenderOptions>());
  OutgoingNotification n = Notification(receiver.port(), "/ngsi/notify?from=cityhub");
  n.link = R"(<https://example.org/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json")";
  n.tenant = "city2";
  n.receiver_info = {{"X-Auth-Token", "secret-1"}, {"Fiware-Correlator", "c-42"}};
  const std::string body = n.body;
  DeliveryOutcome out = SendAndWait(sender, n);
  EXPECT_TRUE(out.ok) << out.reason;
  EXPECT_EQ(out.reason, "");
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  const http::Request& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/ngsi/notify?from=cityhub");
  EXPECT_EQ(r.headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(r.headers.Get("Link"), n.link);
  EXPECT_EQ(r.headers.Get("NGSILD-Tenant"), "city2");
  EXPECT_EQ(r.headers.Get("X-Auth-Token"), "secret-1");
  EXPECT_EQ(r.headers.Get("Fiware-Correlator"), "c-42");
  EXPECT_EQ(r.headers.Get("Host"), "127.0.0.1:" + std::to_string(receiver.port()));
  EXPECT_EQ(r.body, body);

  // Other 2xx answers are ok too (the receiver above said 200; this one 204).
  Receiver no_content(204);
  OutgoingNotification ld = Notification(no_content.port());
  ld.content_type = "application/ld+json";
  EXPECT_TRUE(SendAndWait(sender, ld).ok);
  requests = no_content.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.Get("Content-Type"), "application/ld+json");
  EXPECT_FALSE(requests[0].headers.Has("Link"));           // no link given
  EXPECT_FALSE(requests[0].headers.Has("NGSILD-Tenant"));  // the default tenant
}

TEST(HttpSenderTest, ReceiverInfoHeadersWithControlCharactersAreNotSent) {
  Receiver receiver;
  HttpSender sender(WithLoopback<HttpSenderOptions>());
  OutgoingNotification n = Notification(receiver.port());
  n.receiver_info = {{"X-Good", "fine"},
                     {"X-Crlf", "a\r\nX-Injected: yes"},
                     {"X-Lf", "b\nX-Injected-Lf: yes"},
                     {"X-Cr", "c\rd"},
                     {"X-Bad\r\nX-Name-Injected", "v"},
                     {"X Space", "v"},
                     {"X-Tab", "a\tb"}};
  DeliveryOutcome out = SendAndWait(sender, n);
  EXPECT_TRUE(out.ok) << out.reason;
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  const http::Headers& h = requests[0].headers;
  EXPECT_EQ(h.Get("X-Good"), "fine");
  EXPECT_EQ(h.Get("X-Tab"), "a\tb");  // a tab is allowed in a field value
  for (const char* absent : {"X-Crlf", "X-Injected", "X-Lf", "X-Injected-Lf", "X-Cr", "X-Bad", "X-Name-Injected",
                             "X Space"}) {
    EXPECT_FALSE(h.Has(absent)) << absent;
  }
  EXPECT_EQ(requests[0].body, Notification(0).body);
}

TEST(HttpSenderTest, ANon2xxAnswerIsNotOkWithTheStatusAsReason) {
  HttpSender sender(WithLoopback<HttpSenderOptions>());
  Receiver unavailable(503);
  DeliveryOutcome out = SendAndWait(sender, Notification(unavailable.port()));
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.reason, "HTTP 503");
  EXPECT_EQ(unavailable.requests().size(), 1u);
  Receiver not_found(404);
  out = SendAndWait(sender, Notification(not_found.port()));
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.reason, "HTTP 404");
  Receiver redirect(301);
  out = SendAndWait(sender, Notification(redirect.port()));
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.reason, "HTTP 301");
}

// The default outbound policy refuses loopback: a listening receiver never sees a connection,
// by literal address or by a name resolving to it, and the reason is the same either way.
TEST(HttpSenderTest, RefusedAddressesAreNeverConnectedTo) {
  unsigned short port = 0;
  const int listening = BindLoopback(&port, 8);
  HttpSender sender;  // the default policy: public addresses only
  for (std::string host : {"127.0.0.1", "localhost", "[::ffff:127.0.0.1]"}) {
    OutgoingNotification n = Notification(port);
    n.uri = "http://" + host + ":" + std::to_string(port) + "/notify";
    const auto start = Clock::now();
    DeliveryOutcome out = SendAndWait(sender, n);
    EXPECT_FALSE(out.ok) << host;
    EXPECT_EQ(out.reason, "address not allowed by the outbound policy") << host;
    EXPECT_LT(Seconds(Clock::now() - start), 1.0) << host;
  }
  OutgoingNotification closed = Notification(UnusedPort());
  closed.uri.replace(closed.uri.find("127.0.0.1"), 9, "localhost");
  EXPECT_EQ(SendAndWait(sender, closed).reason, "address not allowed by the outbound policy");  // open or closed: alike
  pollfd p{listening, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "a connection reached the refused receiver";
  ::close(listening);
}

TEST(HttpSenderTest, ProtectedReceiverInfoHeadersAreLeftOut) {
  Receiver receiver;
  HttpSenderOptions options;
  options.endpoints = std::make_shared<const EndpointPolicy>(Allowing("127.0.0.0/8"), std::vector<std::string>{"Authorization"});
  HttpSender sender(options);
  OutgoingNotification n = Notification(receiver.port());
  n.tenant = "city2";
  n.receiver_info = {{"Host", "admin.internal"}, {"Content-Length", "0"}, {"Transfer-Encoding", "chunked"},
                     {"Cookie", "session=1"}, {"NGSILD-Tenant", "other"}, {"authorization", "Bearer t"},
                     {"X-Fine", "yes"}};
  DeliveryOutcome out = SendAndWait(sender, n);
  ASSERT_TRUE(out.ok) << out.reason;
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  const http::Headers& h = requests[0].headers;
  EXPECT_EQ(h.Get("Host"), "127.0.0.1:" + std::to_string(receiver.port()));
  EXPECT_FALSE(h.Has("Transfer-Encoding"));
  EXPECT_FALSE(h.Has("Cookie"));
  EXPECT_EQ(h.Get("NGSILD-Tenant"), "city2");
  EXPECT_EQ(h.Get("Authorization"), "Bearer t");  // allowed by the operator
  EXPECT_EQ(h.Get("X-Fine"), "yes");
  EXPECT_EQ(requests[0].body, n.body);
}

TEST(HttpSenderTest, ConnectionRefusedIsNotOk) {
  HttpSender sender(WithLoopback<HttpSenderOptions>());
  const auto start = Clock::now();
  DeliveryOutcome out = SendAndWait(sender, Notification(UnusedPort()));
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.reason, "connection failed");
  EXPECT_LT(Seconds(Clock::now() - start), 2.0);
}

TEST(HttpSenderTest, NotAnHttpUriIsNotOk) {
  HttpSender sender(WithLoopback<HttpSenderOptions>());
  OutgoingNotification n = Notification(1);
  for (const char* uri : {"mqtt://127.0.0.1:1883/topic", "not a uri", "http:///nohost"}) {
    n.uri = uri;
    DeliveryOutcome out = SendAndWait(sender, n);
    EXPECT_FALSE(out.ok) << uri;
    EXPECT_FALSE(out.reason.empty()) << uri;
  }
}

TEST(HttpSenderTest, AReceiverThatNeverAnswersFailsWithinTheResponseTimeout) {
  RawServer silent(RawServer::Mode::kSilent);
  HttpSenderOptions options;
  options.endpoints = LoopbackAllowed();
  options.response_timeout = 700ms;
  HttpSender sender(options);
  const auto start = Clock::now();
  DeliveryOutcome out = SendAndWait(sender, Notification(silent.port()));
  const double elapsed = Seconds(Clock::now() - start);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.reason, "timed out waiting for the answer");
  EXPECT_GE(elapsed, 0.6);
  EXPECT_LT(elapsed, 0.7 + 1.0);
  EXPECT_EQ(silent.requests(), 1);  // the request was written; no retry after a timeout
  EXPECT_EQ(silent.accepts(), 1);
}

TEST(HttpSenderTest, TheNotificationsTimeoutOverridesTheDefault) {
  // Shorter than the default: a silent receiver fails after the notification's timeout.
  {
    RawServer silent(RawServer::Mode::kSilent);
    HttpSender sender(WithLoopback<HttpSenderOptions>());  // response_timeout 10 s
    OutgoingNotification n = Notification(silent.port());
    n.timeout = 400ms;
    const auto start = Clock::now();
    DeliveryOutcome out = SendAndWait(sender, n);
    const double elapsed = Seconds(Clock::now() - start);
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.reason, "timed out waiting for the answer");
    EXPECT_GE(elapsed, 0.35);
    EXPECT_LT(elapsed, 0.4 + 1.0);
  }
  // Longer than the default: an answer after 600 ms is in time for a 3 s timeout, though the
  // sender's own is 200 ms.
  {
    RawServer slow(RawServer::Mode::kAnswer, 600ms);
    HttpSenderOptions options;
    options.endpoints = LoopbackAllowed();
    options.response_timeout = 200ms;
    HttpSender sender(options);
    OutgoingNotification n = Notification(slow.port());
    DeliveryOutcome out = SendAndWait(sender, n);  // the default: too short
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.reason, "timed out waiting for the answer");
    n.timeout = 3000ms;
    out = SendAndWait(sender, n);
    EXPECT_TRUE(out.ok) << out.reason;
  }
}

TEST(HttpSenderTest, SequentialSendsReuseOneKeptAliveConnection) {
  RawServer server(RawServer::Mode::kAnswer);
  HttpSender sender(WithLoopback<HttpSenderOptions>());
  for (int i = 0; i < 3; ++i) {
    DeliveryOutcome out = SendAndWait(sender, Notification(server.port()));
    EXPECT_TRUE(out.ok) << "send " << i << ": " << out.reason;
  }
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.accepts(), 1);

  // The same through the repo's server: every request came from the same client port.
  Receiver receiver;
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(SendAndWait(sender, Notification(receiver.port())).ok);
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].remote_address, requests[1].remote_address);
}

TEST(HttpSenderTest, ConcurrentSendsShareAtMostMaxConnectionsPerOrigin) {
  for (size_t cap : {size_t{1}, size_t{2}}) {
    SCOPED_TRACE(fmt::format("max_connections_per_origin {}", cap));
    RawServer server(RawServer::Mode::kAnswer, 50ms);
    HttpSenderOptions options;
    options.endpoints = LoopbackAllowed();
    options.max_connections_per_origin = cap;
    HttpSender sender(options);
    constexpr int kSends = 6;
    std::vector<std::future<DeliveryOutcome>> outcomes;
    for (int i = 0; i < kSends; ++i) {
      auto promise = std::make_shared<std::promise<DeliveryOutcome>>();
      outcomes.push_back(promise->get_future());
      sender.Send(Notification(server.port()), [promise](DeliveryOutcome o) { promise->set_value(std::move(o)); });
    }
    for (int i = 0; i < kSends; ++i) {
      ASSERT_EQ(outcomes[i].wait_for(10s), std::future_status::ready) << "send " << i;
      DeliveryOutcome out = outcomes[i].get();
      EXPECT_TRUE(out.ok) << "send " << i << ": " << out.reason;
    }
    EXPECT_EQ(server.requests(), kSends);
    EXPECT_GE(server.accepts(), 1);
    EXPECT_LE(server.accepts(), static_cast<int>(cap));
  }
}

TEST(HttpSenderTest, SendsQueuedBehindAFailedConnectStillRun) {
  // Cap 1 and nobody listening: every queued send gets its own outcome.
  HttpSenderOptions options;
  options.endpoints = LoopbackAllowed();
  options.max_connections_per_origin = 1;
  HttpSender sender(options);
  const unsigned short port = UnusedPort();
  std::vector<std::future<DeliveryOutcome>> outcomes;
  for (int i = 0; i < 4; ++i) {
    auto promise = std::make_shared<std::promise<DeliveryOutcome>>();
    outcomes.push_back(promise->get_future());
    sender.Send(Notification(port), [promise](DeliveryOutcome o) { promise->set_value(std::move(o)); });
  }
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(outcomes[i].wait_for(5s), std::future_status::ready) << "send " << i;
    DeliveryOutcome out = outcomes[i].get();
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.reason, "connection failed");
  }
  // The origin's slot is free again: a receiver that comes up is reached.
  Receiver receiver;
  EXPECT_TRUE(SendAndWait(sender, Notification(receiver.port())).ok);
}

TEST(HttpSenderTest, AKeptAliveConnectionClosedByTheReceiverIsReplacedOnTheNextSend) {
  RawServer server(RawServer::Mode::kAnswerThenClose);
  HttpSender sender(WithLoopback<HttpSenderOptions>());
  DeliveryOutcome out = SendAndWait(sender, Notification(server.port()));
  ASSERT_TRUE(out.ok) << out.reason;
  ASSERT_TRUE(WaitFor([&] { return server.closes() == 1; }));
  std::this_thread::sleep_for(50ms);  // the FIN reaches the client's idle connection
  out = SendAndWait(sender, Notification(server.port()));
  EXPECT_TRUE(out.ok) << out.reason;
  EXPECT_EQ(server.accepts(), 2);
  EXPECT_EQ(server.requests(), 2);
  // And again: every stale connection is retried once on a fresh one.
  ASSERT_TRUE(WaitFor([&] { return server.closes() == 2; }));
  std::this_thread::sleep_for(50ms);
  out = SendAndWait(sender, Notification(server.port()));
  EXPECT_TRUE(out.ok) << out.reason;
  EXPECT_EQ(server.accepts(), 3);
  EXPECT_EQ(server.requests(), 3);
}

TEST(HttpSenderTest, DestroyingTheSenderWithASendInProgressReturnsPromptly) {
  RawServer silent(RawServer::Mode::kSilent);
  auto sender = std::make_unique<HttpSender>(WithLoopback<HttpSenderOptions>());
  sender->Send(Notification(silent.port()), [](DeliveryOutcome) {});
  ASSERT_TRUE(WaitFor([&] { return silent.requests() == 1; }));
  const auto start = Clock::now();
  sender.reset();
  EXPECT_LT(Seconds(Clock::now() - start), 1.0);
}

}  // namespace
}  // namespace cityhub::broker
