#include "services/warning/warning_service.h"

#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/thread_name.h"
#include "util/time.h"

namespace cityhub::services {
namespace json = boost::json;

namespace {

struct ReadingsPending : broker::PendingChanges {
  std::vector<Reading> readings;
};

const json::object* FirstInstance(const ngsild::Entity* e, const std::string& attr) {
  if (!e) return nullptr;
  auto it = e->attrs.find(attr);
  return it == e->attrs.end() || it->second.empty() ? nullptr : &it->second.front();
}

ngsild::Instance Property(json::value v, int64_t now) {
  return ngsild::Instance{{"type", "Property"}, {"value", std::move(v)}, {"createdAt", now}, {"modifiedAt", now}};
}

}  // namespace

WarningService::WarningService(broker::EntityService& entities, WarningRules rules)
    : entities_(entities), engine_(std::move(rules)) {}

WarningService::~WarningService() { Stop(); }

void WarningService::Start() {
  std::lock_guard lock(mutex_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { Run(); });
}

void WarningService::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

size_t WarningService::Pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + running_;
}

Status WarningService::AddTo(std::string_view tenant, store::TenantStore&, const std::vector<broker::EntityChange>& changes,
                             store::WriteSet&, std::unique_ptr<broker::PendingChanges>* pending) {
  std::unique_ptr<ReadingsPending> out;
  for (const auto& c : changes) {
    if (!c.after) continue;
    for (const auto& [attr, instances] : c.after->attrs) {
      if (instances.empty() || !engine_.Watches(c.after->types, attr)) continue;
      const json::object& now = instances.front();
      const json::value* value = now.if_contains("value");
      if (!value || !value->is_number()) continue;
      const json::object* before = FirstInstance(c.before, attr);
      if (before && *before == now) continue;  // unchanged
      Reading r;
      r.tenant = std::string(tenant);
      r.sensor = c.after->id;
      r.types = c.after->types;
      r.attribute = attr;
      r.value = value->to_number<double>();
      const json::value* observed = now.if_contains("observedAt");
      std::optional<int64_t> at = observed && observed->is_string() ? util::ParseDateTime(observed->get_string()) : std::nullopt;
      r.at_ms = at.value_or(c.after->modified_at);
      if (const json::object* where = FirstInstance(c.after, AlertVocabulary::kLocation)) {
        if (const json::value* g = where->if_contains("value")) r.location = *g;
      }
      if (!out) out = std::make_unique<ReadingsPending>();
      out->readings.push_back(std::move(r));
    }
  }
  if (out) *pending = std::move(out);
  return Status::Ok();
}

void WarningService::Committed(std::string_view, std::unique_ptr<broker::PendingChanges> pending) {
  auto* p = static_cast<ReadingsPending*>(pending.get());
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    for (auto& r : p->readings) queue_.push_back({std::move(r), now});
  }
  wake_.notify_one();
}

void WarningService::Run() {
  util::NameThisThread("warning");
  // The engine judges by the readings' clock (observedAt), per tenant. When no reading comes,
  // a tenant's clock is advanced by the wall-clock time elapsed since its newest reading — so a
  // replay or a simulation running ahead of (or behind) real time is not cleared early (or
  // late) by the wall clock.
  struct Clock {
    int64_t newest_ms = 0;   // the newest reading's time
    int64_t seen_at_ms = 0;  // when it was observed (wall clock)
  };
  std::map<std::string, Clock> clocks;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::deque<QueuedReading> batch;
    batch.swap(queue_);
    running_ = batch.size();
    lock.unlock();
    std::vector<AlertChange> changes;
    const int64_t now = util::NowMillis();
    for (const auto& [r, committed_at] : batch) {
      if (observe_) observe_("queued", std::chrono::duration<double>(std::chrono::steady_clock::now() - committed_at).count());
      if (r.at_ms > now + kMaxAheadMs) {  // a device clock far off: not evidence of anything
        if (ignored_future_++ % 1000 == 0) {
          spdlog::warn("warning: ignored a reading of sensor '{}' stamped {} (more than a day ahead; {} so far)",
                       r.sensor.substr(0, 200), util::FormatDateTime(r.at_ms), ignored_future_);
        }
        continue;
      }
      auto more = engine_.Observe(r);
      changes.insert(changes.end(), more.begin(), more.end());
      Clock& clock = clocks[r.tenant];
      if (r.at_ms > clock.newest_ms) clock = {r.at_ms, now};
    }
    if (batch.empty()) {
      for (const auto& [tenant, clock] : clocks) {
        auto more = engine_.Tick(tenant, clock.newest_ms + (now - clock.seen_at_ms));
        changes.insert(changes.end(), more.begin(), more.end());
      }
    }
    for (const auto& c : changes) Write(c);
    lock.lock();
    running_ = 0;
  }
}

void WarningService::Write(const AlertChange& c) {
  using V = AlertVocabulary;
  const int64_t now = util::NowMillis();
  const std::string when = util::FormatDateTime(c.at_ms > 0 ? c.at_ms : now);
  ngsild::Entity e;
  e.id = c.alert_id;
  e.types = {V::kType};
  e.created_at = e.modified_at = now;
  e.attrs[V::kCategory] = {Property("naturalDisaster", now)};
  e.attrs[V::kSubCategory] = {Property(json::value(c.sub_category), now)};
  e.attrs[V::kSeverity] = {Property(json::value(SeverityOf(c.stage)), now)};
  e.attrs[V::kStage] = {Property(json::value(StageName(c.stage)), now)};
  const std::string description =
      c.stage == Stage::kNone
          ? fmt::format("{} 경보 해제 (cleared): {}", c.sub_category == "earthquake" ? "지진" : "홍수", c.reason)
          : fmt::format("{} {} ({}): {}", c.sub_category == "earthquake" ? "지진" : "홍수", StageKoreanName(c.stage),
                        StageName(c.stage), c.reason);
  e.attrs[V::kDescription] = {Property(json::value(description), now)};
  if (!c.sources.empty()) {
    std::string sources;
    for (const auto& s : c.sources) sources += (sources.empty() ? "" : ", ") + s;
    e.attrs[V::kAlertSource] = {Property(json::value(sources), now)};
  }
  if (c.previous == Stage::kNone && c.stage != Stage::kNone) {  // raised
    e.attrs[V::kDateIssued] = {Property(json::value(when), now)};
    e.attrs[V::kValidFrom] = {Property(json::value(when), now)};
  }
  if (c.stage == Stage::kNone) e.attrs[V::kValidTo] = {Property(json::value(when), now)};
  if (c.location.is_object()) {
    e.attrs[V::kLocation] = {ngsild::Instance{{"type", "GeoProperty"}, {"value", c.location}, {"createdAt", now}, {"modifiedAt", now}}};
  }
  const auto started = std::chrono::steady_clock::now();
  broker::BatchResult r = entities_.BatchUpsert(writes_, c.tenant, {std::move(e)}, /*replace=*/false);
  if (observe_) observe_("alert_write", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!r.errors.empty()) {
    spdlog::error("warning: cannot write alert '{}': {}", c.alert_id, r.errors.front().status.message());
    return;
  }
  spdlog::warn("early warning: {} {} ({}), tenant '{}'", c.alert_id, StageName(c.stage), SeverityOf(c.stage),
               c.tenant.empty() ? "default" : c.tenant);
}

}  // namespace cityhub::services
