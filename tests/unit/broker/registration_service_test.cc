// RegistrationService as a ContextSourceDirectory: the matching rules of §5.12 / §4.3.6.3
// (operations, expiry, entity ids, idPatterns, types, attributes, temporal registrations), what
// a matched ContextSource carries, the index kept in step with create/update/delete and
// reloaded at start-up, and the observer hook. Against a real RocksDB store in a temporary
// directory.
#include "broker/registration_service.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <re2/re2.h>

#include "ngsild/context.h"
#include "store/rocksdb/rocksdb_store.h"

namespace cityhub::broker {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

const std::string kVocab(ngsild::kDefaultVocab);
std::string V(std::string_view t) { return kVocab + std::string(t); }
constexpr int64_t kNow = 1'800'000'000'000;  // 2027-01-15

class RegistrationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / fmt::format("cityhub-registration-test-{}-{}", ::getpid(), rd());
    Open();
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }
  void TearDown() override {
    Close();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Open() {
    store::RocksDbOptions o;
    o.data_dir = dir_.string();
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    auto s = store::OpenRocksDbStore(o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    svc_ = std::make_unique<RegistrationService>(*store_);
  }
  void Close() {
    svc_.reset();
    if (store_) store_->Close();
    store_.reset();
  }

  std::string Create(std::string_view text, std::string_view tenant = "") {
    auto id = svc_->Create(tenant, json::parse(text).as_object(), *ctx_, kNow);
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : "";
  }

  std::vector<std::string> Ids(const ContextSourceRequest& r, std::string_view tenant = "", int64_t now = kNow) {
    std::vector<std::string> out;
    for (const auto& s : svc_->MatchAt(tenant, r, now)) out.push_back(s.registration_id);
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<RegistrationService> svc_;
  ngsild::ContextResolver resolver_{{}, {}};
  ngsild::ContextPtr ctx_;
};

constexpr std::string_view kRoomById = R"({"id": "urn:r:by-id", "type": "ContextSourceRegistration",
  "information": [{"entities": [{"id": "urn:ngsi-ld:Room:1", "type": "Room"}], "propertyNames": ["temperature"]}],
  "endpoint": "http://a.example", "contextSourceInfo": [{"key": "jsonldContext", "value": "http://c.example/ctx"}],
  "tenant": "remote", "contextSourceAlias": "hub-b", "management": {"timeout": 250, "cooldown": 5000}})";
constexpr std::string_view kRoomPattern = R"({"id": "urn:r:pattern", "type": "ContextSourceRegistration",
  "information": [{"entities": [{"idPattern": "^urn:ngsi-ld:Room:2.*", "type": "Room"}]}],
  "endpoint": "http://b.example", "mode": "redirect", "operations": ["redirectionOps"]})";
constexpr std::string_view kAnyEntity = R"({"id": "urn:r:attrs-only", "type": "ContextSourceRegistration",
  "information": [{"propertyNames": ["humidity"]}], "endpoint": "http://c.example"})";
constexpr std::string_view kBuilding = R"({"id": "urn:r:building", "type": "ContextSourceRegistration",
  "information": [{"entities": [{"type": ["Building", "Shop"]}]}], "endpoint": "http://d.example",
  "operations": ["retrieveEntity"]})";

TEST_F(RegistrationServiceTest, MatchesEntitiesTypesAndAttributes) {
  Create(kRoomById);
  Create(kRoomPattern);
  Create(kAnyEntity);
  Create(kBuilding);
  using Ids_ = std::vector<std::string>;
  // by type: the type's registrations and those naming no entities
  EXPECT_EQ(Ids({"queryEntity", {}, "", {V("Room")}, {}}), (Ids_{"urn:r:attrs-only", "urn:r:by-id", "urn:r:pattern"}));
  // by id only: the id's registration, the patterns matching it, those naming no id
  EXPECT_EQ(Ids({"retrieveEntity", {"urn:ngsi-ld:Room:1"}, "", {}, {}}),
            (Ids_{"urn:r:attrs-only", "urn:r:building", "urn:r:by-id"}));
  EXPECT_EQ(Ids({"retrieveEntity", {"urn:ngsi-ld:Room:22"}, "", {V("Room")}, {}}), (Ids_{"urn:r:attrs-only", "urn:r:pattern"}));
  // attributes: an item naming attributes matches only requests for one of them (or for all)
  EXPECT_EQ(Ids({"queryEntity", {}, "", {V("Room")}, {V("humidity")}}), (Ids_{"urn:r:attrs-only", "urn:r:pattern"}));
  EXPECT_EQ(Ids({"queryEntity", {}, "", {V("Room")}, {V("temperature")}}), (Ids_{"urn:r:by-id", "urn:r:pattern"}));
  // an idPattern asked matches the ids an item names
  EXPECT_EQ(Ids({"queryEntity", {}, ".*:1$", {V("Room")}, {}}), (Ids_{"urn:r:attrs-only", "urn:r:by-id", "urn:r:pattern"}));
  EXPECT_EQ(Ids({"queryEntity", {}, ".*:9$", {V("Room")}, {V("temperature")}}), (Ids_{"urn:r:pattern"}));
  // an entity of several types matches on any of them
  EXPECT_EQ(Ids({"retrieveEntity", {}, "", {V("Shop")}, {}}), (Ids_{"urn:r:attrs-only", "urn:r:building"}));
  EXPECT_TRUE(Ids({"queryEntity", {}, "", {V("Car")}, {V("speed")}}).empty());
}

// The index passes over an idPattern registration whose pattern cannot match the id asked
// (by the range of strings RE2 says it can match) without running it: whatever the pattern —
// anchored or not, alternatives, classes, a leading wildcard — the registrations matched by id
// are exactly those whose pattern fully matches the id.
TEST_F(RegistrationServiceTest, IdPatternRegistrationsMatchExactlyTheIdsTheirPatternMatches) {
  const std::vector<std::string> patterns{
      "^urn:ngsi-ld:Room:2.*",     "urn:ngsi-ld:Room:3[0-9]",   "^urn:ngsi-ld:(Room|Hall):4.*$",
      ".*:5$",                     "urn:ngsi-ld:Room:.*7",      "^urn:ngsi-ld:Room:1[a-c]?$",
      "urn:ngsi-ld:Hall:.*",       "(?i)URN:NGSI-LD:ROOM:6.*",  "^urn:ngsi-ld:Room:$",
      "urn:ngsi-ld:Room:\\d{2,3}"};
  for (size_t i = 0; i < patterns.size(); ++i) {
    json::object reg{{"id", fmt::format("urn:r:p{}", i)},
                     {"type", "ContextSourceRegistration"},
                     {"information", json::array{json::object{
                                         {"entities", json::array{json::object{{"idPattern", patterns[i]}, {"type", "Room"}}}}}}},
                     {"endpoint", "http://p.example"}};
    auto id = svc_->Create("", reg, *ctx_, kNow);
    ASSERT_TRUE(id.ok()) << patterns[i] << ": " << id.status().message();
  }
  std::mt19937 rng(18);
  const std::vector<std::string> heads{"urn:ngsi-ld:Room:", "urn:ngsi-ld:Hall:", "URN:NGSI-LD:ROOM:", "urn:x:"};
  for (int round = 0; round < 400; ++round) {
    std::string entity = heads[rng() % heads.size()];
    const int digits = static_cast<int>(rng() % 4);
    for (int d = 0; d < digits; ++d) entity += static_cast<char>('0' + rng() % 10);
    if (rng() % 5 == 0) entity += "b";
    std::vector<std::string> expected;
    for (size_t i = 0; i < patterns.size(); ++i) {
      if (re2::RE2::FullMatch(entity, re2::RE2(patterns[i]))) expected.push_back(fmt::format("urn:r:p{}", i));
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(Ids({"retrieveEntity", {entity}, "", {}, {}}), expected) << entity;
    EXPECT_EQ(Ids({"retrieveEntity", {entity}, "", {V("Room")}, {}}), expected) << entity;
  }
}

TEST_F(RegistrationServiceTest, FiltersByOperation) {
  Create(kRoomPattern);  // redirectionOps
  Create(kBuilding);     // retrieveEntity only
  Create(kAnyEntity);    // default: federationOps
  using Ids_ = std::vector<std::string>;
  EXPECT_EQ(Ids({"createEntity", {}, "", {V("Room")}, {}}), (Ids_{"urn:r:pattern"}));
  EXPECT_EQ(Ids({"queryEntity", {}, "", {V("Building")}, {}}), (Ids_{"urn:r:attrs-only"}));
  EXPECT_EQ(Ids({"retrieveEntity", {}, "", {V("Building")}, {}}), (Ids_{"urn:r:attrs-only", "urn:r:building"}));
  EXPECT_EQ(Ids({"createSubscription", {}, "", {V("Building")}, {}}), (Ids_{"urn:r:attrs-only"}));
  EXPECT_TRUE(Ids({"noSuchOperation", {}, "", {V("Room")}, {}}).empty());
}

TEST_F(RegistrationServiceTest, CarriesWhatTheForwardingNeeds) {
  Create(kRoomById);
  auto got = svc_->MatchAt("", {"retrieveEntity", {"urn:ngsi-ld:Room:1"}, "", {V("Room")}, {}}, kNow);
  ASSERT_EQ(got.size(), 1u);
  const ContextSource& s = got[0];
  EXPECT_EQ(s.registration_id, "urn:r:by-id");
  EXPECT_EQ(s.endpoint, "http://a.example");
  EXPECT_EQ(s.mode, RegistrationMode::kInclusive);
  EXPECT_EQ(s.tenant, "remote");
  EXPECT_EQ(s.alias, "hub-b");
  ASSERT_EQ(s.info.size(), 1u);
  EXPECT_EQ(s.info[0], (std::pair<std::string, std::string>{"jsonldContext", "http://c.example/ctx"}));
  EXPECT_EQ(s.entity_types, std::vector<std::string>{V("Room")});
  EXPECT_EQ(s.attributes, std::vector<std::string>{V("temperature")});
  EXPECT_EQ(s.timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(s.cooldown, std::chrono::milliseconds(5000));
  // unrestricted items: empty lists, or the attributes asked
  Create(kAnyEntity);
  auto any = svc_->MatchAt("", {"queryEntity", {}, "", {}, {V("humidity")}}, kNow);
  auto it = std::find_if(any.begin(), any.end(), [](const ContextSource& c) { return c.registration_id == "urn:r:attrs-only"; });
  ASSERT_NE(it, any.end());
  EXPECT_TRUE(it->entity_types.empty());
  EXPECT_EQ(it->attributes, std::vector<std::string>{V("humidity")});
}

TEST_F(RegistrationServiceTest, ExpiredAndTemporalRegistrationsAreLeftOut) {
  Create(R"({"id": "urn:r:expiring", "type": "ContextSourceRegistration", "expiresAt": "2027-01-16T00:00:00Z",
    "information": [{"entities": [{"type": "Room"}]}], "endpoint": "http://e.example"})");
  Create(R"({"id": "urn:r:history", "type": "ContextSourceRegistration",
    "observationInterval": {"startAt": "2020-01-01T00:00:00Z"},
    "information": [{"entities": [{"type": "Room"}]}], "endpoint": "http://f.example"})");
  ContextSourceRequest latest{"queryEntity", {}, "", {V("Room")}, {}};
  EXPECT_EQ(Ids(latest), std::vector<std::string>{"urn:r:expiring"});
  EXPECT_TRUE(Ids(latest, "", kNow + 86'400'000).empty());  // a day later: expired
  EXPECT_EQ(Ids({"queryTemporal", {}, "", {V("Room")}, {}}), (std::vector<std::string>{"urn:r:expiring", "urn:r:history"}));
}

TEST_F(RegistrationServiceTest, IndexFollowsUpdatesDeletesTenantsAndRestarts) {
  Create(kRoomById);
  Create(kBuilding, "other");
  ContextSourceRequest room{"retrieveEntity", {"urn:ngsi-ld:Room:1"}, "", {V("Room")}, {}};
  EXPECT_EQ(Ids(room), std::vector<std::string>{"urn:r:by-id"});
  EXPECT_TRUE(Ids(room, "other").empty());
  EXPECT_TRUE(Ids(room, "nowhere").empty());
  auto fragment = json::parse(R"({"information": [{"entities": [{"id": "urn:ngsi-ld:Room:7", "type": "Room"}]}]})");
  ASSERT_TRUE(svc_->Update("", "urn:r:by-id", fragment.as_object(), *ctx_, kNow).ok());
  EXPECT_TRUE(Ids(room).empty());
  room.entity_ids = {"urn:ngsi-ld:Room:7"};
  EXPECT_EQ(Ids(room), std::vector<std::string>{"urn:r:by-id"});
  Close();
  Open();
  EXPECT_TRUE(Ids(room).empty());  // not loaded yet
  auto loaded = svc_->LoadAll(nullptr);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, 2u);
  EXPECT_EQ(Ids(room), std::vector<std::string>{"urn:r:by-id"});
  ASSERT_TRUE(svc_->Delete("", "urn:r:by-id").ok());
  EXPECT_TRUE(Ids(room).empty());
  EXPECT_TRUE(svc_->Delete("", "urn:r:by-id").IsNotFound());
}

TEST_F(RegistrationServiceTest, ObserverSeesEveryChange) {
  std::vector<std::string> seen;
  svc_->SetObserver([&](std::string_view tenant, const json::object* before, const json::object* after) {
    seen.push_back(fmt::format("{}:{}:{}", tenant, before ? "before" : "-", after ? "after" : "-"));
  });
  Create(kAnyEntity, "t");
  ASSERT_TRUE(svc_->Update("t", "urn:r:attrs-only", json::parse(R"({"description": "x"})").as_object(), *ctx_, kNow).ok());
  ASSERT_TRUE(svc_->Delete("t", "urn:r:attrs-only").ok());
  EXPECT_FALSE(svc_->Delete("t", "urn:r:attrs-only").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"t:-:after", "t:before:after", "t:before:-"}));
}

TEST_F(RegistrationServiceTest, ExclusiveConflictsWithLocalEntities) {
  svc_->SetLocalEntityProbe([](std::string_view, std::string_view id) -> std::optional<std::vector<std::string>> {
    if (id == "urn:ngsi-ld:Room:local") return std::vector<std::string>{V("temperature")};
    return std::nullopt;
  });
  auto exclusive = [&](std::string_view id, std::string_view attr) {
    return json::parse(fmt::format(R"({{"id": "{}", "type": "ContextSourceRegistration", "mode": "exclusive",
      "information": [{{"entities": [{{"id": "urn:ngsi-ld:Room:local", "type": "Room"}}], "propertyNames": ["{}"]}}],
      "endpoint": "http://x.example"}})", id, attr)).as_object();
  };
  EXPECT_EQ(svc_->Create("", exclusive("urn:r:x1", "temperature"), *ctx_, kNow).status().code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(svc_->Create("", exclusive("urn:r:x2", "humidity"), *ctx_, kNow).ok());
  EXPECT_TRUE(svc_->Get("", "urn:r:x1").status().IsNotFound());
}

}  // namespace
}  // namespace cityhub::broker
