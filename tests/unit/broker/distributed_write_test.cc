// Tests for DistributedWrite against real loopback sources: each source's outcome of a
// forwarded write, reported as GS CIM 009 §5.2.17 BatchEntityError values (entityId,
// registrationId, ProblemDetails) — a source's own NGSI-LD error type passed on, a silent or
// failing one as InternalError — and never a failure of the whole call.
#include "broker/distributed_write.h"

#include <chrono>

#include <gtest/gtest.h>

#include "../net/loopback_server.h"

namespace cityhub::broker {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackServer;

http::Response Answer(int status, std::string body = "") {
  http::Response res;
  res.status = status;
  if (!body.empty()) res.headers.Add("Content-Type", "application/json");
  res.body = std::move(body);
  return res;
}

ContextSource Source(const std::string& endpoint, std::string id) {
  ContextSource s;
  s.registration_id = std::move(id);
  s.endpoint = endpoint;
  s.mode = RegistrationMode::kExclusive;
  return s;
}

ContextSourceClientOptions Options() {
  ContextSourceClientOptions o;
  o.alias = "hub-a";
  o.addresses = testing::LoopbackPolicy();
  o.default_timeout = 2000ms;
  return o;
}

ForwardedRequest Patch(const ContextSource&) {
  ForwardedRequest r;
  r.method = "PATCH";
  r.path = "/entities/urn%3Angsi-ld%3ACar%3A1/attrs";
  r.body = R"({"speed":{"type":"Property","value":5}})";
  return r;
}

// §5.6.2 with registrations (the 207 of the OpenAPI: "In the case when an error response is
// received back from any distributed operation, a response body containing the result returned
// from each registration is returned").
TEST(DistributedWriteTest, EachSourcesOutcomeIsReportedWithItsRegistration) {
  LoopbackServer ok([](const http::Request&) { return Answer(204); });
  LoopbackServer exists([](const http::Request&) {
    return Answer(409, R"({"type":"https://uri.etsi.org/ngsi-ld/errors/AlreadyExists","title":"Already exists",
                           "detail":"urn:ngsi-ld:Car:1 exists\r\nX-Injected: 1"})");
  });
  LoopbackServer broken([](const http::Request&) { return Answer(500, "<html>oops</html>"); });
  LoopbackServer partial([](const http::Request&) { return Answer(207, R"({"updated":[],"notUpdated":[]})"); });
  testing::SilentServer hung;
  ContextSource slow = Source(hung.url(), "r-hung");
  slow.timeout = 300ms;
  ContextSourceClient client(Options());
  DistributedWrite write(client);
  WriteReport report = write.Forward("urn:ngsi-ld:Car:1",
                                     {Source(ok.url(), "r-ok"), Source(exists.url(), "r-409"), Source(broken.url(), "r-500"),
                                      Source(partial.url(), "r-207"), slow},
                                     Patch, DistributedCall{});
  EXPECT_EQ(report.succeeded, std::vector<std::string>{"r-ok"});
  ASSERT_EQ(report.errors.size(), 4u);
  for (const auto& e : report.errors) EXPECT_EQ(e.entity_id, "urn:ngsi-ld:Car:1");
  EXPECT_EQ(report.errors[0].registration_id, "r-409");
  EXPECT_EQ(report.errors[0].status.code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(report.errors[0].status.message(),
            "context source registration r-409 answered HTTP 409: urn:ngsi-ld:Car:1 exists  X-Injected: 1");
  EXPECT_EQ(report.errors[1].registration_id, "r-500");
  EXPECT_EQ(report.errors[1].status.code(), Status::Code::kUnavailable);
  EXPECT_EQ(report.errors[1].status.message(), "context source registration r-500 answered HTTP 500");
  EXPECT_EQ(report.errors[2].registration_id, "r-207");
  EXPECT_NE(report.errors[2].status.message().find("only part of the write"), std::string::npos);
  EXPECT_EQ(report.errors[3].registration_id, "r-hung");
  EXPECT_EQ(report.errors[3].status.message(),
            "context source registration r-hung did not answer: timed out waiting for the answer");
  auto seen = ok.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PATCH");
  EXPECT_EQ(seen[0].body, R"({"speed":{"type":"Property","value":5}})");
  EXPECT_EQ(seen[0].headers.Get("Via"), "1.1 hub-a");
}

TEST(DistributedWriteTest, AWriteThatPassedThroughThisHubIsNotForwardedAgain) {
  LoopbackServer ok([](const http::Request&) { return Answer(204); });
  ContextSourceClient client(Options());
  DistributedWrite write(client);
  DistributedCall call;
  call.via = "1.1 hub-a";
  WriteReport report = write.Forward("urn:ngsi-ld:Car:1", {Source(ok.url(), "r-ok")}, Patch, call);
  EXPECT_TRUE(report.succeeded.empty());
  EXPECT_TRUE(report.errors.empty());
  EXPECT_TRUE(ok.requests().empty());
}

TEST(DistributedWriteTest, AnAnswersStatusStandsForItsNgsiLdErrorType) {
  EXPECT_EQ(StatusOfAnswer("r", 404, R"({"type":"https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"})").code(),
            Status::Code::kNotFound);
  EXPECT_EQ(StatusOfAnswer("r", 400, R"({"type":"BadRequestData","title":"t"})").code(), Status::Code::kBadRequestData);
  EXPECT_EQ(StatusOfAnswer("r", 422, "").code(), Status::Code::kOperationNotSupported);
  EXPECT_EQ(StatusOfAnswer("r", 404, R"({"type":"https://example.org/other"})").code(), Status::Code::kNotFound);
  EXPECT_EQ(StatusOfAnswer("r", 503, "not json").code(), Status::Code::kUnavailable);
  const Status long_detail = StatusOfAnswer("r", 400, R"({"detail":")" + std::string(500, 'x') + R"("})");
  EXPECT_LE(long_detail.message().size(), std::string("context source registration r answered HTTP 400: ").size() + 200);
}

}  // namespace
}  // namespace cityhub::broker
