// Notification payloads: the entity rendering of render.cc, driven by the subscription's
// notification parameters, plus the previous values of showChanges.
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

// "previousValue", "previousObject", "previousLanguageMap", … for an attribute type.
std::string PreviousMember(AttrType type) {
  std::string member(AttrValueMember(type));
  member[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(member[0])));
  return "previous" + member;
}

// The previous value of each changed single-instance attribute of `after` (expanded name ->
// member name and value), for showChanges.
std::vector<std::pair<std::string, json::object>> PreviousValues(const Entity& after, const Entity& before,
                                                                 const std::set<std::string>* attrs) {
  std::vector<std::pair<std::string, json::object>> out;
  for (const auto& [name, instances] : after.attrs) {
    if (attrs && !attrs->count(name)) continue;
    auto it = before.attrs.find(name);
    if (it == before.attrs.end() || it->second == instances) continue;
    if (it->second.size() != 1 || instances.size() != 1) continue;  // multi-instance: not paired here
    const Instance& old = it->second.front();
    const AttrType type = AttrTypeOf(old);
    const json::value* value = old.if_contains(AttrValueMember(type));
    if (!value) continue;
    json::object previous;
    previous[PreviousMember(type)] = *value;
    out.emplace_back(name, std::move(previous));
  }
  return out;
}

// The attributes `before` had and `after` has not (§5.8.6: notified as deleted), with the value
// that says so: "urn:ngsi-ld:null" bare for keyValues and concise, else {"type", <value member>:
// "urn:ngsi-ld:null"} ({"@none": …} for a languageMap).
std::vector<std::pair<std::string, json::value>> DeletedAttributes(const Entity& after, const Entity& before,
                                                                   const std::set<std::string>* attrs, Format format) {
  std::vector<std::pair<std::string, json::value>> out;
  for (const auto& [name, instances] : before.attrs) {
    if (after.attrs.count(name) || instances.empty() || (attrs && !attrs->count(name))) continue;
    if (format != Format::kNormalized) {
      out.emplace_back(name, json::value(kNullMarker));
      continue;
    }
    const AttrType type = AttrTypeOf(instances.front());
    const std::string_view member = AttrValueMember(type);
    json::object marker;
    marker["type"] = AttrTypeName(type);
    marker[member] = type == AttrType::kLanguageProperty ? json::value(json::object{{"@none", kNullMarker}})
                                                         : json::value(kNullMarker);
    out.emplace_back(name, std::move(marker));
  }
  return out;
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
  const bool show_changes = BoolMember(notification, "showChanges") && opts.format != Format::kKeyValues;

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
    if (datasets && !item.deleted) {
      KeepDatasets(item.entity, *datasets);
      if (item.previous) {
        KeepDatasets(previous_selected.emplace_back(*item.previous), *datasets);
        item.previous = &previous_selected.back();
      }
    }
    if (item.deleted) {
      json::object gone;
      gone["id"] = item.entity.id;
      gone["type"] = TypesOf(item.entity, ctx);
      gone["deletedAt"] = util::FormatDateTime(item.deleted_at_ms);
      data.emplace_back(std::move(gone));
      continue;
    }
    std::vector<std::pair<std::string, json::value>> deleted;
    if (item.previous) deleted = DeletedAttributes(item.entity, *item.previous, opts.attrs, opts.format);
    std::vector<std::pair<std::string, json::object>> previous;
    std::vector<AttrType> previous_types;
    if (show_changes && item.previous) {
      previous = PreviousValues(item.entity, *item.previous, opts.attrs);
      for (const auto& [name, unused] : previous) previous_types.push_back(AttrTypeOf(item.entity.attrs.at(name).front()));
    }
    json::object rendered = RenderEntity(std::move(item.entity), ctx, opts);
    for (size_t i = 0; i < previous.size(); ++i) {
      json::value* attr = rendered.if_contains(names.Compact(previous[i].first, ctx));
      if (!attr) continue;
      // Concise renders some attributes bare (a scalar, or a GeoProperty's geometry): wrap them.
      const bool bare = !attr->is_object() ||
                        (opts.format == Format::kConcise && previous_types[i] == AttrType::kGeoProperty &&
                         attr->get_object().contains("coordinates"));
      if (bare) *attr = json::object{{"value", std::move(*attr)}};
      for (auto& [member, value] : previous[i].second) attr->get_object()[member] = std::move(value);
    }
    for (auto& [name, marker] : deleted) rendered[names.Compact(name, ctx)] = std::move(marker);
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
