// Tests for broker::EntityService against a real RocksDB store in a temporary directory:
// status codes of every operation, tenants, batches, queries, discovery and concurrent writers.
#include "broker/entity_service.h"
#include "broker/query_service.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ngsild/context.h"
#include "store/rocksdb/rocksdb_store.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ngsild::Entity;

constexpr int64_t kT0 = 1'700'000'000'000;
constexpr int64_t kT1 = kT0 + 1000;
const std::string kVocab(ngsild::kDefaultVocab);
std::string V(std::string_view t) { return kVocab + std::string(t); }

class EntityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / fmt::format("cityhub-broker-test-{}-{}", ::getpid(), rd());
    store::RocksDbOptions o;
    o.data_dir = dir_.string();
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    auto s = store::OpenRocksDbStore(o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    svc_ = std::make_unique<EntityService>(*store_);
    queries_ = std::make_unique<QueryService>(*store_);
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
  }
  void TearDown() override {
    svc_.reset();
    queries_.reset();
    if (store_) store_->Close();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Entity E(std::string_view text, int64_t now = kT0) {
    auto e = ngsild::ParseEntity(json::parse(text).as_object(), *ctx_, now, {});
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : Entity{};
  }
  Entity Simple(std::string_view id, std::string_view type = "T", std::string_view attrs = "") {
    return E(fmt::format(R"({{"id":"{}","type":"{}"{}{}}})", id, type, attrs.empty() ? "" : ",", attrs));
  }
  ngsild::AttrMap A(std::string_view text, int64_t now = kT1, bool allow_null = false) {
    auto a = ngsild::ParseAttributes(json::parse(text).as_object(), *ctx_, now, {}, allow_null);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? std::move(*a) : ngsild::AttrMap{};
  }
  ngsild::Instances I(std::string_view name, std::string_view text, bool partial = false) {
    auto i = ngsild::ParseAttribute(name, json::parse(text), *ctx_, kT1, {}, partial);
    EXPECT_TRUE(i.ok()) << i.status().message();
    return i.ok() ? std::move(*i) : ngsild::Instances{};
  }
  Entity MustGet(std::string_view id, std::string_view tenant = "") {
    auto e = svc_->Get(tenant, id);
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : Entity{};
  }
  std::vector<std::string> Ids(const QueryResult& r) {
    std::vector<std::string> out;
    for (const auto& e : r.entities) out.push_back(e.id);
    return out;
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EntityService> svc_;
  std::unique_ptr<QueryService> queries_;
  ngsild::ContextResolver resolver_{{}, {}};
  ngsild::ContextPtr ctx_;
};

TEST_F(EntityServiceTest, CreateGetDelete) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "T", R"("a":1)")).ok());
  Entity e = MustGet("urn:x:1");
  EXPECT_EQ(e.types, std::vector<std::string>{V("T")});
  EXPECT_EQ(e.attrs.at(V("a"))[0].at("value"), json::value(1));
  EXPECT_EQ(e.created_at, kT0);

  Status dup = svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1"));
  EXPECT_EQ(dup.code(), Status::Code::kAlreadyExists);
  EXPECT_THAT(dup.message(), HasSubstr("urn:x:1"));
  EXPECT_EQ(MustGet("urn:x:1").attrs.size(), 1u);  // the failed create changed nothing

  auto missing = svc_->Get("", "urn:x:2");
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("entity 'urn:x:2'"));

  ASSERT_TRUE(svc_->Delete(AnyoneMayWrite(), "", "urn:x:1").ok());
  EXPECT_EQ(svc_->Get("", "urn:x:1").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(svc_->Delete(AnyoneMayWrite(), "", "urn:x:1").code(), Status::Code::kNotFound);
}

TEST_F(EntityServiceTest, Tenants) {
  EXPECT_EQ(svc_->Get("city1", "urn:x:1").status().code(), Status::Code::kNotFound);
  EXPECT_THAT(svc_->Get("city1", "urn:x:1").status().message(), HasSubstr("tenant 'city1'"));
  EXPECT_EQ(svc_->Delete(AnyoneMayWrite(), "city1", "urn:x:1").code(), Status::Code::kNotFound);
  EXPECT_EQ(queries_->Query("city1", {}).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(svc_->Types("city1").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(svc_->Append(AnyoneMayWrite(), "city1", "urn:x:1", A(R"({"a":1})"), false, kT1).status().code(), Status::Code::kNotFound);
  auto bu = svc_->BatchUpdate(AnyoneMayWrite(), "city1", {Simple("urn:x:1")}, false);
  ASSERT_EQ(bu.errors.size(), 1u);
  EXPECT_EQ(bu.errors[0].status.code(), Status::Code::kNotFound);

  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "city1", Simple("urn:x:1", "T", R"("a":1)")).ok());
  EXPECT_TRUE(svc_->Get("city1", "urn:x:1").ok());
  EXPECT_EQ(svc_->Get("", "urn:x:1").status().code(), Status::Code::kNotFound);  // isolated
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "Other")).ok());
  EXPECT_EQ(MustGet("urn:x:1", "city1").types, std::vector<std::string>{V("T")});

  for (std::string_view bad : std::vector<std::string_view>{"../etc", "-x", "a b", "a/b", std::string_view("x\0y", 3)}) {
    EXPECT_EQ(svc_->Create(AnyoneMayWrite(), bad, Simple("urn:x:9")).code(), Status::Code::kBadRequestData) << bad;
    EXPECT_EQ(svc_->Get(bad, "urn:x:9").status().code(), Status::Code::kBadRequestData) << bad;
  }
  EXPECT_EQ(svc_->Create(AnyoneMayWrite(), std::string(65, 'a'), Simple("urn:x:9")).code(), Status::Code::kBadRequestData);
  auto bc = svc_->BatchCreate(AnyoneMayWrite(), "bad tenant", {Simple("urn:x:9")});
  ASSERT_EQ(bc.errors.size(), 1u);
  EXPECT_EQ(bc.errors[0].status.code(), Status::Code::kBadRequestData);
  EXPECT_TRUE(bc.success.empty());
}

TEST_F(EntityServiceTest, ReplaceKeepsCreatedAt) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "T", R"("a":1,"b":2)")).ok());
  auto body = ngsild::ParseEntity(json::parse(R"({"c":3})").as_object(), *ctx_, kT1, {}, false);
  ASSERT_TRUE(body.ok());
  ASSERT_TRUE(svc_->Replace(AnyoneMayWrite(), "", "urn:x:1", std::move(*body)).ok());
  Entity e = MustGet("urn:x:1");
  EXPECT_EQ(e.AttributeNames(), std::vector<std::string>{V("c")});
  EXPECT_EQ(e.types, std::vector<std::string>{V("T")});  // kept when the body has none
  EXPECT_EQ(e.created_at, kT0);
  EXPECT_EQ(e.modified_at, kT1);
  EXPECT_EQ(svc_->Replace(AnyoneMayWrite(), "", "urn:x:2", Simple("urn:x:2")).code(), Status::Code::kNotFound);
}

TEST_F(EntityServiceTest, MergeAppendUpdate) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "T", R"("a":{"value":1,"s":2},"b":2)")).ok());
  ASSERT_TRUE(svc_->Merge(AnyoneMayWrite(), "", "urn:x:1", A(R"({"a":{"value":5},"b":"urn:ngsi-ld:null","c":3})", kT1, true), {V("U")}, kT1).ok());
  Entity e = MustGet("urn:x:1");
  EXPECT_EQ(e.types, (std::vector<std::string>{V("T"), V("U")}));
  EXPECT_EQ(e.AttributeNames(), (std::vector<std::string>{V("a"), V("c")}));
  EXPECT_EQ(e.attrs.at(V("a"))[0].at("value"), json::value(5));
  EXPECT_TRUE(e.attrs.at(V("a"))[0].contains(V("s")));
  EXPECT_EQ(e.modified_at, kT1);
  EXPECT_EQ(svc_->Merge(AnyoneMayWrite(), "", "urn:x:2", A(R"({"a":1})"), {}, kT1).code(), Status::Code::kNotFound);

  auto ap = svc_->Append(AnyoneMayWrite(), "", "urn:x:1", A(R"({"a":9,"d":4})"), true, kT1 + 1);
  ASSERT_TRUE(ap.ok());
  EXPECT_EQ(ap->updated, std::vector<std::string>{V("d")});
  ASSERT_EQ(ap->not_updated.size(), 1u);
  EXPECT_EQ(MustGet("urn:x:1").attrs.at(V("a"))[0].at("value"), json::value(5));
  EXPECT_EQ(MustGet("urn:x:1").modified_at, kT1 + 1);
  ap = svc_->Append(AnyoneMayWrite(), "", "urn:x:1", A(R"({"a":9})"), false, kT1 + 2);
  ASSERT_TRUE(ap.ok());
  EXPECT_EQ(MustGet("urn:x:1").attrs.at(V("a"))[0].at("value"), json::value(9));
  EXPECT_EQ(svc_->Append(AnyoneMayWrite(), "", "urn:x:2", A(R"({"a":9})"), false, kT1).status().code(), Status::Code::kNotFound);

  auto up = svc_->Update(AnyoneMayWrite(), "", "urn:x:1", A(R"({"a":10,"zz":1})"), kT1 + 3);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->updated, (std::vector<std::string>{V("a"), V("zz")}));  // §5.6.2.4: zz is appended
  EXPECT_TRUE(up->not_updated.empty());
  e = MustGet("urn:x:1");
  EXPECT_EQ(e.attrs.at(V("a"))[0].at("value"), json::value(10));
  EXPECT_EQ(e.attrs.at(V("zz"))[0].at("value"), json::value(1));
  // Types are added; a scope replaces the entity's only if it has one.
  up = svc_->Update(AnyoneMayWrite(), "", "urn:x:1", {}, kT1 + 4, {V("Extra")}, json::value("/A"));
  ASSERT_TRUE(up.ok());
  e = MustGet("urn:x:1");
  EXPECT_NE(std::find(e.types.begin(), e.types.end(), V("Extra")), e.types.end());
  EXPECT_TRUE(e.scope.is_null());
  EXPECT_EQ(e.modified_at, kT1 + 4);
  EXPECT_EQ(svc_->Update(AnyoneMayWrite(), "", "urn:x:2", A(R"({"a":1})"), kT1).status().code(), Status::Code::kNotFound);
}

TEST_F(EntityServiceTest, AttributeOperationsNameWhatIsMissing) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "T", R"("a":{"value":1,"s":2})")).ok());
  ASSERT_TRUE(svc_->PartialUpdateAttribute(AnyoneMayWrite(), "", "urn:x:1", V("a"), I("a", R"({"value":7})", true), kT1).ok());
  Entity e = MustGet("urn:x:1");
  EXPECT_EQ(e.attrs.at(V("a"))[0].at("value"), json::value(7));
  EXPECT_TRUE(e.attrs.at(V("a"))[0].contains(V("s")));

  Status st = svc_->PartialUpdateAttribute(AnyoneMayWrite(), "", "urn:x:1", V("nope"), I("nope", "1", true), kT1);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("attribute"));
  EXPECT_THAT(st.message(), HasSubstr(V("nope")));
  st = svc_->PartialUpdateAttribute(AnyoneMayWrite(), "", "urn:x:2", V("a"), I("a", "1", true), kT1);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("entity 'urn:x:2' does not exist"));

  ASSERT_TRUE(svc_->ReplaceAttribute(AnyoneMayWrite(), "", "urn:x:1", V("a"), I("a", R"({"type":"Relationship","object":"urn:y:1"})"), kT1).ok());
  e = MustGet("urn:x:1");
  EXPECT_EQ(e.attrs.at(V("a"))[0].at("type"), json::value("Relationship"));
  EXPECT_FALSE(e.attrs.at(V("a"))[0].contains(V("s")));
  st = svc_->ReplaceAttribute(AnyoneMayWrite(), "", "urn:x:1", V("nope"), I("nope", "1"), kT1);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("no attribute"));
  EXPECT_THAT(svc_->ReplaceAttribute(AnyoneMayWrite(), "", "urn:x:2", V("a"), I("a", "1"), kT1).message(), HasSubstr("entity 'urn:x:2'"));

  st = svc_->DeleteAttribute(AnyoneMayWrite(), "", "urn:x:1", V("a"), std::string("urn:ds:1"), false);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("datasetId"));
  EXPECT_THAT(svc_->DeleteAttribute(AnyoneMayWrite(), "", "urn:x:1", V("nope"), std::nullopt, false).message(), HasSubstr("no attribute"));
  EXPECT_THAT(svc_->DeleteAttribute(AnyoneMayWrite(), "", "urn:x:2", V("a"), std::nullopt, false).message(), HasSubstr("entity 'urn:x:2'"));
  int64_t before = MustGet("urn:x:1").modified_at;
  ASSERT_TRUE(svc_->DeleteAttribute(AnyoneMayWrite(), "", "urn:x:1", V("a"), std::nullopt, false).ok());
  e = MustGet("urn:x:1");
  EXPECT_TRUE(e.attrs.empty());
  EXPECT_GT(e.modified_at, before);  // deleting an attribute modifies the entity
}

TEST_F(EntityServiceTest, BatchCreateMixed) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1")).ok());
  auto r = svc_->BatchCreate(AnyoneMayWrite(), "", {Simple("urn:x:0"), Simple("urn:x:1"), Simple("urn:x:2"), Simple("urn:x:2", "U")});
  EXPECT_EQ(r.success, (std::vector<std::string>{"urn:x:0", "urn:x:2"}));
  EXPECT_EQ(r.created, 2u);
  EXPECT_EQ(r.created_ids, (std::vector<std::string>{"urn:x:0", "urn:x:2"}));
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].entity_id, "urn:x:1");
  EXPECT_EQ(r.errors[0].status.code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(r.errors[1].entity_id, "urn:x:2");  // same id twice: the second one exists by then
  EXPECT_EQ(r.errors[1].status.code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(MustGet("urn:x:2").types, std::vector<std::string>{V("T")});
  // A batch on a new tenant creates it.
  auto t = svc_->BatchCreate(AnyoneMayWrite(), "fresh", {Simple("urn:x:5")});
  EXPECT_EQ(t.success, std::vector<std::string>{"urn:x:5"});
  EXPECT_TRUE(svc_->Get("fresh", "urn:x:5").ok());
}

TEST_F(EntityServiceTest, BatchUpsertReplaceAndUpdate) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "T", R"("a":1,"b":2)")).ok());
  auto r = svc_->BatchUpsert(AnyoneMayWrite(), "", {E(R"({"id":"urn:x:1","type":"T","c":3})", kT1), Simple("urn:x:2", "T", R"("a":1)")}, true);
  EXPECT_EQ(r.success, (std::vector<std::string>{"urn:x:1", "urn:x:2"}));
  EXPECT_EQ(r.created_ids, std::vector<std::string>{"urn:x:2"});
  EXPECT_EQ(r.created, 1u);
  EXPECT_TRUE(r.errors.empty());
  Entity e = MustGet("urn:x:1");
  EXPECT_EQ(e.AttributeNames(), std::vector<std::string>{V("c")});
  EXPECT_EQ(e.created_at, kT0);
  EXPECT_EQ(e.modified_at, kT1);

  auto u = svc_->BatchUpsert(AnyoneMayWrite(), "", {E(R"({"id":"urn:x:1","type":"U","c":30,"d":4})", kT1 + 1),
                                  E(R"({"id":"urn:x:3","type":"T","a":1})", kT1 + 1)},
                             false);
  EXPECT_EQ(u.success, (std::vector<std::string>{"urn:x:1", "urn:x:3"}));
  EXPECT_EQ(u.created_ids, std::vector<std::string>{"urn:x:3"});
  e = MustGet("urn:x:1");
  EXPECT_EQ(e.types, (std::vector<std::string>{V("T"), V("U")}));
  EXPECT_EQ(e.AttributeNames(), (std::vector<std::string>{V("c"), V("d")}));
  EXPECT_EQ(e.attrs.at(V("c"))[0].at("value"), json::value(30));
  EXPECT_EQ(e.created_at, kT0);
  EXPECT_EQ(e.modified_at, kT1 + 1);

  // The same id twice: created by the first item, updated by the second.
  auto twice = svc_->BatchUpsert(AnyoneMayWrite(), "", {Simple("urn:x:9", "T", R"("a":1)"), Simple("urn:x:9", "T", R"("b":2)")}, false);
  EXPECT_EQ(twice.success, (std::vector<std::string>{"urn:x:9", "urn:x:9"}));
  EXPECT_EQ(twice.created_ids, std::vector<std::string>{"urn:x:9"});
  EXPECT_EQ(MustGet("urn:x:9").AttributeNames(), (std::vector<std::string>{V("a"), V("b")}));
}

TEST_F(EntityServiceTest, BatchUpdateMergeDelete) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "T", R"("a":1,"b":{"value":2,"s":1})")).ok());
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:2", "T", R"("a":1)")).ok());
  auto u = svc_->BatchUpdate(AnyoneMayWrite(), "", {E(R"({"id":"urn:x:1","type":"T","a":5,"c":6})", kT1),
                                  E(R"({"id":"urn:x:404","type":"T","a":5})", kT1),
                                  E(R"({"id":"urn:x:2","type":"T","a":7})", kT1)},
                             true);
  EXPECT_EQ(u.success, (std::vector<std::string>{"urn:x:1", "urn:x:2"}));
  EXPECT_TRUE(u.created_ids.empty());
  ASSERT_EQ(u.errors.size(), 1u);
  EXPECT_EQ(u.errors[0].entity_id, "urn:x:404");
  EXPECT_EQ(u.errors[0].status.code(), Status::Code::kNotFound);
  EXPECT_EQ(MustGet("urn:x:1").attrs.at(V("a"))[0].at("value"), json::value(1));  // noOverwrite
  EXPECT_EQ(MustGet("urn:x:1").attrs.count(V("c")), 1u);
  EXPECT_EQ(svc_->BatchUpdate(AnyoneMayWrite(), "", {E(R"({"id":"urn:x:2","type":"T","a":7})", kT1)}, false).success.size(), 1u);
  EXPECT_EQ(MustGet("urn:x:2").attrs.at(V("a"))[0].at("value"), json::value(7));

  Entity merge_item;
  merge_item.id = "urn:x:1";
  merge_item.modified_at = kT1 + 1;
  merge_item.attrs = A(R"({"b":{"value":3,"s":"urn:ngsi-ld:null"},"c":"urn:ngsi-ld:null"})", kT1 + 1, true);
  Entity missing;
  missing.id = "urn:x:404";
  auto m = svc_->BatchMerge(AnyoneMayWrite(), "", {merge_item, missing});
  EXPECT_EQ(m.success, std::vector<std::string>{"urn:x:1"});
  ASSERT_EQ(m.errors.size(), 1u);
  EXPECT_EQ(m.errors[0].status.code(), Status::Code::kNotFound);
  Entity e = MustGet("urn:x:1");
  EXPECT_EQ(e.attrs.at(V("b"))[0].at("value"), json::value(3));
  EXPECT_FALSE(e.attrs.at(V("b"))[0].contains(V("s")));
  EXPECT_EQ(e.attrs.count(V("c")), 0u);

  auto d = svc_->BatchDelete(AnyoneMayWrite(), "", {"urn:x:1", "urn:x:404", "urn:x:2", "urn:x:1"});
  EXPECT_EQ(d.success, (std::vector<std::string>{"urn:x:1", "urn:x:2"}));
  ASSERT_EQ(d.errors.size(), 2u);
  EXPECT_EQ(d.errors[0].entity_id, "urn:x:404");
  EXPECT_EQ(d.errors[1].entity_id, "urn:x:1");
  EXPECT_EQ(d.errors[1].status.code(), Status::Code::kNotFound);
  EXPECT_EQ(svc_->Get("", "urn:x:1").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(svc_->Get("", "urn:x:2").status().code(), Status::Code::kNotFound);
}

TEST_F(EntityServiceTest, QueryFiltersPagingAndOrder) {
  // Insert out of order; results come back ordered by id.
  for (int i : {7, 3, 9, 1, 5, 2, 8, 4, 6, 0}) {
    std::string attrs = i % 2 ? R"("odd":1)" : R"("even":1)";
    ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple(fmt::format("urn:x:{}", i), i < 5 ? "Low" : "High", attrs)).ok());
  }
  EntityQuery q;
  q.limit = 100;
  auto all = queries_->Query("", q);
  ASSERT_TRUE(all.ok());
  std::vector<std::string> expect;
  for (int i = 0; i < 10; ++i) expect.push_back(fmt::format("urn:x:{}", i));
  EXPECT_EQ(Ids(*all), expect);
  EXPECT_FALSE(all->total.has_value());

  q.types = {V("High")};
  EXPECT_EQ(Ids(queries_->Query("", q).value()), (std::vector<std::string>{"urn:x:5", "urn:x:6", "urn:x:7", "urn:x:8", "urn:x:9"}));
  q.types = {V("High"), V("Low")};
  EXPECT_EQ(Ids(queries_->Query("", q).value()), expect);
  q.types = {V("High")};
  q.attrs = {V("odd")};
  EXPECT_EQ(Ids(queries_->Query("", q).value()), (std::vector<std::string>{"urn:x:5", "urn:x:7", "urn:x:9"}));
  q.types.clear();
  q.id_pattern = "x:[2-4]$";
  EXPECT_EQ(Ids(queries_->Query("", q).value()), (std::vector<std::string>{"urn:x:3"}));
  q = {};
  q.ids = {"urn:x:8", "urn:x:2", "urn:x:404", "urn:x:8"};
  EXPECT_EQ(Ids(queries_->Query("", q).value()), (std::vector<std::string>{"urn:x:2", "urn:x:8"}));
  q.types = {V("Low")};
  EXPECT_EQ(Ids(queries_->Query("", q).value()), (std::vector<std::string>{"urn:x:2"}));

  q = {};
  q.limit = 3;
  q.offset = 4;
  q.count = true;
  auto page = queries_->Query("", q);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<std::string>{"urn:x:4", "urn:x:5", "urn:x:6"}));
  ASSERT_TRUE(page->total.has_value());
  EXPECT_EQ(*page->total, 10u);
  q.offset = 20;
  page = queries_->Query("", q);
  EXPECT_TRUE(page->entities.empty());
  EXPECT_EQ(*page->total, 10u);
  q.offset = 0;
  q.limit = 0;
  q.types = {V("Low")};
  page = queries_->Query("", q);
  EXPECT_TRUE(page->entities.empty());
  EXPECT_EQ(*page->total, 5u);
  q.count = false;
  q.limit = 2;
  q.ids = {"urn:x:4", "urn:x:3", "urn:x:1"};
  EXPECT_EQ(Ids(queries_->Query("", q).value()), (std::vector<std::string>{"urn:x:1", "urn:x:3"}));
}

TEST_F(EntityServiceTest, QueryBadPatterns) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1")).ok());
  EntityQuery q;
  q.id_pattern = "urn:(x";
  auto r = queries_->Query("", q);
  EXPECT_EQ(r.status().code(), Status::Code::kBadRequestData);  // GS CIM 009 §5.5.2: invalid input data
  EXPECT_THAT(r.status().message(), HasSubstr("idPattern"));
  QueryServiceLimits limits;
  limits.max_id_pattern_bytes = 8;
  QueryService small(*store_, limits);
  q.id_pattern = "urn:x:.*1";
  r = small.Query("", q);
  EXPECT_EQ(r.status().code(), Status::Code::kBadRequestData);
  EXPECT_THAT(r.status().message(), HasSubstr("longer than 8"));
  q.id_pattern = "urn:x:1";
  EXPECT_EQ(small.Query("", q)->entities.size(), 1u);
}

TEST_F(EntityServiceTest, Discovery) {
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:1", "Car", R"("speed":1,"owner":{"object":"urn:p:1"})")).ok());
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:2", "Car", R"("speed":{"type":"Relationship","object":"urn:s:1"})")).ok());
  ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple("urn:x:3", "Bus", R"("speed":3,"line":"A")")).ok());
  EXPECT_EQ(svc_->Types("").value(), (std::vector<std::string>{V("Bus"), V("Car")}));
  EXPECT_EQ(svc_->Attributes("").value(), (std::vector<std::string>{V("line"), V("owner"), V("speed")}));
  EXPECT_EQ(svc_->AttributesOfType("", V("Car")).value(), (std::vector<std::string>{V("owner"), V("speed")}));
  EXPECT_EQ(svc_->TypesWithAttribute("", V("speed")).value(), (std::vector<std::string>{V("Bus"), V("Car")}));

  auto td = svc_->TypeDetails("", V("Car"));
  ASSERT_TRUE(td.ok());
  EXPECT_EQ(td->entity_count, 2u);
  ASSERT_EQ(td->attributes.size(), 2u);
  EXPECT_EQ(td->attributes[0].first, V("owner"));
  EXPECT_EQ(td->attributes[0].second, std::vector<std::string>{"Relationship"});
  EXPECT_EQ(td->attributes[1].first, V("speed"));
  EXPECT_EQ(td->attributes[1].second, (std::vector<std::string>{"Property", "Relationship"}));
  EXPECT_EQ(svc_->TypeDetails("", V("Tram")).status().code(), Status::Code::kNotFound);

  auto ad = svc_->AttributeDetails("", V("speed"));
  ASSERT_TRUE(ad.ok());
  EXPECT_EQ(ad->count, 3u);
  EXPECT_EQ(ad->types, (std::vector<std::string>{V("Bus"), V("Car")}));
  EXPECT_EQ(ad->attr_types, (std::vector<std::string>{"Property", "Relationship"}));
  ad = svc_->AttributeDetails("", V("line"));
  ASSERT_TRUE(ad.ok());
  EXPECT_EQ(ad->count, 1u);
  EXPECT_EQ(ad->types, std::vector<std::string>{V("Bus")});
  EXPECT_EQ(svc_->AttributeDetails("", V("nope")).status().code(), Status::Code::kNotFound);

  ASSERT_TRUE(svc_->Delete(AnyoneMayWrite(), "", "urn:x:3").ok());
  EXPECT_EQ(svc_->Types("").value(), std::vector<std::string>{V("Car")});
  EXPECT_EQ(svc_->AttributeDetails("", V("line")).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(svc_->AttributeDetails("", V("speed"))->count, 2u);
}

TEST_F(EntityServiceTest, ConcurrentAppendsToSameEntitiesAllSurvive) {
  constexpr int kEntities = 4, kThreads = 8, kPerThread = 12;
  for (int i = 0; i < kEntities; ++i) ASSERT_TRUE(svc_->Create(AnyoneMayWrite(), "", Simple(fmt::format("urn:c:{}", i))).ok());
  std::vector<ngsild::AttrMap> bodies;  // parse up front: the test measures the service
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    std::vector<std::pair<std::string, ngsild::AttrMap>> work;
    for (int k = 0; k < kPerThread; ++k) {
      for (int i = 0; i < kEntities; ++i) {
        work.emplace_back(fmt::format("urn:c:{}", i), A(fmt::format(R"({{"a_{}_{}":{}}})", t, k, k)));
      }
    }
    threads.emplace_back([this, &failures, work = std::move(work)]() mutable {
      for (auto& [id, attrs] : work) {
        auto r = svc_->Append(AnyoneMayWrite(), "", id, std::move(attrs), false, kT1);
        if (!r.ok() || !r->changed()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kEntities; ++i) {
    Entity e = MustGet(fmt::format("urn:c:{}", i));
    EXPECT_EQ(e.attrs.size(), static_cast<size_t>(kThreads * kPerThread)) << e.id;
  }
}

TEST_F(EntityServiceTest, ConcurrentCreatesOfDistinctAndSameIds) {
  constexpr int kThreads = 8, kPerThread = 25;
  std::atomic<int> failures{0}, already{0}, created_same{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    std::vector<Entity> mine, shared;
    for (int k = 0; k < kPerThread; ++k) {
      mine.push_back(Simple(fmt::format("urn:d:{}:{}", t, k), "D", R"("a":1)"));
      shared.push_back(Simple(fmt::format("urn:s:{}", k), "S"));
    }
    threads.emplace_back([&, mine = std::move(mine), shared = std::move(shared)]() mutable {
      for (int k = 0; k < kPerThread; ++k) {
        if (!svc_->Create(AnyoneMayWrite(), "", std::move(mine[k])).ok()) ++failures;
        Status st = svc_->Create(AnyoneMayWrite(), "", std::move(shared[k]));
        if (st.ok()) {
          ++created_same;
        } else if (st.code() == Status::Code::kAlreadyExists) {
          ++already;
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(created_same.load(), kPerThread);  // each shared id created exactly once
  EXPECT_EQ(already.load(), (kThreads - 1) * kPerThread);
  EntityQuery q;
  q.types = {V("D")};
  q.limit = 0;
  q.count = true;
  EXPECT_EQ(*queries_->Query("", q).value().total, static_cast<uint64_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace cityhub::broker
