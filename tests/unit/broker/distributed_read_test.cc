// Tests for DistributedRead, each operation family end to end against real loopback servers
// answering as NGSI-LD context sources (the hub's own http::Server), a hung port and a closed
// one: the merged answer and the sources' failures reported as NGSILD-Warning values (GS CIM
// 009 §6.3.17), never as an error of the operation.
#include "broker/distributed_read.h"

#include <chrono>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "../net/loopback_server.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::LoopbackServer;

const std::string kVocab(ngsild::kDefaultVocab);

http::Response Json(std::string body, int status = 200, std::string count = "") {
  http::Response res;
  res.status = status;
  res.headers.Add("Content-Type", "application/json");
  if (!count.empty()) res.headers.Add("NGSILD-Results-Count", count);
  res.body = std::move(body);
  return res;
}

ContextSource Source(const std::string& endpoint, std::string id,
                     RegistrationMode mode = RegistrationMode::kInclusive) {
  ContextSource s;
  s.registration_id = std::move(id);
  s.endpoint = endpoint;
  s.mode = mode;
  return s;
}

class DistributedReadTest : public ::testing::Test {
 protected:
  DistributedReadTest() : client_(Options()), read_(client_) {}
  void SetUp() override { ASSERT_TRUE(resolver_.Init().ok()); }

  static ContextSourceClientOptions Options() {
    ContextSourceClientOptions o;
    o.alias = "hub-a";
    o.addresses = testing::LoopbackPolicy();
    o.default_timeout = 2000ms;
    o.health.cooldown = 60s;
    return o;
  }
  DistributedCall Call(std::string via = "") {
    DistributedCall c;
    c.via = std::move(via);
    c.resolve_context = [this](std::string_view url) -> Result<ngsild::ContextPtr> {
      if (url.empty()) return resolver_.Core();
      return resolver_.ResolveUrl(url);
    };
    return c;
  }
  ngsild::Entity Local(std::string_view text) {
    auto e = ngsild::ParseRenderedEntity(json::parse(text).as_object(), *resolver_.Core(), {});
    EXPECT_TRUE(e.ok()) << e.status().message();
    return *e;
  }
  static std::string Value(const ngsild::Entity& e, std::string_view term) {
    auto it = e.attrs.find(kVocab + std::string(term));
    if (it == e.attrs.end()) return "<none>";
    return json::serialize(it->second[0].at("value"));
  }
  static std::vector<std::string> Reasons(const std::vector<SourceWarning>& warnings) {
    std::vector<std::string> out;
    for (const auto& w : warnings) out.push_back(w.registration_id + ": " + w.reason);
    return out;
  }

  ngsild::ContextResolver resolver_{[] {
                                      ngsild::ContextResolverOptions o;
                                      o.allow_remote_fetch = false;
                                      return o;
                                    }(),
                                    {}};
  ContextSourceClient client_;
  DistributedRead read_;
};

// §5.7.1 Retrieve Entity with registrations: the entity is merged from the hub and its
// sources; §6.3.17: a source that fails is reported in an NGSILD-Warning, the operation still
// succeeds with what the others returned.
TEST_F(DistributedReadTest, RetrieveMergesTheAnsweringSourcesAndWarnsAboutTheOthers) {
  LoopbackServer good([](const http::Request&) {
    return Json(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","fuel":{"type":"Property","value":40}})");
  });
  LoopbackServer without([](const http::Request&) { return Json(R"({"type":"https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"})", 404); });
  LoopbackServer broken([](const http::Request&) { return Json("{}", 500); });
  LoopbackServer garbled([](const http::Request&) { return Json("{not json"); });
  testing::SilentServer hung;
  ContextSource slow = Source(hung.url(), "r-hung");
  slow.timeout = 300ms;
  ContextSource foreign = Source(good.url(), "r-foreign");
  foreign.info = {{"jsonldContext", "https://unreachable.example/ctx.jsonld"}};
  std::vector<ContextSource> sources{Source(good.url(), "r-good"), Source(without.url(), "r-404"),
                                     Source(broken.url(), "r-500"), Source(garbled.url(), "r-garbled"), slow, foreign};
  const auto start = Clock::now();
  DistributedRead::EntityAnswer answer =
      read_.RetrieveEntity(Local(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10}})"),
                           "urn:ngsi-ld:Car:1", "", sources, Call());
  EXPECT_LT(Clock::now() - start, 1500ms);
  ASSERT_TRUE(answer.entity.has_value());
  EXPECT_EQ(Value(*answer.entity, "speed"), "10");
  EXPECT_EQ(Value(*answer.entity, "fuel"), "40");
  std::vector<std::string> reasons = Reasons(answer.warnings);
  ASSERT_EQ(reasons.size(), 4u) << "the 404 is a source without the entity, not a failure";
  EXPECT_EQ(reasons[0], "r-hung: timed out waiting for the answer");
  EXPECT_EQ(reasons[1], "r-500: answered HTTP 500");
  EXPECT_EQ(reasons[2], "r-garbled: answered with a body that is not JSON");
  EXPECT_EQ(reasons[3].rfind("r-foreign: its @context is not available: ", 0), 0u) << reasons[3];
  EXPECT_EQ(good.requests()[0].path, "/ngsi-ld/v1/entities/urn%3Angsi-ld%3ACar%3A1");
}

TEST_F(DistributedReadTest, RetrieveFindsAnEntityOnlyASourceHoldsAndNothingWhenNobodyDoes) {
  LoopbackServer source([](const http::Request& r) {
    if (r.path.ends_with("Car%3A2")) return Json(R"({"id":"urn:ngsi-ld:Car:2","type":"Car"})");
    return Json("{}", 404);
  });
  std::vector<ContextSource> sources{Source(source.url(), "r1")};
  EXPECT_TRUE(read_.RetrieveEntity(std::nullopt, "urn:ngsi-ld:Car:2", "", sources, Call()).entity.has_value());
  DistributedRead::EntityAnswer none = read_.RetrieveEntity(std::nullopt, "urn:ngsi-ld:Car:3", "", sources, Call());
  EXPECT_FALSE(none.entity.has_value());
  EXPECT_TRUE(none.warnings.empty());
}

TEST_F(DistributedReadTest, AnInvalidEntityFromASourceLeavesItsWholeAnswerOut) {
  LoopbackServer source([](const http::Request&) {
    return Json(R"([{"id":"urn:c:2","type":"Car"},{"id":"urn:c:3","type":"Car","speed":{"type":"Property"}}])");
  });
  DistributedRead::QueryAnswer answer = read_.QueryEntities({}, std::nullopt, "", 0, 20, false,
                                                           {Source(source.url(), "r1")}, Call());
  EXPECT_TRUE(answer.entities.empty());
  ASSERT_EQ(answer.warnings.size(), 1u);
  EXPECT_NE(answer.warnings[0].reason.find("answered an invalid entity"), std::string::npos) << answer.warnings[0].reason;
}

// §5.7.2 Query Entities with registrations: the union by id, in order, then the page; each
// source is asked for the first offset + limit matches so the page is exact.
TEST_F(DistributedReadTest, QueryUnitesThePartiesThenPagesAndCounts) {
  LoopbackServer a([](const http::Request&) {
    return Json(R"([{"id":"urn:c:1","type":"Car","fuel":{"type":"Property","value":1}},{"id":"urn:c:2","type":"Car"},{"id":"urn:c:3","type":"Car"}])",
                200, "10");
  });
  LoopbackServer b([](const http::Request&) { return Json(R"([{"id":"urn:c:5","type":"Car"}])", 200, "1"); });
  std::vector<ngsild::Entity> local{Local(R"({"id":"urn:c:1","type":"Car","speed":{"type":"Property","value":5}})"),
                                    Local(R"({"id":"urn:c:4","type":"Car"})")};
  const std::string query = "type=" + PercentEncode(kVocab + "Car");
  DistributedRead::QueryAnswer answer = read_.QueryEntities(std::move(local), 2, query, 0, 3, true,
                                                           {Source(a.url(), "ra"), Source(b.url(), "rb")}, Call());
  EXPECT_TRUE(answer.warnings.empty()) << Reasons(answer.warnings)[0];
  ASSERT_EQ(answer.entities.size(), 3u);
  EXPECT_EQ(answer.entities[0].id, "urn:c:1");
  EXPECT_EQ(Value(answer.entities[0], "speed"), "5");
  EXPECT_EQ(Value(answer.entities[0], "fuel"), "1");
  EXPECT_EQ(answer.entities[1].id, "urn:c:2");
  EXPECT_EQ(answer.entities[2].id, "urn:c:3");
  // Not every party returned all its matches (ra has 10): the counts are summed, less the one
  // duplicate seen (urn:c:1).
  ASSERT_TRUE(answer.total.has_value());
  EXPECT_EQ(*answer.total, 2u + 10u + 1u - 1u);
  const http::Request asked = a.requests().at(0);
  EXPECT_EQ(asked.target, "/ngsi-ld/v1/entities?" + query + "&offset=0&limit=3&count=true");

  DistributedRead::QueryAnswer second = read_.QueryEntities(
      {Local(R"({"id":"urn:c:4","type":"Car"})")}, 1, query, 3, 2, true, {Source(b.url(), "rb")}, Call());
  EXPECT_TRUE(second.entities.empty()) << "offset 3 is past the 2 merged entities";
  EXPECT_EQ(*second.total, 2u) << "everyone returned all its matches: the count is exact";
}

// Only the entities of the page are decoded (a page of 2 from two sources that answered 2
// each): an invalid entity beyond the page is never looked at; one inside it leaves that source's
// whole answer out, and the page is chosen again from the others.
TEST_F(DistributedReadTest, OnlyThePageIsDecodedAndAnInvalidEntityInItLeavesTheSourceOut) {
  LoopbackServer a([](const http::Request&) {
    return Json(R"([{"id":"urn:c:1","type":"Car"},{"id":"urn:c:9","type":"Car","speed":{"type":"Property"}}])");
  });
  LoopbackServer b([](const http::Request&) { return Json(R"([{"id":"urn:c:2","type":"Car"},{"id":"urn:c:3","type":"Car"}])"); });
  const std::vector<ContextSource> sources{Source(a.url(), "ra"), Source(b.url(), "rb")};
  DistributedRead::QueryAnswer page = read_.QueryEntities({}, std::nullopt, "", 0, 2, true, sources, Call());
  EXPECT_TRUE(page.warnings.empty()) << Reasons(page.warnings)[0];
  ASSERT_EQ(page.entities.size(), 2u);
  EXPECT_EQ(page.entities[0].id, "urn:c:1");
  EXPECT_EQ(page.entities[1].id, "urn:c:2");
  EXPECT_EQ(*page.total, 4u);

  DistributedRead::QueryAnswer last = read_.QueryEntities({}, std::nullopt, "", 2, 2, true, sources, Call());
  ASSERT_EQ(Reasons(last.warnings).size(), 1u);
  EXPECT_EQ(Reasons(last.warnings)[0].rfind("ra: answered an invalid entity: ", 0), 0u) << Reasons(last.warnings)[0];
  EXPECT_TRUE(last.entities.empty()) << "without ra the union is urn:c:2 and urn:c:3: nothing from offset 2";
  EXPECT_EQ(*last.total, 2u);
}

// A source that answers while another is still awaited has its entities decoded ahead (the
// page is not known yet): the rule above still holds — an invalid entity decoded ahead counts
// only when the page holds it.
TEST_F(DistributedReadTest, EntitiesDecodedAheadCountOnlyWhenThePageHoldsThem) {
  LoopbackServer fast([](const http::Request&) {
    return Json(R"([{"id":"urn:c:1","type":"Car"},{"id":"urn:c:9","type":"Car","speed":{"type":"Property"}}])");
  });
  LoopbackServer slow([](const http::Request&) {
    std::this_thread::sleep_for(300ms);
    return Json(R"([{"id":"urn:c:2","type":"Car"},{"id":"urn:c:3","type":"Car"}])");
  });
  const std::vector<ContextSource> sources{Source(slow.url(), "rslow"), Source(fast.url(), "rfast")};
  DistributedRead::QueryAnswer page = read_.QueryEntities({}, std::nullopt, "", 0, 2, true, sources, Call());
  EXPECT_TRUE(page.warnings.empty()) << Reasons(page.warnings)[0];
  ASSERT_EQ(page.entities.size(), 2u);
  EXPECT_EQ(page.entities[0].id, "urn:c:1");
  EXPECT_EQ(page.entities[1].id, "urn:c:2");

  DistributedRead::QueryAnswer last = read_.QueryEntities({}, std::nullopt, "", 2, 2, true, sources, Call());
  ASSERT_EQ(Reasons(last.warnings).size(), 1u);
  EXPECT_EQ(Reasons(last.warnings)[0].rfind("rfast: answered an invalid entity: ", 0), 0u) << Reasons(last.warnings)[0];
  EXPECT_TRUE(last.entities.empty());
}

// Rule 3 of the merge (docs/API.md): of the instances of one attribute that two parties hold,
// without observedAt, the most recently modified is kept. Sources are asked without system
// attributes, so the entities whose merge needs them are asked for again, with them, and only
// those; the answer then keeps the newer value.
TEST_F(DistributedReadTest, EntitiesWhoseMergeNeedsTimesAreAskedForAgainWithThem) {
  LoopbackServer source([](const http::Request& r) {
    if (r.target.find("options=sysAttrs") != std::string::npos) {
      return Json(R"([{"id":"urn:c:1","type":"Car","modifiedAt":"2026-01-02T00:00:00Z",)"
                  R"("speed":{"type":"Property","value":2,"modifiedAt":"2026-01-02T00:00:00Z"}}])");
    }
    return Json(R"([{"id":"urn:c:1","type":"Car","speed":{"type":"Property","value":2}},)"
                R"({"id":"urn:c:2","type":"Car","fuel":{"type":"Property","value":7}}])");
  });
  std::vector<ngsild::Entity> local{
      Local(R"({"id":"urn:c:1","type":"Car","speed":{"type":"Property","value":1,"modifiedAt":"2026-01-01T00:00:00Z"}})"),
      Local(R"({"id":"urn:c:2","type":"Car","speed":{"type":"Property","value":3,"modifiedAt":"2026-01-01T00:00:00Z"}})")};
  const std::string query = "type=" + PercentEncode(kVocab + "Car");
  ContextSourceRequest selection;
  selection.entity_types = {kVocab + "Car"};
  DistributedCall call = Call();
  call.selection = &selection;
  DistributedRead::QueryAnswer answer =
      read_.QueryEntities(std::move(local), 2, query, 0, 10, false, {Source(source.url(), "r1")}, call);
  EXPECT_TRUE(answer.warnings.empty());
  ASSERT_EQ(answer.entities.size(), 2u);
  EXPECT_EQ(Value(answer.entities[0], "speed"), "2") << "the source's instance is the newer one";
  EXPECT_EQ(Value(answer.entities[1], "speed"), "3");
  EXPECT_EQ(Value(answer.entities[1], "fuel"), "7");
  ASSERT_EQ(source.requests().size(), 2u);
  EXPECT_EQ(source.requests()[0].target.find("sysAttrs"), std::string::npos);
  const std::string again = source.requests()[1].target;  // requests() is a copy
  EXPECT_NE(again.find("id=urn%3Ac%3A1&"), std::string::npos) << again << ": urn:c:2 has no attribute held twice";
  EXPECT_NE(again.find("options=sysAttrs"), std::string::npos) << again;

  // With observedAt on both sides there is nothing to ask: the later observation wins.
  LoopbackServer observed([](const http::Request&) {
    return Json(R"([{"id":"urn:c:1","type":"Car","speed":{"type":"Property","value":2,"observedAt":"2026-01-01T00:00:00Z"}}])");
  });
  DistributedRead::QueryAnswer by_observation = read_.QueryEntities(
      {Local(R"({"id":"urn:c:1","type":"Car","speed":{"type":"Property","value":1,"observedAt":"2026-01-03T00:00:00Z"}})")}, 1,
      query, 0, 10, false, {Source(observed.url(), "r2")}, call);
  ASSERT_EQ(by_observation.entities.size(), 1u);
  EXPECT_EQ(Value(by_observation.entities[0], "speed"), "1");
  EXPECT_EQ(observed.requests().size(), 1u);
}

TEST_F(DistributedReadTest, AMalformedResultsCountIsNotBelieved) {
  LoopbackServer odd([](const http::Request&) {
    return Json(R"([{"id":"urn:c:1","type":"Car"},{"id":"urn:c:2","type":"Car"}])", 200, "lots");
  });
  DistributedRead::QueryAnswer answer =
      read_.QueryEntities({}, 0, "", 0, 10, true, {Source(odd.url(), "r-odd")}, Call());
  ASSERT_TRUE(answer.total.has_value());
  EXPECT_EQ(*answer.total, 2u) << "counted as the entities it returned";
}

// §6.3.18: a request whose Via already names this hub has been here: answered locally only.
TEST_F(DistributedReadTest, ARequestThatPassedThroughThisHubIsNotForwardedAgain) {
  LoopbackServer source([](const http::Request&) { return Json(R"([{"id":"urn:c:9","type":"Car"}])"); });
  DistributedRead::QueryAnswer answer =
      read_.QueryEntities({Local(R"({"id":"urn:c:1","type":"Car"})")}, std::nullopt, "", 0, 10, false,
                          {Source(source.url(), "r1")}, Call("1.1 hub-z, 1.1 hub-a"));
  ASSERT_EQ(answer.entities.size(), 1u);
  EXPECT_EQ(answer.entities[0].id, "urn:c:1");
  EXPECT_TRUE(answer.warnings.empty());
  EXPECT_TRUE(source.requests().empty());
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {Source(source.url(), "r1")}, Call("1.1 hub-z"));
  ASSERT_EQ(source.requests().size(), 1u);
  EXPECT_EQ(source.requests()[0].headers.Get("Via"), "1.1 hub-z, 1.1 hub-a");
  // §5.2.40: in a multi-tenant hub the alias names the tenant; the call's alias is the one used.
  DistributedCall tenant_call = Call("1.1 hub-a");
  tenant_call.alias = "hub-a.busan";
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {Source(source.url(), "r1")}, tenant_call);
  ASSERT_EQ(source.requests().size(), 2u) << "hub-a (another tenant) is not hub-a.busan";
  EXPECT_EQ(source.requests()[1].headers.Get("Via"), "1.1 hub-a, 1.1 hub-a.busan");
  tenant_call.via = "1.1 hub-a.busan";
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {Source(source.url(), "r1")}, tenant_call);
  EXPECT_EQ(source.requests().size(), 2u);
}

// §6.3.18: "If present, the listing of previously encountered Context Sources supplied is used
// when determining matching registrations" — a source whose registered contextSourceAlias is in
// Via has seen the request already and is not asked again (not a failure: no warning).
TEST_F(DistributedReadTest, SourcesTheRequestPassedThroughAreNotAskedAgain) {
  LoopbackServer visited([](const http::Request&) { return Json(R"([{"id":"urn:c:8","type":"Car"}])"); });
  LoopbackServer fresh([](const http::Request&) { return Json(R"([{"id":"urn:c:9","type":"Car"}])"); });
  ContextSource b = Source(visited.url(), "r-b");
  b.alias = "hub-b";
  ContextSource c = Source(fresh.url(), "r-c");
  c.alias = "hub-c";
  DistributedRead::QueryAnswer answer =
      read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {b, c}, Call("1.1 hub-b"));
  EXPECT_TRUE(answer.warnings.empty());
  ASSERT_EQ(answer.entities.size(), 1u);
  EXPECT_EQ(answer.entities[0].id, "urn:c:9");
  EXPECT_TRUE(visited.requests().empty());
  EXPECT_EQ(fresh.requests().size(), 1u);
}

// §5.2.9: a registration read back carries timesSent, timesFailed, lastSuccess, lastFailure and
// status ("failed" when the last distributed operation failed, e.g. "an HTTP response code other
// than 2xx").
TEST_F(DistributedReadTest, EachRegistrationsFiguresAreCounted) {
  LoopbackServer good([](const http::Request&) { return Json("[]"); });
  LoopbackServer bad([](const http::Request&) { return Json("{}", 400); });
  std::vector<ContextSource> sources{Source(good.url(), "r-good"), Source(bad.url(), "r-bad")};
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, sources, Call());
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, sources, Call());
  std::optional<RegistrationFigures> g = client_.statistics().Of("", "r-good");
  std::optional<RegistrationFigures> b = client_.statistics().Of("", "r-bad");
  ASSERT_TRUE(g && b);
  EXPECT_EQ(g->times_sent, 2u);
  EXPECT_EQ(g->times_failed, 0u);
  EXPECT_GT(g->last_success_ms, 0);
  EXPECT_EQ(g->last_failure_ms, 0);
  EXPECT_FALSE(g->last_failed);
  EXPECT_EQ(b->times_sent, 2u);
  EXPECT_EQ(b->times_failed, 2u);
  EXPECT_GT(b->last_failure_ms, 0);
  EXPECT_TRUE(b->last_failed);
  EXPECT_FALSE(client_.statistics().Of("", "r-never").has_value());
  client_.statistics().Forget("", "r-bad");
  EXPECT_FALSE(client_.statistics().Of("", "r-bad").has_value());

  // Two tenants may hold registrations of the same id (a client chose it): counted apart.
  ContextSource busan = Source(bad.url(), "r-good");
  busan.home_tenant = "busan";
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {busan}, Call());
  EXPECT_EQ(client_.statistics().Of("", "r-good")->times_failed, 0u);
  EXPECT_EQ(client_.statistics().Of("busan", "r-good")->times_failed, 1u);
}

// §5.7.2 with registrations: each source is asked for what its registration covers of the
// request (the directory's narrowing), with expanded names that mean the same under any
// @context.
TEST_F(DistributedReadTest, EachSourceIsAskedForWhatItsRegistrationCovers) {
  LoopbackServer a([](const http::Request&) { return Json("[]"); });
  LoopbackServer b([](const http::Request&) { return Json("[]"); });
  ContextSource speed_only = Source(a.url(), "r-a");
  speed_only.attributes = {kVocab + "speed"};
  ContextSource everything = Source(b.url(), "r-b");
  ContextSourceRequest selection;
  selection.entity_ids = {"urn:c:1", "urn:c:2"};
  selection.entity_types = {kVocab + "Car"};
  DistributedCall call = Call();
  call.selection = &selection;
  read_.QueryEntities({}, std::nullopt, "q=" + PercentEncode("speed>5"), 0, 10, false, {speed_only, everything}, call);
  const std::string ids = "id=urn%3Ac%3A1%2Curn%3Ac%3A2&type=" + PercentEncode(kVocab + "Car");
  EXPECT_EQ(a.requests().at(0).target,
            "/ngsi-ld/v1/entities?" + ids + "&attrs=" + PercentEncode(kVocab + "speed") + "&q=speed%3E5&offset=0&limit=10");
  EXPECT_EQ(b.requests().at(0).target, "/ngsi-ld/v1/entities?" + ids + "&q=speed%3E5&offset=0&limit=10");
  // A q term is the caller's: the caller's @context goes even to a source with its own.
  LoopbackServer c([](const http::Request&) { return Json("[]"); });
  ContextSource own_context = Source(c.url(), "r-c");
  own_context.info = {{"jsonldContext", "https://source.example/ctx.jsonld"}};
  call.link_context = "https://city.example/ctx.jsonld";
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {own_context}, call);
  call.query_has_terms = true;
  read_.QueryEntities({}, std::nullopt, "q=speed%3E5", 0, 10, false, {own_context}, call);
  EXPECT_NE(c.requests().at(0).headers.Get("Link").find("<https://source.example/ctx.jsonld>"), std::string::npos);
  EXPECT_NE(c.requests().at(1).headers.Get("Link").find("<https://city.example/ctx.jsonld>"), std::string::npos);
  call.query_has_terms = false;
  call.link_context.clear();
  // A retrieve names its entity in the path, not in an id parameter.
  selection.entity_ids = {"urn:c:1"};
  read_.RetrieveEntity(std::nullopt, "urn:c:1", "", {speed_only}, call);
  EXPECT_EQ(a.requests().at(1).target,
            "/ngsi-ld/v1/entities/urn%3Ac%3A1?type=" + PercentEncode(kVocab + "Car") + "&attrs=" + PercentEncode(kVocab + "speed"));
}

TEST_F(DistributedReadTest, ASourceIsAskedOnlyForTheTypesAndAttributesBothTheRequestAndItsRegistrationName) {
  // A city registered for ParkingSpot and Person, asked by a client for ParkingSpot: the city is
  // asked for ParkingSpot alone (its Person entities are not what the client asked for).
  LoopbackServer a([](const http::Request&) { return Json("[]"); });
  ContextSource city = Source(a.url(), "r-city");
  city.entity_types = {kVocab + "ParkingSpot", kVocab + "Person"};
  city.attributes = {kVocab + "status", kVocab + "name"};
  ContextSourceRequest selection;
  selection.entity_types = {kVocab + "ParkingSpot"};
  selection.attributes = {kVocab + "status", kVocab + "occupancy"};
  DistributedCall call = Call();
  call.selection = &selection;
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {city}, call);
  EXPECT_EQ(a.requests().at(0).target, "/ngsi-ld/v1/entities?type=" + PercentEncode(kVocab + "ParkingSpot") +
                                           "&attrs=" + PercentEncode(kVocab + "status") + "&offset=0&limit=10");
  // Without attrs in the request, the source is asked for the attributes it registered.
  selection.attributes.clear();
  read_.QueryEntities({}, std::nullopt, "", 0, 10, false, {city}, call);
  EXPECT_EQ(a.requests().at(1).target, "/ngsi-ld/v1/entities?type=" + PercentEncode(kVocab + "ParkingSpot") +
                                           "&attrs=" + PercentEncode(kVocab + "status") + "%2C" +
                                           PercentEncode(kVocab + "name") + "&offset=0&limit=10");
}

TEST_F(DistributedReadTest, ASourceCoolingDownIsReportedAsNotAsked) {
  testing::ClosedPort dead;
  std::vector<ContextSource> sources{Source(dead.url(), "r-dead")};
  DistributedRead::QueryAnswer first = read_.QueryEntities({}, std::nullopt, "", 0, 10, false, sources, Call());
  EXPECT_EQ(Reasons(first.warnings), std::vector<std::string>{"r-dead: connection failed"});
  DistributedRead::QueryAnswer second = read_.QueryEntities({}, std::nullopt, "", 0, 10, false, sources, Call());
  ASSERT_EQ(second.warnings.size(), 1u);
  EXPECT_NE(second.warnings[0].reason.find("not asked: cooling down after a failure"), std::string::npos);
  EXPECT_EQ(second.warnings[0].HeaderValue().substr(0, 12), "199 r-dead \"");
}

TEST(SourceWarningTest, TheHeaderValueIsAWarnCodeAgentAndQuotedText) {
  SourceWarning w{"urn:ngsi-ld:ContextSourceRegistration:r1", "http://x", "answered \"bad\"\r\nthing"};
  EXPECT_EQ(w.HeaderValue(), "199 urn:ngsi-ld:ContextSourceRegistration:r1 \"answered 'bad'  thing\"");
}

// §5.7.5–§5.7.8 discovery with registrations: the lists are united.
TEST_F(DistributedReadTest, DiscoveryUnitesTheListsOfTheParties) {
  LoopbackServer source([](const http::Request& r) {
    if (r.Param("details")) {
      return Json(R"([{"id":"https://x/Bus","type":"EntityType","typeName":"Bus","attributeNames":["line"]}])");
    }
    return Json(R"({"id":"urn:ngsi-ld:EntityTypeList:1","type":"EntityTypeList","typeList":["Bus","Car"]})");
  });
  LoopbackServer odd([](const http::Request&) { return Json(R"({"unexpected":true})"); });
  DistributedRead::JsonAnswer names = read_.Discovery(json::array{"Car", "Tram"}, "/types", "", false,
                                                      {Source(source.url(), "r1"), Source(odd.url(), "r-odd")}, Call());
  EXPECT_EQ(json::serialize(names.items), R"(["Bus","Car","Tram"])");
  EXPECT_EQ(Reasons(names.warnings), std::vector<std::string>{"r-odd: answered something other than a discovery list"});
  DistributedRead::JsonAnswer details = read_.Discovery(
      json::parse(R"([{"id":"https://x/Car","type":"EntityType","typeName":"Car","attributeNames":["speed"]}])").as_array(),
      "/types", "", true, {Source(source.url(), "r1")}, Call());
  ASSERT_EQ(details.items.size(), 2u);
  EXPECT_EQ(details.items[0].at("typeName").as_string(), "Bus");
  EXPECT_EQ(source.requests().back().target, "/ngsi-ld/v1/types?details=true");
}

// §5.7.3/§5.7.4 temporal with registrations: the instances of the parties are united.
TEST_F(DistributedReadTest, TemporalUnitesTheInstancesOfTheParties) {
  LoopbackServer source([](const http::Request&) {
    return Json(R"([{"id":"urn:c:1","type":"Car","speed":[{"type":"Property","value":2,"observedAt":"2026-01-01T11:00:00Z"}]}])");
  });
  std::vector<json::object> local{json::parse(
      R"({"id":"urn:c:1","type":"Car","speed":[{"type":"Property","value":1,"observedAt":"2026-01-01T10:00:00Z"}]})").as_object()};
  DistributedRead::JsonAnswer answer = read_.Temporal(std::move(local), "/temporal/entities", "timerel=after&timeAt=2026-01-01T00%3A00%3A00Z",
                                                      {Source(source.url(), "r1")}, Call());
  ASSERT_EQ(answer.items.size(), 1u);
  EXPECT_EQ(answer.items[0].at("speed").as_array().size(), 2u);
  EXPECT_EQ(source.requests()[0].target, "/ngsi-ld/v1/temporal/entities?timerel=after&timeAt=2026-01-01T00%3A00%3A00Z");
}

}  // namespace
}  // namespace cityhub::broker
