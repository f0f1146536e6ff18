// Tests for the notification outbox on a real RocksDB store: the writes of EntityService owe
// outbox records exactly when a stored subscription fires (create, update of a watched
// attribute, delete, batches), each record naming the subscriptions and triggers with the
// entity's document, numbered in order and continuing after a restart; tenants without
// subscriptions write none.
#include "broker/notification_outbox.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "broker/entity_service.h"
#include "broker/subscription_service.h"
#include "ngsild/context.h"
#include "ngsild/csource_registration.h"
#include "ngsild/parse.h"
#include "store/rocksdb/rocksdb_store.h"
#include "util/json.h"

namespace cityhub::broker {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct Owed {
  uint64_t sequence;
  json::object record;
};

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / fmt::format("cityhub-outbox-test-{}-{}", ::getpid(), rd());
    ASSERT_TRUE(resolver_.Init().ok());
    ctx_ = resolver_.Core();
    Open();
  }
  void TearDown() override {
    Close();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void Open() {
    store::RocksDbOptions o;
    o.data_dir = dir_.string();
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    auto s = store::OpenRocksDbStore(o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    matcher_ = std::make_unique<SubscriptionMatcher>();
    subscriptions_ = std::make_unique<SubscriptionService>(*store_, matcher_.get(), &resolver_);
    ASSERT_TRUE(subscriptions_->LoadAll({}).ok());
    outbox_ = std::make_unique<OutboxWriter>(*matcher_);
    entities_ = std::make_unique<EntityService>(*store_);
    entities_->AddChangeObserver(outbox_.get());
  }
  void Close() {
    entities_.reset();
    outbox_.reset();
    subscriptions_.reset();
    matcher_.reset();
    if (store_) store_->Close();
    store_.reset();
  }

  void Subscribe(std::string_view tenant, std::string_view id, std::string_view members) {
    const bool own_notification = members.find("\"notification\"") != std::string_view::npos;
    std::string text = fmt::format(R"({{"type":"Subscription","id":"{}",{}{}}})", id, members,
                                   own_notification ? "" : R"(,"notification":{"endpoint":{"uri":"http://h/"}})");
    auto created = subscriptions_->Create(tenant, json::parse(text).as_object(), *ctx_, 1);
    ASSERT_TRUE(created.ok()) << created.status().message();
  }
  ngsild::Entity E(std::string_view text) {
    auto e = ngsild::ParseEntity(json::parse(text).as_object(), *ctx_, 1000, {});
    EXPECT_TRUE(e.ok()) << e.status().message();
    return e.ok() ? std::move(*e) : ngsild::Entity{};
  }
  ngsild::AttrMap Attrs(std::string_view text) {
    auto a = ngsild::ParseAttributes(json::parse(text).as_object(), *ctx_, 2000, {}, false);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? std::move(*a) : ngsild::AttrMap{};
  }
  std::vector<Owed> Outbox(std::string_view tenant = "") {
    std::vector<Owed> out;
    auto ts = store_->Tenant(tenant, false);
    if (!ts.ok()) return out;
    EXPECT_TRUE((*ts)->ScanOutbox(0, [&](uint64_t seq, std::string_view value) {
      boost::system::error_code ec;
      out.push_back({seq, util::ParseJson(value, ec).as_object()});
      return true;
    }).ok());
    return out;
  }
  static std::string Notify(const json::object& record) { return json::serialize(record.at("notify")); }

  fs::path dir_;
  ngsild::ContextResolver resolver_{{}, {}};
  ngsild::ContextPtr ctx_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SubscriptionMatcher> matcher_;
  std::unique_ptr<SubscriptionService> subscriptions_;
  std::unique_ptr<OutboxWriter> outbox_;
  std::unique_ptr<EntityService> entities_;
};

TEST_F(OutboxTest, WritesThatFireSubscriptionsOweRecordsOthersDoNot) {
  Subscribe("", "urn:s:occ", R"("entities":[{"type":"ParkingSpot"}],"watchedAttributes":["occupancy"],
      "notificationTrigger":["attributeCreated","attributeUpdated","entityDeleted"])");
  Subscribe("", "urn:s:all", R"("entities":[{"type":"ParkingSpot"}],"notificationTrigger":["entityCreated"])");
  ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "", E(R"({"id":"urn:p:1","type":"ParkingSpot","occupancy":0,"name":"A"})")).ok());
  ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "", E(R"({"id":"urn:a:1","type":"AirQualityObserved","pm10":3})")).ok());  // no one
  ASSERT_TRUE(entities_->Update(AnyoneMayWrite(), "", "urn:p:1", Attrs(R"({"name":"B"})"), 2000).ok());       // not watched
  ASSERT_TRUE(entities_->Update(AnyoneMayWrite(), "", "urn:p:1", Attrs(R"({"occupancy":1})"), 2000).ok());
  ASSERT_TRUE(entities_->Delete(AnyoneMayWrite(), "", "urn:p:1").ok());
  auto owed = Outbox();
  ASSERT_EQ(owed.size(), 3u);
  EXPECT_EQ(owed[0].sequence, 1u);
  EXPECT_EQ(Notify(owed[0].record), R"([["urn:s:all","entityCreated"],["urn:s:occ","attributeCreated"]])");
  EXPECT_EQ(owed[0].record.at("deleted"), false);
  EXPECT_EQ(Notify(owed[1].record), R"([["urn:s:occ","attributeUpdated"]])");
  // The record carries the entity as stored after the change.
  auto doc = ngsild::DeserializeEntity(owed[1].record.at("entity").as_string());
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->attrs.at(ctx_->ExpandTerm("occupancy"))[0].at("value"), 1);
  EXPECT_EQ(Notify(owed[2].record), R"([["urn:s:occ","entityDeleted"]])");
  EXPECT_EQ(owed[2].record.at("deleted"), true);
  EXPECT_GT(owed[2].sequence, owed[1].sequence);
}

TEST_F(OutboxTest, BatchesShowChangesTenantsAndNumberingAcrossRestarts) {
  Subscribe("", "urn:s:changes", R"("entities":[{"type":"ParkingSpot"}],
      "notificationTrigger":["attributeCreated","attributeUpdated","entityDeleted"],"notification":{"showChanges":true,"endpoint":{"uri":"http://h/"}})");
  std::vector<ngsild::Entity> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(E(fmt::format(R"({{"id":"urn:p:{}","type":"ParkingSpot","occupancy":0}})", i)));
  auto created = entities_->BatchUpsert(AnyoneMayWrite(), "", std::move(batch), true);
  ASSERT_EQ(created.success.size(), 5u);
  std::vector<ngsild::Entity> update;
  update.push_back(E(R"({"id":"urn:p:2","type":"ParkingSpot","occupancy":1})"));
  ASSERT_EQ(entities_->BatchUpsert(AnyoneMayWrite(), "", std::move(update), false).success.size(), 1u);
  ASSERT_EQ(entities_->BatchDelete(AnyoneMayWrite(), "", {"urn:p:3", "urn:p:4"}).success.size(), 2u);
  auto owed = Outbox();
  ASSERT_EQ(owed.size(), 8u);
  EXPECT_FALSE(owed[0].record.contains("previous"));  // a creation has no previous state
  EXPECT_TRUE(owed[5].record.contains("previous"));   // the update, with showChanges
  EXPECT_EQ(owed[6].record.at("deleted"), true);
  // Another tenant without subscriptions owes nothing.
  ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "t2", E(R"({"id":"urn:p:9","type":"ParkingSpot","occupancy":0})")).ok());
  EXPECT_TRUE(Outbox("t2").empty());
  // After a restart the subscriptions are loaded again and numbering goes on.
  const uint64_t last = owed.back().sequence;
  Close();
  Open();
  EXPECT_EQ(matcher_->Size(""), 1u);
  ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "", E(R"({"id":"urn:p:10","type":"ParkingSpot","occupancy":0})")).ok());
  owed = Outbox();
  ASSERT_EQ(owed.size(), 9u);
  EXPECT_EQ(owed.back().sequence, last + 1);
  // A deleted subscription is no longer matched.
  ASSERT_TRUE(subscriptions_->Delete("", "urn:s:changes").ok());
  ASSERT_TRUE(entities_->Create(AnyoneMayWrite(), "", E(R"({"id":"urn:p:11","type":"ParkingSpot","occupancy":0})")).ok());
  EXPECT_EQ(Outbox().size(), 9u);
}

TEST_F(OutboxTest, ATenantHoldsAtMostTheSubscriptionsTheLimitAllows) {
  ngsild::SubscriptionLimits limits;
  limits.max_per_tenant = 2;
  SubscriptionService capped(*store_, nullptr, nullptr, limits);
  auto create = [&](std::string_view tenant, std::string_view id) {
    std::string text = fmt::format(
        R"({{"type":"Subscription","id":"{}","entities":[{{"type":"T"}}],"notification":{{"endpoint":{{"uri":"http://h/"}}}}}})", id);
    return capped.Create(tenant, json::parse(text).as_object(), *ctx_, 1);
  };
  ASSERT_TRUE(create("", "urn:s:1").ok());
  ASSERT_TRUE(create("", "urn:s:2").ok());
  auto third = create("", "urn:s:3");
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), Status::Code::kBadRequestData);
  EXPECT_THAT(third.status().message(), ::testing::HasSubstr("maximum of 2"));
  EXPECT_TRUE(create("t2", "urn:s:3").ok());  // per tenant
  ASSERT_TRUE(capped.Delete("", "urn:s:1").ok());
  EXPECT_TRUE(create("", "urn:s:3").ok());    // room again
}

// Context source registration subscriptions (§5.11): a registration change owes one record per
// triggerReason, written into the caller's WriteSet and read back by ParseOutboxRecord.
TEST_F(OutboxTest, RegistrationChangesOweOneRecordPerTriggerReason) {
  SubscriptionMatcher csource;
  SubscriptionService csubs(*store_, &csource, &resolver_, {}, ngsild::SubscriptionKind::kCsource);
  outbox_->SetCsourceMatcher(&csource);
  for (auto [id, type] : {std::pair{"urn:c:shop", "Shop"}, std::pair{"urn:c:bank", "Bank"}}) {
    std::string text = fmt::format(
        R"({{"id":"{}","type":"Subscription","entities":[{{"type":"{}"}}],"notification":{{"endpoint":{{"uri":"http://h/"}}}}}})",
        id, type);
    ASSERT_TRUE(csubs.Create("", json::parse(text).as_object(), *ctx_, 1).ok());
  }
  auto reg = [&](std::string_view type) {
    std::string text = fmt::format(
        R"({{"type":"ContextSourceRegistration","endpoint":"http://s/","information":[{{"entities":[{{"type":"{}"}}]}}]}})", type);
    return ngsild::NormalizeRegistration(json::parse(text).as_object(), *ctx_, "urn:r:1", 1).value();
  };
  const json::object shop = reg("Shop"), bank = reg("Bank"), other = reg("Pub");
  auto ts = store_->Tenant("", false);
  ASSERT_TRUE(ts.ok());
  std::vector<OutboxEntry> handed;
  // A change from Shop to Bank: the shop subscription no longer matches, the bank one newly does.
  store::WriteSet ws;
  auto then = outbox_->AddRegistrationChange("", **ts, &shop, &bank, 0, ws);
  ASSERT_TRUE(then.ok()) << then.status().message();
  ASSERT_EQ(ws.outbox.size(), 2u);
  ASSERT_TRUE((*ts)->Write(ws).ok());
  for (const auto& record : ws.outbox) {
    auto entry = ParseOutboxRecord(record.sequence, record.value);
    ASSERT_TRUE(entry.ok()) << entry.status().message();
    ASSERT_EQ(entry->registrations.size(), 1u);
    EXPECT_EQ(entry->registrations[0], bank);  // shown as it is now
    handed.push_back(std::move(*entry));
  }
  std::sort(handed.begin(), handed.end(), [](auto& a, auto& b) { return a.reason < b.reason; });
  EXPECT_EQ(handed[0].reason, "newlyMatching");
  EXPECT_THAT(handed[0].subscriptions, ::testing::ElementsAre("urn:c:bank"));
  EXPECT_EQ(handed[1].reason, "noLongerMatching");
  EXPECT_THAT(handed[1].subscriptions, ::testing::ElementsAre("urn:c:shop"));
  // Nothing owed for a registration no subscription is about.
  store::WriteSet none;
  ASSERT_TRUE(outbox_->AddRegistrationChange("", **ts, nullptr, &other, 0, none).ok());
  EXPECT_TRUE(none.outbox.empty());
  // The first notification of a new subscription lists what it matches, in one record.
  store::WriteSet first;
  auto shop_sub = csource.Find("", "urn:c:shop");
  ASSERT_TRUE(shop_sub);
  ASSERT_TRUE(outbox_->AddFirstNotification("", **ts, *shop_sub, {shop, bank, shop}, first).ok());
  ASSERT_EQ(first.outbox.size(), 1u);
  auto entry = ParseOutboxRecord(first.outbox[0].sequence, first.outbox[0].value);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->reason, "newlyMatching");
  EXPECT_EQ(entry->registrations.size(), 2u);
  EXPECT_GT(first.outbox[0].sequence, ws.outbox.back().sequence);  // one numbering with entity records
  // An entity record stays an entity record.
  EXPECT_FALSE(ParseOutboxRecord(1, R"({"at":1,"registrations":[],"reason":"updated","notify":[]})").ok());
}

}  // namespace
}  // namespace cityhub::broker
