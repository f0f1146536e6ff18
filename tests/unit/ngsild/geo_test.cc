// Tests for geo-queries: the georel grammar and its errors, query geometry validation (every
// reason), the relations on hand-made cases (boundaries, holes, multi geometries, every pair of
// geometry types), great-circle distances against hand-computed values, Matches on entities,
// CandidateBox as a conservative filter, and MatchesPoint agreeing with MatchesGeometry.
//
// Distances below are on the sphere of radius R = 6,371,008.8 m: one degree of arc is
// R·π/180 = 111,195.08 m, so 0.01° of latitude is 1,111.9508 m. The distance from a point at
// latitude φ to a meridian Δλ away is R·asin(sin Δλ·cos φ) ≈ 1,111.9508 m·cos φ for Δλ = 0.01°.
#include "ngsild/geo.h"

#include <cmath>
#include <random>
#include <tuple>
#include <string>
#include <vector>

#include <boost/geometry.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "util/json.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using Code = Status::Code;
using Relation = GeoQuery::Relation;

const std::string kLocation = "https://uri.etsi.org/ngsi-ld/location";

json::value Json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(text, ec);
  EXPECT_FALSE(ec) << text;
  return v;
}

Result<GeoQuery> Parse(std::string_view georel, std::string_view type, std::string_view coords) {
  return GeoQuery::Parse(georel, type, coords, kLocation);
}

GeoQuery Query(std::string_view georel, std::string_view type, std::string_view coords) {
  auto q = Parse(georel, type, coords);
  EXPECT_TRUE(q.ok()) << georel << " " << type << " " << coords << ": " << q.status().message();
  return q.ok() ? std::move(q).value() : GeoQuery{};
}

Geometry Geo(std::string_view type, std::string_view coords) {
  auto g = Geometry::FromGeoJson(Json(fmt::format(R"({{"type":"{}","coordinates":{}}})", type, coords)),
                                 "location");
  EXPECT_TRUE(g.ok()) << type << " " << coords << ": " << g.status().message();
  return g.ok() ? std::move(g).value() : Geometry{};
}

Geometry GeoPoint(double lon, double lat) {
  return Geo("Point", fmt::format("[{},{}]", lon, lat));
}

// Squares as closed counter-clockwise rings.
std::string Square(double x0, double y0, double x1, double y1) {
  return fmt::format("[[{0},{1}],[{2},{1}],[{2},{3}],[{0},{3}],[{0},{1}]]", x0, y0, x1, y1);
}
std::string SquarePolygon(double x0, double y0, double x1, double y1) {
  return fmt::format("[{}]", Square(x0, y0, x1, y1));
}

// ---- georel -----------------------------------------------------------------------------

TEST(GeorelTest, AcceptsEveryRelation) {
  struct Case {
    std::string_view georel;
    Relation relation;
  } cases[] = {
      {"near;maxDistance==2000", Relation::kNear},
      {"near;minDistance==0", Relation::kNear},
      {"near;maxDistance==1.5e3", Relation::kNear},
      {"near;minDistance==10;maxDistance==20", Relation::kNear},
      {"near;maxDistance==20;minDistance==20", Relation::kNear},
      {"within", Relation::kWithin},
      {"contains", Relation::kContains},
      {"intersects", Relation::kIntersects},
      {"overlaps", Relation::kOverlaps},
      {"disjoint", Relation::kDisjoint},
      {"equals", Relation::kEquals},
  };
  for (const auto& c : cases) {
    auto q = Parse(c.georel, "Point", "[0,0]");
    ASSERT_TRUE(q.ok()) << c.georel << ": " << q.status().message();
    EXPECT_EQ(q->relation(), c.relation) << c.georel;
    EXPECT_EQ(q->geoproperty(), kLocation);
  }
}

TEST(GeorelTest, RejectsMalformedGeorelNamingIt) {
  struct Case {
    std::string_view georel;
    std::string_view reason;
  } cases[] = {
      {"", "georel is empty"},
      {"nearby", "unknown relation 'nearby'"},
      {"Within", "unknown relation 'Within'"},
      {"coveredBy", "unknown relation 'coveredBy'"},
      {"near", "near needs maxDistance==<metres> and/or minDistance==<metres>"},
      {"near;", "modifier '' is not"},
      {"near;maxDistance==5;", "modifier '' is not"},
      {"near;maxDistance=5", "modifier 'maxDistance=5' is not"},
      {"near;distance==5", "unknown modifier 'distance'"},
      {"near;maxdistance==5", "unknown modifier 'maxdistance'"},
      {"near;maxDistance==", "maxDistance must be a number of metres from 0 to 40000000, not ''"},
      {"near;maxDistance==abc", "maxDistance must be a number of metres"},
      {"near;maxDistance==-1", "not '-1'"},
      {"near;minDistance==nan", "minDistance must be a number of metres"},
      {"near;maxDistance==inf", "not 'inf'"},
      {"near;maxDistance==1e400", "not '1e400'"},
      {"near;maxDistance==50000000", "not '50000000'"},
      {"near;maxDistance==+5", "not '+5'"},
      {"near;maxDistance== 5", "not ' 5'"},
      {"near;maxDistance==5m", "not '5m'"},
      {"near;maxDistance==5;maxDistance==6", "maxDistance is given twice"},
      {"near;minDistance==10;maxDistance==5", "minDistance 10 is greater than maxDistance 5"},
      {"within;maxDistance==5", "within takes no modifiers"},
      {"disjoint;", "disjoint takes no modifiers"},
  };
  for (const auto& c : cases) {
    auto q = Parse(c.georel, "Point", "[0,0]");
    ASSERT_FALSE(q.ok()) << c.georel;
    EXPECT_EQ(q.status().code(), Code::kBadRequestData) << c.georel;
    EXPECT_THAT(q.status().message(), HasSubstr("georel")) << c.georel;
    EXPECT_THAT(q.status().message(), HasSubstr(c.reason)) << c.georel;
  }
}

TEST(GeorelTest, QuotesLongGeorelShortened) {
  std::string georel = "near;maxDistance==" + std::string(500, '9');
  auto q = Parse(georel, "Point", "[0,0]");
  ASSERT_FALSE(q.ok());
  EXPECT_LT(q.status().message().size(), 300u);
}

// ---- geometry and coordinates parameters -------------------------------------------------

TEST(GeoParamsTest, RejectsEmptyOrUnknownGeometryAndBadCoordinates) {
  struct Case {
    std::string_view type, coords;
    Code code;
    std::string_view reason;
  } cases[] = {
      {"", "[0,0]", Code::kInvalidRequest, "geometry is empty"},
      {"Circle", "[0,0]", Code::kBadRequestData, "geometry 'Circle' is not one of Point"},
      {"point", "[0,0]", Code::kBadRequestData, "geometry 'point' is not one of"},
      {"Point", "", Code::kInvalidRequest, "coordinates is empty"},
      {"Point", "[1,", Code::kInvalidRequest, "coordinates is not valid JSON"},
      {"Point", "1e999", Code::kInvalidRequest, "coordinates is not valid JSON"},
      {"Point", R"("[1,2]")", Code::kInvalidRequest, "coordinates must be a JSON array of positions, not a string"},
  };
  for (const auto& c : cases) {
    auto q = Parse("within", c.type, c.coords);
    ASSERT_FALSE(q.ok()) << c.type << " " << c.coords;
    EXPECT_EQ(q.status().code(), c.code) << c.type << " " << c.coords;
    EXPECT_THAT(q.status().message(), HasSubstr(c.reason)) << c.type << " " << c.coords;
  }
}

TEST(GeoParamsTest, CoordinatesMayBeJsonOrAStringHoldingJson) {
  // The GeoQuery of POST /entityOperations/query (§5.2.13) carries either form.
  auto as_json = GeoQuery::Parse("intersects", "Point", Json("[1,2]"), kLocation);
  auto as_string = GeoQuery::Parse("intersects", "Point", json::value("[1,2]"), kLocation);
  ASSERT_TRUE(as_json.ok()) << as_json.status().message();
  ASSERT_TRUE(as_string.ok()) << as_string.status().message();
  EXPECT_TRUE(as_json->MatchesPoint(1, 2));
  EXPECT_TRUE(as_string->MatchesPoint(1, 2));
  EXPECT_FALSE(as_string->MatchesPoint(2, 1));

  auto malformed = GeoQuery::Parse("intersects", "Point", json::value("[1,"), kLocation);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.status().code(), Code::kInvalidRequest);
  auto nested = GeoQuery::Parse("intersects", "Point", json::value(R"("[1,2]")"), kLocation);
  ASSERT_FALSE(nested.ok());
  EXPECT_THAT(nested.status().message(), HasSubstr("not a string"));
}

TEST(GeoParamsTest, ErrorsComeInParameterOrder) {
  // A bad georel is reported before a bad geometry, which comes before bad coordinates.
  EXPECT_THAT(Parse("nearby", "Circle", "[").status().message(), HasSubstr("georel"));
  EXPECT_THAT(Parse("within", "Circle", "[").status().message(), HasSubstr("geometry"));
}

// ---- query geometry validation -------------------------------------------------------------

TEST(GeoValidationTest, RejectsInvalidGeometriesWithTheReason) {
  struct Case {
    std::string_view type;
    std::string coords;
    std::string_view reason;
  } cases[] = {
      // Positions.
      {"Point", "[200,0]", "coordinates: longitude 200 is outside [-180, 180]"},
      {"Point", "[-180.5,0]", "longitude -180.5 is outside [-180, 180]"},
      {"Point", "[0,-91]", "coordinates: latitude -91 is outside [-90, 90]"},
      {"Point", "[0]", "a position must be an array of 2 or 3 numbers"},
      {"Point", "[0,1,2,3]", "a position must be an array of 2 or 3 numbers"},
      {"Point", "5", "a position must be an array of 2 or 3 numbers"},
      {"Point", R"(["0",1])", "a position must hold numbers only"},
      {"Point", "[0,null]", "a position must hold numbers only"},
      {"Point", "[0,1,true]", "a position must hold numbers only"},
      {"MultiPoint", "[[0,0],[1,95]]", "coordinates[1]: latitude 95 is outside [-90, 90]"},
      // Sizes and nesting.
      {"MultiPoint", "[]", "coordinates: a MultiPoint must not be empty"},
      {"MultiPoint", "[0,0]", "coordinates[0]: a position must be an array"},
      {"LineString", "[[0,0]]", "coordinates: a LineString needs at least 2 positions, has 1"},
      {"LineString", "{}", "a LineString must be an array"},
      {"MultiLineString", "[]", "a MultiLineString must not be empty"},
      {"MultiLineString", "[[[0,0],[1,1]],[[2,2]]]", "coordinates[1]: a LineString needs at least 2 positions"},
      {"Polygon", "[]", "a Polygon must not be empty"},
      {"Polygon", "[[0,1,2,3]]", "coordinates[0][0]: a position must be an array"},
      {"Polygon", "[[[0,0],[1,0],[0,0]]]", "coordinates[0]: a polygon ring needs at least 4 positions, has 3"},
      {"Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", "coordinates[0]: a polygon ring is not closed"},
      {"MultiPolygon", "[]", "a MultiPolygon must not be empty"},
      {"MultiPolygon", "[[[[0,0],[1,0],[1,1],[0,1],[0,0]]],[[[0,0],[1,0],[1,95],[0,1],[0,0]]]]",
       "coordinates[1][0][2]: latitude 95 is outside [-90, 90]"},
      // Boost.Geometry's validity check.
      {"LineString", "[[1,1],[1,1]]", "invalid LineString: it collapses to a point or a line"},
      {"MultiLineString", "[[[0,0],[1,1]],[[2,2],[2,2]]]", "invalid MultiLineString: it collapses"},
      {"Polygon", "[[[3,3],[3,3],[3,3],[3,3]]]", "invalid Polygon: it collapses to a point or a line"},
      // Collinear positions: the ring runs out to (2,0) and back.
      {"Polygon", "[[[0,0],[1,0],[2,0],[0,0]]]", "invalid Polygon: a ring has a spike"},
      // A bow tie: the edges (0,0)-(2,2) and (2,0)-(0,3) cross where y = x = 3 - 1.5x.
      {"Polygon", "[[[0,0],[2,2],[2,0],[0,3],[0,0]]]",
       "invalid Polygon: its boundary crosses or touches itself: a self-intersection point was found at (1.2, 1.2)"},
      // A symmetric bow tie encloses no net area, so no winding makes it a proper ring.
      {"Polygon", "[[[0,0],[2,2],[2,0],[0,2],[0,0]]]", "a ring encloses no area or crosses itself"},
      // The ring runs out to (3,2) and back along the same line.
      {"Polygon", "[[[0,0],[2,0],[2,2],[3,2],[2,2],[0,2],[0,0]]]",
       "a ring has a spike (runs out and back along itself): a spike point was found with apex at (3, 2)"},
      {"Polygon", fmt::format("[{},{}]", Square(0, 0, 1, 1), Square(2, 2, 3, 3)),
       "a hole lies outside its exterior ring"},
      {"Polygon", fmt::format("[{},{},{}]", Square(0, 0, 10, 10), Square(1, 1, 9, 9), Square(2, 2, 8, 8)),
       "a hole lies inside another hole"},
      // A diamond hole touching all four sides of the square cuts it into four triangles.
      {"Polygon", fmt::format("[{},[[0,2],[2,0],[4,2],[2,4],[0,2]]]", Square(0, 0, 4, 4)),
       "its holes cut the interior into pieces"},
      {"MultiPolygon", fmt::format("[{},{}]", SquarePolygon(0, 0, 4, 4), SquarePolygon(1, 1, 2, 2)),
       "invalid MultiPolygon: two of its polygons overlap"},
      {"MultiPolygon", fmt::format("[{},{}]", SquarePolygon(0, 0, 2, 2), SquarePolygon(1, 1, 3, 3)),
       "invalid MultiPolygon: its boundary crosses or touches itself: a self-intersection point was found at (2, 1)"},
  };
  for (const auto& c : cases) {
    auto q = Parse("intersects", c.type, c.coords);
    ASSERT_FALSE(q.ok()) << c.type << " " << c.coords;
    EXPECT_EQ(q.status().code(), Code::kBadRequestData) << c.coords;
    EXPECT_THAT(q.status().message(), HasSubstr(c.reason)) << c.coords;
  }
}

TEST(GeoValidationTest, AcceptsEitherWindingAndAltitudes) {
  const std::string ccw = "[[[0,0],[2,0],[2,2],[0,2],[0,0]]]";
  const std::string cw = "[[[0,0],[0,2],[2,2],[2,0],[0,0]]]";
  for (const auto& coords : {ccw, cw}) {
    GeoQuery q = Query("within", "Polygon", coords);
    EXPECT_TRUE(q.MatchesPoint(1, 1)) << coords;
    EXPECT_FALSE(q.MatchesPoint(3, 1)) << coords;
  }
  // A hole wound the same way as its exterior ring is corrected too.
  GeoQuery holed = Query("within", "Polygon", fmt::format("[{},{}]", Square(0, 0, 10, 10), Square(4, 4, 6, 6)));
  EXPECT_FALSE(holed.MatchesPoint(5, 5));
  EXPECT_TRUE(holed.MatchesPoint(2, 2));
  // Altitude is accepted and ignored.
  EXPECT_TRUE(Query("intersects", "Point", "[1,2,300]").MatchesPoint(1, 2));
  // Touching polygons of a MultiPolygon (a shared corner) are valid.
  EXPECT_TRUE(Parse("within", "MultiPolygon", fmt::format("[{},{}]", SquarePolygon(0, 0, 1, 1),
                                                          SquarePolygon(1, 1, 2, 2))).ok());
}

TEST(GeoValidationTest, LimitsQueryPositions) {
  auto points = [](int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) s += fmt::format("{}[{},{}]", i ? "," : "", (i % 300) * 0.1, (i / 300) * 0.1);
    return s + "]";
  };
  EXPECT_TRUE(Parse("intersects", "MultiPoint", points(10'000)).ok());
  auto q = Parse("intersects", "MultiPoint", points(10'001));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), Code::kTooComplexQuery);
  EXPECT_THAT(q.status().message(), HasSubstr("coordinates: more than 10000 positions"));
}

TEST(GeoValidationTest, FromGeoJsonNamesWhereAndWhat) {
  struct Case {
    std::string_view geojson, reason;
  } cases[] = {
      {"[0,0]", "location: a geometry must be a GeoJSON object"},
      {R"({"type":"Circle","coordinates":[0,0]})", "location: geometry 'type' must be one of Point"},
      {R"({"type":"Point"})", "location: geometry has no 'coordinates'"},
      {R"({"type":"Point","coordinates":[0,100]})", "location: coordinates: latitude 100 is outside"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,3],[0,0]]]})",
       "location: coordinates: invalid Polygon: its boundary crosses or touches itself"},
  };
  for (const auto& c : cases) {
    auto g = Geometry::FromGeoJson(Json(c.geojson), "location");
    ASSERT_FALSE(g.ok()) << c.geojson;
    EXPECT_EQ(g.status().code(), Code::kBadRequestData);
    EXPECT_THAT(g.status().message(), HasSubstr(c.reason)) << c.geojson;
  }
}

TEST(GeometryTest, Accessors) {
  Geometry p = GeoPoint(13.4, 52.5);
  EXPECT_TRUE(p.IsPoint());
  EXPECT_EQ(p.Lon(), 13.4);
  EXPECT_EQ(p.Lat(), 52.5);
  Geometry line = Geo("LineString", "[[1,5],[3,2],[2,7]]");
  EXPECT_FALSE(line.IsPoint());
  EXPECT_TRUE(std::isnan(line.Lon()));
  GeoBox b = line.Bounds();
  EXPECT_EQ(b.min_lon, 1);
  EXPECT_EQ(b.min_lat, 2);
  EXPECT_EQ(b.max_lon, 3);
  EXPECT_EQ(b.max_lat, 7);
}

// ---- topological relations ----------------------------------------------------------------

// The answer of every relation but near for `entity` against the query geometry.
struct Answers {
  bool within, contains, intersects, disjoint, overlaps, equals;
};

void ExpectRelations(std::string_view qtype, std::string_view qcoords, const Geometry& entity,
                     const Answers& want, std::string_view label) {
  auto check = [&](std::string_view georel, bool expected) {
    GeoQuery q = Query(georel, qtype, qcoords);
    EXPECT_EQ(q.MatchesGeometry(entity), expected) << label << ": " << georel;
    if (entity.IsPoint()) {
      EXPECT_EQ(q.MatchesPoint(entity.Lon(), entity.Lat()), expected) << label << ": " << georel << " (point)";
    }
  };
  check("within", want.within);
  check("contains", want.contains);
  check("intersects", want.intersects);
  check("disjoint", want.disjoint);
  check("overlaps", want.overlaps);
  check("equals", want.equals);
}

TEST(GeoRelationsTest, PointsAgainstAPolygonBoundary) {
  // Square (0,0)-(2,2). OGC: a point on the boundary is not within but does intersect.
  const std::string square = SquarePolygon(0, 0, 2, 2);
  struct Case {
    double lon, lat;
    Answers want;
    std::string_view label;
  } cases[] = {
      {1, 1, {true, false, true, false, false, false}, "interior"},
      {2, 1, {false, false, true, false, false, false}, "on the east edge"},
      {1, 0, {false, false, true, false, false, false}, "on the south edge"},
      {2, 2, {false, false, true, false, false, false}, "on a vertex"},
      {0, 0, {false, false, true, false, false, false}, "on the first vertex"},
      {2.000001, 1, {false, false, false, true, false, false}, "just outside"},
      {3, 3, {false, false, false, true, false, false}, "outside"},
  };
  for (const auto& c : cases) ExpectRelations("Polygon", square, GeoPoint(c.lon, c.lat), c.want, c.label);
}

TEST(GeoRelationsTest, PolygonWithAHole) {
  // Square (0,0)-(10,10) with the hole (4,4)-(6,6).
  const std::string holed = fmt::format("[{},{}]", Square(0, 0, 10, 10), Square(4, 4, 6, 6));
  ExpectRelations("Polygon", holed, GeoPoint(5, 5), {false, false, false, true, false, false}, "point in hole");
  ExpectRelations("Polygon", holed, GeoPoint(4, 5), {false, false, true, false, false, false}, "point on hole edge");
  ExpectRelations("Polygon", holed, GeoPoint(2, 2), {true, false, true, false, false, false}, "point in the ring");
  ExpectRelations("Polygon", holed, Geo("Polygon", SquarePolygon(4.5, 4.5, 5.5, 5.5)),
                  {false, false, false, true, false, false}, "polygon inside the hole");
  // Filling the hole exactly: the boundaries touch, the interiors do not meet.
  ExpectRelations("Polygon", holed, Geo("Polygon", SquarePolygon(4, 4, 6, 6)),
                  {false, false, true, false, false, false}, "polygon filling the hole");
  ExpectRelations("Polygon", holed, Geo("Polygon", SquarePolygon(1, 1, 3, 3)),
                  {true, false, true, false, false, false}, "polygon in the ring");
  // Half in the ring, half in the hole: the interiors meet and each has parts outside the other.
  ExpectRelations("Polygon", holed, Geo("Polygon", SquarePolygon(3, 3, 5, 5)),
                  {false, false, true, false, true, false}, "polygon over the hole's edge");
  // The entity covering the whole square contains the holed query polygon.
  ExpectRelations("Polygon", holed, Geo("Polygon", SquarePolygon(-1, -1, 11, 11)),
                  {false, true, true, false, false, false}, "polygon around everything");
}

TEST(GeoRelationsTest, MultiPolygonQuery) {
  // Squares (0,0)-(1,1) and (2,0)-(3,1) with a gap between x = 1 and x = 2.
  const std::string two = fmt::format("[{},{}]", SquarePolygon(0, 0, 1, 1), SquarePolygon(2, 0, 3, 1));
  ExpectRelations("MultiPolygon", two, GeoPoint(2.5, 0.5), {true, false, true, false, false, false}, "in the second");
  ExpectRelations("MultiPolygon", two, GeoPoint(1.5, 0.5), {false, false, false, true, false, false}, "in the gap");
  ExpectRelations("MultiPolygon", two, Geo("LineString", "[[0.5,0.5],[2.5,0.5]]"),
                  {false, false, true, false, false, false}, "line across the gap");
  ExpectRelations("MultiPolygon", two, Geo("MultiPoint", "[[0.5,0.5],[2.5,0.5]]"),
                  {true, false, true, false, false, false}, "a point in each");
  ExpectRelations("MultiPolygon", two, Geo("MultiPolygon", two), {true, true, true, false, false, true}, "itself");
  // Only the first square: within, and not equal.
  ExpectRelations("MultiPolygon", two, Geo("Polygon", SquarePolygon(0, 0, 1, 1)),
                  {true, false, true, false, false, false}, "one of its parts");
}

TEST(GeoRelationsTest, LinesAndPolygons) {
  const std::string square = SquarePolygon(0, 0, 2, 2);
  ExpectRelations("Polygon", square, Geo("LineString", "[[-1,1],[3,1]]"),
                  {false, false, true, false, false, false}, "line crossing");
  ExpectRelations("Polygon", square, Geo("LineString", "[[0.5,1],[1.5,1]]"),
                  {true, false, true, false, false, false}, "line inside");
  // A line along the boundary meets no interior point: not within, but it intersects.
  ExpectRelations("Polygon", square, Geo("LineString", "[[0,0],[2,0]]"),
                  {false, false, true, false, false, false}, "line along an edge");
  ExpectRelations("Polygon", square, Geo("LineString", "[[1,1],[1,2]]"),
                  {true, false, true, false, false, false}, "line from inside to the edge");
  // The query is a line; a polygon entity contains the lines inside it.
  ExpectRelations("LineString", "[[0.5,1],[1.5,1]]", Geo("Polygon", square),
                  {false, true, true, false, false, false}, "polygon containing the query line");
}

TEST(GeoRelationsTest, OverlapsVersusContains) {
  const std::string square = SquarePolygon(0, 0, 4, 4);
  ExpectRelations("Polygon", square, Geo("Polygon", SquarePolygon(1, 1, 2, 2)),
                  {true, false, true, false, false, false}, "inside: within, not overlapping");
  ExpectRelations("Polygon", square, Geo("Polygon", SquarePolygon(-1, -1, 5, 5)),
                  {false, true, true, false, false, false}, "around: contains, not overlapping");
  ExpectRelations("Polygon", square, Geo("Polygon", SquarePolygon(2, 2, 6, 6)),
                  {false, false, true, false, true, false}, "partly: overlaps");
  ExpectRelations("Polygon", square, Geo("Polygon", SquarePolygon(4, 0, 6, 4)),
                  {false, false, true, false, false, false}, "sharing an edge: touches only");
  ExpectRelations("Polygon", square, Geo("Polygon", square), {true, true, true, false, false, true}, "itself");
  // Lines overlap along a shared stretch; a contained stretch does not overlap.
  ExpectRelations("LineString", "[[0,0],[4,0]]", Geo("LineString", "[[2,0],[6,0]]"),
                  {false, false, true, false, true, false}, "collinear lines sharing [2,4]");
  ExpectRelations("LineString", "[[0,0],[4,0]]", Geo("LineString", "[[1,0],[2,0]]"),
                  {true, false, true, false, false, false}, "a stretch of the line");
  // Lines crossing at a point intersect without overlapping.
  ExpectRelations("LineString", "[[0,0],[4,4]]", Geo("LineString", "[[0,4],[4,0]]"),
                  {false, false, true, false, false, false}, "crossing lines");
  // Point sets overlap when each has a point the other lacks and they share one.
  ExpectRelations("MultiPoint", "[[1,1],[2,2]]", Geo("MultiPoint", "[[0,0],[1,1]]"),
                  {false, false, true, false, true, false}, "multipoints sharing one point");
  // Different dimensions never overlap.
  ExpectRelations("Polygon", square, Geo("LineString", "[[2,2],[6,2]]"),
                  {false, false, true, false, false, false}, "line half inside");
}

TEST(GeoRelationsTest, EqualsIgnoresRingStartWindingAndOrder) {
  const std::string square = SquarePolygon(0, 0, 2, 2);
  const Geometry rotated = Geo("Polygon", "[[[2,2],[0,2],[0,0],[2,0],[2,2]]]");
  const Geometry reversed = Geo("Polygon", "[[[2,0],[0,0],[0,2],[2,2],[2,0]]]");
  const Geometry with_extra_vertex = Geo("Polygon", "[[[0,0],[1,0],[2,0],[2,2],[0,2],[0,0]]]");
  for (const auto* g : {&rotated, &reversed, &with_extra_vertex}) {
    EXPECT_TRUE(Query("equals", "Polygon", square).MatchesGeometry(*g));
  }
  EXPECT_FALSE(Query("equals", "Polygon", square).MatchesGeometry(Geo("Polygon", SquarePolygon(0, 0, 2, 2.001))));
  EXPECT_TRUE(Query("equals", "LineString", "[[0,0],[1,1],[2,0]]")
                  .MatchesGeometry(Geo("LineString", "[[2,0],[1,1],[0,0]]")));
  EXPECT_TRUE(Query("equals", "MultiPoint", "[[0,0],[1,1]]")
                  .MatchesGeometry(Geo("MultiPoint", "[[1,1],[0,0],[1,1]]")));
  EXPECT_TRUE(Query("equals", "MultiPoint", "[[3,4]]").MatchesPoint(3, 4));
  EXPECT_FALSE(Query("equals", "MultiPoint", "[[3,4],[5,6]]").MatchesPoint(3, 4));
}

TEST(GeoRelationsTest, RelationsArePlanarInLonLat) {
  // The query's north edge runs straight along latitude 60 in lon/lat; the great circle
  // through (0,60) and (60,60) would reach about 63.4° at lon 30. Relations use the straight edge.
  GeoQuery q = Query("within", "Polygon", SquarePolygon(0, 50, 60, 60));
  EXPECT_TRUE(q.MatchesPoint(30, 59.9));
  EXPECT_FALSE(q.MatchesPoint(30, 60.5));
}

// Adds `dlon` to the longitude of every position in `coords`.
void Shift(json::value& v, double dlon) {
  json::array& a = v.as_array();
  if (!a.empty() && a[0].is_number()) {
    a[0] = a[0].to_number<double>() + dlon;
    return;
  }
  for (auto& item : a) Shift(item, dlon);
}

Geometry Shifted(std::string_view type, std::string_view coords, double dlon) {
  json::value v = Json(coords);
  Shift(v, dlon);
  return Geo(type, util::SerializeJson(v));
}

// Every pair of the six types: small entity geometries around (5,5) against larger queries.
TEST(GeoRelationsTest, EveryPairOfTypes) {
  struct Shape {
    std::string_view type, coords;
  };
  const Shape queries[] = {
      {"Point", "[5,5]"},
      {"MultiPoint", "[[4,5],[5,5]]"},
      {"LineString", "[[0,5],[10,5]]"},
      {"MultiLineString", "[[[0,5],[10,5]],[[5,0],[5,10]]]"},  // a cross through (5,5)
      {"Polygon", "[[[0,0],[10,0],[10,10],[0,10],[0,0]]]"},
      {"MultiPolygon", "[[[[0,0],[10,0],[10,10],[0,10],[0,0]]],[[[20,0],[30,0],[30,10],[20,10],[20,0]]]]"},
  };
  const Shape entities[] = {
      {"Point", "[5,5]"},
      {"MultiPoint", "[[4,5],[5,5]]"},
      {"LineString", "[[4,5],[6,5]]"},
      {"MultiLineString", "[[[4,5],[6,5]],[[5,4],[5,6]]]"},
      {"Polygon", "[[[4,4],[6,4],[6,6],[4,6],[4,4]]]"},
      {"MultiPolygon", "[[[[4,4],[6,4],[6,6],[4,6],[4,4]]],[[[21,1],[22,1],[22,2],[21,2],[21,1]]]]"},
  };
  // within[q][e]: the entity lies in the query's interior. The cross's crossing point (5,5) is
  // interior to it (a MultiLineString's boundary is its end points); the second polygon of the
  // entity MultiPolygon lies outside the query Polygon but inside the query MultiPolygon.
  const bool within[6][6] = {
      {true, false, false, false, false, false},  // Point (5,5)
      {true, true, false, false, false, false},   // MultiPoint
      {true, true, true, false, false, false},    // LineString y = 5
      {true, true, true, true, false, false},     // the cross
      {true, true, true, true, true, false},      // Polygon
      {true, true, true, true, true, true},       // MultiPolygon
  };
  for (int qi = 0; qi < 6; ++qi) {
    for (int ei = 0; ei < 6; ++ei) {
      std::string label = fmt::format("{} in {}", entities[ei].type, queries[qi].type);
      Geometry e = Geo(entities[ei].type, entities[ei].coords);
      // Every entity shares (5,5) or more with every query.
      EXPECT_TRUE(Query("intersects", queries[qi].type, queries[qi].coords).MatchesGeometry(e)) << label;
      EXPECT_EQ(Query("within", queries[qi].type, queries[qi].coords).MatchesGeometry(e), within[qi][ei]) << label;
      // contains is within with the roles swapped.
      EXPECT_EQ(Query("contains", entities[ei].type, entities[ei].coords)
                    .MatchesGeometry(Geo(queries[qi].type, queries[qi].coords)),
                within[qi][ei]) << label;
      // Moved 40° east, no entity meets any query (the query MultiPolygon ends at lon 30).
      Geometry moved = Shifted(entities[ei].type, entities[ei].coords, 40);
      EXPECT_FALSE(Query("intersects", queries[qi].type, queries[qi].coords).MatchesGeometry(moved)) << label;
      EXPECT_TRUE(Query("disjoint", queries[qi].type, queries[qi].coords).MatchesGeometry(moved)) << label;
      // Same-dimension pairs overlap only where the entity pokes out of the query: the cross
      // against the line y = 5, the entity MultiPolygon against the single query Polygon.
      bool overlaps = (qi == 2 && ei == 3) || (qi == 4 && ei == 5);
      EXPECT_EQ(Query("overlaps", queries[qi].type, queries[qi].coords).MatchesGeometry(e), overlaps) << label;
      // Only identical point sets are equal.
      EXPECT_EQ(Query("equals", queries[qi].type, queries[qi].coords).MatchesGeometry(e), qi == ei && qi < 2)
          << label;
    }
  }
}

// ---- near ---------------------------------------------------------------------------------

bool Near(std::string_view georel, std::string_view qtype, std::string_view qcoords, const Geometry& e) {
  GeoQuery q = Query(georel, qtype, qcoords);
  bool general = q.MatchesGeometry(e);
  if (e.IsPoint()) {
    EXPECT_EQ(q.MatchesPoint(e.Lon(), e.Lat()), general) << georel << " " << qcoords;
  }
  return general;
}

TEST(GeoNearTest, PointToPointAtTheThresholds) {
  // (0,0) to (0,0.01): 0.01° of a meridian = 1,111.9508 m.
  const Geometry e = GeoPoint(0, 0.01);
  EXPECT_FALSE(Near("near;maxDistance==1111", "Point", "[0,0]", e));
  EXPECT_TRUE(Near("near;maxDistance==1112", "Point", "[0,0]", e));
  EXPECT_FALSE(Near("near;maxDistance==1111.95", "Point", "[0,0]", e));
  EXPECT_TRUE(Near("near;maxDistance==1111.96", "Point", "[0,0]", e));
  EXPECT_TRUE(Near("near;minDistance==1111", "Point", "[0,0]", e));
  EXPECT_FALSE(Near("near;minDistance==1112", "Point", "[0,0]", e));
  // Along any meridian it is the same: (10,45) to (10,45.01).
  EXPECT_FALSE(Near("near;maxDistance==1111.9", "Point", "[10,45]", GeoPoint(10, 45.01)));
  EXPECT_TRUE(Near("near;maxDistance==1112", "Point", "[10,45]", GeoPoint(10, 45.01)));
  // Along latitude 60, 0.01° of longitude is about half as long: 1,111.95·cos 60° = 555.98 m.
  EXPECT_FALSE(Near("near;maxDistance==555.9", "Point", "[0,60]", GeoPoint(0.01, 60)));
  EXPECT_TRUE(Near("near;maxDistance==556", "Point", "[0,60]", GeoPoint(0.01, 60)));
  // Both bounds: a ring from 1,000 to 1,200 m holds it, one from 1,200 to 2,000 m does not.
  EXPECT_TRUE(Near("near;minDistance==1000;maxDistance==1200", "Point", "[0,0]", e));
  EXPECT_FALSE(Near("near;minDistance==1200;maxDistance==2000", "Point", "[0,0]", e));
}

TEST(GeoNearTest, InclusiveBoundsAtZero) {
  // The same position: d = 0, within maxDistance 0 and at least minDistance 0.
  EXPECT_TRUE(Near("near;maxDistance==0", "Point", "[7,7]", GeoPoint(7, 7)));
  EXPECT_TRUE(Near("near;minDistance==0", "Point", "[7,7]", GeoPoint(7, 7)));
  EXPECT_FALSE(Near("near;minDistance==0.001", "Point", "[7,7]", GeoPoint(7, 7)));
}

TEST(GeoNearTest, PointToSegment) {
  // The segment (0,0)-(1,0) lies on the equator, a great circle.
  const std::string seg = "[[0,0],[1,0]]";
  // Foot of the perpendicular inside the segment: 0.01° of meridian, 1,111.95 m.
  EXPECT_FALSE(Near("near;maxDistance==1111.9", "LineString", seg, GeoPoint(0.5, 0.01)));
  EXPECT_TRUE(Near("near;maxDistance==1112", "LineString", seg, GeoPoint(0.5, 0.01)));
  // Beyond the end along the equator: 0.01° to (1,0), 1,111.95 m.
  EXPECT_FALSE(Near("near;maxDistance==1111.9", "LineString", seg, GeoPoint(1.01, 0)));
  EXPECT_TRUE(Near("near;maxDistance==1112", "LineString", seg, GeoPoint(1.01, 0)));
  // Diagonally beyond the end: to (1,0), √2·1,111.95 = 1,572.54 m.
  EXPECT_FALSE(Near("near;maxDistance==1572.4", "LineString", seg, GeoPoint(1.01, 0.01)));
  EXPECT_TRUE(Near("near;maxDistance==1572.7", "LineString", seg, GeoPoint(1.01, 0.01)));
  // On the segment: 0.
  EXPECT_TRUE(Near("near;maxDistance==0", "LineString", seg, GeoPoint(0.25, 0)));
}

TEST(GeoNearTest, PointToPolygon) {
  const std::string square = SquarePolygon(0, 0, 1, 1);
  // South of the equator edge: 1,111.95 m.
  EXPECT_FALSE(Near("near;maxDistance==1111.9", "Polygon", square, GeoPoint(0.5, -0.01)));
  EXPECT_TRUE(Near("near;maxDistance==1112", "Polygon", square, GeoPoint(0.5, -0.01)));
  // East of the meridian edge lon = 1 at latitude 0.5: R·asin(sin 0.01°·cos 0.5°) = 1,111.9085 m.
  EXPECT_FALSE(Near("near;maxDistance==1111.90", "Polygon", square, GeoPoint(1.01, 0.5)));
  EXPECT_TRUE(Near("near;maxDistance==1111.92", "Polygon", square, GeoPoint(1.01, 0.5)));
  // Inside: 0, so never at least 1 m away.
  EXPECT_TRUE(Near("near;maxDistance==0", "Polygon", square, GeoPoint(0.5, 0.5)));
  EXPECT_FALSE(Near("near;minDistance==1", "Polygon", square, GeoPoint(0.5, 0.5)));
  // In a hole, the distance is to the hole's edge: (5,5) is 1° of meridian from the hole
  // (4,4)-(6,6)'s south edge... but the west/east edges are nearer: R·asin(sin 1°·cos 5°).
  const std::string holed = fmt::format("[{},{}]", Square(0, 0, 10, 10), Square(4, 4, 6, 6));
  // R·asin(sin 1°·cos 5°) = 110,772.2 m; the south edge along latitude 4 is farther (~111 km).
  EXPECT_FALSE(Near("near;maxDistance==110700", "Polygon", holed, GeoPoint(5, 5)));
  EXPECT_TRUE(Near("near;maxDistance==110800", "Polygon", holed, GeoPoint(5, 5)));
}

TEST(GeoNearTest, BetweenLinesAndPolygonsTheClosestPointsCount) {
  // Two squares 0.01° apart east-west: meridian edges lon = 1 and lon = 1.01 over latitudes
  // [0,1]; they are closest at latitude 1: 1,111.9508·cos 1° = 1,111.7815 m.
  const std::string square = SquarePolygon(0, 0, 1, 1);
  const Geometry east = Geo("Polygon", SquarePolygon(1.01, 0, 2, 1));
  EXPECT_FALSE(Near("near;maxDistance==1111.7", "Polygon", square, east));
  EXPECT_TRUE(Near("near;maxDistance==1111.85", "Polygon", square, east));
  // Meridian lines lon = 0 over [0,1] and lon = 0.01 over [0.5,2]: the query's end (0,1) lies
  // beside the entity's line, 1,111.7815 m away (nearer than the entity's end (0.01,0.5),
  // 1,111.9085 m from the query).
  const Geometry line = Geo("LineString", "[[0.01,0.5],[0.01,2]]");
  EXPECT_FALSE(Near("near;maxDistance==1111.7", "LineString", "[[0,0],[0,1]]", line));
  EXPECT_TRUE(Near("near;maxDistance==1111.85", "LineString", "[[0,0],[0,1]]", line));
  // A line crossing the polygon is at distance 0.
  EXPECT_TRUE(Near("near;maxDistance==0", "Polygon", square, Geo("LineString", "[[-1,0.5],[2,0.5]]")));
  EXPECT_FALSE(Near("near;minDistance==1", "Polygon", square, Geo("LineString", "[[-1,0.5],[2,0.5]]")));
  // A MultiPoint query: the nearest of its points counts.
  EXPECT_TRUE(Near("near;maxDistance==1112", "MultiPoint", "[[50,50],[0,0.01]]", GeoPoint(0, 0)));
  EXPECT_FALSE(Near("near;maxDistance==1111", "MultiPoint", "[[50,50],[0,0.01]]", GeoPoint(0, 0)));
}

TEST(GeoNearTest, AcrossTheAntimeridianDistancesAreSpherical) {
  // (179.995,0) to (-179.995,0) is 0.01° of equator, 1,111.95 m, the short way round.
  EXPECT_TRUE(Near("near;maxDistance==1112", "Point", "[179.995,0]", GeoPoint(-179.995, 0)));
  EXPECT_FALSE(Near("near;maxDistance==1111", "Point", "[179.995,0]", GeoPoint(-179.995, 0)));
}

// Boost.Geometry's haversine and cross-track strategies are the oracle for the distances.
namespace bg = boost::geometry;
using DegreePoint = bg::model::point<double, 2, bg::cs::spherical_equatorial<bg::degree>>;
constexpr double kRadius = 6'371'008.8;

// True if near answers `expected_metres` at both sides of it: within 1 mm + 1e-6 relative.
void ExpectNearAt(std::string_view type, const std::string& coords, double lon, double lat,
                  double expected_metres) {
  double slack = 0.001 + expected_metres * 1e-6;
  std::string where = fmt::format("{} {} point {},{}", type, coords, lon, lat);
  std::string above = fmt::format("near;maxDistance=={}", expected_metres + slack);
  EXPECT_TRUE(Query(above, type, coords).MatchesPoint(lon, lat)) << above << " " << where;
  if (expected_metres > slack) {
    std::string below = fmt::format("near;maxDistance=={}", expected_metres - slack);
    EXPECT_FALSE(Query(below, type, coords).MatchesPoint(lon, lat)) << below << " " << where;
  }
}

TEST(GeoNearTest, DistancesAgreeWithBoostStrategies) {
  const bg::strategy::distance::haversine<double> haversine(kRadius);
  const bg::strategy::distance::cross_track<double> cross_track(kRadius);
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> lon(-170, 170), lat(-80, 80), angle(0, 2 * M_PI), size_log(-4.5, 0.5);
  auto offset = [&](double x, double y) {  // a point 10^[-4.5, 0.5] degrees away in any direction
    double r = std::pow(10.0, size_log(rng)), a = angle(rng);
    return std::pair(x + r * std::cos(a), y + r * std::sin(a));
  };
  for (int i = 0; i < 300; ++i) {
    double ax = lon(rng), ay = lat(rng);
    auto [bx, by] = offset(ax, ay);
    auto [px, py] = offset(ax, ay);
    double to_segment = cross_track.apply(DegreePoint(px, py), DegreePoint(ax, ay), DegreePoint(bx, by));
    ExpectNearAt("LineString", fmt::format("[[{},{}],[{},{}]]", ax, ay, bx, by), px, py, to_segment);
    double to_points = std::min(haversine.apply(DegreePoint(px, py), DegreePoint(ax, ay)),
                                haversine.apply(DegreePoint(px, py), DegreePoint(bx, by)));
    ExpectNearAt("MultiPoint", fmt::format("[[{},{}],[{},{}]]", ax, ay, bx, by), px, py, to_points);
  }
}

// ---- Matches on entities ----------------------------------------------------------------

Instance GeoInstance(std::string_view geojson, std::string_view dataset_id = "") {
  Instance inst;
  inst["type"] = "GeoProperty";
  inst["value"] = Json(geojson);
  if (!dataset_id.empty()) inst["datasetId"] = dataset_id;
  return inst;
}

TEST(GeoMatchesTest, AnyGeoPropertyInstanceOfTheAttribute) {
  GeoQuery q = Query("within", "Polygon", SquarePolygon(0, 0, 2, 2));
  Entity e;
  e.id = "urn:ngsi-ld:Thing:1";
  EXPECT_FALSE(q.Matches(e));  // no location at all
  Instance property;
  property["type"] = "Property";
  property["value"] = Json(R"({"type":"Point","coordinates":[1,1]})");
  e.attrs[kLocation] = {property};
  EXPECT_FALSE(q.Matches(e));  // a Property holding GeoJSON is not a GeoProperty
  e.attrs[kLocation].push_back(GeoInstance(R"({"type":"Point","coordinates":[5,5]})", "urn:a"));
  EXPECT_FALSE(q.Matches(e));
  e.attrs[kLocation].push_back(GeoInstance(R"({"type":"Point","coordinates":[1,1,30]})", "urn:b"));
  EXPECT_TRUE(q.Matches(e));
  // Another attribute does not count.
  GeoQuery other = GeoQuery::Parse("within", "Polygon", std::string_view(SquarePolygon(0, 0, 2, 2)),
                                   "https://uri.etsi.org/ngsi-ld/observationSpace").value();
  EXPECT_FALSE(other.Matches(e));
}

TEST(GeoMatchesTest, UnreadableStoredGeometriesNeverMatch) {
  GeoQuery intersects = Query("intersects", "Polygon", SquarePolygon(-10, -10, 10, 10));
  GeoQuery disjoint = Query("disjoint", "Polygon", SquarePolygon(-10, -10, 10, 10));
  const std::string_view unreadable[] = {
      R"("urn:ngsi-ld:null")",
      R"({"type":"Point"})",
      R"({"type":"Point","coordinates":[0,95]})",
      R"({"type":"Circle","coordinates":[0,0]})",
      R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]]]})",
  };
  for (std::string_view value : unreadable) {
    Entity e;
    e.attrs[kLocation] = {GeoInstance(value)};
    EXPECT_FALSE(intersects.Matches(e)) << value;
    EXPECT_FALSE(disjoint.Matches(e)) << value;
  }
}

TEST(GeoMatchesTest, StoredGeometriesSkipTheSelfIntersectionCheck) {
  // A bow tie: the query side rejects it, a stored one is still evaluated.
  const std::string_view bowtie = R"({"type":"Polygon","coordinates":[[[0,0],[2,2],[2,0],[0,3],[0,0]]]})";
  EXPECT_FALSE(Geometry::FromGeoJson(Json(bowtie), "location").ok());
  Entity e;
  e.attrs[kLocation] = {GeoInstance(bowtie)};
  EXPECT_TRUE(Query("intersects", "Point", "[1.9,0.5]").Matches(e));
  EXPECT_FALSE(Query("intersects", "Point", "[5,5]").Matches(e));
  EXPECT_TRUE(Query("near;maxDistance==1000", "Point", "[1.9,0.5]").Matches(e));
}

// ---- CandidateBox -------------------------------------------------------------------------

TEST(GeoCandidateBoxTest, ShapesOfTheBox) {
  auto box = Query("within", "Polygon", SquarePolygon(1, 2, 3, 4)).CandidateBox();
  ASSERT_TRUE(box.has_value());
  EXPECT_EQ(box->min_lon, 1);
  EXPECT_EQ(box->min_lat, 2);
  EXPECT_EQ(box->max_lon, 3);
  EXPECT_EQ(box->max_lat, 4);
  for (std::string_view georel : {"contains", "intersects", "overlaps", "equals"}) {
    EXPECT_TRUE(Query(georel, "Polygon", SquarePolygon(1, 2, 3, 4)).CandidateBox().has_value()) << georel;
  }
  EXPECT_FALSE(Query("disjoint", "Polygon", SquarePolygon(1, 2, 3, 4)).CandidateBox().has_value());
  EXPECT_FALSE(Query("near;minDistance==10", "Point", "[0,0]").CandidateBox().has_value());

  // 1,111.9508 m is 0.01° of latitude; at the equator the box grows 0.01°/cos(0.01°) in longitude.
  auto near = Query("near;maxDistance==1111.9508", "Point", "[0,0]").CandidateBox();
  ASSERT_TRUE(near.has_value());
  EXPECT_NEAR(near->max_lat, 0.01, 1e-8);
  EXPECT_NEAR(near->min_lat, -0.01, 1e-8);
  EXPECT_NEAR(near->max_lon, 0.01, 1e-8);
  EXPECT_NEAR(near->min_lon, -0.01, 1e-8);
  // At latitude 60 the longitude margin doubles: 0.01° / cos(60.01°) = 0.02001°.
  auto north = Query("near;maxDistance==1111.9508", "Point", "[10,60]").CandidateBox();
  ASSERT_TRUE(north.has_value());
  EXPECT_NEAR(north->max_lon - 10, 0.01 / std::cos(60.01 * M_PI / 180), 1e-8);
  EXPECT_NEAR(north->max_lat, 60.01, 1e-8);
  // Reaching the pole: every longitude, latitude clamped to 90.
  auto pole = Query("near;maxDistance==2000", "Point", "[10,89.99]").CandidateBox();
  ASSERT_TRUE(pole.has_value());
  EXPECT_EQ(pole->min_lon, -180);
  EXPECT_EQ(pole->max_lon, 180);
  EXPECT_EQ(pole->max_lat, 90);
  // Crossing the antimeridian: a box cannot wrap, so every longitude.
  auto wrap = Query("near;maxDistance==2000", "Point", "[179.995,0]").CandidateBox();
  ASSERT_TRUE(wrap.has_value());
  EXPECT_EQ(wrap->min_lon, -180);
  EXPECT_EQ(wrap->max_lon, 180);
  EXPECT_NEAR(wrap->max_lat, 2000 / 6371008.8 * 180 / M_PI, 1e-8);
  // A query edge along latitude 60 from lon 0 to 60 is a great-circle arc for distances,
  // bulging to about 63.4°; the box reaches past it.
  auto arc = Query("near;maxDistance==10", "LineString", "[[0,60],[60,60]]").CandidateBox();
  ASSERT_TRUE(arc.has_value());
  EXPECT_GT(arc->max_lat, 63.4);
  EXPECT_TRUE(Query("near;maxDistance==10", "LineString", "[[0,60],[60,60]]").MatchesPoint(30, 63.4349488));
}

TEST(GeoCandidateBoxTest, ArcBulgeAgreesWithBoostEnvelope) {
  // For maxDistance 0 the box is the query's extent: for one arc, Boost's spherical envelope.
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> lon(-170, 170), lat(-85, 85), dlon(-60, 60), dlat(-20, 20);
  for (int i = 0; i < 300; ++i) {
    double ax = lon(rng), ay = lat(rng);
    double bx = std::clamp(ax + dlon(rng), -180.0, 180.0), by = std::clamp(ay + dlat(rng), -90.0, 90.0);
    bg::model::box<DegreePoint> envelope;
    bg::envelope(bg::model::segment<DegreePoint>(DegreePoint(ax, ay), DegreePoint(bx, by)), envelope);
    auto box = Query("near;maxDistance==0", "LineString", fmt::format("[[{},{}],[{},{}]]", ax, ay, bx, by)).CandidateBox();
    ASSERT_TRUE(box.has_value());
    const double max_lat = bg::get<bg::max_corner, 1>(envelope), min_lat = bg::get<bg::min_corner, 1>(envelope);
    EXPECT_NEAR(box->max_lat, max_lat, 1e-7) << ax << "," << ay << " " << bx << "," << by;
    EXPECT_NEAR(box->min_lat, min_lat, 1e-7) << ax << "," << ay << " " << bx << "," << by;
  }
}

// Random query geometries at random places, and random points around them.
struct RandomCase {
  std::string type, coords;
};

RandomCase RandomQuery(std::mt19937& rng) {
  std::uniform_real_distribution<double> lon(-179, 179), lat(-85, 85), size(0.0001, 3);
  std::uniform_int_distribution<int> kind(0, 4);
  double x = lon(rng), y = lat(rng), s = size(rng);
  double x1 = std::min(180.0, x + s), y1 = std::min(90.0, y + s);
  switch (kind(rng)) {
    case 0: return {"Point", fmt::format("[{},{}]", x, y)};
    case 1: return {"MultiPoint", fmt::format("[[{},{}],[{},{}]]", x, y, x1, y1)};
    case 2: return {"LineString", fmt::format("[[{},{}],[{},{}],[{},{}]]", x, y, x1, y, x1, y1)};
    case 3: return {"Polygon", SquarePolygon(x, y, x1, y1)};
    default:
      return {"Polygon", fmt::format("[[[{0},{1}],[{2},{1}],[{0},{3}],[{0},{1}]]]", x, y, x1, y1)};
  }
}

// A point near the query's first position: within a few times `spread` degrees.
std::pair<double, double> RandomPointNear(std::mt19937& rng, const Geometry& q, double spread) {
  GeoBox b = q.Bounds();
  std::uniform_real_distribution<double> u(-1, 1), t(0, 1);
  double lon = b.min_lon + t(rng) * (b.max_lon - b.min_lon) + u(rng) * spread;
  double lat = b.min_lat + t(rng) * (b.max_lat - b.min_lat) + u(rng) * spread;
  if (lon > 180) lon -= 360;
  if (lon < -180) lon += 360;
  return {lon, std::clamp(lat, -90.0, 90.0)};
}

bool InBox(const GeoBox& b, double lon, double lat) {
  return lon >= b.min_lon && lon <= b.max_lon && lat >= b.min_lat && lat <= b.max_lat;
}

TEST(GeoCandidateBoxTest, EveryMatchingPointLiesInTheBox) {
  std::mt19937 rng(20240601);
  std::uniform_real_distribution<double> metres_log(0, 6);  // 1 m .. 1,000 km
  int matched = 0;
  for (int round = 0; round < 400; ++round) {
    RandomCase rc = RandomQuery(rng);
    double metres = std::pow(10.0, metres_log(rng));
    std::string georels[] = {fmt::format("near;maxDistance=={}", metres),
                             fmt::format("near;minDistance==1;maxDistance=={}", metres), "within",
                             "intersects", "contains", "equals", "overlaps"};
    Geometry qg = Geo(rc.type, rc.coords);
    double spread = 3 * metres / 111195.0 + 0.001;
    for (const auto& georel : georels) {
      GeoQuery q = Query(georel, rc.type, rc.coords);
      auto box = q.CandidateBox();
      ASSERT_TRUE(box.has_value()) << georel;
      for (int i = 0; i < 60; ++i) {
        auto [lon, lat] = RandomPointNear(rng, qg, spread);
        if (!q.MatchesPoint(lon, lat)) continue;
        ++matched;
        EXPECT_TRUE(InBox(*box, lon, lat)) << georel << " " << rc.type << " " << rc.coords << " point "
                                           << lon << "," << lat;
      }
    }
  }
  EXPECT_GT(matched, 10'000);  // the property was exercised, not vacuously true
}

// ---- MatchesPoint == MatchesGeometry(Point) -------------------------------------------------

// A star-shaped ring around (cx,cy) with `n` points alternating between radii r1 and r2,
// closed, as JSON; its vertices are appended to `vertices`.
std::string StarRing(double cx, double cy, int n, double r1, double r2,
                     std::vector<std::pair<double, double>>& vertices) {
  std::string s = "[";
  for (int i = 0; i <= n; ++i) {
    double a = 2 * M_PI * (i % n) / n, r = i % 2 ? r2 : r1;
    double x = cx + r * std::cos(a), y = cy + r * std::sin(a);
    s += fmt::format("{}[{},{}]", i ? "," : "", x, y);
    vertices.emplace_back(x, y);
  }
  return s + "]";
}

TEST(GeoFastPathTest, MatchesPointAgreesWithMatchesGeometry) {
  struct QueryShape {
    std::string_view type;
    std::string coords;
    std::vector<std::pair<double, double>> vertices;  // points that lie on the boundary exactly
  };
  std::vector<QueryShape> shapes = {
      {"Polygon", fmt::format("[{},{}]", Square(0, 0, 10, 10), Square(4, 4, 6, 6)), {}},
      {"Polygon", "[[[0,0],[10,0],[5,8],[0,0]]]", {}},
      {"MultiPolygon", fmt::format("[{},{}]", SquarePolygon(0, 0, 4, 4), SquarePolygon(6, 6, 10, 10)), {}},
      {"LineString", "[[0,0],[5,5],[10,0]]", {}},
      {"MultiLineString", "[[[0,5],[10,5]],[[5,0],[5,10]]]", {}},
      {"MultiPoint", "[[1,1],[5,5],[9,2]]", {}},
      {"Point", "[5,5]", {}},
  };
  // Stars with hundreds of edges spread over many longitude bands, one with a hole, and a
  // MultiPolygon of two.
  QueryShape star{"Polygon", "", {}};
  star.coords = fmt::format("[{},{}]", StarRing(5, 5, 400, 6, 4, star.vertices),
                            StarRing(5, 5, 40, 2, 1.5, star.vertices));
  QueryShape stars{"MultiPolygon", "", {}};
  stars.coords = fmt::format("[[{}],[{}]]", StarRing(3, 5, 300, 3, 2, stars.vertices),
                             StarRing(8.5, 5, 200, 2, 1, stars.vertices));
  shapes.push_back(std::move(star));
  shapes.push_back(std::move(stars));

  const std::string_view georels[] = {"within", "contains", "intersects", "disjoint", "overlaps", "equals",
                                      "near;maxDistance==100000", "near;minDistance==50000",
                                      "near;minDistance==10000;maxDistance==200000", "near;maxDistance==0"};
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> coord(-1, 11);
  std::uniform_int_distribution<int> grid(-1, 11), pick(0, 4);
  int checked = 0, matched = 0;
  for (const auto& shape : shapes) {
    std::uniform_int_distribution<size_t> vertex(0, shape.vertices.empty() ? 0 : shape.vertices.size() - 1);
    for (std::string_view georel : georels) {
      GeoQuery q = Query(georel, shape.type, shape.coords);
      for (int i = 0; i < 1500; ++i) {
        // Mix random points with grid points, half-grid points and vertices that land on the
        // vertices, edges and lines of the query exactly.
        double lon = coord(rng), lat = coord(rng);
        switch (pick(rng)) {
          case 0: lon = grid(rng), lat = grid(rng); break;
          case 1: lon = grid(rng) / 2.0 + 2.5, lat = grid(rng) / 2.0 + 2.5; break;
          case 2:
            if (!shape.vertices.empty()) std::tie(lon, lat) = shape.vertices[vertex(rng)];
            break;
          default: break;
        }
        bool fast = q.MatchesPoint(lon, lat);
        ASSERT_EQ(fast, q.MatchesGeometry(GeoPoint(lon, lat)))
            << georel << " " << shape.type << " " << shape.coords.substr(0, 200) << " point " << lon << "," << lat;
        ++checked;
        matched += fast;
      }
    }
  }
  EXPECT_EQ(checked, 9 * 10 * 1500);
  EXPECT_GT(matched, checked / 5);
}

TEST(GeoFastPathTest, NonFinitePositionsNeverMatch) {
  GeoQuery disjoint = Query("disjoint", "Point", "[0,0]");
  EXPECT_FALSE(disjoint.MatchesPoint(std::nan(""), 0));
  EXPECT_FALSE(disjoint.MatchesPoint(0, INFINITY));
  EXPECT_FALSE(Query("near;minDistance==1", "Point", "[0,0]").MatchesPoint(std::nan(""), 0));
}


// ---- binary copies (EncodeGeometry / MatchesEncoded) -------------------------------------

TEST(GeoEncodingTest, EncodedCopiesAnswerEveryRelationAsTheGeoJsonDoes) {
  const std::vector<std::pair<std::string, std::string>> shapes = {
      {"Point", "[1,1]"},
      {"MultiPoint", "[[1,1],[3,3],[6,6]]"},
      {"LineString", "[[0,0],[2,2],[4,1]]"},
      {"MultiLineString", "[[[0,0],[2,2]],[[5,5],[6,7]]]"},
      {"Polygon", "[" + Square(0, 0, 4, 4) + "," + "[[1,1],[1,2],[2,2],[2,1],[1,1]]" + "]"},
      {"MultiPolygon", "[" + SquarePolygon(0, 0, 1, 1) + "," + SquarePolygon(3, 3, 5, 5) + "]"},
  };
  const std::vector<GeoQuery> queries = {
      Query("within", "Polygon", SquarePolygon(-1, -1, 5, 5)),
      Query("contains", "Point", "[1.5,1.5]"),
      Query("intersects", "Polygon", SquarePolygon(1.2, 1.2, 1.8, 1.8)),
      Query("intersects", "LineString", "[[0,3],[3,0]]"),
      Query("overlaps", "Polygon", SquarePolygon(3, 3, 8, 8)),
      Query("disjoint", "Point", "[10,10]"),
      Query("equals", "LineString", "[[0,0],[2,2],[4,1]]"),
      Query("near;maxDistance==120000", "Point", "[2,5]"),
      Query("near;minDistance==300000", "Point", "[2,5]"),
  };
  int matched = 0;
  for (const auto& [type, coords] : shapes) {
    json::value geojson = Json(fmt::format(R"({{"type":"{}","coordinates":{}}})", type, coords));
    auto bytes = EncodeGeometry(geojson, 4096);
    ASSERT_TRUE(bytes.has_value()) << type;
    for (const auto& q : queries) {
      std::optional<bool> decided = q.MatchesEncoded(*bytes);
      ASSERT_TRUE(decided.has_value()) << type;
      EXPECT_EQ(*decided, q.MatchesValue(geojson)) << type << " " << static_cast<int>(q.relation());
      matched += *decided;
    }
    // Every truncation of the copy, and a wrong tag, is refused rather than misread.
    for (size_t n = 0; n < bytes->size(); ++n) {
      EXPECT_FALSE(queries[0].MatchesEncoded(std::string_view(*bytes).substr(0, n)).has_value()) << type << " " << n;
    }
    std::string wrong = *bytes;
    wrong[0] = 'x';
    EXPECT_FALSE(queries[0].MatchesEncoded(wrong).has_value());
  }
  EXPECT_GT(matched, 10);
}

TEST(GeoEncodingTest, RefusesWhatItCannotReadOrWhatIsTooLarge) {
  EXPECT_FALSE(EncodeGeometry(Json(R"({"type":"Circle","coordinates":[1,1]})"), 4096).has_value());
  EXPECT_FALSE(EncodeGeometry(Json(R"({"type":"Point","coordinates":"x"})"), 4096).has_value());
  const json::value line = Json(R"({"type":"LineString","coordinates":[[0,0],[1,1],[2,2]]})");
  // 1 tag byte + 4 count bytes + 3 positions of 16 bytes.
  EXPECT_EQ(EncodeGeometry(line, 53).value_or("").size(), 53u);
  EXPECT_FALSE(EncodeGeometry(line, 52).has_value());
}

}  // namespace
}  // namespace cityhub::ngsild
