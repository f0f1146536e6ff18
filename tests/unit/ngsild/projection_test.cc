// Tests for the selection and projection languages: pick / omit (§4.21) parsed and applied,
// the Entity Type Selection Language (§4.17) parsed, matched and written back, and the
// Language Filter (§4.15) lists with quality values.
#include "ngsild/projection.h"

#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/render.h"
#include "ngsild/type_selection.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const std::string kVocab(kDefaultVocab);

struct Contexts {
  Contexts() {
    EXPECT_TRUE(resolver.Init().ok());
    core = resolver.Core();
    auto u = resolver.Resolve(json::parse(R"({"temp": "http://example.org/temperature"})"));
    EXPECT_TRUE(u.ok());
    if (u.ok()) user = *u;
  }
  ContextResolver resolver{{}, {}};
  ContextPtr core;
  ContextPtr user;
};

const Contexts& Ctx() {
  static const Contexts c;
  return c;
}

// --- §4.21 grammar -----------------------------------------------------------------------------

TEST(ProjectionList, CommaAndPipeAreBothOr) {
  auto l = ParseProjectionList("id,temp|speed", "pick");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_THAT(l->members, ElementsAre("id", "temp", "speed"));
  EXPECT_FALSE(l->linked);
}

TEST(ProjectionList, LinkedEntityTermsAreParsedAndFlagged) {
  auto l = ParseProjectionList("observation{temperature,humidity},name", "pick");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_THAT(l->members, ElementsAre("observation", "name"));
  EXPECT_TRUE(l->linked);
  EXPECT_TRUE(ParseProjectionList("a{b{c|d}}", "pick").ok());
}

TEST(ProjectionList, ErrorsNameTheParameterAndPosition) {
  struct Case {
    const char* text;
    const char* detail;
  } cases[] = {{"", "is empty"},
               {"a,,b", "empty item at position 2"},
               {"a,", "empty item at position 2"},
               {",a", "empty item at position 0"},
               {"a{b", "missing '}' at position 3"},
               {"a}", "unexpected '}' at position 1"},
               {"a{}", "empty item at position 2"},
               {"a b", "invalid name 'a b'"},
               {"a=b", "invalid name"},
               {"a{b{c{d{e{f{g{h{i}}}}}}}}", "nested levels"}};
  for (const auto& c : cases) {
    auto l = ParseProjectionList(c.text, "parameter 'pick'");
    ASSERT_FALSE(l.ok()) << c.text;
    EXPECT_EQ(l.status().code(), Status::Code::kBadRequestData) << c.text;
    EXPECT_THAT(l.status().message(), HasSubstr("parameter 'pick'")) << c.text;
    EXPECT_THAT(l.status().message(), HasSubstr(c.detail)) << c.text;
  }
}

// --- Projection ------------------------------------------------------------------------------

json::object Rendered() {
  return json::parse(R"({"id": "urn:x:1", "type": "T", "scope": "/a", "temp": 1, "speed": 2,
                         "http://example.org/temperature": 3})")
      .as_object();
}

TEST(Projection, PickKeepsOnlyTheListedMembersAsTheReaderNamesThem) {
  std::string pick = "id,temp";
  auto p = Projection::Make(&pick, nullptr, *Ctx().user);
  ASSERT_TRUE(p.ok() && *p);
  json::object r = Rendered();
  (*p)->Apply(r);
  // With the user @context, "temp" is http://example.org/temperature, rendered by its IRI.
  EXPECT_EQ(r, json::parse(R"({"id": "urn:x:1", "temp": 1})").as_object()) << json::serialize(r);
  EXPECT_THAT((*p)->PickedAttributes(), ElementsAre("http://example.org/temperature"));
}

TEST(Projection, OmitDropsAndBothApply) {
  std::string pick = "id,type,speed", omit = "scope";
  auto p = Projection::Make(&pick, &omit, *Ctx().core);
  ASSERT_TRUE(p.ok() && *p) << p.status().message();
  json::object r = Rendered();
  (*p)->Apply(r);
  EXPECT_EQ(r, json::parse(R"({"id": "urn:x:1", "type": "T", "speed": 2})").as_object());
  EXPECT_THAT((*p)->PickedAttributes(), ElementsAre(kVocab + "speed"));
  std::string only_omit = "type|temp";
  auto o = Projection::Make(nullptr, &only_omit, *Ctx().core);
  ASSERT_TRUE(o.ok() && *o);
  r = Rendered();
  (*o)->Apply(r);
  EXPECT_EQ(r.size(), 4u);
  EXPECT_FALSE(r.contains("temp"));
  EXPECT_TRUE((*o)->PickedAttributes().empty());
}

TEST(Projection, NeitherGivenIsNoProjection) {
  auto p = Projection::Make(nullptr, nullptr, *Ctx().core);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(*p);
}

TEST(Projection, RefusesConflictsLinkedTermsAndEmptyLists) {
  std::string pick = "id,speed", omit = "speed", linked = "owner{name}", empty = "";
  auto both = Projection::Make(&pick, &omit, *Ctx().core);
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.status().code(), Status::Code::kBadRequestData);
  EXPECT_THAT(both.status().message(), HasSubstr("'speed'"));
  auto l = Projection::Make(&linked, nullptr, *Ctx().core);
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.status().message(), HasSubstr("Linked Entity"));
  EXPECT_FALSE(Projection::Make(nullptr, &empty, *Ctx().core).ok());
  auto none = Projection::Make(std::optional<std::vector<std::string>>(std::vector<std::string>{}), std::nullopt,
                               *Ctx().core, "notification.");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("notification.'pick'"));
}

// --- §4.17 type selection ----------------------------------------------------------------------

TEST(TypeSelection, DisjunctionOfConjunctions) {
  auto s = TypeSelection::Parse("(Home;Vehicle)|Motorhome", *Ctx().core);
  ASSERT_TRUE(s.ok()) << s.status().message();
  const std::string home = kVocab + "Home", vehicle = kVocab + "Vehicle", motorhome = kVocab + "Motorhome";
  EXPECT_TRUE(s->Matches({vehicle, home}));
  EXPECT_TRUE(s->Matches({motorhome}));
  EXPECT_FALSE(s->Matches({home}));
  EXPECT_FALSE(s->Matches({}));
  EXPECT_FALSE(s->IsPlainList());
  EXPECT_THAT(s->IndexTypes(), ElementsAre(home, motorhome));  // one type of each element
  EXPECT_EQ(s->ToString([](const std::string& iri) { return iri.substr(iri.rfind('/') + 1); }),
            "(Home;Vehicle),Motorhome");
  auto round = TypeSelection::ParseExpanded(s->ToString([](const std::string& iri) { return iri; }));
  ASSERT_TRUE(round.ok()) << round.status().message();
  EXPECT_EQ(round->elements(), s->elements());
}

TEST(TypeSelection, CommaListIsPlainAndUrisAreTakenAsTheyAre) {
  auto s = TypeSelection::Parse("Building,https://example.org/House", *Ctx().core);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->IsPlainList());
  EXPECT_THAT(s->IndexTypes(), UnorderedElementsAre(kVocab + "Building", "https://example.org/House"));
}

TEST(TypeSelection, GrammarErrorsAreBadRequestData) {
  for (const char* text : {"", "A;B", "(A;B", "A;B)", "(A;)", "A,,B", "()", "A|", "((A))", "(A)(B)", "A B"}) {
    auto s = TypeSelection::Parse(text, *Ctx().core);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), Status::Code::kBadRequestData) << text;
    EXPECT_THAT(s.status().message(), HasSubstr("type")) << text;
  }
  EXPECT_FALSE(TypeSelection::ParseExpanded("Home").ok());  // not expanded
}

// --- §4.15 language filter ---------------------------------------------------------------------

TEST(LanguageFilter, OrdersByQualityStablyAndDropsZero) {
  auto l = ParseLanguageFilter("fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_THAT(*l, ElementsAre("fr-CH", "fr", "en", "*"));
  l = ParseLanguageFilter("en;q=0.8, ko ,de;q=0,ja;Q=1.000");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_THAT(*l, ElementsAre("ko", "ja", "en"));
  l = ParseLanguageFilter("*");
  ASSERT_TRUE(l.ok());
  EXPECT_THAT(*l, ElementsAre("*"));
}

TEST(LanguageFilter, RefusesWhatIsNotAnAcceptLanguageList) {
  for (const char* text : {"", "en,,ko", "en;q=2", "en;q=1.5", "en;q=0.1234", "en;x=1", "en;q=", "e n", "-en",
                           "toolongtoolongtoolongtoolongtoolongtoolong"}) {
    auto l = ParseLanguageFilter(text);
    ASSERT_FALSE(l.ok()) << text;
    EXPECT_EQ(l.status().code(), Status::Code::kBadRequestData) << text;
  }
}

TEST(LanguageFilter, RenderPrefersExactThenRangePrefixThenNone) {
  Entity e;
  e.id = "urn:x:1";
  e.types = {kVocab + "Sign"};
  e.attrs[kVocab + "name"].push_back(
      json::parse(R"({"type": "LanguageProperty", "languageMap": {"fr": "Arrêt", "fr-CH": "Halt CH", "@none": "STOP"}})")
          .as_object());
  auto name_for = [&](std::vector<std::string> lang) {
    RenderOptions opts;
    opts.format = Format::kKeyValues;
    opts.lang = &lang;
    return json::value(RenderEntity(e, *Ctx().core, opts).at("name"));
  };
  EXPECT_EQ(name_for({"fr-CH"}), "Halt CH");
  EXPECT_EQ(name_for({"fr"}), "Arrêt");
  EXPECT_EQ(name_for({"de-AT", "FR-ch"}), "Halt CH");
  EXPECT_EQ(name_for({"ja"}), "STOP");
  EXPECT_EQ(name_for({"*"}), "Arrêt");
}

}  // namespace
}  // namespace cityhub::ngsild
