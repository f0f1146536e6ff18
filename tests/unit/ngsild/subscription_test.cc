// Tests for subscription validation and rendering (ngsild/subscription.h): the stored form
// (expanded names, defaults, q with its @context), each rejected member named in the error,
// patches merged and validated as a whole, and rendering (compaction, status, sysAttrs); and
// what differs for context source registration subscriptions.
#include "ngsild/subscription.h"

#include <string>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
const std::string kVocab(kDefaultVocab);
constexpr std::string_view kMinimal =
    R"({"type":"Subscription","entities":[{"type":"ParkingSpot"}],"notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}}})";

class SubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }

  Result<json::object> Normalize(std::string_view text) {
    return NormalizeSubscription(json::parse(text).as_object(), *ctx_, "urn:ngsi-ld:Subscription:s1", kT0);
  }
  json::object MustNormalize(std::string_view text) {
    auto s = Normalize(text);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : json::object{};
  }
  // `member` replaced in the minimal subscription (JSON text of the value; "" removes it).
  static std::string With(std::string_view member, std::string_view value) {
    json::object o = json::parse(kMinimal).as_object();
    if (value.empty()) {
      o.erase(member);
    } else {
      o[member] = json::parse(value);
    }
    return json::serialize(o);
  }

  ContextResolver resolver_{{}, {}};
  ContextPtr ctx_;
};

TEST_F(SubscriptionTest, StoredFormHasExpandedNamesAndDefaults) {
  json::object s = MustNormalize(
      R"({"type":"Subscription","entities":[{"type":"ParkingSpot","idPattern":"^urn:ngsi-ld:ParkingSpot:j"}],
          "watchedAttributes":["occupancy","occupancy"],"q":"occupancy==\"free\"",
          "geoQ":{"geometry":"Point","coordinates":[127.1,35.8],"georel":"near;maxDistance==500"},
          "notification":{"attributes":["occupancy"],"endpoint":{"uri":"mqtt://broker:1883/city/parking"}}})");
  EXPECT_EQ(s["id"], "urn:ngsi-ld:Subscription:s1");
  EXPECT_EQ(s["entities"].as_array()[0].as_object()["type"], json::value(kVocab + "ParkingSpot"));
  EXPECT_EQ(s["watchedAttributes"], (json::array{kVocab + "occupancy"}));  // duplicates dropped
  EXPECT_EQ(s["geoQ"].as_object()["geoproperty"], "https://uri.etsi.org/ngsi-ld/location");
  EXPECT_EQ(s["q"], "occupancy==\"free\"");
  EXPECT_TRUE(s.contains("qContext"));
  EXPECT_EQ(s["context"], ctx_->AsJson());
  EXPECT_EQ(s["isActive"], true);
  EXPECT_EQ(s["notificationTrigger"], (json::array{"attributeCreated", "attributeUpdated"}));
  json::object& n = s["notification"].as_object();
  EXPECT_EQ(n["format"], "normalized");
  EXPECT_EQ(n["attributes"], (json::array{kVocab + "occupancy"}));
  EXPECT_EQ(n["endpoint"].as_object()["accept"], "application/json");
  EXPECT_EQ(s["createdAt"], kT0);
}

TEST_F(SubscriptionTest, EachInvalidMemberIsNamed) {
  struct Case {
    std::string member, value, named;
  };
  const std::vector<Case> cases = {
      {"type", R"("Entity")", "type"},
      {"type", "", "type"},
      {"notification", "", "notification"},
      {"notification", R"({"endpoint":{}})", "notification.endpoint.uri"},
      {"notification", R"({"endpoint":{"uri":"ftp://x/y"}})", "notification.endpoint.uri"},
      {"notification", R"({"endpoint":{"uri":"mqtt://127.0.0.1:1883"}})", "topic"},
      {"notification", R"({"endpoint":{"uri":"http:/nohost"}})", "notification.endpoint.uri"},
      {"notification", R"({"endpoint":{"uri":"http://h/","accept":"text/plain"}})", "notification.endpoint.accept"},
      {"notification", R"({"endpoint":{"uri":"http://h/","timeout":0}})", "notification.endpoint.timeout"},
      {"notification", R"({"endpoint":{"uri":"http://h/","receiverInfo":[{"key":"a"}]}})", "receiverInfo"},
      {"notification", R"({"format":"xml","endpoint":{"uri":"http://h/"}})", "notification.format"},
      {"notification", R"({"format":"keyValues","showChanges":true,"endpoint":{"uri":"http://h/"}})", "showChanges"},
      {"notification", R"({"attributes":[],"endpoint":{"uri":"http://h/"}})", "notification.attributes"},
      {"entities", "", "watchedAttributes"},
      {"entities", "[]", "entities"},
      {"entities", R"([{"id":"urn:x:1"}])", "'type' is mandatory"},
      {"entities", R"([{"type":"T","id":"not a uri"}])", "'id' must be a URI"},
      {"entities", R"([{"type":"T","idPattern":"(("}])", "idPattern"},
      {"watchedAttributes", "[]", "watchedAttributes"},
      {"notificationTrigger", R"(["entityChanged"])", "notificationTrigger"},
      {"q", R"("speed>>3")", "'q'"},
      {"geoQ", R"({"geometry":"Point","coordinates":[200,0],"georel":"near;maxDistance==10"})", "geoQ"},
      {"geoQ", R"({"geometry":"Point","coordinates":[1,0]})", "georel"},
      {"scopeQ", R"("//a")", "scopeQ"},
      {"throttling", "-1", "throttling"},
      {"throttling", R"("5")", "throttling"},
      {"timeInterval", "0", "timeInterval"},
      {"expiresAt", R"("2000-01-01T00:00:00Z")", "in the past"},
      {"expiresAt", R"("tomorrow")", "expiresAt"},
      {"isActive", R"("yes")", "isActive"},
      {"jsonldContext", R"("not a uri")", "jsonldContext"},
      {"watchedAttribute", R"(["speed"])", "watchedAttribute"},
  };
  for (const auto& c : cases) {
    auto s = Normalize(With(c.member, c.value));
    ASSERT_FALSE(s.ok()) << c.member << "=" << c.value;
    EXPECT_EQ(s.status().code(), Status::Code::kBadRequestData) << c.member << "=" << c.value;
    EXPECT_THAT(s.status().message(), HasSubstr(c.named)) << c.member << "=" << c.value;
  }
  // Conflicts between members.
  for (std::string_view text : {
           R"({"type":"Subscription","entities":[{"type":"T"}],"watchedAttributes":["a"],"timeInterval":10,"notification":{"endpoint":{"uri":"http://h/"}}})",
           R"({"type":"Subscription","entities":[{"type":"T"}],"throttling":5,"timeInterval":10,"notification":{"endpoint":{"uri":"http://h/"}}})",
       }) {
    auto s = Normalize(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_THAT(s.status().message(), HasSubstr("timeInterval"));
  }
  // What this hub does not implement is said so (422), not silently ignored.
  auto csf = Normalize(With("csf", R"("a==b")"));
  ASSERT_FALSE(csf.ok());
  EXPECT_EQ(csf.status().code(), Status::Code::kOperationNotSupported);
}

TEST_F(SubscriptionTest, PatchesMergeNotificationAndAreValidatedWhole) {
  json::object s = MustNormalize(kMinimal);
  const int64_t later = kT0 + 1000;
  ASSERT_TRUE(PatchSubscription(s, json::parse(R"({"notification":{"format":"keyValues"}})").as_object(), *ctx_, later).ok());
  EXPECT_EQ(s["notification"].as_object()["format"], "keyValues");
  EXPECT_EQ(s["notification"].as_object()["endpoint"].as_object()["uri"], "http://127.0.0.1:9/n");
  EXPECT_EQ(s["modifiedAt"], later);
  EXPECT_EQ(s["createdAt"], kT0);
  // Invalid as a whole (showChanges with keyValues), or in itself: nothing changes.
  const json::object before = s;
  for (std::string_view fragment : {R"({"notification":{"showChanges":true}})", R"({"throttling":-5})",
                                    R"({"entities":null})", R"({"id":"urn:other"})"}) {
    Status st = PatchSubscription(s, json::parse(fragment).as_object(), *ctx_, later + 1);
    EXPECT_FALSE(st.ok()) << fragment;
    EXPECT_EQ(s, before) << fragment;
  }
  // null removes an optional member.
  ASSERT_TRUE(PatchSubscription(s, json::parse(R"({"throttling":5})").as_object(), *ctx_, later).ok());
  ASSERT_TRUE(PatchSubscription(s, json::parse(R"({"throttling":null})").as_object(), *ctx_, later).ok());
  EXPECT_FALSE(s.contains("throttling"));
}

TEST_F(SubscriptionTest, RenderingCompactsNamesAndTellsTheStatus) {
  json::object s = MustNormalize(
      R"({"type":"Subscription","entities":[{"type":"ParkingSpot"}],"watchedAttributes":["occupancy"],
          "expiresAt":"2030-01-01T00:00:00Z","notification":{"attributes":["occupancy"],"endpoint":{"uri":"http://h/"}}})");
  json::object r = RenderSubscription(s, *ctx_, /*sys_attrs=*/false, kT0);
  EXPECT_EQ(r["entities"].as_array()[0].as_object()["type"], "ParkingSpot");
  EXPECT_EQ(r["watchedAttributes"], (json::array{"occupancy"}));
  EXPECT_EQ(r["notification"].as_object()["attributes"], (json::array{"occupancy"}));
  EXPECT_EQ(r["expiresAt"], "2030-01-01T00:00:00Z");  // as written
  EXPECT_EQ(r["status"], "active");
  EXPECT_FALSE(r.contains("qContext"));
  EXPECT_FALSE(r.contains("context"));
  EXPECT_FALSE(r.contains("createdAt"));
  EXPECT_TRUE(RenderSubscription(s, *ctx_, /*sys_attrs=*/true, kT0).contains("createdAt"));
  // Past expiresAt: expired; inactive: paused.
  const int64_t y2031 = 1'924'992'000'000;
  EXPECT_EQ(RenderSubscription(s, *ctx_, false, y2031)["status"], "expired");
  ASSERT_TRUE(PatchSubscription(s, json::parse(R"({"isActive":false})").as_object(), *ctx_, kT0).ok());
  EXPECT_EQ(RenderSubscription(s, *ctx_, false, kT0)["status"], "paused");
}

TEST_F(SubscriptionTest, RenderingLeavesOutTheDefaultsTheHubFilledIn) {
  json::object s = MustNormalize(R"({"type":"Subscription","entities":[{"type":"ParkingSpot"}],
                                     "notification":{"format":"concise","endpoint":{"uri":"http://h/"}}})");
  EXPECT_EQ(s["isActive"], true);  // the stored form has every default: the matcher relies on it
  json::object r = RenderSubscription(s, *ctx_, false, kT0);
  EXPECT_FALSE(r.contains("isActive"));
  EXPECT_FALSE(r.contains("notificationTrigger"));
  EXPECT_FALSE(r.contains("defaulted"));
  EXPECT_EQ(r["notification"], json::parse(R"({"format":"concise","endpoint":{"uri":"http://h/"}})"));
  // Given by an update: the client's from then on; removed with null: the default again, unshown.
  ASSERT_TRUE(PatchSubscription(s, json::parse(R"({"isActive":true,"notification":{"endpoint":{"accept":"application/json"}}})").as_object(), *ctx_, kT0).ok());
  r = RenderSubscription(s, *ctx_, false, kT0);
  EXPECT_EQ(r["isActive"], true);
  EXPECT_EQ(r["notification"].as_object()["endpoint"], json::parse(R"({"uri":"http://h/","accept":"application/json"})"));
  ASSERT_TRUE(PatchSubscription(s, json::parse(R"({"isActive":null,"notification":{"format":null}})").as_object(), *ctx_, kT0).ok());
  EXPECT_EQ(s["isActive"], true);
  EXPECT_EQ(s["notification"].as_object()["format"], "normalized");
  r = RenderSubscription(s, *ctx_, false, kT0);
  EXPECT_FALSE(r.contains("isActive"));
  EXPECT_FALSE(r["notification"].as_object().contains("format"));
}

TEST_F(SubscriptionTest, ExpiresAtIsKeptInUtcWithItsFractionAndOldStoredFormsStillRead) {
  json::object s = MustNormalize(
      R"({"type":"Subscription","entities":[{"type":"ParkingSpot"}],"expiresAt":"2030-01-01T09:00:00.25+09:00",
          "notification":{"endpoint":{"uri":"http://h/"}}})");
  EXPECT_EQ(s["expiresAt"], "2030-01-01T00:00:00.25Z");
  EXPECT_EQ(ExpiresAtMs(s["expiresAt"]), 1'893'456'000'250);
  EXPECT_EQ(RenderSubscription(s, *ctx_, false, kT0)["expiresAt"], "2030-01-01T00:00:00.25Z");
  // Subscriptions stored by earlier versions hold epoch milliseconds: shown with milliseconds,
  // and they still expire.
  s["expiresAt"] = int64_t{1'893'456'000'250};
  EXPECT_EQ(ExpiresAtMs(s["expiresAt"]), 1'893'456'000'250);
  EXPECT_EQ(RenderSubscription(s, *ctx_, false, kT0)["expiresAt"], "2030-01-01T00:00:00.250Z");
  EXPECT_EQ(RenderSubscription(s, *ctx_, false, 1'893'456'000'250)["status"], "expired");
  EXPECT_EQ(RenderSubscription(s, *ctx_, false, 1'893'456'000'249)["status"], "active");
}

TEST_F(SubscriptionTest, CsourceSubscriptionsTakeCsfAndRefuseEntityOnlyMembers) {
  auto csource = [&](std::string_view text) {
    return NormalizeSubscription(json::parse(text).as_object(), *ctx_, "urn:ngsi-ld:Subscription:c1", kT0, {},
                                 SubscriptionKind::kCsource);
  };
  auto s = csource(With("csf", R"("tier>=2")"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->at("csf"), "tier>=2");
  EXPECT_TRUE(s->contains("csfContext"));
  EXPECT_FALSE(s->contains("notificationTrigger"));  // no entity-trigger default
  EXPECT_FALSE(RenderSubscription(*s, *ctx_, false, kT0).contains("csfContext"));
  EXPECT_EQ(csource(With("csf", R"("tier>")")).status().code(), Status::Code::kBadRequestData);
  for (auto [member, value] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {"notificationTrigger", R"(["entityCreated"])"}, {"datasetId", R"(["@none"])"}, {"lang", R"("en")"}}) {
    auto refused = csource(With(member, value));
    ASSERT_FALSE(refused.ok()) << member;
    EXPECT_EQ(refused.status().code(), Status::Code::kBadRequestData) << member;
    EXPECT_THAT(refused.status().message(), HasSubstr(member));
  }
  for (std::string_view notification : {R"({"endpoint":{"uri":"http://h/"},"attributes":["a"]})",
                                        R"({"endpoint":{"uri":"http://h/"},"format":"keyValues"})",
                                        R"({"endpoint":{"uri":"http://h/"},"showChanges":true})",
                                        R"({"endpoint":{"uri":"http://h/","accept":"application/geo+json"}})"}) {
    EXPECT_EQ(csource(With("notification", notification)).status().code(), Status::Code::kBadRequestData) << notification;
  }
  EXPECT_TRUE(csource(With("notification", R"({"endpoint":{"uri":"http://h/"},"format":"normalized","sysAttrs":true})")).ok());
  EXPECT_EQ(csource(With("timeInterval", "10")).status().code(), Status::Code::kOperationNotSupported);
  EXPECT_EQ(csource(With("geoQ", R"({"geometry":"Point","coordinates":[1,2],"georel":"intersects","geoproperty":"x"})"))
                .status().code(),
            Status::Code::kBadRequestData);
  EXPECT_TRUE(csource(With("geoQ", R"({"geometry":"Point","coordinates":[1,2],"georel":"intersects","geoproperty":"operationSpace"})")).ok());
  // an update is held to the same rules, and may remove csf
  json::object stored = *s;
  EXPECT_FALSE(PatchSubscription(stored, json::parse(R"({"lang":"en"})").as_object(), *ctx_, kT0 + 1, {},
                                 SubscriptionKind::kCsource).ok());
  ASSERT_TRUE(PatchSubscription(stored, json::parse(R"({"csf":null})").as_object(), *ctx_, kT0 + 1, {},
                                SubscriptionKind::kCsource).ok());
  EXPECT_FALSE(stored.contains("csf"));
  EXPECT_FALSE(stored.contains("csfContext"));
}

}  // namespace
}  // namespace cityhub::ngsild
