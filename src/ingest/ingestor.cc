#include "ingest/ingestor.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/write_access.h"
#include "ngsild/parse.h"
#include "util/thread_name.h"
#include "util/time.h"

namespace cityhub::ingest {
namespace json = boost::json;

namespace {

// A FIWARE "lat, lon" text (geo:point) or a GeoJSON object as a GeoProperty value.
Result<json::value> GeoValue(const json::value& v) {
  if (v.is_object()) return v;
  if (v.is_string()) {
    std::string_view s = v.get_string();
    const size_t comma = s.find(',');
    if (comma != std::string_view::npos) {
      char* end = nullptr;
      const std::string lat_text(s.substr(0, comma)), lon_text(s.substr(comma + 1));
      const double lat = std::strtod(lat_text.c_str(), &end);
      const bool lat_ok = end && *end == '\0' && !lat_text.empty();
      const double lon = std::strtod(lon_text.c_str(), &end);
      if (lat_ok && end && *end == '\0' && !lon_text.empty()) {
        return json::value(json::object{{"type", "Point"}, {"coordinates", json::array{lon, lat}}});
      }
    }
  }
  return Status::BadRequestData("a GeoProperty measure must be \"lat,lon\" or a GeoJSON geometry");
}

// What a message held for the decode thread costs in memory (its strings and the queue entry).
size_t ArrivalBytes(const DeviceMessage& m) {
  return sizeof(DeviceMessage) + 64 + m.key.size() + m.device_id.size() + m.payload.size() + m.attr.size() +
         (m.tenant ? m.tenant->size() : 0);
}

void NoteRejected(const Device* device, const Status& st) {
  if (!device) return;
  DeviceStatus& s = *device->status;
  s.rejected.fetch_add(1, std::memory_order_relaxed);
  s.last_error_ms.store(util::NowMillis(), std::memory_order_relaxed);
  std::lock_guard lock(s.mutex);
  s.last_error = std::string(st.message().substr(0, 200));
}

// The IoT agent's rights while it writes a batch of measures (system principal
// "system:iot-agent"): the entity each device of the batch is bound to, of the device's type,
// only the attributes its mappings name when it has explicitAttrs, and never a deletion. The
// bindings themselves were authorized when the devices were provisioned (api/iot_api.cc).
class DeviceWriteAccess final : public broker::WriteAccess {
 public:
  DeviceWriteAccess(const DeviceRegistry& registry, const std::vector<const Device*>& devices) {
    for (const Device* device : devices) {
      const Device& d = *device;
      Binding& b = bindings_[d.entity_name];
      b.type = d.entity_type;
      const std::shared_ptr<const ServiceGroup> group = registry.GroupOf(d.tenant, d.apikey);
      b.explicit_attrs = d.explicit_attrs || (group && group->explicit_attrs);
      for (const auto& m : d.attributes) b.attrs.insert(m.name);
      if (group) {
        for (const auto& m : group->attributes) b.attrs.insert(m.name);
      }
    }
  }

  std::string_view subject() const override { return "system:iot-agent"; }
  bool MayWrite(const Target& t) const override { return BindingOf(t) != nullptr; }
  bool MayWriteAttribute(const Target& t, std::string_view attr) const override {
    const Binding* b = BindingOf(t);
    return b && (!b->explicit_attrs || b->attrs.count(attr));
  }
  bool MayDelete(const Target&) const override { return false; }

 private:
  struct Binding {
    std::string type;
    bool explicit_attrs = false;
    std::set<std::string, std::less<>> attrs;
  };
  const Binding* BindingOf(const Target& t) const {
    auto it = bindings_.find(t.id);
    if (it == bindings_.end()) return nullptr;
    const bool typed = std::find(t.types.begin(), t.types.end(), it->second.type) != t.types.end();
    return typed ? &it->second : nullptr;
  }
  std::map<std::string, Binding, std::less<>> bindings_;
};

std::string UrgentKey(std::string_view tenant, std::string_view entity_id) {
  std::string key;
  key.reserve(tenant.size() + 1 + entity_id.size());
  key.append(tenant).append("\n").append(entity_id);
  return key;
}

std::string EntityKey(const Device& device) { return UrgentKey(device.tenant, device.entity_name); }

}  // namespace

std::string_view LaneName(Lane lane) { return lane == Lane::kPriority ? "priority" : "bulk"; }

std::string_view IngestStageName(IngestStage stage) {
  switch (stage) {
    case IngestStage::kAdmit: return "admit";
    case IngestStage::kQueued: return "queued";
    case IngestStage::kCommit: return "commit";
  }
  return "";
}

Ingestor::Ingestor(broker::EntityService& entities, const DeviceRegistry& registry, ngsild::ContextPtr core,
                   IngestOptions options)
    : entities_(entities), registry_(registry), core_(std::move(core)), options_(std::move(options)) {
  bulk_.writer = std::thread([this] { Run(Lane::kBulk); });
  priority_.writer = std::thread([this] { Run(Lane::kPriority); });
  decoder_ = std::thread([this] { Decode(); });
}

Ingestor::~Ingestor() {
  {  // what was offered is queued first (the lanes' writers still run)
    std::lock_guard lock(arrivals_mutex_);
    stop_decoding_ = true;
  }
  wake_decoder_.notify_all();
  arrivals_room_.notify_all();
  decoder_.join();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  bulk_.wake_writer.notify_all();
  priority_.wake_writer.notify_all();
  wake_producers_.notify_all();
  priority_.writer.join();
  bulk_.writer.join();
}

Result<ngsild::Entity> Ingestor::ToEntity(const Device& device, const std::vector<MeasureGroup>& groups,
                                          int64_t now_ms, size_t* measures) const {
  const std::shared_ptr<const ServiceGroup> group = registry_.GroupOf(device.tenant, device.apikey);
  ngsild::Entity e;
  e.id = device.entity_name;
  e.types = {device.entity_type};
  e.created_at = e.modified_at = now_ms;
  const bool explicit_attrs = device.explicit_attrs || (group && group->explicit_attrs);
  for (const auto& g : groups) {
    const std::string observed = g.observed_ms ? util::FormatDateTime(*g.observed_ms, g.observed_fraction)
                                               : util::FormatDateTime(now_ms);
    for (const auto& m : g.measures) {
      const AttributeMapping* mapping = device.MappingOf(m.object_id, group.get());
      if (!mapping && explicit_attrs) continue;
      const std::string name = mapping ? mapping->name : core_->ExpandTerm(m.object_id);
      const std::string type = mapping && !mapping->type.empty() ? mapping->type : "Property";
      json::object attr{{"type", type}, {"observedAt", observed}};
      if (type == "Relationship") {
        if (!m.value.is_string()) return Status::BadRequestData(fmt::format("measure '{}' must be an entity id (a Relationship)", m.object_id));
        attr["object"] = m.value;
      } else if (type == "GeoProperty") {
        auto geo = GeoValue(m.value);
        if (!geo.ok()) return Status::BadRequestData(fmt::format("measure '{}': {}", m.object_id, geo.status().message()));
        attr["value"] = std::move(*geo);
      } else {
        attr["value"] = m.value;
      }
      if (mapping && !mapping->unit_code.empty() && type == "Property") attr["unitCode"] = mapping->unit_code;
      auto instances = ngsild::ParseAttribute(m.object_id, attr, *core_, now_ms, ngsild::ParseLimits{});
      if (!instances.ok()) return Status::BadRequestData(fmt::format("measure '{}': {}", m.object_id, instances.status().message()));
      // Several groups in one message may measure the same attribute: the latest time wins the
      // current state (each group's instant still reaches the history through its own write).
      e.attrs[name] = std::move(*instances);
      ++*measures;
    }
  }
  if (e.attrs.empty()) return Status::BadRequestData("no measure maps to an attribute of the device (explicitAttrs)");
  return e;
}

Result<DevicePtr> Ingestor::Authenticate(const DeviceMessage& message) {
  auto device = registry_.Authenticate(message.key, message.device_id,
                                       message.tenant ? std::optional<std::string_view>(*message.tenant) : std::nullopt);
  if (!device.ok()) {
    std::lock_guard lock(mutex_);
    ++stats_.unauthenticated;
  }
  return device;
}

Status Ingestor::Ingest(const DeviceMessage& message, bool wait) {
  const Clock::time_point arrived = Clock::now();
  const int64_t now_ms = util::NowMillis();
  auto device = Authenticate(message);
  if (!device.ok()) return device.status();
  // Its entity's MQTT messages still waiting for the decode thread go first.
  for (Arrival& a : TakeArrivalsOf(EntityKey(**device))) (void)Accept(a.device, a.message, false, a.at, a.received_ms);
  return Accept(*device, message, wait, arrived, now_ms);
}

Status Ingestor::Offer(DeviceMessage message) {
  const Clock::time_point arrived = Clock::now();
  const int64_t now_ms = util::NowMillis();  // the measures' time when the message gives none
  auto device = Authenticate(message);
  if (!device.ok()) return device.status();
  std::string key = EntityKey(**device);
  if (MayFeedRules(**device)) {
    // Decoded here; queued here only if it takes the priority lane — a bulk message must not
    // keep this thread waiting for room in the bulk lane.
    Result<Pending> p = Prepare(*device, message, now_ms, /*wait=*/false);
    if (!p.ok()) return p.status();
    const bool urgent = Urgent(p->entity);
    if (urgent) TurnUrgent(*p);  // before its entity's earlier messages: they take the lane too
    if (urgent || IsUrgent(key)) {
      for (Arrival& a : TakeArrivalsOf(key)) (void)Accept(a.device, a.message, false, a.at, a.received_ms);
      return Queue(std::move(*p), urgent, arrived);
    }
  }
  {
    std::unique_lock lock(arrivals_mutex_);
    const size_t bytes = ArrivalBytes(message);
    // One message always fits (an empty queue), whatever its size.
    arrivals_room_.wait(lock, [&] {
      return arrivals_.empty() || arrival_bytes_ + bytes <= options_.max_arrival_bytes || stop_decoding_;
    });
    if (stop_decoding_) return Status(Status::Code::kUnavailable, "the hub is stopping");
    arrival_bytes_ += bytes;
    ++arrivals_of_[key];
    arrivals_.push_back({std::move(*device), std::move(key), std::move(message), arrived, now_ms});
  }
  wake_decoder_.notify_one();
  return Status::Ok();
}

void Ingestor::Decode() {
  util::NameThisThread("ingest-decode");
  std::unique_lock lock(arrivals_mutex_);
  for (;;) {
    wake_decoder_.wait(lock, [&] { return !arrivals_.empty() || stop_decoding_; });
    if (arrivals_.empty()) return;  // stopping, and everything offered is queued
    Arrival a = std::move(arrivals_.front());
    arrivals_.pop_front();
    arrival_bytes_ -= ArrivalBytes(a.message);
    if (auto n = arrivals_of_.find(a.entity_key); n != arrivals_of_.end() && --n->second == 0) arrivals_of_.erase(n);
    decoding_ = a.entity_key;
    lock.unlock();
    arrivals_room_.notify_one();
    (void)Accept(a.device, a.message, /*wait=*/false, a.at, a.received_ms);  // refusals are counted by Accept
    lock.lock();
    decoding_.clear();
    decoded_.notify_all();
  }
}

std::vector<Ingestor::Arrival> Ingestor::TakeArrivalsOf(const std::string& entity_key) {
  std::vector<Arrival> taken;
  std::unique_lock lock(arrivals_mutex_);
  decoded_.wait(lock, [&] { return decoding_ != entity_key; });
  auto n = arrivals_of_.find(entity_key);
  if (n == arrivals_of_.end()) return taken;  // the usual case: nothing of it waits
  auto rest = std::stable_partition(arrivals_.begin(), arrivals_.end(),
                                    [&](const Arrival& a) { return a.entity_key != entity_key; });
  for (auto it = rest; it != arrivals_.end(); ++it) arrival_bytes_ -= ArrivalBytes(it->message);
  std::move(rest, arrivals_.end(), std::back_inserter(taken));
  arrivals_.erase(rest, arrivals_.end());
  arrivals_of_.erase(n);
  lock.unlock();
  arrivals_room_.notify_all();
  return taken;
}

bool Ingestor::MayFeedRules(const Device& device) const {
  if (!options_.urgent) return false;
  if (device.status->urgent.load(std::memory_order_relaxed)) return true;
  const std::vector<std::string> types{device.entity_type};
  for (const auto& m : device.attributes) {
    if (options_.urgent(types, m.name)) return true;
  }
  if (device.apikey.empty()) return false;
  const std::shared_ptr<const ServiceGroup> group = registry_.GroupOf(device.tenant, device.apikey);
  if (!group) return false;
  for (const auto& m : group->attributes) {
    if (options_.urgent(types, m.name)) return true;
  }
  return false;
}

bool Ingestor::IsUrgent(const std::string& entity_key) const {
  std::lock_guard lock(mutex_);
  return urgent_entities_.count(entity_key) > 0;
}

Status Ingestor::Accept(const DevicePtr& device, const DeviceMessage& message, bool wait, Clock::time_point arrived,
                        int64_t now_ms) {
  Result<Pending> p = Prepare(device, message, now_ms, wait);
  if (!p.ok()) return p.status();
  std::future<Status> done;
  if (p->done) done = p->done->get_future();
  const bool urgent = Urgent(p->entity);
  CITYHUB_RETURN_IF_ERROR(Queue(std::move(*p), urgent, arrived));
  return wait ? done.get() : Status::Ok();
}

Result<Ingestor::Pending> Ingestor::Prepare(const DevicePtr& device, const DeviceMessage& message, int64_t now_ms,
                                            bool wait) {
  const Device& d = *device;
  Result<std::vector<MeasureGroup>> groups = Status::Internal("undecoded");
  MeasureFormat format = message.format;
  if (format == MeasureFormat::kByDevice) {
    format = d.protocol == Protocol::kJson ? MeasureFormat::kJson : MeasureFormat::kUltralight;
  }
  switch (format) {
    case MeasureFormat::kByDevice:
    case MeasureFormat::kUltralight:
      groups = DecodeUltralight(message.payload, options_.limits);
      break;
    case MeasureFormat::kJson:
      groups = DecodeJson(message.payload, options_.limits);
      break;
    case MeasureFormat::kSingle: {
      auto one = DecodeSingle(message.attr, message.payload, options_.limits);
      groups = one.ok() ? Result<std::vector<MeasureGroup>>(std::vector<MeasureGroup>{std::move(*one)}) : one.status();
      break;
    }
  }
  size_t measures = 0;
  if (groups.ok() && message.observed_ms) {
    for (auto& g : *groups) {
      if (!g.observed_ms) {
        g.observed_ms = message.observed_ms;
        g.observed_fraction = message.observed_fraction;
      }
    }
  }
  Result<ngsild::Entity> entity = groups.ok() ? ToEntity(d, *groups, now_ms, &measures) : Result<ngsild::Entity>(groups.status());
  if (!entity.ok()) {
    NoteRejected(&d, entity.status());
    std::lock_guard lock(mutex_);
    ++stats_.rejected;
    return entity.status();
  }
  return Pending{device, std::move(*entity), measures, wait ? std::make_shared<std::promise<Status>>() : nullptr, {}};
}

Status Ingestor::Queue(Pending p, bool urgent, Clock::time_point arrived) {
  Lane lane;
  {
    std::unique_lock lock(mutex_);
    // The lane is decided again after each wait: the entity may have turned urgent meanwhile.
    for (;;) {
      if (stopping_) return Status(Status::Code::kUnavailable, "the hub is stopping");
      lane = Route(p, urgent);
      if ((lane == Lane::kPriority ? priority_ : bulk_).queue.size() < options_.max_queued) break;
      wake_producers_.wait(lock);
    }
    p.queued_at = Clock::now();
    ++stats_.messages;
    stats_.measures += p.measures;
    if (lane == Lane::kPriority) ++stats_.priority_messages;
    (lane == Lane::kPriority ? priority_ : bulk_).queue.push_back(std::move(p));
  }
  Observe(lane, IngestStage::kAdmit, arrived);
  (lane == Lane::kPriority ? priority_ : bulk_).wake_writer.notify_one();
  return Status::Ok();
}

void Ingestor::TurnUrgent(const Pending& p) {
  {
    std::lock_guard lock(mutex_);
    (void)Route(p, /*urgent=*/true);  // marks the entity, moves what it has in the bulk lane over
  }
  // A message of the entity waiting for room in the full bulk lane (the decode thread's) now
  // takes the priority lane: TakeArrivalsOf waits for it.
  wake_producers_.notify_all();
}

bool Ingestor::Urgent(const ngsild::Entity& entity) const {
  if (!options_.urgent) return false;
  for (const auto& [attr, instances] : entity.attrs) {
    if (options_.urgent(entity.types, attr)) return true;
  }
  return false;
}

Lane Ingestor::Route(const Pending& p, bool urgent) {
  if (!urgent && urgent_entities_.empty()) return Lane::kBulk;
  std::string key = UrgentKey(p.device->tenant, p.entity.id);
  if (!urgent && !urgent_entities_.count(key)) return Lane::kBulk;
  p.device->status->urgent.store(true, std::memory_order_relaxed);  // Offer reads its next messages at once
  if (!urgent || !urgent_entities_.insert(std::move(key)).second) return Lane::kPriority;
  // First urgent message of this entity: what it has queued in the bulk lane goes ahead of it.
  auto moved = std::stable_partition(bulk_.queue.begin(), bulk_.queue.end(), [&](const Pending& q) {
    return q.entity.id != p.entity.id || q.device->tenant != p.device->tenant;
  });
  for (auto it = moved; it != bulk_.queue.end(); ++it) priority_.queue.push_back(std::move(*it));
  bulk_.queue.erase(moved, bulk_.queue.end());
  return Lane::kPriority;
}

IngestStats Ingestor::Stats() const {
  IngestStats out;
  {
    std::lock_guard lock(mutex_);
    out = stats_;
    out.waiting_bulk = bulk_.queue.size();
    out.waiting_priority = priority_.queue.size();
  }
  std::lock_guard lock(arrivals_mutex_);
  out.waiting_decode = arrivals_.size();
  out.waiting_decode_bytes = arrival_bytes_;
  return out;
}

bool Ingestor::BulkCommitting(const std::vector<Pending>& batch) const {
  if (bulk_.committing.empty() || batch.front().device->tenant != bulk_.committing_tenant) return false;
  return std::any_of(batch.begin(), batch.end(), [&](const Pending& p) { return bulk_.committing.count(p.entity.id); });
}

void Ingestor::Run(Lane lane) {
  util::NameThisThread(lane == Lane::kPriority ? "ingest-urgent" : "ingest-writer");
  LaneState& self = lane == Lane::kPriority ? priority_ : bulk_;
  const size_t max_batch = std::max<size_t>(1, lane == Lane::kPriority ? options_.max_priority_batch : options_.max_batch);
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      self.wake_writer.wait(lock, [&] { return !self.queue.empty() || stopping_; });
      if (self.queue.empty() && stopping_) return;
      // Take entities while they are distinct (and of one tenant), up to a transaction's worth.
      std::unordered_set<std::string> ids;
      const DevicePtr first = self.queue.front().device;  // keeps the tenant name alive
      while (!self.queue.empty() && batch.size() < max_batch && self.queue.front().device->tenant == first->tenant &&
             ids.insert(self.queue.front().entity.id).second) {
        batch.push_back(std::move(self.queue.front()));
        self.queue.pop_front();
      }
      if (lane == Lane::kBulk) {
        bulk_.committing_tenant = first->tenant;
        bulk_.committing = std::move(ids);
      } else {
        // An entity that just turned urgent may still be in the bulk transaction under way:
        // its earlier measures are written first.
        bulk_committed_.wait(lock, [&] { return !BulkCommitting(batch); });
      }
    }
    wake_producers_.notify_all();
    for (const auto& p : batch) Observe(lane, IngestStage::kQueued, p.queued_at);
    Commit(lane, batch);
    batch.clear();
    if (lane == Lane::kBulk) {
      {
        std::lock_guard lock(mutex_);
        bulk_.committing.clear();
      }
      bulk_committed_.notify_all();
    }
  }
}

void Ingestor::Observe(Lane lane, IngestStage stage, Clock::time_point since) const {
  if (options_.observe) options_.observe(lane, stage, std::chrono::duration<double>(Clock::now() - since).count());
}

void Ingestor::Commit(Lane lane, std::vector<Pending>& batch) {
  const Clock::time_point started = Clock::now();
  const std::string tenant = batch.front().device->tenant;
  std::vector<ngsild::Entity> entities;
  entities.reserve(batch.size());
  for (auto& p : batch) entities.push_back(std::move(p.entity));
  std::vector<const Device*> devices;
  devices.reserve(batch.size());
  for (const auto& p : batch) devices.push_back(p.device.get());
  const DeviceWriteAccess writes(registry_, devices);
  broker::BatchResult r = entities_.BatchUpsert(writes, tenant, std::move(entities), /*replace=*/false);
  std::unordered_map<std::string_view, const Status*> failed;
  for (const auto& e : r.errors) failed[e.entity_id] = &e.status;
  const int64_t now = util::NowMillis();
  const auto status_of = [&](const Pending& p) {
    auto f = failed.find(p.device->entity_name);
    return f == failed.end() ? Status::Ok() : *f->second;
  };
  uint64_t failures = 0;
  for (auto& p : batch) {
    const Status st = status_of(p);
    if (st.ok()) {
      p.device->status->measures.fetch_add(p.measures, std::memory_order_relaxed);
      p.device->status->last_measure_ms.store(now, std::memory_order_relaxed);
    } else {
      ++failures;
      NoteRejected(p.device.get(), st);
    }
  }
  Observe(lane, IngestStage::kCommit, started);
  {
    std::lock_guard lock(mutex_);  // counted before anyone waiting hears of it
    ++stats_.transactions;
    if (lane == Lane::kPriority) ++stats_.priority_transactions;
    stats_.write_failures += failures;
  }
  for (auto& p : batch) {
    if (p.done) p.done->set_value(status_of(p));
  }
}

}  // namespace cityhub::ingest
