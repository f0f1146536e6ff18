// Tests for the merge of distributed answers (ngsild/distributed_merge.h). The rules come from
// GS CIM 009 §4.3.6 (registration modes; the text is carried into ETSI TS 104 175 §9.3, where
// the sentences quoted below are found) and §4.5.5 (multi-attributes); where the spec leaves the
// choice open, the test names the hub's choice, documented in docs/API.md "Distributed
// operations".
#include "ngsild/distributed_merge.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "ngsild/render.h"
#include "util/time.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;

const std::string kVocab(kDefaultVocab);
std::string V(std::string_view term) { return kVocab + std::string(term); }

class DistributedMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }
  Entity E(std::string_view text) {
    auto e = ParseRenderedEntity(json::parse(text).as_object(), *ctx_, limits_);
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? *e : Entity{};
  }
  static Contribution Part(ContributionRole role, std::vector<Entity> entities, std::vector<std::string> attrs = {}) {
    return Contribution{role, std::move(attrs), std::move(entities)};
  }
  static const json::value* Member(const Instance& i, std::string_view m) { return i.if_contains(m); }
  static std::string Value(const Entity& e, std::string_view term, size_t n = 0) {
    auto it = e.attrs.find(V(term));
    if (it == e.attrs.end() || it->second.size() <= n) return "<none>";
    return json::serialize(it->second[n].at("value"));
  }
  static size_t Count(const Entity& e, std::string_view term) {
    auto it = e.attrs.find(V(term));
    return it == e.attrs.end() ? 0 : it->second.size();
  }

  ContextResolver resolver_{{}, {}};
  ContextPtr ctx_;
  ParseLimits limits_;
};

// GS CIM 009 §4.3.6 (TS 104 175 §9.3): "If two registered Context Sources are providing context
// data for the same Attribute, the Attribute instances can be distinguished by datasetId."
// §4.5.5: an Attribute may have several instances, one per datasetId.
TEST_F(DistributedMergeTest, InstancesWithDifferentDatasetIdsAreAllKept) {
  std::optional<Entity> merged = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kLocal, {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10}})")}),
       Part(ContributionRole::kInclusive,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":12,"datasetId":"urn:ngsi-ld:Dataset:gps"}})")})});
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Count(*merged, "speed"), 2u);
  EXPECT_EQ(Value(*merged, "speed", 0), "10");
  EXPECT_EQ(Value(*merged, "speed", 1), "12");
}

// The hub's choice for the same Attribute and datasetId from several parties (docs/API.md): the
// most recently observed instance (observedAt) wins, else the most recently modified one.
TEST_F(DistributedMergeTest, TheSameDatasetIdKeepsTheMostRecentlyObservedInstance) {
  std::optional<Entity> merged = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kLocal,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10,"observedAt":"2026-01-01T10:00:00Z"}})")}),
       Part(ContributionRole::kInclusive,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":99,"observedAt":"2026-01-01T09:00:00Z"}})")}),
       Part(ContributionRole::kInclusive,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":11,"observedAt":"2026-01-01T11:00:00.5Z"}})")})});
  ASSERT_TRUE(merged.has_value());
  ASSERT_EQ(Count(*merged, "speed"), 1u);
  EXPECT_EQ(Value(*merged, "speed"), "11");
}

TEST_F(DistributedMergeTest, WithoutObservedAtTheMostRecentlyModifiedInstanceWinsElseTheFirst) {
  std::optional<Entity> merged = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kLocal,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":1,"modifiedAt":"2026-01-01T10:00:00Z"},"fuel":{"type":"Property","value":"local"}})")}),
       Part(ContributionRole::kInclusive,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":2,"modifiedAt":"2026-01-02T10:00:00Z"},"fuel":{"type":"Property","value":"remote"}})")})});
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Value(*merged, "speed"), "2");
  EXPECT_EQ(Value(*merged, "fuel"), "\"local\"") << "no times to compare: the first merged (the hub's own) stays";
  // An instance with observedAt is preferred to one without.
  Instance observed{{"type", "Property"}, {"value", 1}, {"observedAt", "2020-01-01T00:00:00Z"}};
  Instance modified{{"type", "Property"}, {"value", 2}, {"modifiedAt", int64_t{4'000'000'000'000}}};
  EXPECT_TRUE(PreferInstance(observed, modified));
  EXPECT_FALSE(PreferInstance(modified, observed));
}

TEST_F(DistributedMergeTest, ASourcesInstanceTimesAreKeptNotRestamped) {
  Entity e = E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","createdAt":"2025-05-05T00:00:00Z",
                 "speed":{"type":"Property","value":1,"modifiedAt":"2026-01-02T10:00:00Z"},
                 "fuel":{"type":"Property","value":2}})");
  const Instance& speed = e.attrs.at(V("speed"))[0];
  ASSERT_NE(Member(speed, "modifiedAt"), nullptr);
  EXPECT_EQ(speed.at("modifiedAt").as_int64(), *util::ParseDateTime("2026-01-02T10:00:00Z"));
  EXPECT_EQ(Member(e.attrs.at(V("fuel"))[0], "modifiedAt"), nullptr) << "no time invented for a source";
  EXPECT_EQ(e.created_at, *util::ParseDateTime("2025-05-05T00:00:00Z"));
  EXPECT_EQ(e.modified_at, 0);
}

// GS CIM 009 §4.3.6 (TS 104 175 §9.3.4): "The presence of a matching exclusive Context Source
// Registration indicates that no further local or distributed operations shall occur on the
// specified Attribute of a given Entity."
TEST_F(DistributedMergeTest, AnExclusiveSourceReplacesTheHubsInstancesOfItsAttributes) {
  std::optional<Entity> merged = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kLocal,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10,"observedAt":"2030-01-01T00:00:00Z"},
                   "fuel":{"type":"Property","value":50}})")}),
       Part(ContributionRole::kExclusive,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":12,"observedAt":"2020-01-01T00:00:00Z"}})")},
            {V("speed")})});
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Value(*merged, "speed"), "12") << "even a newer local instance gives way to the exclusive source";
  EXPECT_EQ(Value(*merged, "fuel"), "50") << "attributes outside the registration stay the hub's";
}

TEST_F(DistributedMergeTest, AnExclusiveAttributeTheSourceDidNotReturnIsNotTakenFromTheHub) {
  std::optional<Entity> merged = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kLocal,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10},"fuel":{"type":"Property","value":50}})")}),
       Part(ContributionRole::kExclusive, {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car"})")}, {V("speed")})});
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Value(*merged, "speed"), "<none>") << "no further local operation on an exclusive attribute";
  EXPECT_EQ(Value(*merged, "fuel"), "50");
  // Without the exclusive source's answer (it failed), the hub's data is all there is.
  std::optional<Entity> alone = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kLocal, {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10}})")})});
  EXPECT_EQ(Value(*alone, "speed"), "10");
}

TEST_F(DistributedMergeTest, ARedirectSourceWithoutAttributeListTakesOverEveryAttributeItReturns) {
  std::optional<Entity> merged = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kLocal,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10},"fuel":{"type":"Property","value":50}})")}),
       Part(ContributionRole::kRedirect, {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":7}})")})});
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Value(*merged, "speed"), "7");
  EXPECT_EQ(Value(*merged, "fuel"), "50");
}

// Auxiliary registrations (§4.3.6.2) are a fallback: the hub's choice (docs/API.md) is that
// their data only fills what neither the hub nor another source returned.
TEST_F(DistributedMergeTest, AuxiliarySourcesOnlyFillGaps) {
  std::vector<Entity> merged = MergeEntities(
      {Part(ContributionRole::kAuxiliary,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":["Car","Vehicle"],"speed":{"type":"Property","value":1,"observedAt":"2030-01-01T00:00:00Z"},
                   "colour":{"type":"Property","value":"red"}})"),
             E(R"({"id":"urn:ngsi-ld:Car:2","type":"Car","speed":{"type":"Property","value":2}})")}),
       Part(ContributionRole::kLocal,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property","value":10,"observedAt":"2020-01-01T00:00:00Z"}})")})});
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].id, "urn:ngsi-ld:Car:1");
  EXPECT_EQ(Value(merged[0], "speed"), "10") << "an auxiliary instance never replaces another party's, even a newer one";
  EXPECT_EQ(Value(merged[0], "colour"), "\"red\"") << "an attribute nobody else returned is taken";
  EXPECT_EQ(merged[0].types, std::vector<std::string>{V("Car")}) << "types come from the entity's primary parties";
  EXPECT_EQ(merged[1].id, "urn:ngsi-ld:Car:2") << "an entity nobody else returned is taken whole";
  EXPECT_EQ(Value(merged[1], "speed"), "2");
}

TEST_F(DistributedMergeTest, TypesAndScopesAreUnitedAndTimesSpanTheParts) {
  std::optional<Entity> merged = MergeEntity(
      "urn:ngsi-ld:Car:1",
      {Part(ContributionRole::kInclusive,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","scope":"/Seoul","createdAt":"2025-01-01T00:00:00Z","modifiedAt":"2025-06-01T00:00:00Z"})")}),
       Part(ContributionRole::kInclusive,
            {E(R"({"id":"urn:ngsi-ld:Car:1","type":["Vehicle","Car"],"scope":["/Seoul","/Busan"],"createdAt":"2024-01-01T00:00:00Z","modifiedAt":"2025-03-01T00:00:00Z"})")})});
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(merged->types, (std::vector<std::string>{V("Car"), V("Vehicle")}));
  EXPECT_EQ(json::serialize(merged->scope), R"(["/Seoul","/Busan"])");
  EXPECT_EQ(merged->created_at, *util::ParseDateTime("2024-01-01T00:00:00Z"));
  EXPECT_EQ(merged->modified_at, *util::ParseDateTime("2025-06-01T00:00:00Z"));
  EXPECT_FALSE(MergeEntity("urn:ngsi-ld:Car:9", {Part(ContributionRole::kLocal, {E(R"({"id":"urn:ngsi-ld:Car:1","type":"Car"})")})}));
}

// Query Entities across sources: one entity per id, ordered (ascending id by default, or the
// caller's order), then paged.
TEST_F(DistributedMergeTest, AQueryUnitesByIdOrdersAndPages) {
  std::vector<Entity> merged = MergeEntities(
      {Part(ContributionRole::kLocal, {E(R"({"id":"urn:c:3","type":"Car"})"), E(R"({"id":"urn:c:1","type":"Car","a":{"type":"Property","value":1}})")}),
       Part(ContributionRole::kInclusive, {E(R"({"id":"urn:c:2","type":"Car"})"), E(R"({"id":"urn:c:1","type":"Car","b":{"type":"Property","value":2}})")})});
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].id, "urn:c:1");
  EXPECT_EQ(merged[1].id, "urn:c:2");
  EXPECT_EQ(merged[2].id, "urn:c:3");
  EXPECT_EQ(Value(merged[0], "a"), "1");
  EXPECT_EQ(Value(merged[0], "b"), "2");
  std::vector<Entity> page = Page(merged, 1, 5);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, "urn:c:2");
  EXPECT_TRUE(Page(merged, 3, 5).empty());
  std::vector<Entity> reversed = MergeEntities({Part(ContributionRole::kLocal, std::move(merged))},
                                               [](const Entity& a, const Entity& b) { return a.id > b.id; });
  EXPECT_EQ(reversed[0].id, "urn:c:3");
}

TEST_F(DistributedMergeTest, AnInvalidSourceEntityIsAnErrorNamingTheMember) {
  auto bad = ParseRenderedEntity(json::parse(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","speed":{"type":"Property"}})").as_object(),
                               *ctx_, limits_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("speed"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(ParseRenderedEntity(json::parse(R"({"type":"Car"})").as_object(), *ctx_, limits_).ok());
}

// Type and attribute discovery across sources (§5.7.5–§5.7.8): lists united.
TEST_F(DistributedMergeTest, DiscoveryListsAreUnited) {
  EXPECT_EQ(json::serialize(MergeNameLists({json::array{"Car", "Bus"}, json::array{"Bus", "Tram"}, json::array{}})),
            R"(["Bus","Car","Tram"])");
  json::array local = json::parse(R"([{"id":"https://x/Car","type":"EntityType","typeName":"Car","attributeNames":["speed"]}])").as_array();
  json::array remote = json::parse(R"([{"id":"https://x/Car","type":"EntityType","typeName":"Car","attributeNames":["fuel","speed"]},
                                       {"id":"https://x/Bus","type":"EntityType","typeName":"Bus","attributeNames":[]}])").as_array();
  EXPECT_EQ(json::serialize(MergeTypeDetails({local, remote})),
            R"([{"id":"https://x/Bus","type":"EntityType","typeName":"Bus","attributeNames":[]},)"
            R"({"id":"https://x/Car","type":"EntityType","typeName":"Car","attributeNames":["speed","fuel"]}])");
  json::array la = json::parse(R"([{"id":"https://x/speed","type":"Attribute","attributeName":"speed","attributeCount":3,
                                    "attributeTypes":["Property"],"typeNames":["Car"]}])").as_array();
  json::array ra = json::parse(R"([{"id":"https://x/speed","type":"Attribute","attributeName":"speed","attributeCount":2,
                                    "attributeTypes":["Property"],"typeNames":["Bus"]}])").as_array();
  json::array merged = MergeAttributeDetails({la, ra});
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(json::serialize(merged[0].at("attributeCount")), "5");
  EXPECT_EQ(json::serialize(merged[0].at("typeNames")), R"(["Car","Bus"])");
}

// One type's and one attribute's details across sources (§5.7.7, §5.7.10): counts summed —
// whether a party's count is an unsigned number (the hub's own) or a signed one (parsed) —
// and the lists united.
TEST_F(DistributedMergeTest, OneTypesAndOneAttributesDetailsAreMerged) {
  json::object local{{"id", "https://x/Car"}, {"type", "EntityTypeInfo"}, {"typeName", "Car"}, {"entityCount", uint64_t{3}},
                     {"attributeDetails", json::parse(R"([{"id":"https://x/speed","type":"Attribute","attributeName":"speed",
                                                           "attributeTypes":["Property"]}])")}};
  json::object remote = json::parse(R"({"id":"https://x/Car","type":"EntityTypeInfo","typeName":"Car","entityCount":4,
      "attributeDetails":[{"id":"https://x/speed","type":"Attribute","attributeName":"speed","attributeTypes":["GeoProperty"]},
                          {"id":"https://x/fuel","type":"Attribute","attributeName":"fuel","attributeTypes":["Property"]}]})").as_object();
  json::object type = MergeTypeInfo({local, remote});
  EXPECT_EQ(json::serialize(type.at("entityCount")), "7");
  EXPECT_EQ(json::serialize(type.at("attributeDetails")),
            R"([{"id":"https://x/fuel","type":"Attribute","attributeName":"fuel","attributeTypes":["Property"]},)"
            R"({"id":"https://x/speed","type":"Attribute","attributeName":"speed","attributeTypes":["Property","GeoProperty"]}])");
  json::object mine{{"id", "https://x/speed"}, {"type", "Attribute"}, {"attributeName", "speed"}, {"attributeCount", uint64_t{2}},
                    {"attributeTypes", json::array{"Property"}}, {"typeNames", json::array{"Car"}}};
  json::object theirs = json::parse(R"({"id":"https://x/speed","type":"Attribute","attributeName":"speed","attributeCount":5,
                                         "attributeTypes":["Property"],"typeNames":["Bus"]})").as_object();
  json::object attr = MergeAttributeInfo({mine, theirs});
  EXPECT_EQ(json::serialize(attr.at("attributeCount")), "7");
  EXPECT_EQ(json::serialize(attr.at("typeNames")), R"(["Car","Bus"])");
}

// Temporal retrieve/query across sources (§5.7.3, §5.7.4): the instances are united.
TEST_F(DistributedMergeTest, TemporalInstancesAreUnitedOnceAndOrderedByObservedAt) {
  json::object local = json::parse(R"({"id":"urn:c:1","type":"Car","speed":[
      {"type":"Property","value":1,"observedAt":"2026-01-01T10:00:00Z","instanceId":"urn:i:1"},
      {"type":"Property","value":3,"observedAt":"2026-01-01T12:00:00Z","instanceId":"urn:i:3"}]})").as_object();
  json::object remote = json::parse(R"({"id":"urn:c:1","type":["Car","Vehicle"],"speed":[
      {"type":"Property","value":2,"observedAt":"2026-01-01T11:00:00Z","instanceId":"urn:i:2"},
      {"type":"Property","value":1,"observedAt":"2026-01-01T10:00:00Z","instanceId":"urn:i:1"}],
      "fuel":{"type":"Property","value":9,"observedAt":"2026-01-01T10:30:00Z"}})").as_object();
  json::object other = json::parse(R"({"id":"urn:c:2","type":"Car"})").as_object();
  std::vector<json::object> merged = MergeTemporalEntities({{local}, {remote, other}});
  ASSERT_EQ(merged.size(), 2u);
  const json::array& speed = merged[0].at("speed").as_array();
  ASSERT_EQ(speed.size(), 3u);
  EXPECT_EQ(speed[0].at("value").as_int64(), 1);
  EXPECT_EQ(speed[1].at("value").as_int64(), 2);
  EXPECT_EQ(speed[2].at("value").as_int64(), 3);
  EXPECT_EQ(merged[0].at("fuel").as_array().size(), 1u);
  EXPECT_EQ(json::serialize(merged[0].at("type")), R"(["Car","Vehicle"])");
  EXPECT_EQ(merged[1].at("id").as_string(), "urn:c:2");
}

// §5.6 with an exclusive registration (TS 104 175 §10, Create Entity): "The Attributes matching
// to the exclusive Context Source Registration are then removed from the Entity Fragment and not
// processed further" — the source gets them, the hub the rest.
TEST_F(DistributedMergeTest, AFragmentIsSplitByTheRegistrationsAttributes) {
  json::object fragment = json::parse(R"({"id":"urn:ngsi-ld:Car:1","type":"Car","@context":"https://x/ctx.jsonld",
      "speed":{"type":"Property","value":1},"fuel":{"type":"Property","value":2}})").as_object();
  FragmentSplit split = SplitFragment(fragment, *ctx_, {V("speed")});
  EXPECT_TRUE(split.matched_any);
  EXPECT_EQ(json::serialize(split.matched),
            R"({"id":"urn:ngsi-ld:Car:1","type":"Car","@context":"https://x/ctx.jsonld","speed":{"type":"Property","value":1}})");
  EXPECT_EQ(json::serialize(split.rest),
            R"({"id":"urn:ngsi-ld:Car:1","type":"Car","@context":"https://x/ctx.jsonld","fuel":{"type":"Property","value":2}})");
  FragmentSplit all = SplitFragment(fragment, *ctx_, {});
  EXPECT_EQ(all.rest.size(), 3u) << "a registration without attributes covers every attribute";
  FragmentSplit none = SplitFragment(fragment, *ctx_, {V("colour")});
  EXPECT_FALSE(none.matched_any);
  EXPECT_EQ(none.rest, fragment);
}

}  // namespace
}  // namespace cityhub::ngsild
