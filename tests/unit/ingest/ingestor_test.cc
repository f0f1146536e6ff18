// Tests for ingest/registry and ingest/ingestor on a real RocksDB store: provisioned devices
// and groups survive a reopen, a measure needs its device's own key, measures become attributes
// with observedAt and unitCode through the device's or its group's mappings, bad messages are
// refused whole and counted, and concurrent devices all land — batched into transactions.
#include "ingest/ingestor.h"

#include <filesystem>
#include <thread>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/rocksdb/rocksdb_store.h"
#include "util/time.h"

namespace cityhub::ingest {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;

constexpr std::string_view kDefault = "https://uri.etsi.org/ngsi-ld/default-context/";

std::string Iri(std::string_view term) { return std::string(kDefault) + std::string(term); }

class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "cityhub-ingest-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    Open();
  }
  void TearDown() override {
    Close();
    fs::remove_all(root_);
  }
  void Open() {
    store::RocksDbOptions options;
    options.data_dir = (root_ / "data").string();
    options.block_cache_bytes = 8 << 20;
    options.write_buffer_bytes = 4 << 20;
    auto opened = store::OpenRocksDbStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    entities_ = std::make_unique<broker::EntityService>(*store_);
    registry_ = std::make_unique<DeviceRegistry>(*store_);
    ASSERT_TRUE(registry_->Load().ok());
    ingestor_ = std::make_unique<Ingestor>(*entities_, *registry_, resolver_.Core());
  }
  void Close() {
    ingestor_.reset();
    registry_.reset();
    entities_.reset();
    store_.reset();
  }
  Device River(const std::string& id) {
    Device d;
    d.tenant = "gimhae";
    d.device_id = id;
    d.entity_name = "urn:ngsi-ld:WaterLevelSensor:" + id;
    d.entity_type = Iri("WaterLevelSensor");
    d.apikey = "river";
    d.attributes = {{"l", Iri("waterLevel"), "Property", "MTR"}};
    return d;
  }
  Status Send(const std::string& key, const std::string& id, std::string payload,
              MeasureFormat format = MeasureFormat::kUltralight) {
    DeviceMessage m;
    m.key = key;
    m.device_id = id;
    m.format = format;
    m.payload = std::move(payload);
    return ingestor_->Ingest(m, true);
  }

  fs::path root_;
  ngsild::ContextResolver resolver_{{}, {}};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<broker::EntityService> entities_;
  std::unique_ptr<DeviceRegistry> registry_;
  std::unique_ptr<Ingestor> ingestor_;
};

TEST_F(IngestorTest, MeasuresBecomeAttributesWithTimeAndUnit) {
  ServiceGroup g;
  g.apikey = "river";
  g.resource = "/iot/d";
  g.entity_type = Iri("WaterLevelSensor");
  g.attributes = {{"r", Iri("riseRate"), "Property", "MMT"}, {"p", Iri("location"), "GeoProperty", ""}};
  ASSERT_TRUE(registry_->PutGroup("gimhae", g).ok());
  ASSERT_TRUE(registry_->AddDevice(River("b1"), "key-of-b1-0123456789").ok());
  ASSERT_TRUE(Send("key-of-b1-0123456789", "b1", "2026-11-26T10:00:00Z|l|1.25|r|3|p|35.23,128.88|x|on").ok());
  auto e = entities_->Get("gimhae", "urn:ngsi-ld:WaterLevelSensor:b1");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->types, std::vector<std::string>{Iri("WaterLevelSensor")});
  const auto& level = e->attrs.at(Iri("waterLevel")).at(0);
  EXPECT_EQ(level.at("value"), json::value(1.25));
  EXPECT_EQ(level.at("unitCode"), json::value("MTR"));  // the device's mapping
  EXPECT_EQ(util::ParseDateTime(level.at("observedAt").as_string()), util::ParseDateTime("2026-11-26T10:00:00Z"));
  EXPECT_EQ(e->attrs.at(Iri("riseRate")).at(0).at("unitCode"), json::value("MMT"));  // the group's
  const auto& where = e->attrs.at(Iri("location")).at(0);
  EXPECT_EQ(where.at("type"), json::value("GeoProperty"));
  EXPECT_EQ(where.at("value").at("coordinates"), (json::array{128.88, 35.23}));
  EXPECT_EQ(e->attrs.at(Iri("x")).at(0).at("value"), json::value("on"));  // unmapped: kept as a Property
  EXPECT_EQ(registry_->Find("gimhae", "b1")->status->measures.load(), 4u);
}

TEST_F(IngestorTest, OnlyTheDevicesOwnKeyIsAccepted) {
  ASSERT_TRUE(registry_->AddDevice(River("b1"), "key-of-b1-0123456789").ok());
  ASSERT_TRUE(registry_->AddDevice(River("b2"), "key-of-b2-0123456789").ok());
  EXPECT_EQ(registry_->AddDevice(River("b3"), "key-of-b1-0123456789").code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(registry_->AddDevice(River("b1"), "another-key-0123456789").code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(Send("key-of-b2-0123456789", "b1", "l|1").code(), Status::Code::kUnauthenticated);  // b2's key
  EXPECT_EQ(Send("key-of-b1-0123456789", "nobody", "l|1").code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(Send("river", "b1", "l|1").code(), Status::Code::kUnauthenticated);  // the group key is not shared
  ServiceGroup g;
  g.apikey = "river";
  g.resource = "/iot/d";
  g.entity_type = Iri("WaterLevelSensor");
  g.shared_key = true;
  ASSERT_TRUE(registry_->PutGroup("gimhae", g).ok());
  EXPECT_TRUE(Send("river", "b1", "l|1").ok());  // now it is
  EXPECT_EQ(ingestor_->Stats().unauthenticated, 3u);
  EXPECT_FALSE(entities_->Get("gimhae", "urn:ngsi-ld:WaterLevelSensor:b2").ok());
}

TEST_F(IngestorTest, BadMessagesAreRefusedWholeAndCounted) {
  ASSERT_TRUE(registry_->AddDevice(River("b1"), "key-of-b1-0123456789").ok());
  EXPECT_EQ(Send("key-of-b1-0123456789", "b1", "l|1|garbage").code(), Status::Code::kBadRequestData);
  EXPECT_EQ(Send("key-of-b1-0123456789", "b1", "{\"l\": ", MeasureFormat::kJson).code(), Status::Code::kBadRequestData);
  std::string many = "{";
  for (int i = 0; i < 10000; ++i) many += (i ? ",\"m" : "\"m") + std::to_string(i) + "\":1";
  EXPECT_EQ(Send("key-of-b1-0123456789", "b1", many + "}", MeasureFormat::kJson).code(), Status::Code::kPayloadTooLarge);
  EXPECT_FALSE(entities_->Get("gimhae", "urn:ngsi-ld:WaterLevelSensor:b1").ok());  // nothing written
  auto d = registry_->Find("gimhae", "b1");
  EXPECT_EQ(d->status->rejected.load(), 3u);
  std::lock_guard lock(d->status->mutex);
  EXPECT_THAT(d->status->last_error, HasSubstr("more than 1000 measures"));
  EXPECT_EQ(ingestor_->Stats().rejected, 3u);
}

TEST_F(IngestorTest, ProvisioningSurvivesAReopen) {
  ServiceGroup g;
  g.apikey = "river";
  g.resource = "/iot/d";
  g.entity_type = Iri("WaterLevelSensor");
  ASSERT_TRUE(registry_->PutGroup("gimhae", g).ok());
  ASSERT_TRUE(registry_->AddDevice(River("b1"), "key-of-b1-0123456789").ok());
  Close();
  Open();
  ASSERT_TRUE(registry_->Find("gimhae", "b1"));
  EXPECT_EQ(registry_->Groups("gimhae").size(), 1u);
  EXPECT_TRUE(Send("key-of-b1-0123456789", "b1", "l|2").ok());
  ASSERT_TRUE(registry_->DeleteDevice("gimhae", "b1").ok());
  EXPECT_EQ(Send("key-of-b1-0123456789", "b1", "l|3").code(), Status::Code::kUnauthenticated);
}

TEST_F(IngestorTest, ConcurrentDevicesAllLandInBatchedTransactions) {
  constexpr int kDevices = 50, kThreads = 4, kPerThread = 500;
  for (int i = 0; i < kDevices; ++i) {
    ASSERT_TRUE(registry_->AddDevice(River("d" + std::to_string(i)), "key-of-device-" + std::to_string(i) + "-xxxxxx").ok());
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kPerThread; ++n) {
        const int dev = (t * kPerThread + n) % kDevices;
        DeviceMessage m;
        m.key = "key-of-device-" + std::to_string(dev) + "-xxxxxx";
        m.device_id = "d" + std::to_string(dev);
        m.payload = "l|" + std::to_string(t * kPerThread + n);
        if (!ingestor_->Ingest(m, /*wait=*/n % 10 == 0).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  ingestor_.reset();  // commits what is queued
  EXPECT_EQ(failures.load(), 0);
  uint64_t measures = 0;
  for (int i = 0; i < kDevices; ++i) {
    auto d = registry_->Find("gimhae", "d" + std::to_string(i));
    measures += d->status->measures.load();
    EXPECT_TRUE(entities_->Get("gimhae", d->entity_name).ok());
  }
  EXPECT_EQ(measures, uint64_t(kThreads * kPerThread));
}

TEST_F(IngestorTest, QueuedMessagesAreCommittedOnShutdown) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(registry_->AddDevice(River("s" + std::to_string(i)), "key-of-s" + std::to_string(i) + "-xxxxxxxxxx").ok());
  }
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 20; ++i) {
      DeviceMessage m;
      m.key = "key-of-s" + std::to_string(i) + "-xxxxxxxxxx";
      m.device_id = "s" + std::to_string(i);
      m.payload = "l|" + std::to_string(round);
      ASSERT_TRUE(ingestor_->Ingest(m, false).ok());
    }
  }
  ingestor_.reset();  // returns once everything queued is committed
  uint64_t measures = 0;
  for (int i = 0; i < 20; ++i) measures += registry_->Find("gimhae", "s" + std::to_string(i))->status->measures.load();
  EXPECT_EQ(measures, 200u);
}

}  // namespace
}  // namespace cityhub::ingest
