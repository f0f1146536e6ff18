// Tests for the entity model beneath the API: parsing (normalized and concise input for every
// attribute type, validation errors naming the member), rendering (normalized, concise,
// keyValues, sysAttrs, projection, round trips), update semantics and the storage form.
#include <set>
#include <string>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "ngsild/update.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kT1 = kT0 + 60'000;
const std::string kVocab(kDefaultVocab);
const std::string kNgsi = "https://uri.etsi.org/ngsi-ld/";

class EntityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }

  Result<Entity> Parse(std::string_view text, int64_t now = kT0) {
    return ParseEntity(json::parse(text).as_object(), *ctx_, now, limits_);
  }
  Entity MustParse(std::string_view text, int64_t now = kT0) {
    auto e = Parse(text, now);
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : Entity{};
  }
  AttrMap Attrs(std::string_view text, int64_t now = kT1, bool allow_null = false) {
    auto a = ParseAttributes(json::parse(text).as_object(), *ctx_, now, limits_, allow_null);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? std::move(*a) : AttrMap{};
  }
  // The BadRequestData message of parsing `text` as an entity (fails the test if it parses).
  std::string Error(std::string_view text) {
    auto e = Parse(text);
    EXPECT_FALSE(e.ok()) << text;
    if (e.ok()) return "";
    EXPECT_EQ(e.status().code(), Status::Code::kBadRequestData) << e.status().message();
    return e.status().message();
  }
  std::string AttrError(std::string_view attr_json) {
    return Error(std::string(R"({"id":"urn:ngsi-ld:T:1","type":"T","a":)") + std::string(attr_json) + "}");
  }
  json::object Render(const Entity& e, Format f, bool sys = false,
                      const std::set<std::string>* attrs = nullptr) {
    RenderOptions o;
    o.format = f;
    o.sys_attrs = sys;
    o.attrs = attrs;
    return RenderEntity(e, *ctx_, o);
  }

  ContextResolver resolver_{{}, {}};
  ContextPtr ctx_;
  ParseLimits limits_;
};

std::string V(std::string_view term) { return kVocab + std::string(term); }

const Instance& One(const Entity& e, std::string_view term) {
  static const Instance kEmpty;
  auto it = e.attrs.find(V(term));
  if (it == e.attrs.end() || it->second.size() != 1) {
    ADD_FAILURE() << "attribute " << term << " missing or multi-instance";
    return kEmpty;
  }
  return it->second.front();
}

// Removes createdAt/modifiedAt everywhere, for comparisons that ignore system times.
void StripTimes(Instance& inst) {
  inst.erase("createdAt");
  inst.erase("modifiedAt");
  for (auto& [k, v] : inst) {
    if (!IsInstanceKeyword(k) && v.is_object()) StripTimes(v.get_object());
  }
}
Entity Stripped(Entity e) {
  e.created_at = e.modified_at = 0;
  for (auto& [_, instances] : e.attrs) {
    for (auto& i : instances) StripTimes(i);
  }
  return e;
}
void ExpectSameIgnoringTimes(const Entity& a, const Entity& b) {
  Entity x = Stripped(a), y = Stripped(b);
  EXPECT_EQ(x.id, y.id);
  EXPECT_EQ(x.types, y.types);
  EXPECT_EQ(x.scope, y.scope);
  ASSERT_EQ(x.AttributeNames(), y.AttributeNames());
  for (const auto& [name, instances] : x.attrs) {
    ASSERT_EQ(instances.size(), y.attrs[name].size()) << name;
    for (size_t i = 0; i < instances.size(); ++i) {
      EXPECT_EQ(json::value(instances[i]), json::value(y.attrs[name][i])) << name;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing: every attribute type, normalized and concise.

TEST_F(EntityTest, ParsesIdTypesScopeAndStampsTimes) {
  Entity e = MustParse(R"({"id":"urn:ngsi-ld:Car:1","type":["Car","Vehicle","Car"],
                           "scope":"/Korea/Gimhae","speed":5})");
  EXPECT_EQ(e.id, "urn:ngsi-ld:Car:1");
  EXPECT_EQ(e.types, (std::vector<std::string>{V("Car"), V("Vehicle")}));
  EXPECT_EQ(e.scope, json::value("/Korea/Gimhae"));
  EXPECT_EQ(e.created_at, kT0);
  EXPECT_EQ(e.modified_at, kT0);
  const Instance& s = One(e, "speed");
  EXPECT_EQ(s.at("createdAt"), json::value(kT0));
  EXPECT_EQ(s.at("modifiedAt"), json::value(kT0));
}

TEST_F(EntityTest, NormalizedPropertyWithMetadataAndSubAttributes) {
  Entity e = MustParse(R"({"id":"urn:ngsi-ld:Car:1","type":"Car",
    "speed":{"type":"Property","value":55.5,"observedAt":"2024-01-02T03:04:05Z","unitCode":"KMH",
             "datasetId":"urn:ngsi-ld:ds:gps",
             "accuracy":{"type":"Property","value":0.5,
                         "source":{"type":"Relationship","object":"urn:ngsi-ld:Device:1"}}}})");
  auto& insts = e.attrs.at(V("speed"));
  ASSERT_EQ(insts.size(), 1u);
  const Instance& s = insts[0];
  EXPECT_EQ(s.at("type"), json::value("Property"));
  EXPECT_EQ(s.at("value"), json::value(55.5));
  EXPECT_EQ(s.at("observedAt"), json::value("2024-01-02T03:04:05Z"));
  EXPECT_EQ(s.at("unitCode"), json::value("KMH"));
  EXPECT_EQ(DatasetIdOf(s), "urn:ngsi-ld:ds:gps");
  const json::object& acc = s.at(V("accuracy")).as_object();
  EXPECT_EQ(acc.at("value"), json::value(0.5));
  EXPECT_EQ(acc.at("createdAt"), json::value(kT0));
  const json::object& src = acc.at(V("source")).as_object();
  EXPECT_EQ(src.at("type"), json::value("Relationship"));
  EXPECT_EQ(src.at("object"), json::value("urn:ngsi-ld:Device:1"));
}

TEST_F(EntityTest, ConcisePropertyForms) {
  Entity e = MustParse(R"({"id":"urn:ngsi-ld:T:1","type":"T",
    "n":5, "s":"text", "b":false, "arr":[1,2,3], "obj":{"x":1,"y":[2]},
    "wrapped":{"value":7,"unitCode":"CEL","sub":3}})");
  for (const char* a : {"n", "s", "b", "arr", "obj", "wrapped"}) {
    EXPECT_EQ(One(e, a).at("type"), json::value("Property")) << a;
  }
  EXPECT_EQ(One(e, "n").at("value"), json::value(5));
  EXPECT_EQ(One(e, "s").at("value"), json::value("text"));
  EXPECT_EQ(One(e, "b").at("value"), json::value(false));
  EXPECT_EQ(One(e, "arr").at("value"), json::parse("[1,2,3]"));
  EXPECT_EQ(One(e, "obj").at("value"), json::parse(R"({"x":1,"y":[2]})"));
  const Instance& w = One(e, "wrapped");
  EXPECT_EQ(w.at("value"), json::value(7));
  EXPECT_EQ(w.at("unitCode"), json::value("CEL"));
  EXPECT_EQ(w.at(V("sub")).as_object().at("value"), json::value(3));
}

TEST_F(EntityTest, Relationships) {
  Entity e = MustParse(R"({"id":"urn:ngsi-ld:T:1","type":"T",
    "owner":{"type":"Relationship","object":"urn:ngsi-ld:Person:1","objectType":"Person"},
    "concise":{"object":"urn:ngsi-ld:Person:2"},
    "many":{"type":"Relationship","object":["urn:ngsi-ld:P:1","urn:ngsi-ld:P:2"]}})");
  EXPECT_EQ(One(e, "owner").at("object"), json::value("urn:ngsi-ld:Person:1"));
  EXPECT_EQ(One(e, "owner").at("objectType"), json::value(V("Person")));
  EXPECT_EQ(One(e, "concise").at("type"), json::value("Relationship"));
  EXPECT_EQ(One(e, "many").at("object"), json::parse(R"(["urn:ngsi-ld:P:1","urn:ngsi-ld:P:2"])"));
}

TEST_F(EntityTest, GeoPropertiesNormalizedConciseAndBare) {
  Entity e = MustParse(R"({"id":"urn:ngsi-ld:T:1","type":"T",
    "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[128.8,35.2]}},
    "area":{"value":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
    "route":{"type":"LineString","coordinates":[[0,0],[1,1]]}})");
  EXPECT_EQ(e.attrs.at(kNgsi + "location")[0].at("type"), json::value("GeoProperty"));
  EXPECT_EQ(One(e, "area").at("type"), json::value("GeoProperty"));
  const Instance& r = One(e, "route");
  EXPECT_EQ(r.at("type"), json::value("GeoProperty"));
  EXPECT_EQ(r.at("value"), json::parse(R"({"type":"LineString","coordinates":[[0,0],[1,1]]})"));
}

TEST_F(EntityTest, LanguageVocabJsonAndListProperties) {
  Entity e = MustParse(R"({"id":"urn:ngsi-ld:T:1","type":"T",
    "name":{"type":"LanguageProperty","languageMap":{"en":"Bridge","ko":"다리","@none":"b"}},
    "name2":{"languageMap":{"de-CH":["a","b"]}},
    "cat":{"type":"VocabProperty","vocab":"Road"},
    "cat2":{"type":"VocabularyProperty","vocab":["Road","https://example.org/x"]},
    "cat3":{"vocab":"Street"},
    "doc":{"type":"JsonProperty","json":{"type":"Point","anything":[1,{"a":null}]}},
    "doc2":{"json":[1,2]},
    "list":{"type":"ListProperty","valueList":[3,"a",{"x":1}]},
    "list2":{"valueList":[]},
    "rels":{"type":"ListRelationship","objectList":["urn:a:1",{"object":"urn:a:2"}]},
    "rels2":{"objectList":[{"object":"urn:a:3"}]}})");
  EXPECT_EQ(One(e, "name").at("type"), json::value("LanguageProperty"));
  EXPECT_EQ(One(e, "name").at("languageMap").as_object().at("ko"), json::value("다리"));
  EXPECT_EQ(One(e, "name2").at("type"), json::value("LanguageProperty"));
  EXPECT_EQ(One(e, "cat").at("type"), json::value("VocabProperty"));
  EXPECT_EQ(One(e, "cat").at("vocab"), json::value(V("Road")));
  EXPECT_EQ(One(e, "cat2").at("type"), json::value("VocabProperty"));
  EXPECT_EQ(One(e, "cat2").at("vocab"), (json::value(json::array{json::value(V("Road")), json::value("https://example.org/x")})));
  EXPECT_EQ(One(e, "cat3").at("type"), json::value("VocabProperty"));
  EXPECT_EQ(One(e, "doc").at("type"), json::value("JsonProperty"));
  EXPECT_EQ(One(e, "doc").at("json"), json::parse(R"({"type":"Point","anything":[1,{"a":null}]})"));
  EXPECT_EQ(One(e, "doc2").at("type"), json::value("JsonProperty"));
  EXPECT_EQ(One(e, "list").at("type"), json::value("ListProperty"));
  EXPECT_EQ(One(e, "list").at("valueList"), json::parse(R"([3,"a",{"x":1}])"));
  EXPECT_EQ(One(e, "list2").at("valueList"), json::parse("[]"));
  EXPECT_EQ(One(e, "rels").at("type"), json::value("ListRelationship"));
  EXPECT_EQ(One(e, "rels").at("objectList"), json::parse(R"([{"object":"urn:a:1"},{"object":"urn:a:2"}])"));
  EXPECT_EQ(One(e, "rels2").at("type"), json::value("ListRelationship"));
}

TEST_F(EntityTest, MultiInstanceArraysVersusArrayValues) {
  Entity e = MustParse(R"({"id":"urn:ngsi-ld:T:1","type":"T",
    "temp":[{"type":"Property","value":20},{"value":21,"datasetId":"urn:ds:b"},
            {"type":"Relationship","object":"urn:x:1","datasetId":"urn:ds:c"}],
    "plain":[{"a":1},{"b":2}],
    "mixed":[{"value":1},2]})");
  auto& temp = e.attrs.at(V("temp"));
  ASSERT_EQ(temp.size(), 3u);
  EXPECT_EQ(DatasetIdOf(temp[0]), "");
  EXPECT_EQ(temp[1].at("value"), json::value(21));
  EXPECT_EQ(DatasetIdOf(temp[1]), "urn:ds:b");
  EXPECT_EQ(temp[2].at("type"), json::value("Relationship"));
  EXPECT_EQ(One(e, "plain").at("value"), json::parse(R"([{"a":1},{"b":2}])"));
  EXPECT_EQ(One(e, "mixed").at("value"), json::parse(R"([{"value":1},2])"));
  EXPECT_NE(e.FindInstance(V("temp"), "urn:ds:c"), nullptr);
  EXPECT_EQ(e.FindInstance(V("temp"), "urn:ds:zzz"), nullptr);
}

TEST_F(EntityTest, PutBodyMayOmitIdAndType) {
  auto e = ParseEntity(json::parse(R"({"a":1})").as_object(), *ctx_, kT0, limits_, false);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_TRUE(e->id.empty());
  EXPECT_TRUE(e->types.empty());
  EXPECT_EQ(e->attrs.size(), 1u);
}

TEST_F(EntityTest, NullMarkerOnlyWhenAllowed) {
  auto with = ParseAttributes(json::parse(R"({"a":"urn:ngsi-ld:null","b":{"type":"Relationship","object":"urn:ngsi-ld:null"}})").as_object(),
                              *ctx_, kT0, limits_, true);
  ASSERT_TRUE(with.ok()) << with.status().message();
  EXPECT_TRUE(IsNullMarker(with->at(V("a"))[0]));
  EXPECT_TRUE(IsNullMarker(with->at(V("b"))[0]));
  // Where nothing may be deleted, an NGSI-LD Null is BadRequestData (§5.2.1), in every form.
  for (const char* body : {R"({"a":"urn:ngsi-ld:null"})", R"({"a":{"type":"Relationship","object":"urn:ngsi-ld:null"}})",
                           R"({"a":{"type":"LanguageProperty","languageMap":{"@none":"urn:ngsi-ld:null"}}})",
                           R"({"a":{"type":"ListRelationship","objectList":["urn:ngsi-ld:null"]}})",
                           R"({"a":{"value":1,"sub":"urn:ngsi-ld:null"}})"}) {
    auto without = ParseAttributes(json::parse(body).as_object(), *ctx_, kT0, limits_, false);
    ASSERT_FALSE(without.ok()) << body;
    EXPECT_EQ(without.status().code(), Status::Code::kBadRequestData);
    EXPECT_THAT(without.status().message(), HasSubstr("urn:ngsi-ld:null"));
  }
  Instance plain;
  plain["type"] = "Property";
  plain["value"] = 3;
  EXPECT_FALSE(IsNullMarker(plain));
}

// ---------------------------------------------------------------------------------------------
// Validation errors: each names the offending member.

TEST_F(EntityTest, EntityLevelErrors) {
  EXPECT_THAT(Error(R"({"id":"not a uri","type":"T"})"), HasSubstr("'not a uri'"));
  EXPECT_THAT(Error(R"({"id":"nocolon","type":"T"})"), HasSubstr("not a URI"));
  EXPECT_THAT(Error(R"({"id":5,"type":"T"})"), HasSubstr("entity id"));
  EXPECT_THAT(Error(R"({"type":"T"})"), HasSubstr("'id'"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1"})"), HasSubstr("'type'"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":[]})"), HasSubstr("empty"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":"Bad Type"})"), HasSubstr("'Bad Type'"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":["T",3]})"), HasSubstr("type"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":"T","scope":"noslash"})"), HasSubstr("scope"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":"T","scope":["/a",1]})"), HasSubstr("scope"));
  EXPECT_THAT(Error(R"j({"id":"urn:x:1","type":"T","bad(name)":1})j"), HasSubstr("'bad(name)'"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":"T","has space":1})"), HasSubstr("attribute name"));
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":"T","location":5})"), HasSubstr("'location' must be a GeoProperty"));
}

TEST_F(EntityTest, AttributeErrorsNameTheAttributeAndMember) {
  struct Case {
    const char* attr;
    const char* expect;
  } cases[] = {
      {"null", "null"},
      {R"({"type":"Property","value":null})", "'value' must not be null"},
      {R"({"type":"Property"})", "Property has no 'value'"},
      {R"({"type":"Property","object":"urn:x:1","value":1})", "'object' does not belong in a Property"},
      {R"({"type":"Relationship","value":1,"object":"urn:x:1"})", "'value' does not belong in a Relationship"},
      {R"({"type":"Relationship","object":"not a uri"})", "not a URI"},
      {R"({"type":"Relationship","object":[]})", "'object'"},
      {R"({"type":"Relationship","object":["urn:x:1",5]})", "URI"},
      {R"({"type":"Foo","value":1})", "'Foo' is not an NGSI-LD attribute type"},
      {R"({"type":5,"value":1})", "'type' must be a string"},
      {R"({"type":"Property","value":1,"observedAt":"yesterday"})", "'observedAt'"},
      {R"({"type":"Property","value":1,"observedAt":"2024-01-02T03:04:05"})", "'observedAt'"},
      {R"({"type":"Property","value":1,"unitCode":""})", "'unitCode'"},
      {R"({"type":"Property","value":1,"datasetId":"ds 1"})", "'datasetId' must be a URI"},
      {R"({"type":"Property","value":1,"objectType":"T"})", "'objectType' does not belong"},
      {R"({"type":"LanguageProperty","languageMap":{}})", "'languageMap'"},
      {R"({"type":"LanguageProperty","languageMap":{"not a tag":"x"}})", "'not a tag' is not a language tag"},
      {R"({"type":"LanguageProperty","languageMap":{"en":5}})", "languageMap entry 'en'"},
      {R"({"type":"VocabProperty","vocab":5})", "'vocab'"},
      {R"({"type":"JsonProperty","json":null})", "'json' must not be null"},
      {R"({"type":"ListProperty","valueList":5})", "'valueList' must be an array"},
      {R"({"type":"ListRelationship","objectList":["nouri"]})", "'objectList'"},
      {R"({"type":"ListRelationship","objectList":[{"x":1}]})", "has no 'object'"},
      {R"({"type":"Property","value":1,"sub":null})", "sub-attribute 'sub'"},
      {R"({"type":"Property","value":1,"bad;sub":1})", "'bad;sub'"},
      {R"({"type":"Property","value":1,"sub":{"type":"Relationship","object":"x y"}})", "sub-attribute 'sub'"},
  };
  for (const auto& c : cases) {
    std::string msg = AttrError(c.attr);
    EXPECT_THAT(msg, HasSubstr("'a'")) << c.attr;
    EXPECT_THAT(msg, HasSubstr(c.expect)) << c.attr;
  }
}

TEST_F(EntityTest, GeometryErrors) {
  struct Case {
    const char* geometry;
    const char* expect;
  } cases[] = {
      {R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]})", "not closed"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]})", "at least 4 positions"},
      {R"({"type":"Point","coordinates":[181,0]})", "longitude 181"},
      {R"({"type":"Point","coordinates":[0,-90.5]})", "latitude -90.5"},
      {R"({"type":"Point","coordinates":[1]})", "2 or 3 numbers"},
      {R"({"type":"Point","coordinates":[1,"2"]})", "not a number"},
      {R"({"type":"Point","coordinates":[[1,2]]})", "position"},
      {R"({"type":"Polygon","coordinates":[[0,0],[1,0],[1,1],[0,0]]})", "positions"},
      {R"({"type":"LineString","coordinates":[[0,0]]})", "at least 2 positions"},
      {R"({"type":"MultiPolygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]})", "position"},
      {R"({"type":"MultiLineString","coordinates":[]})", "non-empty"},
      {R"({"type":"Point"})", "no 'coordinates'"},
      {R"({"type":"Circle","coordinates":[0,0]})", "geometry 'type'"},
  };
  for (const auto& c : cases) {
    std::string normalized = std::string(R"({"type":"GeoProperty","value":)") + c.geometry + "}";
    std::string msg = AttrError(normalized);
    EXPECT_THAT(msg, HasSubstr("'a'")) << c.geometry;
    EXPECT_THAT(msg, HasSubstr(c.expect)) << c.geometry;
  }
  // A bare geometry is validated the same way.
  EXPECT_THAT(AttrError(R"({"type":"Point","coordinates":[0,100]})"), HasSubstr("latitude 100"));
  // Valid nesting passes, including a closed ring written with mixed integer/float numbers.
  EXPECT_TRUE(ValidateGeometry(json::parse(R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]})"), "g").ok());
  EXPECT_TRUE(ValidateGeometry(json::parse(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0.0,0.0]]]})"), "g").ok());
  EXPECT_TRUE(ValidateGeometry(json::parse(R"({"type":"Point","coordinates":[-180,90,12.5]})"), "g").ok());
}

TEST_F(EntityTest, DuplicateDatasetIdsAndDefaultInstances) {
  EXPECT_THAT(AttrError(R"([{"value":1,"datasetId":"urn:ds:1"},{"value":2,"datasetId":"urn:ds:1"}])"),
              HasSubstr("datasetId 'urn:ds:1' appears twice"));
  EXPECT_THAT(AttrError(R"([{"value":1},{"type":"Property","value":2}])"),
              HasSubstr("more than one instance without datasetId"));
}

TEST_F(EntityTest, Limits) {
  limits_.max_attributes = 2;
  EXPECT_THAT(Error(R"({"id":"urn:x:1","type":"T","a":1,"b":2,"c":3})"), HasSubstr("more than 2 attributes"));
  EXPECT_TRUE(Parse(R"({"id":"urn:x:1","type":"T","a":1,"b":2})").ok());
  limits_ = {};
  limits_.max_instances_per_attribute = 2;
  EXPECT_THAT(AttrError(R"([{"value":1},{"value":2,"datasetId":"urn:d:2"},{"value":3,"datasetId":"urn:d:3"}])"),
              HasSubstr("more than 2 instances"));
  limits_ = {};
  limits_.max_sub_attribute_depth = 2;
  EXPECT_TRUE(Parse(R"({"id":"urn:x:1","type":"T","a":{"value":1,"b":{"value":1,"c":1}}})").ok());
  EXPECT_THAT(AttrError(R"({"value":1,"b":{"value":1,"c":{"value":1,"d":1}}})"), HasSubstr("deeper than 2"));
}

// ---------------------------------------------------------------------------------------------
// Rendering.

constexpr std::string_view kRich = R"({"id":"urn:ngsi-ld:Car:1","type":["Car","Vehicle"],"scope":["/a/b","/c"],
  "speed":{"type":"Property","value":55,"observedAt":"2024-01-02T03:04:05.000Z","unitCode":"KMH",
           "accuracy":{"type":"Property","value":0.5},
           "source":{"type":"Relationship","object":"urn:ngsi-ld:Device:1"}},
  "label":{"type":"Property","value":"fast"},
  "meta":{"type":"Property","value":{"k":[1,2],"type":"x"}},
  "arr":{"type":"Property","value":[1,2,3]},
  "owner":{"type":"Relationship","object":"urn:ngsi-ld:Person:1","objectType":"Person"},
  "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[128.8,35.2]}},
  "zone":{"type":"GeoProperty","value":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"observedAt":"2024-01-02T03:04:05.000Z"},
  "name":{"type":"LanguageProperty","languageMap":{"en":"Car","ko":"자동차"}},
  "cat":{"type":"VocabProperty","vocab":["Road","Street"]},
  "doc":{"type":"JsonProperty","json":{"any":"thing"}},
  "list":{"type":"ListProperty","valueList":[1,"b"]},
  "rels":{"type":"ListRelationship","objectList":[{"object":"urn:a:1"},{"object":"urn:a:2"}]},
  "temp":[{"type":"Property","value":20},{"type":"Property","value":21,"datasetId":"urn:ds:b"}],
  "fake":{"type":"Property","value":{"type":"Point","coordinates":[1,2]}}})";

TEST_F(EntityTest, RenderNormalizedCompactsAndHidesSystemTimes) {
  Entity e = MustParse(kRich);
  json::object out = Render(e, Format::kNormalized);
  EXPECT_EQ(out.at("id"), json::value("urn:ngsi-ld:Car:1"));
  EXPECT_EQ(out.at("type"), json::parse(R"(["Car","Vehicle"])"));
  EXPECT_EQ(out.at("scope"), json::parse(R"(["/a/b","/c"])"));
  EXPECT_FALSE(out.contains("createdAt"));
  EXPECT_EQ(out.at("speed"), json::parse(R"({"type":"Property","value":55,"observedAt":"2024-01-02T03:04:05.000Z",
      "unitCode":"KMH","accuracy":{"type":"Property","value":0.5},
      "source":{"type":"Relationship","object":"urn:ngsi-ld:Device:1"}})"));
  EXPECT_EQ(out.at("owner").as_object().at("objectType"), json::value("Person"));
  EXPECT_EQ(out.at("cat").as_object().at("vocab"), json::parse(R"(["Road","Street"])"));
  EXPECT_TRUE(out.at("temp").is_array());
  EXPECT_EQ(out.at("temp").as_array().size(), 2u);
}

TEST_F(EntityTest, RenderSysAttrs) {
  Entity e = MustParse(R"({"id":"urn:x:1","type":"T","a":{"value":1,"b":2}})", kT0);
  e.modified_at = kT1;
  json::object n = Render(e, Format::kNormalized, true);
  EXPECT_EQ(n.at("createdAt"), json::value("2023-11-14T22:13:20.000Z"));
  EXPECT_EQ(n.at("modifiedAt"), json::value("2023-11-14T22:14:20.000Z"));
  EXPECT_EQ(n.at("a").as_object().at("createdAt"), json::value("2023-11-14T22:13:20.000Z"));
  EXPECT_EQ(n.at("a").as_object().at("b").as_object().at("modifiedAt"), json::value("2023-11-14T22:13:20.000Z"));
  json::object c = Render(e, Format::kConcise, true);
  EXPECT_EQ(c.at("a").as_object().at("createdAt"), json::value("2023-11-14T22:13:20.000Z"));
  EXPECT_FALSE(Render(e, Format::kConcise).at("a").as_object().contains("createdAt"));
}

TEST_F(EntityTest, RenderConcise) {
  Entity e = MustParse(kRich);
  json::object out = Render(e, Format::kConcise);
  EXPECT_EQ(out.at("label"), json::value("fast"));
  EXPECT_EQ(out.at("arr"), json::parse(R"({"value":[1,2,3]})"));
  EXPECT_EQ(out.at("meta"), json::parse(R"({"value":{"k":[1,2],"type":"x"}})"));
  EXPECT_EQ(out.at("owner"), json::parse(R"({"object":"urn:ngsi-ld:Person:1","objectType":"Person"})"));
  EXPECT_EQ(out.at("location"), json::parse(R"({"type":"Point","coordinates":[128.8,35.2]})"));
  EXPECT_EQ(out.at("speed"), json::parse(R"({"value":55,"observedAt":"2024-01-02T03:04:05.000Z","unitCode":"KMH",
      "accuracy":0.5,"source":{"object":"urn:ngsi-ld:Device:1"}})"));
  EXPECT_EQ(out.at("name"), json::parse(R"({"languageMap":{"en":"Car","ko":"자동차"}})"));
  EXPECT_EQ(out.at("temp"), json::parse(R"([{"value":20},{"value":21,"datasetId":"urn:ds:b"}])"));
}

TEST_F(EntityTest, RenderKeyValuesAndProjection) {
  Entity e = MustParse(kRich);
  json::object out = Render(e, Format::kKeyValues);
  EXPECT_EQ(out.at("speed"), json::value(55));
  EXPECT_EQ(out.at("owner"), json::value("urn:ngsi-ld:Person:1"));
  EXPECT_EQ(out.at("location"), json::parse(R"({"type":"Point","coordinates":[128.8,35.2]})"));
  EXPECT_EQ(out.at("cat"), json::parse(R"(["Road","Street"])"));
  EXPECT_EQ(out.at("rels"), json::parse(R"(["urn:a:1","urn:a:2"])"));
  EXPECT_EQ(out.at("list"), json::parse(R"([1,"b"])"));
  EXPECT_EQ(out.at("temp"), json::parse("[20,21]"));
  std::set<std::string> keep = {V("speed"), kNgsi + "location", V("absent")};
  json::object p = Render(e, Format::kNormalized, false, &keep);
  EXPECT_EQ(p.size(), 5u);  // id, type, scope, and the two kept attributes
  EXPECT_TRUE(p.contains("speed"));
  EXPECT_TRUE(p.contains("location"));
  EXPECT_FALSE(p.contains("label"));
}

TEST_F(EntityTest, RoundTripNormalized) {
  Entity e = MustParse(kRich);
  Entity back = MustParse(json::serialize(Render(e, Format::kNormalized, true)), kT1);
  ExpectSameIgnoringTimes(e, back);
}

TEST_F(EntityTest, RoundTripConcise) {
  Entity e = MustParse(kRich);
  Entity back = MustParse(json::serialize(Render(e, Format::kConcise)), kT1);
  ExpectSameIgnoringTimes(e, back);
  Entity again = MustParse(json::serialize(Render(e, Format::kConcise, true)), kT1);
  ExpectSameIgnoringTimes(e, again);
}

TEST_F(EntityTest, ExpiresAtKeepsItsFractionThroughStorage) {
  // 2030-01-01T00:00:00Z is in the future of kT0; the fraction as written survives storage.
  for (const char* written : {"2030-01-01T00:00:00Z", "2030-01-01T00:00:00.123456Z", "2030-01-01T00:00:00.120Z"}) {
    Entity e = MustParse(fmt::format(R"({{"id":"urn:x:t","type":"T","expiresAt":"{}"}})", written));
    auto back = DeserializeEntity(SerializeEntity(e));
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->expires_at, e.expires_at);
    EXPECT_EQ(Render(*back, Format::kNormalized).at("expiresAt"), json::value(written)) << written;
  }
}

// ---------------------------------------------------------------------------------------------
// Update semantics.

class UpdateTest : public EntityTest {
 protected:
  void SetUp() override {
    EntityTest::SetUp();
    e_ = MustParse(R"({"id":"urn:x:1","type":"T",
      "a":{"value":1,"observedAt":"2024-01-01T00:00:00Z","s1":{"value":10,"deep":{"value":100}},"s2":20},
      "m":[{"value":1},{"value":2,"datasetId":"urn:ds:2"}],
      "r":{"object":"urn:y:1"}})",
                   kT0);
  }
  Entity e_;
};

TEST_F(UpdateTest, AppendOverwritesKeepingCreatedAt) {
  auto r = AppendAttributes(e_, Attrs(R"({"a":{"value":2},"new":5})"), false, kT1);
  EXPECT_EQ(r.updated, (std::vector<std::string>{V("a"), V("new")}));
  EXPECT_TRUE(r.not_updated.empty());
  const Instance& a = One(e_, "a");
  EXPECT_EQ(a.at("value"), json::value(2));
  EXPECT_FALSE(a.contains("observedAt"));  // replaced whole
  EXPECT_FALSE(a.contains(V("s1")));
  EXPECT_EQ(a.at("createdAt"), json::value(kT0));
  EXPECT_EQ(a.at("modifiedAt"), json::value(kT1));
  EXPECT_EQ(One(e_, "new").at("createdAt"), json::value(kT1));
  EXPECT_EQ(e_.created_at, kT0);
  EXPECT_EQ(e_.modified_at, kT1);
}

TEST_F(UpdateTest, AppendNoOverwrite) {
  auto r = AppendAttributes(e_, Attrs(R"({"a":9,"new":5,"m":{"value":3,"datasetId":"urn:ds:3"}})"), true, kT1);
  EXPECT_EQ(r.updated, (std::vector<std::string>{V("m"), V("new")}));
  ASSERT_EQ(r.not_updated.size(), 1u);
  EXPECT_EQ(r.not_updated[0].first, V("a"));
  EXPECT_EQ(One(e_, "a").at("value"), json::value(1));
  EXPECT_EQ(e_.attrs.at(V("m")).size(), 3u);
  EXPECT_EQ(e_.modified_at, kT1);
  Entity before = e_;
  auto none = AppendAttributes(e_, Attrs(R"({"a":9})"), true, kT1 + 1);
  EXPECT_FALSE(none.changed());
  EXPECT_EQ(e_.modified_at, kT1);
}

TEST_F(UpdateTest, UpdateReplacesAndAppends) {
  // §5.6.2.4: a matching instance is replaced, anything else appended.
  auto r = UpdateAttributes(e_, Attrs(R"({"a":7,"zzz":1,"m":{"value":9,"datasetId":"urn:ds:nope"}})"), kT1);
  EXPECT_EQ(r.updated, (std::vector<std::string>{V("a"), V("m"), V("zzz")}));
  EXPECT_TRUE(r.not_updated.empty());
  EXPECT_EQ(One(e_, "zzz").at("value"), json::value(1));
  EXPECT_EQ(e_.attrs.at(V("m")).size(), 3u);
  EXPECT_EQ(One(e_, "a").at("value"), json::value(7));
  EXPECT_EQ(One(e_, "a").at("createdAt"), json::value(kT0));
  EXPECT_EQ(e_.modified_at, kT1);
  auto r2 = UpdateAttributes(e_, Attrs(R"({"m":{"value":9,"datasetId":"urn:ds:2"}})"), kT1);
  EXPECT_EQ(r2.updated.size(), 1u);
  EXPECT_EQ(e_.FindInstance(V("m"), "urn:ds:2")->at("value"), json::value(9));
}

TEST_F(UpdateTest, MergeRecursesAndNullDeletes) {
  MergeAttributes(e_, Attrs(R"({"a":{"value":2,"s1":{"value":11,"extra":1},"s2":"urn:ngsi-ld:null"},
                                "r":"urn:ngsi-ld:null","zzz":"urn:ngsi-ld:null","n":{"value":1,"x":"urn:ngsi-ld:null"}})",
                            kT1, true),
                  kT1);
  const Instance& a = One(e_, "a");
  EXPECT_EQ(a.at("value"), json::value(2));
  EXPECT_EQ(a.at("observedAt"), json::value("2024-01-01T00:00:00Z"));  // kept
  EXPECT_FALSE(a.contains(V("s2")));
  const json::object& s1 = a.at(V("s1")).as_object();
  EXPECT_EQ(s1.at("value"), json::value(11));
  EXPECT_TRUE(s1.contains(V("deep")));  // untouched sub-sub-attribute kept
  EXPECT_TRUE(s1.contains(V("extra")));
  EXPECT_EQ(a.at("createdAt"), json::value(kT0));
  EXPECT_EQ(a.at("modifiedAt"), json::value(kT1));
  EXPECT_EQ(e_.attrs.count(V("r")), 0u);
  EXPECT_EQ(e_.attrs.count(V("zzz")), 0u);
  // A new attribute is added, without the deletion markers it carried.
  ASSERT_EQ(e_.attrs.count(V("n")), 1u);
  EXPECT_FALSE(One(e_, "n").contains(V("x")));
  EXPECT_EQ(e_.modified_at, kT1);
}

TEST_F(UpdateTest, MergeTypeChangeReplaces) {
  MergeAttributes(e_, Attrs(R"({"a":{"object":"urn:z:1"}})"), kT1);
  const Instance& a = One(e_, "a");
  EXPECT_EQ(a.at("type"), json::value("Relationship"));
  EXPECT_FALSE(a.contains("value"));
  EXPECT_FALSE(a.contains(V("s1")));
  EXPECT_EQ(a.at("createdAt"), json::value(kT0));
}

TEST_F(UpdateTest, MergeInstanceByDatasetId) {
  MergeAttributes(e_, Attrs(R"({"m":[{"value":"urn:ngsi-ld:null","datasetId":"urn:ds:2"},{"value":5,"datasetId":"urn:ds:5"}]})",
                            kT1, true),
                  kT1);
  auto& m = e_.attrs.at(V("m"));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(e_.FindInstance(V("m"), "urn:ds:2"), nullptr);
  EXPECT_NE(e_.FindInstance(V("m"), "urn:ds:5"), nullptr);
  EXPECT_NE(e_.FindInstance(V("m"), ""), nullptr);
}

TEST_F(UpdateTest, PartialUpdateWithValueAndMetadataOnlyFragment) {
  auto frag = ParseAttribute("a", json::parse(R"({"value":3,"s2":"urn:ngsi-ld:null"})"), *ctx_, kT1, limits_, true);
  ASSERT_TRUE(frag.ok());
  ASSERT_TRUE(PartialUpdateAttribute(e_, V("a"), std::move(*frag), kT1).ok());
  EXPECT_EQ(One(e_, "a").at("value"), json::value(3));
  EXPECT_FALSE(One(e_, "a").contains(V("s2")));
  EXPECT_TRUE(One(e_, "a").contains(V("s1")));
  // Metadata only (the API strips the placeholder type/value): value and type stay.
  Instance meta;
  meta["observedAt"] = "2025-05-05T00:00:00Z";
  meta["modifiedAt"] = kT1 + 5;
  ASSERT_TRUE(PartialUpdateAttribute(e_, V("a"), Instances{meta}, kT1 + 5).ok());
  const Instance& a = One(e_, "a");
  EXPECT_EQ(a.at("value"), json::value(3));
  EXPECT_EQ(a.at("type"), json::value("Property"));
  EXPECT_EQ(a.at("observedAt"), json::value("2025-05-05T00:00:00Z"));
  EXPECT_EQ(a.at("createdAt"), json::value(kT0));
  EXPECT_EQ(a.at("modifiedAt"), json::value(kT1 + 5));
  EXPECT_EQ(e_.modified_at, kT1 + 5);
  Instance missing;
  missing["value"] = 1;
  missing["datasetId"] = "urn:ds:nope";
  Status st = PartialUpdateAttribute(e_, V("m"), Instances{missing}, kT1);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("datasetId"));
}

TEST_F(UpdateTest, UpdateNullDeletesTheInstanceWithItsDatasetId) {
  auto r = UpdateAttributes(e_, Attrs(R"({"m":{"value":"urn:ngsi-ld:null","datasetId":"urn:ds:2"},"zzz":"urn:ngsi-ld:null"})",
                                      kT1, true),
                            kT1);
  EXPECT_EQ(r.updated, (std::vector<std::string>{V("m")}));
  ASSERT_EQ(r.not_updated.size(), 1u);
  EXPECT_EQ(r.not_updated[0].first, V("zzz"));
  EXPECT_EQ(e_.FindInstance(V("m"), "urn:ds:2"), nullptr);
  EXPECT_NE(e_.FindInstance(V("m"), ""), nullptr);
  EXPECT_EQ(e_.attrs.count(V("zzz")), 0u);
  // noOverwrite (batch update): an NGSI-LD Null deletes nothing.
  auto kept = AppendAttributes(e_, Attrs(R"({"a":"urn:ngsi-ld:null"})", kT1, true), true, kT1 + 1);
  EXPECT_FALSE(kept.changed());
  EXPECT_EQ(e_.attrs.count(V("a")), 1u);
}

TEST_F(UpdateTest, PartialUpdateRefusesWholeNullAndTypeChange) {
  // §5.6.4: "supports the deletion of sub-Attributes but not the deletion of the whole Attribute".
  auto frag = ParseAttribute("m", json::parse(R"({"value":"urn:ngsi-ld:null","datasetId":"urn:ds:2"})"), *ctx_, kT1, limits_, true);
  ASSERT_TRUE(frag.ok());
  Status st = PartialUpdateAttribute(e_, V("m"), std::move(*frag), kT1);
  EXPECT_EQ(st.code(), Status::Code::kBadRequestData);
  EXPECT_NE(e_.FindInstance(V("m"), "urn:ds:2"), nullptr);
  auto rel = ParseAttribute("a", json::parse(R"({"type":"Relationship","object":"urn:x:1"})"), *ctx_, kT1, limits_, true);
  ASSERT_TRUE(rel.ok());
  st = PartialUpdateAttribute(e_, V("a"), std::move(*rel), kT1);
  EXPECT_EQ(st.code(), Status::Code::kBadRequestData);
  EXPECT_THAT(st.message(), HasSubstr("it is a Property, the fragment a Relationship"));
  EXPECT_EQ(AttrTypeOf(One(e_, "a")), AttrType::kProperty);
}

TEST_F(UpdateTest, MergePatchesObjectValuesAndLanguageMaps) {
  Entity e;
  e.attrs[V("addr")] = {json::parse(R"({"type":"Property","value":{"street":"A","city":"B","geo":{"x":1,"y":2}}})").as_object()};
  e.attrs[V("name")] = {json::parse(R"({"type":"LanguageProperty","languageMap":{"en":"bridge","ko":"다리"}})").as_object()};
  MergeAttributes(e, Attrs(R"({"addr":{"value":{"street":"C","city":"urn:ngsi-ld:null","geo":{"y":3}}},
                               "name":{"languageMap":{"en":"urn:ngsi-ld:null","ja":"橋"}}})", kT1, true), kT1);
  EXPECT_EQ(e.attrs.at(V("addr"))[0].at("value"), json::parse(R"({"street":"C","geo":{"x":1,"y":3}})"));
  EXPECT_EQ(e.attrs.at(V("name"))[0].at("languageMap"), json::parse(R"({"ko":"다리","ja":"橋"})"));
}

TEST_F(UpdateTest, ScopeChangesAndDeletion) {
  Entity e;
  SetScope(e, json::value("/A"), ScopeChange::kReplaceExisting);
  EXPECT_TRUE(e.scope.is_null());  // §5.6.2.4: ignored without a scope
  SetScope(e, json::value("/A"), ScopeChange::kReplace);
  EXPECT_EQ(e.scope, json::value("/A"));
  SetScope(e, json::parse(R"(["/A","/B"])"), ScopeChange::kAdd);
  EXPECT_EQ(e.scope, json::parse(R"(["/A","/B"])"));
  SetScope(e, json::value("/C"), ScopeChange::kReplaceExisting);
  EXPECT_EQ(e.scope, json::value("/C"));
  EXPECT_TRUE(DeleteAttribute(e, std::string(kScopeMember), std::nullopt, false).ok());
  EXPECT_TRUE(e.scope.is_null());
  EXPECT_EQ(DeleteAttribute(e, std::string(kScopeMember), std::nullopt, false).code(), Status::Code::kNotFound);
}

TEST_F(UpdateTest, ReplaceAttribute) {
  auto inst = ParseAttribute("a", json::parse(R"({"type":"Property","value":"new"})"), *ctx_, kT1, limits_);
  ASSERT_TRUE(inst.ok());
  ASSERT_TRUE(ReplaceAttribute(e_, V("a"), std::move(*inst), kT1).ok());
  const Instance& a = One(e_, "a");
  EXPECT_EQ(a.at("value"), json::value("new"));
  EXPECT_FALSE(a.contains("observedAt"));
  EXPECT_EQ(a.at("createdAt"), json::value(kT0));
  EXPECT_EQ(e_.modified_at, kT1);
  auto other = ParseAttribute("q", json::value(1), *ctx_, kT1, limits_);
  EXPECT_EQ(ReplaceAttribute(e_, V("q"), std::move(*other), kT1).code(), Status::Code::kNotFound);
}

TEST_F(UpdateTest, DeleteAttribute) {
  EXPECT_EQ(DeleteAttribute(e_, V("m"), std::string("urn:ds:9"), false).code(), Status::Code::kNotFound);
  ASSERT_TRUE(DeleteAttribute(e_, V("m"), std::string("urn:ds:2"), false).ok());
  EXPECT_EQ(e_.attrs.at(V("m")).size(), 1u);
  ASSERT_TRUE(DeleteAttribute(e_, V("m"), std::nullopt, false).ok());
  EXPECT_EQ(e_.attrs.count(V("m")), 0u);  // last instance gone: attribute gone
  EXPECT_EQ(DeleteAttribute(e_, V("m"), std::nullopt, false).code(), Status::Code::kNotFound);
  ASSERT_TRUE(AppendAttributes(e_, Attrs(R"({"m":[{"value":1,"datasetId":"urn:ds:1"},{"value":2,"datasetId":"urn:ds:2"}]})"), false, kT1).changed());
  EXPECT_EQ(DeleteAttribute(e_, V("m"), std::nullopt, false).code(), Status::Code::kNotFound);
  ASSERT_TRUE(DeleteAttribute(e_, V("m"), std::nullopt, true).ok());
  EXPECT_EQ(e_.attrs.count(V("m")), 0u);
}

// ---------------------------------------------------------------------------------------------
// Storage form.

TEST_F(EntityTest, SerializeRoundTrip) {
  Entity e = MustParse(kRich);
  e.modified_at = kT1;
  auto back = DeserializeEntity(SerializeEntity(e));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->types, e.types);
  EXPECT_EQ(back->scope, e.scope);
  EXPECT_EQ(back->created_at, kT0);
  EXPECT_EQ(back->modified_at, kT1);
  EXPECT_EQ(back->attrs, e.attrs);
  Entity no_scope = MustParse(R"({"id":"urn:x:1","type":"T"})");
  auto b2 = DeserializeEntity(SerializeEntity(no_scope));
  ASSERT_TRUE(b2.ok());
  EXPECT_TRUE(b2->scope.is_null());
  EXPECT_TRUE(b2->attrs.empty());
}

TEST_F(EntityTest, DeserializeCorruptIsInternal) {
  for (const char* doc : {"", "not json", "[1,2]", R"({"id":"urn:x:1","type":["T"]})",
                          R"({"id":5,"type":["T"],"attrs":{}})", R"({"id":"urn:x:1","type":"T","attrs":{}})",
                          R"({"id":"urn:x:1","type":["T"],"attrs":[]})", R"({"id":"urn:x:1","type":["T"],"attrs":{"a":5}})",
                          R"({"id":"urn:x:1","type":["T"],"attrs":{"a":[5]}})", "{\"id\":\"urn:x:1\",\"type\":[\"T\"],\"at"}) {
    auto e = DeserializeEntity(doc);
    ASSERT_FALSE(e.ok()) << doc;
    EXPECT_EQ(e.status().code(), Status::Code::kInternal) << doc;
  }
}

TEST(EntityBasics, UriAndNameChecks) {
  EXPECT_TRUE(IsUri("urn:ngsi-ld:Car:1"));
  EXPECT_TRUE(IsUri("https://example.org/a?b=c#d"));
  EXPECT_FALSE(IsUri("urn:"));
  EXPECT_FALSE(IsUri(":abc"));
  EXPECT_FALSE(IsUri("1urn:x"));
  EXPECT_FALSE(IsUri("urn:a b"));
  EXPECT_FALSE(IsUri("urn:a<b"));
  EXPECT_FALSE(IsUri("plain"));
  EXPECT_TRUE(IsValidName("speed"));
  EXPECT_TRUE(IsValidName("https://example.org/speed"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName(std::string(513, 'a')));
  EXPECT_TRUE(IsValidName(std::string(512, 'a')));
  for (const char* bad : {"a b", "a\tb", "a<b", "a>b", "a\"b", "a'b", "a=b", "a;b", "a(b", "a)b", "a\\b"}) {
    EXPECT_FALSE(IsValidName(bad)) << bad;
  }
  EXPECT_EQ(ParseAttrTypeName("VocabularyProperty"), AttrType::kVocabProperty);
  EXPECT_EQ(ParseAttrTypeName("Nope"), std::nullopt);
  EXPECT_EQ(AttrValueMember(AttrType::kListRelationship), "objectList");
}

TEST(DatasetSelectionTest, ParsesUrisAndNoneAndKeepsOnlyTheSelectedInstances) {
  auto sel = ParseDatasetSelection({"urn:ds:a", "@none"}, "datasetId");
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(*sel, (std::set<std::string>{"", "urn:ds:a"}));
  EXPECT_FALSE(ParseDatasetSelection({}, "datasetId").ok());
  auto bad = ParseDatasetSelection({"gps"}, "datasetId");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("datasetId"));

  Entity e;
  e.attrs["s"] = {json::object{{"type", "Property"}, {"value", 1}},
                  json::object{{"type", "Property"}, {"value", 2}, {"datasetId", "urn:ds:a"}},
                  json::object{{"type", "Property"}, {"value", 3}, {"datasetId", "urn:ds:b"}}};
  e.attrs["t"] = {json::object{{"type", "Property"}, {"value", 4}, {"datasetId", "urn:ds:b"}}};
  KeepDatasets(e, {"urn:ds:a"});
  ASSERT_EQ(e.attrs.size(), 1u);
  ASSERT_EQ(e.attrs["s"].size(), 1u);
  EXPECT_EQ(e.attrs["s"][0].at("value").as_int64(), 2);
}

}  // namespace
}  // namespace cityhub::ngsild
