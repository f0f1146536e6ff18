// JoinLinkedEntities and ParseJoinOptions with an in-memory loader: inline and flat shapes, the
// level bound, cycles expanded once, one batched lookup per level, and the linked-entity bound.
#include "broker/linked_entities.h"

#include <map>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "ngsild/context.h"

namespace cityhub::broker {
namespace {
namespace json = boost::json;

constexpr const char* kNext = "https://example.org/next";

ngsild::Entity Node(const std::string& id, std::vector<std::string> next) {
  ngsild::Entity e;
  e.id = id;
  e.types = {"https://example.org/Node"};
  json::value object = next.size() == 1 ? json::value(next[0]) : json::value(json::array(next.begin(), next.end()));
  e.attrs[kNext] = {json::object{{"type", "Relationship"}, {"object", object}}};
  return e;
}

class LinkedEntitiesTest : public ::testing::Test {
 protected:
  LinkedEntitiesTest() : resolver_(Options(), {}), ctx_(resolver_.Core()) {}

  static ngsild::ContextResolverOptions Options() {
    ngsild::ContextResolverOptions o;
    o.allow_remote_fetch = false;
    return o;
  }

  void Add(ngsild::Entity e) { graph_[e.id] = std::move(e); }

  Result<std::vector<json::object>> Join(const std::string& root, JoinMode mode, int level, json::object* rendered,
                                         size_t max_linked = 1000, bool truncate = false) {
    JoinRequest r;
    r.options.mode = mode;
    r.options.level = level;
    r.limits.max_linked = max_linked;
    r.truncate = truncate;
    r.ctx = ctx_.get();
    LinkedEntityLoader load = [this](const std::vector<std::string>& ids) -> Result<std::vector<ngsild::Entity>> {
      ++lookups_;
      std::vector<ngsild::Entity> out;
      for (const auto& id : ids) {
        if (auto it = graph_.find(id); it != graph_.end()) out.push_back(it->second);
      }
      return out;
    };
    LinkedEntityRenderer render = [this](ngsild::Entity e, const LinkedProjection*) {
      return ngsild::RenderEntity(std::move(e), *ctx_, ngsild::RenderOptions{});
    };
    *rendered = ngsild::RenderEntity(graph_.at(root), *ctx_, ngsild::RenderOptions{});
    return JoinLinkedEntities({{&graph_.at(root), rendered}}, r, load, render);
  }

  ngsild::ContextResolver resolver_;
  ngsild::ContextPtr ctx_;
  std::map<std::string, ngsild::Entity> graph_;
  int lookups_ = 0;
};

TEST_F(LinkedEntitiesTest, InlineFollowsUpToTheLevel) {
  Add(Node("urn:a", {"urn:b"}));
  Add(Node("urn:b", {"urn:c"}));
  Add(Node("urn:c", {"urn:d"}));
  json::object a;
  ASSERT_TRUE(Join("urn:a", JoinMode::kInline, 2, &a).ok());
  const json::object& b = a.at(kNext).at("entity").as_object();
  EXPECT_EQ(b.at("id"), "urn:b");
  const json::object& c = b.at(kNext).at("entity").as_object();
  EXPECT_EQ(c.at("id"), "urn:c");
  EXPECT_FALSE(c.at(kNext).as_object().contains("entity"));  // level 2 reached
  EXPECT_EQ(lookups_, 2);                                      // one lookup per level
}

TEST_F(LinkedEntitiesTest, CycleIsExpandedOnce) {
  Add(Node("urn:a", {"urn:b"}));
  Add(Node("urn:b", {"urn:a"}));
  json::object a;
  auto flat = Join("urn:a", JoinMode::kFlat, 5, &a);
  ASSERT_TRUE(flat.ok());
  ASSERT_EQ(flat->size(), 1u);
  EXPECT_EQ((*flat)[0].at("id"), "urn:b");
  EXPECT_EQ(lookups_, 1);  // urn:a is the answer itself: never looked up
  json::object inlined;
  ASSERT_TRUE(Join("urn:a", JoinMode::kInline, 5, &inlined).ok());
  const json::object& again = inlined.at(kNext).at("entity").at(kNext).at("entity").as_object();
  EXPECT_EQ(again.at("id"), "urn:a");
  EXPECT_FALSE(again.at(kNext).as_object().contains("entity"));
}

TEST_F(LinkedEntitiesTest, SeveralTargetsInOrderAndMissingOnesLeftOut) {
  Add(Node("urn:a", {"urn:c", "urn:missing", "urn:b"}));
  Add(Node("urn:b", {"urn:x"}));
  Add(Node("urn:c", {"urn:x"}));
  json::object a;
  ASSERT_TRUE(Join("urn:a", JoinMode::kInline, 1, &a).ok());
  const json::array& linked = a.at(kNext).at("entity").as_array();
  ASSERT_EQ(linked.size(), 2u);
  EXPECT_EQ(linked[0].at("id"), "urn:c");
  EXPECT_EQ(linked[1].at("id"), "urn:b");
}

TEST_F(LinkedEntitiesTest, TooManyLinkedEntitiesIsAnErrorOrTruncated) {
  Add(Node("urn:a", {"urn:b", "urn:c", "urn:d"}));
  for (const char* id : {"urn:b", "urn:c", "urn:d"}) Add(Node(id, {"urn:a"}));
  json::object a;
  auto r = Join("urn:a", JoinMode::kFlat, 1, &a, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTooManyResults);
  auto kept = Join("urn:a", JoinMode::kFlat, 1, &a, 2, true);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), 2u);
}

TEST(ParseJoinOptionsTest, ValuesAndErrors) {
  std::string flat = "flat", none = "@none", bad = "deep", two = "2", zero = "0", six = "6", text = "1x";
  auto o = ParseJoinOptions(&flat, &two, {"urn:a"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->mode, JoinMode::kFlat);
  EXPECT_EQ(o->level, 2);
  EXPECT_EQ(ParseJoinOptions(&none, &zero, {})->mode, JoinMode::kNone);  // joinLevel only with join
  EXPECT_EQ(ParseJoinOptions(nullptr, nullptr, {})->level, 1);
  EXPECT_FALSE(ParseJoinOptions(&bad, nullptr, {}).ok());
  EXPECT_FALSE(ParseJoinOptions(&flat, &zero, {}).ok());
  EXPECT_FALSE(ParseJoinOptions(&flat, &six, {}).ok());
  EXPECT_FALSE(ParseJoinOptions(&flat, &text, {}).ok());
  EXPECT_FALSE(ParseJoinOptions(&flat, nullptr, {"not a uri"}).ok());
}

}  // namespace
}  // namespace cityhub::broker
