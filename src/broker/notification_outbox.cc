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
                                                                   std::vector<OutboxEntry> entries,
                                                                   store::WriteSet& ws) {
  for (OutboxEntry& entry : entries) {
    json::array notify;
    for (const auto& id : entry.subscriptions) notify.push_back(json::array{json::value(id), json::value(entry.reason)});
    json::array registrations;
    for (const auto& r : entry.registrations) registrations.push_back(r);
    json::object record{{"at", entry.at_ms}, {"registrations", std::move(registrations)}, {"reason", entry.reason},
                        {"notify", std::move(notify)}};
    auto sequence = NextSequence(tenant, ts);
    if (!sequence.ok()) return sequence.status();
    entry.sequence = *sequence;
    ws.outbox.push_back({*sequence, util::SerializeJson(record)});
  }
  if (entries.empty() || !on_committed_) return std::function<void()>();
  return std::function<void()>([this, tenant = std::string(tenant), entries = std::move(entries)]() mutable {
    on_committed_(tenant, std::move(entries));
  });
}

}  // namespace cityhub::broker
