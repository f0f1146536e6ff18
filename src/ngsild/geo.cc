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
// Relations. A geometry is held twice: as a planar Boost.Geometry shape (bg::cs::cartesian on
// lon/lat degrees) for the topological relations, and as spherical linework (its positions and
// its edges as great-circle arcs, in radians) for distances. Relations are OGC/DE-9IM on the
// planar shapes, as PostGIS `geometry` does; Boost's named predicates (within, overlaps, equals)
// static_assert for some type pairs, so every relation is a bg::relate mask, which Boost 1.81
// implements for all 36 pairs of the six types:
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
// sphere of radius R = 6,371,008.8 m (the IUGG mean radius):
//   point to point (haversine)  d = 2R·asin(√(sin²(Δφ/2) + cos φ1·cos φ2·sin²(Δλ/2)))
//   point to arc (cross-track)  d = R·|asin(sin δ13 · sin(θ13 − θ12))| when the foot of the
//                               perpendicular lies on the arc, else the nearer endpoint's
//                               haversine distance (bg::strategy::distance::cross_track)
// Two arcs that do not cross are closest at an endpoint of one of them, so the minimum over
// position/arc pairs in both directions is the exact distance; from a pointlike geometry
// only its positions to the other's linework count. Cost is O(n·m) in the two position
// counts, which the query limit bounds. Trade-off: relations see straight lon/lat edges while
// distances see great-circle arcs (as PostGIS geography, MongoDB 2dsphere and S2 do); the two
// differ by an arc's bulge, about L²·tan φ / 8R (4 m for a 111 km east-west edge at 1°, 3 m
// for a 10 km edge at 60° latitude), which is nothing at city scale. maxDistance and
// minDistance are inclusive: max ≥ d ≥ min.
//
// Candidate boxes. For every relation but disjoint a matching entity meets the query's planar
// envelope. For near with maxDistance d the box is the query's extent, including the poleward
// bulge of its arcs (the spherical envelope of each arc), grown by δ = d/R: latitude by δ, and
// longitude by δ / cos φmax where φmax is the largest |latitude| the grown box reaches. The
// largest longitude offset of a point within δ of a point at latitude φ is
// asin(sin δ / cos φ), and δ / cos(φ + δ) is never smaller, so the box is conservative. Near
// a pole, when an arc spans 180° of longitude or more, or when the box would wrap the
// antimeridian, it takes the whole longitude range (a GeoBox cannot wrap). The box holds every
// position within d of the query; an index over entity lines or polygons with long edges must
// cover their great-circle arcs for near (S2 does).
//
// MatchesPoint is the allocation-free fast path for index-resident positions: envelope reject
// and one Boost predicate for within/intersects/disjoint, one pass over the precomputed
// spherical linework for near. It gives the same answers as MatchesGeometry(Point) (the unit
// test checks thousands of random points per relation). Nothing is cached between calls.
#include "ngsild/geo.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>
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

using Point = bg::model::d2::point_xy<double>;
using MultiPoint = bg::model::multi_point<Point>;
using LineString = bg::model::linestring<Point>;
using MultiLineString = bg::model::multi_linestring<LineString>;
using Polygon = bg::model::polygon<Point, /*ClockWise=*/false, /*Closed=*/true>;
using MultiPolygon = bg::model::multi_polygon<Polygon>;
using Box = bg::model::box<Point>;
// The index of each alternative is its dimension times two (pointlike, linear, areal).
using Shape = std::variant<Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon>;

using SphericalPoint = bg::model::point<double, 2, bg::cs::spherical_equatorial<bg::radian>>;
struct Arc {
  SphericalPoint from, to;
};
// A geometry on the sphere: its positions, and its edges as great-circle arcs (none for
// pointlike geometries).
struct SphericalLinework {
  std::vector<SphericalPoint> positions;
  std::vector<Arc> arcs;
};

struct Geometry::Impl {
  Shape shape;
  Box bounds;
  SphericalLinework sphere;
};

namespace {

constexpr double kEarthRadiusMetres = 6'371'008.8;
constexpr double kMaxDistanceMetres = 40'000'000;
constexpr size_t kMaxQueryPositions = 10'000;
constexpr double kRadiansPerDegree = std::numbers::pi / 180;
constexpr double kDegreesPerRadian = 180 / std::numbers::pi;

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

// A whole decimal number of metres in [0, kMaxDistanceMetres]; nullopt for anything else
// (signs other than '-', trailing text, NaN, infinities, out-of-range values).
std::optional<double> ParseMetres(std::string_view s) {
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (!std::isfinite(d) || d < 0 || d > kMaxDistanceMetres) return std::nullopt;
  return d;
}

Status GeorelError(std::string_view georel, std::string_view what) {
  return Status::InvalidRequest(fmt::format("georel {}: {}", Quote(georel), what));
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
  if (text.empty()) return Status::InvalidRequest(fmt::format("georel is empty; expected {}", kRelationList));
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
    for (const auto& n : *a) {
      if (!n.is_number()) return Fail("a position must hold numbers only");
      if (!std::isfinite(n.to_number<double>())) return Fail("a coordinate is not a finite number");
    }
    double lon = (*a)[0].to_number<double>();
    double lat = (*a)[1].to_number<double>();
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
    case bg::failure_few_points: return "too few distinct positions";
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

// ---- building geometries -----------------------------------------------------------------

SphericalPoint ToSphere(const Point& p) {
  return SphericalPoint(p.x() * kRadiansPerDegree, p.y() * kRadiansPerDegree);
}

// Adds a path's positions and the arcs between its distinct consecutive positions.
void AddPath(const std::vector<Point>& path, SphericalLinework& out) {
  for (size_t i = 0; i < path.size(); ++i) {
    out.positions.push_back(ToSphere(path[i]));
    if (i > 0 && (path[i].x() != path[i - 1].x() || path[i].y() != path[i - 1].y())) {
      out.arcs.push_back({out.positions[out.positions.size() - 2], out.positions.back()});
    }
  }
}

void AddLinework(const Point& p, SphericalLinework& out) { out.positions.push_back(ToSphere(p)); }
void AddLinework(const MultiPoint& m, SphericalLinework& out) {
  for (const auto& p : m) out.positions.push_back(ToSphere(p));
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

Geometry MakeGeometry(Shape shape) {
  auto impl = std::make_shared<Geometry::Impl>();
  impl->shape = std::move(shape);
  std::visit(
      [&](const auto& g) {
        bg::envelope(g, impl->bounds);
        AddLinework(g, impl->sphere);
      },
      impl->shape);
  Geometry geometry;
  geometry.impl = std::move(impl);
  return geometry;
}

// Reads a GeoJSON geometry object; `strict` adds Boost.Geometry's validity check.
Result<Geometry> ReadGeometryObject(const json::value& g, std::string_view where, bool strict) {
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
  return MakeGeometry(std::move(*shape));
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

// The great-circle distance in metres from `p` to the nearest point of `to`.
double DistanceTo(const SphericalPoint& p, const SphericalLinework& to) {
  double best = std::numeric_limits<double>::infinity();
  if (to.arcs.empty()) {
    const bg::strategy::distance::haversine<double> haversine(kEarthRadiusMetres);
    for (const auto& q : to.positions) best = std::min(best, haversine.apply(p, q));
    return best;
  }
  const bg::strategy::distance::cross_track<double> cross_track(kEarthRadiusMetres);
  for (const auto& arc : to.arcs) best = std::min(best, cross_track.apply(p, arc.from, arc.to));
  return best;
}

double DistanceFromPositions(const SphericalLinework& from, const SphericalLinework& to) {
  double best = std::numeric_limits<double>::infinity();
  for (const auto& p : from.positions) best = std::min(best, DistanceTo(p, to));
  return best;
}

// The great-circle distance in metres between the closest points of two disjoint geometries.
double ClosestDistance(const SphericalLinework& a, const SphericalLinework& b) {
  if (a.arcs.empty()) return DistanceFromPositions(a, b);
  if (b.arcs.empty()) return DistanceFromPositions(b, a);
  return std::min(DistanceFromPositions(a, b), DistanceFromPositions(b, a));
}

// ---- candidate boxes ---------------------------------------------------------------------

GeoBox ToGeoBox(const Box& b) {
  return {bg::get<bg::min_corner, 0>(b), bg::get<bg::min_corner, 1>(b), bg::get<bg::max_corner, 0>(b),
          bg::get<bg::max_corner, 1>(b)};
}

// The latitude range in degrees of a geometry's positions and great-circle arcs (which bulge
// poleward of their endpoints).
std::pair<double, double> LatitudeRange(const SphericalLinework& s) {
  double lo = 90, hi = -90;
  auto take = [&](double lat_radians) {
    lo = std::min(lo, lat_radians * kDegreesPerRadian);
    hi = std::max(hi, lat_radians * kDegreesPerRadian);
  };
  for (const auto& p : s.positions) take(bg::get<1>(p));
  for (const auto& arc : s.arcs) {
    bg::model::box<SphericalPoint> box;
    bg::envelope(bg::model::segment<SphericalPoint>(arc.from, arc.to), box);
    take(bg::get<bg::min_corner, 1>(box));
    take(bg::get<bg::max_corner, 1>(box));
  }
  return {lo, hi};
}

// True if an arc spans 180° of longitude or more: it then leaves the query's longitude range
// (over a pole or across the antimeridian).
bool HasHalfGlobeArc(const SphericalLinework& s) {
  return std::any_of(s.arcs.begin(), s.arcs.end(), [](const Arc& a) {
    return std::fabs(bg::get<0>(a.from) - bg::get<0>(a.to)) >= std::numbers::pi;
  });
}

// A box holding every position within `metres` of the query (see the file comment).
GeoBox NearBox(const Geometry::Impl& q, double metres) {
  constexpr double kRoundingSlack = 1e-9;  // degrees (0.1 mm): room for rounding below
  double grow = metres / kEarthRadiusMetres * kDegreesPerRadian + kRoundingSlack;
  auto [lat_lo, lat_hi] = LatitudeRange(q.sphere);
  GeoBox box{-180, std::max(-90.0, lat_lo - grow), 180, std::min(90.0, lat_hi + grow)};
  double reach = std::max(-box.min_lat, box.max_lat);
  if (reach >= 90 || HasHalfGlobeArc(q.sphere)) return box;
  double grow_lon = grow / std::cos(reach * kRadiansPerDegree);
  double lon_lo = bg::get<bg::min_corner, 0>(q.bounds) - grow_lon;
  double lon_hi = bg::get<bg::max_corner, 0>(q.bounds) + grow_lon;
  if (lon_lo < -180 || lon_hi > 180) return box;
  box.min_lon = lon_lo;
  box.max_lon = lon_hi;
  return box;
}

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
  if (v.is_string()) return Status::InvalidRequest("coordinates must be a JSON array of positions, not a string");
  return v;
}

}  // namespace

// ---- Geometry ----------------------------------------------------------------------------

Result<Geometry> Geometry::FromGeoJson(const json::value& g, std::string_view where) {
  try {
    return ReadGeometryObject(g, where, /*strict=*/true);
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
    q.geometry_ = MakeGeometry(std::move(*shape));
    return q;
  } catch (const std::exception& e) {
    return Status::BadRequestData(fmt::format("coordinates: the geometry could not be checked ({})", e.what()));
  }
}

bool GeoQuery::Matches(const Entity& e) const {
  auto it = e.attrs.find(geoproperty_);
  if (it == e.attrs.end()) return false;
  for (const Instance& inst : it->second) {
    if (AttrTypeOf(inst) != AttrType::kGeoProperty) continue;
    const json::value* value = inst.if_contains("value");
    if (!value) continue;
    try {
      auto g = ReadGeometryObject(*value, geoproperty_, /*strict=*/false);
      if (g.ok() && MatchesGeometry(*g)) return true;
    } catch (const std::exception&) {
      // A stored geometry Boost.Geometry cannot read never matches.
    }
  }
  return false;
}

bool GeoQuery::MatchesGeometry(const Geometry& g) const {
  if (!g.impl || !geometry_.impl) return false;
  const Geometry::Impl& e = *g.impl;
  const Geometry::Impl& q = *geometry_.impl;
  try {
    if (relation_ != Relation::kNear) return Related(relation_, e.shape, e.bounds, q);
    bool touching = bg::intersects(e.bounds, q.bounds) && Intersects(e.shape, q.shape);
    double d = touching ? 0 : ClosestDistance(e.sphere, q.sphere);
    return (!max_distance_ || d <= *max_distance_) && (!min_distance_ || d >= *min_distance_);
  } catch (const std::exception&) {
    return false;
  }
}

bool GeoQuery::MatchesPoint(double lon, double lat) const {
  if (!geometry_.impl || !std::isfinite(lon) || !std::isfinite(lat)) return false;
  const Geometry::Impl& q = *geometry_.impl;
  const Point p(lon, lat);
  try {
    bool in_bounds = bg::covered_by(p, q.bounds);
    switch (relation_) {
      case Relation::kNear: {
        bool touching = in_bounds && Intersects(Shape(p), q.shape);
        double d = touching ? 0 : DistanceTo(ToSphere(p), q.sphere);
        return (!max_distance_ || d <= *max_distance_) && (!min_distance_ || d >= *min_distance_);
      }
      case Relation::kWithin:
        return in_bounds && std::visit([&](const auto& g) { return bg::within(p, g); }, q.shape);
      case Relation::kIntersects:
        return in_bounds && std::visit([&](const auto& g) { return bg::intersects(p, g); }, q.shape);
      case Relation::kDisjoint:
        return !in_bounds || std::visit([&](const auto& g) { return bg::disjoint(p, g); }, q.shape);
      default:
        return Related(relation_, Shape(p), Box(p, p), q);
    }
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<GeoBox> GeoQuery::CandidateBox() const {
  if (!geometry_.impl || relation_ == Relation::kDisjoint) return std::nullopt;
  if (relation_ != Relation::kNear) return ToGeoBox(geometry_.impl->bounds);
  if (!max_distance_) return std::nullopt;
  return NearBox(*geometry_.impl, *max_distance_);
}

}  // namespace cityhub::ngsild
