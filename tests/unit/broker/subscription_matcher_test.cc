// Tests for SubscriptionMatcher: which subscriptions an entity change fires and with which
// trigger — selectors (type, id, idPattern), notificationTrigger kinds and watchedAttributes,
// q / geoQ / scopeQ on the entity after (or, for deletions, before) the change, inactive,
// expired and periodic subscriptions, and the per-tenant index (put, replace, remove, order).
#include "broker/subscription_matcher.h"

#include <string>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "ngsild/subscription.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kNow = 1'700'000'000'000;

class SubscriptionMatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }

  CompiledSubscriptionPtr Sub(std::string_view id, std::string_view members) {
    std::string text = fmt::format(R"({{"type":"Subscription",{},"notification":{{"endpoint":{{"uri":"http://h/"}}}}}})", members);
    auto stored = ngsild::NormalizeSubscription(json::parse(text).as_object(), *ctx_, id, kNow - 1000);
    EXPECT_TRUE(stored.ok()) << text << ": " << stored.status().message();
    if (!stored.ok()) return nullptr;
    auto compiled = CompiledSubscription::Compile(*stored, resolver_);
    EXPECT_TRUE(compiled.ok()) << compiled.status().message();
    return compiled.ok() ? *compiled : nullptr;
  }

  ngsild::Entity E(std::string_view text, int64_t now = kNow) {
    auto e = ngsild::ParseEntity(json::parse(text).as_object(), *ctx_, now, {});
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : ngsild::Entity{};
  }

  // `e` with attribute `attr` rewritten to `value` (JSON) at `now`, its other attributes as they
  // were (as an update through the broker leaves them); an empty `value` deletes the attribute.
  ngsild::Entity Changed(ngsild::Entity e, const std::string& attr, std::string_view value, int64_t now) {
    const std::string expanded = ctx_->ExpandTerm(attr);
    if (value.empty()) {
      e.attrs.erase(expanded);
      return e;
    }
    auto one = E(fmt::format(R"({{"id":"{}","type":"T","{}":{}}})", e.id, attr, value), now);
    e.attrs[expanded] = one.attrs.at(expanded);
    return e;
  }

  std::string Fired(const CompiledSubscriptionPtr& s, const ngsild::Entity* before, const ngsild::Entity* after,
                    int64_t now = kNow) {
    return s->Fires({before, after}, now).value_or("-");
  }

  ngsild::ContextResolver resolver_{{}, {}};
  ngsild::ContextPtr ctx_;
};

TEST_F(SubscriptionMatcherTest, TriggersFollowTheKindsAskedForAndTheWatchedAttributes) {
  const auto spot = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0,"name":"A-1"})");
  const auto taken = Changed(spot, "occupancy", "1", kNow + 1);
  const auto renamed = Changed(spot, "name", R"("B-1")", kNow + 1);
  const auto rewritten = Changed(spot, "occupancy", "0", kNow + 5);
  const auto no_name = Changed(spot, "name", "", kNow + 1);

  // Default triggers (attributeCreated, attributeUpdated), any attribute.
  auto any = Sub("urn:s:any", R"("entities":[{"type":"ParkingSpot"}])");
  EXPECT_EQ(Fired(any, nullptr, &spot), "attributeCreated");
  EXPECT_EQ(Fired(any, &spot, &taken), "attributeUpdated");
  EXPECT_EQ(Fired(any, &spot, &rewritten), "attributeUpdated");  // same value, new modifiedAt
  EXPECT_EQ(Fired(any, &spot, &spot), "-");                       // nothing changed
  EXPECT_EQ(Fired(any, &spot, &no_name), "-");                    // attributeDeleted not asked
  EXPECT_EQ(Fired(any, &spot, nullptr), "-");                     // entityDeleted not asked

  // Watched attributes narrow the attribute events.
  auto occupancy = Sub("urn:s:occ", R"("entities":[{"type":"ParkingSpot"}],"watchedAttributes":["occupancy"])");
  EXPECT_EQ(Fired(occupancy, &spot, &taken), "attributeUpdated");
  EXPECT_EQ(Fired(occupancy, &spot, &renamed), "-");

  auto lifecycle = Sub("urn:s:life", R"("entities":[{"type":"ParkingSpot"}],
      "notificationTrigger":["entityCreated","entityDeleted","attributeDeleted"])");
  EXPECT_EQ(Fired(lifecycle, nullptr, &spot), "entityCreated");
  EXPECT_EQ(Fired(lifecycle, &spot, nullptr), "entityDeleted");
  EXPECT_EQ(Fired(lifecycle, &spot, &no_name), "attributeDeleted");
  EXPECT_EQ(Fired(lifecycle, &spot, &taken), "-");

  auto updated = Sub("urn:s:upd", R"("entities":[{"type":"ParkingSpot"}],"watchedAttributes":["name"],
      "notificationTrigger":["entityUpdated"])");
  EXPECT_EQ(Fired(updated, &spot, &renamed), "entityUpdated");
  EXPECT_EQ(Fired(updated, &spot, &no_name), "entityUpdated");
  EXPECT_EQ(Fired(updated, &spot, &taken), "-");
  EXPECT_EQ(Fired(updated, nullptr, &spot), "-");  // a creation is not an update

  // entityCreated with watchedAttributes needs a watched attribute on the entity.
  auto created_watching = Sub("urn:s:cw", R"("entities":[{"type":"ParkingSpot"}],"watchedAttributes":["speed"],
      "notificationTrigger":["entityCreated"])");
  EXPECT_EQ(Fired(created_watching, nullptr, &spot), "-");
}

TEST_F(SubscriptionMatcherTest, SelectorsAndFiltersDecideOnTheEntity) {
  const auto p1 = E(R"({"id":"urn:ngsi-ld:ParkingSpot:jeonju:1","type":"ParkingSpot","occupancy":1,
      "scope":"/Jeonju/Deokjin","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.10,35.80]}}})");
  const auto p2 = E(R"({"id":"urn:ngsi-ld:ParkingSpot:gimhae:2","type":"ParkingSpot","occupancy":0,
      "scope":"/Gimhae","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[128.88,35.23]}}})");
  const auto air = E(R"({"id":"urn:ngsi-ld:AirQualityObserved:1","type":"AirQualityObserved","pm10":30})");

  auto by_id = Sub("urn:s:id", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:gimhae:2"}])");
  EXPECT_EQ(Fired(by_id, nullptr, &p1), "-");
  EXPECT_EQ(Fired(by_id, nullptr, &p2), "attributeCreated");
  auto by_pattern = Sub("urn:s:pat", R"("entities":[{"type":"ParkingSpot","idPattern":":jeonju:"}])");
  EXPECT_EQ(Fired(by_pattern, nullptr, &p1), "attributeCreated");
  EXPECT_EQ(Fired(by_pattern, nullptr, &p2), "-");
  EXPECT_EQ(Fired(by_pattern, nullptr, &air), "-");
  auto q = Sub("urn:s:q", R"("entities":[{"type":"ParkingSpot"}],"q":"occupancy==0")");
  EXPECT_EQ(Fired(q, nullptr, &p1), "-");
  EXPECT_EQ(Fired(q, nullptr, &p2), "attributeCreated");
  auto near = Sub("urn:s:near", R"("entities":[{"type":"ParkingSpot"}],
      "geoQ":{"geometry":"Point","coordinates":[127.101,35.801],"georel":"near;maxDistance==500"})");
  EXPECT_EQ(Fired(near, nullptr, &p1), "attributeCreated");
  EXPECT_EQ(Fired(near, nullptr, &p2), "-");
  auto scope = Sub("urn:s:scope", R"("entities":[{"type":"ParkingSpot"}],"scopeQ":"/Jeonju/#")");
  EXPECT_EQ(Fired(scope, nullptr, &p1), "attributeCreated");
  EXPECT_EQ(Fired(scope, nullptr, &p2), "-");
  // A deletion is judged on the entity as it was.
  auto deleted_free = Sub("urn:s:del", R"("entities":[{"type":"ParkingSpot"}],"q":"occupancy==0",
      "notificationTrigger":["entityDeleted"])");
  EXPECT_EQ(Fired(deleted_free, &p2, nullptr), "entityDeleted");
  EXPECT_EQ(Fired(deleted_free, &p1, nullptr), "-");
}

TEST_F(SubscriptionMatcherTest, InactiveExpiredAndPeriodicSubscriptionsDoNotFireOnChanges) {
  const auto spot = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0})");
  EXPECT_EQ(Fired(Sub("urn:s:off", R"("entities":[{"type":"ParkingSpot"}],"isActive":false)"), nullptr, &spot), "-");
  auto expiring = Sub("urn:s:exp", R"("entities":[{"type":"ParkingSpot"}],"expiresAt":"2030-01-01T00:00:00Z")");
  EXPECT_EQ(Fired(expiring, nullptr, &spot), "attributeCreated");
  EXPECT_EQ(Fired(expiring, nullptr, &spot, 1'924'992'000'000), "-");  // 2031
  EXPECT_EQ(Fired(Sub("urn:s:per", R"("entities":[{"type":"ParkingSpot"}],"timeInterval":60)"), nullptr, &spot), "-");
}

TEST_F(SubscriptionMatcherTest, TheIndexHoldsEachTenantsSubscriptionsAndAnswersInIdOrder) {
  SubscriptionMatcher m;
  m.Put("", Sub("urn:s:b", R"("entities":[{"type":"ParkingSpot"},{"type":"OffStreetParking"}])"));
  m.Put("", Sub("urn:s:a", R"("watchedAttributes":["occupancy"])"));  // any type
  m.Put("", Sub("urn:s:c", R"("entities":[{"type":"AirQualityObserved"}])"));
  m.Put("city2", Sub("urn:s:z", R"("entities":[{"type":"ParkingSpot"}])"));
  EXPECT_EQ(m.Size(""), 3u);
  EXPECT_EQ(m.Size("city2"), 1u);
  EXPECT_EQ(m.Size("nobody"), 0u);
  const auto spot = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":["ParkingSpot","OffStreetParking"],"occupancy":0})");
  auto ids = [&](std::string_view tenant) {
    std::vector<std::string> out;
    for (const auto& match : m.Match(tenant, {nullptr, &spot}, kNow)) out.push_back(match.subscription->id());
    return out;
  };
  EXPECT_THAT(ids(""), ElementsAre("urn:s:a", "urn:s:b"));  // b once, though selected twice
  EXPECT_THAT(ids("city2"), ElementsAre("urn:s:z"));
  EXPECT_THAT(ids("nobody"), IsEmpty());
  // Replacing and removing.
  m.Put("", Sub("urn:s:b", R"("entities":[{"type":"AirQualityObserved"}])"));
  EXPECT_THAT(ids(""), ElementsAre("urn:s:a"));
  m.Remove("", "urn:s:a");
  m.Remove("", "urn:s:absent");
  EXPECT_THAT(ids(""), IsEmpty());
  EXPECT_EQ(m.Size(""), 2u);
}

}  // namespace
}  // namespace cityhub::broker
