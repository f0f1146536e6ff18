// SubscriptionMatcher implementation: compile once, index by type, decide per change.
#include "broker/subscription_matcher.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include "ngsild/csource_registration.h"
#include "ngsild/geo.h"
#include "ngsild/qlang.h"
#include "ngsild/subscription.h"
#include "ngsild/type_selection.h"
#include "util/time.h"

namespace cityhub::broker {
namespace json = boost::json;

struct CompiledSubscription::Impl {
  struct Selector {
    std::string type;
    std::optional<ngsild::TypeSelection> types;  // when the selector's type is a §4.17 expression
    std::string id;                    // "" = any
    std::unique_ptr<re2::RE2> pattern;  // null = any
  };
  std::vector<Selector> selectors;
  std::set<std::string> watched;       // empty = any attribute
  std::set<std::string> triggers;
  std::optional<ngsild::QFilter> q;
  std::optional<ngsild::QFilter> csf;  // context source registration subscriptions
  ngsild::ContextPtr core;             // expands a registration's members for q and csf
  std::string geo_member = "location";  // the registration member geoQ tests
  struct Temporal {  // temporalQ: on the registration's observationInterval or managementInterval
    ngsild::IntervalRel rel = ngsild::IntervalRel::kAfter;
    int64_t at_ms = 0;
    int64_t end_ms = 0;
    std::string property = "observedAt";
  };
  std::optional<Temporal> temporal;
  std::optional<ngsild::GeoQuery> geo;
  std::optional<ngsild::ScopeFilter> scope;
  bool active = true;
  bool periodic = false;
  std::optional<int64_t> expires_at_ms;
  std::optional<std::set<std::string>> datasets;  // datasetId (§4.5.5): "" is the default instance

  // True if one of the selectors (a type it has; the id, or else the idPattern) takes `e`, or
  // there are none.
  bool Selected(const ngsild::Entity& e) const {
    if (selectors.empty()) return true;
    return std::any_of(selectors.begin(), selectors.end(), [&](const Selector& sel) {
      if (sel.types ? !sel.types->Matches(e.types)
                    : std::find(e.types.begin(), e.types.end(), sel.type) == e.types.end()) {
        return false;
      }
      if (!sel.id.empty()) return sel.id == e.id;
      return !sel.pattern || re2::RE2::PartialMatch(e.id, *sel.pattern);
    });
  }
};

namespace {

Status Corrupt(std::string_view id, std::string_view what) {
  return Status::Internal(fmt::format("stored subscription '{}' cannot be compiled: {}", id.substr(0, 200), what));
}

std::vector<std::string> Strings(const json::value* v) {
  std::vector<std::string> out;
  if (!v || !v->is_array()) return out;
  for (const auto& item : v->get_array()) {
    if (item.is_string()) out.emplace_back(item.get_string());
  }
  return out;
}

// The per-attribute events of a change on an existing entity, as kinds per attribute name.
struct AttributeEvents {
  std::vector<std::string> created, updated, deleted;
};

const ngsild::Instance* InstanceWith(const ngsild::Instances& instances, std::string_view dataset_id) {
  for (const auto& inst : instances) {
    if (ngsild::DatasetIdOf(inst) == dataset_id) return &inst;
  }
  return nullptr;
}

AttributeEvents Diff(const ngsild::Entity* before, const ngsild::Entity* after) {
  AttributeEvents ev;
  if (!after) return ev;
  for (const auto& [name, instances] : after->attrs) {
    auto it = before ? before->attrs.find(name) : after->attrs.end();
    if (!before || it == before->attrs.end()) {
      ev.created.push_back(name);
    } else if (it->second != instances) {
      // Instance by instance (datasetId): one new is a creation, one gone a deletion, one
      // rewritten an update; an attribute may have all three at once.
      bool created = false, updated = false, deleted = false;
      for (const auto& inst : instances) {
        const ngsild::Instance* old = InstanceWith(it->second, ngsild::DatasetIdOf(inst));
        created = created || !old;
        updated = updated || (old && *old != inst);
      }
      for (const auto& old : it->second) deleted = deleted || !InstanceWith(instances, ngsild::DatasetIdOf(old));
      if (created) ev.created.push_back(name);
      if (updated) ev.updated.push_back(name);
      if (deleted) ev.deleted.push_back(name);
    }
  }
  if (before) {
    for (const auto& [name, instances] : before->attrs) {
      if (!after->attrs.count(name)) ev.deleted.push_back(name);
    }
  }
  return ev;
}

}  // namespace

Result<CompiledSubscriptionPtr> CompiledSubscription::Compile(const json::object& stored,
                                                              ngsild::ContextResolver& contexts,
                                                              std::shared_ptr<const EntityView> view,
                                                              std::string_view tenant) {
  auto out = std::make_shared<CompiledSubscription>();
  out->view_ = std::move(view);
  auto impl = std::make_shared<Impl>();
  const json::value* id = stored.if_contains("id");
  if (!id || !id->is_string()) return Status::Internal("stored subscription has no id");
  out->id_ = std::string(id->get_string());
  out->stored_ = stored;
  if (const json::value* entities = stored.if_contains("entities"); entities && entities->is_array()) {
    for (const auto& sel : entities->get_array()) {
      const json::object* o = sel.if_object();
      const json::value* type = o ? o->if_contains("type") : nullptr;
      if (!type || !type->is_string()) return Corrupt(out->id_, "an entity selector has no type");
      Impl::Selector s;
      s.type = std::string(type->get_string());
      if (const json::value* sid = o->if_contains("id"); sid && sid->is_string()) s.id = std::string(sid->get_string());
      if (const json::value* p = o->if_contains("idPattern"); p && p->is_string() && s.id.empty()) {
        re2::RE2::Options opts;
        opts.set_log_errors(false);
        s.pattern = std::make_unique<re2::RE2>(re2::StringPiece(p->get_string().data(), p->get_string().size()), opts);
        if (!s.pattern->ok()) return Corrupt(out->id_, "invalid idPattern");
      }
      if (s.type.find_first_of(",|;()") != std::string::npos) {
        auto selection = ngsild::TypeSelection::ParseExpanded(s.type);
        if (!selection.ok()) return Corrupt(out->id_, "an entity selector's type cannot be read");
        for (auto& t : selection->IndexTypes()) out->types_.push_back(std::move(t));
        s.types = std::move(*selection);
      } else {
        out->types_.push_back(s.type);
      }
      impl->selectors.push_back(std::move(s));
    }
  }
  if (!impl->selectors.empty() &&
      std::all_of(impl->selectors.begin(), impl->selectors.end(), [](const Impl::Selector& s) { return !s.id.empty(); })) {
    for (const auto& sel : impl->selectors) out->ids_.push_back(sel.id);
    std::sort(out->ids_.begin(), out->ids_.end());
    out->ids_.erase(std::unique(out->ids_.begin(), out->ids_.end()), out->ids_.end());
  }
  std::sort(out->types_.begin(), out->types_.end());
  out->types_.erase(std::unique(out->types_.begin(), out->types_.end()), out->types_.end());
  for (auto& w : Strings(stored.if_contains("watchedAttributes"))) impl->watched.insert(std::move(w));
  out->watched_.assign(impl->watched.begin(), impl->watched.end());
  for (auto& t : Strings(stored.if_contains("notificationTrigger"))) impl->triggers.insert(std::move(t));
  if (const json::value* q = stored.if_contains("q"); q && q->is_string()) {
    const json::value* q_context = stored.if_contains("qContext");
    auto ctx = q_context ? contexts.Resolve(*q_context, tenant) : Result<ngsild::ContextPtr>(contexts.Core());
    if (!ctx.ok()) return ctx.status();
    auto filter = ngsild::QFilter::Parse(q->get_string(), **ctx);
    if (!filter.ok()) return Corrupt(out->id_, filter.status().message());
    impl->q = std::move(*filter);
  }
  if (const json::value* csf = stored.if_contains("csf"); csf && csf->is_string()) {
    const json::value* csf_context = stored.if_contains("csfContext");
    auto ctx = csf_context ? contexts.Resolve(*csf_context, tenant) : Result<ngsild::ContextPtr>(contexts.Core());
    if (!ctx.ok()) return ctx.status();
    auto filter = ngsild::QFilter::Parse(csf->get_string(), **ctx);
    if (!filter.ok()) return Corrupt(out->id_, filter.status().message());
    impl->csf = std::move(*filter);
  }
  impl->core = contexts.Core();
  if (const json::value* t = stored.if_contains("temporalQ"); t && t->is_object()) {
    const json::object& o = t->get_object();
    auto time = [&](const char* member) -> int64_t {
      const json::value* v = o.if_contains(member);
      auto ms = v && v->is_string() ? util::ParseDateTime(v->get_string()) : std::nullopt;
      return ms.value_or(0);
    };
    Impl::Temporal temporal;
    const json::value* rel = o.if_contains("timerel");
    if (!rel || !rel->is_string()) return Corrupt(out->id_, "temporalQ has no timerel");
    temporal.rel = rel->get_string() == "before"  ? ngsild::IntervalRel::kBefore
                   : rel->get_string() == "after" ? ngsild::IntervalRel::kAfter
                                                  : ngsild::IntervalRel::kBetween;
    temporal.at_ms = time("timeAt");
    temporal.end_ms = time("endTimeAt");
    if (const json::value* p = o.if_contains("timeproperty"); p && p->is_string()) temporal.property = std::string(p->get_string());
    impl->temporal = std::move(temporal);
  }
  if (const json::value* g = stored.if_contains("geoQ"); g && g->is_object()) {
    const json::object& o = g->get_object();
    const json::value* geometry = o.if_contains("geometry");
    const json::value* georel = o.if_contains("georel");
    const json::value* coordinates = o.if_contains("coordinates");
    const json::value* property = o.if_contains("geoproperty");
    if (!geometry || !geometry->is_string() || !georel || !georel->is_string() || !coordinates || !property ||
        !property->is_string()) {
      return Corrupt(out->id_, "incomplete geoQ");
    }
    auto geo = ngsild::GeoQuery::Parse(georel->get_string(), geometry->get_string(), *coordinates,
                                       std::string(property->get_string()));
    if (!geo.ok()) return Corrupt(out->id_, geo.status().message());
    impl->geo = std::move(*geo);
    impl->geo_member = impl->core->CompactIri(property->get_string());
  }
  if (const json::value* s = stored.if_contains("scopeQ"); s && s->is_string()) {
    auto scope = ngsild::ScopeFilter::Parse(s->get_string());
    if (!scope.ok()) return Corrupt(out->id_, scope.status().message());
    impl->scope = std::move(*scope);
  }
  if (const json::value* a = stored.if_contains("isActive"); a && a->is_bool()) impl->active = a->get_bool();
  impl->periodic = stored.contains("timeInterval");
  if (const json::value* e = stored.if_contains("expiresAt")) impl->expires_at_ms = ngsild::ExpiresAtMs(*e);
  if (const json::value* d = stored.if_contains("datasetId"); d && d->is_array()) {
    impl->datasets.emplace();
    for (auto& item : Strings(d)) impl->datasets->insert(item == "@none" ? std::string() : std::move(item));
  }
  out->impl_ = std::move(impl);
  return CompiledSubscriptionPtr(std::move(out));
}

bool CompiledSubscription::ActiveAt(int64_t now_ms) const {
  return impl_->active && !(impl_->expires_at_ms && *impl_->expires_at_ms <= now_ms);
}

std::optional<double> CompiledSubscription::Period() const {
  if (!impl_->periodic) return std::nullopt;
  const json::value* t = stored_.if_contains("timeInterval");
  return t && t->is_number() ? t->to_number<double>() : 0.0;
}

namespace {

// The entity as `view` shows it: `e` itself, or its redacted copy in `copy`. Null if hidden.
const ngsild::Entity* AsSeen(const EntityView* view, const ngsild::Entity& e, std::optional<ngsild::Entity>& copy) {
  if (!view) return &e;
  if (!view->Visible(e)) return nullptr;
  if (view->ShowsEverything(e.id, e.types, e.owner)) return &e;
  copy = e;
  view->Redact(*copy);
  return &*copy;
}

}  // namespace

namespace {

// One EntityInfo of a registration (§5.2.8): its types, and its id or idPattern.
struct RegisteredEntity {
  std::vector<std::string> types;
  std::string id;
  std::string pattern;
};

// True if a selector and an EntityInfo can name a common entity: a type the selector takes
// and, when both constrain the id, the same id, an id the other's pattern matches, or two
// patterns (which cannot be compared, so are taken to overlap).
template <typename Selector>
bool Overlaps(const Selector& sel, const RegisteredEntity& e) {
  if (sel.types ? !sel.types->Matches(e.types) : std::find(e.types.begin(), e.types.end(), sel.type) == e.types.end()) {
    return false;
  }
  if (!sel.id.empty()) {
    if (!e.id.empty()) return sel.id == e.id;
    if (e.pattern.empty()) return true;
    re2::RE2::Options opts;
    opts.set_log_errors(false);
    const re2::RE2 re(e.pattern, opts);
    return re.ok() && re2::RE2::FullMatch(sel.id, re);
  }
  if (sel.pattern && !e.id.empty()) return re2::RE2::PartialMatch(e.id, *sel.pattern);
  return true;
}

}  // namespace

bool CompiledSubscription::MatchesRegistration(const json::object& registration, int64_t now_ms) const {
  const Impl& s = *impl_;
  if (!ActiveAt(now_ms)) return false;
  if (auto expires = ngsild::RegistrationTime(registration, "expiresAt"); expires && *expires <= now_ms) return false;
  const json::value* information = registration.if_contains("information");
  if (!information || !information->is_array()) return false;
  bool covered = false;
  for (const auto& item : information->get_array()) {
    const json::object* o = item.if_object();
    if (!o) continue;
    std::vector<std::string> attrs = Strings(o->if_contains("propertyNames"));
    for (auto& r : Strings(o->if_contains("relationshipNames"))) attrs.push_back(std::move(r));
    if (!s.watched.empty() && !attrs.empty() &&
        std::none_of(attrs.begin(), attrs.end(), [&](const std::string& a) { return s.watched.count(a) > 0; })) {
      continue;
    }
    const json::value* entities = o->if_contains("entities");
    if (s.selectors.empty() || !entities || !entities->is_array()) {
      covered = true;
      break;
    }
    for (const auto& ev : entities->get_array()) {
      const json::object* eo = ev.if_object();
      if (!eo) continue;
      RegisteredEntity e;
      const json::value* type = eo->if_contains("type");
      e.types = type && type->is_string() ? std::vector<std::string>{std::string(type->get_string())} : Strings(type);
      if (const json::value* id = eo->if_contains("id"); id && id->is_string()) e.id = std::string(id->get_string());
      if (const json::value* p = eo->if_contains("idPattern"); p && p->is_string()) e.pattern = std::string(p->get_string());
      covered = std::any_of(s.selectors.begin(), s.selectors.end(), [&](const Impl::Selector& sel) { return Overlaps(sel, e); });
      if (covered) break;
    }
    if (covered) break;
  }
  if (!covered) return false;
  // As a query of registrations (§5.10.2): without a temporal query only registrations without
  // observationInterval and managementInterval; with one, those whose interval overlaps it.
  if (s.temporal ? !ngsild::IntervalOverlaps(registration, s.temporal->property, s.temporal->rel, s.temporal->at_ms,
                                             s.temporal->end_ms)
                 : registration.contains("observationInterval") || registration.contains("managementInterval")) {
    return false;
  }
  if (s.geo) {
    const json::value* g = registration.if_contains(s.geo_member);
    if (!g || !s.geo->MatchesValue(*g)) return false;
  }
  if (s.q || s.csf || s.scope) {
    const ngsild::Entity e = ngsild::RegistrationAsEntity(registration, *s.core);
    if ((s.q && !s.q->Matches(e)) || (s.csf && !s.csf->Matches(e)) || (s.scope && !s.scope->Matches(e))) return false;
  }
  return true;
}

bool CompiledSubscription::Selects(const ngsild::Entity& entity) const {
  const Impl& s = *impl_;
  if (!s.Selected(entity)) return false;
  std::optional<ngsild::Entity> copy;
  const ngsild::Entity* seen = AsSeen(view_.get(), entity, copy);
  if (!seen) return false;
  const ngsild::Entity& e = *seen;
  return (!s.q || s.q->Matches(e)) && (!s.geo || s.geo->Matches(e)) && (!s.scope || s.scope->Matches(e));
}

std::optional<std::string> CompiledSubscription::Fires(const EntityChange& change, int64_t now_ms) const {
  const Impl& s = *impl_;
  if (s.periodic || !ActiveAt(now_ms)) return std::nullopt;
  const ngsild::Entity* entity = change.after ? change.after : change.before;
  if (!entity) return std::nullopt;
  if (!s.Selected(*entity)) return std::nullopt;
  // datasetId (§4.5.5): only the selected instances can fire it — the triggers below are judged
  // on the entity with its other instances left out, so a change to those alone is no change.
  std::optional<ngsild::Entity> before_selected, after_selected;
  if (s.datasets) {
    if (change.before) ngsild::KeepDatasets(before_selected.emplace(*change.before), *s.datasets);
    if (change.after) ngsild::KeepDatasets(after_selected.emplace(*change.after), *s.datasets);
  }
  const EntityChange selected{before_selected ? &*before_selected : change.before,
                              after_selected ? &*after_selected : change.after};
  // What the owner may not read cannot tell it anything, not even that it changed.
  const EntityView* view = view_.get();
  auto shown = [&](const std::string& attr) {
    return !view || view->AttributeShown(entity->id, entity->types, entity->owner, attr) != EntityView::Shown::kHidden;
  };
  auto watched = [&](const std::string& attr) { return (s.watched.empty() || s.watched.count(attr) > 0) && shown(attr); };
  auto has_watched = [&](const ngsild::Entity& e) {
    if (s.watched.empty()) return !s.datasets || !e.attrs.empty();
    return std::any_of(e.attrs.begin(), e.attrs.end(), [&](const auto& kv) { return s.watched.count(kv.first) > 0 && shown(kv.first); });
  };
  auto wants = [&](std::string_view kind) { return s.triggers.count(std::string(kind)) > 0; };

  std::optional<std::string> fired;
  if (!selected.before) {
    if (wants("entityCreated") && has_watched(*selected.after)) fired = "entityCreated";
    if (!fired && wants("attributeCreated")) {
      for (const auto& [name, instances] : selected.after->attrs) {
        if (watched(name)) {
          fired = "attributeCreated";
          break;
        }
      }
    }
  } else if (!selected.after) {
    // Deleting the entity deletes each of its attributes.
    if (wants("entityDeleted") && has_watched(*selected.before)) {
      fired = "entityDeleted";
    } else if (wants("attributeDeleted") &&
               std::any_of(selected.before->attrs.begin(), selected.before->attrs.end(),
                           [&](const auto& kv) { return watched(kv.first); })) {
      fired = "attributeDeleted";
    }
  } else {
    AttributeEvents ev = Diff(selected.before, selected.after);
    auto any_watched = [&](const std::vector<std::string>& names) { return std::any_of(names.begin(), names.end(), watched); };
    const bool created = any_watched(ev.created), updated = any_watched(ev.updated), deleted = any_watched(ev.deleted);
    if (created && wants("attributeCreated")) {
      fired = "attributeCreated";
    } else if (updated && wants("attributeUpdated")) {
      fired = "attributeUpdated";
    } else if (deleted && wants("attributeDeleted")) {
      fired = "attributeDeleted";
    } else if ((created || updated || deleted) && wants("entityUpdated")) {
      fired = "entityUpdated";
    }
  }
  if (!fired) return std::nullopt;
  std::optional<ngsild::Entity> copy;
  entity = AsSeen(view_.get(), *entity, copy);
  if (!entity) return std::nullopt;
  if (s.q && !s.q->Matches(*entity)) return std::nullopt;
  if (s.geo && !s.geo->Matches(*entity)) return std::nullopt;
  if (s.scope && !s.scope->Matches(*entity)) return std::nullopt;
  return fired;
}

namespace {

void EraseById(std::vector<CompiledSubscriptionPtr>& v, const std::string& id) {
  v.erase(std::remove_if(v.begin(), v.end(), [&id](const auto& s) { return s->id() == id; }), v.end());
}

}  // namespace

template <typename Fn>
void SubscriptionMatcher::Index::ForEachKey(const CompiledSubscription& s, Fn&& fn) {
  if (s.Period()) {
    fn(static_cast<Keyed*>(nullptr), std::string_view{}, periodic);
  } else if (!s.ids().empty()) {
    for (const auto& id : s.ids()) fn(&by_entity_id, id, by_entity_id[id]);
  } else if (!s.types().empty()) {
    for (const auto& type : s.types()) fn(&by_type, type, by_type[type]);
  } else if (!s.watched().empty()) {
    for (const auto& attr : s.watched()) fn(&by_watched, attr, by_watched[attr]);
  } else {
    fn(static_cast<Keyed*>(nullptr), std::string_view{}, any);
  }
}

void SubscriptionMatcher::Index::File(CompiledSubscriptionPtr s) {
  Unfile(s->id());
  ForEachKey(*s, [&s](Keyed*, std::string_view, std::vector<CompiledSubscriptionPtr>& bucket) { bucket.push_back(s); });
  const std::string id = s->id();
  by_id[id] = std::move(s);
}

void SubscriptionMatcher::Index::Unfile(const std::string& id) {
  auto it = by_id.find(id);
  if (it == by_id.end()) return;
  const CompiledSubscriptionPtr old = it->second;
  by_id.erase(it);
  ForEachKey(*old, [&id](Keyed* map, std::string_view key, std::vector<CompiledSubscriptionPtr>& bucket) {
    EraseById(bucket, id);
    if (map && bucket.empty()) map->erase(map->find(key));
  });
}

void SubscriptionMatcher::Put(std::string_view tenant, CompiledSubscriptionPtr s) {
  std::unique_lock lock(mutex_);
  tenants_[std::string(tenant)].File(std::move(s));
}

void SubscriptionMatcher::PutAll(std::string_view tenant, std::vector<CompiledSubscriptionPtr> all) {
  std::unique_lock lock(mutex_);
  auto& index = tenants_[std::string(tenant)];
  for (auto& s : all) index.File(std::move(s));
}

void SubscriptionMatcher::Remove(std::string_view tenant, std::string_view id) {
  std::unique_lock lock(mutex_);
  auto it = tenants_.find(tenant);
  if (it != tenants_.end()) it->second.Unfile(std::string(id));
}

size_t SubscriptionMatcher::Size(std::string_view tenant) const {
  std::shared_lock lock(mutex_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? 0 : it->second.by_id.size();
}

CompiledSubscriptionPtr SubscriptionMatcher::Find(std::string_view tenant, std::string_view id) const {
  std::shared_lock lock(mutex_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) return nullptr;
  auto found = it->second.by_id.find(id);
  return found == it->second.by_id.end() ? nullptr : found->second;
}

std::vector<std::pair<std::string, CompiledSubscriptionPtr>> SubscriptionMatcher::Periodic() const {
  std::vector<std::pair<std::string, CompiledSubscriptionPtr>> out;
  std::shared_lock lock(mutex_);
  for (const auto& [tenant, index] : tenants_) {
    for (const auto& s : index.periodic) out.emplace_back(tenant, s);
  }
  return out;
}

std::vector<SubscriptionMatch> SubscriptionMatcher::Match(std::string_view tenant, const EntityChange& change,
                                                          int64_t now_ms) const {
  std::vector<SubscriptionMatch> out;
  const ngsild::Entity* entity = change.after ? change.after : change.before;
  if (!entity) return out;
  std::shared_lock lock(mutex_);  // held while evaluating: candidates point into the index
  auto found = tenants_.find(tenant);
  if (found == tenants_.end()) return out;
  const Index* index = &found->second;
  std::vector<const CompiledSubscriptionPtr*> candidates;
  auto add = [&candidates](const auto& map, std::string_view key) {
    auto it = map.find(key);
    if (it == map.end()) return;
    for (const auto& s : it->second) candidates.push_back(&s);
  };
  add(index->by_entity_id, entity->id);
  for (const auto& type : entity->types) add(index->by_type, type);
  if (!index->by_watched.empty()) {
    for (const ngsild::Entity* e : {change.before, change.after}) {
      if (!e) continue;
      for (const auto& [name, instances] : e->attrs) add(index->by_watched, name);
    }
  }
  for (const auto& s : index->any) candidates.push_back(&s);
  std::sort(candidates.begin(), candidates.end(), [](auto* a, auto* b) { return (*a)->id() < (*b)->id(); });
  candidates.erase(std::unique(candidates.begin(), candidates.end(),
                               [](auto* a, auto* b) { return (*a)->id() == (*b)->id(); }),
                   candidates.end());
  for (const auto* s : candidates) {
    if (auto trigger = (*s)->Fires(change, now_ms)) out.push_back({*s, std::move(*trigger)});
  }
  return out;
}

std::vector<SubscriptionMatch> SubscriptionMatcher::MatchRegistration(std::string_view tenant, const json::object* before,
                                                                      const json::object* after, int64_t before_at_ms,
                                                                      int64_t now_ms) const {
  std::vector<SubscriptionMatch> out;
  std::shared_lock lock(mutex_);
  auto found = tenants_.find(tenant);
  if (found == tenants_.end()) return out;
  std::vector<const CompiledSubscriptionPtr*> all;
  for (const auto& [id, s] : found->second.by_id) all.push_back(&s);
  std::sort(all.begin(), all.end(), [](auto* a, auto* b) { return (*a)->id() < (*b)->id(); });
  for (const auto* s : all) {
    const bool was = before && (*s)->MatchesRegistration(*before, before_at_ms);
    const bool is = after && (*s)->MatchesRegistration(*after, now_ms);
    if (!was && !is) continue;
    out.push_back({*s, !was ? "newlyMatching" : is ? "updated" : "noLongerMatching"});
  }
  return out;
}

}  // namespace cityhub::broker
