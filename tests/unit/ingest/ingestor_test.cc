// Tests for ingest/registry and ingest/ingestor on a real RocksDB store: provisioned devices
// and groups survive a reopen, a measure needs its device's own key, measures become attributes
// with observedAt and unitCode through the device's or its group's mappings, bad messages are
// refused whole and counted, and concurrent devices all land — batched into transactions. The
// priority lane: a measure that feeds a warning rule overtakes the bulk queued before it, bulk
// is still all written, and an entity turning urgent keeps its order across the lanes.
#include "ingest/ingestor.h"

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
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
  void Open(IngestOptions ingest_options = {}) {
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
    ingestor_ = std::make_unique<Ingestor>(*entities_, *registry_, resolver_.Core(), std::move(ingest_options));
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

// Records, per entity, the values of `attr` in the order they are written, and holds every
// write of a bulk entity (any but the urgent ones) while closed.
class WriteGate : public broker::ChangeObserver {
 public:
  explicit WriteGate(std::string attr) : attr_(std::move(attr)) {}
  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  void Open() {
    {
      std::lock_guard lock(mutex_);
      closed_ = false;
    }
    changed_.notify_all();
  }
  void HoldOnly(std::set<std::string> ids) {
    std::lock_guard lock(mutex_);
    held_ = std::move(ids);
  }
  // True once a write is held (waits up to 10 s).
  bool Holding() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return holding_ > 0; });
  }
  std::vector<std::string> Written(const std::string& id) {
    std::lock_guard lock(mutex_);
    return written_[id];
  }
  std::vector<std::string> Order() {
    std::lock_guard lock(mutex_);
    return order_;
  }

  bool Watching(std::string_view) const override { return true; }
  Status AddTo(std::string_view, store::TenantStore&, const std::vector<broker::EntityChange>& changes, store::WriteSet&,
               std::unique_ptr<broker::PendingChanges>*) override {
    std::unique_lock lock(mutex_);
    const bool hold = std::any_of(changes.begin(), changes.end(), [&](const broker::EntityChange& c) {
      return c.after && (held_.empty() || held_.count(c.after->id));
    });
    if (hold && closed_) {
      ++holding_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !closed_; });
      --holding_;
    }
    for (const auto& c : changes) {
      if (!c.after) continue;
      order_.push_back(c.after->id);
      auto it = c.after->attrs.find(attr_);
      if (it != c.after->attrs.end()) written_[c.after->id].push_back(json::serialize(it->second.front().at("value")));
    }
    return Status::Ok();
  }
  void Committed(std::string_view, std::unique_ptr<broker::PendingChanges>) override {}

 private:
  const std::string attr_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool closed_ = false;
  int holding_ = 0;
  std::set<std::string> held_;
  std::map<std::string, std::vector<std::string>> written_;
  std::vector<std::string> order_;
};

class PriorityLaneTest : public IngestorTest {
 protected:
  void SetUp() override {
    IngestorTest::SetUp();
    Reopen({});
  }
  // Opens again with `options` and the rule that reads waterLevel.
  void Reopen(IngestOptions options) {
    Close();
    options.urgent = [](const std::vector<std::string>&, std::string_view attr) { return attr == Iri("waterLevel"); };
    Open(std::move(options));
    entities_->AddChangeObserver(&gate_);
  }
  void TearDown() override {
    gate_.Open();
    IngestorTest::TearDown();
  }
  // A bulk device: its "b" measures are a battery level no rule reads.
  void AddDevice(const std::string& id) {
    Device d = River(id);
    d.attributes.push_back({"b", Iri("batteryLevel"), "Property", ""});
    ASSERT_TRUE(registry_->AddDevice(std::move(d), "key-of-" + id + "-0123456789").ok());
  }
  Status Queue(const std::string& id, const std::string& payload) {
    DeviceMessage m;
    m.key = "key-of-" + id + "-0123456789";
    m.device_id = id;
    m.payload = payload;
    return ingestor_->Ingest(m, false);
  }
  std::future<Status> SendAsync(const std::string& id, const std::string& payload) {
    return std::async(std::launch::async, [this, id, payload] {
      DeviceMessage m;
      m.key = "key-of-" + id + "-0123456789";
      m.device_id = id;
      m.payload = payload;
      return ingestor_->Ingest(m, true);
    });
  }
  // A device whose only mapping is its battery ("b"): no rule reads what it sends — unless it
  // sends a water level under the attribute's own name.
  void AddBulkOnlyDevice(const std::string& id) {
    Device d = River(id);
    d.apikey.clear();
    d.attributes = {{"b", Iri("batteryLevel"), "Property", ""}};
    ASSERT_TRUE(registry_->AddDevice(std::move(d), "key-of-" + id + "-0123456789").ok());
  }
  Status Offer(const std::string& id, const std::string& payload) {
    DeviceMessage m;
    m.key = "key-of-" + id + "-0123456789";
    m.device_id = id;
    m.payload = payload;
    return ingestor_->Offer(std::move(m));
  }
  // True once the entity exists (waits up to 10 s).
  bool Eventually(const std::string& entity) {
    for (int i = 0; i < 1000; ++i) {
      if (entities_->Get("gimhae", entity).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // True once `n` writes of `entity` went through the gate (within 10 s).
  bool EventuallyWritten(const std::string& entity, size_t n) {
    for (int i = 0; i < 1000; ++i) {
      if (gate_.Written(entity).size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  static std::string Entity(const std::string& id) { return "urn:ngsi-ld:WaterLevelSensor:" + id; }
  // Devices d0…d(devices-1) sent "b|0"…"b|(rounds-1)": every measure was written, each device's
  // in order.
  void ExpectAllBulkWrittenInOrder(int devices, int rounds) {
    uint64_t measures = 0;
    for (int i = 0; i < devices; ++i) {
      const std::string id = "d" + std::to_string(i);
      measures += registry_->Find("gimhae", id)->status->measures.load();
      std::vector<std::string> expected;
      for (int round = 0; round < rounds; ++round) expected.push_back(std::to_string(round));
      EXPECT_EQ(gate_.Written(Entity(id)), expected) << id;
    }
    EXPECT_EQ(measures, uint64_t(devices * rounds));
  }

  WriteGate gate_{Iri("batteryLevel")};
};

TEST_F(PriorityLaneTest, AWarningMeasureOvertakesTheBulkQueuedBeforeIt) {
  constexpr int kBulkDevices = 30, kRounds = 20;
  for (int i = 0; i < kBulkDevices; ++i) AddDevice("d" + std::to_string(i));
  AddDevice("gauge");
  std::set<std::string> bulk;
  for (int i = 0; i < kBulkDevices; ++i) bulk.insert(Entity("d" + std::to_string(i)));
  gate_.HoldOnly(bulk);
  gate_.Close();  // the bulk writer stops in its first transaction
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kBulkDevices; ++i) ASSERT_TRUE(Queue("d" + std::to_string(i), "b|" + std::to_string(round)).ok());
  }
  ASSERT_TRUE(gate_.Holding());
  // Behind 600 bulk messages, with the bulk writer stuck: the gauge's level is written anyway.
  std::future<Status> level = SendAsync("gauge", "l|5.5");
  const bool overtook = level.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  const bool gauge_written = entities_->Get("gimhae", Entity("gauge")).ok();
  gate_.Open();  // before any assertion can return: the future's destructor waits for its write
  ASSERT_TRUE(overtook) << "the warning measure waited for bulk";
  EXPECT_TRUE(level.get().ok());
  EXPECT_TRUE(gauge_written);
  ingestor_.reset();  // commits what is queued
  // Bulk is all written, each device's measures in order.
  ExpectAllBulkWrittenInOrder(kBulkDevices, kRounds);
  // The gauge was written before most of the bulk (only the first bulk transaction was under way).
  const auto order = gate_.Order();
  const auto gauge_at = std::find(order.begin(), order.end(), Entity("gauge")) - order.begin();
  EXPECT_LE(gauge_at, kBulkDevices);
}

TEST_F(PriorityLaneTest, AnEntityTurningUrgentKeepsItsOrderAcrossTheLanes) {
  AddDevice("gauge");
  AddDevice("other");
  gate_.HoldOnly({Entity("gauge"), Entity("other")});
  gate_.Close();
  ASSERT_TRUE(Queue("gauge", "b|1").ok());  // the bulk writer holds it in its transaction
  ASSERT_TRUE(gate_.Holding());
  ASSERT_TRUE(Queue("gauge", "b|2").ok());  // still queued in the bulk lane
  ASSERT_TRUE(Queue("other", "b|1").ok());
  std::future<Status> urgent = SendAsync("gauge", "l|5.5|b|3");  // turns the gauge urgent
  // It must not be written before b|1 and b|2: it waits for the bulk transaction under way.
  EXPECT_EQ(urgent.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  gate_.Open();
  ASSERT_EQ(urgent.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(urgent.get().ok());
  // From now on the gauge's bulk measures take the priority lane too.
  ASSERT_TRUE(Queue("gauge", "b|4").ok());
  ingestor_.reset();
  EXPECT_EQ(gate_.Written(Entity("gauge")), (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(gate_.Written(Entity("other")), (std::vector<std::string>{"1"}));
}

TEST_F(PriorityLaneTest, OnlyMeasuresThatFeedARuleAreCountedAsPriority) {
  AddDevice("gauge");
  AddDevice("bulk");
  DeviceMessage m;
  m.key = "key-of-bulk-0123456789";
  m.device_id = "bulk";
  m.payload = "b|90";
  ASSERT_TRUE(ingestor_->Ingest(m, true).ok());
  m.key = "key-of-gauge-0123456789";
  m.device_id = "gauge";
  m.payload = "l|1.0";
  ASSERT_TRUE(ingestor_->Ingest(m, true).ok());
  const IngestStats stats = ingestor_->Stats();
  EXPECT_EQ(stats.messages, 2u);
  EXPECT_EQ(stats.priority_messages, 1u);
  EXPECT_EQ(stats.priority_transactions, 1u);
  EXPECT_EQ(stats.transactions, 2u);
}

// Offer (the MQTT path) hands bulk messages to the decode thread and returns: with the bulk
// writer stuck and its lane full, the decode thread waits with 200 messages behind it, and a
// gauge's level is still read, queued and written at once; afterwards every bulk measure is
// written, in order per device.
TEST_F(PriorityLaneTest, OfferReadsAWarningDeviceAheadOfTheBacklogHandedToTheDecoder) {
  IngestOptions options;
  options.max_queued = 2;
  Reopen(std::move(options));
  constexpr int kBulkDevices = 10, kRounds = 20;
  std::set<std::string> bulk;
  for (int i = 0; i < kBulkDevices; ++i) {
    AddBulkOnlyDevice("d" + std::to_string(i));
    bulk.insert(Entity("d" + std::to_string(i)));
  }
  AddDevice("gauge");
  gate_.HoldOnly(bulk);
  gate_.Close();
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kBulkDevices; ++i) ASSERT_TRUE(Offer("d" + std::to_string(i), "b|" + std::to_string(round)).ok());
  }
  ASSERT_TRUE(gate_.Holding());
  // What waits, as /metrics shows it: the lane full (once the decode thread has filled it), the
  // rest with the decode thread but the writer's first transaction (at most one message per
  // device) and the one the decode thread holds, waiting for room.
  IngestStats waiting = ingestor_->Stats();
  for (int i = 0; i < 1000 && waiting.waiting_bulk < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    waiting = ingestor_->Stats();
  }
  EXPECT_EQ(waiting.waiting_bulk, 2u);
  EXPECT_GE(waiting.waiting_decode, uint64_t(kBulkDevices * kRounds - 2 - kBulkDevices - 1));
  EXPECT_GT(waiting.waiting_decode_bytes, waiting.waiting_decode * 3);
  ASSERT_TRUE(Offer("gauge", "l|5.5").ok());
  const bool gauge_written = Eventually(Entity("gauge"));
  const auto took = std::chrono::steady_clock::now() - started;
  const size_t bulk_written = gate_.Order().size();
  gate_.Open();
  EXPECT_TRUE(gauge_written) << "the warning measure waited for the bulk backlog";
  EXPECT_LT(took, std::chrono::seconds(5)) << "Offer waited for the stuck bulk writer";
  EXPECT_LE(bulk_written, 1u + kBulkDevices) << "bulk was written while the gate held it";
  ingestor_.reset();  // decodes and commits everything offered
  ExpectAllBulkWrittenInOrder(kBulkDevices, kRounds);
}

// A device no mapping marks as a rule's feeder turns urgent when it first sends a water level;
// its messages offered after that are read at once — after those of its messages still waiting
// for the decode thread, never before them.
TEST_F(PriorityLaneTest, ADeviceTurningUrgentThroughOfferKeepsItsOrder) {
  IngestOptions options;
  options.max_queued = 1;
  Reopen(std::move(options));
  AddBulkOnlyDevice("filler");
  AddBulkOnlyDevice("x");
  gate_.HoldOnly({Entity("filler")});
  gate_.Close();
  ASSERT_TRUE(Offer("filler", "b|0").ok());  // the bulk writer holds it
  ASSERT_TRUE(gate_.Holding());
  ASSERT_TRUE(Offer("filler", "b|1").ok());              // fills the bulk lane
  ASSERT_TRUE(Offer("x", "waterLevel|5.5|b|1").ok());    // turns x urgent: written by the priority writer
  ASSERT_TRUE(Offer("filler", "b|2").ok());              // the decode thread waits for room here…
  ASSERT_TRUE(Offer("x", "b|2").ok());                   // …with this behind it
  ASSERT_TRUE(Eventually(Entity("x")));
  ASSERT_TRUE(Offer("x", "b|3").ok());  // read at once: b|2 must go first
  gate_.Open();
  ingestor_.reset();
  EXPECT_EQ(gate_.Written(Entity("x")), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(gate_.Written(Entity("filler")), (std::vector<std::string>{"0", "1", "2"}));
}

TEST_F(PriorityLaneTest, OfferRefusesAWrongKeyAtOnce) {
  AddBulkOnlyDevice("d");
  DeviceMessage m;
  m.key = "not-the-key-of-d-0123456789";
  m.device_id = "d";
  m.payload = "b|1";
  EXPECT_EQ(ingestor_->Offer(std::move(m)).code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(ingestor_->Stats().unauthenticated, 1u);
  EXPECT_EQ(ingestor_->Stats().messages, 0u);
}

// The order is the entity's, whichever device sends: a gauge's level read at once takes first
// what another device bound to the same entity sent before it and the decode thread has not
// reached.
TEST_F(PriorityLaneTest, AMessageReadAtOnceTakesItsEntitysEarlierMessagesFromAnyDevice) {
  IngestOptions options;
  options.max_queued = 1;
  Reopen(std::move(options));
  AddBulkOnlyDevice("filler");
  AddBulkOnlyDevice("battery");  // bound to the gauge's entity below
  Device gauge = River("gauge");
  gauge.attributes.push_back({"b", Iri("batteryLevel"), "Property", ""});
  gauge.entity_name = Entity("battery");
  ASSERT_TRUE(registry_->AddDevice(std::move(gauge), "key-of-gauge-0123456789").ok());
  gate_.HoldOnly({Entity("filler")});
  gate_.Close();
  ASSERT_TRUE(Offer("filler", "b|0").ok());  // the bulk writer holds it
  ASSERT_TRUE(gate_.Holding());
  ASSERT_TRUE(Offer("filler", "b|1").ok());  // fills the bulk lane
  ASSERT_TRUE(Offer("filler", "b|2").ok());  // the decode thread waits for room here…
  ASSERT_TRUE(Offer("battery", "b|1").ok()); // …with these behind it
  ASSERT_TRUE(Offer("battery", "b|2").ok());
  ASSERT_TRUE(Offer("gauge", "l|5.5|b|3").ok());  // read at once
  for (int i = 0; i < 1000 && gate_.Written(Entity("battery")).size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gate_.Written(Entity("battery")), (std::vector<std::string>{"1", "2", "3"})) << "while bulk is stuck";
  gate_.Open();
  ingestor_.reset();
  EXPECT_EQ(gate_.Written(Entity("battery")), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(gate_.Written(Entity("filler")), (std::vector<std::string>{"0", "1", "2"}));
}

// A device that may feed a rule but sends only what no rule reads goes the bulk way, without
// keeping the reading thread waiting for room in the full bulk lane; its level, later, is read
// at once and takes that bulk message first.
TEST_F(PriorityLaneTest, ABulkMessageOfAGaugeDoesNotWaitForRoomInTheBulkLane) {
  IngestOptions options;
  options.max_queued = 1;
  Reopen(std::move(options));
  AddBulkOnlyDevice("filler");
  AddDevice("gauge");  // maps l (waterLevel) and b
  gate_.HoldOnly({Entity("filler")});
  gate_.Close();
  ASSERT_TRUE(Offer("filler", "b|0").ok());
  ASSERT_TRUE(gate_.Holding());
  ASSERT_TRUE(Offer("filler", "b|1").ok());  // the bulk lane is full
  std::future<Status> battery = std::async(std::launch::async, [this] { return Offer("gauge", "b|7"); });
  const bool returned = battery.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  std::future<Status> level;
  if (returned) level = std::async(std::launch::async, [this] { return Offer("gauge", "l|5.5"); });
  const bool level_returned = returned && level.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  // Both of the gauge's writes (the first one alone creates the entity).
  const bool written = level_returned && EventuallyWritten(Entity("gauge"), 2);
  const auto battery_written = gate_.Written(Entity("gauge"));
  gate_.Open();  // before any assertion can return: the futures wait for the gate otherwise
  EXPECT_TRUE(returned) << "the reading thread waited for room in the bulk lane";
  EXPECT_TRUE(level_returned);
  EXPECT_TRUE(written);
  // b|7's write, then the level's (the entity keeps its battery level): had the level gone first,
  // its write would have had no battery level to record.
  EXPECT_EQ(battery_written, (std::vector<std::string>{"7", "7"})) << "the level passed the gauge's earlier message";
  ingestor_.reset();
}

}  // namespace
}  // namespace cityhub::ingest
