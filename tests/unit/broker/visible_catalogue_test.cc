// Tests for broker::CatalogueScanner on a real RocksDB store: counts and attribute names are
// those of what the view shows — hidden entities and attributes left out, pseudonymised
// attributes kept unless they cannot be pseudonymised — and a presence scan names the types.
#include "broker/visible_catalogue.h"

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "broker/entity_service.h"
#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "temp_store.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
using ::testing::ElementsAre;
using ::testing::Pair;

std::string V(std::string_view t) { return std::string(ngsild::kDefaultVocab) + std::string(t); }

// Hides entities whose id starts with "urn:hidden:" and the attribute "secret"; pseudonymises
// "personal" (a geometry cannot be, like the privacy view).
class TestView final : public EntityView {
 public:
  bool Visible(std::string_view id, const std::vector<std::string>&, std::string_view) const override {
    return !id.starts_with("urn:hidden:");
  }
  Shown AttributeShown(std::string_view, const std::vector<std::string>&, std::string_view,
                       std::string_view attr) const override {
    if (attr == V("secret")) return Shown::kHidden;
    return attr == V("personal") ? Shown::kPseudonym : Shown::kClear;
  }
  bool Pseudonymise(ngsild::Instance& instance) const override {
    if (instance.if_contains("type") && instance.at("type") == "GeoProperty") return false;
    instance["value"] = "urn:cityhub:pseudonym:x";
    return true;
  }
  bool ChangesValues() const override { return true; }
  bool ShowsEverything(std::string_view, const std::vector<std::string>&, std::string_view) const override {
    return false;
  }
};

class VisibleCatalogueTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.ok()); }

  void Create(std::string_view text) {
    auto e = ngsild::ParseEntity(json::parse(text).as_object(), *resolver_.Core(), 0, {});
    ASSERT_TRUE(e.ok()) << e.status().message();
    ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "", std::move(*e)).ok());
  }

  TempStore store_{"catalogue-test"};
  std::unique_ptr<EntityService> entities_ = std::make_unique<EntityService>(*store_);
  ngsild::ContextResolver resolver_{ngsild::ContextResolverOptions{}, {}};
  TestView view_;
};

TEST_F(VisibleCatalogueTest, CountsAndNamesWhatTheViewShows) {
  Create(R"({"id":"urn:a:1","type":"A","n":1,"secret":2})");
  Create(R"({"id":"urn:a:2","type":"A","n":1,"personal":"Kim"})");
  Create(R"({"id":"urn:hidden:1","type":"A","n":1,"only_hidden":1})");
  Create(R"({"id":"urn:ab:1","type":["A","B"],"r":{"type":"Relationship","object":"urn:a:1"},
             "personal":{"type":"GeoProperty","value":{"type":"Point","coordinates":[1,2]}}})");
  Create(R"({"id":"urn:hidden:2","type":"H","n":1})");
  CatalogueScanner scanner(*store_);

  auto full = scanner.Scan("", {V("A"), V("H")}, view_, false);
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->types.size(), 2u);  // A and B (of the two-typed entity); H has nothing visible
  EXPECT_EQ(full->types[V("A")].entities, 3u);
  EXPECT_EQ(full->types[V("B")].entities, 1u);
  EXPECT_THAT(full->types[V("A")].attributes,
              ElementsAre(Pair(V("n"), std::set<std::string>{"Property"}), Pair(V("personal"), std::set<std::string>{"Property"}),
                          Pair(V("r"), std::set<std::string>{"Relationship"})));
  // The pseudonymised attribute counts where it is shown: not where it is a geometry.
  EXPECT_EQ(full->attributes[V("personal")].entities, 1u);
  EXPECT_EQ(full->attributes[V("n")].entities, 2u);
  EXPECT_EQ(full->attributes[V("r")].types, (std::set<std::string>{V("A"), V("B")}));
  EXPECT_FALSE(full->attributes.contains(V("secret")));
  EXPECT_FALSE(full->attributes.contains(V("only_hidden")));

  auto present = scanner.Scan("", {V("H"), V("A")}, view_, true);
  ASSERT_TRUE(present.ok());
  EXPECT_TRUE(present->types.contains(V("A")));
  EXPECT_FALSE(present->types.contains(V("H")));

  EXPECT_TRUE(scanner.Scan("", {}, view_, false)->types.empty());
  EXPECT_TRUE(scanner.Scan("nowhere", {V("A")}, view_, false).status().IsNotFound());
}

}  // namespace
}  // namespace cityhub::broker
