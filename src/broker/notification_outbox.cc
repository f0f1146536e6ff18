// OutboxWriter implementation and the record layout.
#include "broker/notification_outbox.h"

#include <algorithm>

#include <boost/json.hpp>

#include "util/json.h"
#include "util/time.h"

namespace cityhub::broker {
namespace json = boost::json;

namespace {

// The records of one write, handed from AddTo to Committed.
struct OutboxBatch : PendingChanges {
  std::vector<OutboxEntry> entries;
};

// The stored document of `e`: the one the write already serialized when it puts `e` alone,
// else serialized here.
std::string DocumentOf(const ngsild::Entity& e, const store::WriteSet& ws) {
  if (ws.puts.size() == 1 && ws.puts.front().id == e.id) return ws.puts.front().document;
  return ngsild::SerializeEntity(e);
}

// True if `after` lacks an attribute instance (attribute, datasetId) that `before` had.
bool LostAttributes(const ngsild::Entity& before, const ngsild::Entity& after) {
  for (const auto& [name, instances] : before.attrs) {
    auto it = after.attrs.find(name);
    if (it == after.attrs.end()) return true;
    for (const auto& old : instances) {
      auto same = [&](const ngsild::Instance& i) { return ngsild::DatasetIdOf(i) == ngsild::DatasetIdOf(old); };
      if (std::none_of(it->second.begin(), it->second.end(), same)) return true;
    }
  }
  return false;
}

}  // namespace

Result<OutboxEntry> ParseOutboxRecord(uint64_t sequence, std::string_view value) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(value, ec);
  const json::object* o = !ec ? v.if_object() : nullptr;
  const json::value* doc = o ? o->if_contains("entity") : nullptr;
  const json::value* notify = o ? o->if_contains("notify") : nullptr;
  if (!doc || !doc->is_string() || !notify || !notify->is_array()) return Status::Internal("unreadable outbox record");
  auto entity = ngsild::DeserializeEntity(doc->get_string());
  if (!entity.ok()) return Status::Internal("unreadable entity in an outbox record");
  OutboxEntry out;
  out.sequence = sequence;
  out.entity = std::move(*entity);
  if (const json::value* at = o->if_contains("at"); at && at->is_int64()) out.at_ms = at->get_int64();
  const json::value* deleted = o->if_contains("deleted");
  out.deleted = deleted && deleted->is_bool() && deleted->get_bool();
  if (const json::value* prev = o->if_contains("previous"); prev && prev->is_string()) {
    auto p = ngsild::DeserializeEntity(prev->get_string());
    if (p.ok()) out.previous = std::move(*p);
  }
  for (const auto& pair : notify->get_array()) {
    const json::array* a = pair.if_array();
    if (a && !a->empty() && (*a)[0].is_string()) out.subscriptions.emplace_back((*a)[0].get_string());
  }
  return out;
}

Result<uint64_t> OutboxWriter::NextSequence(std::string_view tenant, store::TenantStore& ts) {
  std::lock_guard lock(mutex_);
  auto it = next_.find(tenant);
  if (it == next_.end()) {
    auto last = ts.LastOutboxSequence();
    if (!last.ok()) return last.status();
    it = next_.emplace(std::string(tenant), *last + 1).first;
  }
  return it->second++;
}

Status OutboxWriter::AddTo(std::string_view tenant, store::TenantStore& ts, const std::vector<EntityChange>& changes,
                           store::WriteSet& ws, std::unique_ptr<PendingChanges>* pending) {
  const int64_t now = util::NowMillis();
  auto batch = std::make_unique<OutboxBatch>();
  for (const auto& change : changes) {
    std::vector<SubscriptionMatch> matches = matcher_.Match(tenant, change, now);
    if (matches.empty()) continue;
    const ngsild::Entity* entity = change.after ? change.after : change.before;
    OutboxEntry entry;
    entry.at_ms = now;
    entry.deleted = change.after == nullptr;
    json::object record;
    record["at"] = now;
    record["entity"] = change.after ? DocumentOf(*entity, ws) : ngsild::SerializeEntity(*entity);
    record["deleted"] = entry.deleted;
    json::array notify;
    bool show_changes = false;
    for (const auto& m : matches) {
      notify.push_back(json::array{json::value(m.subscription->id()), json::value(m.trigger)});
      entry.subscriptions.push_back(m.subscription->id());
      const json::value* n = m.subscription->stored().if_contains("notification");
      const json::value* sc = n && n->is_object() ? n->get_object().if_contains("showChanges") : nullptr;
      show_changes = show_changes || (sc && *sc == true);
    }
    record["notify"] = std::move(notify);
    // The state before goes along for showChanges, and whenever attributes were deleted (the
    // notification names them as deleted).
    if (change.before && change.after && (show_changes || LostAttributes(*change.before, *change.after))) {
      record["previous"] = ngsild::SerializeEntity(*change.before);
      entry.previous = *change.before;
    }
    auto sequence = NextSequence(tenant, ts);
    if (!sequence.ok()) return sequence.status();
    entry.sequence = *sequence;
    entry.entity = *entity;
    ws.outbox.push_back({*sequence, util::SerializeJson(record)});
    batch->entries.push_back(std::move(entry));
  }
  if (!batch->entries.empty()) *pending = std::move(batch);
  return Status::Ok();
}

void OutboxWriter::Committed(std::string_view tenant, std::unique_ptr<PendingChanges> pending) {
  if (!on_committed_ || !pending) return;
  on_committed_(tenant, std::move(static_cast<OutboxBatch&>(*pending).entries));
}

}  // namespace cityhub::broker
