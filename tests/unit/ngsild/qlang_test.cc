// Tests for the q-language and scope queries: parsing (values, paths, precedence, names
// expanded), evaluation against fixture entities covering every attribute type, errors with
// their exact positions, limits (depth, length, terms, lists, patterns, regex memory, RE2's
// linear matching), scopeQ, and which conjuncts IndexTerms() offers to the store.
#include "ngsild/qlang.h"

#include <chrono>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kT0 = 1'700'000'000'000;  // 2023-11-14T22:13:20Z, the fixtures' createdAt
const std::string kVocab(kDefaultVocab);

constexpr std::string_view kCar = R"({
  "id": "urn:ngsi-ld:Car:1", "type": "Car", "scope": "/Madrid/Gardens/ParqueNorte",
  "speed": {"type": "Property", "value": 80, "observedAt": "2024-05-01T10:00:00Z",
            "unitCode": "KMH", "accuracy": {"type": "Property", "value": 0.5}},
  "brandName": {"type": "Property", "value": "Mercedes"},
  "isParked": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
               "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"}},
  "tags": {"type": "Property", "value": ["red", "blue", 7]},
  "electric": {"type": "Property", "value": false},
  "lastService": {"type": "Property", "value": {"@type": "DateTime", "@value": "2024-01-15T08:00:00Z"}},
  "serviceDate": {"type": "Property", "value": {"@type": "Date", "@value": "2024-01-15"}},
  "opensAt": {"type": "Property", "value": {"@type": "Time", "@value": "08:30:00Z"}},
  "registeredText": {"type": "Property", "value": "2020-01-01T00:00:00Z"},
  "address": {"type": "Property", "value": {"street": "Ulrich Strasse", "city": "Berlin",
                                            "geo": {"zip": "10115", "floor": 3}}},
  "name": {"type": "LanguageProperty",
           "languageMap": {"en": "red car", "fr": "voiture rouge", "de": ["rotes", "Auto"]}},
  "temperature": [{"type": "Property", "value": 20, "datasetId": "urn:ngsi-ld:Dataset:a"},
                  {"type": "Property", "value": 30, "datasetId": "urn:ngsi-ld:Dataset:b",
                   "observedAt": "2024-05-01T12:00:00Z"}],
  "category": {"type": "VocabProperty", "vocab": "sedan"},
  "config": {"type": "JsonProperty", "json": {"mode": "eco", "levels": [1, 2]}},
  "route": {"type": "ListProperty", "valueList": [3, 1, 2]},
  "passengers": {"type": "ListRelationship",
                 "objectList": [{"object": "urn:ngsi-ld:Person:A"}, {"object": "urn:ngsi-ld:Person:B"}]},
  "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-3.7, 40.4]}},
  "größe": 5
})";

constexpr std::string_view kBike = R"({
  "id": "urn:ngsi-ld:Bike:1", "type": "Bike", "scope": ["/Madrid/Districts", "/CompanyA"],
  "speed": 15, "brandName": "Orbea",
  "isParked": {"type": "Relationship", "object": ["urn:a", "urn:b"]}
})";

constexpr std::string_view kBare = R"({"id": "urn:ngsi-ld:Thing:1", "type": "Thing"})";

// The core context, a user context and the fixture entities, built once.
struct World {
  World() {
    EXPECT_TRUE(resolver.Init().ok());
    core = resolver.Core();
    auto user_ctx = resolver.Resolve(json::parse(R"({"temp": "http://example.org/temperature"})"));
    EXPECT_TRUE(user_ctx.ok()) << user_ctx.status().message();
    if (user_ctx.ok()) user = *user_ctx;
    entities["car"] = MustParse(kCar, *core);
    entities["bike"] = MustParse(kBike, *core);
    entities["bare"] = MustParse(kBare, *core);
  }
  static Entity MustParse(std::string_view text, const Context& ctx) {
    auto e = ParseEntity(json::parse(text).as_object(), ctx, kT0, ParseLimits{});
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : Entity{};
  }

  ContextResolver resolver{{}, {}};
  ContextPtr core;
  ContextPtr user;
  std::map<std::string, Entity> entities;
};

const World& TheWorld() {
  static const World world;
  return world;
}

Result<QFilter> ParseQ(std::string_view q, const QueryLimits& limits = {}) {
  return QFilter::Parse(q, *TheWorld().core, limits);
}

// The attribute IRI without the default vocabulary, for short expectations.
std::string Short(const std::string& iri) {
  return iri.starts_with(kVocab) ? iri.substr(kVocab.size()) : iri;
}

std::string Describe(const QValue& v) {
  switch (v.kind) {
    case QValue::Kind::kBoolean: return v.number != 0 ? "true" : "false";
    case QValue::Kind::kNumber: return fmt::format("{}", v.number);
    case QValue::Kind::kString: return fmt::format("\"{}\"", v.text);
    case QValue::Kind::kDateTime: return fmt::format("dt:{}", v.number);
    case QValue::Kind::kDate: return fmt::format("date:{}", v.number);
    case QValue::Kind::kTime: return fmt::format("time:{}", v.number);
  }
  return "?";
}

// "speed=1,2" for equality terms, "speed:(5,+inf)" for ranges; terms separated by spaces.
std::string Describe(const std::vector<QIndexTerm>& terms) {
  std::vector<std::string> out;
  for (const auto& t : terms) {
    if (!t.values.empty()) {
      std::vector<std::string> values;
      for (const auto& v : t.values) values.push_back(Describe(v));
      out.push_back(fmt::format("{}={}", Short(t.attr), fmt::join(values, ",")));
      continue;
    }
    std::string lower = t.lower ? fmt::format("{}{}", t.lower_inclusive ? "[" : "(", Describe(*t.lower)) : "(-inf";
    std::string upper = t.upper ? fmt::format("{}{}", Describe(*t.upper), t.upper_inclusive ? "]" : ")") : "+inf)";
    out.push_back(fmt::format("{}:{},{}", Short(t.attr), lower, upper));
  }
  return fmt::format("{}", fmt::join(out, " "));
}

// True if some comparable of some instance of the term's attribute satisfies the term: what
// the store's index promises for every entity matching the whole query.
bool IndexTermHolds(const QIndexTerm& term, const Entity& e) {
  auto it = e.attrs.find(term.attr);
  if (it == e.attrs.end()) return false;
  auto within = [&](const QValue& v) {
    if (!term.values.empty()) return std::find(term.values.begin(), term.values.end(), v) != term.values.end();
    auto cmp = [](const QValue& a, const QValue& b) {
      return a.kind == QValue::Kind::kString ? a.text.compare(b.text) : (a.number > b.number) - (a.number < b.number);
    };
    const QValue& kind_of = term.lower ? *term.lower : *term.upper;
    if (v.kind != kind_of.kind) return false;
    if (term.lower && (term.lower_inclusive ? cmp(v, *term.lower) < 0 : cmp(v, *term.lower) <= 0)) return false;
    if (term.upper && (term.upper_inclusive ? cmp(v, *term.upper) > 0 : cmp(v, *term.upper) >= 0)) return false;
    return true;
  };
  bool found = false;
  for (const auto& inst : it->second) {
    ForEachComparable(inst, [&](const QValue& v) { found = found || within(v); });
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

struct EvalCase {
  const char* q;
  const char* entity;
  bool match;
};
std::ostream& operator<<(std::ostream& os, const EvalCase& c) {
  return os << c.q << " on " << c.entity << (c.match ? " matches" : " does not match");
}

class QEvalTest : public ::testing::TestWithParam<EvalCase> {};

TEST_P(QEvalTest, MatchesAsSpecified) {
  const EvalCase& c = GetParam();
  auto f = ParseQ(c.q);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const Entity& e = TheWorld().entities.at(c.entity);
  EXPECT_EQ(f->Matches(e), c.match);
  if (f->Matches(e)) {
    for (const auto& term : f->IndexTerms()) {
      EXPECT_TRUE(IndexTermHolds(term, e)) << "index term " << Describe({term}) << " would miss it";
    }
  }
}

constexpr EvalCase kEvalCases[] = {
    // existence and numbers
    {"speed", "car", true},
    {"nope", "car", false},
    {"speed==80", "car", true},
    {"speed==80.0", "car", true},
    {"speed==8e1", "car", true},
    {"speed==81", "car", false},
    {"speed!=81", "car", true},
    {"speed!=80", "car", false},
    {"speed>79", "car", true},
    {"speed>80", "car", false},
    {"speed>=80", "car", true},
    {"speed<80", "car", false},
    {"speed<=80", "car", true},
    {"speed<100", "car", true},
    {"speed>-1", "car", true},
    {"speed==70..90", "car", true},
    {"speed==80..80", "car", true},
    {"speed==81..90", "car", false},
    {"speed!=81..90", "car", true},
    {"speed!=70..90", "car", false},
    {"speed==1,80,3", "car", true},
    {"speed==1,2", "car", false},
    {"speed!=1,2", "car", true},
    {"speed!=1,80", "car", false},
    // kinds compare only with the same kind
    {"speed==\"80\"", "car", false},
    {"speed!=\"80\"", "car", true},
    {"speed>\"1\"", "car", false},
    {"speed==true", "car", false},
    // strings
    {"brandName==\"Mercedes\"", "car", true},
    {"brandName==\"Merc\\u0065des\"", "car", true},
    {"brandName==\"mercedes\"", "car", false},
    {"brandName!=\"Mercedes\"", "car", false},
    {"brandName!=\"BMW\",\"Audi\"", "car", true},
    {"brandName>\"M\"", "car", true},
    {"brandName<\"M\"", "car", false},
    {"brandName==\"A\"..\"N\"", "car", true},
    {"brandName==\"N\"..\"Z\"", "car", false},
    // patterns (RE2, searched, strings only)
    {"brandName~=Merc", "car", true},
    {"brandName~=^erc", "car", false},
    {"brandName~=\"(?i)^mercedes$\"", "car", true},
    {"brandName~=(BMW|Merc)edes", "car", true},
    {"brandName!~=^Merc", "car", false},
    {"brandName!~=BMW", "car", true},
    {"speed~=8", "car", false},
    {"speed!~=8", "car", false},
    // Relationships compare their object, and only with == and != (§4.9)
    {"isParked==\"urn:ngsi-ld:OffStreetParking:Downtown1\"", "car", true},
    {"isParked==urn:ngsi-ld:OffStreetParking:Downtown1", "car", true},
    {"isParked==urn:x,urn:ngsi-ld:OffStreetParking:Downtown1", "car", true},
    {"isParked==urn:x", "car", false},
    {"isParked!=urn:x", "car", true},
    {"isParked>\"a\"", "car", false},
    {"isParked~=Downtown", "car", false},
    {"isParked==urn:b", "bike", true},
    {"isParked!=urn:a", "bike", false},
    {"isParked!=urn:c", "bike", true},
    // sub-attributes and metadata
    {"isParked.providedBy==urn:ngsi-ld:Person:Bob", "car", true},
    {"isParked.providedBy==urn:ngsi-ld:Person:Al", "car", false},
    {"isParked.providedBy", "car", true},
    {"isParked.nothing", "car", false},
    {"speed.accuracy<1", "car", true},
    {"speed.accuracy>1", "car", false},
    {"speed.accuracy.deeper", "car", false},
    {"speed.observedAt>=2024-05-01T00:00:00Z", "car", true},
    {"speed.observedAt<2024-05-01T00:00:00Z", "car", false},
    {"speed.observedAt==2024-05-01T12:00:00+02:00", "car", true},
    {"speed.observedAt==\"2024-05-01T10:00:00Z\"", "car", false},
    {"speed.observedAt", "car", true},
    {"brandName.observedAt", "car", false},
    {"speed.unitCode==\"KMH\"", "car", true},
    {"speed.unitCode==\"CEL\"", "car", false},
    {"brandName.unitCode", "car", false},
    {"temperature.datasetId==urn:ngsi-ld:Dataset:b", "car", true},
    {"temperature.datasetId==urn:ngsi-ld:Dataset:c", "car", false},
    {"speed.datasetId", "car", false},
    {"speed.createdAt==2023-11-14T22:13:20Z", "car", true},
    {"speed.modifiedAt>2024-01-01T00:00:00Z", "car", false},
    {"speed.accuracy.observedAt", "car", false},
    // arrays: any element
    {"tags==\"red\"", "car", true},
    {"tags==\"green\"", "car", false},
    {"tags==7", "car", true},
    {"tags!=\"green\"", "car", true},
    {"tags!=\"red\"", "car", false},
    {"tags==\"green\",\"blue\"", "car", true},
    {"tags>5", "car", true},
    {"tags~=^bl", "car", true},
    {"tags!~=^bl", "car", false},
    {"tags!~=^gr", "car", true},
    // booleans
    {"electric==false", "car", true},
    {"electric==true", "car", false},
    {"electric!=true", "car", true},
    {"electric", "car", true},
    // DateTime / Date / Time value objects
    {"lastService==2024-01-15T08:00:00Z", "car", true},
    {"lastService==2024-01-15T09:00:00+01:00", "car", true},
    {"lastService>2024-01-01T00:00:00Z", "car", true},
    {"lastService<2024-01-01T00:00:00Z", "car", false},
    {"lastService==\"2024-01-15T08:00:00Z\"", "car", false},
    {"lastService==2024-01-01T00:00:00Z..2024-02-01T00:00:00Z", "car", true},
    {"lastService==2024-01-15", "car", false},
    {"serviceDate==2024-01-15", "car", true},
    {"serviceDate<2024-01-15", "car", false},
    {"serviceDate>2023-12-31", "car", true},
    {"serviceDate==2024-01-15T00:00:00Z", "car", false},
    {"opensAt==08:30:00Z", "car", true},
    {"opensAt==08:30:00", "car", true},
    {"opensAt<09:00:00", "car", true},
    {"opensAt>08:30:00.001", "car", false},
    // a date-time written as a plain string is a string
    {"registeredText==\"2020-01-01T00:00:00Z\"", "car", true},
    {"registeredText==2020-01-01T00:00:00Z", "car", false},
    {"registeredText>2019-01-01T00:00:00Z", "car", false},
    // compound values: attr[member.member], not expanded
    {"address[city]==\"Berlin\"", "car", true},
    {"address[city]==\"Paris\"", "car", false},
    {"address[city]", "car", true},
    {"address[country]", "car", false},
    {"address[geo.zip]==\"10115\"", "car", true},
    {"address[geo.floor]>2", "car", true},
    {"address[geo.floor]==3", "car", true},
    {"address[geo.zip.x]", "car", false},
    {"address[street]~=Strasse$", "car", true},
    {"brandName[x]", "car", false},
    {"config[mode]==\"eco\"", "car", true},
    {"config[mode]==\"sport\"", "car", false},
    {"config[levels]==2", "car", true},
    // LanguageProperty: any language, or one with attr[lang], attr[*] for any
    {"name==\"red car\"", "car", true},
    {"name==\"rotes\"", "car", true},
    {"name~=voiture", "car", true},
    {"name[en]==\"red car\"", "car", true},
    {"name[fr]==\"red car\"", "car", false},
    {"name[de]==\"Auto\"", "car", true},
    {"name[*]==\"voiture rouge\"", "car", true},
    {"name[en]!=\"red car\"", "car", false},
    {"name[fr]!=\"red car\"", "car", true},
    {"name[es]", "car", false},
    {"name[es]!=\"x\"", "car", false},
    // multiple instances (datasetId): any instance
    {"temperature==20", "car", true},
    {"temperature==30", "car", true},
    {"temperature>25", "car", true},
    {"temperature>35", "car", false},
    {"temperature!=20", "car", true},
    {"temperature!=20,30", "car", false},
    {"temperature.observedAt>2024-01-01T00:00:00Z", "car", true},
    // VocabProperty (stored expanded), ListProperty, ListRelationship, GeoProperty
    {"category==\"https://uri.etsi.org/ngsi-ld/default-context/sedan\"", "car", true},
    {"category==\"sedan\"", "car", false},
    {"route==2", "car", true},
    {"route>2", "car", true},
    {"route==5", "car", false},
    {"passengers==urn:ngsi-ld:Person:B", "car", true},
    {"passengers==urn:ngsi-ld:Person:C", "car", false},
    {"passengers!=urn:ngsi-ld:Person:C", "car", true},
    {"location", "car", true},
    {"location==\"Point\"", "car", false},
    // non-existence (!attr, as Orion-LD and Stellio)
    {"!nope", "car", true},
    {"!speed", "car", false},
    {"!speed.accuracy", "car", false},
    {"!brandName.accuracy", "car", true},
    {"!address[country]", "car", true},
    {"!speed", "bare", true},
    {"speed!=1", "bare", false},
    // logic and precedence: ';' binds tighter than '|'
    {"speed>50;brandName==\"Mercedes\"", "car", true},
    {"speed>90;brandName==\"Mercedes\"", "car", false},
    {"speed>90|brandName==\"Mercedes\"", "car", true},
    {"speed>90|brandName==\"BMW\"", "car", false},
    {"speed==80|speed>90;electric==true", "car", true},
    {"(speed==80|speed>90);electric==true", "car", false},
    {"((speed>50|rpm>3000);brandName==\"Mercedes\")", "car", true},
    {"(temperature>=20;temperature<=25)|capacity<=10", "car", true},
    {"(((speed==80)))", "car", true},
    {"speed==15;brandName==\"Orbea\"", "bike", true},
    {"speed==15;brandName==\"Orbea\"", "car", false},
    // names: non-ASCII letters
    {"größe==5", "car", true},
};
INSTANTIATE_TEST_SUITE_P(Cases, QEvalTest, ::testing::ValuesIn(kEvalCases));

// ---------------------------------------------------------------------------------------------
// Parsing: what parses, which attributes it names (expanded).

struct ParseCase {
  const char* q;
  std::vector<std::string> attributes;  // short names (default vocabulary removed)
};
std::ostream& operator<<(std::ostream& os, const ParseCase& c) { return os << c.q; }

class QParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(QParseTest, ParsesAndNamesAttributes) {
  auto f = ParseQ(GetParam().q);
  ASSERT_TRUE(f.ok()) << f.status().message();
  std::vector<std::string> got;
  for (const auto& a : f->Attributes()) got.push_back(Short(a));
  EXPECT_EQ(got, GetParam().attributes);
}

const ParseCase kParseCases[] = {
    {"speed", {"speed"}},
    {"speed==1;speed>0", {"speed"}},
    {"a|b;c", {"a", "b", "c"}},
    {"isParked.providedBy==urn:x", {"isParked"}},
    {"address[city]==\"B\"", {"address"}},
    {"!nope", {"nope"}},
    {"a==-1.5e3", {"a"}},
    {"a==0", {"a"}},
    {"a==1E+2", {"a"}},
    {"a==\"\\u00e9\\n\\\"\\\\\"", {"a"}},
    {"a==\"\"", {"a"}},
    {"a==\"x;y|z)\"", {"a"}},
    {"a==08:30:00.250", {"a"}},
    {"a==2024-02-29", {"a"}},
    {"a==2024-01-01T00:00:00.123+01:00", {"a"}},
    {"a==urn:ngsi-ld:X:1,urn:ngsi-ld:X:2", {"a"}},
    {"a==urn:ngsi-ld:Thing:2024-01-01T00:00:00Z", {"a"}},
    {"a==https://example.org/x?y=1", {"a"}},
    {"a~=(a|b)c;b==1", {"a", "b"}},
    {"a~=[;|)]x|b", {"a", "b"}},
    {"a~=x\\)y;b", {"a", "b"}},
    {"(a~=x)", {"a"}},
    {"schema:name==\"x\"", {"schema:name"}},
    {"ngsi-ld:foo", {"https://uri.etsi.org/ngsi-ld/foo"}},
    {"air-quality>3", {"air-quality"}},
    {"a[@value]", {"a"}},
};
INSTANTIATE_TEST_SUITE_P(Cases, QParseTest, ::testing::ValuesIn(kParseCases));

TEST(QParse, ExpandsNamesWithTheRequestContext) {
  const World& w = TheWorld();
  ASSERT_TRUE(w.user);
  auto f = QFilter::Parse("temp>20;temp.unitCode==\"CEL\"", *w.user);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->Attributes(), std::vector<std::string>{"http://example.org/temperature"});
  Entity e = World::MustParse(R"({"id": "urn:ngsi-ld:R:1", "type": "Room",
                                  "temp": {"type": "Property", "value": 21, "unitCode": "CEL"}})",
                              *w.user);
  EXPECT_TRUE(f->Matches(e));
  auto with_core = QFilter::Parse("temp>20", *w.core);
  ASSERT_TRUE(with_core.ok());
  EXPECT_FALSE(with_core->Matches(e));
}

TEST(QParse, DefaultFilterMatchesEverything) {
  EXPECT_TRUE(QFilter().Matches(TheWorld().entities.at("bare")));
  EXPECT_TRUE(ScopeFilter().Matches(TheWorld().entities.at("bare")));
}

// ---------------------------------------------------------------------------------------------
// Errors: the code, the exact position and what was expected.

struct ErrorCase {
  const char* q;
  Status::Code code;
  size_t pos;
  const char* what;
};
std::ostream& operator<<(std::ostream& os, const ErrorCase& c) { return os << c.q; }

class QErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(QErrorTest, NamesThePositionAndWhatWasExpected) {
  const ErrorCase& c = GetParam();
  auto f = ParseQ(c.q);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), c.code) << f.status().message();
  EXPECT_THAT(f.status().message(), StartsWith(fmt::format("q: at position {}: ", c.pos)));
  EXPECT_THAT(f.status().message(), HasSubstr(c.what));
}

constexpr auto kInvalid = Status::Code::kInvalidRequest;
constexpr ErrorCase kErrorCases[] = {
    {"", kInvalid, 0, "expected an attribute name, found the end of the query"},
    {"speed==", kInvalid, 7, "expected a value after '=='"},
    {"speed=5", kInvalid, 5, "expected an operator (==, !=, >, >=, <, <=, ~=, !~=)"},
    {"speed>>5", kInvalid, 6, "expected a value after '>'"},
    {"speed==80;", kInvalid, 10, "expected an attribute name"},
    {"speed==80|", kInvalid, 10, "expected an attribute name"},
    {";speed", kInvalid, 0, "expected an attribute name, found ';speed'"},
    {"(speed==80", kInvalid, 10, "expected ';', '|' or ')' to close the '(' at position 0"},
    {"()", kInvalid, 1, "expected an attribute name, found ')'"},
    {"speed==80)", kInvalid, 9, "')' without a matching '('"},
    {"speed==1e999", kInvalid, 7, "number '1e999' is out of the range of a double"},
    {"speed==-1e999", kInvalid, 7, "out of the range of a double"},
    {"speed==NaN", kInvalid, 7, "expected a value after '=='"},
    {"speed==Infinity", kInvalid, 7, "found 'Infinity'"},
    {"speed>-Infinity", kInvalid, 6, "expected a value after '>'"},
    {"speed==01", kInvalid, 7, "'01' is neither a number nor a valid date, time or date-time"},
    {"speed==2024-13-01", kInvalid, 7, "neither a number nor a valid date"},
    {"speed==2024-02-30T00:00:00Z", kInvalid, 7, "neither a number nor a valid date"},
    {"speed==25:00:00", kInvalid, 7, "neither a number nor a valid date"},
    {"speed==80 ;a", kInvalid, 9, "expected ';', '|', ')' or the end of the query, found ' ;a'"},
    {"brandName==\"Merc", kInvalid, 16, "expected '\"' to close the string opened at position 11"},
    {"brandName==\"a\\qb\"", kInvalid, 11, "not a valid JSON string"},
    {"brandName==\"a\"b", kInvalid, 14, "expected ';', '|', ')' or the end of the query, found 'b'"},
    {"brandName==Mercedes", kInvalid, 11, "found 'Mercedes'"},
    {"speed>true", kInvalid, 6, "expected a number, a \"quoted string\", a date, a time or a date-time after '>'"},
    {"speed<=urn:a", kInvalid, 7, "after '<='"},
    {"speed>1..5", kInvalid, 6, "a range a..b is not allowed after '>'"},
    {"speed>1,5", kInvalid, 7, "a value list a,b is not allowed after '>'"},
    {"speed==1..\"a\"", kInvalid, 10, "both bounds of a range must be of the same kind"},
    {"speed==true..false", kInvalid, 7, "as a range bound"},
    {"speed==1..urn:x", kInvalid, 10, "as a range bound"},
    {"speed==1..", kInvalid, 10, "expected a value after '..'"},
    {"speed==1,", kInvalid, 9, "expected a value after ','"},
    {"speed==1..2,3", kInvalid, 11, "expected ';', '|', ')' or the end of the query"},
    {"speed~=", kInvalid, 7, "expected a regular expression"},
    {"speed~=(a", kInvalid, 7, "invalid regular expression: missing )"},
    {"speed~=\"(a\"", kInvalid, 7, "invalid regular expression"},
    {"speed~=a)", kInvalid, 8, "')' without a matching '('"},
    {"!speed==5", kInvalid, 6, "after '!attribute'"},
    {"!", kInvalid, 1, "expected an attribute name"},
    {"1speed", kInvalid, 0, "expected an attribute name, found '1speed'"},
    {"speed.", kInvalid, 6, "expected a sub-attribute name"},
    {"speed..x", kInvalid, 6, "expected a sub-attribute name"},
    {"speed[", kInvalid, 6, "expected a member name or '*' inside '[…]'"},
    {"speed[a", kInvalid, 7, "expected '.' or ']'"},
    {"speed[a.]", kInvalid, 8, "expected a member name"},
    {"speed.observedAt.x", kInvalid, 16, "'observedAt' is a metadata member"},
    {"speed.unitCode[x]", kInvalid, 14, "'unitCode' is a metadata member"},
    {"speed{humidity}==40", Status::Code::kOperationNotSupported, 5, "linked-entity paths"},
    {"speed==80;;a", kInvalid, 10, "expected an attribute name, found ';a'"},
    {"temperature==ä", kInvalid, 13, "expected a value after '=='"},
};
INSTANTIATE_TEST_SUITE_P(Cases, QErrorTest, ::testing::ValuesIn(kErrorCases));

// ---------------------------------------------------------------------------------------------
// Limits: TooComplexQuery naming the limit, and quickly.

double SecondsFor(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Nested(size_t depth, std::string_view inner) {
  return std::string(depth, '(') + std::string(inner) + std::string(depth, ')');
}

TEST(QLimits, TenThousandNestedParenthesesAreTooComplexAtOnce) {
  const std::string q = Nested(10'000, "speed==80");
  Result<QFilter> by_length = Status::Internal("unset");
  Result<QFilter> by_depth = Status::Internal("unset");
  QueryLimits long_text;
  long_text.max_length = 1 << 20;
  double seconds = SecondsFor([&] {
    by_length = ParseQ(q);
    by_depth = ParseQ(q, long_text);
  });
  EXPECT_LT(seconds, 1.0);
  ASSERT_FALSE(by_length.ok());
  EXPECT_EQ(by_length.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_THAT(by_length.status().message(), HasSubstr("max_length"));
  ASSERT_FALSE(by_depth.ok());
  EXPECT_EQ(by_depth.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(by_depth.status().message(), "q: at position 32: parentheses nested deeper than 32 (max_depth)");
}

TEST(QLimits, DepthUpToTheLimitParses) {
  auto at_limit = ParseQ(Nested(32, "speed==80"));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().message();
  EXPECT_TRUE(at_limit->Matches(TheWorld().entities.at("car")));
  auto beyond = ParseQ(Nested(33, "speed==80"));
  EXPECT_EQ(beyond.status().code(), Status::Code::kTooComplexQuery);
}

TEST(QLimits, OneMegabyteQueryIsRefusedByLength) {
  const std::string q = "brandName==\"" + std::string(1 << 20, 'x') + "\"";
  auto f = ParseQ(q);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(f.status().message(),
            fmt::format("q: {} bytes, longer than the limit of 8192 bytes (max_length)", q.size()));
}

TEST(QLimits, OneMegabyteQueryWithinRaisedLimitsIsFast) {
  QueryLimits big;
  big.max_length = 2 << 20;
  const std::string value(1 << 20, 'x');
  Result<QFilter> f = Status::Internal("unset");
  EXPECT_LT(SecondsFor([&] { f = ParseQ("brandName==\"" + value + "\"|brandName==\"Mercedes\"", big); }), 1.0);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_TRUE(f->Matches(TheWorld().entities.at("car")));
  EXPECT_FALSE(f->Matches(TheWorld().entities.at("bike")));
}

TEST(QLimits, OneMegabyteOfTermsStopsAtMaxTerms) {
  QueryLimits big;
  big.max_length = 2 << 20;
  std::string q;
  while (q.size() < (1 << 20)) q += "speed==80;";
  q += "speed";
  auto f = ParseQ(q, big);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(f.status().message(), "q: at position 2560: more than 256 terms (max_terms)");
}

TEST(QLimits, ValueListsAreCapped) {
  std::string list = "1";
  for (int i = 2; i <= 256; ++i) list += fmt::format(",{}", i);
  EXPECT_TRUE(ParseQ("speed==" + list).ok());
  auto f = ParseQ("speed==" + list + ",257");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(f.status().message(),
            fmt::format("q: at position {}: more than 256 values in a list (max_list_values)", 7 + list.size() + 1));
}

TEST(QLimits, PatternsLongerThanTheLimitAreRefused) {
  EXPECT_TRUE(ParseQ("brandName~=" + std::string(1024, 'a')).ok());
  auto f = ParseQ("brandName~=" + std::string(1025, 'a'));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(f.status().message(),
            "q: at position 11: a pattern of 1025 bytes, longer than 1024 (max_pattern_bytes)");
}

TEST(QLimits, PatternsNeedingTooMuchMemoryAreRefused) {
  auto f = ParseQ("brandName~=\\pL{1000}");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(f.status().message(),
            "q: at position 11: the pattern needs more than 1048576 bytes of memory (max_regex_memory)");
}

TEST(QLimits, CatastrophicBacktrackingPatternsRunInLinearTime) {
  Entity e = TheWorld().entities.at("bare");
  Instance inst;
  inst["type"] = "Property";
  inst["value"] = std::string(100'000, 'a') + "b";
  e.attrs[kVocab + "text"].push_back(inst);
  for (const char* q : {"text~=(a+)+$", "text~=^(a|aa)+$", "text~=(a*)*c", "text~=(.*a){20}c"}) {
    auto f = ParseQ(q);
    ASSERT_TRUE(f.ok()) << q << ": " << f.status().message();
    bool matched = true;
    EXPECT_LT(SecondsFor([&] { matched = f->Matches(e); }), 1.0) << q;
    EXPECT_FALSE(matched) << q;
  }
  auto f = ParseQ("text~=(a+)+b$");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->Matches(e));
}

// ---------------------------------------------------------------------------------------------
// IndexTerms: only top-level AND conjuncts on plain attributes with ==, ranges and orderings.

struct IndexCase {
  const char* q;
  const char* terms;
};
std::ostream& operator<<(std::ostream& os, const IndexCase& c) { return os << c.q; }

class QIndexTermsTest : public ::testing::TestWithParam<IndexCase> {};

TEST_P(QIndexTermsTest, OffersOnlyNecessaryConjuncts) {
  auto f = ParseQ(GetParam().q);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(Describe(f->IndexTerms()), GetParam().terms);
}

constexpr IndexCase kIndexCases[] = {
    {"speed==5", "speed=5"},
    {"speed==5,6", "speed=5,6"},
    {"speed==5,\"x\"", ""},
    {"speed==1..5", "speed:[1,5]"},
    {"speed>5", "speed:(5,+inf)"},
    {"speed>=5", "speed:[5,+inf)"},
    {"speed<5", "speed:(-inf,5)"},
    {"speed<=5", "speed:(-inf,5]"},
    {"speed>5;brandName==\"M\"", "speed:(5,+inf) brandName=\"M\""},
    {"(speed>5;brandName==\"M\")", "speed:(5,+inf) brandName=\"M\""},
    {"(speed>5;(brandName==\"M\"));electric==true", "speed:(5,+inf) brandName=\"M\" electric=true"},
    {"speed>5;speed<10", "speed:(5,+inf) speed:(-inf,10)"},
    {"speed>5|brandName==\"M\"", ""},
    {"speed>5;(brandName==\"M\"|electric==true)", "speed:(5,+inf)"},
    {"(a==1|b==2);c==3", "c=3"},
    {"a==1;b!=2;c>3", "a=1 c:(3,+inf)"},
    {"speed!=5", ""},
    {"speed!=1..5", ""},
    {"brandName~=M", ""},
    {"brandName!~=M", ""},
    {"speed", ""},
    {"!speed", ""},
    {"speed.accuracy==1", ""},
    {"speed.observedAt>2020-01-01T00:00:00Z", ""},
    {"address[city]==\"B\"", ""},
    {"name[en]==\"x\"", ""},
    {"isParked==urn:a", "isParked=\"urn:a\""},
    {"electric==true", "electric=true"},
    {"lastService>=2024-01-01T00:00:00Z", "lastService:[dt:1704067200000,+inf)"},
    {"serviceDate==2024-01-01", "serviceDate=date:19723"},
    {"opensAt<08:30:00.5", "opensAt:(-inf,time:30600500)"},
    {"a==\"\\u00e9\\\"x\"", "a=\"é\"x\""},
};
INSTANTIATE_TEST_SUITE_P(Cases, QIndexTermsTest, ::testing::ValuesIn(kIndexCases));

// ---------------------------------------------------------------------------------------------
// ForEachComparable: what the store indexes for each attribute type.

TEST(QComparables, YieldsTheScalarsOfEachAttributeType) {
  const Entity& car = TheWorld().entities.at("car");
  auto comparables = [&](const char* attr) {
    std::vector<std::string> out;
    for (const auto& inst : car.attrs.at(kVocab + attr)) {
      ForEachComparable(inst, [&](const QValue& v) { out.push_back(Describe(v)); });
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(comparables("speed"), V{"80"});
  EXPECT_EQ(comparables("tags"), (V{"\"red\"", "\"blue\"", "7"}));
  EXPECT_EQ(comparables("isParked"), V{"\"urn:ngsi-ld:OffStreetParking:Downtown1\""});
  EXPECT_EQ(comparables("lastService"), V{"dt:1705305600000"});
  EXPECT_EQ(comparables("passengers"), (V{"\"urn:ngsi-ld:Person:A\"", "\"urn:ngsi-ld:Person:B\""}));
  EXPECT_EQ(comparables("temperature"), (V{"20", "30"}));
  EXPECT_EQ(comparables("address"), V{});
  EXPECT_EQ(comparables("electric"), V{"false"});
}

// ---------------------------------------------------------------------------------------------
// scopeQ (§4.19).

struct ScopeCase {
  const char* scope_q;
  const char* scopes;  // the entity's scope as JSON
  bool match;
};
std::ostream& operator<<(std::ostream& os, const ScopeCase& c) {
  return os << c.scope_q << " on " << c.scopes;
}

class ScopeEvalTest : public ::testing::TestWithParam<ScopeCase> {};

TEST_P(ScopeEvalTest, MatchesAsSpecified) {
  const ScopeCase& c = GetParam();
  auto f = ScopeFilter::Parse(c.scope_q);
  ASSERT_TRUE(f.ok()) << f.status().message();
  Entity e;
  e.scope = json::parse(c.scopes);
  EXPECT_EQ(f->Matches(e), c.match);
}

constexpr ScopeCase kScopeCases[] = {
    {"/Madrid/Gardens/ParqueNorte", R"("/Madrid/Gardens/ParqueNorte")", true},
    {"/Madrid/Gardens", R"("/Madrid/Gardens/ParqueNorte")", false},
    {"/Madrid/Gardens/ParqueNorte/Parterre1", R"("/Madrid/Gardens/ParqueNorte")", false},
    {"/Madrid/Gardens/#", R"("/Madrid/Gardens/ParqueNorte")", true},
    {"/Madrid/Gardens/#", R"("/Madrid/Gardens/ParqueNorte/Parterre1")", true},
    {"/Madrid/Gardens/#", R"("/Madrid/Gardens")", true},
    {"/Madrid/Gardens/#", R"("/Madrid/GardensX")", false},
    {"/Madrid/Gardens/#", R"("/Madrid")", false},
    {"/Madrid/+/ParqueNorte", R"("/Madrid/Sights/ParqueNorte")", true},
    {"/Madrid/+/ParqueNorte", R"("/Madrid/Gardens/ParqueSur")", false},
    {"/Madrid/+", R"("/Madrid/Gardens/ParqueNorte")", false},
    {"/Madrid/+/#", R"("/Madrid/Gardens/ParqueNorte")", true},
    {"/+", R"("/Madrid")", true},
    {"/#", R"("/Madrid")", true},
    {"/#", R"(["/A", "/B"])", true},
    {"/#", "null", false},
    {"/Madrid", "null", false},
    {"/Madrid", R"("/madrid")", false},
    {"/Madrid", R"("/Madrid/")", true},
    {"/Madrid/Districts", R"(["/Madrid/Districts", "/CompanyA"])", true},
    {"(/Madrid/Districts;/CompanyA)", R"(["/Madrid/Districts", "/CompanyA"])", true},
    {"(/Madrid/Districts;/CompanyA)", R"(["/Madrid/Districts"])", false},
    {"(/Madrid/Districts;/CompanyA)|/CompanyB", R"(["/CompanyB"])", true},
    {"(/Madrid/Districts;/CompanyA),/CompanyB", R"(["/CompanyB"])", true},
    {"(/Madrid/Districts;/CompanyA),/CompanyB", R"(["/CompanyA"])", false},
    {"/CompanyA|/CompanyB", R"("/CompanyC")", false},
    {"/Madrid/Districts;/CompanyA", R"(["/CompanyA", "/Madrid/Districts"])", true},
    {"/Madrid/#;/CompanyA|/CompanyB", R"(["/Madrid/X", "/CompanyA"])", true},
    {"((/Madrid/#))", R"("/Madrid/X")", true},
    {"/Málaga/Centro_1", R"("/Málaga/Centro_1")", true},
};
INSTANTIATE_TEST_SUITE_P(Cases, ScopeEvalTest, ::testing::ValuesIn(kScopeCases));

struct ScopeErrorCase {
  const char* scope_q;
  size_t pos;
  const char* what;
};
std::ostream& operator<<(std::ostream& os, const ScopeErrorCase& c) { return os << c.scope_q; }

class ScopeErrorTest : public ::testing::TestWithParam<ScopeErrorCase> {};

TEST_P(ScopeErrorTest, NamesThePositionAndWhatWasExpected) {
  const ScopeErrorCase& c = GetParam();
  auto f = ScopeFilter::Parse(c.scope_q);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kInvalidRequest) << f.status().message();
  EXPECT_THAT(f.status().message(), StartsWith(fmt::format("scopeQ: at position {}: ", c.pos)));
  EXPECT_THAT(f.status().message(), HasSubstr(c.what));
}

constexpr ScopeErrorCase kScopeErrorCases[] = {
    {"", 0, "expected a scope starting with '/'"},
    {"Madrid", 0, "expected a scope starting with '/' (e.g. /Madrid/Gardens) or '(', found 'Madrid'"},
    {"/", 1, "expected a scope level name, '+' or '#'"},
    {"/Madrid/", 8, "expected a scope level name, '+' or '#', found the end of the query"},
    {"/Madrid//Gardens", 8, "expected a scope level name"},
    {"/Madrid/#/x", 9, "expected ';', '|', ',' or the end of the query"},
    {"/Madrid/++", 9, "expected ';', '|', ',' or the end of the query"},
    {"(/Madrid", 8, "to close the '(' at position 0"},
    {"/Madrid)", 7, "')' without a matching '('"},
    {"/Ma drid", 3, "found ' drid'"},
    {"/Madrid;", 8, "expected a scope starting with '/'"},
    {"/Madrid|", 8, "expected a scope starting with '/'"},
    {"()", 1, "expected a scope starting with '/'"},
};
INSTANTIATE_TEST_SUITE_P(Cases, ScopeErrorTest, ::testing::ValuesIn(kScopeErrorCases));

TEST(ScopeLimits, DeepNestingAndLongTextAreTooComplex) {
  const std::string q = Nested(10'000, "/Madrid");
  QueryLimits long_text;
  long_text.max_length = 1 << 20;
  auto by_length = ScopeFilter::Parse(q);
  auto by_depth = ScopeFilter::Parse(q, long_text);
  EXPECT_EQ(by_length.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_THAT(by_length.status().message(), HasSubstr("max_length"));
  EXPECT_EQ(by_depth.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(by_depth.status().message(), "scopeQ: at position 32: parentheses nested deeper than 32 (max_depth)");
}

TEST(ScopeLimits, TermsAreCapped) {
  std::string q = "/a";
  for (int i = 0; i < 256; ++i) q += "|/a";
  auto f = ScopeFilter::Parse(q);
  EXPECT_EQ(f.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_THAT(f.status().message(), HasSubstr("(max_terms)"));
}

TEST(ScopeFixtures, FixtureEntitiesMatchTheirScopes) {
  auto gardens = ScopeFilter::Parse("/Madrid/Gardens/#");
  auto both = ScopeFilter::Parse("(/Madrid/Districts;/CompanyA)");
  ASSERT_TRUE(gardens.ok() && both.ok());
  const auto& entities = TheWorld().entities;
  EXPECT_TRUE(gardens->Matches(entities.at("car")));
  EXPECT_FALSE(gardens->Matches(entities.at("bike")));
  EXPECT_TRUE(both->Matches(entities.at("bike")));
  EXPECT_FALSE(both->Matches(entities.at("bare")));
}

}  // namespace
}  // namespace cityhub::ngsild
