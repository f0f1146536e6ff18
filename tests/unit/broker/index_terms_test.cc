// Tests for broker/index_terms: value encodings keep order and never let one term's range hold
// another's keys; spatial scans cover every point and area that may intersect a box (points
// exactly on the box edges included), checked against the terms IndexTermsOf derives.
#include "broker/index_terms.h"

#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "util/json.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
using ngsild::QIndexTerm;
using ngsild::QValue;

const std::string kType = "https://uri.etsi.org/ngsi-ld/default-context/T";
const std::string kAttr = "https://uri.etsi.org/ngsi-ld/default-context/a";
const std::string kLocation = "https://uri.etsi.org/ngsi-ld/location";

QValue Num(double d) { return QValue{QValue::Kind::kNumber, d, ""}; }
QValue Str(std::string s) { return QValue{QValue::Kind::kString, 0, std::move(s)}; }

QIndexTerm Equals(std::vector<QValue> values) {
  QIndexTerm t;
  t.attr = kAttr;
  t.values = std::move(values);
  return t;
}

bool InRange(const store::TermRange& r, std::string_view key) {
  return key >= r.begin && (r.end.empty() || key < r.end);
}

bool InAny(const std::vector<store::TermRange>& ranges, std::string_view key) {
  for (const auto& r : ranges) {
    if (InRange(r, key)) return true;
  }
  return false;
}

// The key of the single term an entity with `a` = `value` gets (value given as JSON).
std::string ValueKey(std::string_view value_json) {
  ngsild::ContextResolver resolver{{}, {}};
  EXPECT_TRUE(resolver.Init().ok());
  auto body = json::parse(fmt::format(R"({{"id":"urn:x:1","type":"T","a":{}}})", value_json)).as_object();
  auto e = ngsild::ParseEntity(body, *resolver.Core(), 0, {});
  EXPECT_TRUE(e.ok()) << e.status().message();
  auto terms = IndexTermsOf(*e);
  EXPECT_EQ(terms.size(), 1u);
  return terms.empty() ? "" : terms[0].key;
}

ngsild::Entity GeoEntity(const std::string& geometry_json) {
  ngsild::ContextResolver resolver{{}, {}};
  EXPECT_TRUE(resolver.Init().ok());
  // util::ParseJson: Boost.JSON 1.81's parser may round the last digit of a coordinate.
  boost::system::error_code ec;
  auto body = util::ParseJson(fmt::format(R"({{"id":"urn:x:1","type":"T","location":{{"type":"GeoProperty","value":{}}}}})",
                                          geometry_json), ec)
                  .as_object();
  auto e = ngsild::ParseEntity(body, *resolver.Core(), 0, {});
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(*e) : ngsild::Entity{};
}

TEST(IndexTermsTest, NumbersKeepTheirOrderAndMinusZeroIsZero) {
  const std::vector<double> sorted = {-1e300, -2.5, -1, -1e-300, 0, 1e-300, 0.5, 1, 3, 1e300};
  std::vector<std::string> keys;
  for (double d : sorted) keys.push_back(ValueScanFor(kType, Equals({Num(d)}))->ranges.at(0).begin);
  for (size_t i = 1; i < keys.size(); ++i) EXPECT_LT(keys[i - 1], keys[i]) << sorted[i];
  EXPECT_EQ(ValueScanFor(kType, Equals({Num(-0.0)}))->ranges[0].begin, keys[4]);
  // The stored key of an entity with a = 3 is found by the equality scan for 3, not for 3.5.
  std::string stored = ValueKey("3");
  EXPECT_TRUE(InRange(ValueScanFor(kType, Equals({Num(3)}))->ranges[0], stored));
  EXPECT_FALSE(InRange(ValueScanFor(kType, Equals({Num(3.5)}))->ranges[0], stored));
}

TEST(IndexTermsTest, StringsAreOrderedAndSelfDelimiting) {
  const std::vector<std::string> sorted = {"", std::string("a"), std::string("a\0", 2), "ab", "b", "\xff"};
  std::vector<std::string> keys;
  for (const auto& s : sorted) keys.push_back(ValueScanFor(kType, Equals({Str(s)}))->ranges.at(0).begin);
  for (size_t i = 1; i < keys.size(); ++i) EXPECT_LT(keys[i - 1], keys[i]) << i;
  // The range of "a" holds the key of "a" but not those of "ab" or "a\0".
  auto a = ValueScanFor(kType, Equals({Str("a")}))->ranges[0];
  EXPECT_TRUE(InRange(a, ValueKey(R"("a")")));
  EXPECT_FALSE(InRange(a, ValueKey(R"("ab")")));
  EXPECT_FALSE(InRange(a, keys[2]));
}

TEST(IndexTermsTest, KindsNeverShareRanges) {
  std::string number = ValueKey("1");
  std::string text = ValueKey(R"("1")");
  std::string boolean = ValueKey("true");
  EXPECT_NE(number, text);
  EXPECT_FALSE(InRange(ValueScanFor(kType, Equals({Str("1")}))->ranges[0], number));
  EXPECT_FALSE(InRange(ValueScanFor(kType, Equals({Num(1)}))->ranges[0], text));
  QIndexTerm any_number;
  any_number.attr = kAttr;
  any_number.lower = Num(-1e308);
  EXPECT_TRUE(InAny(ValueScanFor(kType, any_number)->ranges, number));
  EXPECT_FALSE(InAny(ValueScanFor(kType, any_number)->ranges, text));
  EXPECT_FALSE(InAny(ValueScanFor(kType, any_number)->ranges, boolean));
}

TEST(IndexTermsTest, RangesHonourInclusiveAndExclusiveBounds) {
  std::string k1 = ValueKey("1"), k2 = ValueKey("2"), k3 = ValueKey("3");
  QIndexTerm t;
  t.attr = kAttr;
  t.lower = Num(1);
  t.upper = Num(3);
  auto r = ValueScanFor(kType, t)->ranges.at(0);
  EXPECT_TRUE(InRange(r, k1) && InRange(r, k2) && InRange(r, k3));
  t.lower_inclusive = false;
  t.upper_inclusive = false;
  r = ValueScanFor(kType, t)->ranges.at(0);
  EXPECT_FALSE(InRange(r, k1));
  EXPECT_TRUE(InRange(r, k2));
  EXPECT_FALSE(InRange(r, k3));
  t.lower = Num(5);  // empty: 5 < a < 3
  EXPECT_TRUE(ValueScanFor(kType, t)->ranges.empty());
}

TEST(IndexTermsTest, LongStringsShareTheKeyOfTheirPrefixSoScansStillFindThem) {
  std::string long_a(300, 'x'), long_b(300, 'x');
  long_a += "a";
  long_b += "b";
  std::string stored = ValueKey(fmt::format(R"("{}")", long_a));
  EXPECT_TRUE(InRange(ValueScanFor(kType, Equals({Str(long_a)}))->ranges[0], stored));
  EXPECT_TRUE(InRange(ValueScanFor(kType, Equals({Str(long_b)}))->ranges[0], stored));  // superset
  QIndexTerm above;  // a > long_a excludes long_a itself, but a truncated bound cannot
  above.attr = kAttr;
  above.lower = Str(long_a);
  above.lower_inclusive = false;
  EXPECT_TRUE(InAny(ValueScanFor(kType, above)->ranges, ValueKey(fmt::format(R"("{}")", long_b))));
}

TEST(IndexTermsTest, TooManyValuesGiveTheOverflowKeyInstead) {
  std::string values = "[";
  for (int i = 0; i < 100; ++i) values += fmt::format("{}{}", i ? "," : "", i);
  values += "]";
  std::string key = ValueKey(values);
  auto scan = ValueScanFor(kType, Equals({Num(5)}));
  EXPECT_TRUE(InRange(scan->overflow, key));
  EXPECT_FALSE(InRange(scan->ranges[0], key));
}

TEST(IndexTermsTest, EveryPointInsideABoxIsInTheSpatialScanEdgesIncluded) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> lon(-179, 179), lat(-85, 85), size(1e-6, 0.5), unit(0, 1);
  for (int i = 0; i < 2000; ++i) {
    ngsild::GeoBox box;
    box.min_lon = lon(rng);
    box.min_lat = lat(rng);
    box.max_lon = std::min(180.0, box.min_lon + size(rng));
    box.max_lat = std::min(90.0, box.min_lat + size(rng));
    SpatialScan scan = SpatialScanFor(kType, kLocation, box);
    // A point inside, and one on each edge and corner.
    double u = unit(rng), v = unit(rng);
    std::vector<std::pair<double, double>> points = {
        {box.min_lon + u * (box.max_lon - box.min_lon), box.min_lat + v * (box.max_lat - box.min_lat)},
        {box.min_lon, box.min_lat}, {box.max_lon, box.max_lat},
        {box.min_lon, box.min_lat + v * (box.max_lat - box.min_lat)},
        {box.min_lon + u * (box.max_lon - box.min_lon), box.max_lat}};
    for (auto [x, y] : points) {
      auto terms = IndexTermsOf(GeoEntity(fmt::format("{{\"type\":\"Point\",\"coordinates\":[{:.17g},{:.17g}]}}", x, y)));
      ASSERT_EQ(terms.size(), 1u);
      ASSERT_TRUE(InAny(scan.points, terms[0].key)) << fmt::format("{:.17g},{:.17g} box {} {} {} {}", x, y,
                                                                  box.min_lon, box.min_lat, box.max_lon, box.max_lat);
      double px = 0, py = 0;
      ASSERT_TRUE(DecodePoint(terms[0].payload, &px, &py));
      EXPECT_EQ(px, x);
      EXPECT_EQ(py, y);
    }
  }
}

TEST(IndexTermsTest, SmallShapesAreCopiedIntoTheirKeysLargeOnesAreNot) {
  const std::string line = R"({"type":"LineString","coordinates":[[127.1,35.8],[127.1005,35.8004]]})";
  auto terms = IndexTermsOf(GeoEntity(line));
  ASSERT_FALSE(terms.empty());
  // Queries the copy must answer as the GeoJSON does: a box around the line, one beside it,
  // and near with distances under and over the line's ~15.8 m from the point.
  auto query = [](std::string_view georel, std::string_view geometry, std::string_view coordinates) {
    auto q = ngsild::GeoQuery::Parse(georel, geometry, coordinates, kLocation);
    EXPECT_TRUE(q.ok()) << q.status().message();
    return *q;
  };
  const std::vector<std::pair<ngsild::GeoQuery, bool>> cases = {
      {query("within", "Polygon", "[[[127.09,35.79],[127.11,35.79],[127.11,35.81],[127.09,35.81],[127.09,35.79]]]"), true},
      {query("intersects", "Polygon", "[[[127.2,35.79],[127.21,35.79],[127.21,35.81],[127.2,35.81],[127.2,35.79]]]"), false},
      {query("near;maxDistance==12", "Point", "[127.1,35.8002]"), false},
      {query("near;maxDistance==20", "Point", "[127.1,35.8002]"), true},
  };
  for (const auto& t : terms) {
    for (const auto& [q, expected] : cases) {
      std::optional<bool> decided = q.MatchesEncoded(t.payload);
      ASSERT_TRUE(decided.has_value());
      EXPECT_EQ(*decided, expected);
      EXPECT_EQ(*decided, q.MatchesValue(json::parse(line)));
    }
  }
  std::string ring;
  for (int i = 0; i < 40; ++i) ring += fmt::format("[{},{}],", 127 + std::cos(i * M_PI / 20), 35 + std::sin(i * M_PI / 20));
  ring += "[128,35]";
  terms = IndexTermsOf(GeoEntity(fmt::format(R"({{"type":"Polygon","coordinates":[[{}]]}})", ring)));
  ASSERT_FALSE(terms.empty());
  for (const auto& t : terms) EXPECT_TRUE(t.payload.empty());
}

TEST(IndexTermsTest, AreasIntersectingABoxAreInTheAreaScan) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> lon(-170, 170), lat(-80, 80), size(1e-4, 2);
  int found = 0;
  for (int i = 0; i < 500; ++i) {
    double x = lon(rng), y = lat(rng), w = size(rng), h = size(rng);
    auto polygon = GeoEntity(fmt::format(
        "{{\"type\":\"Polygon\",\"coordinates\":[[[{0},{1}],[{2},{1}],[{2},{3}],[{0},{3}],[{0},{1}]]]}}", x, y, x + w, y + h));
    auto terms = IndexTermsOf(polygon);
    ASSERT_FALSE(terms.empty());
    // A query box overlapping the polygon's corner, and one far away.
    ngsild::GeoBox near{x + w * 0.9, y + h * 0.9, x + w * 1.5, y + h * 1.5};
    ngsild::GeoBox far{x + 5, y + 5, x + 5.1, y + 5.1};
    SpatialScan scan = SpatialScanFor(kType, kLocation, near);
    bool hit = false;
    for (const auto& t : terms) {
      EXPECT_TRUE(InRange(scan.any_area, t.key));
      hit = hit || InAny(scan.area_ranges, t.key);
    }
    EXPECT_TRUE(hit) << i;
    SpatialScan away = SpatialScanFor(kType, kLocation, far);
    bool far_hit = false;
    for (const auto& t : terms) far_hit = far_hit || InAny(away.area_ranges, t.key);
    found += far_hit;
  }
  EXPECT_LT(found, 25);  // coverings are loose, but not that loose
}

}  // namespace
}  // namespace cityhub::broker
