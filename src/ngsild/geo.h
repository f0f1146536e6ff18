// Geo-queries (GS CIM 009 §4.10, §5.7.2): parsing georel / geometry / coordinates /
// geoproperty into a GeoQuery, validating the query geometry (ranges, closed rings,
// self-intersection), and deciding whether an entity's GeoProperty satisfies the relation.
// The evaluator alone decides matches; CandidateBox() only lets an index narrow candidates.
//
// Semantics (documented in docs/API.md): topological relations (within, contains, intersects,
// overlaps, disjoint, equals) are evaluated on WGS84 longitude/latitude treated as planar
// coordinates, as PostGIS does for `geometry`; distances for near are great-circle metres on a
// sphere of radius 6,371,008.8 m between the closest points of the two geometries. Geometries
// crossing the antimeridian are not supported.
// Pure functions, no I/O; a GeoQuery is immutable and safe to share between threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "ngsild/entity.h"
#include "util/status.h"

namespace cityhub::ngsild {

// A longitude/latitude box in degrees (min <= max).
struct GeoBox {
  double min_lon = 0, min_lat = 0, max_lon = 0, max_lat = 0;
};

// A parsed geometry (Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon).
class Geometry {
 public:
  // Parses and validates a GeoJSON geometry object. BadRequestData naming `where` and the reason:
  // unknown type, wrong coordinate nesting, out-of-range position, unclosed ring, ring with fewer
  // than 4 positions, self-intersection (from Boost.Geometry's validity check).
  static Result<Geometry> FromGeoJson(const boost::json::value& g, std::string_view where);
  // True for a Point; then Lon()/Lat() are its position.
  bool IsPoint() const;
  double Lon() const;
  double Lat() const;
  GeoBox Bounds() const;

  struct Impl;
  std::shared_ptr<const Impl> impl;
};

// A compact binary copy of a stored GeoJSON geometry (read leniently, like MatchesValue), for
// the spatial index to carry in its keys: a type byte, then counts (uint32) and positions (two
// doubles, lon and lat) in the machine's byte order. nullopt if the geometry cannot be read or
// its copy would exceed `max_bytes`. GeoQuery::MatchesEncoded decides on it without JSON.
std::optional<std::string> EncodeGeometry(const boost::json::value& geometry, size_t max_bytes);

class GeoQuery {
 public:
  enum class Relation { kNear, kWithin, kContains, kIntersects, kOverlaps, kDisjoint, kEquals };

  // Builds a query from the request parameters (§6.4.3.2 / §5.7.2): `georel` such as
  // "near;maxDistance==2000", "within"; `geometry` the GeoJSON type name; `coordinates` the
  // JSON text of the coordinates array; `geoproperty` the expanded attribute IRI (the caller
  // defaults it to location). InvalidRequest for a malformed georel or coordinates,
  // BadRequestData for an invalid geometry, each naming the parameter and the reason.
  static Result<GeoQuery> Parse(std::string_view georel, std::string_view geometry,
                                std::string_view coordinates, std::string geoproperty);
  // The same from an already-parsed coordinates value (the geoQ member of POST
  // /entityOperations/query carries coordinates as JSON, or as a string holding JSON).
  static Result<GeoQuery> Parse(std::string_view georel, std::string_view geometry,
                                const boost::json::value& coordinates, std::string geoproperty);

  Relation relation() const { return relation_; }
  const std::string& geoproperty() const { return geoproperty_; }

  // True if any instance of the entity's geoproperty (a GeoProperty) satisfies the relation.
  bool Matches(const Entity& e) const;
  // True if a GeoProperty value (GeoJSON, read leniently like stored entities: structure
  // only) satisfies the relation; false if it cannot be read.
  bool MatchesValue(const boost::json::value& geometry) const;
  // True if a geometry encoded by EncodeGeometry satisfies the relation; nullopt if `bytes`
  // is not such an encoding.
  std::optional<bool> MatchesEncoded(std::string_view bytes) const;
  // True if the entity geometry `g` satisfies the relation.
  bool MatchesGeometry(const Geometry& g) const;
  // Same for a point entity geometry (fast path used with index-resident positions).
  bool MatchesPoint(double lon, double lat) const;

  // The great-circle distance in metres between the query geometry and the closest instance of
  // the entity's GeoProperty `attr` (expanded), 0 where they intersect; nullopt if the entity has
  // no readable geometry there. For orderBy by distance (v1.9.1 §4.23).
  std::optional<double> DistanceMetres(const Entity& e, const std::string& attr) const;

  // A box that every matching entity geometry intersects, or nullopt if the relation cannot
  // be narrowed that way (disjoint; near with only minDistance).
  std::optional<GeoBox> CandidateBox() const;

 private:
  Relation relation_ = Relation::kNear;
  std::optional<double> max_distance_;
  std::optional<double> min_distance_;
  std::string geoproperty_;
  Geometry geometry_;
};

}  // namespace cityhub::ngsild
