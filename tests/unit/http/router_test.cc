#include "http/router.h"

#include <gtest/gtest.h>

namespace cityhub::http {
namespace {

using Kind = Router::MatchKind;

RouteHandler Tagged(int tag) {
  return [tag](const Request&, const PathParams&) {
    Response r;
    r.status = tag;
    return r;
  };
}

int Call(const Router::Match& m) {
  EXPECT_NE(m.handler, nullptr);
  return m.handler ? (*m.handler)(Request{}, m.params).status : -1;
}

TEST(PercentDecodeTest, DecodesEscapesAndPlus) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a%2Fb%20c+d", false, &out));
  EXPECT_EQ(out, "a/b c+d");
  ASSERT_TRUE(PercentDecode("a%2fb+c", true, &out));
  EXPECT_EQ(out, "a/b c");
  ASSERT_TRUE(PercentDecode("", true, &out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(PercentDecode("%00", false, &out));
  EXPECT_EQ(out, std::string(1, '\0'));
}

TEST(PercentDecodeTest, RejectsMalformedEscapes) {
  std::string out;
  EXPECT_FALSE(PercentDecode("%", false, &out));
  EXPECT_FALSE(PercentDecode("ab%2", false, &out));
  EXPECT_FALSE(PercentDecode("%zz", false, &out));
  EXPECT_FALSE(PercentDecode("%g0", true, &out));
  EXPECT_FALSE(PercentDecode("x%", true, &out));
}

TEST(RouterTest, MatchesLiteralAndPlaceholders) {
  Router r;
  r.Add("GET", "/ngsi-ld/v1/entities", Tagged(1));
  r.Add("GET", "/ngsi-ld/v1/entities/{entityId}", Tagged(2));
  r.Add("PATCH", "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", Tagged(3));

  auto m = r.Find("GET", "/ngsi-ld/v1/entities");
  ASSERT_EQ(m.kind, Kind::kFound);
  EXPECT_EQ(Call(m), 1);
  EXPECT_EQ(m.pattern, "/ngsi-ld/v1/entities");

  m = r.Find("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Car:1");
  ASSERT_EQ(m.kind, Kind::kFound);
  EXPECT_EQ(Call(m), 2);
  EXPECT_EQ(m.params.Get("entityId"), "urn:ngsi-ld:Car:1");
  EXPECT_EQ(m.params.Get("nope"), "");

  m = r.Find("PATCH", "/ngsi-ld/v1/entities/E/attrs/speed");
  ASSERT_EQ(m.kind, Kind::kFound);
  EXPECT_EQ(Call(m), 3);
  EXPECT_EQ(m.params.Get("entityId"), "E");
  EXPECT_EQ(m.params.Get("attrId"), "speed");
  EXPECT_EQ(m.pattern, "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}");
}

TEST(RouterTest, RootPath) {
  Router r;
  r.Add("GET", "/", Tagged(7));
  EXPECT_EQ(Call(r.Find("GET", "/")), 7);
  EXPECT_EQ(r.Find("GET", "/x").kind, Kind::kPathNotFound);
}

TEST(RouterTest, LiteralWinsOverPlaceholderRegardlessOfOrder) {
  Router r;
  r.Add("GET", "/types/{type}", Tagged(1));
  r.Add("GET", "/types/special", Tagged(2));
  r.Add("GET", "/{a}/{b}", Tagged(3));
  EXPECT_EQ(Call(r.Find("GET", "/types/special")), 2);
  EXPECT_EQ(Call(r.Find("GET", "/types/other")), 1);
  EXPECT_EQ(Call(r.Find("GET", "/x/y")), 3);

  Router leftmost;
  leftmost.Add("GET", "/{a}/b", Tagged(1));
  leftmost.Add("GET", "/a/{b}", Tagged(2));
  EXPECT_EQ(Call(leftmost.Find("GET", "/a/b")), 2);
}

TEST(RouterTest, ATrailingSlashIsIgnoredAndOtherEmptySegmentsAreRefused) {
  Router r;
  r.Add("GET", "/a/b", Tagged(1));
  r.Add("GET", "/e/{id}", Tagged(2));
  EXPECT_EQ(Call(r.Find("GET", "/a/b/")), 1);  // GS CIM 009 writes "/entities/"
  EXPECT_EQ(Call(r.Find("GET", "/e/x/")), 2);
  EXPECT_EQ(r.Find("GET", "/e/x/").params.Get("id"), "x");
  EXPECT_EQ(r.Find("GET", "/e/").kind, Kind::kPathNotFound);  // "/e": no such resource
  EXPECT_EQ(r.Find("GET", "/e//").kind, Kind::kEmptySegment);
  EXPECT_EQ(r.Find("GET", "/a//b").kind, Kind::kEmptySegment);
  EXPECT_EQ(r.Find("GET", "//a/b").kind, Kind::kEmptySegment);
  EXPECT_EQ(r.Find("GET", "/a/b//").kind, Kind::kEmptySegment);
  EXPECT_EQ(r.Find("GET", "a/b").kind, Kind::kPathNotFound);
  EXPECT_EQ(r.Find("GET", "").kind, Kind::kPathNotFound);
  EXPECT_EQ(r.Find("GET", "/a").kind, Kind::kPathNotFound);
  EXPECT_EQ(r.Find("GET", "/a/b/c").kind, Kind::kPathNotFound);
}

TEST(RouterTest, DecodesParamsButSplitsBeforeDecoding) {
  Router r;
  r.Add("GET", "/e/{id}", Tagged(1));
  r.Add("GET", "/lit eral", Tagged(2));
  auto m = r.Find("GET", "/e/urn%3Angsi-ld%3AX%2F1%20y");
  ASSERT_EQ(m.kind, Kind::kFound);
  EXPECT_EQ(m.params.Get("id"), "urn:ngsi-ld:X/1 y");
  EXPECT_EQ(r.Find("GET", "/e/a+b").params.Get("id"), "a+b");
  EXPECT_EQ(Call(r.Find("GET", "/lit%20eral")), 2);
}

TEST(RouterTest, BadEscapesAndNulAreBadPath) {
  Router r;
  r.Add("GET", "/e/{id}", Tagged(1));
  EXPECT_EQ(r.Find("GET", "/e/abc%2").kind, Kind::kBadPath);
  EXPECT_EQ(r.Find("GET", "/e/%zz").kind, Kind::kBadPath);
  EXPECT_EQ(r.Find("GET", "/e/a%00b").kind, Kind::kBadPath);
  EXPECT_EQ(r.Find("GET", "/nowhere/%").kind, Kind::kBadPath);
}

TEST(RouterTest, MethodNotAllowedListsMethodsOfPath) {
  Router r;
  r.Add("GET", "/e/{id}", Tagged(1));
  r.Add("DELETE", "/e/{id}", Tagged(2));
  r.Add("PATCH", "/e/{id}/attrs", Tagged(3));
  auto m = r.Find("POST", "/e/x");
  EXPECT_EQ(m.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"GET", "DELETE"}));
  EXPECT_EQ(r.Find("POST", "/nothing").kind, Kind::kPathNotFound);
  EXPECT_TRUE(r.Find("POST", "/nothing").allowed.empty());

  auto found = r.Find("DELETE", "/e/x");
  EXPECT_EQ(found.kind, Kind::kFound);
  EXPECT_TRUE(found.allowed.empty());
  EXPECT_EQ(Call(found), 2);
}

TEST(RouterTest, FallsBackToLessSpecificRouteWithTheMethod) {
  Router r;
  r.Add("POST", "/types/special", Tagged(1));
  r.Add("GET", "/types/{type}", Tagged(2));
  EXPECT_EQ(Call(r.Find("GET", "/types/special")), 2);
  EXPECT_EQ(Call(r.Find("POST", "/types/special")), 1);
  auto m = r.Find("PUT", "/types/special");
  EXPECT_EQ(m.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allowed, (std::vector<std::string>{"POST", "GET"}));
}

}  // namespace
}  // namespace cityhub::http
