// Tests for security/policy (the role × operation × rule matrix beneath the broker's access
// control), security/privacy (classification, pseudonyms, the privacy file) and
// security/rate_limiter.
#include "security/policy.h"
#include "security/privacy.h"
#include "security/rate_limiter.h"

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cityhub::security {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

constexpr std::string_view kDefault = "https://uri.etsi.org/ngsi-ld/default-context/";

std::string Expand(std::string_view term) {
  return term.find(':') == std::string_view::npos ? std::string(kDefault) + std::string(term) : std::string(term);
}

auto Expander() {
  return [](const json::value*) -> Result<std::function<std::string(std::string_view)>> {
    return std::function<std::string(std::string_view)>(Expand);
  };
}

std::shared_ptr<const Policy> ParsePolicy(std::string_view text) {
  auto p = Policy::Parse(text, Expander());
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : nullptr;
}

Principal Who(std::string subject, std::vector<std::string> roles) {
  Principal p;
  p.subject = std::move(subject);
  p.roles = std::move(roles);
  return p;
}

const std::vector<std::string> kParking{Expand("ParkingSpot")};
const std::vector<std::string> kPerson{Expand("Person")};

TEST(Principal, RolesPerTenant) {
  Principal p = Who("u", {"reader", "gimhae:writer", "*:auditor"});
  EXPECT_TRUE(p.HasRole("", "reader"));
  EXPECT_FALSE(p.HasRole("gimhae", "reader"));
  EXPECT_TRUE(p.HasRole("gimhae", "writer"));
  EXPECT_FALSE(p.HasRole("", "writer"));
  EXPECT_FALSE(p.HasRole("jeju", "writer"));
  EXPECT_TRUE(p.HasRole("jeju", "auditor"));
  EXPECT_THAT(p.RolesIn("gimhae"), ::testing::ElementsAre("writer", "auditor"));
}

// Every built-in role against every operation, in its tenant and in another.
TEST(Policy, BuiltInRoleMatrix) {
  const Policy policy;
  struct Row {
    const char* role;
    bool read, write, subscribe, admin;
  } rows[] = {{"reader", true, false, false, false},
              {"writer", true, true, true, false},
              {"admin", true, true, true, true},
              {"custom", false, false, false, false}};
  for (const auto& row : rows) {
    Principal p = Who("u", {std::string("gimhae:") + row.role});
    const bool expected[] = {row.read, row.write, row.subscribe, row.admin};
    for (int op = 0; op < 4; ++op) {
      Access in = policy.AccessFor(p, "gimhae", static_cast<Operation>(op));
      EXPECT_EQ(in.all(), expected[op]) << row.role << " " << op;
      EXPECT_EQ(in.none(), !expected[op]) << row.role << " " << op;
      EXPECT_TRUE(policy.AccessFor(p, "jeju", static_cast<Operation>(op)).none()) << "other tenant: " << row.role;
      EXPECT_TRUE(policy.AccessFor(p, "", static_cast<Operation>(op)).none()) << "default tenant: " << row.role;
    }
  }
}

TEST(Policy, TypeIdPatternAndTenantRules) {
  auto policy = ParsePolicy(R"({"rules": [
    {"effect": "allow", "roles": ["parking-app"], "tenants": ["gimhae"], "operations": ["read"], "types": ["ParkingSpot"]},
    {"effect": "allow", "roles": ["parking-app"], "tenants": ["gimhae"], "operations": ["write"], "types": ["ParkingSpot"],
     "idPattern": "urn:ngsi-ld:ParkingSpot:gimhae:.*", "attrs": ["status"]}]})");
  ASSERT_TRUE(policy);
  Principal app = Who("svc", {"gimhae:parking-app"});
  Access read = policy->AccessFor(app, "gimhae", Operation::kRead);
  EXPECT_FALSE(read.all());
  EXPECT_FALSE(read.none());
  EXPECT_TRUE(read.Entity({"urn:x:1", &kParking, ""}));
  EXPECT_FALSE(read.Entity({"urn:x:1", &kPerson, ""}));
  EXPECT_TRUE(read.EveryAttribute({"urn:x:1", &kParking, ""}));
  EXPECT_TRUE(read.TypeMayBeVisible(kParking[0]));
  EXPECT_FALSE(read.TypeMayBeVisible(kPerson[0]));

  Access write = policy->AccessFor(app, "gimhae", Operation::kWrite);
  const EntityFacts ours{"urn:ngsi-ld:ParkingSpot:gimhae:7", &kParking, ""};
  const EntityFacts theirs{"urn:ngsi-ld:ParkingSpot:jeju:7", &kParking, ""};
  EXPECT_TRUE(write.Entity(ours));
  EXPECT_FALSE(write.Entity(theirs));  // idPattern is a full match
  EXPECT_TRUE(write.Attribute(ours, Expand("status")));
  EXPECT_FALSE(write.Attribute(ours, Expand("name")));
  EXPECT_FALSE(write.EveryAttribute(ours));
  // Rules are per tenant; the subscribe operation is granted by nothing.
  EXPECT_TRUE(policy->AccessFor(app, "jeju", Operation::kRead).none());
  EXPECT_TRUE(policy->AccessFor(app, "gimhae", Operation::kSubscribe).none());
}

TEST(Policy, DenyWinsOverBuiltInRoles) {
  auto policy = ParsePolicy(R"({"rules": [
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "types": ["Person"], "attrs": ["phone"]},
    {"effect": "deny", "roles": ["reader"], "operations": ["read"], "idPattern": "urn:secret:.*"}]})");
  ASSERT_TRUE(policy);
  Access read = policy->AccessFor(Who("u", {"reader"}), "", Operation::kRead);
  EXPECT_FALSE(read.all());
  const EntityFacts person{"urn:p:1", &kPerson, ""};
  EXPECT_TRUE(read.Entity(person));
  EXPECT_TRUE(read.Attribute(person, Expand("name")));
  EXPECT_FALSE(read.Attribute(person, Expand("phone")));
  EXPECT_FALSE(read.EveryAttribute(person));
  EXPECT_TRUE(read.Attribute({"urn:q:1", &kParking, ""}, Expand("phone")));  // other types keep it
  EXPECT_FALSE(read.Entity({"urn:secret:1", &kParking, ""}));
  // Writers are not named by the denials.
  EXPECT_TRUE(policy->AccessFor(Who("w", {"writer"}), "", Operation::kRead).all());
}

TEST(Policy, OwnerOnlyAndSubjects) {
  auto policy = ParsePolicy(R"({"rules": [
    {"effect": "allow", "roles": ["citizen"], "operations": ["read", "write"], "types": ["Report"], "owner": true},
    {"effect": "allow", "subjects": ["apikey:gateway-3"], "operations": ["write"], "types": ["ParkingSpot"]}]})");
  ASSERT_TRUE(policy);
  const std::vector<std::string> report{Expand("Report")};
  Access mine = policy->AccessFor(Who("kim", {"citizen"}), "", Operation::kWrite);
  EXPECT_TRUE(mine.needs_owner());
  EXPECT_TRUE(mine.Entity({"urn:r:1", &report, "kim"}));
  EXPECT_FALSE(mine.Entity({"urn:r:2", &report, "lee"}));
  EXPECT_FALSE(mine.Entity({"urn:r:3", &report, ""}));
  Access gateway = policy->AccessFor(Who("apikey:gateway-3", {}), "", Operation::kWrite);
  EXPECT_TRUE(gateway.Entity({"urn:x", &kParking, ""}));
  EXPECT_TRUE(policy->AccessFor(Who("apikey:gateway-4", {}), "", Operation::kWrite).none());
}

TEST(Policy, BadFilesAreRefusedWithTheReason) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"[]", "not a JSON object"},
      {R"({"rules": {}})", "'rules' array"},
      {R"({"rules": [{"roles": ["a"], "operations": ["read"]}]})", "effect"},
      {R"({"rules": [{"effect": "allow", "operations": ["read"]}]})", "who the rule is for"},
      {R"({"rules": [{"effect": "allow", "roles": ["a"], "operations": ["fly"]}]})", "unknown operation 'fly'"},
      {R"({"rules": [{"effect": "allow", "roles": ["a"], "operations": []}]})", "at least one operation"},
      {R"({"rules": [{"effect": "allow", "roles": ["a"], "operations": ["read"], "idPattern": "("}]})", "regular expression"},
      {R"({"rules": [{"effect": "allow", "roles": ["a"], "operations": ["read"], "colour": 1}]})", "'colour' is not a rule member"},
      {R"({"rules": [{"effect": "deny", "roles": ["a"], "operations": ["read"], "owner": true}]})", "allow rules"},
      {R"({"rules": [], "extra": 1})", "unknown member 'extra'"},
  };
  for (const auto& c : cases) {
    auto p = Policy::Parse(c.text, Expander());
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(c.says)) << c.text;
  }
}

constexpr const char* kPrivacy = R"({"k": 7,
  "classes": {"sensitive": {"treatment": "omit", "readers": ["doctor"]}},
  "types": {"Person": {"purpose": "citizen accounts", "retention": "P1Y",
                       "attributes": {"name": "personal", "health": "sensitive"}},
            "ParkingSpot": {"purpose": "free-space guidance"}}})";

TEST(Privacy, ClassificationAndTransparency) {
  auto p = PrivacyPolicy::Parse(kPrivacy, Expander());
  ASSERT_TRUE(p.ok()) << p.status().message();
  const auto& privacy = **p;
  EXPECT_EQ(privacy.k(), 7u);
  EXPECT_EQ(privacy.ClassOf(kPerson, Expand("name")), DataClass::kPersonal);
  EXPECT_EQ(privacy.ClassOf(kPerson, Expand("health")), DataClass::kSensitive);
  EXPECT_EQ(privacy.ClassOf(kPerson, Expand("age")), DataClass::kNone);
  EXPECT_EQ(privacy.ClassOf(kParking, Expand("name")), DataClass::kNone);
  EXPECT_TRUE(privacy.Classifies(kPerson));
  EXPECT_FALSE(privacy.Classifies(kParking));
  EXPECT_EQ(privacy.Rule(DataClass::kSensitive).readers, std::vector<std::string>{"doctor"});
  EXPECT_EQ(privacy.Rule(DataClass::kPersonal).treatment, Treatment::kPseudonymise);  // the default
  EXPECT_EQ(privacy.RetentionRules(), Expand("Person") + "=P1Y");
  json::object t = privacy.Transparency();
  const json::array& objects = t.at("privacyObjects").as_array();
  ASSERT_EQ(objects.size(), 2u);
  std::string text = json::serialize(t);
  EXPECT_THAT(text, HasSubstr("\"purpose\":\"citizen accounts\""));
  EXPECT_THAT(text, HasSubstr("\"retentionPeriod\":\"P1Y\""));
  EXPECT_THAT(text, HasSubstr("\"readableInClearBy\":[\"doctor\"]"));
}

TEST(Privacy, BadFilesAreRefused) {
  for (const char* text : {R"({"types": {"Person": {"attributes": {"name": "secret"}}}})",
                           R"({"types": {}, "k": 1})", R"({"types": {}, "classes": {"other": {}}})",
                           R"({"types": {"Person": {"retention": "1 year"}}})", R"({})"}) {
    EXPECT_FALSE(PrivacyPolicy::Parse(text, Expander()).ok()) << text;
  }
}

TEST(Pseudonymiser, StablePerTenantAndShapeKeeping) {
  auto p = Pseudonymiser::Create(std::string(32, 'k'));
  ASSERT_TRUE(p.ok());
  auto other_secret = Pseudonymiser::Create(std::string(32, 'x'));
  ASSERT_TRUE(other_secret.ok());
  EXPECT_FALSE(Pseudonymiser::Create("short").ok());
  const std::string a = (*p)->TenantKey("gimhae"), b = (*p)->TenantKey("jeju");
  EXPECT_EQ(Pseudonymiser::Pseudonym(a, "\"Kim\""), Pseudonymiser::Pseudonym(a, "\"Kim\""));
  EXPECT_NE(Pseudonymiser::Pseudonym(a, "\"Kim\""), Pseudonymiser::Pseudonym(a, "\"Lee\""));
  EXPECT_NE(Pseudonymiser::Pseudonym(a, "\"Kim\""), Pseudonymiser::Pseudonym(b, "\"Kim\""));
  EXPECT_NE(Pseudonymiser::Pseudonym(a, "\"Kim\""), Pseudonymiser::Pseudonym((*other_secret)->TenantKey("gimhae"), "\"Kim\""));

  json::object prop{{"type", "Property"}, {"value", "Kim"}, {"observedAt", "2026-01-01T00:00:00Z"},
                    {"source", json::object{{"type", "Property"}, {"value", "Kim's phone"}}}};
  ASSERT_TRUE(Pseudonymiser::Apply(a, prop));
  EXPECT_EQ(prop.at("value").as_string(), Pseudonymiser::Pseudonym(a, "\"Kim\""));
  EXPECT_THAT(std::string(prop.at("value").as_string()), HasSubstr("urn:cityhub:pseudonym:"));
  EXPECT_TRUE(prop.contains("observedAt"));
  EXPECT_FALSE(prop.contains("source"));  // sub-attributes may hold personal data too

  json::object rel{{"type", "Relationship"}, {"object", "urn:ngsi-ld:Person:kim"}};
  ASSERT_TRUE(Pseudonymiser::Apply(a, rel));
  EXPECT_NE(rel.at("object").as_string(), "urn:ngsi-ld:Person:kim");
  json::object lang{{"type", "LanguageProperty"}, {"languageMap", json::object{{"ko", "김"}}}};
  ASSERT_TRUE(Pseudonymiser::Apply(a, lang));
  EXPECT_TRUE(lang.at("languageMap").as_object().contains("@none"));
  json::object geo{{"type", "GeoProperty"}, {"value", json::object{{"type", "Point"}, {"coordinates", json::array{1, 2}}}}};
  EXPECT_FALSE(Pseudonymiser::Apply(a, geo));  // a geometry cannot keep its shape: omitted
}

TEST(RateLimiter, BucketPerKeyRefills) {
  RateLimiter limiter(10, 3);
  auto t0 = RateLimiter::Clock::now();
  double retry = 0;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", &retry, t0));
  EXPECT_FALSE(limiter.Allow("a", &retry, t0));
  EXPECT_NEAR(retry, 0.1, 1e-6);
  EXPECT_TRUE(limiter.Allow("b", &retry, t0));  // another principal has its own bucket
  EXPECT_TRUE(limiter.Allow("a", &retry, t0 + std::chrono::milliseconds(101)));
  EXPECT_FALSE(limiter.Allow("a", &retry, t0 + std::chrono::milliseconds(101)));
}

}  // namespace
}  // namespace cityhub::security
