// Rendering from the storage text (stored_render.h) must give exactly the text of the DOM path
// (DeserializeEntity + RenderEntity + serializing): checked on every Smart Data Model example
// of ../shared/data in each representation, with and without system attributes and an `attrs`
// filter, and on hand-written entities that reach every branch (multi-instance attributes,
// vocab and list properties, nested sub-attributes, geometries, names a @context maps onto
// keywords, escapes). Malformed storage text is an Internal error, never a crash.
#include "ngsild/stored_render.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "util/json.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'700'000'000'123;

std::string DomText(const std::string& stored, const Context& ctx, const RenderOptions& opts) {
  auto e = DeserializeEntity(stored);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? util::SerializeJson(RenderEntity(std::move(*e), ctx, opts)) : "";
}

std::string StoredText(const std::string& stored, const Context& ctx, const RenderOptions& opts) {
  auto e = StoredEntity::Read(stored);
  EXPECT_TRUE(e.ok()) << e.status().message();
  if (!e.ok()) return "";
  std::string out;
  Status st = RenderStored(*e, ctx, opts, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

// Every representation, sysAttrs on and off, all attributes and then only the first and last;
// with and without a shared NameCache.
int ExpectSameEverywhere(const Entity& e, const Context& ctx, const std::string& what) {
  const std::string stored = SerializeEntity(e);
  // Decoding: the whole entity as DeserializeEntity gives it; with a list, those attributes only.
  auto read = StoredEntity::Read(stored);
  EXPECT_TRUE(read.ok());
  if (read.ok()) {
    auto whole = read->Decode();
    EXPECT_TRUE(whole.ok());
    if (whole.ok()) EXPECT_EQ(SerializeEntity(*whole), stored) << what;
    if (!e.attrs.empty()) {
      const std::vector<std::string> only{e.attrs.rbegin()->first, "https://example.org/absent"};
      auto part = read->Decode(&only);
      EXPECT_TRUE(part.ok());
      if (part.ok()) {
        Entity expected = e;
        std::erase_if(expected.attrs, [&](const auto& a) { return a.first != only.front(); });
        EXPECT_EQ(SerializeEntity(*part), SerializeEntity(expected)) << what;
      }
    }
  }
  std::set<std::string> some;
  if (!e.attrs.empty()) {
    some.insert(e.attrs.begin()->first);
    some.insert(e.attrs.rbegin()->first);
  }
  int compared = 0;
  NameCache names;
  for (Format f : {Format::kNormalized, Format::kConcise, Format::kKeyValues}) {
    for (bool sys : {false, true}) {
      for (const std::set<std::string>* attrs : {static_cast<const std::set<std::string>*>(nullptr), static_cast<const std::set<std::string>*>(&some)}) {
        for (NameCache* cache : {static_cast<NameCache*>(nullptr), &names}) {
          RenderOptions o{f, sys, attrs, nullptr, cache};
          EXPECT_EQ(StoredText(stored, ctx, o), DomText(stored, ctx, o))
              << what << " format " << static_cast<int>(f) << " sysAttrs " << sys << " attrs " << (attrs != nullptr);
          ++compared;
        }
      }
    }
  }
  return compared;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class StoredRenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(resolver_.Init().ok());
    core_ = resolver_.Core();
  }
  Entity Parse(std::string_view text, const Context& ctx) {
    auto e = ParseEntity(json::parse(text).as_object(), ctx, kT0, limits_);
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : Entity{};
  }

  ContextResolver resolver_{{}, {}};
  ContextPtr core_;
  ParseLimits limits_;
};

TEST_F(StoredRenderTest, EveryBranchGivesTheDomText) {
  Entity e = Parse(R"({
    "id": "urn:ngsi-ld:Thing:1",
    "type": ["Thing", "https://example.org/Other"],
    "scope": ["/Korea/Jeonju", "/Korea/Ulsan"],
    "expiresAt": "2099-01-01T00:00:00.5Z",
    "temperature": [
      {"type": "Property", "value": 21.5, "unitCode": "CEL", "observedAt": "2026-12-08T01:02:03.456Z",
       "accuracy": {"type": "Property", "value": 0.1, "quality": {"type": "Property", "value": "good"}}},
      {"type": "Property", "value": 70.25, "datasetId": "urn:ngsi-ld:Dataset:f"}],
    "address": {"type": "Property", "value": {"streetAddress": "Jeonju-ro 1", "postalCode": "54999"}},
    "looksLikeAPoint": {"type": "Property", "value": {"type": "Point", "coordinates": [127.1, 35.8]}},
    "tags": {"type": "Property", "value": ["a", "b"]},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.14, 35.82]}},
    "area": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}, "observedAt": "2026-12-08T00:00:00Z"},
    "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1", "objectType": "https://example.org/Person"},
    "name": {"type": "LanguageProperty", "languageMap": {"ko": "전주", "en": "Jeonju"}},
    "category": {"type": "VocabProperty", "vocab": ["https://uri.etsi.org/ngsi-ld/default-context/street", "https://example.org/v/x"]},
    "kind": {"type": "VocabProperty", "vocab": "https://example.org/vocab/kind"},
    "raw": {"type": "JsonProperty", "json": {"any": ["thing", 1, null]}},
    "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
    "friends": {"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}, {"object": "urn:a:2"}]},
    "flag": {"type": "Property", "value": true},
    "note": {"type": "Property", "value": "say \"hi\" \\ then\na new line, 한글"}
  })", *core_);
  ASSERT_FALSE(e.id.empty());
  EXPECT_EQ(ExpectSameEverywhere(e, *core_, "hand-written"), 24);
}

TEST_F(StoredRenderTest, NamesMappedOntoKeywordsStayIris) {
  // A @context that maps terms onto an entity member ("scope") and an instance member
  // ("value"): the rendered names fall back to the IRIs, on both paths.
  auto ctx = resolver_.Resolve(json::parse(R"({"scope": "https://example.org/scope-attr",
      "value": "https://example.org/value-sub", "T": "https://example.org/T"})"));
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  Entity e = Parse(R"({"id": "urn:x:1", "type": "T",
      "https://example.org/scope-attr": {"type": "Property", "value": 1,
                                          "https://example.org/value-sub": {"type": "Property", "value": 2}}})",
                   **ctx);
  ASSERT_EQ(e.attrs.size(), 1u);
  ExpectSameEverywhere(e, **ctx, "keyword terms");
  RenderOptions o;
  std::string text = StoredText(SerializeEntity(e), **ctx, o);
  EXPECT_NE(text.find("\"https://example.org/scope-attr\":"), std::string::npos) << text;
  EXPECT_NE(text.find("\"https://example.org/value-sub\":"), std::string::npos) << text;
}

TEST_F(StoredRenderTest, NoTwoNamesCompactAlike) {
  // The text path writes members as they come, where a DOM object would merge two of one name:
  // it relies on compaction being one-to-one. A @context that tries to take the core term
  // "location" for another IRI does not get it (core terms cannot be redefined), so the two
  // attributes, and the two sub-attributes, keep distinct names on both paths.
  auto ctx = resolver_.Resolve(json::parse(R"({"location": "https://example.org/loc", "T": "https://example.org/T"})"));
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  Entity e = Parse(R"({"id": "urn:x:1", "type": "T",
      "https://example.org/loc": {"type": "Property", "value": "mine",
          "https://uri.etsi.org/ngsi-ld/location": {"type": "Property", "value": 1},
          "https://example.org/loc": {"type": "Property", "value": 2}},
      "https://uri.etsi.org/ngsi-ld/location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}})",
                   **ctx);
  ASSERT_EQ(e.attrs.size(), 2u);
  ExpectSameEverywhere(e, **ctx, "location taken");
  const std::string text = StoredText(SerializeEntity(e), **ctx, RenderOptions{});
  EXPECT_NE(text.find("\"location\":{\"type\":\"GeoProperty\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"https://example.org/loc\":{\"type\":\"Property\",\"value\":\"mine\""), std::string::npos) << text;
  EXPECT_EQ((*ctx)->CompactIri("https://example.org/loc"), "https://example.org/loc");
}

TEST_F(StoredRenderTest, DeepValuesReadBackWhicheverPath) {
  // A value nested as deep as a body may be (--max-json-depth, at most 512) is read back by
  // both paths and by the filters' partial decode (kStoredMaxDepth).
  json::value deep = "bottom";
  for (int i = 0; i < 510; ++i) deep = json::array{std::move(deep)};
  Entity e = Parse(R"({"id": "urn:x:1", "type": "T"})", *core_);
  e.attrs[std::string(kDefaultVocab) + "deep"] = {json::object{{"type", "Property"}, {"value", deep}}};
  const std::string stored = SerializeEntity(e);
  ASSERT_TRUE(DeserializeEntity(stored).ok());
  ExpectSameEverywhere(e, *core_, "deep");
}

TEST_F(StoredRenderTest, SmartDataModelExamplesGiveTheDomText) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  if (!shared) GTEST_SKIP() << "CITYHUB_SHARED not set";
  const fs::path root = fs::path(shared) / "data";
  ContextResolverOptions options;
  options.allow_remote_fetch = false;
  options.preload_dir = (root / "jsonld-contexts").string();
  ContextResolver resolver(options, {});
  ASSERT_TRUE(resolver.Init().ok());
  int entities = 0, comparisons = 0;
  for (const auto& file : fs::recursive_directory_iterator(root / "smart-data-models")) {
    const std::string name = file.path().filename().string();
    if (name != "example-normalized.jsonld" && name != "example.jsonld") continue;
    json::value doc = json::parse(ReadFile(file.path()));
    std::vector<json::object> bodies;
    if (doc.is_array()) {
      for (auto& item : doc.get_array()) bodies.push_back(item.as_object());
    } else {
      bodies.push_back(doc.as_object());
    }
    for (auto& body : bodies) {
      const json::value* context = body.if_contains("@context");
      auto ctx = context ? resolver.Resolve(*context) : Result<ContextPtr>(resolver.Core());
      if (!ctx.ok()) continue;  // an example naming a context the folder does not hold
      body.erase("@context");
      auto e = ParseEntity(body, **ctx, kT0, limits_);
      if (!e.ok()) continue;  // an example the hub refuses (kept out of this comparison)
      ++entities;
      comparisons += ExpectSameEverywhere(*e, **ctx, file.path().string());
      // And read with the core context only (long IRIs in every name).
      comparisons += ExpectSameEverywhere(*e, *core_, file.path().string() + " (core context)");
    }
  }
  std::printf("%d entities, %d comparisons\n", entities, comparisons);
  EXPECT_GE(entities, 40) << "too few examples were parsed to mean anything";
  EXPECT_GE(comparisons, entities * 48);
}

TEST_F(StoredRenderTest, ReadsTheHeaderMembers) {
  Entity e = Parse(R"({"id": "urn:ngsi-ld:T:1", "type": "T", "expiresAt": "2099-01-01T00:00:00.25Z",
                       "a": {"type": "Property", "value": 1}})", *core_);
  e.owner = "alice";
  auto s = StoredEntity::Read(SerializeEntity(e));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->id, "urn:ngsi-ld:T:1");
  EXPECT_EQ(s->types, e.types);
  EXPECT_EQ(s->owner, "alice");
  EXPECT_EQ(s->created_at, kT0);
  EXPECT_EQ(s->modified_at, kT0);
  EXPECT_EQ(s->expires_at, e.expires_at);
  EXPECT_EQ(s->expires_fraction, e.expires_fraction);
  EXPECT_FALSE(s->ExpiredAt(kT0));
  EXPECT_TRUE(s->ExpiredAt(e.expires_at));
  EXPECT_TRUE(s->HasAnyOf({std::string(kDefaultVocab) + "a"}));
  EXPECT_FALSE(s->HasAnyOf({std::string(kDefaultVocab) + "b"}));
}

TEST_F(StoredRenderTest, MalformedTextIsAnInternalError) {
  Entity e = Parse(R"({"id": "urn:ngsi-ld:T:1", "type": "T", "a": {"type": "Property", "value": [1, {"x": "]"}]}})",
                   *core_);
  const std::string good = SerializeEntity(e);
  // Every truncation of a good document, and a few corruptions: an error or a rendering, never
  // a crash or a read past the end (the sanitizer build checks the latter).
  int refused = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    auto s = StoredEntity::Read(good.substr(0, n));
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), Status::Code::kInternal);
      ++refused;
    }
  }
  EXPECT_EQ(refused, static_cast<int>(good.size()));
  for (std::string bad : {std::string(R"({"id":"urn:x","type":["T"],"attrs":{"a":[1]}})"),
                          std::string(R"({"id":"urn:x","type":["T"],"attrs":{"a":{"type":"Property"}}})"),
                          std::string(R"({"id":"urn:x","type":["T"]})"), std::string(R"({"id":1,"type":["T"],"attrs":{}})"),
                          std::string(R"(["id"])"), std::string("")}) {
    auto s = StoredEntity::Read(bad);
    std::string out;
    Status st = s.status();
    if (s.ok()) st = RenderStored(*s, *core_, RenderOptions{}, &out);
    EXPECT_EQ(st.code(), Status::Code::kInternal) << bad;
    EXPECT_EQ(out, "") << "nothing appended on an error";
  }
}

}  // namespace
}  // namespace cityhub::ngsild
