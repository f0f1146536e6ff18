// Tests for context source registration validation and rendering
// (ngsild/csource_registration.h): the stored form (expanded names, mode default, own
// properties), the operation groups of §4.20, the mode rules of §4.3.6.2, patches validated as a
// whole, rendering (compaction, sysAttrs) and the registration seen as an entity by q/csf.
#include "ngsild/csource_registration.h"

#include <algorithm>
#include <string>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/qlang.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z
const std::string kVocab(kDefaultVocab);
constexpr std::string_view kMinimal =
    R"({"type":"ContextSourceRegistration","information":[{"entities":[{"type":"Room"}],"propertyNames":["temperature"]}],"endpoint":"http://a.example"})";

class CsourceRegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }
  Result<json::object> Normalize(std::string_view text) {
    return NormalizeRegistration(json::parse(text).as_object(), *ctx_, "urn:r:1", kT0);
  }
  // The minimal registration with `member` set to the JSON text `value`.
  Result<json::object> With(std::string_view member, std::string_view value) {
    json::object o = json::parse(kMinimal).as_object();
    o[member] = json::parse(value);
    return NormalizeRegistration(o, *ctx_, "urn:r:1", kT0);
  }
  ContextResolver resolver_{{}, {}};
  ContextPtr ctx_;
};

TEST_F(CsourceRegistrationTest, StoredFormExpandsNamesAndDefaultsTheMode) {
  auto s = Normalize(kMinimal);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->at("id"), "urn:r:1");
  EXPECT_EQ(s->at("mode"), "inclusive");
  const json::object& item = s->at("information").as_array()[0].as_object();
  EXPECT_EQ(item.at("entities").as_array()[0].as_object().at("type"), (json::array{kVocab + "Room"}));
  EXPECT_EQ(item.at("propertyNames"), (json::array{kVocab + "temperature"}));
  EXPECT_EQ(s->at("createdAt"), kT0);
  // rendered back: compacted, a single type as a string, no system times without sysAttrs
  json::object r = RenderRegistration(*s, *ctx_, false);
  EXPECT_EQ(r.at("information"), json::parse(R"([{"entities":[{"type":"Room"}],"propertyNames":["temperature"]}])"));
  EXPECT_FALSE(r.contains("createdAt"));
  EXPECT_EQ(RenderRegistration(*s, *ctx_, true).at("createdAt"), "2023-11-14T22:13:20.000Z");
}

TEST_F(CsourceRegistrationTest, OwnPropertiesAreKeptExpandedAndSeenByQ) {
  auto s = With("tier", "2");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->at("properties").as_object().at(kVocab + "tier"), 2);
  EXPECT_EQ(RenderRegistration(*s, *ctx_, false).at("tier"), 2);
  const Entity e = RegistrationAsEntity(*s, *ctx_);
  auto q = QFilter::Parse("tier==2;mode==\"inclusive\"", *ctx_);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_TRUE(q->Matches(e));
  EXPECT_FALSE(QFilter::Parse("tier==3", *ctx_)->Matches(e));
  EXPECT_FALSE(With("bad name", "1").ok());
  // A property whose name would be returned as a member's (found by fuzz_registration: the
  // registration did not read back as it was rendered) is refused, naming the member.
  auto clash = With("location:", R"({"type":"Point"})");
  ASSERT_FALSE(clash.ok());
  EXPECT_THAT(std::string(clash.status().message()), HasSubstr("'location'"));
}

TEST_F(CsourceRegistrationTest, OperationGroupsExpand) {
  EXPECT_TRUE(IsOperationName("retrieveEntity"));
  EXPECT_FALSE(IsOperationName("federationOps"));
  auto ops = ExpandOperations(nullptr);  // default: federationOps
  EXPECT_NE(std::find(ops.begin(), ops.end(), "queryEntity"), ops.end());
  EXPECT_EQ(std::find(ops.begin(), ops.end(), "createEntity"), ops.end());
  json::value given = json::parse(R"(["updateOps", "updateEntity", "deleteEntity"])");
  EXPECT_EQ(ExpandOperations(&given),
            (std::vector<std::string>{"updateEntity", "updateAttrs", "replaceEntity", "replaceAttrs", "deleteEntity"}));
  EXPECT_TRUE(IsReadOperation("querySubscription"));
  EXPECT_FALSE(IsReadOperation("mergeEntity"));
  EXPECT_LE(OperationNames().size(), 64u);  // one bit each in the matcher
}

TEST_F(CsourceRegistrationTest, RefusesWhatTheModeForbids) {
  json::object o = json::parse(kMinimal).as_object();
  o["mode"] = "exclusive";
  auto s = NormalizeRegistration(o, *ctx_, "urn:r:1", kT0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("exclusive"));
  o["information"] = json::parse(R"([{"entities":[{"id":"urn:a:1","type":"Room"}],"relationshipNames":["in"]}])");
  EXPECT_TRUE(NormalizeRegistration(o, *ctx_, "urn:r:1", kT0).ok());
  o["mode"] = "auxiliary";
  o["operations"] = json::parse(R"(["retrieveOps", "upsertBatch"])");
  s = NormalizeRegistration(o, *ctx_, "urn:r:1", kT0);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("upsertBatch"));
}

TEST_F(CsourceRegistrationTest, NamesTheBadMember) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"endpoint", R"("mqtt://broker/topic")"},
      {"expiresAt", R"("2020-01-01T00:00:00Z")"},
      {"observationInterval", R"({"startAt":"2024-01-02T00:00:00Z","endAt":"2024-01-01T00:00:00Z"})"},
      {"management", R"({"timeout":-1})"},
      {"operations", R"(["retrieveEntity","fly"])"},
      {"status", R"("ok")"},
      {"location", R"({"type":"Point","coordinates":[1]})"},
  };
  for (const auto& [member, value] : cases) {
    auto s = With(member, value);
    ASSERT_FALSE(s.ok()) << member;
    EXPECT_EQ(s.status().code(), Status::Code::kBadRequestData) << member;
    EXPECT_THAT(s.status().message(), HasSubstr(std::string(member)));
  }
}

TEST_F(CsourceRegistrationTest, PatchReplacesRemovesAndValidatesTheWhole) {
  auto s = With("description", R"("first")");
  ASSERT_TRUE(s.ok());
  json::object stored = *s;
  ASSERT_TRUE(PatchRegistration(stored, json::parse(R"({"description":null,"mode":"redirect","x":1})").as_object(), *ctx_,
                                kT0 + 5)
                  .ok());
  EXPECT_FALSE(stored.contains("description"));
  EXPECT_EQ(stored.at("mode"), "redirect");
  EXPECT_EQ(stored.at("modifiedAt"), kT0 + 5);
  EXPECT_EQ(stored.at("createdAt"), kT0);
  const json::object before = stored;
  EXPECT_FALSE(PatchRegistration(stored, json::parse(R"({"mode":"exclusive"})").as_object(), *ctx_, kT0 + 6).ok());
  EXPECT_FALSE(PatchRegistration(stored, json::parse(R"({"endpoint":null})").as_object(), *ctx_, kT0 + 6).ok());
  EXPECT_FALSE(PatchRegistration(stored, json::parse(R"({"id":"urn:r:2"})").as_object(), *ctx_, kT0 + 6).ok());
  EXPECT_EQ(stored, before);
}

}  // namespace
}  // namespace cityhub::ngsild
