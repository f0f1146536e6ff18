// Server tests: a real Server on 127.0.0.1 (port 0) in a thread, driven over real sockets by a
// small blocking client (plain or OpenSSL TLS), so limits and timeouts are checked the way a
// peer sees them.
#include "http/server.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace cityhub::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (HeaderNameEquals(k, name)) return v;
    }
    return "";
  }
  bool HasHeader(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (HeaderNameEquals(k, name)) return true;
    }
    return false;
  }
};

// A blocking HTTP/1.1 client over one TCP connection, over TLS if given a client context;
// every read gives up after 5 s.
class Client {
 public:
  // `source`: the local address to connect from (Linux routes all of 127/8 to loopback, so
  // 127.0.0.2 is another client to the server); null = any.
  explicit Client(unsigned short port, SSL_CTX* tls = nullptr, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (source != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (connected_ && tls != nullptr) {
      ssl_ = SSL_new(tls);
      SSL_set_fd(ssl_, fd_);
      connected_ = SSL_connect(ssl_) == 1;
    }
  }
  ~Client() {
    SSL_free(ssl_);
    ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ssl_ ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                       : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framed; no body after HEAD). Returns nullopt on EOF, reset
  // or timeout.
  std::optional<RawResponse> Read(bool after_head = false) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    RawResponse r;
    std::string head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    for (size_t pos = line_end + 2; pos < head.size();) {
      size_t eol = head.find("\r\n", pos);
      std::string line = head.substr(pos, eol - pos);
      size_t colon = line.find(':');
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(line.substr(0, colon), value);
      pos = eol + 2;
    }
    if (r.status == 100 || after_head) return r;
    size_t length = r.HasHeader("Content-Length") ? std::stoul(r.Header("Content-Length")) : 0;
    while (buf_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True if the server closes the connection (EOF or reset) before anything else arrives.
  bool WaitForClose() {
    char c;
    if (ssl_) {
      int n = SSL_read(ssl_, &c, 1);
      if (n > 0) return false;
      int error = SSL_get_error(ssl_, n);
      return error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SSL ||
             (error == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET));
    }
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // True if the TLS peer sent close_notify.
  bool ReceivedCloseNotify() const { return ssl_ && (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN); }

 private:
  bool Fill() {
    char chunk[4096];
    ssize_t n = ssl_ ? SSL_read(ssl_, chunk, sizeof chunk) : ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  std::string buf_;
};

// Runs a Server in a background thread for the lifetime of the object.
class TestServer {
 public:
  TestServer(ServerOptions options, Handler handler) : server_(Prepare(options), std::move(handler)) {
    Status st = server_.Listen();
    EXPECT_TRUE(st.ok()) << st.message();
    thread_ = std::thread([this] { server_.Run(); });
  }
  ~TestServer() {
    server_.Stop();
    if (thread_.joinable()) thread_.join();
  }
  unsigned short port() const { return server_.port(); }
  Server& server() { return server_; }
  // Stops the server and waits until Run() returned.
  void StopAndJoin() {
    server_.Stop();
    thread_.join();
  }

 private:
  static ServerOptions Prepare(ServerOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    if (o.io_threads == 0) o.io_threads = 2;
    return o;
  }
  Server server_;
  std::thread thread_;
};

Response Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.Add("Content-Type", "text/plain");
  r.body = std::move(body);
  return r;
}

// Echoes the request as "METHOD path body".
Response Echo(const Request& req) { return Text(200, req.method + " " + req.path + " " + req.body); }

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra_headers) +
         "\r\n";
}

class ServerModeTest : public ::testing::TestWithParam<unsigned> {
 protected:
  ServerOptions Options() {
    ServerOptions o;
    o.worker_threads = GetParam();
    return o;
  }
};

TEST_P(ServerModeTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  TestServer server(Options(), [&](const Request& req) {
    ++calls;
    return Echo(req);
  });
  Client c(server.port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/a/" + std::to_string(i))));
    auto r = c.Read();
    ASSERT_TRUE(r) << "request " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "GET /a/" + std::to_string(i) + " ");
    EXPECT_EQ(r->Header("Content-Length"), std::to_string(r->body.size()));
    EXPECT_EQ(r->Header("Content-Type"), "text/plain");
    EXPECT_FALSE(r->HasHeader("Connection"));
  }
  ASSERT_TRUE(c.Send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "POST /p hello");
  EXPECT_EQ(calls.load(), 4);
}

TEST_P(ServerModeTest, PipelinedRequestsAreAnsweredInOrder) {
  TestServer server(Options(), Echo);
  Client c(server.port());
  ASSERT_TRUE(c.Send(Get("/one") + "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + Get("/three")));
  for (std::string expected : {"GET /one ", "POST /two abc", "GET /three "}) {
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, expected);
  }
}

TEST_P(ServerModeTest, ChunkedBodyIsAssembled) {
  TestServer server(Options(), Echo);
  Client c(server.port());
  ASSERT_TRUE(c.Send("PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "PUT /c abcde");
}

// The name of the calling thread ("http-io" or "http-worker" inside the server).
std::string ThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

// ServerOptions::runs_inline: the requests it picks are handled on the I/O thread that read them,
// the others on a worker; a predicate that throws sends the request to a worker, which answers it.
TEST(ServerInlineTest, RunsInlinePicksTheRequestsHandledOnTheIoThread) {
  ServerOptions o;
  o.worker_threads = 4;
  o.runs_inline = [](const Request& req) {
    if (req.path == "/throws") throw std::runtime_error("predicate failed");
    return req.method == "GET" && req.path.rfind("/fast", 0) == 0;
  };
  TestServer server(o, [](const Request& req) { return Text(200, req.method + " " + req.path + " on " + ThreadName()); });
  Client c(server.port());
  ASSERT_TRUE(c.connected());
  const std::pair<std::string, std::string> cases[] = {
      {Get("/fast/1"), "GET /fast/1 on http-io"},
      {Get("/slow"), "GET /slow on http-worker"},
      {"POST /fast/2 HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "POST /fast/2 on http-worker"},
      {Get("/throws"), "GET /throws on http-worker"},
      {Get("/fast/3"), "GET /fast/3 on http-io"},
  };
  for (const auto& [request, expected] : cases) {
    ASSERT_TRUE(c.Send(request));
    auto r = c.Read();
    ASSERT_TRUE(r) << expected;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, expected);
  }
}

// DeferResponse: a handler that answers later from another thread (as a write answered once its
// commit is durable). The connection answers then, keeps the order of pipelined requests, and a
// handler that deferred and then threw is answered 500 once.
TEST(ServerDeferredTest, AHandlerAnswersLaterFromAnotherThread) {
  EXPECT_FALSE(DeferResponse()) << "no handler runs on this thread";
  for (unsigned workers : {4u, 0u}) {
    std::vector<std::thread> later;
    std::mutex later_mutex;
    ServerOptions o;
    o.worker_threads = workers;
    TestServer server(o, [&](const Request& req) {
      if (req.path == "/now") return Text(200, "now");
      Responder respond = DeferResponse();
      if (!respond) return Text(500, "could not defer");
      if (req.path == "/throws") throw std::runtime_error("after deferring");
      std::lock_guard lock(later_mutex);
      later.emplace_back([respond, path = req.path] {
        std::this_thread::sleep_for(50ms);
        respond(Text(201, "later " + path));
        respond(Text(500, "a second answer is ignored"));
      });
      return Text(500, "dropped: the response was deferred");
    });
    Client c(server.port());
    ASSERT_TRUE(c.Send(Get("/a") + Get("/now") + Get("/throws") + Get("/b")));
    const std::pair<int, std::string> expected[] = {
        {201, "later /a"}, {200, "now"}, {500, ""}, {201, "later /b"}};
    for (const auto& [status, body] : expected) {
      auto r = c.Read();
      ASSERT_TRUE(r) << workers << " " << body;
      EXPECT_EQ(r->status, status) << workers << " " << r->body;
      if (!body.empty()) EXPECT_EQ(r->body, body) << workers;
    }
    {
      std::lock_guard lock(later_mutex);
      for (auto& t : later) t.join();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WorkersAndInline, ServerModeTest, ::testing::Values(4u, 0u),
                         [](const auto& info) {
                           return info.param == 0 ? std::string("Inline") : std::string("Pool");
                         });

TEST(ServerTest, FillsRequestFields) {
  Request seen;
  TestServer server({}, [&](const Request& req) {
    seen = req;
    return Text(200, "ok");
  });
  Client c(server.port());
  ASSERT_TRUE(c.Send("get /p%20q/r?a=1&b=x%20y+z&flag&&c=%3D%26=&a=2 HTTP/1.1\r\n"
                     "Host: t\r\nX-One: 1\r\nLink: <a>\r\nlink: <b>\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/p%20q/r?a=1&b=x%20y+z&flag&&c=%3D%26=&a=2");
  EXPECT_EQ(seen.path, "/p%20q/r");
  using Q = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(seen.query, (Q{{"a", "1"}, {"b", "x y z"}, {"flag", ""}, {"c", "=&="}, {"a", "2"}}));
  ASSERT_NE(seen.Param("b"), nullptr);
  EXPECT_EQ(*seen.Param("a"), "1");
  EXPECT_EQ(seen.headers.Get("x-one"), "1");
  EXPECT_EQ(seen.headers.GetAll("Link"), (std::vector<std::string_view>{"<a>", "<b>"}));
  ASSERT_EQ(seen.headers.items().size(), 4u);
  EXPECT_EQ(seen.headers.items()[0].first, "Host");
  EXPECT_EQ(seen.remote_address.rfind("127.0.0.1:", 0), 0u) << seen.remote_address;
  EXPECT_GT(seen.remote_address.size(), std::string("127.0.0.1:").size());
}

TEST(ServerTest, MalformedQueryEscapeIs400WithoutCallingHandler) {
  std::atomic<int> calls{0};
  TestServer server({}, [&](const Request& req) {
    ++calls;
    return Echo(req);
  });
  Client c(server.port());
  ASSERT_TRUE(c.Send(Get("/x?a=%zz")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->Header("Content-Type"), "application/json");
  EXPECT_NE(r->body.find("InvalidRequest"), std::string::npos);
  EXPECT_NE(r->body.find("\"status\":400"), std::string::npos);
  EXPECT_EQ(calls.load(), 0);
}

TEST(ServerTest, Http10AndConnectionCloseCloseAfterResponse) {
  TestServer server({}, Echo);
  {
    Client c(server.port());
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /old ");
    EXPECT_TRUE(c.WaitForClose());
  }
  {
    Client c(server.port());
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->Header("Connection"), "keep-alive");
    ASSERT_TRUE(c.Send("GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    ASSERT_TRUE(c.Read());
  }
  {
    Client c(server.port());
    ASSERT_TRUE(c.Send(Get("/bye", "Connection: close\r\n")));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->Header("Connection"), "close");
    EXPECT_TRUE(c.WaitForClose());
  }
}

TEST(ServerTest, ContentLengthOverLimitIs413BeforeBodyIsSent) {
  std::atomic<int> calls{0};
  ServerOptions o;
  o.limits.max_body_bytes = 1000;
  TestServer server(o, [&](const Request& req) {
    ++calls;
    return Echo(req);
  });
  Client c(server.port());
  ASSERT_TRUE(c.Send("POST /big HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->Header("Content-Type"), "application/json");
  EXPECT_NE(r->body.find("max_body_bytes of 1000"), std::string::npos) << r->body;
  EXPECT_TRUE(c.WaitForClose());
  EXPECT_EQ(calls.load(), 0);

  Client ok(server.port());
  ASSERT_TRUE(ok.Send("POST /fits HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'x')));
  auto fits = ok.Read();
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, 200);
}

TEST(ServerTest, ChunkedBodyOverLimitIs413) {
  ServerOptions o;
  o.limits.max_body_bytes = 100;
  TestServer server(o, Echo);
  Client c(server.port());
  std::string chunk = "40\r\n" + std::string(64, 'y') + "\r\n";
  ASSERT_TRUE(c.Send("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST(ServerTest, HugeHeadersAre431) {
  ServerOptions o;
  o.limits.max_header_bytes = 1024;
  TestServer server(o, Echo);
  Client c(server.port());
  c.Send(Get("/h", "X-Big: " + std::string(8000, 'h') + "\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_NE(r->body.find("max_header_bytes of 1024"), std::string::npos) << r->body;
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, SlowLorisGets408AfterRequestTimeoutFromFirstByte) {
  ServerOptions o;
  o.limits.request_timeout = 300ms;
  TestServer server(o, Echo);
  Client c(server.port());
  auto start = Clock::now();
  // ~260 bytes at one per 25 ms: the whole request would take ~6.5 s, so even on a loaded
  // machine (timers late by a second or two) the 408 comes long before it is complete.
  std::string request = Get("/slow", "X-Pad: " + std::string(230, 'p') + "\r\n");
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    for (char ch : request) {
      if (done || !c.Send(std::string_view(&ch, 1))) return;
      std::this_thread::sleep_for(25ms);
    }
  });
  auto r = c.Read();
  auto elapsed = Clock::now() - start;
  done = true;
  trickle.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find("request_timeout of 300 ms"), std::string::npos) << r->body;
  EXPECT_GE(elapsed, 280ms);
  EXPECT_LT(elapsed, 3000ms);  // the full trickle would take ~6.5 s: the deadline is not renewed
}

TEST(ServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions o;
  o.limits.idle_timeout = 200ms;
  TestServer server(o, Echo);
  Client c(server.port());
  ASSERT_TRUE(c.Send(Get("/")));
  ASSERT_TRUE(c.Read());
  auto start = Clock::now();
  EXPECT_TRUE(c.WaitForClose());
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST(ServerTest, MalformedRequestsAre400AndServerSurvivesGarbage) {
  TestServer server({}, Echo);
  for (std::string bad : {std::string("GARBAGE\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n")}) {
    Client c(server.port());
    ASSERT_TRUE(c.Send(bad));
    auto r = c.Read();
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_TRUE(c.WaitForClose()) << bad;
  }
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 7919) & 0xff));
  {
    Client c(server.port());
    c.Send(junk);
    c.Read();
  }
  Client after(server.port());
  ASSERT_TRUE(after.Send(Get("/still")));
  auto r = after.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /still ");
}

TEST(ServerTest, HandlerExceptionIs500WithoutLeakingItsText) {
  TestServer server({}, [](const Request&) -> Response { throw std::runtime_error("secret db path"); });
  Client c(server.port());
  ASSERT_TRUE(c.Send(Get("/boom")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("https://uri.etsi.org/ngsi-ld/errors/InternalError"), std::string::npos);
  EXPECT_EQ(r->body.find("secret"), std::string::npos);
  ASSERT_TRUE(c.Send(Get("/again")));
  EXPECT_TRUE(c.Read());  // the connection stays usable
}

TEST(ServerTest, HeadGetsContentLengthWithoutBody) {
  TestServer server({}, [](const Request& req) { return Text(200, "0123456789"); });
  Client c(server.port());
  ASSERT_TRUE(c.Send("HEAD /h HTTP/1.1\r\n\r\n" + Get("/g")));
  auto head = c.Read(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->Header("Content-Length"), "10");
  auto get = c.Read();
  ASSERT_TRUE(get);  // the GET response follows directly: the HEAD response had no body
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "0123456789");
}

TEST(ServerTest, SurvivesRandomBytes) {
  TestServer server({}, Echo);
  std::mt19937 rng(42);
  for (int round = 0; round < 40; ++round) {
    std::string junk = round % 2 == 0 ? "" : "POST /x HTTP/1.1\r\n";
    size_t size = 1 + rng() % 3000;
    for (size_t i = 0; i < size; ++i) junk.push_back(static_cast<char>(rng() & 0xff));
    Client c(server.port());
    c.Send(junk);
    if (auto r = c.Read()) {
      EXPECT_GE(r->status, 400) << "round " << round;
    }
  }
  Client after(server.port());
  ASSERT_TRUE(after.Send(Get("/alive")));
  auto r = after.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /alive ");
}

TEST(ServerTest, ExpectContinueGetsInterimResponse) {
  TestServer server({}, Echo);
  Client c(server.port());
  ASSERT_TRUE(c.Send("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = c.Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("data"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "POST /e data");
}

TEST(ServerTest, StopLetsInFlightRequestFinishAndClosesIdleConnections) {
  std::atomic<bool> entered{false};
  auto server = std::make_unique<TestServer>(ServerOptions{}, [&](const Request& req) {
    if (req.path == "/slow") {
      entered = true;
      std::this_thread::sleep_for(500ms);
    }
    return Echo(req);
  });
  Client idle(server->port());
  ASSERT_TRUE(idle.Send(Get("/fast")));
  ASSERT_TRUE(idle.Read());

  Client busy(server->port());
  ASSERT_TRUE(busy.Send(Get("/slow")));
  while (!entered) std::this_thread::sleep_for(1ms);
  auto start = Clock::now();
  server->StopAndJoin();
  auto stop_took = Clock::now() - start;

  auto r = busy.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /slow ");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_GE(stop_took, 300ms);  // Run() waited for the handler
  EXPECT_LT(stop_took, 5s);
  EXPECT_TRUE(idle.WaitForClose());
  Client late(server->port());
  EXPECT_FALSE(late.connected());
}

TEST(ServerTest, ConnectionsOverLimitGet503) {
  ServerOptions o;
  o.limits.max_connections = 2;
  TestServer server(o, Echo);
  Client a(server.port());
  Client b(server.port());
  for (Client* c : {&a, &b}) {
    ASSERT_TRUE(c->Send(Get("/")));
    auto r = c->Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  {
    Client over(server.port());
    ASSERT_TRUE(over.connected());
    over.Send(Get("/"));
    auto r = over.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(r->body.find("max_connections is 2"), std::string::npos) << r->body;
    EXPECT_TRUE(over.WaitForClose());
  }
  // Existing connections keep working; once one closes, a new one is admitted.
  ASSERT_TRUE(a.Send(Get("/")));
  ASSERT_TRUE(a.Read());
  ASSERT_TRUE(b.Send(Get("/", "Connection: close\r\n")));
  ASSERT_TRUE(b.Read());
  ASSERT_TRUE(b.WaitForClose());
  int status = 0;
  for (int attempt = 0; attempt < 50 && status != 200; ++attempt) {
    Client again(server.port());
    again.Send(Get("/"));
    auto r = again.Read();
    status = r ? r->status : 0;
    if (status != 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);
}

TEST(ServerTest, OneAddressOverItsCapGets503WhileOtherAddressesAreServed) {
  ServerOptions o;
  o.limits.max_connections = 5;
  o.limits.max_connections_per_address = 3;
  std::vector<std::string> remotes;
  std::mutex remotes_mu;
  TestServer server(o, [&](const Request& req) {
    std::lock_guard lock(remotes_mu);
    remotes.push_back(req.remote_address);
    return Echo(req);
  });
  std::vector<std::unique_ptr<Client>> flood;
  for (int i = 0; i < 3; ++i) {
    flood.push_back(std::make_unique<Client>(server.port(), nullptr, "127.0.0.2"));
    ASSERT_TRUE(flood.back()->Send(Get("/")));
    auto r = flood.back()->Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);  // admitted and held
  }
  for (int i = 0; i < 4; ++i) {  // the address's further connections: 503, closed
    Client over(server.port(), nullptr, "127.0.0.2");
    ASSERT_TRUE(over.connected());
    auto r = over.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(r->body.find("max_connections_per_address is 3"), std::string::npos) << r->body;
    EXPECT_TRUE(over.WaitForClose());
  }
  // Another address is served (the global cap of 5 still has room: rejected ones are not counted).
  Client other(server.port(), nullptr, "127.0.0.3");
  ASSERT_TRUE(other.Send(Get("/")));
  auto r = other.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  {
    std::lock_guard lock(remotes_mu);
    EXPECT_EQ(remotes.back().rfind("127.0.0.3:", 0), 0u) << remotes.back();
  }
  // A connection of the flooding address closes: its slot is free again.
  ASSERT_TRUE(flood[0]->Send(Get("/", "Connection: close\r\n")));
  ASSERT_TRUE(flood[0]->Read());
  ASSERT_TRUE(flood[0]->WaitForClose());
  int status = 0;
  const auto deadline = Clock::now() + 5s;
  while (status != 200 && Clock::now() < deadline) {
    Client again(server.port(), nullptr, "127.0.0.2");
    again.Send(Get("/"));
    auto again_r = again.Read();
    status = again_r ? again_r->status : 0;
    if (status != 200) std::this_thread::sleep_for(20ms);  // the server sees the close asynchronously
  }
  EXPECT_EQ(status, 200);
}

TEST(ServerTest, NoPerAddressCapWhenItIsZero) {
  ServerOptions o;
  o.limits.max_connections_per_address = 0;
  TestServer server(o, Echo);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<Client>(server.port(), nullptr, "127.0.0.2"));
    ASSERT_TRUE(clients.back()->Send(Get("/")));
    auto r = clients.back()->Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
}

TEST(ServerTest, ListenReportsBusyPort) {
  TestServer first({}, Echo);
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = first.port();
  Server second(o, Echo);
  Status st = second.Listen();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Status::Code::kInternal);
  EXPECT_EQ(st.message().rfind("cannot listen on 127.0.0.1:" + std::to_string(first.port()) + ": ", 0),
            0u)
      << st.message();
}

TEST(ServerTest, InvalidHandlerResponseIs500) {
  TestServer server({}, [](const Request& req) {
    Response r = Text(200, "x");
    if (req.path == "/inject") r.headers.Add("X-Evil", "a\r\nSet-Cookie: b");
    if (req.path == "/name") r.headers.Add("Set-Cookie: b\r\nX", "v");
    if (req.path == "/colon") r.headers.Add("A:B", "v");
    if (req.path == "/status") r.status = 42;
    return r;
  });
  Client c(server.port());
  for (std::string path : {"/inject", "/name", "/colon", "/status"}) {
    ASSERT_TRUE(c.Send(Get(path)));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500) << path;
    EXPECT_FALSE(r->HasHeader("Set-Cookie"));
  }
}

// Writes a self-signed P-256 certificate for CN=localhost and its key as PEM files.
void WriteSelfSignedCertificate(const std::string& cert_file, const std::string& key_file) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  std::FILE* f = std::fopen(cert_file.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

// A server certificate and key in a fresh folder, and client contexts that trust it.
class TlsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("cityhub-tls-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(dir_);
    cert_file_ = (dir_ / "cert.pem").string();
    key_file_ = (dir_ / "key.pem").string();
    WriteSelfSignedCertificate(cert_file_, key_file_);
    client_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(client_, cert_file_.c_str(), nullptr);
    SSL_CTX_set_verify(client_, SSL_VERIFY_PEER, nullptr);
  }
  void TearDown() override {
    SSL_CTX_free(client_);
    std::filesystem::remove_all(dir_);
  }

  ServerOptions Options() const {
    ServerOptions o;
    o.tls_cert_file = cert_file_;
    o.tls_key_file = key_file_;
    return o;
  }
  // A TLS client of the server on `port`; connected() is false if the handshake failed.
  std::unique_ptr<Client> Connect(unsigned short port) { return std::make_unique<Client>(port, client_); }

  std::filesystem::path dir_;
  std::string cert_file_;
  std::string key_file_;
  SSL_CTX* client_ = nullptr;
};

TEST_F(TlsFixture, ServesKeepAlivePipelinedAndChunkedRequests) {
  for (unsigned workers : {4u, 0u}) {
    ServerOptions o = Options();
    o.worker_threads = workers;
    TestServer server(o, Echo);
    auto c = Connect(server.port());
    ASSERT_TRUE(c->connected());
    ASSERT_TRUE(c->Send(Get("/one")));
    auto r = c->Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /one ");
    ASSERT_TRUE(c->Send(Get("/two") + "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
    for (std::string expected : {"GET /two ", "PUT /c abc"}) {
      r = c->Read();
      ASSERT_TRUE(r) << workers;
      EXPECT_EQ(r->body, expected);
    }
  }
}

TEST_F(TlsFixture, ConnectionCloseSendsCloseNotify) {
  TestServer server(Options(), Echo);
  auto c = Connect(server.port());
  ASSERT_TRUE(c->Send(Get("/", "Connection: close\r\n")));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(c->WaitForClose());
  EXPECT_TRUE(c->ReceivedCloseNotify());
}

TEST_F(TlsFixture, SilentClientPartialHelloAndPlainHttpAreClosedWithinRequestTimeout) {
  ServerOptions o = Options();
  o.limits.request_timeout = 300ms;
  TestServer server(o, Echo);
  auto start = Clock::now();
  Client silent(server.port());
  EXPECT_TRUE(silent.WaitForClose());
  EXPECT_GE(Clock::now() - start, 250ms);
  EXPECT_LT(Clock::now() - start, 3s);

  Client partial(server.port());
  ASSERT_TRUE(partial.Send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  start = Clock::now();
  EXPECT_TRUE(partial.WaitForClose());
  EXPECT_LT(Clock::now() - start, 3s);

  Client plain(server.port());
  ASSERT_TRUE(plain.Send(Get("/")));
  start = Clock::now();
  EXPECT_FALSE(plain.Read());
  EXPECT_LT(Clock::now() - start, 3s);

  auto c = Connect(server.port());
  ASSERT_TRUE(c->connected());
  ASSERT_TRUE(c->Send(Get("/after")));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /after ");
}

TEST_F(TlsFixture, SlowRequestGets408) {
  ServerOptions o = Options();
  o.limits.request_timeout = 300ms;
  TestServer server(o, Echo);
  auto c = Connect(server.port());
  ASSERT_TRUE(c->connected());
  ASSERT_TRUE(c->Send("GET /slow HTTP/1.1\r\nHost: t\r\n"));
  auto r = c->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(c->WaitForClose());
}

TEST_F(TlsFixture, OldProtocolVersionsAreRefused) {
  TestServer server(Options(), Echo);
  SSL_CTX_set_min_proto_version(client_, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(client_, TLS1_1_VERSION);
  SSL_CTX_set_cipher_list(client_, "DEFAULT:@SECLEVEL=0");
  EXPECT_FALSE(Connect(server.port())->connected());
}

TEST_F(TlsFixture, ConnectionsOverLimitGet503AfterHandshake) {
  ServerOptions o = Options();
  o.limits.max_connections = 1;
  TestServer server(o, Echo);
  auto a = Connect(server.port());
  ASSERT_TRUE(a->Send(Get("/")));
  ASSERT_TRUE(a->Read());
  auto over = Connect(server.port());
  ASSERT_TRUE(over->connected());
  auto r = over->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(over->WaitForClose());
}

TEST_F(TlsFixture, ConnectionsOverTheAddressCapAreClosedBeforeTheHandshake) {
  ServerOptions o = Options();
  o.limits.max_connections_per_address = 1;
  TestServer server(o, Echo);
  auto a = Connect(server.port());
  ASSERT_TRUE(a->Send(Get("/")));
  ASSERT_TRUE(a->Read());
  std::signal(SIGPIPE, SIG_IGN);  // OpenSSL's client may write to the closed socket
  Client over(server.port(), client_, "127.0.0.1");
  EXPECT_FALSE(over.connected());  // closed without a handshake: no private-key work for it
  Client other(server.port(), client_, "127.0.0.2");
  ASSERT_TRUE(other.connected());
  ASSERT_TRUE(other.Send(Get("/")));
  auto r = other.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(TlsFixture, StopLetsInFlightRequestFinish) {
  std::atomic<bool> entered{false};
  auto server = std::make_unique<TestServer>(Options(), [&](const Request& req) {
    entered = true;
    std::this_thread::sleep_for(300ms);
    return Echo(req);
  });
  auto busy = Connect(server->port());
  ASSERT_TRUE(busy->Send(Get("/slow")));
  while (!entered) std::this_thread::sleep_for(1ms);
  auto start = Clock::now();
  server->StopAndJoin();
  EXPECT_LT(Clock::now() - start, 5s);
  auto r = busy->Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("Connection"), "close");
}

TEST_F(TlsFixture, ListenNamesTheBadFile) {
  std::string other_cert = (dir_ / "other.pem").string();
  std::string other_key = (dir_ / "other-key.pem").string();
  WriteSelfSignedCertificate(other_cert, other_key);
  std::string missing = (dir_ / "missing.pem").string();
  struct Case {
    std::string cert, key, expected;
  };
  for (const Case& c : std::vector<Case>{
           {cert_file_, "", "TLS certificate file '" + cert_file_ + "' given without a key file"},
           {cert_file_, missing, "TLS key file '" + missing + "' cannot be read"},
           {missing, key_file_, "TLS certificate file '" + missing + "' cannot be read"},
           {key_file_, key_file_, "TLS certificate file '" + key_file_ + "' holds no usable PEM"},
           {cert_file_, cert_file_, "TLS key file '" + cert_file_ + "' holds no usable"},
           {cert_file_, other_key, "TLS key file '" + other_key + "' does not match the certificate in '" + cert_file_ + "'"},
       }) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.tls_cert_file = c.cert;
    o.tls_key_file = c.key;
    Server server(o, Echo);
    Status st = server.Listen();
    ASSERT_FALSE(st.ok()) << c.expected;
    EXPECT_EQ(st.message().rfind(c.expected, 0), 0u) << st.message();
  }
}

}  // namespace
}  // namespace cityhub::http
