// Geo-queries (GS CIM 009 v1.8 §4.10, §5.2.13, §5.7.2): the georel grammar, the query geometry
// and the relations between an entity's GeoProperty and the query geometry.
//
// Parsing. georel is `near;maxDistance==<m>`, `near;minDistance==<m>` (both may be given, in
// any order: an extension of the §4.10 grammar, which allows one), `within`, `contains`,
// `intersects`, `overlaps`, `disjoint` or `equals`. A distance is a plain decimal number of
// metres in [0, 40,000,000] (one Earth circumference; nothing is farther apart). Coordinates
// arrive as JSON text (GET) or as JSON, possibly a string holding JSON text (the GeoQuery of
// POST /entityOperations/query, §5.2.13). A query geometry is checked strictly: structure,
// WGS84 ranges, closed rings of at least 4 positions, LineStrings of at least 2, non-empty
// multi geometries, at most kMaxQueryPositions positions (TooComplexQuery), and then
// Boost.Geometry's is_valid (self-intersections, spikes, holes outside or nested, overlapping
// polygons of a MultiPolygon, collapsed geometries). Ring orientation is not checked: either
// winding is accepted and bg::correct turns exterior rings counter-clockwise (RFC 7946 order).
// An entity geometry inside Matches() is read with the same structural checks but without
// is_valid: the write side validated it with a weaker check, and a stored geometry that cannot
// be read (or makes Boost.Geometry throw) simply never matches.
//
// Relations. A geometry is held as a planar Boost.Geometry shape (bg::cs::cartesian on lon/lat
// degrees) for the topological relations and, when near needs it, as spherical linework (its
// positions, and its edges as great-circle arcs with a lon/lat box around each). Relations are
// OGC/DE-9IM on the planar shapes, as PostGIS `geometry` does; Boost's named predicates
// (within, overlaps, equals) static_assert for some type pairs, so every relation is a
// bg::relate mask, which Boost 1.81 implements for all 36 pairs of the six types:
//   within      entity within query     T*F**F***  (the entity's interior meets the query's
//                                                  interior and nothing of it is outside: a
//                                                  point on the query's boundary is NOT within)
//   contains    entity contains query   the same mask with the operands swapped
//   intersects  not disjoint            FF*FF**** negated (boundary contact counts)
//   disjoint                            FF*FF****
//   overlaps    same dimension only     T*T***T** (points, areas), 1*T***T** (lines)
//   equals      topologically equal     T*F**FFF*  (ring start and winding do not matter)
// The entity envelope is checked against the query envelope first (exact comparisons).
//
// Distances (near). d(E, Q) = 0 if E and Q intersect (the planar test above); otherwise the
// smallest great-circle distance between a position of one and an edge of the other, on a
// sphere of radius R = 6,371,008.8 m (the IUGG mean radius), d = R·θ with, for the unit
// vectors p, a, b of the positions and n the unit normal of an arc's plane:
//   point to point  θ = atan2(|p × a|, p · a)                  (the haversine distance)
//   point to arc    θ = atan2(|p · n|, |n × p|) when the foot of the perpendicular lies on
//                   the arc ((a × p)·n ≥ 0 and (p × b)·n ≥ 0), else the angle to the nearer
//                   end                                           (the cross-track distance)
// These are the distances of Boost's haversine and cross_track strategies (the unit test uses
// those as the oracle), computed on unit vectors and arc normals prepared once per geometry:
// Boost's strategies start from lon/lat with several trigonometric calls per pair, which made
// near against a 100-edge polygon entity cost 32 µs; this costs 14 µs, parsing included. atan2
// keeps every distance accurate, from millimetres to antipodes. Two arcs that do not
// cross are closest at an end of one of them, so the minimum over position/arc pairs in both
// directions is the exact distance; from a pointlike geometry only its positions to the
// other's linework count. maxDistance and minDistance are inclusive: max ≥ d ≥ min.
// Trade-off: relations see straight lon/lat edges while distances see great-circle arcs (as
// PostGIS geography, MongoDB 2dsphere and S2 do); the two differ by an arc's bulge, about
// L²·tan φ / 8R (4 m for a 111 km east-west edge at 1°, 3 m for a 10 km edge at 60°
// latitude), which is nothing at city scale.
//
// Growing a box by a distance. Every point within δ = d/R of a point at latitude φ has a
// latitude within δ of φ and a longitude within asin(sin δ / cos φ) of its longitude, and
// δ / cos(|φ| + δ) is never smaller. So a lon/lat box grown by δ in latitude and by δ / cos φmax
// in longitude, φmax being the largest |latitude| the grown box reaches, holds every point
// within d of the box; near a pole, or where it would wrap the antimeridian, it takes every
// longitude (a GeoBox cannot wrap). An arc's box holds its ends and, when the highest or
// lowest point of its great circle lies on it, that point's latitude: arcs bulge poleward.
// Uses: CandidateBox() for near is the query's extent (its positions and arcs) grown by
// maxDistance; and near only measures the pairs whose boxes meet within the horizon
// h = max(maxDistance, minDistance) — a pair farther apart than h cannot change either
// comparison, so it is skipped, and an entity whose extent does not meet the query's grown
// extent is decided without measuring anything. The cost is then a box test per pair plus a
// distance per nearby pair.
//
// MatchesPoint is the fast path for index-resident positions: envelope reject; for Polygon and
// MultiPolygon queries a point locator (PolygonBands) that buckets the edges by longitude and
// feeds only the edges whose longitudes span the point to Boost's own winding strategy, in the
// order and direction bg::within walks them, so it answers exactly as Boost does; for near one
// pass over the query's nearby arcs or positions. Its answers equal MatchesGeometry(Point)'s
// (the unit test checks thousands of random points per relation). Nothing is cached between
// calls; a GeoQuery is immutable after Parse.
#include "ngsild/geo.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <numbers>
#include <utility>
#include <variant>
#include <vector>

// GCC 12 reports a false -Wmaybe-uninitialized inside Boost.Geometry's envelope code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/geometry.hpp>
#pragma GCC diagnostic pop
#include <fmt/format.h>

#include "util/json.h"

namespace cityhub::ngsild {
namespace bg = boost::geometry;
namespace json = boost::json;

namespace {

using Point = bg::model::d2::point_xy<double>;
using MultiPoint = bg::model::multi_point<Point>;
using LineString = bg::model::linestring<Point>;
using MultiLineString = bg::model::multi_linestring<LineString>;
using Polygon = bg::model::polygon<Point, /*ClockWise=*/false, /*Closed=*/true>;
using MultiPolygon = bg::model::multi_polygon<Polygon>;
using Box = bg::model::box<Point>;
// The index of each alternative is its dimension times two (pointlike, linear, areal).
using Shape = std::variant<Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon>;

struct Vec3 {
  double x, y, z;
};

// A position as a unit vector from the Earth's centre and in lon/lat degrees.
struct Position {
  Vec3 unit;
  Point lonlat;
};
// A great-circle arc: its ends, the unit normal of its plane (zero if the ends are antipodal,
// when the arc is undefined) and a lon/lat box (degrees) holding all of it.
struct Arc {
  Vec3 from, to, normal;
  GeoBox box;
};
// A geometry as near sees it: its positions and its edges as arcs (none for pointlike
// geometries), and a box holding all of them.
struct SphericalLinework {
  std::vector<Position> positions;
  std::vector<Arc> arcs;
  GeoBox extent{180, 90, -180, -90};  // empty until a position is added
};

// Locates points in a Polygon or MultiPolygon with Boost's winding strategy over only the
// edges that can matter (see the file comment). Immutable after construction.
class PolygonBands {
 public:
  explicit PolygonBands(const Polygon& polygon);
  explicit PolygonBands(const MultiPolygon& polygons);
  // Boost's point_in_geometry codes: 1 in the interior, 0 on the boundary, -1 outside.
  int Locate(const Point& p) const;

 private:
  using Winding = bg::strategy::within::cartesian_winding<>;
  struct Edge {
    Point from, to;
    uint32_t ring;  // rings are numbered polygon by polygon: exterior, then its holes
  };
  struct Ring {
    uint32_t polygon;
    bool exterior;
  };

  void AddPolygon(const Polygon& polygon, uint32_t index, std::vector<Edge>& edges);
  void Bucket(const std::vector<Edge>& edges);
  size_t BandOf(double lon) const;
  int RingCode(const Point& p, const Edge*& it, const Edge* end) const;
  int PolygonCode(const Point& p, const Edge*& it, const Edge* end) const;

  std::vector<Ring> rings_;
  std::vector<Edge> edges_;          // band by band; within a band in ring order
  std::vector<size_t> band_starts_;  // band b holds edges_[band_starts_[b], band_starts_[b + 1])
  double lon0_ = 0, band_width_ = 1;
};

}  // namespace

struct Geometry::Impl {
  Shape shape;
  Box bounds;
  SphericalLinework sphere;            // filled when near may use the geometry
  std::optional<PolygonBands> bands;   // query Polygons and MultiPolygons only
};

namespace {

constexpr double kEarthRadiusMetres = 6'371'008.8;
constexpr double kMaxDistanceMetres = 40'000'000;
constexpr size_t kMaxQueryPositions = 10'000;
constexpr double kRadiansPerDegree = std::numbers::pi / 180;
constexpr double kDegreesPerRadian = 180 / std::numbers::pi;
constexpr double kInfinity = std::numeric_limits<double>::infinity();

constexpr std::string_view kTypeNames[] = {"Point",           "MultiPoint", "LineString",
                                           "MultiLineString", "Polygon",    "MultiPolygon"};
constexpr std::string_view kRelationList =
    "near;maxDistance==<metres>, near;minDistance==<metres>, within, contains, intersects, "
    "overlaps, disjoint or equals";

// Shortens client text quoted in an error so a huge value cannot bloat the response.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  if (s.size() <= kMax) return fmt::format("'{}'", s);
  return fmt::format("'{}…'", s.substr(0, kMax));
}

bool IsGeometryType(std::string_view t) {
  return std::find(std::begin(kTypeNames), std::end(kTypeNames), t) != std::end(kTypeNames);
}

// ---- georel ------------------------------------------------------------------------------

struct Georel {
  GeoQuery::Relation relation;
  std::optional<double> max_distance;
  std::optional<double> min_distance;
};

std::optional<GeoQuery::Relation> RelationNamed(std::string_view name) {
  using R = GeoQuery::Relation;
  static constexpr std::pair<std::string_view, R> kNames[] = {
      {"near", R::kNear},         {"within", R::kWithin},     {"contains", R::kContains},
      {"intersects", R::kIntersects}, {"overlaps", R::kOverlaps}, {"disjoint", R::kDisjoint},
      {"equals", R::kEquals}};
  for (const auto& [n, r] : kNames) {
    if (n == name) return r;
  }
  return std::nullopt;
}

// A decimal number of metres in [0, kMaxDistanceMetres]; nullopt for anything else (a '+'
// sign, spaces or trailing text, NaN, infinities, negative or larger values).
std::optional<double> ParseMetres(std::string_view s) {
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (!std::isfinite(d) || d < 0 || d > kMaxDistanceMetres) return std::nullopt;
  return d;
}

Status GeorelError(std::string_view georel, std::string_view what) {
  return Status::BadRequestData(fmt::format("georel {}: {}", Quote(georel), what));
}

// Reads one `maxDistance==<m>` / `minDistance==<m>` modifier of near into `out`.
Status ParseNearModifier(std::string_view georel, std::string_view modifier, Georel& out) {
  size_t eq = modifier.find("==");
  if (eq == std::string_view::npos) {
    return GeorelError(georel, fmt::format("modifier {} is not maxDistance==<metres> or "
                                           "minDistance==<metres>", Quote(modifier)));
  }
  std::string_view name = modifier.substr(0, eq);
  std::optional<double>* slot = name == "maxDistance"   ? &out.max_distance
                                : name == "minDistance" ? &out.min_distance
                                                        : nullptr;
  if (!slot) {
    return GeorelError(georel, fmt::format("unknown modifier {}; near takes maxDistance and "
                                           "minDistance", Quote(name)));
  }
  if (slot->has_value()) return GeorelError(georel, fmt::format("{} is given twice", name));
  *slot = ParseMetres(modifier.substr(eq + 2));
  if (!slot->has_value()) {
    return GeorelError(georel, fmt::format("{} must be a number of metres from 0 to {:.0f}, not {}",
                                           name, kMaxDistanceMetres, Quote(modifier.substr(eq + 2))));
  }
  return Status::Ok();
}

Result<Georel> ParseGeorel(std::string_view text) {
  if (text.empty()) return Status::BadRequestData(fmt::format("georel is empty; expected {}", kRelationList));
  std::string_view name = text.substr(0, text.find(';'));
  auto relation = RelationNamed(name);
  if (!relation) {
    return GeorelError(text, fmt::format("unknown relation {}; expected {}", Quote(name), kRelationList));
  }
  Georel g{*relation, std::nullopt, std::nullopt};
  std::string_view rest = text.substr(name.size());
  if (g.relation != GeoQuery::Relation::kNear) {
    if (!rest.empty()) return GeorelError(text, fmt::format("{} takes no modifiers", name));
    return g;
  }
  if (rest.empty()) {
    return GeorelError(text, "near needs maxDistance==<metres> and/or minDistance==<metres>");
  }
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the ';'
    std::string_view modifier = rest.substr(0, rest.find(';'));
    CITYHUB_RETURN_IF_ERROR(ParseNearModifier(text, modifier, g));
    rest.remove_prefix(modifier.size());
  }
  if (g.min_distance && g.max_distance && *g.min_distance > *g.max_distance) {
    return GeorelError(text, fmt::format("minDistance {} is greater than maxDistance {}",
                                         *g.min_distance, *g.max_distance));
  }
  return g;
}

// ---- reading coordinates -----------------------------------------------------------------

// Reads GeoJSON coordinates into a planar Shape, checking structure, ranges, ring closure and
// sizes. Errors are BadRequestData naming `label` and the index path to the offending member,
// e.g. "coordinates[0][4]: latitude 95 is outside [-90, 90]"; more than `max_positions`
// positions is TooComplexQuery.
class CoordinateReader {
 public:
  CoordinateReader(std::string label, size_t max_positions)
      : label_(std::move(label)), max_positions_(max_positions) {}

  // `type` is one of kTypeNames.
  Result<Shape> Read(std::string_view type, const json::value& c) {
    if (type == "Point") return ReadAs<Point>(c);
    if (type == "MultiPoint") return ReadAs<MultiPoint>(c);
    if (type == "LineString") return ReadAs<LineString>(c);
    if (type == "MultiLineString") return ReadAs<MultiLineString>(c);
    if (type == "Polygon") return ReadAs<Polygon>(c);
    return ReadAs<MultiPolygon>(c);
  }

 private:
  template <typename T>
  Result<Shape> ReadAs(const json::value& c) {
    T shape;
    CITYHUB_RETURN_IF_ERROR(ReadInto(c, shape));
    bg::correct(shape);  // exterior rings counter-clockwise, holes clockwise
    return Shape(std::move(shape));
  }

  Status ReadInto(const json::value& v, Point& out) {
    if (++positions_ > max_positions_) {
      return Status::TooComplexQuery(fmt::format(
          "{}: more than {} positions (the limit for a query geometry)", label_, max_positions_));
    }
    const json::array* a = v.if_array();
    if (!a || a->size() < 2 || a->size() > 3) return Fail("a position must be an array of 2 or 3 numbers");
    double c[3] = {0, 0, 0};
    for (size_t i = 0; i < a->size(); ++i) {
      const json::value& n = (*a)[i];
      if (!n.is_number()) return Fail("a position must hold numbers only");
      c[i] = n.is_double() ? n.get_double() : n.is_int64() ? static_cast<double>(n.get_int64())
                                                           : static_cast<double>(n.get_uint64());
      if (!std::isfinite(c[i])) return Fail("a coordinate is not a finite number");
    }
    double lon = c[0], lat = c[1];
    if (lon < -180 || lon > 180) return Fail(fmt::format("longitude {} is outside [-180, 180]", lon));
    if (lat < -90 || lat > 90) return Fail(fmt::format("latitude {} is outside [-90, 90]", lat));
    out = Point(lon, lat);
    return Status::Ok();
  }
  Status ReadInto(const json::value& v, MultiPoint& out) { return ReadEach(v, 1, "a MultiPoint", out); }
  Status ReadInto(const json::value& v, LineString& out) { return ReadEach(v, 2, "a LineString", out); }
  Status ReadInto(const json::value& v, MultiLineString& out) {
    return ReadEach(v, 1, "a MultiLineString", out);
  }
  Status ReadInto(const json::value& v, MultiPolygon& out) { return ReadEach(v, 1, "a MultiPolygon", out); }
  Status ReadInto(const json::value& v, Polygon& out) {
    std::vector<Polygon::ring_type> rings;
    CITYHUB_RETURN_IF_ERROR(ReadEach(v, 1, "a Polygon", rings));
    out.outer() = std::move(rings.front());
    out.inners().assign(std::make_move_iterator(rings.begin() + 1), std::make_move_iterator(rings.end()));
    return Status::Ok();
  }
  Status ReadInto(const json::value& v, Polygon::ring_type& out) {
    CITYHUB_RETURN_IF_ERROR(ReadEach(v, 4, "a polygon ring", out));
    if (out.front().x() != out.back().x() || out.front().y() != out.back().y()) {
      return Fail("a polygon ring is not closed (its first and last positions differ)");
    }
    return Status::Ok();
  }

  // Reads a JSON array of at least `min` items of the container's element type.
  template <typename Container>
  Status ReadEach(const json::value& v, size_t min, std::string_view what, Container& out) {
    const json::array* a = v.if_array();
    if (!a) return Fail(fmt::format("{} must be an array", what));
    if (a->size() < min) {
      return Fail(min == 1 ? fmt::format("{} must not be empty", what)
                           : fmt::format("{} needs at least {} positions, has {}", what, min, a->size()));
    }
    out.resize(a->size());
    for (size_t i = 0; i < a->size(); ++i) {
      path_.push_back(i);
      CITYHUB_RETURN_IF_ERROR(ReadInto((*a)[i], out[i]));
      path_.pop_back();
    }
    return Status::Ok();
  }

  Status Fail(std::string_view reason) const {
    std::string where = label_;
    for (size_t i : path_) where += fmt::format("[{}]", i);
    return Status::BadRequestData(fmt::format("{}: {}", where, reason));
  }

  std::string label_;
  size_t max_positions_;
  size_t positions_ = 0;
  std::vector<size_t> path_;  // indices from the coordinates array down to the current member
};

std::string_view ValidityReason(bg::validity_failure_type failure) {
  switch (failure) {
    case bg::failure_wrong_topological_dimension:
      return "it collapses to a point or a line (its positions coincide or are collinear)";
    case bg::failure_spikes: return "a ring has a spike (runs out and back along itself)";
    case bg::failure_self_intersections: return "its boundary crosses or touches itself";
    case bg::failure_wrong_orientation: return "a ring encloses no area or crosses itself";
    case bg::failure_interior_rings_outside: return "a hole lies outside its exterior ring";
    case bg::failure_nested_interior_rings: return "a hole lies inside another hole";
    case bg::failure_disconnected_interior: return "its holes cut the interior into pieces";
    case bg::failure_intersecting_interiors: return "two of its polygons overlap";
    default: return "it is not a valid geometry";
  }
}

// The sentence of Boost's validity message that says where the fault is, e.g. "a
// self-intersection point was found at (1.2, 1.2)", or "" if it has none.
std::string WhereInvalid(std::string_view message) {
  size_t start = message.find(". ");
  if (start == std::string_view::npos) return "";
  std::string where(message.substr(start + 2, message.find(';') - start - 2));
  if (!where.empty()) where[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(where[0])));
  return where;
}

// BadRequestData naming `label` and the reason if Boost.Geometry finds `shape` invalid.
Status CheckValid(const Shape& shape, std::string_view label) {
  bg::validity_failure_type failure = bg::no_failure;
  bool valid = std::visit([&](const auto& g) { return bg::is_valid(g, failure); }, shape);
  if (valid) return Status::Ok();
  std::string message;
  std::visit([&](const auto& g) { bg::is_valid(g, message); }, shape);
  std::string where = WhereInvalid(message);
  return Status::BadRequestData(fmt::format("{}: invalid {}: {}{}{}", label, kTypeNames[shape.index()],
                                            ValidityReason(failure), where.empty() ? "" : ": ", where));
}

// ---- lon/lat boxes -----------------------------------------------------------------------

bool Meets(const GeoBox& a, const GeoBox& b) {
  return a.min_lon <= b.max_lon && b.min_lon <= a.max_lon && a.min_lat <= b.max_lat &&
         b.min_lat <= a.max_lat;
}

GeoBox PointBox(const Point& p) { return {p.x(), p.y(), p.x(), p.y()}; }

void Extend(GeoBox& box, const GeoBox& more) {
  box.min_lon = std::min(box.min_lon, more.min_lon);
  box.min_lat = std::min(box.min_lat, more.min_lat);
  box.max_lon = std::max(box.max_lon, more.max_lon);
  box.max_lat = std::max(box.max_lat, more.max_lat);
}

// A box holding every point within `metres` of `box` (see the file comment).
GeoBox Grow(const GeoBox& box, double metres) {
  double by = metres / kEarthRadiusMetres * kDegreesPerRadian;
  by += 1e-9 * (1 + by);  // degrees: room for rounding here and in the distance formulas
  GeoBox grown{-180, std::max(-90.0, box.min_lat - by), 180, std::min(90.0, box.max_lat + by)};
  double reach = std::max(-grown.min_lat, grown.max_lat);
  if (reach >= 90) return grown;
  double by_lon = by / std::cos(reach * kRadiansPerDegree);
  if (box.min_lon - by_lon < -180 || box.max_lon + by_lon > 180) return grown;
  grown.min_lon = box.min_lon - by_lon;
  grown.max_lon = box.max_lon + by_lon;
  return grown;
}

GeoBox ToGeoBox(const Box& b) {
  return {bg::get<bg::min_corner, 0>(b), bg::get<bg::min_corner, 1>(b), bg::get<bg::max_corner, 0>(b),
          bg::get<bg::max_corner, 1>(b)};
}

// ---- vectors on the unit sphere ----------------------------------------------------------

Vec3 operator+(const Vec3& a, const Vec3& b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
Vec3 operator-(const Vec3& a, const Vec3& b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
double Dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
double Norm(const Vec3& a) { return std::sqrt(Dot(a, a)); }

Vec3 UnitVector(const Point& lonlat) {
  double lon = lonlat.x() * kRadiansPerDegree, lat = lonlat.y() * kRadiansPerDegree;
  return {std::cos(lat) * std::cos(lon), std::cos(lat) * std::sin(lon), std::sin(lat)};
}

// The angle in radians between two unit vectors; atan2 keeps it accurate at every distance.
double Angle(const Vec3& a, const Vec3& b) { return std::atan2(Norm(Cross(a, b)), Dot(a, b)); }

// The unit normal of the plane through the origin, `a` and `b`, oriented as a × b. Computed as
// (a + b) × (b − a) = 2·a × b: b − a of nearby vectors has no cancellation error, so short
// arcs keep an accurate normal.
Vec3 ArcNormal(const Vec3& a, const Vec3& b) {
  Vec3 n = Cross(a + b, b - a);
  double norm = Norm(n);
  if (!(norm > 0)) return {0, 0, 0};
  return {n.x / norm, n.y / norm, n.z / norm};
}

// True if `v`, on (or projected onto) the great circle of the arc from `a` to `b` (normal `n`),
// lies on the arc.
bool OnArc(const Vec3& v, const Vec3& a, const Vec3& b, const Vec3& n) {
  return Dot(Cross(a, v), n) >= 0 && Dot(Cross(v, b), n) >= 0;
}

// The angle in radians from `p` to the nearest point of `arc`: to its great circle when the
// foot of the perpendicular falls between the ends (cross-track), else to the nearer end.
double AngleToArc(const Vec3& p, const Arc& arc) {
  const Vec3& n = arc.normal;
  bool beside = Dot(n, n) > 0 && OnArc(p, arc.from, arc.to, n);
  if (beside) return std::atan2(std::fabs(Dot(p, n)), Norm(Cross(n, p)));
  return std::min(Angle(p, arc.from), Angle(p, arc.to));
}

// ---- building geometries -----------------------------------------------------------------

Position ToPosition(const Point& p) { return {UnitVector(p), p}; }

// The box of the arc from `a` to `b` (normal `n`): their longitudes (every longitude if the arc
// spans 180° or more, which takes it over a pole or across the antimeridian) and the latitudes
// the arc reaches, which bulge poleward of its ends when the highest or lowest point of its
// great circle — the pole projected onto the circle's plane — lies on the arc.
GeoBox ArcBox(const Position& a, const Position& b, const Vec3& n) {
  GeoBox box = PointBox(a.lonlat);
  Extend(box, PointBox(b.lonlat));
  if (std::fabs(a.lonlat.x() - b.lonlat.x()) >= 180) box.min_lon = -180, box.max_lon = 180;
  if (Dot(n, n) == 0) return {-180, -90, 180, 90};  // antipodal ends: the arc is undefined
  Vec3 top{-n.z * n.x, -n.z * n.y, 1 - n.z * n.z};  // the north pole minus its part along n
  double len = Norm(top);
  if (!(len > 0)) return box;  // the equator
  top = {top.x / len, top.y / len, top.z / len};
  auto latitude = [&] {
    return std::atan2(top.z, std::sqrt(top.x * top.x + top.y * top.y)) * kDegreesPerRadian;
  };
  if (OnArc(top, a.unit, b.unit, n)) box.max_lat = std::max(box.max_lat, latitude());
  if (OnArc({-top.x, -top.y, -top.z}, a.unit, b.unit, n)) box.min_lat = std::min(box.min_lat, -latitude());
  return box;
}

void AddPosition(const Point& p, SphericalLinework& out) {
  out.positions.push_back(ToPosition(p));
  Extend(out.extent, PointBox(p));
}

// Adds a path's positions and the arcs between its distinct consecutive positions.
void AddPath(const std::vector<Point>& path, SphericalLinework& out) {
  for (size_t i = 0; i < path.size(); ++i) {
    AddPosition(path[i], out);
    if (i > 0 && (path[i].x() != path[i - 1].x() || path[i].y() != path[i - 1].y())) {
      const Position& from = out.positions[out.positions.size() - 2];
      const Position& to = out.positions.back();
      Vec3 normal = ArcNormal(from.unit, to.unit);
      out.arcs.push_back({from.unit, to.unit, normal, ArcBox(from, to, normal)});
      Extend(out.extent, out.arcs.back().box);
    }
  }
}

void AddLinework(const Point& p, SphericalLinework& out) { AddPosition(p, out); }
void AddLinework(const MultiPoint& m, SphericalLinework& out) {
  for (const auto& p : m) AddPosition(p, out);
}
void AddLinework(const LineString& l, SphericalLinework& out) { AddPath(l, out); }
void AddLinework(const MultiLineString& m, SphericalLinework& out) {
  for (const auto& l : m) AddPath(l, out);
}
void AddLinework(const Polygon& p, SphericalLinework& out) {
  AddPath(p.outer(), out);
  for (const auto& hole : p.inners()) AddPath(hole, out);
}
void AddLinework(const MultiPolygon& m, SphericalLinework& out) {
  for (const auto& p : m) AddLinework(p, out);
}

// What to precompute beyond the shape and its envelope.
struct Extras {
  bool sphere = false;  // the spherical linework, for near
  bool bands = false;   // a PolygonBands for polygonal shapes, for MatchesPoint
};

Geometry MakeGeometry(Shape shape, Extras extras) {
  auto impl = std::make_shared<Geometry::Impl>();
  impl->shape = std::move(shape);
  std::visit([&](const auto& g) { bg::envelope(g, impl->bounds); }, impl->shape);
  if (extras.sphere) std::visit([&](const auto& g) { AddLinework(g, impl->sphere); }, impl->shape);
  if (const auto* p = std::get_if<Polygon>(&impl->shape); p && extras.bands) impl->bands.emplace(*p);
  if (const auto* m = std::get_if<MultiPolygon>(&impl->shape); m && extras.bands) impl->bands.emplace(*m);
  Geometry geometry;
  geometry.impl = std::move(impl);
  return geometry;
}

// Reads a GeoJSON geometry object; `strict` adds Boost.Geometry's validity check.
Result<Geometry> ReadGeometryObject(const json::value& g, std::string_view where, bool strict,
                                    Extras extras) {
  const json::object* o = g.if_object();
  if (!o) return Status::BadRequestData(fmt::format("{}: a geometry must be a GeoJSON object", where));
  const json::value* type = o->if_contains("type");
  if (!type || !type->is_string() || !IsGeometryType(type->get_string())) {
    return Status::BadRequestData(fmt::format(
        "{}: geometry 'type' must be one of Point, MultiPoint, LineString, MultiLineString, "
        "Polygon, MultiPolygon", where));
  }
  const json::value* coordinates = o->if_contains("coordinates");
  if (!coordinates) return Status::BadRequestData(fmt::format("{}: geometry has no 'coordinates'", where));
  std::string label = fmt::format("{}: coordinates", where);
  auto shape = CoordinateReader(label, std::numeric_limits<size_t>::max())
                   .Read(type->get_string(), *coordinates);
  if (!shape.ok()) return shape.status();
  if (strict) CITYHUB_RETURN_IF_ERROR(CheckValid(*shape, label));
  return MakeGeometry(std::move(*shape), extras);
}

// ---- relations ---------------------------------------------------------------------------

const bg::de9im::mask kWithinMask("T*F**F***");
const bg::de9im::mask kDisjointMask("FF*FF****");
const bg::de9im::mask kOverlapsMask("T*T***T**");
const bg::de9im::mask kOverlapsLinesMask("1*T***T**");
const bg::de9im::mask kEqualsMask("T*F**FFF*");

int Dimension(const Shape& s) { return static_cast<int>(s.index() / 2); }

bool Relate(const Shape& a, const Shape& b, const bg::de9im::mask& mask) {
  return std::visit([&](const auto& x, const auto& y) { return bg::relate(x, y, mask); }, a, b);
}

bool Intersects(const Shape& a, const Shape& b) {
  return std::visit([](const auto& x, const auto& y) { return bg::intersects(x, y); }, a, b);
}

// The topological relations between entity shape `e` (envelope `e_bounds`) and query `q`.
bool Related(GeoQuery::Relation r, const Shape& e, const Box& e_bounds, const Geometry::Impl& q) {
  using R = GeoQuery::Relation;
  if (!bg::intersects(e_bounds, q.bounds)) return r == R::kDisjoint;
  switch (r) {
    case R::kWithin: return Relate(e, q.shape, kWithinMask);
    case R::kContains: return Relate(q.shape, e, kWithinMask);
    case R::kIntersects: return !Relate(e, q.shape, kDisjointMask);
    case R::kDisjoint: return Relate(e, q.shape, kDisjointMask);
    case R::kOverlaps:
      return Dimension(e) == Dimension(q.shape) &&
             Relate(e, q.shape, Dimension(e) == 1 ? kOverlapsLinesMask : kOverlapsMask);
    case R::kEquals: return Relate(e, q.shape, kEqualsMask);
    case R::kNear: break;
  }
  return false;
}

// ---- distances ---------------------------------------------------------------------------

// The near bounds, inclusive; the horizon beyond which no pair of points can change the answer.
struct DistanceRange {
  std::optional<double> max, min;
  double Horizon() const { return std::max(max.value_or(0), min.value_or(0)); }
  bool Holds(double d) const { return (!max || d <= *max) && (!min || d >= *min); }
};

// The great-circle distance in metres from `p` to the nearest point of `to`, counting only the
// arcs (or, for a pointlike `to`, the positions) whose boxes meet p's box grown by `horizon`;
// infinity if none does.
double DistanceTo(const Position& p, const SphericalLinework& to, double horizon) {
  const GeoBox window = Grow(PointBox(p.lonlat), horizon);
  double best = kInfinity;
  if (to.arcs.empty()) {
    for (const auto& q : to.positions) {
      if (Meets(window, PointBox(q.lonlat))) best = std::min(best, Angle(p.unit, q.unit));
    }
  } else {
    for (const auto& arc : to.arcs) {
      if (Meets(window, arc.box)) best = std::min(best, AngleToArc(p.unit, arc));
    }
  }
  return best * kEarthRadiusMetres;
}

double DistanceFromPositions(const SphericalLinework& from, const SphericalLinework& to, double horizon) {
  const GeoBox near_to = Grow(to.extent, horizon);
  double best = kInfinity;
  for (const auto& p : from.positions) {
    if (Meets(near_to, PointBox(p.lonlat))) best = std::min(best, DistanceTo(p, to, horizon));
  }
  return best;
}

// The great-circle distance in metres between the closest points of two disjoint geometries.
// Pairs whose boxes show them farther apart than `horizon` are skipped, so the result is exact
// when it is at most `horizon` and otherwise only known to exceed it (possibly infinity).
double ClosestDistance(const SphericalLinework& a, const SphericalLinework& b, double horizon) {
  if (a.arcs.empty()) return DistanceFromPositions(a, b, horizon);
  if (b.arcs.empty()) return DistanceFromPositions(b, a, horizon);
  return std::min(DistanceFromPositions(a, b, horizon), DistanceFromPositions(b, a, horizon));
}

// ---- the geometry and coordinates parameters ---------------------------------------------

Status CheckGeometryType(std::string_view geometry) {
  if (geometry.empty()) {
    return Status::InvalidRequest("geometry is empty; expected Point, MultiPoint, LineString, "
                                  "MultiLineString, Polygon or MultiPolygon");
  }
  if (!IsGeometryType(geometry)) {
    return Status::BadRequestData(fmt::format("geometry {} is not one of Point, MultiPoint, LineString, "
                                              "MultiLineString, Polygon, MultiPolygon", Quote(geometry)));
  }
  return Status::Ok();
}

// The coordinates parameter's JSON text: InvalidRequest if empty, malformed or a JSON string
// (coordinates are unwrapped from a string once, not twice).
Result<json::value> ParseCoordinatesText(std::string_view text) {
  if (text.empty()) return Status::InvalidRequest("coordinates is empty; expected a JSON array of positions");
  boost::system::error_code ec;
  json::value v = util::ParseJson(text, ec);
  if (ec) return Status::InvalidRequest(fmt::format("coordinates is not valid JSON: {}", ec.message()));
  if (v.is_string()) {
    return Status::InvalidRequest("coordinates must be a JSON array of positions, not a string");
  }
  return v;
}


// ---- PolygonBands ------------------------------------------------------------------------

PolygonBands::PolygonBands(const Polygon& polygon) {
  std::vector<Edge> edges;
  AddPolygon(polygon, 0, edges);
  Bucket(edges);
}

PolygonBands::PolygonBands(const MultiPolygon& polygons) {
  std::vector<Edge> edges;
  for (size_t i = 0; i < polygons.size(); ++i) AddPolygon(polygons[i], static_cast<uint32_t>(i), edges);
  Bucket(edges);
}

// Adds the polygon's rings and their edges as bg::within walks them: each ring through a
// clockwise view, which reverses our counter-clockwise rings.
void PolygonBands::AddPolygon(const Polygon& polygon, uint32_t index, std::vector<Edge>& edges) {
  auto add_ring = [&](const Polygon::ring_type& ring, bool exterior) {
    auto ring_index = static_cast<uint32_t>(rings_.size());
    rings_.push_back({index, exterior});
    for (size_t k = ring.size() - 1; k > 0; --k) edges.push_back({ring[k], ring[k - 1], ring_index});
  };
  add_ring(polygon.outer(), true);
  for (const auto& hole : polygon.inners()) add_ring(hole, false);
}

// Buckets the edges into bands of longitude; an edge goes to every band its longitude range
// (widened by far more than the 1e-14° Boost's equality tolerance allows) touches. Fewer bands
// when long edges would repeat too often.
void PolygonBands::Bucket(const std::vector<Edge>& edges) {
  constexpr double kWiden = 1e-9;
  double lo = 180, hi = -180;
  for (const auto& e : edges) {
    lo = std::min({lo, e.from.x(), e.to.x()});
    hi = std::max({hi, e.from.x(), e.to.x()});
  }
  auto span = [&](const Edge& e) {
    return std::pair(BandOf(std::min(e.from.x(), e.to.x()) - kWiden),
                     BandOf(std::max(e.from.x(), e.to.x()) + kWiden));
  };
  size_t bands = std::clamp<size_t>(edges.size() / 4, 1, 4096);
  for (;; bands /= 2) {
    lon0_ = lo;
    band_width_ = std::max(hi - lo, 1e-9) / static_cast<double>(bands);
    band_starts_.assign(bands + 1, 0);
    size_t entries = 0;
    for (const auto& e : edges) {
      auto [first, last] = span(e);
      entries += last - first + 1;
    }
    if (bands == 1 || entries <= 8 * edges.size()) break;
  }
  for (const auto& e : edges) {
    auto [first, last] = span(e);
    for (size_t b = first; b <= last; ++b) ++band_starts_[b + 1];
  }
  for (size_t b = 1; b < band_starts_.size(); ++b) band_starts_[b] += band_starts_[b - 1];
  edges_.resize(band_starts_.back());
  std::vector<size_t> next(band_starts_.begin(), band_starts_.end() - 1);
  for (const auto& e : edges) {
    auto [first, last] = span(e);
    for (size_t b = first; b <= last; ++b) edges_[next[b]++] = e;
  }
}

size_t PolygonBands::BandOf(double lon) const {
  double t = (lon - lon0_) / band_width_;
  if (!(t > 0)) return 0;
  return std::min(static_cast<size_t>(t), band_starts_.size() - 2);
}

// Boost's winding over one ring's edges of the band (advancing `it` past them).
int PolygonBands::RingCode(const Point& p, const Edge*& it, const Edge* end) const {
  Winding::state_type state;
  const uint32_t ring = it->ring;
  bool going = true;
  for (; it != end && it->ring == ring; ++it) {
    if (going) going = Winding::apply(p, it->from, it->to, state);
  }
  return Winding::result(state);
}

// Boost's point_in_geometry for one polygon: its exterior ring, then the first hole that does
// not leave the point outside. A ring without edges in the band leaves the point outside.
int PolygonBands::PolygonCode(const Point& p, const Edge*& it, const Edge* end) const {
  const uint32_t polygon = rings_[it->ring].polygon;
  int code = rings_[it->ring].exterior ? RingCode(p, it, end) : -1;
  while (code == 1 && it != end && rings_[it->ring].polygon == polygon) {
    int hole = RingCode(p, it, end);
    if (hole != -1) code = -hole;
  }
  while (it != end && rings_[it->ring].polygon == polygon) ++it;
  return code;
}

int PolygonBands::Locate(const Point& p) const {
  size_t band = BandOf(p.x());
  const Edge* it = edges_.data() + band_starts_[band];
  const Edge* end = edges_.data() + band_starts_[band + 1];
  while (it != end) {
    int code = PolygonCode(p, it, end);
    if (code >= 0) return code;  // the first polygon holding or touching the point decides
  }
  return -1;
}

}  // namespace

// ---- Geometry ----------------------------------------------------------------------------

Result<Geometry> Geometry::FromGeoJson(const json::value& g, std::string_view where) {
  try {
    return ReadGeometryObject(g, where, /*strict=*/true, {.sphere = true});
  } catch (const std::exception& e) {
    return Status::BadRequestData(fmt::format("{}: the geometry could not be checked ({})", where, e.what()));
  }
}

bool Geometry::IsPoint() const { return impl && std::holds_alternative<Point>(impl->shape); }

double Geometry::Lon() const {
  return IsPoint() ? std::get<Point>(impl->shape).x() : std::numeric_limits<double>::quiet_NaN();
}

double Geometry::Lat() const {
  return IsPoint() ? std::get<Point>(impl->shape).y() : std::numeric_limits<double>::quiet_NaN();
}

GeoBox Geometry::Bounds() const { return impl ? ToGeoBox(impl->bounds) : GeoBox{}; }

// ---- GeoQuery ----------------------------------------------------------------------------

Result<GeoQuery> GeoQuery::Parse(std::string_view georel, std::string_view geometry,
                                 std::string_view coordinates, std::string geoproperty) {
  CITYHUB_RETURN_IF_ERROR(ParseGeorel(georel).status());  // errors in parameter order
  CITYHUB_RETURN_IF_ERROR(CheckGeometryType(geometry));
  auto parsed = ParseCoordinatesText(coordinates);
  if (!parsed.ok()) return parsed.status();
  return Parse(georel, geometry, *parsed, std::move(geoproperty));
}

Result<GeoQuery> GeoQuery::Parse(std::string_view georel, std::string_view geometry,
                                 const json::value& coordinates, std::string geoproperty) {
  auto rel = ParseGeorel(georel);
  if (!rel.ok()) return rel.status();
  CITYHUB_RETURN_IF_ERROR(CheckGeometryType(geometry));
  if (coordinates.is_string()) {
    auto parsed = ParseCoordinatesText(coordinates.get_string());
    if (!parsed.ok()) return parsed.status();
    return Parse(georel, geometry, *parsed, std::move(geoproperty));
  }
  try {
    auto shape = CoordinateReader("coordinates", kMaxQueryPositions).Read(geometry, coordinates);
    if (!shape.ok()) return shape.status();
    CITYHUB_RETURN_IF_ERROR(CheckValid(*shape, "coordinates"));
    GeoQuery q;
    q.relation_ = rel->relation;
    q.max_distance_ = rel->max_distance;
    q.min_distance_ = rel->min_distance;
    q.geoproperty_ = std::move(geoproperty);
    // The spherical linework serves near, and orderBy by distance whatever the relation.
    q.geometry_ = MakeGeometry(std::move(*shape), {.sphere = true, .bands = true});
    return q;
  } catch (const std::exception& e) {
    return Status::BadRequestData(
        fmt::format("coordinates: the geometry could not be checked ({})", e.what()));
  }
}

bool GeoQuery::Matches(const Entity& e) const {
  auto it = e.attrs.find(geoproperty_);
  if (it == e.attrs.end()) return false;
  for (const Instance& inst : it->second) {
    if (AttrTypeOf(inst) != AttrType::kGeoProperty) continue;
    const json::value* value = inst.if_contains("value");
    if (value && MatchesValue(*value)) return true;
  }
  return false;
}

// ---- binary copies for the spatial index ------------------------------------------------

namespace {

// Layout: one byte kEncodedTag + the Shape's index, then the shape: a Point is its two doubles;
// a run of positions (MultiPoint, LineString, ring) is a uint32 count and the positions; a
// Polygon a uint32 ring count and its rings (exterior first); MultiLineString and
// MultiPolygon a uint32 count and their parts.
constexpr unsigned char kEncodedTag = 0xe0;

class Encoder {
 public:
  explicit Encoder(size_t max_bytes) : max_(max_bytes) {}
  bool Fits() const { return out_.size() <= max_; }
  std::string Take() { return std::move(out_); }

  void Tag(size_t index) { out_.push_back(static_cast<char>(kEncodedTag + index)); }
  void Put(const Point& p) {
    double xy[2] = {p.x(), p.y()};
    Bytes(xy, sizeof xy);
  }
  void Count(size_t n) {
    const auto c = static_cast<uint32_t>(n);
    Bytes(&c, sizeof c);
  }
  template <typename Run>
  void PutRun(const Run& run) {
    Count(run.size());
    for (const auto& p : run) Put(p);
  }
  void Put(const MultiPoint& m) { PutRun(m); }
  void Put(const LineString& l) { PutRun(l); }
  void Put(const Polygon& poly) {
    Count(1 + poly.inners().size());
    PutRun(poly.outer());
    for (const auto& inner : poly.inners()) PutRun(inner);
  }
  template <typename Part>
  void PutParts(const std::vector<Part>& parts) {
    Count(parts.size());
    for (const auto& part : parts) Put(part);
  }
  void Put(const MultiLineString& m) { PutParts(m); }
  void Put(const MultiPolygon& m) { PutParts(m); }

 private:
  void Bytes(const void* p, size_t n) {
    if (out_.size() <= max_) out_.append(static_cast<const char*>(p), n);  // past max: stop growing
  }
  size_t max_;
  std::string out_;
};

// Reads what Encoder wrote; every read is bounds-checked, so corrupt bytes fail rather than crash.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}

  std::optional<Shape> Read() {
    if (in_.empty()) return std::nullopt;
    const auto index = static_cast<unsigned char>(in_[0]) - kEncodedTag;
    in_.remove_prefix(1);
    std::optional<Shape> shape;
    switch (index) {
      case 0: shape = ReadAs<Point>(); break;
      case 1: shape = ReadAs<MultiPoint>(); break;
      case 2: shape = ReadAs<LineString>(); break;
      case 3: shape = ReadAs<MultiLineString>(); break;
      case 4: shape = ReadAs<Polygon>(); break;
      case 5: shape = ReadAs<MultiPolygon>(); break;
      default: return std::nullopt;
    }
    if (!ok_ || !in_.empty()) return std::nullopt;
    return shape;
  }

 private:
  template <typename T>
  Shape ReadAs() {
    T shape;
    Get(shape);
    return Shape(std::move(shape));
  }
  bool Bytes(void* p, size_t n) {
    if (!ok_ || in_.size() < n) return ok_ = false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  // A count of items at least `min_item_bytes` each: bounded by the bytes left.
  size_t Count(size_t min_item_bytes) {
    uint32_t n = 0;
    if (!Bytes(&n, sizeof n) || n > in_.size() / min_item_bytes) {
      ok_ = false;
      return 0;
    }
    return n;
  }
  void Get(Point& p) {
    double xy[2] = {0, 0};
    Bytes(xy, sizeof xy);
    p = Point(xy[0], xy[1]);
  }
  template <typename Run>
  void GetRun(Run& run) {
    const size_t n = Count(2 * sizeof(double));
    run.resize(n);
    for (auto& p : run) Get(p);
  }
  void Get(MultiPoint& m) { GetRun(m); }
  void Get(LineString& l) { GetRun(l); }
  void Get(Polygon& poly) {
    const size_t rings = Count(sizeof(uint32_t));
    if (rings == 0) {
      ok_ = false;
      return;
    }
    GetRun(poly.outer());
    poly.inners().resize(rings - 1);
    for (auto& inner : poly.inners()) GetRun(inner);
  }
  template <typename Part>
  void GetParts(std::vector<Part>& parts) {
    parts.resize(Count(sizeof(uint32_t)));
    for (auto& part : parts) Get(part);
  }
  void Get(MultiLineString& m) { GetParts(m); }
  void Get(MultiPolygon& m) { GetParts(m); }

  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

std::optional<std::string> EncodeGeometry(const json::value& geometry, size_t max_bytes) {
  try {
    auto g = ReadGeometryObject(geometry, "geometry", /*strict=*/false, {});
    if (!g.ok()) return std::nullopt;
    Encoder enc(max_bytes);
    enc.Tag(g->impl->shape.index());
    std::visit([&](const auto& shape) { enc.Put(shape); }, g->impl->shape);
    if (!enc.Fits()) return std::nullopt;
    return enc.Take();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<bool> GeoQuery::MatchesEncoded(std::string_view bytes) const {
  std::optional<Shape> shape = Decoder(bytes).Read();
  if (!shape) return std::nullopt;
  try {
    return MatchesGeometry(MakeGeometry(std::move(*shape), {.sphere = relation_ == Relation::kNear}));
  } catch (const std::exception&) {
    return false;  // as MatchesValue: a geometry Boost.Geometry cannot handle never matches
  }
}

bool GeoQuery::MatchesValue(const json::value& geometry) const {
  try {
    auto g = ReadGeometryObject(geometry, geoproperty_, /*strict=*/false, {.sphere = relation_ == Relation::kNear});
    return g.ok() && MatchesGeometry(*g);
  } catch (const std::exception&) {
    return false;  // a stored geometry Boost.Geometry cannot read never matches
  }
}

bool GeoQuery::MatchesGeometry(const Geometry& g) const {
  if (!g.impl || !geometry_.impl) return false;
  const Geometry::Impl& e = *g.impl;
  const Geometry::Impl& q = *geometry_.impl;
  try {
    if (relation_ != Relation::kNear) return Related(relation_, e.shape, e.bounds, q);
    const DistanceRange range{max_distance_, min_distance_};
    const double horizon = range.Horizon();
    double d = kInfinity;
    if (Meets(e.sphere.extent, Grow(q.sphere.extent, horizon))) {
      bool touching = bg::intersects(e.bounds, q.bounds) && Intersects(e.shape, q.shape);
      d = touching ? 0 : ClosestDistance(e.sphere, q.sphere, horizon);
    }
    return range.Holds(d);
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<double> GeoQuery::DistanceMetres(const Entity& e, const std::string& attr) const {
  auto it = e.attrs.find(attr);
  if (it == e.attrs.end() || !geometry_.impl) return std::nullopt;
  const Geometry::Impl& q = *geometry_.impl;
  std::optional<double> best;
  for (const Instance& inst : it->second) {
    const json::value* value = inst.if_contains("value");
    if (AttrTypeOf(inst) != AttrType::kGeoProperty || !value) continue;
    try {
      auto g = ReadGeometryObject(*value, attr, /*strict=*/false, {.sphere = true});
      if (!g.ok() || !g->impl) continue;
      const Geometry::Impl& en = *g->impl;
      const bool touching = bg::intersects(en.bounds, q.bounds) && Intersects(en.shape, q.shape);
      const double d = touching ? 0 : ClosestDistance(en.sphere, q.sphere, kMaxDistanceMetres);
      if (std::isfinite(d)) best = std::min(best.value_or(d), d);
    } catch (const std::exception&) {
      // a geometry Boost.Geometry cannot handle has no distance (as it never matches)
    }
  }
  return best;
}

bool GeoQuery::MatchesPoint(double lon, double lat) const {
  if (!geometry_.impl || !std::isfinite(lon) || !std::isfinite(lat)) return false;
  const Geometry::Impl& q = *geometry_.impl;
  const Point p(lon, lat);
  // 1 in the query's interior, 0 on its boundary, -1 outside.
  auto locate = [&] {
    if (!bg::covered_by(p, q.bounds)) return -1;
    if (q.bands) return q.bands->Locate(p);
    return std::visit([&](const auto& g) { return bg::within(p, g) ? 1 : bg::intersects(p, g) ? 0 : -1; },
                      q.shape);
  };
  try {
    switch (relation_) {
      case Relation::kNear: {
        const DistanceRange range{max_distance_, min_distance_};
        const double horizon = range.Horizon();
        double d = kInfinity;
        if (Meets(PointBox(p), Grow(q.sphere.extent, horizon))) {
          d = locate() >= 0 ? 0 : DistanceTo(ToPosition(p), q.sphere, horizon);
        }
        return range.Holds(d);
      }
      case Relation::kWithin: return locate() == 1;
      case Relation::kIntersects: return locate() >= 0;
      case Relation::kDisjoint: return locate() < 0;
      default: return Related(relation_, Shape(p), Box(p, p), q);
    }
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<GeoBox> GeoQuery::CandidateBox() const {
  if (!geometry_.impl || relation_ == Relation::kDisjoint) return std::nullopt;
  if (relation_ != Relation::kNear) return ToGeoBox(geometry_.impl->bounds);
  if (!max_distance_) return std::nullopt;
  return Grow(geometry_.impl->sphere.extent, *max_distance_);
}

}  // namespace cityhub::ngsild
