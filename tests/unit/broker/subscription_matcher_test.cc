// Tests for SubscriptionMatcher: which subscriptions an entity change fires and with which
// trigger — selectors (type, id, idPattern), notificationTrigger kinds and watchedAttributes,
// q / geoQ / scopeQ on the entity after (or, for deletions, before) the change, inactive,
// expired and periodic subscriptions, and the per-tenant index (put, replace, remove, order);
// and context source registration subscriptions: which registrations they are about and the
// triggerReason of a registration change.
#include "broker/subscription_matcher.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/csource_registration.h"
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


// The ids and triggers a matcher answers for a change, as "id:trigger" in the order given.
std::vector<std::string> Answer(const SubscriptionMatcher& m, std::string_view tenant, const ngsild::Entity* before,
                                const ngsild::Entity* after, int64_t now = kNow) {
  std::vector<std::string> out;
  for (const auto& match : m.Match(tenant, {before, after}, now)) {
    out.push_back(match.subscription->id() + ":" + match.trigger);
  }
  return out;
}

TEST_F(SubscriptionMatcherTest, TenThousandPerEntitySubscriptionsEachFireOnlyForTheirEntity) {
  constexpr int kCount = 10'000;
  std::vector<CompiledSubscriptionPtr> all;
  all.reserve(kCount);
  for (int k = 0; k < kCount; ++k) {
    auto s = Sub(fmt::format("urn:s:{:05}", k),
                 fmt::format(R"("entities":[{{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:{}"}}])", k));
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(s->ids(), std::vector<std::string>{fmt::format("urn:ngsi-ld:ParkingSpot:{}", k)});
    all.push_back(std::move(s));
  }
  SubscriptionMatcher m;
  m.PutAll("", std::move(all));
  ASSERT_EQ(m.Size(""), static_cast<size_t>(kCount));
  for (int k = 0; k < kCount; ++k) {
    const auto spot = E(fmt::format(R"({{"id":"urn:ngsi-ld:ParkingSpot:{}","type":"ParkingSpot","occupancy":0}})", k));
    const auto taken = Changed(spot, "occupancy", "1", kNow + 1);
    auto created = m.Match("", {nullptr, &spot}, kNow);
    ASSERT_EQ(created.size(), 1u) << "entity " << k;
    ASSERT_EQ(created[0].subscription->id(), fmt::format("urn:s:{:05}", k));
    ASSERT_EQ(created[0].trigger, "attributeCreated");
    auto updated = m.Match("", {&spot, &taken}, kNow + 1);
    ASSERT_EQ(updated.size(), 1u) << "entity " << k;
    ASSERT_EQ(updated[0].subscription->id(), fmt::format("urn:s:{:05}", k));
    ASSERT_EQ(updated[0].trigger, "attributeUpdated");
  }
  // An entity of the same type that no subscription names, and the named id under another type.
  const auto other = E(R"({"id":"urn:ngsi-ld:ParkingSpot:x","type":"ParkingSpot","occupancy":0})");
  EXPECT_THAT(Answer(m, "", nullptr, &other), IsEmpty());
  const auto wrong_type = E(R"({"id":"urn:ngsi-ld:ParkingSpot:7","type":"Sensor","occupancy":0})");
  EXPECT_THAT(Answer(m, "", nullptr, &wrong_type), IsEmpty());
}

TEST_F(SubscriptionMatcherTest, ASubscriptionMixingAnIdSelectorAndATypeSelectorIsFiledByType) {
  auto mixed = Sub("urn:s:mixed", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:1"},
      {"type":"OffStreetParking"}])");
  ASSERT_NE(mixed, nullptr);
  EXPECT_THAT(mixed->ids(), IsEmpty());  // not every selector names an id
  EXPECT_EQ(mixed->types().size(), 2u);
  SubscriptionMatcher m;
  m.Put("", mixed);
  const auto named = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0})");
  const auto other_spot = E(R"({"id":"urn:ngsi-ld:ParkingSpot:2","type":"ParkingSpot","occupancy":0})");
  const auto lot_a = E(R"({"id":"urn:ngsi-ld:OffStreetParking:a","type":"OffStreetParking","occupancy":0})");
  const auto lot_b = E(R"({"id":"urn:ngsi-ld:OffStreetParking:b","type":"OffStreetParking","occupancy":0})");
  EXPECT_THAT(Answer(m, "", nullptr, &named), ElementsAre("urn:s:mixed:attributeCreated"));
  EXPECT_THAT(Answer(m, "", nullptr, &other_spot), IsEmpty());  // the ParkingSpot selector names an id
  EXPECT_THAT(Answer(m, "", nullptr, &lot_a), ElementsAre("urn:s:mixed:attributeCreated"));
  EXPECT_THAT(Answer(m, "", nullptr, &lot_b), ElementsAre("urn:s:mixed:attributeCreated"));
  const auto lot_b_taken = Changed(lot_b, "occupancy", "1", kNow + 1);
  EXPECT_THAT(Answer(m, "", &lot_b, &lot_b_taken), ElementsAre("urn:s:mixed:attributeUpdated"));

  // Beside per-entity subscriptions on the same entity, both fire, once each, in id order.
  m.Put("", Sub("urn:s:a-one", R"("entities":[{"type":"OffStreetParking","id":"urn:ngsi-ld:OffStreetParking:a"}])"));
  m.Put("", Sub("urn:s:z-two", R"("entities":[{"type":"OffStreetParking","id":"urn:ngsi-ld:OffStreetParking:a"},
      {"type":"OffStreetParking","id":"urn:ngsi-ld:OffStreetParking:c"}])"));
  EXPECT_THAT(Answer(m, "", nullptr, &lot_a),
              ElementsAre("urn:s:a-one:attributeCreated", "urn:s:mixed:attributeCreated", "urn:s:z-two:attributeCreated"));
  EXPECT_THAT(Answer(m, "", nullptr, &lot_b), ElementsAre("urn:s:mixed:attributeCreated"));
}

TEST_F(SubscriptionMatcherTest, DatasetInstancesAreCreatedUpdatedAndDeletedOneByOne) {
  SubscriptionMatcher m;
  m.Put("", Sub("urn:s:del", R"("entities":[{"type":"ParkingSpot"}],"notificationTrigger":["attributeDeleted"])"));
  m.Put("", Sub("urn:s:new", R"("entities":[{"type":"ParkingSpot"}],"notificationTrigger":["attributeCreated"])"));
  const auto two = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","t":[{"type":"Property","value":1},
      {"type":"Property","value":2,"datasetId":"urn:ds:a"}]})");
  auto one = two;
  one.attrs.at(ctx_->ExpandTerm("t")).pop_back();
  EXPECT_THAT(Answer(m, "", &two, &one), ElementsAre("urn:s:del:attributeDeleted"));
  EXPECT_THAT(Answer(m, "", &one, &two), ElementsAre("urn:s:new:attributeCreated"));
}

TEST_F(SubscriptionMatcherTest, WatchedAttributeOnlySubscriptionsFireOnlyForTheirAttributes) {
  SubscriptionMatcher m;
  auto watch = Sub("urn:s:w", R"("watchedAttributes":["occupancy"],
      "notificationTrigger":["attributeCreated","attributeUpdated","attributeDeleted"])");
  ASSERT_NE(watch, nullptr);
  EXPECT_THAT(watch->types(), IsEmpty());
  EXPECT_THAT(watch->ids(), IsEmpty());
  EXPECT_THAT(watch->watched(), ElementsAre(ctx_->ExpandTerm("occupancy")));
  m.Put("", watch);
  // Any type: the watched attribute is what counts.
  const auto spot = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0,"name":"A"})");
  const auto bare = E(R"({"id":"urn:ngsi-ld:Lot:1","type":"Lot","name":"A"})");
  const auto lot = E(R"({"id":"urn:ngsi-ld:Lot:2","type":"Lot","occupancy":3})");
  EXPECT_THAT(Answer(m, "", nullptr, &spot), ElementsAre("urn:s:w:attributeCreated"));
  EXPECT_THAT(Answer(m, "", nullptr, &lot), ElementsAre("urn:s:w:attributeCreated"));
  EXPECT_THAT(Answer(m, "", nullptr, &bare), IsEmpty());  // created without the watched attribute
  // Created on an existing entity.
  const auto bare_gets_it = Changed(bare, "occupancy", "1", kNow + 1);
  EXPECT_THAT(Answer(m, "", &bare, &bare_gets_it), ElementsAre("urn:s:w:attributeCreated"));
  // Updated.
  const auto taken = Changed(spot, "occupancy", "1", kNow + 1);
  EXPECT_THAT(Answer(m, "", &spot, &taken), ElementsAre("urn:s:w:attributeUpdated"));
  // Another attribute: nothing.
  const auto renamed = Changed(spot, "name", R"("B")", kNow + 1);
  EXPECT_THAT(Answer(m, "", &spot, &renamed), IsEmpty());
  const auto bare_renamed = Changed(bare, "name", R"("B")", kNow + 1);
  EXPECT_THAT(Answer(m, "", &bare, &bare_renamed), IsEmpty());
  // Deleted: the attribute is only in `before`.
  const auto no_occupancy = Changed(spot, "occupancy", "", kNow + 1);
  ASSERT_FALSE(no_occupancy.attrs.count(ctx_->ExpandTerm("occupancy")));
  EXPECT_THAT(Answer(m, "", &spot, &no_occupancy), ElementsAre("urn:s:w:attributeDeleted"));
  const auto no_name = Changed(spot, "name", "", kNow + 1);
  EXPECT_THAT(Answer(m, "", &spot, &no_name), IsEmpty());
  // Deleting the entity deletes the watched attribute (not so for an entity without it).
  EXPECT_THAT(Answer(m, "", &spot, nullptr), ElementsAre("urn:s:w:attributeDeleted"));
  EXPECT_THAT(Answer(m, "", &bare, nullptr), IsEmpty());

  // entityDeleted on a watched-only subscription: the entity as it was has the attribute.
  m.Put("", Sub("urn:s:gone", R"("watchedAttributes":["occupancy"],"notificationTrigger":["entityDeleted"])"));
  EXPECT_THAT(Answer(m, "", &spot, nullptr), ElementsAre("urn:s:gone:entityDeleted", "urn:s:w:attributeDeleted"));
  EXPECT_THAT(Answer(m, "", &bare, nullptr), IsEmpty());
  // entityUpdated through the deletion of a watched attribute.
  m.Put("", Sub("urn:s:upd", R"("watchedAttributes":["occupancy","speed"],"notificationTrigger":["entityUpdated"])"));
  EXPECT_THAT(Answer(m, "", &spot, &no_occupancy),
              ElementsAre("urn:s:upd:entityUpdated", "urn:s:w:attributeDeleted"));
  EXPECT_THAT(Answer(m, "", &spot, &renamed), IsEmpty());
}

TEST_F(SubscriptionMatcherTest, PutAllEqualsRepeatedPut) {
  auto make = [&] {
    return std::vector<CompiledSubscriptionPtr>{
        Sub("urn:s:id", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:1"}])"),
        Sub("urn:s:type", R"("entities":[{"type":"ParkingSpot"}],"notificationTrigger":["entityCreated","entityDeleted"])"),
        Sub("urn:s:pattern", R"("entities":[{"type":"ParkingSpot","idPattern":":1$"}],"q":"occupancy==1")"),
        Sub("urn:s:mixed", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:2"},{"type":"Lot"}])"),
        Sub("urn:s:watch", R"("watchedAttributes":["occupancy"],"notificationTrigger":["attributeUpdated","attributeDeleted"])"),
        Sub("urn:s:periodic", R"("entities":[{"type":"ParkingSpot"}],"timeInterval":30)"),
        Sub("urn:s:off", R"("entities":[{"type":"ParkingSpot"}],"isActive":false)"),
    };
  };
  SubscriptionMatcher one_by_one, at_once;
  for (auto& s : make()) one_by_one.Put("t", s);
  at_once.PutAll("t", make());
  EXPECT_EQ(one_by_one.Size("t"), 7u);
  EXPECT_EQ(at_once.Size("t"), 7u);

  const auto spot1 = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0})");
  const auto spot2 = E(R"({"id":"urn:ngsi-ld:ParkingSpot:2","type":"ParkingSpot","occupancy":1})");
  const auto lot = E(R"({"id":"urn:ngsi-ld:Lot:9","type":"Lot","occupancy":1})");
  const auto other = E(R"({"id":"urn:ngsi-ld:Tree:1","type":"Tree","occupancy":1})");
  std::vector<std::pair<const ngsild::Entity*, ngsild::Entity>> changes;
  for (const auto* e : {&spot1, &spot2, &lot, &other}) {
    changes.emplace_back(nullptr, *e);
    changes.emplace_back(e, Changed(*e, "occupancy", "1", kNow + 1));
    changes.emplace_back(e, Changed(*e, "occupancy", "", kNow + 1));
  }
  size_t fired = 0;
  for (const auto& [before, after] : changes) {
    auto expected = Answer(one_by_one, "t", before, &after);
    EXPECT_EQ(Answer(at_once, "t", before, &after), expected) << after.id;
    fired += expected.size();
  }
  for (const auto* e : {&spot1, &spot2, &lot, &other}) {
    EXPECT_EQ(Answer(at_once, "t", e, nullptr), Answer(one_by_one, "t", e, nullptr)) << e->id;
  }
  EXPECT_GT(fired, 5u);  // the comparison is not vacuous
  EXPECT_EQ(at_once.Periodic().size(), one_by_one.Periodic().size());

  // PutAll onto held subscriptions replaces those with the same id and keeps the rest.
  at_once.PutAll("t", {Sub("urn:s:id", R"("entities":[{"type":"Tree"}])"), Sub("urn:s:new", R"("entities":[{"type":"Tree"}])")});
  one_by_one.Put("t", Sub("urn:s:id", R"("entities":[{"type":"Tree"}])"));
  one_by_one.Put("t", Sub("urn:s:new", R"("entities":[{"type":"Tree"}])"));
  EXPECT_EQ(at_once.Size("t"), 8u);
  EXPECT_THAT(Answer(at_once, "t", nullptr, &other),
              ElementsAre("urn:s:id:attributeCreated", "urn:s:new:attributeCreated"));
  EXPECT_EQ(Answer(at_once, "t", nullptr, &spot1), Answer(one_by_one, "t", nullptr, &spot1));
  EXPECT_EQ(Answer(at_once, "t", nullptr, &other), Answer(one_by_one, "t", nullptr, &other));
  EXPECT_EQ(at_once.Size("other tenant"), 0u);
}

TEST_F(SubscriptionMatcherTest, RemovedSubscriptionsLeaveEveryBucketTheyWereFiledIn) {
  SubscriptionMatcher m;
  m.PutAll("t", {
      Sub("urn:s:id", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:1"}])"),
      Sub("urn:s:id2", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:1"}])"),
      Sub("urn:s:type", R"("entities":[{"type":"ParkingSpot"},{"type":"Lot"}])"),
      Sub("urn:s:watch", R"("watchedAttributes":["occupancy"])"),
      Sub("urn:s:periodic", R"("entities":[{"type":"ParkingSpot"}],"timeInterval":30)"),
  });
  const auto spot1 = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0})");
  const auto lot = E(R"({"id":"urn:ngsi-ld:Lot:9","type":"Lot","occupancy":1})");
  EXPECT_THAT(Answer(m, "t", nullptr, &spot1),
              ElementsAre("urn:s:id:attributeCreated", "urn:s:id2:attributeCreated",
                          "urn:s:type:attributeCreated", "urn:s:watch:attributeCreated"));
  m.Remove("t", "urn:s:id");
  m.Remove("t", "urn:s:type");
  m.Remove("t", "urn:s:watch");
  m.Remove("t", "urn:s:periodic");
  m.Remove("t", "urn:s:unknown");  // nothing to remove: no effect
  EXPECT_EQ(m.Size("t"), 1u);
  EXPECT_TRUE(m.Periodic().empty());
  EXPECT_THAT(Answer(m, "t", nullptr, &spot1), ElementsAre("urn:s:id2:attributeCreated"));
  EXPECT_TRUE(Answer(m, "t", nullptr, &lot).empty());
  m.Remove("t", "urn:s:id2");
  EXPECT_TRUE(Answer(m, "t", nullptr, &spot1).empty());
  // Filed again after removal: found again.
  m.Put("t", Sub("urn:s:type", R"("entities":[{"type":"Lot"}])"));
  EXPECT_THAT(Answer(m, "t", nullptr, &lot), ElementsAre("urn:s:type:attributeCreated"));
}

TEST_F(SubscriptionMatcherTest, FindAnswersTheSubscriptionHeldNow) {
  SubscriptionMatcher m;
  EXPECT_EQ(m.Find("", "urn:s:1"), nullptr);
  auto first = Sub("urn:s:1", R"("entities":[{"type":"ParkingSpot"}])");
  m.Put("", first);
  m.Put("city2", Sub("urn:s:2", R"("entities":[{"type":"ParkingSpot"}])"));
  EXPECT_EQ(m.Find("", "urn:s:1"), first);
  EXPECT_EQ(m.Find("", "urn:s:2"), nullptr);        // another tenant's
  EXPECT_EQ(m.Find("city2", "urn:s:1"), nullptr);
  ASSERT_NE(m.Find("city2", "urn:s:2"), nullptr);
  EXPECT_EQ(m.Find("city2", "urn:s:2")->id(), "urn:s:2");
  EXPECT_EQ(m.Find("nobody", "urn:s:1"), nullptr);
  auto second = Sub("urn:s:1", R"("entities":[{"type":"Lot"}])");
  m.Put("", second);
  EXPECT_EQ(m.Find("", "urn:s:1"), second);
  EXPECT_EQ(m.Find("", "urn:s:1")->types(), std::vector<std::string>{ctx_->ExpandTerm("Lot")});
  m.Remove("", "urn:s:1");
  EXPECT_EQ(m.Find("", "urn:s:1"), nullptr);
  EXPECT_NE(m.Find("city2", "urn:s:2"), nullptr);
}

TEST_F(SubscriptionMatcherTest, PeriodicListsOnlyTimeIntervalSubscriptionsWhichNeverFire) {
  SubscriptionMatcher m;
  m.Put("", Sub("urn:s:p1", R"("entities":[{"type":"ParkingSpot"}],"timeInterval":60)"));
  m.Put("", Sub("urn:s:change", R"("entities":[{"type":"ParkingSpot"}])"));
  m.Put("", Sub("urn:s:p-id", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:1"}],"timeInterval":5.5)"));
  m.Put("city2", Sub("urn:s:p2", R"("entities":[{"type":"ParkingSpot"}],"timeInterval":1,
      "notificationTrigger":["entityCreated","entityDeleted"])"));
  m.Put("city2", Sub("urn:s:watch", R"("watchedAttributes":["occupancy"])"));
  std::vector<std::string> listed;
  for (const auto& [tenant, s] : m.Periodic()) {
    ASSERT_TRUE(s->Period().has_value()) << s->id();
    listed.push_back(tenant + "/" + s->id());
  }
  std::sort(listed.begin(), listed.end());
  EXPECT_THAT(listed, ElementsAre("/urn:s:p-id", "/urn:s:p1", "city2/urn:s:p2"));
  EXPECT_DOUBLE_EQ(m.Find("", "urn:s:p1")->Period().value_or(-1), 60.0);
  EXPECT_DOUBLE_EQ(m.Find("", "urn:s:p-id")->Period().value_or(-1), 5.5);
  EXPECT_FALSE(m.Find("", "urn:s:change")->Period().has_value());

  const auto spot = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0})");
  const auto taken = Changed(spot, "occupancy", "1", kNow + 1);
  EXPECT_THAT(Answer(m, "", nullptr, &spot), ElementsAre("urn:s:change:attributeCreated"));
  EXPECT_THAT(Answer(m, "", &spot, &taken), ElementsAre("urn:s:change:attributeUpdated"));
  EXPECT_THAT(Answer(m, "", &spot, nullptr), IsEmpty());
  EXPECT_THAT(Answer(m, "city2", nullptr, &spot), ElementsAre("urn:s:watch:attributeCreated"));
  EXPECT_THAT(Answer(m, "city2", &spot, nullptr), IsEmpty());
  for (const auto& [tenant, s] : m.Periodic()) {
    EXPECT_FALSE(s->Fires({nullptr, &spot}, kNow).has_value()) << s->id();
    EXPECT_FALSE(s->Fires({&spot, &taken}, kNow).has_value()) << s->id();
    EXPECT_FALSE(s->Fires({&spot, nullptr}, kNow).has_value()) << s->id();
    EXPECT_TRUE(s->Selects(spot)) << s->id();  // what the periodic sender reads
  }
  // Removing one drops it from the list; an empty matcher lists none.
  m.Remove("city2", "urn:s:p2");
  EXPECT_EQ(m.Periodic().size(), 2u);
  EXPECT_THAT(SubscriptionMatcher().Periodic(), IsEmpty());
}

TEST_F(SubscriptionMatcherTest, SelectsJudgesSelectorsAndFiltersWithoutTriggers) {
  const auto p1 = E(R"({"id":"urn:ngsi-ld:ParkingSpot:jeonju:1","type":"ParkingSpot","occupancy":1,
      "scope":"/Jeonju/Deokjin","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.10,35.80]}}})");
  const auto p2 = E(R"({"id":"urn:ngsi-ld:ParkingSpot:gimhae:2","type":"ParkingSpot","occupancy":0,
      "scope":"/Gimhae","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[128.88,35.23]}}})");
  const auto lot = E(R"({"id":"urn:ngsi-ld:Lot:1","type":"Lot","occupancy":0})");

  auto type = Sub("urn:s:type", R"("entities":[{"type":"ParkingSpot"}],"notificationTrigger":["entityDeleted"])");
  EXPECT_TRUE(type->Selects(p1));
  EXPECT_TRUE(type->Selects(p2));
  EXPECT_FALSE(type->Selects(lot));
  auto id = Sub("urn:s:id", R"("entities":[{"type":"ParkingSpot","id":"urn:ngsi-ld:ParkingSpot:gimhae:2"}])");
  EXPECT_FALSE(id->Selects(p1));
  EXPECT_TRUE(id->Selects(p2));
  auto pattern = Sub("urn:s:pat", R"("entities":[{"type":"ParkingSpot","idPattern":"jeonju"},{"type":"Lot"}])");
  EXPECT_TRUE(pattern->Selects(p1));
  EXPECT_FALSE(pattern->Selects(p2));
  EXPECT_TRUE(pattern->Selects(lot));
  auto q = Sub("urn:s:q", R"("entities":[{"type":"ParkingSpot"},{"type":"Lot"}],"q":"occupancy==0")");
  EXPECT_FALSE(q->Selects(p1));
  EXPECT_TRUE(q->Selects(p2));
  EXPECT_TRUE(q->Selects(lot));
  auto near = Sub("urn:s:near", R"("entities":[{"type":"ParkingSpot"}],
      "geoQ":{"geometry":"Point","coordinates":[127.101,35.801],"georel":"near;maxDistance==500"})");
  EXPECT_TRUE(near->Selects(p1));
  EXPECT_FALSE(near->Selects(p2));
  auto scope = Sub("urn:s:scope", R"("entities":[{"type":"ParkingSpot"}],"scopeQ":"/Gimhae")");
  EXPECT_FALSE(scope->Selects(p1));
  EXPECT_TRUE(scope->Selects(p2));
  // Watched attributes are a trigger condition, not a selection.
  auto watch = Sub("urn:s:w", R"("watchedAttributes":["speed"])");
  EXPECT_TRUE(watch->Selects(p1));
  EXPECT_TRUE(watch->Selects(lot));
  // Paused and periodic subscriptions still select (activity is ActiveAt's business).
  auto paused = Sub("urn:s:off", R"("entities":[{"type":"ParkingSpot"}],"isActive":false)");
  EXPECT_TRUE(paused->Selects(p1));
}

TEST_F(SubscriptionMatcherTest, ActiveAtFollowsIsActiveAndExpiresAt) {
  auto plain = Sub("urn:s:plain", R"("entities":[{"type":"ParkingSpot"}])");
  EXPECT_TRUE(plain->ActiveAt(kNow));
  EXPECT_TRUE(plain->ActiveAt(std::numeric_limits<int64_t>::max()));
  auto paused = Sub("urn:s:off", R"("entities":[{"type":"ParkingSpot"}],"isActive":false)");
  EXPECT_FALSE(paused->ActiveAt(kNow));
  auto on = Sub("urn:s:on", R"("entities":[{"type":"ParkingSpot"}],"isActive":true)");
  EXPECT_TRUE(on->ActiveAt(kNow));
  // 2030-01-01T00:00:00Z = 1893456000000 ms: active before, not at or after.
  constexpr int64_t kExpiry = 1'893'456'000'000;
  auto expiring = Sub("urn:s:exp", R"("entities":[{"type":"ParkingSpot"}],"expiresAt":"2030-01-01T00:00:00Z")");
  EXPECT_TRUE(expiring->ActiveAt(kNow));
  EXPECT_TRUE(expiring->ActiveAt(kExpiry - 1));
  EXPECT_FALSE(expiring->ActiveAt(kExpiry));
  EXPECT_FALSE(expiring->ActiveAt(kExpiry + 1));
  // A subscription stored by an earlier version holds expiresAt as epoch milliseconds.
  auto stored = ngsild::NormalizeSubscription(
      json::parse(R"({"type":"Subscription","entities":[{"type":"ParkingSpot"}],"notification":{"endpoint":{"uri":"http://h/"}}})")
          .as_object(),
      *ctx_, "urn:s:old", kNow - 1000);
  ASSERT_TRUE(stored.ok());
  (*stored)["expiresAt"] = kExpiry;
  auto old_form = CompiledSubscription::Compile(*stored, resolver_);
  ASSERT_TRUE(old_form.ok());
  EXPECT_TRUE((*old_form)->ActiveAt(kExpiry - 1));
  EXPECT_FALSE((*old_form)->ActiveAt(kExpiry));
  auto paused_expiring = Sub("urn:s:both", R"("entities":[{"type":"ParkingSpot"}],"isActive":false,
      "expiresAt":"2030-01-01T00:00:00Z")");
  EXPECT_FALSE(paused_expiring->ActiveAt(kNow));
  // The matcher asks ActiveAt at the change's time.
  SubscriptionMatcher m;
  m.PutAll("", {expiring, paused, plain});
  const auto spot = E(R"({"id":"urn:ngsi-ld:ParkingSpot:1","type":"ParkingSpot","occupancy":0})");
  EXPECT_THAT(Answer(m, "", nullptr, &spot, kExpiry - 1),
              ElementsAre("urn:s:exp:attributeCreated", "urn:s:plain:attributeCreated"));
  EXPECT_THAT(Answer(m, "", nullptr, &spot, kExpiry), ElementsAre("urn:s:plain:attributeCreated"));
}

// Context source registration subscriptions (§5.11): registrations as stored forms.
class RegistrationMatchTest : public SubscriptionMatcherTest {
 protected:
  CompiledSubscriptionPtr CsourceSub(std::string_view id, std::string_view members) {
    std::string text = fmt::format(R"({{"type":"Subscription",{},"notification":{{"endpoint":{{"uri":"http://h/"}}}}}})", members);
    auto stored = ngsild::NormalizeSubscription(json::parse(text).as_object(), *ctx_, id, kNow - 1000, {},
                                                ngsild::SubscriptionKind::kCsource);
    EXPECT_TRUE(stored.ok()) << text << ": " << stored.status().message();
    if (!stored.ok()) return nullptr;
    auto compiled = CompiledSubscription::Compile(*stored, resolver_);
    EXPECT_TRUE(compiled.ok()) << compiled.status().message();
    return compiled.ok() ? *compiled : nullptr;
  }

  json::object Reg(std::string_view members) {
    std::string text = fmt::format(R"({{"type":"ContextSourceRegistration","endpoint":"http://s/",{}}})", members);
    auto stored = ngsild::NormalizeRegistration(json::parse(text).as_object(), *ctx_, "urn:r:1", kNow - 1000);
    EXPECT_TRUE(stored.ok()) << text << ": " << stored.status().message();
    return stored.ok() ? *stored : json::object();
  }

  bool Matches(std::string_view sub, std::string_view reg, int64_t now = kNow) {
    auto s = CsourceSub("urn:s:1", sub);
    return s && s->MatchesRegistration(Reg(reg), now);
  }
};

TEST_F(RegistrationMatchTest, EntitiesOverlapAnInformationItem) {
  const char* shop1 = R"("information":[{"entities":[{"type":"Shop","id":"urn:Shop:1"}]}])";
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop"}])", shop1));
  EXPECT_FALSE(Matches(R"("entities":[{"type":"Bank"}])", shop1));
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop","id":"urn:Shop:1"}])", shop1));
  EXPECT_FALSE(Matches(R"("entities":[{"type":"Shop","id":"urn:Shop:2"}])", shop1));
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop","idPattern":"^urn:Shop:"}])", shop1));
  EXPECT_FALSE(Matches(R"("entities":[{"type":"Shop","idPattern":"^urn:Shop:9"}])", shop1));
  // the registration's idPattern against the subscription's id; two patterns overlap
  const char* shops = R"("information":[{"entities":[{"type":"Shop","idPattern":"urn:Shop:[0-4]"}]}])";
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop","id":"urn:Shop:3"}])", shops));
  EXPECT_FALSE(Matches(R"("entities":[{"type":"Shop","id":"urn:Shop:7"}])", shops));
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop","idPattern":"9$"}])", shops));
  // an item naming no entities offers its attributes of any entity
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop"}])", R"("information":[{"propertyNames":["stock"]}])"));
  // a type selection (§4.17) against the EntityInfo's types
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Bank|Shop"}])", shop1));
}

TEST_F(RegistrationMatchTest, WatchedAttributesAgainstTheSameItemsNames) {
  const char* reg = R"("information":[{"entities":[{"type":"Shop"}],"propertyNames":["stock"]},
                                      {"entities":[{"type":"Bank"}],"relationshipNames":["owner"]}])";
  EXPECT_TRUE(Matches(R"("watchedAttributes":["stock"])", reg));
  EXPECT_TRUE(Matches(R"("watchedAttributes":["owner"])", reg));
  EXPECT_FALSE(Matches(R"("watchedAttributes":["price"])", reg));
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop"}],"watchedAttributes":["stock"])", reg));
  EXPECT_FALSE(Matches(R"("entities":[{"type":"Shop"}],"watchedAttributes":["owner"])", reg));
  // an item naming no attributes offers all of them
  EXPECT_TRUE(Matches(R"("watchedAttributes":["price"])", R"("information":[{"entities":[{"type":"Shop"}]}])"));
}

TEST_F(RegistrationMatchTest, FiltersHoldForTheRegistration) {
  const char* reg = R"("information":[{"entities":[{"type":"Shop"}]}],"tier":2,"scope":"/Busan/Haeundae",
                       "location":{"type":"Point","coordinates":[127.05,37.05]})";
  const char* shop = R"("entities":[{"type":"Shop"}])";
  EXPECT_TRUE(Matches(fmt::format(R"({},"q":"mode==\"inclusive\"")", shop), reg));
  EXPECT_FALSE(Matches(fmt::format(R"({},"q":"mode==\"exclusive\"")", shop), reg));
  EXPECT_TRUE(Matches(fmt::format(R"({},"csf":"tier==2")", shop), reg));
  EXPECT_FALSE(Matches(fmt::format(R"({},"csf":"tier>2")", shop), reg));
  EXPECT_TRUE(Matches(fmt::format(R"({},"scopeQ":"/Busan/#")", shop), reg));
  EXPECT_FALSE(Matches(fmt::format(R"({},"scopeQ":"/Seoul/#")", shop), reg));
  EXPECT_TRUE(Matches(fmt::format(R"({},"geoQ":{{"geometry":"Point","coordinates":[127.05,37.05],"georel":"near;maxDistance==10"}})", shop), reg));
  EXPECT_FALSE(Matches(fmt::format(R"({},"geoQ":{{"geometry":"Point","coordinates":[129.0,35.0],"georel":"near;maxDistance==10"}})", shop), reg));
  EXPECT_FALSE(Matches(fmt::format(R"({},"geoQ":{{"geometry":"Point","coordinates":[127.05,37.05],"georel":"near;maxDistance==10","geoproperty":"operationSpace"}})", shop), reg));
  EXPECT_FALSE(Matches(fmt::format(R"({},"isActive":false)", shop), reg));
}

TEST_F(RegistrationMatchTest, TemporalQueryOnTheRegistrationsIntervals) {
  const char* observed = R"("information":[{"entities":[{"type":"Meter"}]}],
      "observationInterval":{"startAt":"2020-01-01T00:00:00Z","endAt":"2021-01-01T00:00:00Z"})";
  const char* open = R"("information":[{"entities":[{"type":"Meter"}]}],"managementInterval":{"startAt":"2020-01-01T00:00:00Z"})";
  const char* meter = R"("entities":[{"type":"Meter"}])";
  EXPECT_FALSE(Matches(meter, observed));  // no temporal query: not a source of temporal information
  EXPECT_TRUE(Matches(meter, R"("information":[{"entities":[{"type":"Meter"}]}])"));
  auto with = [&](std::string_view tq) { return fmt::format(R"({},"temporalQ":{})", meter, tq); };
  EXPECT_TRUE(Matches(with(R"({"timerel":"after","timeAt":"2020-06-01T00:00:00Z"})"), observed));
  EXPECT_FALSE(Matches(with(R"({"timerel":"after","timeAt":"2021-06-01T00:00:00Z"})"), observed));
  EXPECT_TRUE(Matches(with(R"({"timerel":"before","timeAt":"2020-06-01T00:00:00Z"})"), observed));
  EXPECT_FALSE(Matches(with(R"({"timerel":"before","timeAt":"2019-06-01T00:00:00Z"})"), observed));
  EXPECT_TRUE(Matches(with(R"({"timerel":"between","timeAt":"2019-06-01T00:00:00Z","endTimeAt":"2020-02-01T00:00:00Z"})"), observed));
  EXPECT_FALSE(Matches(with(R"({"timerel":"between","timeAt":"2021-06-01T00:00:00Z","endTimeAt":"2022-02-01T00:00:00Z"})"), observed));
  // timeproperty picks the interval; one without endAt is open
  EXPECT_FALSE(Matches(with(R"({"timerel":"after","timeAt":"2020-06-01T00:00:00Z","timeproperty":"modifiedAt"})"), observed));
  EXPECT_TRUE(Matches(with(R"({"timerel":"after","timeAt":"2030-06-01T00:00:00Z","timeproperty":"modifiedAt"})"), open));
}

TEST_F(RegistrationMatchTest, AnExpiredRegistrationMatchesNothing) {
  const char* reg = R"("information":[{"entities":[{"type":"Shop"}]}],"expiresAt":"2023-11-14T22:14:00Z")";
  const int64_t expires = 1'700'000'040'000;  // 2023-11-14T22:14:00Z
  EXPECT_TRUE(Matches(R"("entities":[{"type":"Shop"}])", reg, expires - 1));
  EXPECT_FALSE(Matches(R"("entities":[{"type":"Shop"}])", reg, expires));
}

TEST_F(RegistrationMatchTest, TriggerReasonsOfAChange) {
  SubscriptionMatcher m;
  m.Put("", CsourceSub("urn:s:shop", R"("entities":[{"type":"Shop"}])"));
  m.Put("", CsourceSub("urn:s:bank", R"("entities":[{"type":"Bank"}])"));
  const json::object shop = Reg(R"("information":[{"entities":[{"type":"Shop"}]}])");
  const json::object bank = Reg(R"("information":[{"entities":[{"type":"Bank"}]}])");
  auto answer = [&](const json::object* before, const json::object* after, int64_t before_at = kNow) {
    std::vector<std::string> out;
    for (const auto& match : m.MatchRegistration("", before, after, before_at, kNow)) {
      out.push_back(match.subscription->id() + ":" + match.trigger);
    }
    return out;
  };
  EXPECT_THAT(answer(nullptr, &shop), ElementsAre("urn:s:shop:newlyMatching"));
  EXPECT_THAT(answer(&shop, &shop), ElementsAre("urn:s:shop:updated"));
  EXPECT_THAT(answer(&shop, &bank), ElementsAre("urn:s:bank:newlyMatching", "urn:s:shop:noLongerMatching"));
  EXPECT_THAT(answer(&bank, nullptr), ElementsAre("urn:s:bank:noLongerMatching"));
  EXPECT_THAT(m.MatchRegistration("other", nullptr, &shop, kNow, kNow), IsEmpty());
  // an expiry: judged just before it, the registration no longer matches after
  const json::object expiring = Reg(R"("information":[{"entities":[{"type":"Shop"}]}],"expiresAt":"2023-11-14T22:14:00Z")");
  EXPECT_THAT(answer(&expiring, nullptr, 1'700'000'040'000 - 1), ElementsAre("urn:s:shop:noLongerMatching"));
}

}  // namespace
}  // namespace cityhub::broker
