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
  const json::value* registrations = o ? o->if_contains("registrations") : nullptr;
  const json::value* notify = o ? o->if_contains("notify") : nullptr;
  if (!notify || !notify->is_array()) return Status::Internal("unreadable outbox record");
  OutboxEntry out;
  out.sequence = sequence;
  if (registrations && registrations->is_array()) {
    const json::value* reason = o->if_contains("reason");
    if (!reason || !reason->is_string() || registrations->get_array().empty()) {
      return Status::Internal("unreadable outbox record");
    }
    for (const auto& r : registrations->get_array()) {
      if (!r.is_object()) return Status::Internal("unreadable registration in an outbox record");
      out.registrations.push_back(r.get_object());
    }
    out.reason = std::string(reason->get_string());
  } else {
    if (!doc || !doc->is_string()) return Status::Internal("unreadable outbox record");
    auto entity = ngsild::DeserializeEntity(doc->get_string());
    if (!entity.ok()) return Status::Internal("unreadable entity in an outbox record");
    out.entity = std::move(*entity);
  }
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

uint32_t OutboxPartitionOf(std::string_view subscription, uint32_t partitions) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : subscription) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return partitions > 1 ? h % partitions : 0;
}

Result<uint64_t> OutboxWriter::NextSequence(std::string_view tenant, store::TenantStore& ts) {
  if (ts.NumbersOutbox()) return 0;  // the store numbers it, in the write (store.h)
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
  const uint32_t partitions = ts.OutboxPartitions();
  auto batch = std::make_unique<OutboxBatch>();
  for (const auto& change : changes) {
    std::vector<SubscriptionMatch> matches = matcher_.Match(tenant, change, now);
    if (matches.empty()) continue;
    const ngsild::Entity* entity = change.after ? change.after : change.before;
    // The matches by partition: a record each.
    std::map<uint32_t, std::vector<const SubscriptionMatch*>> by_partition;
    for (const auto& m : matches) by_partition[OutboxPartitionOf(m.subscription->id(), partitions)].push_back(&m);
    std::optional<std::string> document;
    for (const auto& [partition, owed] : by_partition) {
      OutboxEntry entry;
      entry.at_ms = now;
      entry.deleted = change.after == nullptr;
      entry.partition = partition;
      if (!document) document = change.after ? DocumentOf(*entity, ws) : ngsild::SerializeEntity(*entity);
      json::object record;
      record["at"] = now;
      record["entity"] = *document;
      record["deleted"] = entry.deleted;
      json::array notify;
      bool show_changes = false;
      for (const SubscriptionMatch* m : owed) {
        notify.push_back(json::array{json::value(m->subscription->id()), json::value(m->trigger)});
        entry.subscriptions.push_back(m->subscription->id());
        const json::value* n = m->subscription->stored().if_contains("notification");
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
      ws.outbox.push_back({*sequence, util::SerializeJson(record), nullptr, partition});
      batch->entries.push_back(std::move(entry));
    }
  }
  if (batch->entries.empty()) return Status::Ok();
  // The entries stay where they are from here on: the store writes the numbers it gives there.
  const size_t first = ws.outbox.size() - batch->entries.size();
  for (size_t i = 0; i < batch->entries.size(); ++i) ws.outbox[first + i].assigned = &batch->entries[i].sequence;
  *pending = std::move(batch);
  return Status::Ok();
}

void OutboxWriter::Committed(std::string_view tenant, std::unique_ptr<PendingChanges> pending) {
  if (!on_committed_ || !pending) return;
  on_committed_(tenant, std::move(static_cast<OutboxBatch&>(*pending).entries));
}

Result<std::function<void()>> OutboxWriter::AddRegistrationChange(std::string_view tenant, store::TenantStore& ts,
                                                                  const json::object* before, const json::object* after,
                                                                  int64_t before_at_ms, store::WriteSet& ws) {
  if (!csource_ || csource_->Size(tenant) == 0) return std::function<void()>();
  const int64_t now = util::NowMillis();
  std::vector<OutboxEntry> entries;
  for (SubscriptionMatch& m : csource_->MatchRegistration(tenant, before, after, before_at_ms ? before_at_ms : now, now)) {
    auto same = [&](const OutboxEntry& e) { return e.reason == m.trigger; };
    auto entry = std::find_if(entries.begin(), entries.end(), same);
    if (entry == entries.end()) {
      entry = entries.emplace(entries.end());
      entry->at_ms = now;
      entry->deleted = after == nullptr;
      // A registration that stopped matching through an update is shown as it is now.
      entry->registrations.push_back(after ? *after : *before);
      entry->reason = m.trigger;
    }
    entry->subscriptions.push_back(m.subscription->id());
  }
  return AddRegistrationRecords(tenant, ts, std::move(entries), ws);
}

Result<std::function<void()>> OutboxWriter::AddFirstNotification(std::string_view tenant, store::TenantStore& ts,
                                                                 const CompiledSubscription& subscription,
                                                                 const std::vector<json::object>& registrations,
                                                                 store::WriteSet& ws) {
  const int64_t now = util::NowMillis();
  OutboxEntry entry;
  entry.at_ms = now;
  entry.reason = "newlyMatching";
  entry.subscriptions.push_back(subscription.id());
  for (const auto& r : registrations) {
    if (subscription.MatchesRegistration(r, now)) entry.registrations.push_back(r);
  }
  std::vector<OutboxEntry> entries;
  if (!entry.registrations.empty()) entries.push_back(std::move(entry));
  return AddRegistrationRecords(tenant, ts, std::move(entries), ws);
}

Result<std::function<void()>> OutboxWriter::AddRegistrationRecords(std::string_view tenant, store::TenantStore& ts,
                                                                   std::vector<OutboxEntry> records,
                                                                   store::WriteSet& ws) {
  // A record per delivery partition of its subscriptions. Shared with the hand-over, and never
  // moved before it: the store writes the numbers it gives into the entries.
  auto entries = std::make_shared<std::vector<OutboxEntry>>();
  const uint32_t partitions = ts.OutboxPartitions();
  for (OutboxEntry& record : records) {
    std::map<uint32_t, std::vector<std::string>> by_partition;
    for (auto& id : record.subscriptions) by_partition[OutboxPartitionOf(id, partitions)].push_back(std::move(id));
    for (auto& [partition, ids] : by_partition) {
      OutboxEntry& part = entries->emplace_back();
      part.at_ms = record.at_ms;
      part.deleted = record.deleted;
      part.registrations = record.registrations;
      part.reason = record.reason;
      part.partition = partition;
      part.subscriptions = std::move(ids);
    }
  }
  for (OutboxEntry& entry : *entries) {
    json::array notify;
    for (const auto& id : entry.subscriptions) notify.push_back(json::array{json::value(id), json::value(entry.reason)});
    json::array registrations;
    for (const auto& r : entry.registrations) registrations.push_back(r);
    json::object record{{"at", entry.at_ms}, {"registrations", std::move(registrations)}, {"reason", entry.reason},
                        {"notify", std::move(notify)}};
    auto sequence = NextSequence(tenant, ts);
    if (!sequence.ok()) return sequence.status();
    entry.sequence = *sequence;
    ws.outbox.push_back({*sequence, util::SerializeJson(record), &entry.sequence, entry.partition});
  }
  if (entries->empty() || !on_committed_) return std::function<void()>();
  return std::function<void()>([this, tenant = std::string(tenant), entries]() { on_committed_(tenant, std::move(*entries)); });
}

}  // namespace cityhub::broker
