// Tests for net::HttpClient against real loopback servers: the hub's own http::Server (what a
// request carries for each method, what an answer returns, the size bound, redirects not
// followed) and hung or closed ports (the per-request timeout and the absolute deadline, the
// connection refused), and the outbound address policy refusing loopback by default.
#include "net/http_client.h"

#include <chrono>
#include <future>

#include <gtest/gtest.h>

#include "loopback_server.h"

namespace cityhub::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::LoopbackServer;

HttpOutcome SendAndWait(HttpClient& client, HttpRequest request, std::chrono::milliseconds limit = 15s) {
  auto promise = std::make_shared<std::promise<HttpOutcome>>();
  auto future = promise->get_future();
  client.Send(std::move(request), [promise](HttpOutcome o) { promise->set_value(std::move(o)); });
  if (future.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "no outcome within " << limit.count() << " ms";
    return HttpOutcome{};
  }
  return future.get();
}

HttpClientOptions Loopback() {
  HttpClientOptions o;
  o.addresses = testing::LoopbackPolicy();
  return o;
}

http::Response Echo(const http::Request& r) {
  http::Response res;
  res.status = r.method == "DELETE" ? 204 : 200;
  res.headers.Add("X-Method", r.method);
  res.headers.Add("NGSILD-Results-Count", "7");
  if (r.method != "DELETE") res.body = r.method + " " + r.target + " " + r.body;
  return res;
}

TEST(HttpClientTest, EachMethodCarriesItsHeadersAndBodyAndReturnsTheAnswer) {
  LoopbackServer server(Echo);
  HttpClient client(Loopback());
  for (std::string method : {"GET", "POST", "PATCH", "PUT", "DELETE"}) {
    HttpRequest req;
    req.method = method;
    req.url = server.url() + "/ngsi-ld/v1/entities?type=Car";
    req.headers = {{"Accept", "application/json"}, {"NGSILD-Tenant", "city2"}};
    if (method == "POST" || method == "PATCH" || method == "PUT") {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = R"({"a":1})";
    }
    HttpOutcome out = SendAndWait(client, req);
    ASSERT_TRUE(out.ok) << method << ": " << out.error;
    EXPECT_EQ(out.response.Header("x-method"), method);
    EXPECT_EQ(out.response.Header("NGSILD-Results-Count"), "7");
    if (method == "DELETE") {
      EXPECT_EQ(out.response.status, 204u);
      EXPECT_EQ(out.response.body, "");
    } else {
      EXPECT_EQ(out.response.status, 200u);
      EXPECT_EQ(out.response.body, method + " /ngsi-ld/v1/entities?type=Car " + req.body);
    }
  }
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 5u);
  for (const auto& r : seen) {
    EXPECT_EQ(r.headers.Get("Accept"), "application/json");
    EXPECT_EQ(r.headers.Get("NGSILD-Tenant"), "city2");
    EXPECT_EQ(r.headers.Get("User-Agent"), "cityhub");
  }
  EXPECT_EQ(seen[1].headers.Get("Content-Type"), "application/json");
}

TEST(HttpClientTest, HeadersWithControlCharactersAndFramingHeadersAreLeftOut) {
  LoopbackServer server(Echo);
  HttpClient client(Loopback());
  HttpRequest req;
  req.url = server.url() + "/x";
  req.headers = {{"X-Good", "yes"}, {"X-Bad", "a\r\nX-Injected: 1"}, {"Bad Name", "v"}, {"Content-Length", "99"}};
  HttpOutcome out = SendAndWait(client, req);
  ASSERT_TRUE(out.ok) << out.error;
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].headers.Get("X-Good"), "yes");
  EXPECT_FALSE(seen[0].headers.Has("X-Bad"));
  EXPECT_FALSE(seen[0].headers.Has("X-Injected"));
  EXPECT_FALSE(seen[0].headers.Has("Bad Name"));
}

TEST(HttpClientTest, AnAnswerLargerThanTheBoundFailsTheRequest) {
  LoopbackServer server([](const http::Request&) {
    http::Response res;
    res.body = std::string(5000, 'x');
    return res;
  });
  HttpClient client(Loopback());
  HttpRequest req;
  req.url = server.url() + "/big";
  req.max_response_bytes = 4096;
  HttpOutcome out = SendAndWait(client, req);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error, "answer larger than 4096 bytes");
  req.max_response_bytes = 5000;
  out = SendAndWait(client, req);
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.response.body.size(), 5000u);
}

TEST(HttpClientTest, RedirectsAreReturnedNotFollowed) {
  LoopbackServer server([](const http::Request&) {
    http::Response res;
    res.status = 307;
    res.headers.Add("Location", "http://127.0.0.1:1/elsewhere");
    return res;
  });
  HttpClient client(Loopback());
  HttpRequest req;
  req.url = server.url() + "/moved";
  HttpOutcome out = SendAndWait(client, req);
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.response.status, 307u);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(HttpClientTest, AHungServerCostsTheRequestItsTimeoutAndNoMore) {
  testing::SilentServer hung;
  HttpClient client(Loopback());
  HttpRequest req;
  req.url = hung.url() + "/x";
  req.timeout = 300ms;
  const auto start = Clock::now();
  HttpOutcome out = SendAndWait(client, req);
  const auto took = Clock::now() - start;
  EXPECT_FALSE(out.ok);
  EXPECT_TRUE(out.timed_out);
  EXPECT_EQ(out.error, "timed out waiting for the answer");
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

TEST(HttpClientTest, TheAbsoluteDeadlineBoundsTheWholeRequest) {
  testing::SilentServer hung;
  HttpClient client(Loopback());
  HttpRequest req;
  req.url = hung.url() + "/x";
  req.timeout = 10s;
  req.deadline = Clock::now() + 200ms;
  const auto start = Clock::now();
  HttpOutcome out = SendAndWait(client, req);
  EXPECT_FALSE(out.ok);
  EXPECT_TRUE(out.timed_out);
  EXPECT_LT(Clock::now() - start, 2s);
  // A request whose deadline has already passed is not sent at all.
  req.deadline = Clock::now() - 1ms;
  out = SendAndWait(client, req);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error, "timed out waiting for a connection");
}

TEST(HttpClientTest, ARefusedConnectionFailsAtOnce) {
  testing::ClosedPort closed;
  HttpClient client(Loopback());
  HttpRequest req;
  req.url = closed.url() + "/x";
  HttpOutcome out = SendAndWait(client, req, 5s);
  EXPECT_FALSE(out.ok);
  EXPECT_FALSE(out.timed_out);
  EXPECT_EQ(out.error, "connection failed");
}

TEST(HttpClientTest, TheDefaultPolicyRefusesLoopbackWithoutConnecting) {
  LoopbackServer server(Echo);
  HttpClient client;  // public addresses only
  HttpRequest req;
  req.url = server.url() + "/x";
  HttpOutcome out = SendAndWait(client, req);
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error, kAddressRefused);
  EXPECT_TRUE(server.requests().empty());
}

TEST(HttpClientTest, BadUrlsAndMethodsAreErrorsNotCrashes) {
  HttpClient client(Loopback());
  HttpRequest req;
  req.url = "ftp://127.0.0.1/x";
  HttpOutcome out = SendAndWait(client, req);
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("unsupported URL scheme"), std::string::npos) << out.error;
  LoopbackServer server(Echo);
  req.url = server.url() + "/x";
  req.method = "FETCH ME";
  out = SendAndWait(client, req);
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("unsupported HTTP method"), std::string::npos) << out.error;
}

}  // namespace
}  // namespace cityhub::net
