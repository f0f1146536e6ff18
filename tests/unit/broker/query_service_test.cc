// Tests for broker::QueryService on a real RocksDB store: the planner's indexes never change an
// answer (overflowing attributes, long strings, several types, several instances, areas,
// deletions), indexes are rebuilt for data written without them, and the time limit holds.
#include "broker/query_service.h"

#include <filesystem>
#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <re2/re2.h>

#include "broker/entity_service.h"
#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "store/rocksdb/rocksdb_store.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Ids = std::vector<std::string>;

const std::string kVocab(ngsild::kDefaultVocab);
std::string V(std::string_view t) { return kVocab + std::string(t); }

class QueryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / fmt::format("cityhub-query-test-{}-{}", ::getpid(), rd());
    store::RocksDbOptions o;
    o.data_dir = dir_.string();
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    auto s = store::OpenRocksDbStore(o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    entities_ = std::make_unique<EntityService>(*store_);
    queries_ = std::make_unique<QueryService>(*store_);
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }
  void TearDown() override {
    entities_.reset();
    queries_.reset();
    if (store_) store_->Close();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Create(std::string_view text) {
    auto e = ngsild::ParseEntity(json::parse(text).as_object(), *ctx_, 0, {});
    ASSERT_TRUE(e.ok()) << e.status().message();
    ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "", std::move(*e)).ok());
  }

  EntityQuery Q(std::string_view q_text, std::vector<std::string> types = {}) {
    EntityQuery q;
    q.limit = 1000;
    q.count = true;
    q.types = std::move(types);
    if (!q_text.empty()) {
      auto f = ngsild::QFilter::Parse(q_text, *ctx_);
      EXPECT_TRUE(f.ok()) << f.status().message();
      if (f.ok()) q.q = std::move(*f);
    }
    return q;
  }

  EntityQuery Geo(std::string_view georel, std::string_view geometry, std::string_view coordinates) {
    EntityQuery q = Q("");
    auto g = ngsild::GeoQuery::Parse(georel, geometry, coordinates, "https://uri.etsi.org/ngsi-ld/location");
    EXPECT_TRUE(g.ok()) << g.status().message();
    if (g.ok()) q.geo = std::move(*g);
    return q;
  }

  Ids Run(const EntityQuery& q, const QueryService* service = nullptr) {
    auto r = (service ? service : queries_.get())->Query("", q);
    EXPECT_TRUE(r.ok()) << r.status().message();
    Ids ids;
    if (!r.ok()) return ids;
    for (const auto& e : r->entities) ids.push_back(e.id);
    EXPECT_EQ(r->total.value_or(0), ids.size());
    return ids;
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EntityService> entities_;
  std::unique_ptr<QueryService> queries_;
  ngsild::ContextResolver resolver_{{}, {}};
  ngsild::ContextPtr ctx_;
};

TEST_F(QueryServiceTest, ValueIndexAnswersLikeAScan) {
  for (int i = 0; i < 50; ++i) Create(fmt::format(R"({{"id":"urn:x:{:02d}","type":"T","n":{}}})", i, i % 10));
  EXPECT_EQ(Run(Q("n==3", {V("T")})), (Ids{"urn:x:03", "urn:x:13", "urn:x:23", "urn:x:33", "urn:x:43"}));
  EXPECT_EQ(Run(Q("n>8;n<=9")).size(), 5u);
  EXPECT_EQ(Run(Q("n==2..3", {V("T")})).size(), 10u);
  EXPECT_THAT(Run(Q("n==42", {V("T")})), IsEmpty());
  EXPECT_EQ(Run(Q("n==3|n==4", {V("T")})).size(), 10u);  // no index under "|": scanned
}

TEST_F(QueryServiceTest, OverflowingAttributesAreFoundByScanningInstead) {
  std::string many = "[";
  for (int i = 0; i < 100; ++i) many += fmt::format("{}{}", i ? "," : "", i);
  many += "]";
  Create(fmt::format(R"({{"id":"urn:x:many","type":"T","n":{}}})", many));
  Create(R"({"id":"urn:x:one","type":"T","n":77})");
  EXPECT_EQ(Run(Q("n==77", {V("T")})), (Ids{"urn:x:many", "urn:x:one"}));
  EXPECT_EQ(Run(Q("n==5", {V("T")})), (Ids{"urn:x:many"}));
}

TEST_F(QueryServiceTest, LongStringsSeveralTypesAndInstances) {
  std::string long_a(200, 'b'), long_b(200, 'b');  // both sort before "p" and "q"
  long_a += "a";
  long_b += "b";
  Create(fmt::format(R"({{"id":"urn:x:1","type":"T","s":"{}"}})", long_a));
  Create(fmt::format(R"({{"id":"urn:x:2","type":"T","s":"{}"}})", long_b));
  Create(R"({"id":"urn:x:3","type":["T","U"],"s":[{"value":"p"},{"value":"q","datasetId":"urn:d:1"}]})");
  EXPECT_EQ(Run(Q(fmt::format(R"(s=="{}")", long_a), {V("T")})), (Ids{"urn:x:1"}));
  EXPECT_EQ(Run(Q(fmt::format(R"(s>"{}")", long_a), {V("T")})), (Ids{"urn:x:2", "urn:x:3"}));
  EXPECT_EQ(Run(Q(R"(s=="q")", {V("U")})), (Ids{"urn:x:3"}));
  EXPECT_EQ(Run(Q(R"(s=="q")", {V("T"), V("U")})), (Ids{"urn:x:3"}));
  EXPECT_EQ(Run(Q(R"(s=="q")")), (Ids{"urn:x:3"}));
}

TEST_F(QueryServiceTest, IdPatternOverSeveralTypesMatchesLikeOneScan) {
  // Types of different sizes (each walked on its own thread), an entity of two types (one
  // key per type: reported once), and patterns with and without a usable literal prefix.
  for (int i = 0; i < 300; ++i) Create(fmt::format(R"({{"id":"urn:a:{:03d}","type":"A"}})", i));
  for (int i = 0; i < 120; ++i) Create(fmt::format(R"({{"id":"urn:b:{:03d}","type":"B"}})", i));
  for (int i = 0; i < 40; ++i) Create(fmt::format(R"({{"id":"urn:c:{:03d}","type":"C"}})", i));
  Create(R"({"id":"urn:b:zz1","type":["B","C"]})");
  auto pattern = [&](std::string p, size_t limit = 1000, size_t offset = 0) {
    EntityQuery q = Q("");
    q.id_pattern = std::move(p);
    q.limit = limit;
    q.offset = offset;
    q.count = limit == 1000;  // pages stop early: their scans need not visit every id
    return q;
  };
  // Brute force over the ids created above, with RE2's partial-match semantics.
  Ids all;
  for (int i = 0; i < 300; ++i) all.push_back(fmt::format("urn:a:{:03d}", i));
  for (int i = 0; i < 120; ++i) all.push_back(fmt::format("urn:b:{:03d}", i));
  for (int i = 0; i < 40; ++i) all.push_back(fmt::format("urn:c:{:03d}", i));
  all.push_back("urn:b:zz1");
  std::sort(all.begin(), all.end());
  auto expected = [&](const std::string& p) {
    re2::RE2 re(p);
    Ids out;
    for (const auto& id : all) {
      if (re2::RE2::PartialMatch(id, re)) out.push_back(id);
    }
    return out;
  };
  // Patterns whose required literal (checked before the regex) is easy to get wrong:
  // quantified characters, repetitions, escapes, flags, groups, classes, UTF-8.
  for (std::string p : {"^urn:b:", "^urn:[ab]:0[01]", "^urn:a:1|b:00", "1$", "^urn:(a|c):03", "z",
                        "^urn:[^a]:01", "^urn:b:[[:digit:]]+5$", "^urn:b|^urn:c", "^(urn:a:29|urn:c:0)",
                        "urn:a:00?1", "a:0{2}", "a:1{1,2}7", "0{123}", "(?i)URN:A:00", "URN:a", "c:0*3",
                        "b:z+1", "urn\\:c\\:01", "urn:\\w:02", "é?urn:c:00", "urn:[a]:00?1", "c:0(0|3)",
                        "a:{1", "b:0.9", "^u.n:c:03$"}) {
    Ids want = expected(p);
    EXPECT_EQ(Run(pattern(p)), want) << p;
    // Pages of it, without counting: the first 7, and 7 from the 5th on.
    auto page = queries_->Query("", pattern(p, 7));
    ASSERT_TRUE(page.ok());
    Ids got;
    for (const auto& e : page->entities) got.push_back(e.id);
    EXPECT_EQ(got, Ids(want.begin(), want.begin() + std::min<size_t>(7, want.size()))) << p;
    page = queries_->Query("", pattern(p, 7, 5));
    ASSERT_TRUE(page.ok());
    got.clear();
    for (const auto& e : page->entities) got.push_back(e.id);
    const size_t from = std::min<size_t>(5, want.size());
    EXPECT_EQ(got, Ids(want.begin() + from, want.begin() + std::min<size_t>(from + 7, want.size()))) << p;
  }
}

TEST_F(QueryServiceTest, SpatialIndexFindsPointsAndAreasAndFollowsDeletes) {
  Create(R"({"id":"urn:x:p1","type":"T","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.1,35.8]}}})");
  Create(R"({"id":"urn:x:p2","type":"T","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.2,35.8]}}})");
  Create(R"({"id":"urn:x:area","type":"T","location":{"type":"GeoProperty","value":{"type":"Polygon",
            "coordinates":[[[126.0,35.0],[128.0,35.0],[128.0,36.0],[126.0,36.0],[126.0,35.0]]]}}})");
  Create(R"({"id":"urn:x:two","type":"T","location":[
            {"type":"GeoProperty","value":{"type":"Point","coordinates":[10.0,10.0]}},
            {"type":"GeoProperty","datasetId":"urn:d:2","value":{"type":"Point","coordinates":[127.1001,35.8]}}]})");
  EXPECT_EQ(Run(Geo("near;maxDistance==100", "Point", "[127.1,35.8]")), (Ids{"urn:x:area", "urn:x:p1", "urn:x:two"}));
  EXPECT_EQ(Run(Geo("intersects", "Point", "[127.2,35.8]")), (Ids{"urn:x:area", "urn:x:p2"}));
  EXPECT_EQ(Run(Geo("within", "Polygon", "[[[127.0,35.7],[127.15,35.7],[127.15,35.9],[127.0,35.9],[127.0,35.7]]]")),
            (Ids{"urn:x:p1", "urn:x:two"}));
  EXPECT_EQ(Run(Geo("disjoint", "Point", "[127.2,35.8]")), (Ids{"urn:x:p1", "urn:x:two"}));
  ASSERT_TRUE(entities_->Delete(AnyoneMayWrite(), "", "urn:x:p1").ok());
  EXPECT_EQ(Run(Geo("near;maxDistance==100", "Point", "[127.1,35.8]")), (Ids{"urn:x:area", "urn:x:two"}));
}

TEST_F(QueryServiceTest, NearFindsLinesAlongTheirGreatCircleEdges) {
  // The great circle from (0, 60) to (40, 60) peaks at latitude atan(tan 60° / cos 20°) =
  // 61.52°, 1.5° north of its end points' box: near measures along that arc, so the index must
  // cover it. The query points sit on the arc's peak and 0.1° north of it.
  Create(R"({"id":"urn:x:line","type":"T","location":{"type":"GeoProperty","value":{"type":"LineString",
            "coordinates":[[0.0,60.0],[40.0,60.0]]}}})");
  EXPECT_EQ(Run(Geo("near;maxDistance==2000", "Point", "[20.0,61.52]")), (Ids{"urn:x:line"}));
  EXPECT_THAT(Run(Geo("near;maxDistance==2000", "Point", "[20.0,61.62]")), IsEmpty());
}

TEST_F(QueryServiceTest, PagesAreTheSameWhicheverSourceServesThem) {
  for (int i = 0; i < 40; ++i) {
    Create(fmt::format(R"({{"id":"urn:x:{:02d}","type":"T","n":1,"location":{{"type":"GeoProperty",
                          "value":{{"type":"Point","coordinates":[{},35.8]}}}}}})", i, 127.1 + i * 1e-5));
  }
  EntityQuery by_geo = Geo("near;maxDistance==1000", "Point", "[127.1,35.8]");
  EntityQuery by_value = Q("n==1", {V("T")});
  for (size_t offset : {0, 7, 35, 39, 40}) {
    by_geo.offset = by_value.offset = offset;
    by_geo.limit = by_value.limit = 6;
    auto a = queries_->Query("", by_geo);
    auto b = queries_->Query("", by_value);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->entities.size(), b->entities.size()) << offset;
    for (size_t i = 0; i < a->entities.size(); ++i) {
      EXPECT_EQ(a->entities[i].id, fmt::format("urn:x:{:02d}", offset + i));
      EXPECT_EQ(b->entities[i].id, a->entities[i].id);
    }
    EXPECT_EQ(*a->total, 40u);
    EXPECT_EQ(*b->total, 40u);
  }
}

TEST_F(QueryServiceTest, EnsureIndexedRebuildsTermsOfEntitiesStoredWithoutThem) {
  Create(R"({"id":"urn:x:1","type":"T","n":5})");
  // Simulate data from before the index: the same record without terms, no version recorded.
  auto ts = store_->Tenant("", false);
  ASSERT_TRUE(ts.ok());
  auto record = (*ts)->Get("urn:x:1");
  ASSERT_TRUE(record.ok());
  record->terms.clear();
  store::WriteSet ws;
  ws.puts.push_back(*record);
  ASSERT_TRUE((*ts)->Write(ws).ok());
  ASSERT_TRUE((*ts)->DeleteMeta("broker/index_version").ok());
  EXPECT_THAT(Run(Q("n==5", {V("T")})), IsEmpty());  // the index alone cannot see it

  std::vector<std::pair<std::string, uint64_t>> rebuilt;
  ASSERT_TRUE(entities_->EnsureIndexed([&](std::string_view t, uint64_t n) { rebuilt.emplace_back(t, n); }).ok());
  EXPECT_THAT(rebuilt, ElementsAre(std::make_pair(std::string(), uint64_t{1})));
  EXPECT_EQ(Run(Q("n==5", {V("T")})), (Ids{"urn:x:1"}));
  rebuilt.clear();
  ASSERT_TRUE(entities_->EnsureIndexed([&](std::string_view t, uint64_t n) { rebuilt.emplace_back(t, n); }).ok());
  EXPECT_THAT(rebuilt, IsEmpty());  // recorded: nothing to do the second time
}

TEST_F(QueryServiceTest, NewTenantsAreRecordedAsIndexed) {
  auto e = ngsild::ParseEntity(json::parse(R"({"id":"urn:x:1","type":"T"})").as_object(), *ctx_, 0, {});
  ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "city1", std::move(*e)).ok());
  std::vector<std::string> rebuilt;
  ASSERT_TRUE(entities_->EnsureIndexed([&](std::string_view t, uint64_t) { rebuilt.emplace_back(t); }).ok());
  EXPECT_THAT(rebuilt, ElementsAre(""));  // only the default tenant, made before versions were kept
}

TEST_F(QueryServiceTest, SlowQueriesEndWithTooComplexQuery) {
  for (int i = 0; i < 600; ++i) Create(fmt::format(R"({{"id":"urn:x:{:03d}","type":"T","n":{}}})", i, i));
  QueryServiceLimits limits;
  limits.max_query_time = std::chrono::milliseconds(0);
  QueryService impatient(*store_, limits);
  auto r = impatient.Query("", Q("n!=3", {V("T")}));
  EXPECT_EQ(r.status().code(), Status::Code::kTooComplexQuery);
  EXPECT_EQ(Run(Q("n!=3", {V("T")})).size(), 599u);
}

TEST_F(QueryServiceTest, OrderByValuesTiesByIdAndPagesFromTheOrder) {
  Create(R"({"id":"urn:x:a","type":"T","n":3})");
  Create(R"({"id":"urn:x:b","type":"T","n":1})");
  Create(R"({"id":"urn:x:c","type":"T","n":"z"})");
  Create(R"({"id":"urn:x:d","type":"T","n":1})");
  Create(R"({"id":"urn:x:e","type":"T"})");
  Create(R"({"id":"urn:x:f","type":"T","n":true})");
  EntityQuery q = Q("", {V("T")});
  q.order_by = {{V("n"), OrderKey::Direction::kAsc}};
  EXPECT_EQ(Run(q), (Ids{"urn:x:b", "urn:x:d", "urn:x:a", "urn:x:c", "urn:x:f", "urn:x:e"}));
  q.order_by[0].direction = OrderKey::Direction::kDesc;
  EXPECT_EQ(Run(q), (Ids{"urn:x:f", "urn:x:c", "urn:x:a", "urn:x:b", "urn:x:d", "urn:x:e"}));
  q.offset = 2;
  q.limit = 2;
  auto page = queries_->Query("", q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entities.size(), 2u);
  EXPECT_EQ(page->entities[0].id, "urn:x:a");
  EXPECT_EQ(page->entities[1].id, "urn:x:b");
  EXPECT_EQ(page->total.value_or(0), 6u);
}

TEST_F(QueryServiceTest, OrderByDistanceAndTheSortedLimit) {
  for (int i = 0; i < 5; ++i) {
    Create(fmt::format(R"({{"id":"urn:x:{}","type":"T","location":{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[127.0,{}]}}}}}})",
                       i, 35.8 + 0.01 * ((i * 3) % 5)));
  }
  EntityQuery q = Geo("near;maxDistance==100000", "Point", "[127.0,35.8]");
  q.order_by = {{"https://uri.etsi.org/ngsi-ld/location", OrderKey::Direction::kDistanceAsc}};
  EXPECT_EQ(Run(q), (Ids{"urn:x:0", "urn:x:2", "urn:x:4", "urn:x:1", "urn:x:3"}));
  QueryServiceLimits limits;
  limits.max_ordered = 4;
  QueryService small(*store_, limits);
  auto r = small.Query("", q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTooManyResults);
}

}  // namespace
}  // namespace cityhub::broker
