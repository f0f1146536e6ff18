// Rendering: the inverse of parse.cc.
//
// Normalized output is the stored instance with sub-attribute names and vocabulary terms
// compacted and system times formatted. Concise output drops what the reader can infer (the
// attribute type) and renders a bare value where that is unambiguous: scalars for Properties
// and the bare geometry for GeoProperties; objects and arrays stay wrapped in {"value": …} so
// that sending the concise form back parses to the same entity. keyValues keeps one value per
// attribute (an array of values for multi-instance attributes).
#include "ngsild/render.h"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "ngsild/parse.h"
#include "util/time.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

bool IsSysTime(std::string_view m) { return m == "createdAt" || m == "modifiedAt"; }

// The client-facing name of an attribute (`sub` false) or sub-attribute IRI: its compact form,
// unless that collides with a member the entity (id, type, scope, …) or the attribute (value,
// observedAt, datasetId, …) itself uses, as when a @context maps a term onto such a word; then
// the IRI itself.
std::string Compact(std::string_view iri, const Context& ctx, const RenderOptions& opts) {
  return opts.names ? opts.names->Compact(iri, ctx) : ctx.CompactIri(iri);
}

std::string NameOf(const std::string& iri, const Context& ctx, const RenderOptions& opts, bool sub) {
  std::string name = Compact(iri, ctx, opts);
  if (sub ? IsInstanceKeyword(name) : IsEntityKeyword(name)) return iri;
  return name;
}

// What parse.cc infers to be a GeoProperty value: an object with a string "type" and
// "coordinates" (the parser checks the type name; being broader here only keeps "type").
bool LooksLikeGeometry(const json::value& v) {
  if (!v.is_object()) return false;
  const auto* t = v.get_object().if_contains("type");
  return t && t->is_string() && v.get_object().contains("coordinates");
}

json::value CompactVocab(json::value& v, const Context& ctx, const RenderOptions& opts) {
  if (v.is_string()) return json::value(Compact(v.get_string(), ctx, opts));
  if (v.is_array()) {
    json::array out;
    for (auto& item : v.get_array()) {
      out.push_back(item.is_string() ? json::value(Compact(item.get_string(), ctx, opts)) : std::move(item));
    }
    return out;
  }
  return std::move(v);
}

// The client-facing value of an instance's value member (vocab and objectList adjusted),
// moved out of the instance.
json::value ValueOf(Instance& inst, AttrType type, const Context& ctx, const RenderOptions& opts, bool simplified) {
  auto* v = inst.if_contains(AttrValueMember(type));
  if (!v) return nullptr;
  if (type == AttrType::kVocabProperty) return CompactVocab(*v, ctx, opts);
  if (type == AttrType::kListRelationship && simplified && v->is_array()) {
    json::array ids;
    for (auto& item : v->get_array()) {
      if (auto* o = item.is_object() ? item.get_object().if_contains("object") : nullptr) ids.push_back(std::move(*o));
    }
    return ids;
  }
  return std::move(*v);
}

// The renderings below consume the instance: its values are moved into the output.
json::object Normalized(Instance& inst, const Context& ctx, const RenderOptions& opts) {
  json::object out;
  out.reserve(inst.size());
  for (auto& [key, val] : inst) {
    if (IsSysTime(key)) {
      if (opts.sys_attrs && val.is_int64()) out[key] = util::FormatDateTime(val.get_int64());
    } else if (key == "vocab" || key == "objectType") {
      out[key] = CompactVocab(val, ctx, opts);
    } else if (IsInstanceKeyword(key)) {
      out[key] = std::move(val);
    } else if (val.is_object()) {
      out[NameOf(key, ctx, opts, true)] = Normalized(val.get_object(), ctx, opts);
    }
  }
  return out;
}

json::value Concise(Instance& inst, const Context& ctx, const RenderOptions& opts,
                    bool force_object) {
  AttrType type = AttrTypeOf(inst);
  std::string_view member = AttrValueMember(type);
  json::object out;
  bool extras = false;
  for (auto& [key, val] : inst) {
    if (key == "type") continue;
    if (IsSysTime(key)) {
      if (opts.sys_attrs && val.is_int64()) {
        out[key] = util::FormatDateTime(val.get_int64());
        extras = true;
      }
    } else if (key == member) {
      out[key] = type == AttrType::kVocabProperty ? CompactVocab(val, ctx, opts) : std::move(val);
    } else if (key == "objectType") {
      out[key] = CompactVocab(val, ctx, opts);
      extras = true;
    } else if (IsInstanceKeyword(key)) {
      out[key] = std::move(val);
      extras = true;
    } else if (val.is_object()) {
      out[NameOf(key, ctx, opts, true)] = Concise(val.get_object(), ctx, opts, false);
      extras = true;
    }
  }
  const json::value& v = out[member];
  if (!extras && !force_object) {
    if (type == AttrType::kGeoProperty) return v;
    if (type == AttrType::kProperty && !v.is_object() && !v.is_array()) return v;
  }
  // A Property whose value looks like a geometry would be read back as a GeoProperty.
  if (type == AttrType::kProperty && LooksLikeGeometry(v)) out["type"] = "Property";
  return out;
}

json::value Simplified(Instance& inst, const Context& ctx, const RenderOptions& opts) {
  return ValueOf(inst, AttrTypeOf(inst), ctx, opts, true);
}

bool SameTag(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The languageMap entry `lang` prefers (see RenderOptions::lang), or null if the map is empty.
const json::key_value_pair* PreferredLanguage(const json::object& map, const std::vector<std::string>& lang) {
  if (map.empty()) return nullptr;
  auto prefix_of = [](std::string_view range, std::string_view tag) {
    return tag.size() > range.size() && tag[range.size()] == '-' && SameTag(tag.substr(0, range.size()), range);
  };
  for (const auto& range : lang) {
    if (range == "*") return &*map.begin();
    for (const auto& entry : map) {
      if (SameTag(entry.key(), range)) return &entry;
    }
    for (const auto& entry : map) {
      if (prefix_of(range, entry.key())) return &entry;
    }
  }
  for (const auto& entry : map) {
    if (entry.key() == "@none") return &entry;
  }
  return &*map.begin();
}

// A LanguageProperty narrowed to one language: a Property with "value" and "lang".
Instance OneLanguage(Instance& inst, const std::vector<std::string>& lang) {
  Instance out;
  for (auto& [key, val] : inst) {
    if (key == "languageMap") {
      const json::key_value_pair* chosen = val.is_object() ? PreferredLanguage(val.get_object(), lang) : nullptr;
      if (!chosen) continue;
      out["value"] = chosen->value();
      if (chosen->key() != "@none") out["lang"] = chosen->key();
    } else {
      out[key] = std::move(val);
    }
  }
  out["type"] = "Property";
  return out;
}

}  // namespace

namespace {

// Renders one attribute's instances, consuming them.
json::value RenderInstances(Instances& instances, const Context& ctx, const RenderOptions& opts) {
  auto one = [&](Instance& stored, bool multi) -> json::value {
    Instance narrowed;
    Instance* chosen = &stored;
    if (opts.lang && AttrTypeOf(stored) == AttrType::kLanguageProperty) {
      narrowed = OneLanguage(stored, *opts.lang);
      chosen = &narrowed;
    }
    Instance& inst = *chosen;
    switch (opts.format) {
      case Format::kNormalized:
        return Normalized(inst, ctx, opts);
      case Format::kConcise:
        return Concise(inst, ctx, opts, multi);
      case Format::kKeyValues:
        return Simplified(inst, ctx, opts);
    }
    return nullptr;
  };
  if (instances.size() == 1) return one(instances.front(), false);
  json::array arr;
  arr.reserve(instances.size());
  for (auto& inst : instances) arr.push_back(one(inst, true));
  return arr;
}

}  // namespace

namespace {

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An RFC 9110 qvalue: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"], in thousandths; -1 if invalid.
int QValue(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return -1;
  int whole = v[0] - '0';
  std::string_view frac;
  if (v.size() > 1) {
    if (v[1] != '.' || v.size() > 5) return -1;
    frac = v.substr(2);
  }
  int thousandths = 0;
  for (size_t i = 0; i < 3; ++i) {
    char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return -1;
    thousandths = thousandths * 10 + (c - '0');
  }
  if (whole == 1 && thousandths != 0) return -1;
  return whole * 1000 + thousandths;
}

bool IsLanguageTag(std::string_view tag) {
  return !tag.empty() && tag.size() <= 35 && tag.front() != '-' && tag.back() != '-' &&
         std::all_of(tag.begin(), tag.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

}  // namespace

Result<std::vector<std::string>> ParseLanguageFilter(std::string_view text) {
  std::vector<std::pair<int, std::string>> weighted;
  for (size_t start = 0; start <= text.size();) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = TrimSpaces(text.substr(start, comma - start));
    start = comma + 1;
    std::string_view tag = item;
    int q = 1000;
    if (size_t semi = item.find(';'); semi != std::string_view::npos) {
      tag = TrimSpaces(item.substr(0, semi));
      std::string_view param = TrimSpaces(item.substr(semi + 1));
      if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=' ||
          (q = QValue(param.substr(2))) < 0) {
        return Status::BadRequestData(fmt::format("'{}' has no valid weight (';q=' and 0 to 1 with up to 3 decimals)",
                                                  item.substr(0, 64)));
      }
    }
    if (item.empty()) return Status::BadRequestData("empty item in the list");
    if (tag != "*" && !IsLanguageTag(tag)) {
      return Status::BadRequestData(fmt::format("'{}' is not a language tag", tag.substr(0, 40)));
    }
    if (q > 0) weighted.emplace_back(q, std::string(tag));
  }
  std::stable_sort(weighted.begin(), weighted.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (auto& [q, tag] : weighted) out.push_back(std::move(tag));
  return out;
}

const std::string& NameCache::Compact(std::string_view iri, const Context& ctx) {
  auto it = names_.find(iri);
  if (it == names_.end()) it = names_.emplace(std::string(iri), ctx.CompactIri(iri)).first;
  return it->second;
}

json::value RenderAttribute(const Instances& instances, const Context& ctx, const RenderOptions& opts) {
  Instances copy = instances;
  return RenderInstances(copy, ctx, opts);
}

json::object RenderEntity(Entity&& e, const Context& ctx, const RenderOptions& opts) {
  json::object out;
  out.reserve(e.attrs.size() + 5);
  out["id"] = e.id;
  if (e.types.size() == 1) {
    out["type"] = Compact(e.types.front(), ctx, opts);
  } else {
    json::array types;
    for (const auto& t : e.types) types.emplace_back(Compact(t, ctx, opts));
    out["type"] = std::move(types);
  }
  if (!e.scope.is_null()) out["scope"] = std::move(e.scope);
  if (e.expires_at != 0) out["expiresAt"] = util::FormatDateTime(e.expires_at, e.expires_fraction);
  if (opts.sys_attrs) {
    out["createdAt"] = util::FormatDateTime(e.created_at);
    out["modifiedAt"] = util::FormatDateTime(e.modified_at);
  }
  for (auto& [name, instances] : e.attrs) {
    if (opts.attrs && !opts.attrs->count(name)) continue;
    if (instances.empty()) continue;
    out[NameOf(name, ctx, opts, false)] = RenderInstances(instances, ctx, opts);
  }
  return out;
}

json::object RenderEntity(const Entity& e, const Context& ctx, const RenderOptions& opts) {
  Entity copy = e;
  return RenderEntity(std::move(copy), ctx, opts);
}

namespace {

// The geometry held by a rendered attribute in any representation, or null if it holds none.
json::value GeometryOf(const json::value* attr) {
  if (attr && attr->is_array() && !attr->get_array().empty()) attr = &attr->get_array()[0];
  if (!attr || !attr->is_object()) return nullptr;
  const json::object& o = attr->get_object();
  const json::value* v = o.if_contains("value");
  const json::object* geometry = v ? v->if_object() : &o;  // normalized / keyValues, concise
  bool is_geometry = geometry && (geometry->contains("coordinates") || geometry->contains("geometries"));
  return is_geometry ? json::value(*geometry) : json::value(nullptr);
}

}  // namespace

json::object GeoJsonFeature(json::object rendered, const std::string& geometry_attr) {
  json::object feature;
  feature["id"] = rendered["id"];
  feature["type"] = "Feature";
  feature["geometry"] = GeometryOf(rendered.if_contains(geometry_attr));
  rendered.erase("id");
  feature["properties"] = std::move(rendered);
  return feature;
}

}  // namespace cityhub::ngsild
