// RegistrationService implementation. Validation lives in ngsild/csource_registration.cc;
// here: storage in the tenant's metadata, the per-tenant index and the matching rules of §5.12.
//
// Matching an information item against a request (entity ids, idPattern, types, attributes):
// the item's entities match when it names none, or when one EntityInfo shares a type with the
// request (any type when the request names none) and its id is one asked, or its idPattern
// matches an id asked, or it names neither (any id); an idPattern asked matches the ids an
// item names and is assumed to overlap any idPattern (two patterns cannot be compared). The
// attributes match when the request names none, the item names none, or they share one.
//
// The index narrows the candidates before this exact check: a request naming types looks at
// the registrations with an EntityInfo of one of the types plus those with an item naming no
// entities; one naming only ids looks at those naming one of the ids plus those with an
// EntityInfo without id and those with an item naming no entities; one naming both looks at
// those naming one of the ids, those with an EntityInfo of one of the types without id, and
// those naming no entities; any other looks at all.
#include "broker/registration_service.h"

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include <fmt/format.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include "broker/tenancy.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/time.h"
#include "store/meta_keys.h"

namespace cityhub::broker {
namespace json = boost::json;

namespace {

std::string Key(std::string_view id) { return fmt::format("{}{}", store::meta::kRegistrationPrefix, id); }

Status Unknown(std::string_view id) {
  return Status::NotFound(fmt::format("context source registration '{}' does not exist", id.substr(0, 200)));
}

Result<json::object> Decode(std::string_view text) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(text, ec);
  if (ec || !v.is_object() || !v.get_object().contains("id") || !v.get_object().at("id").is_string()) {
    return Status::Internal("stored context source registration is corrupt");
  }
  return std::move(v.get_object());
}

uint64_t OperationBit(std::string_view name) {
  const auto& names = ngsild::OperationNames();
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? 0 : uint64_t{1} << static_cast<unsigned>(it - names.begin());
}

std::vector<std::string> Strings(const json::value* v) {
  std::vector<std::string> out;
  if (v && v->is_array()) {
    for (const auto& s : v->get_array()) {
      if (s.is_string()) out.emplace_back(s.get_string());
    }
  }
  return out;
}

bool Shares(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  }
  return false;
}

RegistrationMode ModeOf(std::string_view mode) {
  if (mode == "exclusive") return RegistrationMode::kExclusive;
  if (mode == "redirect") return RegistrationMode::kRedirect;
  if (mode == "auxiliary") return RegistrationMode::kAuxiliary;
  return RegistrationMode::kInclusive;
}

bool IsTemporalOperation(std::string_view op) { return op == "retrieveTemporal" || op == "queryTemporal"; }

}  // namespace

// One EntityInfo, one RegistrationInfo, one registration, compiled for matching.
struct EntityInfoC {
  std::string id;
  std::shared_ptr<const re2::RE2> pattern;
  // Every id `pattern` can match lies in [min, max] (RE2::PossibleMatchRange; both empty when
  // RE2 cannot tell): a request's id outside is rejected without running the pattern.
  std::string min, max;
  std::vector<std::string> types;

  bool MayMatchId(const std::string& candidate) const {
    return max.empty() || (candidate >= min && candidate <= max);
  }
};
struct InfoC {
  std::vector<EntityInfoC> entities;  // empty: any entity
  std::vector<std::string> attrs;     // propertyNames and relationshipNames; empty: any
};

struct RegistrationService::Compiled {
  json::object stored;
  std::string id;
  uint64_t operations = 0;
  int64_t expires_ms = 0;  // 0: never
  bool temporal = false;   // has observationInterval or managementInterval
  ContextSource source;    // without entity_types and attributes
  std::vector<InfoC> info;
  // For a registration of one information item: what Match answers when that item matches (its
  // types and attributes; the latter narrowed to a request's), ready to be copied out.
  std::optional<ContextSource> whole;

  static Result<std::shared_ptr<const Compiled>> From(std::string_view tenant, json::object stored) {
    auto c = std::make_shared<Compiled>();
    c->id = std::string(stored.at("id").as_string());
    for (const auto& op : ngsild::ExpandOperations(stored.if_contains("operations"))) c->operations |= OperationBit(op);
    if (auto at = ngsild::RegistrationTime(stored, "expiresAt")) c->expires_ms = *at;
    c->temporal = stored.contains("observationInterval") || stored.contains("managementInterval");
    ContextSource& s = c->source;
    s.registration_id = c->id;
    s.home_tenant = std::string(tenant);
    if (const json::value* e = stored.if_contains("endpoint"); e && e->is_string()) s.endpoint = std::string(e->get_string());
    if (const json::value* m = stored.if_contains("mode"); m && m->is_string()) s.mode = ModeOf(m->get_string());
    if (const json::value* t = stored.if_contains("tenant"); t && t->is_string()) s.tenant = std::string(t->get_string());
    if (const json::value* a = stored.if_contains("contextSourceAlias"); a && a->is_string()) s.alias = std::string(a->get_string());
    if (const json::value* kv = stored.if_contains("contextSourceInfo"); kv && kv->is_array()) {
      for (const auto& pair : kv->get_array()) {
        const json::object* o = pair.if_object();
        if (o && o->contains("key") && o->contains("value") && o->at("key").is_string() && o->at("value").is_string()) {
          s.info.emplace_back(std::string(o->at("key").get_string()), std::string(o->at("value").get_string()));
        }
      }
    }
    if (const json::value* m = stored.if_contains("management"); m && m->is_object()) {
      auto ms = [&](const char* member) -> std::optional<std::chrono::milliseconds> {
        const json::value* v = m->get_object().if_contains(member);
        if (!v || !v->is_number()) return std::nullopt;
        return std::chrono::milliseconds(static_cast<int64_t>(v->to_number<double>()));
      };
      s.timeout = ms("timeout");
      s.cooldown = ms("cooldown");
    }
    const json::value* information = stored.if_contains("information");
    if (!information || !information->is_array()) return Status::Internal("stored registration has no information");
    for (const auto& item : information->get_array()) {
      if (!item.is_object()) return Status::Internal("stored registration has an invalid information item");
      const json::object& o = item.get_object();
      InfoC info;
      info.attrs = Strings(o.if_contains("propertyNames"));
      for (auto& r : Strings(o.if_contains("relationshipNames"))) info.attrs.push_back(std::move(r));
      if (const json::value* entities = o.if_contains("entities"); entities && entities->is_array()) {
        for (const auto& e : entities->get_array()) {
          if (!e.is_object()) return Status::Internal("stored registration has an invalid EntityInfo");
          const json::object& eo = e.get_object();
          EntityInfoC ec;
          if (const json::value* id = eo.if_contains("id"); id && id->is_string()) ec.id = std::string(id->get_string());
          if (const json::value* p = eo.if_contains("idPattern"); p && p->is_string()) {
            re2::RE2::Options opts;
            opts.set_log_errors(false);
            auto re = std::make_shared<re2::RE2>(std::string(p->get_string()), opts);
            if (!re->ok()) return Status::Internal("stored registration has an invalid idPattern");
            if (!re->PossibleMatchRange(&ec.min, &ec.max, 64)) ec.min.clear(), ec.max.clear();
            ec.pattern = std::move(re);
          }
          ec.types = Strings(eo.if_contains("type"));
          info.entities.push_back(std::move(ec));
        }
      }
      c->info.push_back(std::move(info));
    }
    if (c->info.size() == 1) {
      ContextSource& w = c->whole.emplace(c->source);
      for (const auto& e : c->info[0].entities) {
        for (const auto& t : e.types) {
          if (std::find(w.entity_types.begin(), w.entity_types.end(), t) == w.entity_types.end()) w.entity_types.push_back(t);
        }
      }
      for (const auto& a : c->info[0].attrs) {
        if (std::find(w.attributes.begin(), w.attributes.end(), a) == w.attributes.end()) w.attributes.push_back(a);
      }
    }
    c->stored = std::move(stored);
    return std::shared_ptr<const Compiled>(std::move(c));
  }

  bool Active(int64_t now_ms) const { return expires_ms == 0 || expires_ms > now_ms; }
};

struct RegistrationService::TenantIndex {
  std::map<std::string, std::shared_ptr<const Compiled>> regs;  // by id, ascending
  std::vector<const Compiled*> all;
  std::unordered_map<std::string, std::vector<uint32_t>> by_entity_id;
  std::unordered_map<std::string, std::vector<uint32_t>> by_type;
  std::unordered_map<std::string, std::vector<uint32_t>> by_type_without_id;
  std::vector<uint32_t> type_only;   // an EntityInfo naming neither id nor idPattern
  std::vector<uint32_t> by_pattern;  // an EntityInfo naming an idPattern
  std::vector<uint32_t> untyped;     // an item naming no entities

  explicit TenantIndex(std::map<std::string, std::shared_ptr<const Compiled>> r) : regs(std::move(r)) {
    for (const auto& [id, c] : regs) {
      const auto at = static_cast<uint32_t>(all.size());
      all.push_back(c.get());
      auto add = [at](std::vector<uint32_t>& list) {
        if (list.empty() || list.back() != at) list.push_back(at);
      };
      for (const auto& info : c->info) {
        if (info.entities.empty()) add(untyped);
        for (const auto& e : info.entities) {
          if (!e.id.empty()) add(by_entity_id[e.id]);
          if (e.id.empty()) add(e.pattern ? by_pattern : type_only);
          for (const auto& t : e.types) {
            add(by_type[t]);
            if (e.id.empty()) add(by_type_without_id[t]);
          }
        }
      }
    }
  }

  // Whether an idPattern of `c` may match one of `ids` (by the patterns' possible ranges).
  static bool PatternMayMatch(const Compiled& c, const std::vector<std::string>& ids) {
    for (const auto& info : c.info) {
      for (const auto& e : info.entities) {
        if (!e.pattern) continue;
        if (std::any_of(ids.begin(), ids.end(), [&](const std::string& id) { return e.MayMatchId(id); })) return true;
      }
    }
    return false;
  }

  // The indexes into `all` of the registrations that may match (ascending, no duplicates).
  std::vector<uint32_t> Candidates(const std::vector<std::string>& ids, const std::vector<std::string>& types) const {
    std::vector<uint32_t> out;
    auto take = [&](const std::vector<uint32_t>& list) { out.insert(out.end(), list.begin(), list.end()); };
    auto take_key = [&](const std::unordered_map<std::string, std::vector<uint32_t>>& map, const std::string& key) {
      if (auto it = map.find(key); it != map.end()) take(it->second);
    };
    if (!types.empty() && !ids.empty()) {
      for (const auto& id : ids) take_key(by_entity_id, id);
      for (const auto& t : types) take_key(by_type_without_id, t);
      take(untyped);
    } else if (!types.empty()) {
      for (const auto& t : types) take_key(by_type, t);
      take(untyped);
    } else if (!ids.empty()) {
      for (const auto& id : ids) take_key(by_entity_id, id);
      take(type_only);
      for (uint32_t at : by_pattern) {
        if (PatternMayMatch(*all[at], ids)) out.push_back(at);
      }
      take(untyped);
    } else {
      out.resize(all.size());
      for (uint32_t i = 0; i < out.size(); ++i) out[i] = i;
      return out;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
};

namespace {

// What a request asks, for the matching rules (expanded names).
struct Asked {
  const std::vector<std::string>& ids;
  const re2::RE2* pattern;  // null: none
  // Either a plain list of types (empty: any) or a type selection.
  const std::vector<std::string>* types = nullptr;
  const ngsild::TypeSelection* selection = nullptr;
  const std::vector<std::string>& attrs;
};

bool EntityMatches(const EntityInfoC& e, const Asked& a) {
  if (a.selection && !a.selection->Matches(e.types)) return false;
  if (a.types && !a.types->empty() && !Shares(e.types, *a.types)) return false;
  if (!a.ids.empty()) {
    if (!e.id.empty()) return std::find(a.ids.begin(), a.ids.end(), e.id) != a.ids.end();
    if (e.pattern) {
      return std::any_of(a.ids.begin(), a.ids.end(),
                         [&](const std::string& id) { return e.MayMatchId(id) && re2::RE2::FullMatch(id, *e.pattern); });
    }
    return true;
  }
  if (a.pattern && !e.id.empty()) return re2::RE2::FullMatch(e.id, *a.pattern);
  return true;
}

bool InfoMatches(const InfoC& info, const Asked& a) {
  if (!a.attrs.empty() && !info.attrs.empty() && !Shares(info.attrs, a.attrs)) return false;
  if (info.entities.empty()) return true;
  return std::any_of(info.entities.begin(), info.entities.end(), [&](const EntityInfoC& e) { return EntityMatches(e, a); });
}

// True if two items of different registrations claim some entity attribute in common.
bool Overlap(const InfoC& x, const InfoC& y) {
  if (!x.attrs.empty() && !y.attrs.empty() && !Shares(x.attrs, y.attrs)) return false;
  if (x.entities.empty() || y.entities.empty()) return true;
  for (const auto& a : x.entities) {
    for (const auto& b : y.entities) {
      if (!Shares(a.types, b.types)) continue;
      if (!a.id.empty() && !b.id.empty() && a.id != b.id) continue;
      if (!a.id.empty() && b.pattern && !re2::RE2::FullMatch(a.id, *b.pattern)) continue;
      if (!b.id.empty() && a.pattern && !re2::RE2::FullMatch(b.id, *a.pattern)) continue;
      return true;
    }
  }
  return false;
}

// Whether the registration's interval overlaps the query's temporal query.
bool IntervalMatches(const json::object& stored, const RegistrationQuery& q) {
  using Rel = ngsild::IntervalRel;
  switch (q.timerel) {
    case RegistrationQuery::TimeRel::kBefore: return ngsild::IntervalOverlaps(stored, q.timeproperty, Rel::kBefore, q.time_at_ms, 0);
    case RegistrationQuery::TimeRel::kAfter: return ngsild::IntervalOverlaps(stored, q.timeproperty, Rel::kAfter, q.time_at_ms, 0);
    case RegistrationQuery::TimeRel::kBetween:
      return ngsild::IntervalOverlaps(stored, q.timeproperty, Rel::kBetween, q.time_at_ms, q.end_time_at_ms);
    case RegistrationQuery::TimeRel::kNone: break;
  }
  return false;
}

}  // namespace

RegistrationService::RegistrationService(store::Store& store, ngsild::RegistrationLimits limits)
    : store_(store), limits_(limits) {}

RegistrationService::~RegistrationService() { store_.UnwatchSharedMeta(this); }

std::shared_ptr<const RegistrationService::TenantIndex> RegistrationService::IndexOf(std::string_view tenant) const {
  std::shared_lock lock(index_mutex_);
  auto it = indexes_.find(tenant);
  return it == indexes_.end() ? nullptr : it->second;
}

bool RegistrationService::Any(std::string_view tenant) const {
  auto index = IndexOf(tenant);
  return index && !index->all.empty();
}

void RegistrationService::Reindex(std::string_view tenant, std::map<std::string, std::shared_ptr<const Compiled>> regs) {
  auto index = std::make_shared<const TenantIndex>(std::move(regs));
  std::unique_lock lock(index_mutex_);
  indexes_[std::string(tenant)] = std::move(index);
}

Result<size_t> RegistrationService::LoadAll(
    const std::function<void(std::string_view, std::string_view, const Status&)>& on_error) {
  size_t loaded = 0;
  // Before reading: what changes after the read is then heard of.
  CITYHUB_RETURN_IF_ERROR(store_.WatchSharedMeta(Key(""), this));
  std::lock_guard write(write_mutex_);
  for (const auto& tenant : store_.ListTenants()) {
    auto ts = OpenTenant(store_, tenant, false);
    if (!ts.ok()) return ts.status();
    std::map<std::string, std::shared_ptr<const Compiled>> regs;
    CITYHUB_RETURN_IF_ERROR((*ts)->ScanMeta(Key(""), [&](std::string_view key, std::string_view value) {
      const std::string_view id = key.substr(Key("").size());
      auto stored = Decode(value);
      auto compiled = stored.ok() ? Compiled::From(tenant, std::move(*stored)) : Result<std::shared_ptr<const Compiled>>(stored.status());
      if (!compiled.ok()) {
        if (on_error) on_error(tenant, id, compiled.status());
        return true;
      }
      regs.emplace(std::string(id), std::move(*compiled));
      ++loaded;
      return true;
    }));
    if (!regs.empty()) Reindex(tenant, std::move(regs));
  }
  return loaded;
}

Status RegistrationService::CheckConflicts(std::string_view tenant, const Compiled& candidate, int64_t now_ms) const {
  const RegistrationMode mode = candidate.source.mode;
  if (auto index = IndexOf(tenant)) {
    for (const Compiled* other : index->all) {
      if (other->id == candidate.id || !other->Active(now_ms)) continue;
      const RegistrationMode m = other->source.mode;
      // An exclusive registration admits no other exclusive or redirect one over the same
      // entity attributes; overlapping redirect registrations are allowed (each is asked).
      const bool exclusive_pair = (mode == RegistrationMode::kExclusive &&
                                   (m == RegistrationMode::kExclusive || m == RegistrationMode::kRedirect)) ||
                                  (m == RegistrationMode::kExclusive && mode == RegistrationMode::kRedirect);
      if (!exclusive_pair) continue;
      for (const auto& x : candidate.info) {
        for (const auto& y : other->info) {
          if (Overlap(x, y)) {
            return Status::AlreadyExists(fmt::format(
                "an {} registration ('{}') already covers entities and attributes this registration claims (§4.3.6.2)",
                m == RegistrationMode::kExclusive ? "exclusive" : "redirect", other->id.substr(0, 200)));
          }
        }
      }
    }
  }
  if (!local_ || (mode != RegistrationMode::kExclusive && mode != RegistrationMode::kRedirect)) return Status::Ok();
  for (const auto& info : candidate.info) {
    for (const auto& e : info.entities) {
      if (e.id.empty()) continue;
      auto held = local_(tenant, e.id);
      if (!held) continue;
      if (mode == RegistrationMode::kRedirect || info.attrs.empty() || Shares(info.attrs, *held)) {
        return Status::AlreadyExists(fmt::format(
            "entity '{}' is held by this hub{}: a {} registration cannot claim it (§4.3.6.2)", e.id.substr(0, 200),
            mode == RegistrationMode::kExclusive ? " with attributes the registration names" : "",
            mode == RegistrationMode::kExclusive ? "exclusive" : "redirect"));
      }
    }
  }
  return Status::Ok();
}

Status RegistrationService::Save(std::string_view tenant, store::TenantStore& ts, const json::object* before,
                                 const json::object& stored, std::function<void()>* committed) {
  auto compiled = Compiled::From(tenant, stored);
  if (!compiled.ok()) return compiled.status();
  CITYHUB_RETURN_IF_ERROR(CheckConflicts(tenant, **compiled, util::NowMillis()));
  store::WriteSet ws;
  ws.meta_puts.emplace_back(Key((*compiled)->id), util::SerializeJson(stored));
  if (write_hook_) {
    auto then = write_hook_(tenant, ts, before, &stored, 0, ws);
    if (!then.ok()) return then.status();
    *committed = std::move(*then);
  }
  CITYHUB_RETURN_IF_ERROR(ts.Write(ws));
  const std::string id = (*compiled)->id;
  Replace(tenant, id, std::move(*compiled));
  return Status::Ok();
}

void RegistrationService::Replace(std::string_view tenant, const std::string& id,
                                  std::shared_ptr<const Compiled> compiled) {
  std::lock_guard lock(replace_mutex_);
  auto index = IndexOf(tenant);
  std::map<std::string, std::shared_ptr<const Compiled>> regs;
  if (index) regs = index->regs;
  if (compiled) {
    regs[id] = std::move(compiled);
  } else {
    regs.erase(id);
  }
  Reindex(tenant, std::move(regs));
}

void RegistrationService::SharedMetaChanged(std::string_view tenant, std::string_view key,
                                            const std::optional<std::string>& value) {
  const std::string id(key.substr(Key("").size()));
  std::shared_ptr<const Compiled> compiled;
  if (value) {
    auto stored = Decode(*value);
    auto made = stored.ok() ? Compiled::From(tenant, std::move(*stored)) : Result<std::shared_ptr<const Compiled>>(stored.status());
    if (!made.ok()) {
      spdlog::warn("context source registration '{}' of tenant '{}' changed on another hub and cannot be used here: {}",
                   id.substr(0, 200), tenant, made.status().message());
      return;
    }
    compiled = std::move(*made);
  }
  Replace(tenant, id, std::move(compiled));
}

Result<std::string> RegistrationService::Create(std::string_view tenant, const json::object& payload,
                                                const ngsild::Context& ctx, int64_t now_ms) {
  std::string id;
  if (const json::value* given = payload.if_contains("id"); given && given->is_string()) {
    id = std::string(given->get_string());
  } else {
    id = "urn:ngsi-ld:ContextSourceRegistration:" + util::RandomUuid();
  }
  auto stored = ngsild::NormalizeRegistration(payload, ctx, id, now_ms, limits_);
  if (!stored.ok()) return stored.status();
  auto ts = OpenTenant(store_, tenant, true);
  if (!ts.ok()) return ts.status();
  {
    std::function<void()> committed;
    std::lock_guard lock(write_mutex_);
    auto existing = (*ts)->GetMeta(Key(id));
    if (existing.ok()) {
      return Status::AlreadyExists(fmt::format("context source registration '{}' already exists", id.substr(0, 200)));
    }
    if (!existing.status().IsNotFound()) return existing.status();
    auto index = IndexOf(tenant);
    if (index && index->regs.size() >= limits_.max_per_tenant) {
      return Status::BadRequestData(
          fmt::format("the tenant already holds the maximum of {} context source registrations", limits_.max_per_tenant));
    }
    CITYHUB_RETURN_IF_ERROR(Save(tenant, **ts, nullptr, *stored, &committed));
    if (committed) committed();  // under the lock: records are handed over in the order written
  }
  if (observer_) observer_(tenant, nullptr, &*stored);
  return id;
}

std::vector<json::object> RegistrationService::All(std::string_view tenant) const {
  std::vector<json::object> out;
  if (auto index = IndexOf(tenant)) {
    for (const auto& [id, c] : index->regs) out.push_back(c->stored);
  }
  return out;
}

Result<json::object> RegistrationService::Get(std::string_view tenant, std::string_view id) const {
  auto index = IndexOf(tenant);
  if (!index) return Unknown(id);
  auto it = index->regs.find(std::string(id));
  if (it == index->regs.end()) return Unknown(id);
  return it->second->stored;
}

Result<RegistrationPage> RegistrationService::Query(std::string_view tenant, const RegistrationQuery& query,
                                                    const ngsild::Context& ctx, size_t offset, size_t limit,
                                                    int64_t now_ms) const {
  RegistrationPage page;
  auto index = IndexOf(tenant);
  if (!index) return page;
  std::unique_ptr<re2::RE2> pattern;
  if (!query.id_pattern.empty()) {
    re2::RE2::Options opts;
    opts.set_log_errors(false);
    pattern = std::make_unique<re2::RE2>(query.id_pattern, opts);
    if (!pattern->ok()) return Status::BadRequestData(fmt::format("idPattern is not a valid regular expression: {}", pattern->error()));
  }
  Asked asked{query.ids, pattern.get(), nullptr, query.types ? &*query.types : nullptr, query.attrs};
  const bool by_entity = query.q || query.csf || query.scope;
  for (const auto& [id, c] : index->regs) {
    if (!c->Active(now_ms)) continue;
    if (query.timerel == RegistrationQuery::TimeRel::kNone ? c->temporal : !IntervalMatches(c->stored, query)) continue;
    if (!std::any_of(c->info.begin(), c->info.end(), [&](const InfoC& info) { return InfoMatches(info, asked); })) continue;
    if (query.geo) {
      const json::value* g = c->stored.if_contains(query.geo_member);
      if (!g || !query.geo->MatchesValue(*g)) continue;
    }
    if (by_entity) {
      const ngsild::Entity e = ngsild::RegistrationAsEntity(c->stored, ctx);
      if ((query.q && !query.q->Matches(e)) || (query.csf && !query.csf->Matches(e)) ||
          (query.scope && !query.scope->Matches(e))) {
        continue;
      }
    }
    if (page.total++ >= offset && page.items.size() < limit) page.items.push_back(c->stored);
  }
  return page;
}

Status RegistrationService::Update(std::string_view tenant, std::string_view id, const json::object& fragment,
                                   const ngsild::Context& ctx, int64_t now_ms) {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status().IsNotFound() ? Unknown(id) : ts.status();
  json::object before, after;
  {
    std::function<void()> committed;
    std::lock_guard lock(write_mutex_);
    auto text = (*ts)->GetMeta(Key(id));
    if (!text.ok()) return text.status().IsNotFound() ? Unknown(id) : text.status();
    auto stored = Decode(*text);
    if (!stored.ok()) return stored.status();
    before = *stored;
    CITYHUB_RETURN_IF_ERROR(ngsild::PatchRegistration(*stored, fragment, ctx, now_ms, limits_));
    CITYHUB_RETURN_IF_ERROR(Save(tenant, **ts, &before, *stored, &committed));
    after = std::move(*stored);
    if (committed) committed();
  }
  if (observer_) observer_(tenant, &before, &after);
  return Status::Ok();
}

Status RegistrationService::Delete(std::string_view tenant, std::string_view id) {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status().IsNotFound() ? Unknown(id) : ts.status();
  json::object before;
  {
    std::function<void()> committed;
    std::lock_guard lock(write_mutex_);
    auto text = (*ts)->GetMeta(Key(id));
    if (!text.ok()) return text.status().IsNotFound() ? Unknown(id) : text.status();
    // A registration that cannot be read can still be deleted (it notifies no one).
    if (auto stored = Decode(*text); stored.ok()) before = std::move(*stored);
    store::WriteSet ws;
    ws.meta_deletes.push_back(Key(id));
    if (write_hook_) {
      auto then = write_hook_(tenant, **ts, &before, nullptr, 0, ws);
      if (!then.ok()) return then.status();
      committed = std::move(*then);
    }
    CITYHUB_RETURN_IF_ERROR((*ts)->Write(ws));
    Replace(tenant, std::string(id), nullptr);
    if (committed) committed();
  }
  if (observer_) observer_(tenant, &before, nullptr);
  return Status::Ok();
}

Result<size_t> RegistrationService::SweepExpired(int64_t now_ms) {
  if (!write_hook_) return size_t{0};
  std::map<std::string, std::shared_ptr<const TenantIndex>, std::less<>> indexes;
  {
    std::shared_lock lock(index_mutex_);
    indexes = indexes_;
  }
  size_t handled = 0;
  std::lock_guard lock(write_mutex_);
  for (const auto& [tenant, index] : indexes) {
    auto ts = OpenTenant(store_, tenant, false);
    if (!ts.ok()) return ts.status();
    auto swept = swept_.find(tenant);
    if (swept == swept_.end()) {
      auto text = (*ts)->GetMeta(store::meta::kRegistrationExpirySwept);
      if (!text.ok() && !text.status().IsNotFound()) return text.status();
      const int64_t at = text.ok() ? std::strtoll(text->c_str(), nullptr, 10) : 0;
      swept = swept_.emplace(tenant, at).first;
    }
    store::WriteSet ws;
    std::vector<std::function<void()>> then_all;
    size_t expired = 0;
    for (const Compiled* c : index->all) {
      if (c->expires_ms == 0 || c->expires_ms <= swept->second || c->expires_ms > now_ms) continue;
      auto then = write_hook_(tenant, **ts, &c->stored, nullptr, c->expires_ms - 1, ws);
      if (!then.ok()) return then.status();
      if (*then) then_all.push_back(std::move(*then));
      ++expired;
    }
    if (expired == 0) continue;
    handled += expired;
    ws.meta_puts.emplace_back(std::string(store::meta::kRegistrationExpirySwept), std::to_string(now_ms));
    CITYHUB_RETURN_IF_ERROR((*ts)->Write(ws));
    swept->second = now_ms;
    for (auto& then : then_all) then();
  }
  return handled;
}

std::vector<ContextSource> RegistrationService::Match(std::string_view tenant, const ContextSourceRequest& request) const {
  return MatchAt(tenant, request, util::NowMillis());
}

std::vector<ContextSource> RegistrationService::MatchAt(std::string_view tenant, const ContextSourceRequest& request,
                                                        int64_t now_ms) const {
  std::vector<ContextSource> out;
  auto index = IndexOf(tenant);
  if (!index) return out;
  const uint64_t op = OperationBit(request.operation);
  if (op == 0) return out;
  std::unique_ptr<re2::RE2> pattern;
  if (!request.id_pattern.empty()) {
    re2::RE2::Options opts;
    opts.set_log_errors(false);
    pattern = std::make_unique<re2::RE2>(request.id_pattern, opts);
    if (!pattern->ok()) return out;
  }
  Asked asked{request.entity_ids, pattern.get(), &request.entity_types, nullptr, request.attributes};
  const bool temporal_op = IsTemporalOperation(request.operation);
  const std::vector<uint32_t> candidates = index->Candidates(request.entity_ids, request.entity_types);
  out.reserve(candidates.size());
  for (uint32_t at : candidates) {
    const Compiled& c = *index->all[at];
    if (!(c.operations & op) || !c.Active(now_ms) || (c.temporal && !temporal_op)) continue;
    if (c.whole) {
      if (!InfoMatches(c.info[0], asked)) continue;
      ContextSource& s = out.emplace_back(*c.whole);
      if (request.attributes.empty()) continue;
      if (s.attributes.empty()) {
        s.attributes = request.attributes;  // the item names no attributes: all asked
      } else {
        std::erase_if(s.attributes, [&](const std::string& a) {
          return std::find(request.attributes.begin(), request.attributes.end(), a) == request.attributes.end();
        });
      }
      continue;
    }
    bool matched = false, any_type = false, any_attr = false;
    std::vector<std::string> types, attrs;
    for (const auto& info : c.info) {
      if (!InfoMatches(info, asked)) continue;
      matched = true;
      if (info.entities.empty()) any_type = true;
      for (const auto& e : info.entities) {
        for (const auto& t : e.types) {
          if (std::find(types.begin(), types.end(), t) == types.end()) types.push_back(t);
        }
      }
      if (info.attrs.empty()) any_attr = true;
      for (const auto& a : info.attrs) {
        if ((request.attributes.empty() || std::find(request.attributes.begin(), request.attributes.end(), a) !=
                                               request.attributes.end()) &&
            std::find(attrs.begin(), attrs.end(), a) == attrs.end()) {
          attrs.push_back(a);
        }
      }
    }
    if (!matched) continue;
    ContextSource s = c.source;
    if (!any_type) s.entity_types = std::move(types);
    if (any_attr) {
      s.attributes = request.attributes;
    } else {
      s.attributes = std::move(attrs);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace cityhub::broker
