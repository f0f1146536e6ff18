// Tests for ContextSourceClient against real loopback NGSI-LD-speaking servers (the hub's own
// http::Server), hung and closed ports: what a forwarded request carries (GS CIM 009 §6.3.5
// Link, §6.3.14 NGSILD-Tenant, §6.3.18 Via, the operator's credentials), that sources are asked
// in parallel within their timeouts (management.timeout), and that a failed source is skipped
// during its cooldown (management.cooldown) and reported so.
#include "broker/context_source_client.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "../net/loopback_server.h"

namespace cityhub::broker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::LoopbackServer;

ContextSourceClientOptions Options() {
  ContextSourceClientOptions o;
  o.alias = "hub-a";
  o.addresses = testing::LoopbackPolicy();
  o.default_timeout = 2000ms;
  o.health.cooldown = 60s;
  return o;
}

ContextSource Source(const std::string& endpoint, std::string id = "urn:ngsi-ld:ContextSourceRegistration:r1") {
  ContextSource s;
  s.registration_id = std::move(id);
  s.endpoint = endpoint;
  return s;
}

http::Response Json(std::string body, int status = 200) {
  http::Response res;
  res.status = status;
  res.headers.Add("Content-Type", "application/json");
  res.body = std::move(body);
  return res;
}

ForwardedRequest Query() {
  ForwardedRequest r;
  r.path = "/entities";
  r.query = "type=https%3A%2F%2Furi.etsi.org%2Fngsi-ld%2Fdefault-context%2FCar";
  r.link_context = "https://city.example/ctx.jsonld";
  return r;
}

TEST(ContextSourceClientTest, AForwardedRequestCarriesLinkTenantViaAndTheOperatorsCredential) {
  LoopbackServer source([](const http::Request&) { return Json("[]"); });
  const std::filesystem::path token = std::filesystem::temp_directory_path() / "fedcore_token_test";
  std::ofstream(token) << "s3cret-token\n";
  ContextSourceClientOptions o = Options();
  auto creds = SourceCredentials::Load(source.url() + "=bearer:" + token.string());
  ASSERT_TRUE(creds.ok()) << creds.status().message();
  o.credentials = std::move(*creds);
  ContextSourceClient client(o);
  ContextSource s = Source(source.url() + "/");
  s.tenant = "busan";
  ForwardedRequest r = Query();
  r.via = "1.1 hub-z";
  std::vector<SourceAnswer> answers = client.Ask({s}, r);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].outcome, SourceAnswer::Outcome::kAnswered) << answers[0].reason;
  EXPECT_EQ(answers[0].status, 200u);
  EXPECT_EQ(answers[0].link_context, "https://city.example/ctx.jsonld");
  auto seen = source.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/ngsi-ld/v1/entities?" + r.query);
  EXPECT_EQ(seen[0].headers.Get("Accept"), "application/json");
  EXPECT_EQ(seen[0].headers.Get("Link"),
            "<https://city.example/ctx.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; "
            "type=\"application/ld+json\"");
  EXPECT_EQ(seen[0].headers.Get("NGSILD-Tenant"), "busan");
  EXPECT_EQ(seen[0].headers.Get("Via"), "1.1 hub-z, 1.1 hub-a");
  EXPECT_EQ(seen[0].headers.Get("Authorization"), "Bearer s3cret-token");
  std::filesystem::remove(token);
}

TEST(ContextSourceClientTest, NoCredentialForOtherOriginsAndTheRegisteredContextWinsTheLink) {
  LoopbackServer source([](const http::Request&) { return Json("[]"); });
  ContextSourceClient client(Options());
  ContextSource s = Source(source.url());
  s.info = {{"jsonldContext", "https://source.example/their.jsonld"}, {"other", "x"}};
  std::vector<SourceAnswer> answers = client.Ask({s}, Query());
  ASSERT_EQ(answers[0].outcome, SourceAnswer::Outcome::kAnswered) << answers[0].reason;
  EXPECT_EQ(answers[0].link_context, "https://source.example/their.jsonld");
  auto seen = source.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NE(seen[0].headers.Get("Link").find("<https://source.example/their.jsonld>"), std::string::npos);
  EXPECT_FALSE(seen[0].headers.Has("Authorization"));
  EXPECT_FALSE(seen[0].headers.Has("NGSILD-Tenant")) << "the default tenant is not named";
  EXPECT_EQ(seen[0].headers.Get("Via"), "1.1 hub-a");
  // Answers merged as JSON keep the caller's @context.
  ForwardedRequest r = Query();
  r.use_registered_context = false;
  answers = client.Ask({s}, r);
  EXPECT_EQ(answers[0].link_context, "https://city.example/ctx.jsonld");
}

TEST(ContextSourceClientTest, PostAndPatchCarryTheirBody) {
  LoopbackServer source([](const http::Request& r) { return Json(r.body, r.method == "POST" ? 201 : 204); });
  ContextSourceClient client(Options());
  ForwardedRequest r;
  r.method = "PATCH";
  r.path = "/entities/urn%3Angsi-ld%3ACar%3A1/attrs";
  r.body = R"({"speed":{"type":"Property","value":5}})";
  std::vector<SourceAnswer> answers = client.Ask({Source(source.url())}, r);
  ASSERT_EQ(answers[0].outcome, SourceAnswer::Outcome::kAnswered) << answers[0].reason;
  EXPECT_EQ(answers[0].status, 204u);
  auto seen = source.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PATCH");
  EXPECT_EQ(seen[0].path, "/ngsi-ld/v1/entities/urn%3Angsi-ld%3ACar%3A1/attrs");
  EXPECT_EQ(seen[0].headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(seen[0].body, r.body);
}

TEST(ContextSourceClientTest, SourcesAreAskedInParallelAndAnswersKeepTheirOrder) {
  auto slow = [](std::string tag) {
    return [tag](const http::Request&) {
      std::this_thread::sleep_for(400ms);
      return Json("[\"" + tag + "\"]");
    };
  };
  LoopbackServer a(slow("a")), b(slow("b")), c(slow("c"));
  ContextSourceClient client(Options());
  std::vector<ContextSource> sources{Source(a.url(), "r-a"), Source(b.url(), "r-b"), Source(c.url(), "r-c")};
  const auto start = Clock::now();
  std::vector<SourceAnswer> answers = client.Ask(sources, Query());
  const auto took = Clock::now() - start;
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].body, "[\"a\"]");
  EXPECT_EQ(answers[1].body, "[\"b\"]");
  EXPECT_EQ(answers[2].body, "[\"c\"]");
  EXPECT_EQ(answers[2].source, &sources[2]);
  EXPECT_LT(took, 1100ms) << "three 400 ms sources asked one after the other would take 1200 ms";
}

TEST(ContextSourceClientTest, EachAnswerIsHandedOverAsItArrivesWhileTheOthersAreAwaited) {
  auto after = [](std::chrono::milliseconds delay, std::string tag) {
    return [delay, tag](const http::Request&) {
      std::this_thread::sleep_for(delay);
      return Json("[\"" + tag + "\"]");
    };
  };
  LoopbackServer slow(after(600ms, "slow")), fast(after(0ms, "fast"));
  testing::SilentServer hung;
  ContextSourceClient client(Options());
  std::vector<ContextSource> sources{Source(slow.url(), "r-slow"), Source(fast.url(), "r-fast"), Source(hung.url(), "r-hung")};
  sources[2].timeout = 900ms;
  struct Seen {
    std::string body;
    size_t still_awaited;
    Clock::duration at;
  };
  std::vector<Seen> seen;
  const auto start = Clock::now();
  std::vector<SourceAnswer> answers = client.Ask(
      sources, [](const ContextSource&) { return Query(); },
      [&](SourceAnswer& a, size_t still_awaited) {
        seen.push_back({std::move(a.body), still_awaited, Clock::now() - start});
      });
  // The fast answer came first, with two still awaited, long before the slow one; the hung
  // source's failure (its own 900 ms timeout) came last, handed over too.
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].body, "[\"fast\"]");
  EXPECT_EQ(seen[0].still_awaited, 2u);
  EXPECT_LT(seen[0].at, 400ms);
  EXPECT_EQ(seen[1].body, "[\"slow\"]");
  EXPECT_EQ(seen[1].still_awaited, 1u);
  EXPECT_GE(seen[1].at, 550ms);
  EXPECT_EQ(seen[2].still_awaited, 0u);
  // The returned answers keep the sources' order; what `arrived` moved out stays moved out.
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].source, &sources[0]);
  EXPECT_EQ(answers[1].outcome, SourceAnswer::Outcome::kAnswered);
  EXPECT_TRUE(answers[1].body.empty());
  EXPECT_EQ(answers[2].outcome, SourceAnswer::Outcome::kFailed);
  EXPECT_EQ(answers[2].reason, "timed out waiting for the answer");
}

TEST(ContextSourceClientTest, AHungSourceTimesOutWithinItsOwnTimeoutWhileTheOthersAnswer) {
  testing::SilentServer hung;
  LoopbackServer good([](const http::Request&) { return Json("[]"); });
  ContextSourceClient client(Options());
  ContextSource slow = Source(hung.url(), "r-hung");
  slow.timeout = 300ms;  // management.timeout
  const auto start = Clock::now();
  std::vector<SourceAnswer> answers = client.Ask({slow, Source(good.url(), "r-good")}, Query());
  const auto took = Clock::now() - start;
  EXPECT_EQ(answers[0].outcome, SourceAnswer::Outcome::kFailed);
  EXPECT_EQ(answers[0].reason, "timed out waiting for the answer");
  EXPECT_EQ(answers[1].outcome, SourceAnswer::Outcome::kAnswered);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1500ms) << "bounded by the 300 ms management.timeout, not the 2 s default";
}

TEST(ContextSourceClientTest, AFailedSourceIsSkippedDuringItsCooldownThenAskedAgain) {
  testing::ClosedPort dead;
  ContextSourceClient client(Options());
  ContextSource s = Source(dead.url(), "r-dead");
  s.cooldown = 400ms;  // management.cooldown
  std::vector<SourceAnswer> first = client.Ask({s}, Query());
  EXPECT_EQ(first[0].outcome, SourceAnswer::Outcome::kFailed);
  EXPECT_EQ(first[0].reason, "connection failed");
  std::vector<SourceAnswer> second = client.Ask({s}, Query());
  EXPECT_EQ(second[0].outcome, SourceAnswer::Outcome::kSkipped);
  EXPECT_NE(second[0].reason.find("cooling down after a failure"), std::string::npos) << second[0].reason;
  const auto until = Clock::now() + 3s;
  std::vector<SourceAnswer> later;
  do {
    std::this_thread::sleep_for(50ms);
    later = client.Ask({s}, Query());
  } while (later[0].outcome == SourceAnswer::Outcome::kSkipped && Clock::now() < until);
  EXPECT_EQ(later[0].outcome, SourceAnswer::Outcome::kFailed) << "asked again once the cooldown ended";
}

TEST(ContextSourceClientTest, AServerErrorStartsTheCooldownButAClientErrorDoesNot) {
  LoopbackServer broken([](const http::Request&) { return Json("{}", 503); });
  LoopbackServer picky([](const http::Request&) { return Json("{}", 400); });
  ContextSourceClient client(Options());
  std::vector<ContextSource> sources{Source(broken.url(), "r-503"), Source(picky.url(), "r-400")};
  std::vector<SourceAnswer> first = client.Ask(sources, Query());
  EXPECT_EQ(first[0].status, 503u);
  EXPECT_EQ(first[1].status, 400u);
  std::vector<SourceAnswer> second = client.Ask(sources, Query());
  EXPECT_EQ(second[0].outcome, SourceAnswer::Outcome::kSkipped);
  EXPECT_EQ(second[1].outcome, SourceAnswer::Outcome::kAnswered);
}

TEST(ContextSourceClientTest, TheConcurrencyLimitSkipsRequestsBeyondIt) {
  LoopbackServer slow([](const http::Request&) {
    std::this_thread::sleep_for(300ms);
    return Json("[]");
  }, 8);
  ContextSourceClientOptions o = Options();
  o.health.max_in_flight = 2;
  ContextSourceClient client(o);
  const ContextSource s = Source(slow.url());
  std::vector<SourceAnswer::Outcome> outcomes(4);
  std::vector<std::thread> callers;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    callers.emplace_back([&, i] { outcomes[i] = client.Ask({s}, Query())[0].outcome; });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), SourceAnswer::Outcome::kAnswered), 2);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), SourceAnswer::Outcome::kSkipped), 2);
  EXPECT_EQ(client.health().InFlight(s.endpoint), 0u);
}

TEST(ContextSourceClientTest, AnAnswerBeyondTheSizeBoundIsAFailure) {
  LoopbackServer big([](const http::Request&) { return Json("[" + std::string(3000, ' ') + "]"); });
  ContextSourceClientOptions o = Options();
  o.max_answer_bytes = 1024;
  ContextSourceClient client(o);
  std::vector<SourceAnswer> answers = client.Ask({Source(big.url())}, Query());
  EXPECT_EQ(answers[0].outcome, SourceAnswer::Outcome::kFailed);
  EXPECT_EQ(answers[0].reason, "answer larger than 1024 bytes");
}

TEST(ContextSourceClientTest, AnEndpointThatIsNoApiRootIsAFailureNotARequest) {
  LoopbackServer source([](const http::Request&) { return Json("[]"); });
  ContextSourceClient client(Options());
  std::vector<SourceAnswer> answers = client.Ask(
      {Source(source.url() + "/?x=1"), Source(source.url() + "#f"), Source("ftp://127.0.0.1/")}, Query());
  EXPECT_EQ(answers[0].outcome, SourceAnswer::Outcome::kFailed);
  EXPECT_EQ(answers[0].reason, "the registration's endpoint has a query or fragment");
  EXPECT_EQ(answers[1].outcome, SourceAnswer::Outcome::kFailed);
  EXPECT_EQ(answers[2].outcome, SourceAnswer::Outcome::kFailed);
  EXPECT_NE(answers[2].reason.find("unsupported URL scheme"), std::string::npos) << answers[2].reason;
  EXPECT_TRUE(source.requests().empty());
}

TEST(ContextSourceClientTest, ViaNamesThisHubOnlyAsAReceivedBy) {
  ContextSourceClient client(Options());
  EXPECT_TRUE(client.SeenBefore("1.1 hub-a"));
  EXPECT_TRUE(client.SeenBefore("1.1 hub-z, HTTP/1.1 hub-a (cityhub)"));
  EXPECT_FALSE(client.SeenBefore(""));
  EXPECT_FALSE(client.SeenBefore("1.1 hub-ab, 1.1 hub"));
  EXPECT_FALSE(client.SeenBefore("hub-a"));
  EXPECT_EQ(ViaWith("", "hub-a"), "1.1 hub-a");
  EXPECT_EQ(ViaWith(" 1.0 proxy ", "hub-a"), "1.0 proxy, 1.1 hub-a");
}

TEST(ContextSourceClientTest, QueriesArePercentEncoded) {
  EXPECT_EQ(EncodeQuery({{"type", "https://x.org/Car"}, {"q", "speed>5;name==\"a b\""}}),
            "type=https%3A%2F%2Fx.org%2FCar&q=speed%3E5%3Bname%3D%3D%22a%20b%22");
  EXPECT_EQ(PercentEncode("urn:ngsi-ld:Car:1"), "urn%3Angsi-ld%3ACar%3A1");
}

TEST(SourceCredentialsTest, EntriesAreCheckedAndBoundToTheOrigin) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "fedcore_creds_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "key") << "  abc123  \n";
  std::ofstream(dir / "empty") << "\n";
  auto ok = SourceCredentials::Load("https://hub-b.city.kr=header:X-API-Key:" + (dir / "key").string() +
                                    "; http://10.0.0.5:1026=bearer:" + (dir / "key").string());
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->size(), 2u);
  auto h = ok->For("https://hub-b.city.kr/some/path");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->first, "X-API-Key");
  EXPECT_EQ(h->second, "abc123");
  EXPECT_EQ(ok->For("http://10.0.0.5:1026")->second, "Bearer abc123");
  EXPECT_FALSE(ok->For("https://hub-b.city.kr:8443/").has_value()) << "another port is another origin";
  EXPECT_FALSE(ok->For("http://hub-b.city.kr/").has_value()) << "another scheme is another origin";
  EXPECT_TRUE(SourceCredentials::Load("").ok());
  for (const std::string& bad : std::vector<std::string>{"https://a.kr", "https://a.kr=basic:/x", "ftp://a.kr=bearer:/x",
                          "https://a.kr=bearer:/no/such/file", "https://a.kr=bearer:" + (dir / "empty").string(),
                          "https://a.kr=header:Bad Name:" + (dir / "key").string()}) {
    auto r = SourceCredentials::Load(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("federation credentials"), std::string::npos);
    }
  }
  auto twice = SourceCredentials::Load("https://a.kr=bearer:" + (dir / "key").string() + ";https://a.kr:443=bearer:" +
                                       (dir / "key").string());
  EXPECT_FALSE(twice.ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cityhub::broker
