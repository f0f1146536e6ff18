#include "broker/temporal_service.h"

#include <algorithm>
#include <deque>
#include <limits>

#include <boost/json.hpp>
#include <re2/re2.h>
#include <fmt/format.h>

#include "broker/history_recorder.h"
#include "broker/tenancy.h"
#include "util/time.h"

namespace cityhub::broker {

namespace {

constexpr int64_t kMinBlock = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxBlock = std::numeric_limits<int64_t>::max();

template <typename T>
std::optional<int64_t> TimeOfAny(const T& h, TimeProperty p) {
  switch (p) {
    case TimeProperty::kObservedAt: return h.observed_ms;
    case TimeProperty::kCreatedAt: return h.stamp_us / 1000;
    case TimeProperty::kModifiedAt: return h.modified_us / 1000;
    case TimeProperty::kDeletedAt: return h.deleted_ms;
  }
  return std::nullopt;
}

// Blocks partition observedAt and deletedAt time, not createdAt or modifiedAt.
bool ByBlock(const TemporalQuery& q) {
  return q.timeproperty == TimeProperty::kObservedAt || q.timeproperty == TimeProperty::kDeletedAt;
}

}  // namespace

std::optional<int64_t> TemporalQuery::TimeOf(const HistoryInstance& h) const { return TimeOfAny(h, timeproperty); }
std::optional<int64_t> TemporalQuery::TimeOf(const InstanceView& v) const { return TimeOfAny(v, timeproperty); }

bool TemporalQuery::InRange(int64_t t) const {
  switch (timerel) {
    case TimeRel::kAny: return true;
    case TimeRel::kBefore: return t < time_at_ms;
    case TimeRel::kAfter: return t >= time_at_ms;
    case TimeRel::kBetween: return t >= time_at_ms && t < end_time_at_ms;
  }
  return false;
}

bool TemporalQuery::Selects(const InstanceView& v) const {
  if (!dataset_ids) return true;
  // The datasetId is among the members the record keeps as JSON text (all of them for kJson).
  const std::string_view text = v.kind == InstanceView::Kind::kJson ? v.text : v.extras;
  std::string dataset;
  if (text.find("\"datasetId\"") != std::string_view::npos) {
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(text, ec);
    if (!ec && parsed.is_object()) dataset = std::string(ngsild::DatasetIdOf(parsed.get_object()));
  }
  return dataset_ids->count(dataset) > 0;
}

std::pair<int64_t, int64_t> TemporalService::BlockRange(const TemporalQuery& q) {
  int64_t first = kMinBlock, last = kMaxBlock;
  if (ByBlock(q)) {
    if (q.timerel == TimeRel::kAfter || q.timerel == TimeRel::kBetween) first = HistoryBlockOf(q.time_at_ms);
    if (q.timerel == TimeRel::kBefore) last = HistoryBlockOf(q.time_at_ms - 1);
    if (q.timerel == TimeRel::kBetween) last = HistoryBlockOf(q.end_time_at_ms - 1);
  }
  if (q.retention_cutoff_ms != std::numeric_limits<int64_t>::min()) {
    first = std::max(first, HistoryBlockOf(q.retention_cutoff_ms));
  }
  return {first, last};
}

Result<TemporalAttribute> TemporalService::ReadAttribute(store::TenantStore& ts, std::string_view id,
                                                         const std::string& attr, const TemporalQuery& q) {
  // Blocks partition observedAt (and deletedAt) time: only those of the range are read, and a
  // scan may stop once it holds enough instances from whole blocks.
  const bool by_block = ByBlock(q);
  const auto [first, last] = BlockRange(q);
  const size_t wanted = std::min(q.last_n.value_or(std::numeric_limits<size_t>::max()), q.max_instances);
  const bool backwards = by_block && q.last_n.has_value();

  struct Hit {
    int64_t time;
    InstanceView view;
  };
  std::deque<std::string> held;  // the blocks hits point into
  std::vector<Hit> hits;
  Status decode_error = Status::Ok();
  CITYHUB_RETURN_IF_ERROR(ts.ScanHistory(id, attr, first, last, backwards, [&](int64_t block, std::string_view bytes) {
    const std::string& kept = held.emplace_back(bytes);
    const size_t before = hits.size();
    decode_error = ForEachHistoryRecord(kept, block, [&](const InstanceView& v) {
      if (v.TimeMs() < q.retention_cutoff_ms) return true;  // past its retention
      if (!q.Selects(v)) return true;
      std::optional<int64_t> t = q.TimeOf(v);
      if (!t && q.timerel == TimeRel::kAny) t = v.TimeMs();  // no time asked: every instance
      if (t && q.InRange(*t)) hits.push_back(Hit{*t, v});
      return true;
    });
    if (!decode_error.ok()) return false;
    if (hits.size() == before) held.pop_back();
    // Whole blocks read: stop once more than wanted are held (one more tells truncation).
    return !(by_block && hits.size() > wanted);
  }));
  CITYHUB_RETURN_IF_ERROR(decode_error);
  std::stable_sort(hits.begin(), hits.end(), [](const Hit& a, const Hit& b) {
    return a.time != b.time ? a.time < b.time : a.view.stamp_us < b.view.stamp_us;
  });

  TemporalAttribute out;
  out.name = attr;
  size_t begin = 0, end = hits.size();
  if (q.last_n && end - begin > *q.last_n) begin = end - *q.last_n;  // the last N, still ascending
  if (end - begin > q.max_instances) {
    out.truncated = true;
    if (q.last_n) {
      // Paging backwards: the newest first, without splitting the instances of one time.
      const size_t cut = end - q.max_instances;
      size_t b = cut;
      while (b < end && hits[b].time == hits[cut - 1].time) ++b;
      begin = b < end ? b : cut;
    } else {
      // Paging forwards: the oldest first, likewise.
      const size_t cut = begin + q.max_instances;
      size_t e = cut;
      while (e > begin && hits[e - 1].time == hits[cut].time) --e;
      end = e > begin ? e : cut;
    }
  }
  out.instances.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    auto h = hits[i].view.Materialize();
    if (!h.ok()) return h.status();
    out.instances.push_back(std::move(*h));
  }
  return out;
}

TemporalQuery TemporalService::WithRetention(const TemporalQuery& q, std::string_view tenant,
                                             const std::vector<std::string>& types) const {
  TemporalQuery out = q;
  if (retention_) {
    if (auto cutoff = retention_->CutoffMs(tenant, types, util::NowMillis())) out.retention_cutoff_ms = *cutoff;
  }
  return out;
}

Result<TemporalEntity> TemporalService::ReadEntity(store::TenantStore& ts, std::string_view tenant, std::string_view id,
                                                   const std::string& header, const TemporalQuery& query) {
  auto h = DecodeHistoryHeader(header);
  if (!h.ok()) return h.status();
  const TemporalQuery q = WithRetention(query, tenant, h->types);
  TemporalEntity e;
  e.id = std::string(id);
  e.types = std::move(h->types);
  e.scope = std::move(h->scope);
  e.deleted_ms = h->deleted_ms;
  if (q.view && !q.view->Visible(id, e.types, "")) {
    return Status::PermissionDenied(fmt::format("the history of entity '{}' may not be read", id));
  }
  auto attrs = ts.HistoryAttributes(id);
  if (!attrs.ok()) return attrs.status();
  for (const auto& attr : *attrs) {
    if (q.attrs && !q.attrs->count(attr)) continue;
    const auto shown = q.view ? q.view->AttributeShown(id, e.types, "", attr) : EntityView::Shown::kClear;
    if (shown == EntityView::Shown::kHidden) continue;
    auto a = ReadAttribute(ts, id, attr, q);
    if (!a.ok()) return a.status();
    if (shown == EntityView::Shown::kPseudonym) {
      bool kept = true;
      for (auto& h : a->instances) kept = kept && q.view->Pseudonymise(h.instance);
      if (!kept) continue;
    }
    if (!a->instances.empty()) e.attributes.push_back(std::move(*a));
  }
  return e;
}

namespace {

// An entity standing for a history in a write decision: its id, types and (named) attributes.
ngsild::Entity HistoryStandIn(std::string_view id, std::vector<std::string> types, const std::vector<std::string>& attrs) {
  ngsild::Entity e;
  e.id = std::string(id);
  e.types = std::move(types);
  for (const auto& a : attrs) e.attrs[a];
  return e;
}

}  // namespace

Result<bool> TemporalService::Append(const WriteAccess& w, std::string_view tenant, std::string_view id,
                                     const std::vector<std::string>& types,
                                     const std::vector<TemporalAppend>& instances, bool create,
                                     const boost::json::value& scope) {
  auto ts = OpenTenant(store_, tenant, create);
  if (!ts.ok()) return ts.status();
  store::WriteSet ws;
  HistoryAppends appends;
  for (const auto& item : instances) appends.Add(item.attr, ToHistoryInstance(item.instance, NextHistoryStamp()));
  appends.MoveTo(id, &ws);
  std::lock_guard lock(header_mutex_);
  auto header = (*ts)->GetHistoryEntity(id);
  if (!header.ok() && !header.status().IsNotFound()) return header.status();
  const bool created = !header.ok();
  if (created && !create) return Status::NotFound(fmt::format("entity '{}' has no history", id));
  HistoryHeader h;
  if (!created) {
    auto decoded = DecodeHistoryHeader(*header);
    if (!decoded.ok()) return decoded.status();
    h = std::move(*decoded);
  }
  if (!w.Unrestricted()) {
    std::vector<std::string> named;
    for (const auto& item : instances) {
      if (std::find(named.begin(), named.end(), item.attr) == named.end()) named.push_back(item.attr);
    }
    std::optional<ngsild::Entity> before;
    if (!created) {
      before = HistoryStandIn(id, h.types, {});
    } else if (auto current = (*ts)->Get(id); current.ok()) {
      auto e = ngsild::DeserializeEntity(current->document);
      if (!e.ok()) return e.status();
      before = HistoryStandIn(id, std::move(e->types), {});
      before->owner = std::move(e->owner);
    } else if (!current.status().IsNotFound()) {
      return current.status();
    }
    ngsild::Entity after = HistoryStandIn(id, before ? before->types : std::vector<std::string>{}, named);
    after.AddTypes(types);
    if (before) after.owner = before->owner;
    CITYHUB_RETURN_IF_ERROR(AuthorizeWrite(w, tenant, before ? &*before : nullptr, &after, named));
  }
  bool changed = created;
  if (!scope.is_null() && scope != h.scope) {
    h.scope = scope;
    changed = true;
  }
  for (const auto& t : types) {
    if (std::find(h.types.begin(), h.types.end(), t) == h.types.end()) {
      h.types.push_back(t);
      changed = true;
    }
  }
  if (changed) ws.history_entities.push_back({std::string(id), EncodeHistoryHeader(h)});
  CITYHUB_RETURN_IF_ERROR((*ts)->Write(ws));
  return created;
}

Result<TemporalService::History> TemporalService::HistoryOf(std::string_view tenant, std::string_view id,
                                                             const std::string* attr, const WriteAccess* w) {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  auto header = (*ts)->GetHistoryEntity(id);
  if (!header.ok()) {
    return header.status().IsNotFound() ? Status::NotFound(fmt::format("entity '{}' has no history", id))
                                        : header.status();
  }
  if (w && !w->Unrestricted()) {
    auto decoded = DecodeHistoryHeader(*header);
    if (!decoded.ok()) return decoded.status();
    const ngsild::Entity stored = HistoryStandIn(id, std::move(decoded->types), {});
    CITYHUB_RETURN_IF_ERROR(attr ? AuthorizeWrite(*w, tenant, &stored, &stored, {*attr})
                                 : AuthorizeWrite(*w, tenant, &stored, nullptr, {}));
  }
  if (attr) {
    auto attrs = (*ts)->HistoryAttributes(id);
    if (!attrs.ok()) return attrs.status();
    if (std::find(attrs->begin(), attrs->end(), *attr) == attrs->end()) {
      return Status::NotFound(fmt::format("entity '{}' has no history of attribute '{}'", id, *attr));
    }
  }
  return History{*ts, std::move(*header)};
}

Status TemporalService::Delete(const WriteAccess& w, std::string_view tenant, std::string_view id) {
  std::lock_guard lock(header_mutex_);
  auto h = HistoryOf(tenant, id, nullptr, &w);
  if (!h.ok()) return h.status();
  return h->ts->DeleteHistory(id, "", std::numeric_limits<int64_t>::max());
}

Status TemporalService::DeleteAttribute(const WriteAccess& w, std::string_view tenant, std::string_view id,
                                        const std::string& attr, std::string_view dataset_id, bool all) {
  auto h = HistoryOf(tenant, id, &attr, &w);
  if (!h.ok()) return h.status();
  store::TenantStore& ts = *h->ts;
  if (all) return ts.DeleteHistory(id, attr, std::numeric_limits<int64_t>::max());
  // Only one dataset's instances: retractions, unless that is every instance.
  store::WriteSet ws;
  bool others = false;
  Status decode_error = Status::Ok();
  CITYHUB_RETURN_IF_ERROR(ts.ScanHistory(id, attr, kMinBlock, kMaxBlock, false, [&](int64_t block, std::string_view bytes) {
    std::string retractions;
    decode_error = ForEachHistoryRecord(bytes, block, [&](const InstanceView& v) {
      auto h = v.Materialize();
      if (!h.ok()) {
        decode_error = h.status();
        return false;
      }
      if (ngsild::DatasetIdOf(h->instance) == dataset_id) {
        EncodeRetraction(v.stamp_us, block, &retractions);
      } else {
        others = true;
      }
      return true;
    });
    if (!retractions.empty()) ws.history.push_back({std::string(id), attr, block, std::move(retractions)});
    return decode_error.ok();
  }));
  CITYHUB_RETURN_IF_ERROR(decode_error);
  if (ws.history.empty()) {
    return Status::NotFound(fmt::format("entity '{}' has no instance of attribute '{}' with {}", id, attr,
                                        dataset_id.empty() ? std::string("the default datasetId")
                                                           : fmt::format("datasetId '{}'", dataset_id)));
  }
  if (!others) return ts.DeleteHistory(id, attr, std::numeric_limits<int64_t>::max());
  return ts.Write(ws);
}

Result<std::pair<int64_t, HistoryInstance>> TemporalService::FindInstance(store::TenantStore& ts, std::string_view id,
                                                                          const std::string& attr, int64_t stamp_us) {
  std::optional<std::pair<int64_t, HistoryInstance>> found;
  Status failure = Status::Ok();
  CITYHUB_RETURN_IF_ERROR(ts.ScanHistory(id, attr, kMinBlock, kMaxBlock, false, [&](int64_t block, std::string_view bytes) {
    failure = ForEachHistoryRecord(bytes, block, [&](const InstanceView& v) {
      if (v.stamp_us != stamp_us) return true;
      auto h = v.Materialize();
      if (!h.ok()) {
        failure = h.status();
        return false;
      }
      found.emplace(block, std::move(*h));
      return false;
    });
    return failure.ok() && !found;
  }));
  CITYHUB_RETURN_IF_ERROR(failure);
  if (!found) {
    return Status::NotFound(fmt::format("attribute '{}' of entity '{}' has no instance '{}'", attr, id, InstanceIdOf(stamp_us)));
  }
  return std::move(*found);
}

Status TemporalService::ModifyInstance(const WriteAccess& w, std::string_view tenant, std::string_view id,
                                       const std::string& attr, int64_t stamp_us, const ngsild::Instance& replacement) {
  auto h = HistoryOf(tenant, id, &attr, &w);
  if (!h.ok()) return h.status();
  store::TenantStore& ts = *h->ts;
  auto found = FindInstance(ts, id, attr, stamp_us);
  if (!found.ok()) return found.status();
  const auto& [old_block, old] = *found;
  HistoryInstance next = ToHistoryInstance(replacement, stamp_us);
  if (!next.observed_ms) {
    next.observed_ms = old.observed_ms;
    next.observed_fraction = old.observed_fraction;
  }
  next.deleted_ms = old.deleted_ms;
  next.modified_us = std::max(NextHistoryStamp(), stamp_us);
  // One write: the retraction where it was and the new version where its time files it.
  store::WriteSet ws;
  std::string retraction;
  EncodeRetraction(stamp_us, old_block, &retraction);
  ws.history.push_back({std::string(id), attr, old_block, std::move(retraction)});
  const int64_t block = HistoryBlockOf(next.TimeMs());
  std::string record;
  EncodeHistoryInstance(next, block, &record);
  ws.history.push_back({std::string(id), attr, block, std::move(record)});
  return ts.Write(ws);
}

Status TemporalService::DeleteInstance(const WriteAccess& w, std::string_view tenant, std::string_view id,
                                       const std::string& attr, int64_t stamp_us) {
  auto h = HistoryOf(tenant, id, &attr, &w);
  if (!h.ok()) return h.status();
  store::TenantStore& ts = *h->ts;
  auto found = FindInstance(ts, id, attr, stamp_us);
  if (!found.ok()) return found.status();
  store::WriteSet ws;
  std::string retraction;
  EncodeRetraction(stamp_us, found->first, &retraction);
  ws.history.push_back({std::string(id), attr, found->first, std::move(retraction)});
  return ts.Write(ws);
}

Result<TemporalEntity> TemporalService::Retrieve(std::string_view tenant, std::string_view id, const TemporalQuery& q) {
  auto h = HistoryOf(tenant, id, nullptr);
  if (!h.ok()) return h.status();
  return ReadEntity(*h->ts, tenant, id, h->header, q);
}

Status TemporalService::Select(store::TenantStore& ts, const TemporalSelection& sel, const EntityView* view,
                               const std::function<bool(std::string_view, const std::string&)>& visit) {
  std::optional<RE2> pattern;
  if (!sel.id_pattern.empty()) {
    pattern.emplace(sel.id_pattern, RE2::Quiet);
    if (!pattern->ok()) {
      return Status::BadRequestData(fmt::format("idPattern is not a valid regular expression: {}", pattern->error()));
    }
  }
  Status failure = Status::Ok();
  CITYHUB_RETURN_IF_ERROR(ts.ScanHistoryEntities([&](std::string_view id, std::string_view header) {
    if (!sel.ids.empty() && std::find(sel.ids.begin(), sel.ids.end(), id) == sel.ids.end()) return true;
    if (pattern && !RE2::PartialMatch(id, *pattern)) return true;
    if (!sel.types.empty() || view) {
      auto h = DecodeHistoryHeader(header);
      if (!h.ok()) {
        failure = h.status();
        return false;
      }
      if (!sel.types.empty() && std::none_of(h->types.begin(), h->types.end(), [&](const std::string& t) {
            return std::find(sel.types.begin(), sel.types.end(), t) != sel.types.end();
          })) {
        return true;
      }
      if (sel.type_selection && !sel.type_selection->Matches(h->types)) return true;
      if (view && !view->Visible(id, h->types, "")) return true;  // neither listed nor counted
    }
    return visit(id, std::string(header));
  }));
  return failure;
}

namespace {

// Runs `read` on each selected entity of the tenant, keeping those with attributes, paged.
template <typename Entity, typename Read>
Result<std::vector<Entity>> Paged(store::Store& store, std::string_view tenant, size_t offset, size_t limit,
                                  size_t* total, const std::function<Status(store::TenantStore&, const std::function<bool(std::string_view, const std::string&)>&)>& select,
                                  Read&& read) {
  std::vector<Entity> out;
  size_t matched = 0;
  auto ts = OpenTenant(store, tenant, false);
  if (!ts.ok()) return ts.status();  // NotFound for an unknown tenant, as entity queries answer
  Status failure = Status::Ok();
  CITYHUB_RETURN_IF_ERROR(select(**ts, [&](std::string_view id, const std::string& header) {
    Result<Entity> e = read(**ts, id, header);
    if (!e.ok()) {
      failure = e.status();
      return false;
    }
    if (e->attributes.empty()) return true;  // nothing in the range
    if (matched++ >= offset && out.size() < limit) out.push_back(std::move(*e));
    return true;
  }));
  CITYHUB_RETURN_IF_ERROR(failure);
  if (total) *total = matched;
  return out;
}

}  // namespace

bool TemporalService::Passes(const TemporalSelection& sel, const TemporalEntity& e) {
  if (!sel.q && !sel.geo && !sel.scope) return true;
  ngsild::Entity as_of_range;
  as_of_range.id = e.id;
  as_of_range.types = e.types;
  as_of_range.scope = e.scope;
  for (const auto& a : e.attributes) {
    ngsild::Instances& instances = as_of_range.attrs[a.name];
    for (const auto& h : a.instances) {
      if (h.deleted_ms) continue;  // a deletion holds no value
      ngsild::Instance inst = h.instance;
      if (h.observed_ms) inst["observedAt"] = util::FormatDateTime(*h.observed_ms, h.observed_fraction);
      instances.push_back(std::move(inst));
    }
  }
  return (!sel.q || sel.q->Matches(as_of_range)) && (!sel.geo || sel.geo->Matches(as_of_range)) &&
         (!sel.scope || sel.scope->Matches(as_of_range));
}

Result<std::vector<TemporalEntity>> TemporalService::Query(std::string_view tenant, const TemporalSelection& sel,
                                                           const TemporalQuery& q, size_t offset, size_t limit,
                                                           size_t* total) {
  // The filters look at every attribute the entity has in the range; the answer then keeps
  // only those asked for.
  TemporalQuery read = q;
  if (sel.q || sel.geo) read.attrs = nullptr;
  return Paged<TemporalEntity>(
      store_, tenant, offset, limit, total,
      [&](store::TenantStore& ts, const auto& visit) { return Select(ts, sel, q.view, visit); },
      [&](store::TenantStore& ts, std::string_view id, const std::string& header) -> Result<TemporalEntity> {
        auto e = ReadEntity(ts, tenant, id, header, read);
        if (!e.ok()) return e;
        if (!Passes(sel, *e)) {
          e->attributes.clear();  // not selected
          return e;
        }
        if (q.attrs && read.attrs != q.attrs) {
          std::erase_if(e->attributes, [&](const TemporalAttribute& a) { return !q.attrs->count(a.name); });
        }
        return e;
      });
}

Result<std::vector<AggregatedEntity>> TemporalService::QueryAggregated(std::string_view tenant,
                                                                       const TemporalSelection& sel,
                                                                       const TemporalQuery& q,
                                                                       const AggregationRequest& a, size_t offset,
                                                                       size_t limit, size_t* total) {
  return Paged<AggregatedEntity>(
      store_, tenant, offset, limit, total,
      [&](store::TenantStore& ts, const auto& visit) { return Select(ts, sel, q.view, visit); },
      [&](store::TenantStore& ts, std::string_view id, const std::string& header) -> Result<AggregatedEntity> {
        if (sel.q || sel.geo || sel.scope) {  // the filters need the instances themselves
          TemporalQuery read = q;
          read.attrs = nullptr;
          auto e = ReadEntity(ts, tenant, id, header, read);
          if (!e.ok()) return e.status();
          if (!Passes(sel, *e)) return AggregatedEntity{};
        }
        return AggregateEntity(ts, tenant, id, header, q, a);
      });
}

Result<std::optional<AggregatedAttribute>> TemporalService::AggregateAttribute(store::TenantStore& ts,
                                                                               std::string_view id,
                                                                               const std::string& attr,
                                                                               const TemporalQuery& q,
                                                                               const AggregationRequest& a) {
  const auto [first, last] = BlockRange(q);
  auto time_of = [&q](const InstanceView& v) -> std::optional<int64_t> {
    if (v.TimeMs() < q.retention_cutoff_ms) return std::nullopt;  // past its retention
    if (!q.Selects(v)) return std::nullopt;
    std::optional<int64_t> t = q.TimeOf(v);
    if (!t && q.timerel == TimeRel::kAny) t = v.TimeMs();
    if (t && !q.InRange(*t)) t.reset();
    return t;
  };
  // Periods start at timeAt, else at the oldest instance in the range (a first pass finds it;
  // by blocks, the first block holding one has it).
  std::optional<int64_t> origin;
  if (q.timerel == TimeRel::kAfter || q.timerel == TimeRel::kBetween) origin = q.time_at_ms;
  Status decode_error = Status::Ok();
  if (!origin) {
    CITYHUB_RETURN_IF_ERROR(ts.ScanHistory(id, attr, first, last, false, [&](int64_t block, std::string_view bytes) {
      decode_error = ForEachHistoryRecord(bytes, block, [&](const InstanceView& v) {
        if (auto t = time_of(v); t && !v.deleted_ms) origin = std::min(origin.value_or(*t), *t);
        return true;
      });
      return decode_error.ok() && !(origin && ByBlock(q));
    }));
    CITYHUB_RETURN_IF_ERROR(decode_error);
    if (!origin) return std::optional<AggregatedAttribute>();
  }
  std::optional<int64_t> range_end;
  if (q.timerel == TimeRel::kBetween) range_end = q.end_time_at_ms;
  if (q.timerel == TimeRel::kBefore) range_end = q.time_at_ms;
  Aggregator aggregator(a, *origin, range_end);
  CITYHUB_RETURN_IF_ERROR(ts.ScanHistory(id, attr, first, last, false, [&](int64_t block, std::string_view bytes) {
    decode_error = ForEachHistoryRecord(bytes, block, [&](const InstanceView& v) {
      if (auto t = time_of(v)) aggregator.Add(v, *t);
      return true;
    });
    return decode_error.ok();
  }));
  CITYHUB_RETURN_IF_ERROR(decode_error);
  AggregatedAttribute out = aggregator.Finish(attr);
  if (out.results.empty() || out.results.front().second.empty()) {
    // Nothing counted (only deletions, or no method applies): the attribute is left out.
    bool any = false;
    for (const auto& [m, rows] : out.results) any = any || !rows.empty();
    if (!any) return std::optional<AggregatedAttribute>();
  }
  return std::optional<AggregatedAttribute>(std::move(out));
}

Result<AggregatedEntity> TemporalService::AggregateEntity(store::TenantStore& ts, std::string_view tenant,
                                                          std::string_view id, const std::string& header,
                                                          const TemporalQuery& query, const AggregationRequest& a) {
  auto h = DecodeHistoryHeader(header);
  if (!h.ok()) return h.status();
  const TemporalQuery q = WithRetention(query, tenant, h->types);
  AggregatedEntity e;
  e.id = std::string(id);
  e.types = std::move(h->types);
  e.scope = std::move(h->scope);
  if (q.view && !q.view->Visible(id, e.types, "")) {
    return Status::PermissionDenied(fmt::format("the history of entity '{}' may not be read", id));
  }
  auto attrs = ts.HistoryAttributes(id);
  if (!attrs.ok()) return attrs.status();
  for (const auto& attr : *attrs) {
    if (q.attrs && !q.attrs->count(attr)) continue;
    // Aggregates of a pseudonymised attribute would reveal its values: only those in clear.
    if (q.view && q.view->AttributeShown(id, e.types, "", attr) != EntityView::Shown::kClear) continue;
    auto agg = AggregateAttribute(ts, id, attr, q, a);
    if (!agg.ok()) return agg.status();
    if (*agg) e.attributes.push_back(std::move(**agg));
  }
  return e;
}

Result<AggregatedEntity> TemporalService::RetrieveAggregated(std::string_view tenant, std::string_view id,
                                                             const TemporalQuery& q, const AggregationRequest& a) {
  auto h = HistoryOf(tenant, id, nullptr);
  if (!h.ok()) return h.status();
  return AggregateEntity(*h->ts, tenant, id, h->header, q, a);
}

}  // namespace cityhub::broker
