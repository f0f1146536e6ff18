// Index term layout (all names are expanded IRIs, which never contain NUL):
//
//   X <expiresAt ms, 8 bytes big endian>     a transient entity (§4.22), so the expired ones
//                                           are one key range
//
//   V <h(type, attr)> <kind> <value>         a comparable value of attr on an entity of type
//   V <h(type, attr)> ~                      attr has more than kMaxValuesPerAttribute values
//   G <h(type, attr)> p <leaf cell>          a Point; payload: lon, lat (2 x 8-byte doubles)
//   G <h(type, attr)> a <cell>               a covering cell of another geometry's bounding box;
//                                           payload: the geometry's binary copy
//                                           (ngsild::EncodeGeometry) if it is at most
//                                           kMaxShapePayloadBytes (a street segment, a small
//                                           zone), so the planner decides without reading the
//                                           entity; else empty
//
// <kind> is one byte per ngsild::QValue::Kind. Values are encoded so that byte order is value
// order and every encoding is self-delimiting (no value's bytes are a prefix of another's), so
// a term is found exactly by the prefix range [term, successor(term)) and a value range is one
// key range:
//   - numbers (and times, which are numbers in QValue): IEEE 754 bits, big endian, with the
//     sign bit flipped for positive numbers and all bits flipped for negative ones; -0 is 0;
//   - strings: the first kMaxIndexedStringBytes bytes, 0x00 escaped as 0x00 0xFF, then 0x00 0x01.
//     Longer strings share the key of their prefix: truncation keeps order (v <= w implies
//     prefix(v) <= prefix(w)), so an index scan still finds a superset and the evaluator sorts
//     it out;
//   - booleans: 0 or 1.
// Keeping at most kMaxValuesPerAttribute values per (entity, attribute) bounds what one entity
// costs the index; past it the entity gets the overflow key instead, and a query planner that
// finds an overflow key for (type, attr) scans the type rather than trusting the value keys.
//
// h(type, attr) is the 64-bit FNV-1a hash of type \0 attr, 8 bytes big endian. Value keys are
// the most numerous (one per attribute value), and with the two IRIs spelled out they were
// ~150 bytes whose first ~100 were shared: RocksDB's memtable compares whole keys on every
// insert, and that comparison was the largest cost of a batch load. A hash collision between
// two (type, attr) pairs can only add candidates, never decide a match, because every
// candidate of a value key is read and checked by the evaluator. Spatial keys use the same
// hash: with the names spelled out they were ~130 bytes, and comparing those prefixes was 12 %
// of a spatial scan. Spatial keys may decide a match without reading the entity, so there a
// collision could answer wrongly — with 64-bit hashes the odds for a city with 10,000 (type,
// attr) pairs are ~3e-12, far below a disk's silent-corruption rate.
//
// Cells are S2 cell ids, 8 bytes big endian, so a cell's descendants are one key range. Boxes
// are widened by a few centimetres before covering so that a point exactly on a box edge is
// still inside a covering cell (a closed cell edge may belong to the neighbouring leaf).
#include "broker/index_terms.h"

#include <s2/s2cell_id.h>
#include <s2/s2latlng.h>
#include <s2/s2latlng_rect.h>
#include <s2/s2latlng_rect_bounder.h>
#include <s2/s2region_coverer.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <set>


namespace cityhub::broker {
namespace {

using ngsild::QValue;

constexpr size_t kMaxIndexedStringBytes = 128;
constexpr size_t kMaxValuesPerAttribute = 64;
constexpr int kEntityCoveringCells = 8;
constexpr int kQueryCoveringCells = 16;
constexpr double kBoxMarginDegrees = 2e-6;  // ~22 cm of latitude: more than a leaf cell
constexpr size_t kMaxShapePayloadBytes = 240;
static_assert(kMaxShapePayloadBytes <= store::kMaxTermPayloadBytes);

std::string Successor(std::string s) {
  while (!s.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(s.back());
    if (last != 0xff) {
      ++last;
      return s;
    }
    s.pop_back();
  }
  return s;  // empty: no upper bound
}

store::TermRange PrefixRange(const std::string& prefix) { return {prefix, Successor(prefix)}; }

char KindByte(QValue::Kind k) { return static_cast<char>('0' + static_cast<int>(k)); }

void AppendBigEndian(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

// The expiry key of a transient entity: 'X' and its expiresAt (ms, positive), big endian.
std::string ExpiryKey(int64_t expires_at_ms) {
  std::string key(1, 'X');
  AppendBigEndian(&key, static_cast<uint64_t>(expires_at_ms));
  return key;
}

// `tag` ('V' or 'G') and the FNV-1a hash of type \0 attr (see the top of the file).
std::string HashedPrefix(char tag, std::string_view type, std::string_view attr) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  };
  mix(type);
  mix(std::string_view("\0", 1));
  mix(attr);
  std::string out(1, tag);
  AppendBigEndian(&out, h);
  return out;
}

void AppendNumber(std::string* out, double d) {
  if (d == 0) d = 0;  // -0 == 0
  uint64_t bits = std::bit_cast<uint64_t>(d);
  bits = (bits & (1ULL << 63)) ? ~bits : bits | (1ULL << 63);
  AppendBigEndian(out, bits);
}

void AppendString(std::string* out, std::string_view s) {
  s = s.substr(0, kMaxIndexedStringBytes);
  for (char c : s) {
    out->push_back(c);
    if (c == '\0') out->push_back('\xff');
  }
  out->push_back('\0');
  out->push_back('\x01');
}

bool IsTruncated(const QValue& v) {
  return v.kind == QValue::Kind::kString && v.text.size() > kMaxIndexedStringBytes;
}

void AppendValue(std::string* out, const QValue& v) {
  out->push_back(KindByte(v.kind));
  if (v.kind == QValue::Kind::kString) {
    AppendString(out, v.text);
  } else if (v.kind == QValue::Kind::kBoolean) {
    out->push_back(v.number != 0 ? '\x01' : '\x00');
  } else {
    AppendNumber(out, v.number);
  }
}

// --- Entity terms -------------------------------------------------------------------------

// The distinct encoded comparable values of one attribute, or nullopt past the cap.
std::optional<std::set<std::string>> EncodedValues(const ngsild::Instances& instances) {
  std::set<std::string> values;
  bool overflow = false;
  for (const auto& inst : instances) {
    ngsild::ForEachComparable(inst, [&](const QValue& v) {
      if (overflow) return;
      std::string encoded;
      AppendValue(&encoded, v);
      values.insert(std::move(encoded));
      overflow = values.size() > kMaxValuesPerAttribute;
    });
  }
  if (overflow) return std::nullopt;
  return values;
}

std::string PointPayload(double lon, double lat) {
  std::string out(16, '\0');
  std::memcpy(out.data(), &lon, 8);
  std::memcpy(out.data() + 8, &lat, 8);
  return out;
}

// Visits each innermost array of [lon, lat] positions (a LineString, a ring, a MultiPoint, or a
// single Point as a one-position run) nested in GeoJSON `coordinates`; false if malformed.
template <typename Visit>
bool ForEachRun(const boost::json::value& coordinates, Visit&& visit, int depth = 0) {
  if (!coordinates.is_array() || depth > 4) return false;
  const auto& a = coordinates.get_array();
  auto is_position = [](const boost::json::value& p) {
    return p.is_array() && p.get_array().size() >= 2 && p.get_array()[0].is_number() && p.get_array()[1].is_number();
  };
  if (!a.empty() && a[0].is_number()) {
    if (!is_position(coordinates)) return false;
    visit(boost::json::array{coordinates});
    return true;
  }
  if (!a.empty() && is_position(a[0])) {
    if (!std::all_of(a.begin(), a.end(), is_position)) return false;
    visit(a);
    return true;
  }
  for (const auto& item : a) {
    if (!ForEachRun(item, visit, depth + 1)) return false;
  }
  return true;
}

// The bounds of a geometry for the spatial index: its positions' lon/lat box (which holds its
// straight lon/lat edges, what the relations use) joined with the bound of the great-circle
// edges between them (what `near` measures along; they bulge poleward of their ends).
std::optional<ngsild::GeoBox> GeometryBounds(const boost::json::value& coordinates) {
  S2LatLngRect bound = S2LatLngRect::Empty();
  bool any = false;
  bool ok = ForEachRun(coordinates, [&](const boost::json::array& run) {
    S2LatLngRectBounder bounder;
    for (const auto& p : run) {
      double lon = p.get_array()[0].to_number<double>(), lat = p.get_array()[1].to_number<double>();
      S2LatLng ll = S2LatLng::FromDegrees(lat, lon);
      bounder.AddLatLng(ll);
      bound.AddPoint(ll);
      any = true;
    }
    bound = bound.Union(bounder.GetBound());
  });
  if (!ok || !any) return std::nullopt;
  if (bound.lng().is_inverted()) {  // wraps the antimeridian: index every longitude (rare, correct)
    return ngsild::GeoBox{-180, std::max(-90.0, bound.lat_lo().degrees()), 180, std::min(90.0, bound.lat_hi().degrees())};
  }
  return ngsild::GeoBox{bound.lng_lo().degrees(), bound.lat_lo().degrees(), bound.lng_hi().degrees(), bound.lat_hi().degrees()};
}

S2LatLngRect RectOf(const ngsild::GeoBox& box) {
  double lat_margin = kBoxMarginDegrees;
  double max_abs_lat = std::min(89.0, std::max(std::abs(box.min_lat), std::abs(box.max_lat)));
  double lon_margin = kBoxMarginDegrees / std::cos(max_abs_lat * M_PI / 180);
  return S2LatLngRect(
      S2LatLng::FromDegrees(std::max(-90.0, box.min_lat - lat_margin), std::max(-180.0, box.min_lon - lon_margin)),
      S2LatLng::FromDegrees(std::min(90.0, box.max_lat + lat_margin), std::min(180.0, box.max_lon + lon_margin)));
}

std::vector<S2CellId> Covering(const ngsild::GeoBox& box, int max_cells) {
  S2RegionCoverer::Options options;
  options.set_max_cells(max_cells);
  S2RegionCoverer coverer(options);
  std::vector<S2CellId> cells;
  coverer.GetCovering(RectOf(box), &cells);
  return cells;
}

std::string CellKey(const std::string& prefix, char shape, uint64_t cell) {
  std::string key = prefix;
  key.push_back(shape);
  AppendBigEndian(&key, cell);
  return key;
}

// Adds the spatial terms of one geometry value under `prefix` (G type attr).
void AddGeoTerms(const std::string& prefix, const boost::json::value& geometry,
                 std::map<std::string, std::string>* terms) {
  if (!geometry.is_object()) return;
  const auto* type = geometry.get_object().if_contains("type");
  const auto* coordinates = geometry.get_object().if_contains("coordinates");
  if (!type || !type->is_string() || !coordinates) return;
  if (type->get_string() == "Point") {
    const auto* c = coordinates->if_array();
    if (!c || c->size() < 2 || !(*c)[0].is_number() || !(*c)[1].is_number()) return;
    const double lon = (*c)[0].to_number<double>(), lat = (*c)[1].to_number<double>();
    S2CellId leaf(S2LatLng::FromDegrees(lat, lon));
    auto [it, fresh] = terms->emplace(CellKey(prefix, 'p', leaf.id()), PointPayload(lon, lat));
    // Two different points in one leaf cell: keep the key, and let the planner read the entity.
    if (!fresh && it->second != PointPayload(lon, lat)) it->second.clear();
    return;
  }
  auto box = GeometryBounds(*coordinates);
  if (!box) return;
  std::string shape = ngsild::EncodeGeometry(geometry, kMaxShapePayloadBytes).value_or("");
  for (S2CellId cell : Covering(*box, kEntityCoveringCells)) {
    auto [it, fresh] = terms->emplace(CellKey(prefix, 'a', cell.id()), shape);
    // Two geometries sharing a cell: keep the key, and let the planner read the entity.
    if (!fresh && it->second != shape) it->second.clear();
  }
}

}  // namespace

std::vector<store::IndexTerm> IndexTermsOf(const ngsild::Entity& e) {
  std::map<std::string, std::string> terms;
  for (const auto& [attr, instances] : e.attrs) {
    auto values = EncodedValues(instances);
    for (const auto& type : e.types) {
      std::string prefix = HashedPrefix('V', type, attr);
      if (!values) {
        terms.emplace(prefix + "~", "");
        continue;
      }
      for (const auto& v : *values) terms.emplace(prefix + v, "");
    }
    for (const auto& inst : instances) {
      if (ngsild::AttrTypeOf(inst) != ngsild::AttrType::kGeoProperty) continue;
      const auto* geometry = inst.if_contains("value");
      if (!geometry) continue;
      for (const auto& type : e.types) {
        AddGeoTerms(HashedPrefix('G', type, attr), *geometry, &terms);
      }
    }
  }
  if (e.expires_at > 0) terms.emplace(ExpiryKey(e.expires_at), "");
  std::vector<store::IndexTerm> out;
  out.reserve(terms.size());
  for (auto& [key, payload] : terms) out.push_back({key, std::move(payload)});
  return out;
}

store::TermRange ExpiredRange(int64_t now_ms) {
  return {std::string(1, 'X'), ExpiryKey(now_ms + 1)};
}

std::optional<ValueScan> ValueScanFor(std::string_view type, const ngsild::QIndexTerm& term) {
  const std::string prefix = HashedPrefix('V', type, term.attr);
  ValueScan scan;
  scan.overflow = PrefixRange(prefix + "~");
  if (!term.values.empty()) {
    std::set<std::string> keys;
    for (const auto& v : term.values) {
      std::string key = prefix;
      AppendValue(&key, v);
      keys.insert(std::move(key));
    }
    for (const auto& key : keys) scan.ranges.push_back(PrefixRange(key));
    return scan;
  }
  if (!term.lower && !term.upper) return std::nullopt;
  const QValue::Kind kind = term.lower ? term.lower->kind : term.upper->kind;
  const std::string kind_prefix = prefix + KindByte(kind);
  store::TermRange range = PrefixRange(kind_prefix);
  if (term.lower) {
    std::string key = prefix;
    AppendValue(&key, *term.lower);
    // A truncated bound no longer excludes the values sharing its prefix.
    range.begin = term.lower_inclusive || IsTruncated(*term.lower) ? key : Successor(key);
  }
  if (term.upper) {
    std::string key = prefix;
    AppendValue(&key, *term.upper);
    range.end = term.upper_inclusive || IsTruncated(*term.upper) ? Successor(key) : key;
  }
  if (range.begin >= range.end) return ValueScan{{}, scan.overflow};  // empty range
  scan.ranges.push_back(std::move(range));
  return scan;
}

SpatialScan SpatialScanFor(std::string_view type, std::string_view attr, const ngsild::GeoBox& box) {
  const std::string prefix = HashedPrefix('G', type, attr);
  SpatialScan scan;
  scan.any_area = PrefixRange(prefix + 'a');
  std::set<uint64_t> ancestors;
  for (S2CellId cell : Covering(box, kQueryCoveringCells)) {
    scan.points.push_back({CellKey(prefix, 'p', cell.range_min().id()),
                           Successor(CellKey(prefix, 'p', cell.range_max().id()))});
    scan.area_ranges.push_back({CellKey(prefix, 'a', cell.range_min().id()),
                                Successor(CellKey(prefix, 'a', cell.range_max().id()))});
    for (int level = 0; level < cell.level(); ++level) ancestors.insert(cell.parent(level).id());
  }
  for (uint64_t id : ancestors) scan.area_ranges.push_back(PrefixRange(CellKey(prefix, 'a', id)));
  return scan;
}

bool DecodePoint(std::string_view payload, double* lon, double* lat) {
  if (payload.size() != 16) return false;
  std::memcpy(lon, payload.data(), 8);
  std::memcpy(lat, payload.data() + 8, 8);
  return true;
}

}  // namespace cityhub::broker
