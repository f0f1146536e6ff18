// OutboxWriter implementation.
#include "broker/notification_outbox.h"

#include <boost/json.hpp>

#include "util/json.h"
#include "util/time.h"

namespace cityhub::broker {
namespace json = boost::json;

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
                           store::WriteSet& ws) {
  const int64_t now = util::NowMillis();
  for (const auto& change : changes) {
    std::vector<SubscriptionMatch> matches = matcher_.Match(tenant, change, now);
    if (matches.empty()) continue;
    json::object record;
    record["at"] = now;
    const ngsild::Entity* entity = change.after ? change.after : change.before;
    record["entity"] = ngsild::SerializeEntity(*entity);
    record["deleted"] = change.after == nullptr;
    json::array notify;
    bool show_changes = false;
    for (const auto& m : matches) {
      notify.push_back(json::array{json::value(m.subscription->id()), json::value(m.trigger)});
      const json::value* n = m.subscription->stored().if_contains("notification");
      const json::value* sc = n && n->is_object() ? n->get_object().if_contains("showChanges") : nullptr;
      show_changes = show_changes || (sc && *sc == true);
    }
    record["notify"] = std::move(notify);
    if (show_changes && change.before && change.after) record["previous"] = ngsild::SerializeEntity(*change.before);
    auto sequence = NextSequence(tenant, ts);
    if (!sequence.ok()) return sequence.status();
    ws.outbox.push_back({*sequence, util::SerializeJson(record)});
  }
  return Status::Ok();
}

}  // namespace cityhub::broker
