// Differential test of the query engine: a random dataset (10,000 entities with random numbers,
// strings, booleans, arrays, scopes, points and rectangles) is stored through EntityService in a
// real RocksDB store, and 10,000 random queries — q, geo-queries, scopeQ, idPattern, types and
// their combinations, with random pages and counts — go through QueryService (indexes, planner,
// evaluators) and through a brute-force evaluator written here from the specification's rules
// over the generator's own plain structs. Every page and every count must be identical.
//
// The sizes can be changed with CITYHUB_DIFF_ENTITIES / CITYHUB_DIFF_QUERIES; sanitizer builds
// run a tenth of the queries by default (they are ~10x slower). CITYHUB_DIFF_SEED picks the seed.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "broker/entity_service.h"
#include "broker/query_service.h"
#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "store/rocksdb/rocksdb_store.h"
#include "util/json.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kDefaultQueries = 1000;
#else
constexpr size_t kDefaultQueries = 10000;
#endif

size_t EnvSize(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  return v ? static_cast<size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

constexpr double kMinLon = 127.0, kMaxLon = 127.1, kMinLat = 35.8, kMaxLat = 35.9;
constexpr double kEarthRadius = 6371008.8;
const std::vector<std::string> kColours = {"red", "green", "blue", "teal", "grey"};
const std::vector<std::string> kScopes = {"/a", "/a/b", "/a/c", "/d"};

struct Rect {
  double min_lon, min_lat, max_lon, max_lat;
};

// What the generator put into one entity.
struct Generated {
  std::string id;
  std::vector<std::string> types;      // short names
  std::vector<int> n;                  // empty = no attribute; several = an array value
  std::optional<std::string> s;
  std::optional<double> f;
  std::optional<bool> b;
  std::optional<std::string> scope;
  std::optional<std::pair<double, double>> point;  // lon, lat
  std::optional<Rect> area;

  bool HasType(const std::string& t) const { return std::find(types.begin(), types.end(), t) != types.end(); }
};

std::string Json(const Generated& g) {
  json::object o;
  o["id"] = g.id;
  if (g.types.size() == 1) {
    o["type"] = g.types[0];
  } else {
    json::array types;
    for (const auto& t : g.types) types.emplace_back(t);
    o["type"] = std::move(types);
  }
  if (g.n.size() == 1) o["n"] = json::object{{"type", "Property"}, {"value", g.n[0]}};
  if (g.n.size() > 1) {
    json::array values;
    for (int v : g.n) values.emplace_back(v);
    o["n"] = json::object{{"type", "Property"}, {"value", std::move(values)}};
  }
  if (g.s) o["s"] = json::object{{"type", "Property"}, {"value", *g.s}};
  if (g.f) o["f"] = json::object{{"type", "Property"}, {"value", *g.f}};
  if (g.b) o["b"] = json::object{{"type", "Property"}, {"value", *g.b}};
  if (g.scope) o["scope"] = *g.scope;
  std::string text = json::serialize(o);
  // Coordinates are written with full precision by hand (serialize may shorten doubles).
  std::string geometry;
  if (g.point) {
    geometry = fmt::format(R"({{"type":"Point","coordinates":[{:.17g},{:.17g}]}})", g.point->first, g.point->second);
  } else if (g.area) {
    const Rect& r = *g.area;
    geometry = fmt::format(R"({{"type":"Polygon","coordinates":[[[{0:.17g},{1:.17g}],[{2:.17g},{1:.17g}],)"
                           R"([{2:.17g},{3:.17g}],[{0:.17g},{3:.17g}],[{0:.17g},{1:.17g}]]]}})",
                           r.min_lon, r.min_lat, r.max_lon, r.max_lat);
  }
  if (!geometry.empty()) {
    text.pop_back();
    text += fmt::format(R"(,"location":{{"type":"GeoProperty","value":{}}}}})", geometry);
  }
  return text;
}

double Haversine(double lon1, double lat1, double lon2, double lat2) {
  const double rad = M_PI / 180;
  double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(lat1 * rad) * std::cos(lat2 * rad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadius * std::asin(std::min(1.0, std::sqrt(h)));
}

// One random query: its texts for the parsers and the predicate the brute force applies.
struct RandomQuery {
  std::string description;
  std::vector<std::string> types;
  std::string q;
  std::string scope_q;
  std::string id_pattern;
  std::string georel, geometry, coordinates;
  std::function<bool(const Generated&)> matches;
  size_t limit = 20, offset = 0;
  bool count = false;
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  Generated Entity(int i) {
    Generated g;
    g.id = fmt::format("urn:x:{:05d}", i);
    if (Chance(0.03)) {
      g.types = {"Z"};
      double w = Uniform(0.0005, 0.01), h = Uniform(0.0005, 0.01);
      double lon = Uniform(kMinLon, kMaxLon - w), lat = Uniform(kMinLat, kMaxLat - h);
      g.area = Rect{lon, lat, lon + w, lat + h};
      if (Chance(0.5)) {  // short coordinates: small enough for the index to hold the shape
        auto round = [](double v) { return std::round(v * 1e5) / 1e5; };
        g.area = Rect{round(lon), round(lat), round(lon + w), round(lat + h)};
      }
    } else {
      g.types = {Pick<std::string>({"A", "B", "C"})};
      if (Chance(0.05)) g.types.push_back(g.types[0] == "A" ? "B" : "A");
      if (Chance(0.9)) g.point = std::make_pair(Uniform(kMinLon, kMaxLon), Uniform(kMinLat, kMaxLat));
    }
    if (Chance(0.9)) g.n.push_back(Int(0, 49));
    if (!g.n.empty() && Chance(0.05)) g.n.push_back(Int(0, 49));
    if (Chance(0.8)) g.s = Pick(kColours);
    if (Chance(0.7)) g.f = Uniform(0, 1);
    if (Chance(0.5)) g.b = Chance(0.5);
    if (Chance(0.7)) g.scope = Pick(kScopes);
    return g;
  }

  RandomQuery Query() {
    RandomQuery rq;
    std::vector<std::function<bool(const Generated&)>> parts;
    double r = Uniform(0, 1);
    if (r < 0.5) {
      rq.types = {Pick<std::string>({"A", "B", "C", "Z"})};
    } else if (r < 0.7) {
      rq.types = {"A", "C"};
    }
    if (Chance(0.7)) {
      auto [text, pred] = Expression(0);
      rq.q = text;
      parts.push_back(pred);
    }
    if (Chance(0.4)) parts.push_back(Geo(&rq));
    if (Chance(0.15)) parts.push_back(Scope(&rq));
    if (Chance(0.1)) {
      char digit = static_cast<char>('0' + Int(0, 9));
      rq.id_pattern = fmt::format("{}$", digit);
      parts.push_back([digit](const Generated& g) { return g.id.back() == digit; });
    }
    if (rq.types.empty() && rq.q.empty() && rq.georel.empty() && rq.scope_q.empty() && rq.id_pattern.empty()) {
      rq.types = {"B"};
    }
    if (!rq.types.empty()) {  // last: Geo() may have narrowed them
      auto types = rq.types;
      parts.push_back([types](const Generated& g) {
        return std::any_of(types.begin(), types.end(), [&](const std::string& t) { return g.HasType(t); });
      });
    }
    rq.matches = [parts](const Generated& g) {
      return std::all_of(parts.begin(), parts.end(), [&](const auto& p) { return p(g); });
    };
    rq.limit = Pick<size_t>({1, 5, 20, 100, 1000});
    rq.offset = Pick<size_t>({0, 0, 0, 3, 50});
    rq.count = Chance(0.4);
    rq.description = fmt::format("types=[{}] q='{}' georel='{}' geometry={} coordinates={} scopeQ='{}' idPattern='{}' "
                                 "limit={} offset={} count={}",
                                 fmt::join(rq.types, ","), rq.q, rq.georel, rq.geometry, rq.coordinates, rq.scope_q,
                                 rq.id_pattern, rq.limit, rq.offset, rq.count);
    return rq;
  }

 private:
  using Pred = std::function<bool(const Generated&)>;

  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  double Uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
  int Int(int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng_); }
  template <typename T>
  T Pick(const std::vector<T>& items) { return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(rng_)]; }

  static bool AnyN(const Generated& g, const std::function<bool(int)>& p) { return std::any_of(g.n.begin(), g.n.end(), p); }

  // A term of q and its meaning (GS CIM 009 §4.9: existential over values; != needs the
  // attribute and no equal value; a pattern is searched in the string).
  std::pair<std::string, Pred> Term() {
    int k = Int(0, 49);
    switch (Int(0, 15)) {
      case 0: return {fmt::format("n=={}", k), [k](const Generated& g) { return AnyN(g, [k](int v) { return v == k; }); }};
      case 1: return {fmt::format("n!={}", k), [k](const Generated& g) { return !g.n.empty() && !AnyN(g, [k](int v) { return v == k; }); }};
      case 2: return {fmt::format("n>{}", k), [k](const Generated& g) { return AnyN(g, [k](int v) { return v > k; }); }};
      case 3: return {fmt::format("n>={}", k), [k](const Generated& g) { return AnyN(g, [k](int v) { return v >= k; }); }};
      case 4: return {fmt::format("n<{}", k), [k](const Generated& g) { return AnyN(g, [k](int v) { return v < k; }); }};
      case 5: return {fmt::format("n<={}", k), [k](const Generated& g) { return AnyN(g, [k](int v) { return v <= k; }); }};
      case 6: {
        int hi = k + Int(0, 5);
        return {fmt::format("n=={}..{}", k, hi), [k, hi](const Generated& g) { return AnyN(g, [&](int v) { return v >= k && v <= hi; }); }};
      }
      case 7: {
        int a = Int(0, 49), b = Int(0, 49);
        return {fmt::format("n=={},{},{}", k, a, b),
                [k, a, b](const Generated& g) { return AnyN(g, [&](int v) { return v == k || v == a || v == b; }); }};
      }
      case 8: {
        std::string c = Pick(kColours);
        return {fmt::format(R"(s=="{}")", c), [c](const Generated& g) { return g.s && *g.s == c; }};
      }
      case 9: {
        std::string c = Pick(kColours);
        return {fmt::format(R"(s!="{}")", c), [c](const Generated& g) { return g.s && *g.s != c; }};
      }
      case 10: return {R"(s~="^gr")", [](const Generated& g) { return g.s && g.s->rfind("gr", 0) == 0; }};
      case 11: return {R"(s!~="e$")", [](const Generated& g) { return g.s && g.s->back() != 'e'; }};
      case 12: {
        bool v = Chance(0.5);
        return {fmt::format("b=={}", v), [v](const Generated& g) { return g.b && *g.b == v; }};
      }
      case 13: {
        double x = std::round(Uniform(0, 1) * 100) / 100;
        return {fmt::format("f>{}", x), [x](const Generated& g) { return g.f && *g.f > x; }};
      }
      case 14: {
        double x = std::round(Uniform(0, 1) * 100) / 100;
        return {fmt::format("f<={}", x), [x](const Generated& g) { return g.f && *g.f <= x; }};
      }
      default: return {"b", [](const Generated& g) { return g.b.has_value(); }};
    }
  }

  // 1-3 terms or parenthesised groups joined by ';' or '|' (';' binds tighter, §4.9).
  std::pair<std::string, Pred> Expression(int depth) {
    int n = Int(1, 3);
    std::string text;
    std::vector<std::vector<Pred>> ors(1);  // OR of ANDs
    for (int i = 0; i < n; ++i) {
      if (i > 0) {
        bool is_and = Chance(0.6);
        text += is_and ? ";" : "|";
        if (!is_and) ors.emplace_back();
      }
      std::pair<std::string, Pred> item;
      if (depth < 2 && Chance(0.2)) {
        item = Expression(depth + 1);
        item.first = "(" + item.first + ")";
      } else {
        item = Term();
      }
      text += item.first;
      ors.back().push_back(item.second);
    }
    Pred pred = [ors](const Generated& g) {
      return std::any_of(ors.begin(), ors.end(), [&](const std::vector<Pred>& ands) {
        return std::all_of(ands.begin(), ands.end(), [&](const Pred& p) { return p(g); });
      });
    };
    return {text, pred};
  }

  Pred Geo(RandomQuery* rq) {
    double lon = Uniform(kMinLon, kMaxLon), lat = Uniform(kMinLat, kMaxLat);
    int kind = Int(0, 4);
    if (kind <= 1) {
      // near: only point entities, so the oracle stays plain haversine between points.
      if (rq->types.empty() || std::find(rq->types.begin(), rq->types.end(), "Z") != rq->types.end()) rq->types = {"A", "C"};
      double max = Uniform(50, 3000);
      double min = kind == 1 ? Uniform(0, max) : 0;
      rq->georel = kind == 1 ? fmt::format("near;minDistance=={:.3f};maxDistance=={:.3f}", min, max)
                             : fmt::format("near;maxDistance=={:.3f}", max);
      max = std::stod(fmt::format("{:.3f}", max));
      min = std::stod(fmt::format("{:.3f}", min));
      rq->geometry = "Point";
      rq->coordinates = fmt::format("[{:.17g},{:.17g}]", lon, lat);
      return [=](const Generated& g) {
        if (!g.point) return false;
        double d = Haversine(lon, lat, g.point->first, g.point->second);
        return d <= max && d >= min;
      };
    }
    double w = Uniform(0.001, 0.05), h = Uniform(0.001, 0.05);
    Rect q{lon, lat, lon + w, lat + h};
    rq->geometry = "Polygon";
    rq->coordinates = fmt::format("[[[{0:.17g},{1:.17g}],[{2:.17g},{1:.17g}],[{2:.17g},{3:.17g}],[{0:.17g},{3:.17g}],[{0:.17g},{1:.17g}]]]",
                                  q.min_lon, q.min_lat, q.max_lon, q.max_lat);
    auto intersects = [q](const Generated& g) {
      if (g.point) return g.point->first >= q.min_lon && g.point->first <= q.max_lon && g.point->second >= q.min_lat && g.point->second <= q.max_lat;
      if (g.area) return g.area->min_lon <= q.max_lon && g.area->max_lon >= q.min_lon && g.area->min_lat <= q.max_lat && g.area->max_lat >= q.min_lat;
      return false;
    };
    if (kind == 2) {
      rq->georel = "within";
      return [q](const Generated& g) {
        if (g.point) return g.point->first > q.min_lon && g.point->first < q.max_lon && g.point->second > q.min_lat && g.point->second < q.max_lat;
        if (g.area) return g.area->min_lon >= q.min_lon && g.area->max_lon <= q.max_lon && g.area->min_lat >= q.min_lat && g.area->max_lat <= q.max_lat;
        return false;
      };
    }
    if (kind == 3) {
      rq->georel = "intersects";
      return intersects;
    }
    rq->georel = "disjoint";
    return [intersects](const Generated& g) { return (g.point || g.area) && !intersects(g); };
  }

  // scopeQ: "/a/#" is /a and everything below it; ',' and '|' are OR, ';' AND (§4.19).
  Pred Scope(RandomQuery* rq) {
    switch (Int(0, 3)) {
      case 0: {
        std::string s = Pick(kScopes);
        rq->scope_q = s;
        return [s](const Generated& g) { return g.scope && *g.scope == s; };
      }
      case 1:
        rq->scope_q = "/a/#";
        return [](const Generated& g) { return g.scope && (*g.scope == "/a" || g.scope->rfind("/a/", 0) == 0); };
      case 2:
        rq->scope_q = "/a/b|/d";
        return [](const Generated& g) { return g.scope && (*g.scope == "/a/b" || *g.scope == "/d"); };
      default:
        rq->scope_q = "/a/+";
        return [](const Generated& g) { return g.scope && (*g.scope == "/a/b" || *g.scope == "/a/c"); };
    }
  }

  std::mt19937_64 rng_;
};

TEST(QueryDifferentialTest, IndexedQueriesEqualBruteForce) {
  const size_t n_entities = EnvSize("CITYHUB_DIFF_ENTITIES", 10000);
  const size_t n_queries = EnvSize("CITYHUB_DIFF_QUERIES", kDefaultQueries);
  const uint64_t seed = EnvSize("CITYHUB_DIFF_SEED", 20261126);
  std::random_device rd;
  fs::path dir = fs::temp_directory_path() / fmt::format("cityhub-diff-{}-{}", ::getpid(), rd());
  store::RocksDbOptions o;
  o.data_dir = dir.string();
  o.block_cache_bytes = 64 << 20;
  o.write_buffer_bytes = 16 << 20;
  auto store = store::OpenRocksDbStore(o);
  ASSERT_TRUE(store.ok()) << store.status().message();
  {
    EntityService entities(**store);
    QueryService queries(**store);
    ngsild::ContextResolver resolver({}, {});
    ASSERT_TRUE(resolver.Init().ok());
    auto ctx = resolver.Core();

    Generator gen(seed);
    std::vector<Generated> data;
    std::vector<int> order(n_entities);
    for (size_t i = 0; i < n_entities; ++i) order[i] = static_cast<int>(i);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    std::vector<ngsild::Entity> batch;
    for (int i : order) {
      data.push_back(gen.Entity(i));
      boost::system::error_code ec;  // util::ParseJson keeps every coordinate digit exact
      auto e = ngsild::ParseEntity(util::ParseJson(Json(data.back()), ec).as_object(), *ctx, 0, {});
      ASSERT_TRUE(e.ok()) << e.status().message() << " " << Json(data.back());
      batch.push_back(std::move(*e));
      if (batch.size() == 1000) {
        ASSERT_TRUE(entities.BatchCreate(AnyoneMayWrite(), "", std::move(batch)).errors.empty());
        batch.clear();
      }
    }
    if (!batch.empty()) {
      ASSERT_TRUE(entities.BatchCreate(AnyoneMayWrite(), "", std::move(batch)).errors.empty());
    }
    std::sort(data.begin(), data.end(), [](const Generated& a, const Generated& b) { return a.id < b.id; });

    size_t non_empty = 0;
    for (size_t i = 0; i < n_queries; ++i) {
      RandomQuery rq = gen.Query();
      EntityQuery q;
      for (const auto& t : rq.types) q.types.push_back(ctx->ExpandTerm(t));
      q.id_pattern = rq.id_pattern;
      if (!rq.q.empty()) {
        auto f = ngsild::QFilter::Parse(rq.q, *ctx);
        ASSERT_TRUE(f.ok()) << f.status().message() << " in " << rq.description;
        q.q = std::move(*f);
      }
      if (!rq.scope_q.empty()) {
        auto f = ngsild::ScopeFilter::Parse(rq.scope_q);
        ASSERT_TRUE(f.ok()) << f.status().message() << " in " << rq.description;
        q.scope = std::move(*f);
      }
      if (!rq.georel.empty()) {
        auto g = ngsild::GeoQuery::Parse(rq.georel, rq.geometry, rq.coordinates, ctx->ExpandTerm("location"));
        ASSERT_TRUE(g.ok()) << g.status().message() << " in " << rq.description;
        q.geo = std::move(*g);
      }
      q.limit = rq.limit;
      q.offset = rq.offset;
      q.count = rq.count;

      std::vector<std::string> expected;
      for (const auto& g : data) {
        if (rq.matches(g)) expected.push_back(g.id);
      }
      auto got = queries.Query("", q);
      ASSERT_TRUE(got.ok()) << got.status().message() << " in " << rq.description;
      std::vector<std::string> page;
      for (const auto& e : got->entities) page.push_back(e.id);
      size_t from = std::min(rq.offset, expected.size());
      size_t to = std::min(from + rq.limit, expected.size());
      std::vector<std::string> expected_page(expected.begin() + from, expected.begin() + to);
      ASSERT_EQ(page, expected_page) << "query " << i << ": " << rq.description;
      if (rq.count) {
        ASSERT_EQ(got->total.value_or(~0ull), expected.size()) << "query " << i << ": " << rq.description;
      }
      non_empty += !expected.empty();
    }
    // The generator must produce meaningful queries, not mostly empty answers.
    EXPECT_GT(non_empty, n_queries / 3);
  }
  (*store)->Close();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace cityhub::broker
