// Notification payloads: the entity rendering of render.cc, driven by the subscription's
// notification parameters, plus what §5.8.6 adds for changes — the previous values of
// showChanges and the attribute instances a change deleted.
//
// Both are worked out instance by instance, keyed by (attribute, datasetId), before the entity
// is rendered: an instance of the state before that the state after lacks was deleted; one both
// have that differs was modified (its previous value is shown with showChanges). They are then
// put into the rendered entity: a previous value beside the instance's current one, a deletion
// marker where the instance was (an attribute that keeps other instances becomes an array).
#include "ngsild/notification.h"

#include <cctype>
#include <optional>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "ngsild/parse.h"
#include "ngsild/projection.h"
#include "ngsild/render.h"
#include "util/time.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

const json::object* ObjectMember(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

bool BoolMember(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

constexpr std::string_view kLocationIri = "https://uri.etsi.org/ngsi-ld/location";

bool WantsGeoJson(const json::object& notification) {
  const json::object* endpoint = ObjectMember(notification, "endpoint");
  const json::value* accept = endpoint ? endpoint->if_contains("accept") : nullptr;
  return accept && *accept == "application/geo+json";
}

Format FormatOf(const json::object& notification) {
  const json::value* f = notification.if_contains("format");
  if (f && *f == "keyValues") return Format::kKeyValues;
  if (f && *f == "concise") return Format::kConcise;
  return Format::kNormalized;
}

// "previousValue", "previousObject", "previousLanguageMap", "previousVocab", "previousJson",
// "previousValueList", "previousObjectList" for an attribute type.
std::string PreviousMember(AttrType type) {
  std::string member(AttrValueMember(type));
  member[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(member[0])));
  return "previous" + member;
}

const Instance* InstanceWith(const Instances& instances, std::string_view dataset_id) {
  for (const auto& inst : instances) {
    if (DatasetIdOf(inst) == dataset_id) return &inst;
  }
  return nullptr;
}

json::value CompactTerms(const json::value& v, const Context& ctx, NameCache& names) {
  if (v.is_string()) return json::value(names.Compact(v.get_string(), ctx));
  if (!v.is_array()) return v;
  json::array out;
  for (const auto& item : v.get_array()) out.push_back(item.is_string() ? json::value(names.Compact(item.get_string(), ctx)) : item);
  return out;
}

// What the notification shows of changes; `deleted_at_ms` is when the change happened.
struct ChangeOptions {
  Format format = Format::kNormalized;
  bool sys_attrs = false;
  bool show_changes = false;
  int64_t deleted_at_ms = 0;
};

// The previous value of `old` as the subscriber reads it (vocab terms compacted).
json::value PreviousValue(const Instance& old, const Context& ctx, NameCache& names) {
  const AttrType type = AttrTypeOf(old);
  const json::value* v = old.if_contains(AttrValueMember(type));
  if (!v) return nullptr;
  return type == AttrType::kVocabProperty ? CompactTerms(*v, ctx, names) : *v;
}

// A deleted attribute instance (§5.8.6): the bare "urn:ngsi-ld:null" in keyValues and, when
// nothing more is to be said, in concise; otherwise an object whose value member is the NGSI-LD
// Null ({"@none": …} for a languageMap) with the datasetId, the system times (sysAttrs: createdAt,
// modifiedAt, deletedAt) and the previous value (showChanges) as they apply; "type" in normalized.
json::value DeletedInstance(const Instance& old, const ChangeOptions& o, const Context& ctx, NameCache& names) {
  const std::string_view ds = DatasetIdOf(old);
  const bool more = !ds.empty() || o.sys_attrs || o.show_changes;
  if (o.format == Format::kKeyValues || (o.format == Format::kConcise && !more)) return json::value(kNullMarker);
  const AttrType type = AttrTypeOf(old);
  json::object marker;
  if (o.format == Format::kNormalized) marker["type"] = AttrTypeName(type);
  marker[AttrValueMember(type)] = type == AttrType::kLanguageProperty ? json::value(json::object{{"@none", kNullMarker}})
                                                                      : json::value(kNullMarker);
  if (!ds.empty()) marker["datasetId"] = ds;
  if (o.sys_attrs) {
    for (std::string_view time : {"createdAt", "modifiedAt"}) {
      if (const json::value* t = old.if_contains(time); t && t->is_int64()) marker[time] = util::FormatDateTime(t->get_int64());
    }
    marker["deletedAt"] = util::FormatDateTime(o.deleted_at_ms);
  }
  if (o.show_changes) {
    if (json::value previous = PreviousValue(old, ctx, names); !previous.is_null()) marker[PreviousMember(type)] = std::move(previous);
  }
  return marker;
}

// What a change did to one attribute: previous values of modified instances (showChanges) and
// markers for deleted ones.
struct AttributeChanges {
  std::string name;                                            // expanded
  std::vector<std::pair<std::string, json::value>> previous;   // datasetId, previous value member
  std::vector<std::string> previous_members;                   // previousValue, … (same order)
  json::array deleted;                                          // deletion markers
  bool gone = false;                                            // no instance left
};

std::vector<AttributeChanges> ChangesOf(const Entity* after, const Entity& before, const std::set<std::string>* attrs,
                                        const ChangeOptions& o, const Context& ctx, NameCache& names) {
  std::vector<AttributeChanges> out;
  for (const auto& [name, old_instances] : before.attrs) {
    if (attrs && !attrs->count(name)) continue;
    const Instances* now = nullptr;
    if (after) {
      auto it = after->attrs.find(name);
      if (it != after->attrs.end()) now = &it->second;
    }
    AttributeChanges c;
    c.name = name;
    c.gone = now == nullptr;
    for (const auto& old : old_instances) {
      const Instance* current = now ? InstanceWith(*now, DatasetIdOf(old)) : nullptr;
      if (!current) {
        c.deleted.push_back(DeletedInstance(old, o, ctx, names));
      } else if (o.show_changes && *current != old) {
        json::value previous = PreviousValue(old, ctx, names);
        if (previous.is_null()) continue;
        c.previous.emplace_back(std::string(DatasetIdOf(old)), std::move(previous));
        c.previous_members.push_back(PreviousMember(AttrTypeOf(old)));
      }
    }
    if (!c.deleted.empty() || !c.previous.empty()) out.push_back(std::move(c));
  }
  return out;
}

// The rendered instance of `attr` (an object, or an array of them) with `dataset_id`; a bare
// concise value (a scalar, or a GeoProperty's geometry) is wrapped into {"value": …} first.
json::object* RenderedInstance(json::value& attr, std::string_view dataset_id, bool concise) {
  auto matches = [&](json::value& v) {
    if (v.is_object() && !(concise && v.get_object().contains("coordinates") && !v.get_object().contains("value"))) {
      const json::value* ds = v.get_object().if_contains("datasetId");
      return ds ? ds->is_string() && ds->get_string() == dataset_id : dataset_id.empty();
    }
    if (!dataset_id.empty()) return false;
    v = json::object{{"value", std::move(v)}};
    return true;
  };
  if (attr.is_array()) {
    for (auto& item : attr.get_array()) {
      if (matches(item)) return &item.get_object();
    }
    return nullptr;
  }
  return matches(attr) ? &attr.get_object() : nullptr;
}

void ApplyChanges(json::object& rendered, std::vector<AttributeChanges> changes, const ChangeOptions& o,
                  const Context& ctx, NameCache& names) {
  for (auto& c : changes) {
    const std::string key = names.Compact(c.name, ctx);
    json::value* attr = rendered.if_contains(key);
    if (attr) {
      for (size_t i = 0; i < c.previous.size(); ++i) {
        if (json::object* inst = RenderedInstance(*attr, c.previous[i].first, o.format == Format::kConcise)) {
          (*inst)[c.previous_members[i]] = std::move(c.previous[i].second);
        }
      }
    }
    if (c.deleted.empty()) continue;
    if (c.gone || !attr) {
      rendered[key] = c.deleted.size() == 1 ? std::move(c.deleted.front()) : json::value(std::move(c.deleted));
    } else if (o.format != Format::kKeyValues) {  // keyValues shows the values left, not the deletions
      if (!attr->is_array()) *attr = json::array{std::move(*attr)};
      for (auto& marker : c.deleted) attr->get_array().push_back(std::move(marker));
    }
  }
}

// The stored notification.pick / omit (names expanded, validated when written), for `ctx`.
std::optional<Projection> ProjectionOf(const json::object& notification, const Context& ctx) {
  auto list = [&](const char* member) {
    const json::value* v = notification.if_contains(member);
    if (!v || !v->is_array()) return std::optional<std::vector<std::string>>();
    std::vector<std::string> names;
    for (const auto& name : v->get_array()) {
      if (name.is_string()) names.emplace_back(name.get_string());
    }
    return std::optional<std::vector<std::string>>(std::move(names));
  };
  auto p = Projection::Make(list("pick"), list("omit"), ctx, "notification.");
  return p.ok() ? std::move(*p) : std::nullopt;
}

json::value TypesOf(const Entity& e, const Context& ctx) {
  if (e.types.size() == 1) return json::value(ctx.CompactIri(e.types.front()));
  json::array types;
  for (const auto& t : e.types) types.emplace_back(ctx.CompactIri(t));
  return types;
}

// A deleted entity (§5.8.6): "only the deletedAt system property shall be provided. In case
// notification.sysAttrs is set to true, also createdAt and modifiedAt"; with showChanges, its
// attributes too, each as deleted with its previous value.
json::object DeletedEntity(const Entity& e, const std::set<std::string>* attrs, const ChangeOptions& o,
                           const Context& ctx, NameCache& names) {
  json::object gone;
  gone["id"] = e.id;
  gone["type"] = TypesOf(e, ctx);
  if (o.sys_attrs) {
    gone["createdAt"] = util::FormatDateTime(e.created_at);
    gone["modifiedAt"] = util::FormatDateTime(e.modified_at);
  }
  gone["deletedAt"] = util::FormatDateTime(o.deleted_at_ms);
  if (o.show_changes) ApplyChanges(gone, ChangesOf(nullptr, e, attrs, o, ctx, names), o, ctx, names);
  return gone;
}

}  // namespace

json::object RenderNotification(const json::object& subscription, std::vector<NotifiedEntity> items,
                                const Context& ctx, std::string_view notification_id, int64_t notified_at_ms) {
  static const json::object kNone;
  const json::object* n = ObjectMember(subscription, "notification");
  const json::object& notification = n ? *n : kNone;
  RenderOptions opts;
  opts.format = FormatOf(notification);
  opts.sys_attrs = BoolMember(notification, "sysAttrs");
  std::set<std::string> attrs;
  if (const json::value* a = notification.if_contains("attributes"); a && a->is_array()) {
    for (const auto& name : a->get_array()) {
      if (name.is_string()) attrs.emplace(name.get_string());
    }
    opts.attrs = &attrs;
  }
  std::vector<std::string> lang;
  if (const json::value* l = subscription.if_contains("lang"); l && l->is_string()) {
    auto tags = ParseLanguageFilter(l->get_string());  // validated when the subscription was written
    if (tags.ok()) {
      lang = std::move(*tags);
      opts.lang = &lang;
    }
  }
  const std::optional<Projection> projection = ProjectionOf(notification, ctx);
  NameCache names;
  opts.names = &names;
  ChangeOptions change;
  change.format = opts.format;
  change.sys_attrs = opts.sys_attrs;
  change.show_changes = BoolMember(notification, "showChanges") && opts.format != Format::kKeyValues;

  // datasetId (§4.5.5): only the selected instances are notified (of the state before too, so
  // that instances left out do not show as deleted attributes).
  std::optional<std::set<std::string>> datasets;
  if (const json::value* d = subscription.if_contains("datasetId"); d && d->is_array()) {
    datasets.emplace();
    for (const auto& item : d->get_array()) {
      if (item.is_string()) datasets->insert(item.get_string() == "@none" ? std::string() : std::string(item.get_string()));
    }
  }
  std::vector<Entity> previous_selected;
  previous_selected.reserve(items.size());  // stable addresses for item.previous

  json::array data;
  for (auto& item : items) {
    if (datasets) {
      KeepDatasets(item.entity, *datasets);
      if (item.previous) {
        KeepDatasets(previous_selected.emplace_back(*item.previous), *datasets);
        item.previous = &previous_selected.back();
      }
    }
    change.deleted_at_ms = item.deleted ? item.deleted_at_ms : item.entity.modified_at;
    if (item.deleted) {
      data.emplace_back(DeletedEntity(item.entity, opts.attrs, change, ctx, names));
      continue;
    }
    std::vector<AttributeChanges> changes;
    if (item.previous) changes = ChangesOf(&item.entity, *item.previous, opts.attrs, change, ctx, names);
    json::object rendered = RenderEntity(std::move(item.entity), ctx, opts);
    ApplyChanges(rendered, std::move(changes), change, ctx, names);
    if (projection) projection->Apply(rendered);
    data.emplace_back(std::move(rendered));
  }
  json::object out;
  out["id"] = notification_id;
  out["type"] = "Notification";
  if (const json::value* id = subscription.if_contains("id")) out["subscriptionId"] = *id;
  out["notifiedAt"] = util::FormatDateTime(notified_at_ms);
  if (WantsGeoJson(notification)) {
    // application/geo+json: data is a FeatureCollection, each geometry from "location".
    const std::string geometry = ctx.CompactIri(kLocationIri);
    json::array features;
    for (auto& item : data) features.emplace_back(GeoJsonFeature(std::move(item.as_object()), geometry));
    out["data"] = json::object{{"type", "FeatureCollection"}, {"features", std::move(features)}};
  } else {
    out["data"] = std::move(data);
  }
  return out;
}

}  // namespace cityhub::ngsild
