#include "broker/history_recorder.h"

#include <map>
#include <utility>

#include <boost/json.hpp>

#include "util/json.h"
#include "util/time.h"
#include "store/meta_keys.h"

namespace cityhub::broker {
namespace json = boost::json;

namespace {

// The instance of `attr` with the datasetId of `like` in `e` (null: none, or no entity).
const ngsild::Instance* SameInstance(const ngsild::Entity* e, const std::string& attr, const ngsild::Instance& like) {
  if (!e) return nullptr;
  auto it = e->attrs.find(attr);
  if (it == e->attrs.end()) return nullptr;
  const std::string_view dataset_id = ngsild::DatasetIdOf(like);
  for (const auto& inst : it->second) {
    if (ngsild::DatasetIdOf(inst) == dataset_id) return &inst;
  }
  return nullptr;
}

}  // namespace

std::string EncodeHistoryHeader(const HistoryHeader& h) {
  json::object o;
  json::array t;
  for (const auto& type : h.types) t.emplace_back(type);
  o["types"] = std::move(t);
  if (!h.scope.is_null()) o["scope"] = h.scope;
  if (h.deleted_ms) o["deletedAt"] = *h.deleted_ms;
  return util::SerializeJson(o);
}

Result<HistoryHeader> DecodeHistoryHeader(std::string_view text) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(text, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const json::value* types = o ? o->if_contains("types") : nullptr;
  if (!types || !types->is_array()) return Status::Internal("unreadable history header");
  HistoryHeader h;
  for (const auto& t : types->get_array()) {
    if (t.is_string()) h.types.emplace_back(t.get_string());
  }
  if (const json::value* d = o->if_contains("deletedAt"); d && d->is_int64()) h.deleted_ms = d->get_int64();
  if (const json::value* s = o->if_contains("scope")) h.scope = *s;
  return h;
}

void HistoryAppends::Add(const std::string& attr, const HistoryInstance& h) {
  const int64_t block = HistoryBlockOf(h.TimeMs());
  EncodeHistoryInstance(h, block, &blocks_[{attr, block}]);
}

void HistoryAppends::MoveTo(std::string_view id, store::WriteSet* ws) {
  for (auto& [key, bytes] : blocks_) {
    ws->history.push_back(store::HistoryAppend{std::string(id), key.first, key.second, std::move(bytes)});
  }
  blocks_.clear();
}

HistoryInstance ToHistoryInstance(const ngsild::Instance& inst, int64_t stamp_us) {
  HistoryInstance h;
  h.stamp_us = stamp_us;
  h.modified_us = stamp_us;
  for (const auto& [key, val] : inst) {
    if (key == "observedAt") {
      if (val.is_string()) h.observed_ms = util::ParseDateTime(val.get_string(), &h.observed_fraction);
    } else if (key != "createdAt" && key != "modifiedAt") {
      h.instance[key] = val;
    }
  }
  return h;
}

HistoryInstance DeletionInstance(const ngsild::Instance& removed, int64_t deleted_ms, int64_t stamp_us) {
  HistoryInstance h;
  h.stamp_us = stamp_us;
  h.modified_us = stamp_us;
  h.deleted_ms = deleted_ms;
  const ngsild::AttrType type = ngsild::AttrTypeOf(removed);
  h.instance["type"] = ngsild::AttrTypeName(type);
  constexpr std::string_view kNull = "urn:ngsi-ld:null";
  if (type == ngsild::AttrType::kLanguageProperty) {
    h.instance["languageMap"] = json::object{{"@none", kNull}};
  } else if (type == ngsild::AttrType::kListProperty || type == ngsild::AttrType::kListRelationship) {
    h.instance[ngsild::AttrValueMember(type)] = json::array{json::value(kNull)};
  } else {
    h.instance[ngsild::AttrValueMember(type)] = kNull;
  }
  const std::string_view dataset = ngsild::DatasetIdOf(removed);
  if (!dataset.empty()) h.instance["datasetId"] = dataset;
  return h;
}

Status HistoryRecorder::Prepare(store::Store& store) const {
  for (const auto& tenant : store.ListTenants()) {
    auto ts = store.Tenant(tenant, false);
    if (!ts.ok()) return ts.status();
    if (!enabled_) {
      CITYHUB_RETURN_IF_ERROR((*ts)->DeleteMeta(store::meta::kHistoryHeadersDone));
      continue;
    }
    auto done = (*ts)->GetMeta(store::meta::kHistoryHeadersDone);
    if (done.ok()) continue;
    if (!done.status().IsNotFound()) return done.status();
    store::WriteSet ws;
    Status failure = Status::Ok();
    auto flush = [&]() -> Status {
      if (ws.history_entities.empty()) return Status::Ok();
      Status st = (*ts)->Write(ws);
      ws.history_entities.clear();
      return st;
    };
    CITYHUB_RETURN_IF_ERROR((*ts)->Scan({}, [&](const store::EntityRecord& rec) {
      auto header = (*ts)->GetHistoryEntity(rec.id);
      if (header.ok()) return true;
      if (!header.status().IsNotFound()) {
        failure = header.status();
        return false;
      }
      auto e = ngsild::DeserializeEntity(rec.document);
      if (!e.ok()) {
        failure = e.status();
        return false;
      }
      ws.history_entities.push_back({rec.id, EncodeHistoryHeader(HistoryHeader{e->types, e->scope, std::nullopt})});
      if (ws.history_entities.size() >= 1000) failure = flush();
      return failure.ok();
    }));
    CITYHUB_RETURN_IF_ERROR(failure);
    CITYHUB_RETURN_IF_ERROR(flush());
    CITYHUB_RETURN_IF_ERROR((*ts)->PutMeta(store::meta::kHistoryHeadersDone, "1"));
  }
  return Status::Ok();
}

Status HistoryRecorder::AddTo(std::string_view, store::TenantStore&, const std::vector<EntityChange>& changes,
                              store::WriteSet& ws, std::unique_ptr<PendingChanges>*) {
  for (const EntityChange& change : changes) {
    const ngsild::Entity* e = change.after ? change.after : change.before;
    if (!e) continue;
    const int64_t now_ms = change.after ? change.after->modified_at : util::NowMillis();
    HistoryAppends appends;
    if (change.after) {
      for (const auto& [attr, instances] : change.after->attrs) {
        for (const auto& inst : instances) {
          const ngsild::Instance* prev = SameInstance(change.before, attr, inst);
          if (prev && *prev == inst) continue;
          appends.Add(attr, ToHistoryInstance(inst, NextHistoryStamp()));
        }
      }
    }
    if (change.before) {
      for (const auto& [attr, instances] : change.before->attrs) {
        for (const auto& inst : instances) {
          if (SameInstance(change.after, attr, inst)) continue;
          appends.Add(attr, DeletionInstance(inst, now_ms, NextHistoryStamp()));
        }
      }
    }
    appends.MoveTo(e->id, &ws);
    if (!change.after || !change.before || change.before->types != change.after->types ||
        change.before->scope != change.after->scope) {
      HistoryHeader h{e->types, e->scope, std::nullopt};
      if (!change.after) h.deleted_ms = now_ms;
      ws.history_entities.push_back({e->id, EncodeHistoryHeader(h)});
    }
  }
  return Status::Ok();
}

}  // namespace cityhub::broker
