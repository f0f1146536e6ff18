// Tests for notification payloads (ngsild/notification.h): the envelope, each format,
// notification.attributes, sysAttrs, lang, showChanges (previous values, bare concise
// attributes wrapped) and deleted entities.
#include "ngsild/notification.h"

#include <string>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "ngsild/subscription.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;

constexpr int64_t kT0 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z

class NotificationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }
  json::object Sub(std::string_view extra_members, std::string_view notification_members = "") {
    std::string text = fmt::format(
        R"({{"type":"Subscription","entities":[{{"type":"ParkingSpot"}}]{}{},"notification":{{{}{}"endpoint":{{"uri":"http://h/"}}}}}})",
        extra_members.empty() ? "" : ",", extra_members, notification_members,
        notification_members.empty() ? "" : ",");
    auto s = NormalizeSubscription(json::parse(text).as_object(), *ctx_, "urn:ngsi-ld:Subscription:s1", kT0);
    EXPECT_TRUE(s.ok()) << text << ": " << s.status().message();
    return s.ok() ? std::move(*s) : json::object{};
  }
  Entity E(std::string_view text, int64_t now = kT0) {
    auto e = ParseEntity(json::parse(text).as_object(), *ctx_, now, {});
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : Entity{};
  }
  json::object Render(const json::object& sub, std::vector<NotifiedEntity> items) {
    return RenderNotification(sub, std::move(items), *ctx_, "urn:ngsi-ld:Notification:n1", kT0 + 500);
  }

  ContextResolver resolver_{{}, {}};
  ContextPtr ctx_;
  const std::string spot_ = R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":1,
      "name":{"type":"LanguageProperty","languageMap":{"ko":"주차 1","en":"Spot 1"}},
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.1,35.8]}}})";
};

TEST_F(NotificationTest, EnvelopeAndNormalizedDataWithTheAttributesAsked) {
  json::object n = Render(Sub("", R"("attributes":["occupancy"])"), {{E(spot_)}});
  EXPECT_EQ(n["id"], "urn:ngsi-ld:Notification:n1");
  EXPECT_EQ(n["type"], "Notification");
  EXPECT_EQ(n["subscriptionId"], "urn:ngsi-ld:Subscription:s1");
  EXPECT_EQ(n["notifiedAt"], "2023-11-14T22:13:20.500Z");
  ASSERT_EQ(n["data"].as_array().size(), 1u);
  const json::object& e = n["data"].as_array()[0].as_object();
  EXPECT_EQ(e.at("id"), "urn:ngsi-ld:ParkingSpot:1");
  EXPECT_EQ(e.at("type"), "ParkingSpot");
  EXPECT_EQ(e.at("occupancy"), json::parse(R"({"type":"Property","value":1})"));
  EXPECT_FALSE(e.contains("location"));
  EXPECT_FALSE(e.contains("createdAt"));
}

TEST_F(NotificationTest, FormatsSysAttrsAndLanguage) {
  json::object kv = Render(Sub(R"("lang":"en")", R"("format":"keyValues","sysAttrs":true)"), {{E(spot_)}});
  const json::object& e = kv["data"].as_array()[0].as_object();
  EXPECT_EQ(e.at("occupancy"), 1);
  EXPECT_EQ(e.at("name"), "Spot 1");
  EXPECT_TRUE(e.contains("createdAt"));
  json::object concise = Render(Sub("", R"("format":"concise")"), {{E(spot_)}});
  const json::object& c = concise["data"].as_array()[0].as_object();
  EXPECT_EQ(c.at("occupancy"), 1);
  EXPECT_EQ(c.at("location"), json::parse(R"({"type":"Point","coordinates":[127.1,35.8]})"));
}

TEST_F(NotificationTest, ShowChangesAddsThePreviousValuesOfChangedAttributes) {
  Entity before = E(spot_);
  Entity after = before;
  Entity moved = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0,
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.2,35.9]}}})", kT0 + 1);
  after.attrs[ctx_->ExpandTerm("occupancy")] = moved.attrs.at(ctx_->ExpandTerm("occupancy"));
  after.attrs[ctx_->ExpandTerm("location")] = moved.attrs.at(ctx_->ExpandTerm("location"));
  json::object normalized = Render(Sub("", R"("showChanges":true)"), {{after, &before}});
  const json::object& e = normalized["data"].as_array()[0].as_object();
  EXPECT_EQ(e.at("occupancy").at("value"), 0);
  EXPECT_EQ(e.at("occupancy").at("previousValue"), 1);
  EXPECT_EQ(e.at("location").at("previousValue"), json::parse(R"({"type":"Point","coordinates":[127.1,35.8]})"));
  EXPECT_FALSE(e.at("name").as_object().contains("previousLanguageMap"));  // unchanged
  // Concise: bare values are wrapped so that the previous value has a place.
  json::object concise = Render(Sub("", R"("format":"concise","showChanges":true)"), {{after, &before}});
  const json::object& c = concise["data"].as_array()[0].as_object();
  EXPECT_EQ(c.at("occupancy"), json::parse(R"({"value":0,"previousValue":1})"));
  EXPECT_EQ(c.at("location").at("value"), json::parse(R"({"type":"Point","coordinates":[127.2,35.9]})"));
  EXPECT_EQ(c.at("location").at("previousValue"), json::parse(R"({"type":"Point","coordinates":[127.1,35.8]})"));
  // Without showChanges nothing is added.
  json::object plain = Render(Sub(""), {{after, &before}});
  EXPECT_FALSE(plain["data"].as_array()[0].as_object().at("occupancy").as_object().contains("previousValue"));
}

TEST_F(NotificationTest, DeletedEntitiesAreIdTypeAndDeletedAt) {
  NotifiedEntity gone{E(spot_), nullptr, true, kT0 + 100};
  json::object n = Render(Sub(""), {std::move(gone)});
  EXPECT_EQ(n["data"].as_array()[0],
            json::parse(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","deletedAt":"2023-11-14T22:13:20.100Z"})"));
}

TEST_F(NotificationTest, DeletedAttributesAreNamedAsDeleted) {
  Entity before = E(spot_);
  Entity after = before;
  after.attrs.erase(ctx_->ExpandTerm("occupancy"));
  after.attrs.erase(ctx_->ExpandTerm("name"));
  json::object normalized = Render(Sub(""), {{after, &before}});
  const json::object& e = normalized["data"].as_array()[0].as_object();
  EXPECT_EQ(e.at("occupancy"), json::parse(R"({"type":"Property","value":"urn:ngsi-ld:null"})"));
  EXPECT_EQ(e.at("name"), json::parse(R"({"type":"LanguageProperty","languageMap":{"@none":"urn:ngsi-ld:null"}})"));
  EXPECT_EQ(e.at("location").at("type"), "GeoProperty");  // still there
  json::object kv = Render(Sub("", R"("format":"keyValues","attributes":["occupancy"])"), {{after, &before}});
  const json::object& k = kv["data"].as_array()[0].as_object();
  EXPECT_EQ(k.at("occupancy"), "urn:ngsi-ld:null");
  EXPECT_FALSE(k.contains("name"));  // not asked for
}

TEST_F(NotificationTest, DeletedEntitiesWithSysAttrsAndShowChanges) {
  NotifiedEntity gone{E(spot_), nullptr, true, kT0 + 100};
  json::object n = Render(Sub("", R"("sysAttrs":true,"showChanges":true,"attributes":["occupancy","name"])"), {std::move(gone)});
  const json::object& e = n["data"].as_array()[0].as_object();
  EXPECT_EQ(e.at("createdAt"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(e.at("modifiedAt"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(e.at("deletedAt"), "2023-11-14T22:13:20.100Z");
  EXPECT_EQ(e.at("occupancy"), json::parse(R"({"type":"Property","value":"urn:ngsi-ld:null","createdAt":"2023-11-14T22:13:20.000Z",
      "modifiedAt":"2023-11-14T22:13:20.000Z","deletedAt":"2023-11-14T22:13:20.100Z","previousValue":1})"));
  EXPECT_EQ(e.at("name").at("previousLanguageMap"), json::parse(R"({"ko":"주차 1","en":"Spot 1"})"));
  EXPECT_FALSE(e.contains("location"));  // not asked for
}

TEST_F(NotificationTest, DeletedDatasetInstanceJoinsTheInstancesLeft) {
  Entity before = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","t":[{"type":"Property","value":1},
      {"type":"Property","value":2,"datasetId":"urn:ds:a"}]})");
  Entity after = before;
  after.attrs.at(ctx_->ExpandTerm("t")).pop_back();
  json::object n = Render(Sub("", R"("format":"concise")"), {{after, &before}});
  EXPECT_EQ(n["data"].as_array()[0].at("t"), json::parse(R"([1,{"value":"urn:ngsi-ld:null","datasetId":"urn:ds:a"}])"));
  json::object kv = Render(Sub("", R"("format":"keyValues")"), {{after, &before}});
  EXPECT_EQ(kv["data"].as_array()[0].at("t"), 1);  // keyValues shows the values left
}

TEST_F(NotificationTest, GeoJsonEndpointsGetAFeatureCollection) {
  auto sub = NormalizeSubscription(
      json::parse(R"({"type":"Subscription","entities":[{"type":"ParkingSpot"}],"notification":{"format":"keyValues",
          "endpoint":{"uri":"http://h/","accept":"application/geo+json"}}})").as_object(),
      *ctx_, "urn:ngsi-ld:Subscription:s1", kT0);
  ASSERT_TRUE(sub.ok()) << sub.status().message();
  json::object n = Render(*sub, {{E(spot_)}, {E(R"({"id":"urn:ngsi-ld:ParkingSpot:2","type":"ParkingSpot","occupancy":0})")}});
  EXPECT_EQ(n["type"], "Notification");
  const json::object& data = n["data"].as_object();
  EXPECT_EQ(data.at("type"), "FeatureCollection");
  const json::array& features = data.at("features").as_array();
  ASSERT_EQ(features.size(), 2u);
  EXPECT_EQ(features[0].at("type"), "Feature");
  EXPECT_EQ(features[0].at("id"), "urn:ngsi-ld:ParkingSpot:1");
  EXPECT_EQ(features[0].at("geometry"), json::parse(R"({"type":"Point","coordinates":[127.1,35.8]})"));
  EXPECT_EQ(features[0].at("properties").at("occupancy"), 1);
  EXPECT_EQ(features[0].at("properties").at("type"), "ParkingSpot");
  EXPECT_TRUE(features[1].at("geometry").is_null());  // no location
  // Other endpoints keep the plain array.
  EXPECT_TRUE(Render(Sub(""), {{E(spot_)}})["data"].is_array());
}

}  // namespace
}  // namespace cityhub::ngsild
