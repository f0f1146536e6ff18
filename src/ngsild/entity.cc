// Entity model basics: attribute type names, instance helpers, the storage serialization and
// the URI / name checks used wherever input is validated.
//
// The storage document is the internal model written as JSON with expanded names:
//   {"id": …, "type": [IRI…], "scope": …, "expiresAt": ms and
//    "expiresAtFraction": [digits, sub-ms ns] (transient entities only; the fraction when not .mmm),
//    "createdAt": ms, "modifiedAt": ms,
//    "attrs": {IRI: [instance…]}}
// Keeping the stored form expanded makes it independent of any client's @context: every read
// compacts with the reader's own context.
#include "ngsild/entity.h"

#include <algorithm>
#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "util/json.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

struct AttrTypeInfo {
  AttrType type;
  std::string_view name;
  std::string_view member;
};
constexpr AttrTypeInfo kAttrTypes[] = {
    {AttrType::kProperty, "Property", "value"},
    {AttrType::kRelationship, "Relationship", "object"},
    {AttrType::kGeoProperty, "GeoProperty", "value"},
    {AttrType::kLanguageProperty, "LanguageProperty", "languageMap"},
    {AttrType::kVocabProperty, "VocabProperty", "vocab"},
    {AttrType::kJsonProperty, "JsonProperty", "json"},
    {AttrType::kListProperty, "ListProperty", "valueList"},
    {AttrType::kListRelationship, "ListRelationship", "objectList"},
};

constexpr std::string_view kInstanceKeywords[] = {
    "type",       "value",      "object",    "objectType", "languageMap", "vocab",
    "json",       "valueList",  "objectList", "observedAt", "unitCode",   "datasetId",
    "createdAt",  "modifiedAt", "deletedAt", "instanceId", "lang",       "previousValue"};

}  // namespace

std::string_view AttrTypeName(AttrType t) {
  for (const auto& i : kAttrTypes) {
    if (i.type == t) return i.name;
  }
  return "Property";
}

std::string_view AttrValueMember(AttrType t) {
  for (const auto& i : kAttrTypes) {
    if (i.type == t) return i.member;
  }
  return "value";
}

std::optional<AttrType> ParseAttrTypeName(std::string_view name) {
  for (const auto& i : kAttrTypes) {
    if (i.name == name) return i.type;
  }
  // v1.8 renamed VocabularyProperty to VocabProperty; accept both spellings on input.
  if (name == "VocabularyProperty") return AttrType::kVocabProperty;
  return std::nullopt;
}

Instance* Entity::FindInstance(const std::string& attr, std::string_view dataset_id) {
  auto it = attrs.find(attr);
  if (it == attrs.end()) return nullptr;
  for (auto& inst : it->second) {
    if (DatasetIdOf(inst) == dataset_id) return &inst;
  }
  return nullptr;
}

std::vector<std::string> Entity::AttributeNames() const {
  std::vector<std::string> names;
  names.reserve(attrs.size());
  for (const auto& [name, _] : attrs) names.push_back(name);
  return names;
}

bool Entity::SetExpiresAt(const ExpiresAt& at) {
  if (expires_at == at.ms && expires_fraction == at.fraction) return false;
  expires_at = at.ms;
  expires_fraction = at.fraction;
  return true;
}

void Entity::AddTypes(const std::vector<std::string>& more) {
  for (const auto& t : more) {
    if (std::find(types.begin(), types.end(), t) == types.end()) types.push_back(t);
  }
}

std::string_view DatasetIdOf(const Instance& inst) {
  auto it = inst.find("datasetId");
  if (it == inst.end() || !it->value().is_string()) return {};
  return it->value().get_string();
}

Result<std::set<std::string>> ParseDatasetSelection(const std::vector<std::string>& items, std::string_view where) {
  if (items.empty()) return Status::BadRequestData(fmt::format("{}: at least one datasetId (a URI, or @none) is needed", where));
  std::set<std::string> selection;
  for (const auto& item : items) {
    if (item == "@none") {
      selection.emplace();
    } else if (IsUri(item)) {
      selection.insert(item);
    } else {
      return Status::BadRequestData(fmt::format("{}: '{}' is neither a URI nor @none", where, item.substr(0, 100)));
    }
  }
  return selection;
}

void KeepDatasets(Entity& e, const std::set<std::string>& selection) {
  for (auto it = e.attrs.begin(); it != e.attrs.end();) {
    std::erase_if(it->second, [&](const Instance& inst) { return !selection.count(std::string(DatasetIdOf(inst))); });
    it = it->second.empty() ? e.attrs.erase(it) : std::next(it);
  }
}

AttrType AttrTypeOf(const Instance& inst) {
  auto it = inst.find("type");
  if (it != inst.end() && it->value().is_string()) {
    if (auto t = ParseAttrTypeName(it->value().get_string())) return *t;
  }
  return AttrType::kProperty;
}

bool IsInstanceKeyword(std::string_view member) {
  for (auto k : kInstanceKeywords) {
    if (k == member) return true;
  }
  return false;
}

std::string SerializeEntity(const Entity& e) {
  // Streamed straight into the text: building a DOM first would copy every instance.
  std::string out;
  out.reserve(256 + 128 * e.attrs.size());
  out.append("{\"id\":");
  util::AppendJsonString(out, e.id);
  out.append(",\"type\":[");
  for (size_t i = 0; i < e.types.size(); ++i) {
    if (i) out.push_back(',');
    util::AppendJsonString(out, e.types[i]);
  }
  out.push_back(']');
  if (!e.scope.is_null()) {
    out.append(",\"scope\":");
    util::AppendJson(out, e.scope);
  }
  if (!e.owner.empty()) {
    out.append(",\"owner\":");
    util::AppendJsonString(out, e.owner);
  }
  if (e.expires_at != 0) {
    out.append(fmt::format(",\"expiresAt\":{}", e.expires_at));
    if (e.expires_fraction != util::TimeFraction{}) {
      out.append(fmt::format(",\"expiresAtFraction\":[{},{}]", e.expires_fraction.digits, e.expires_fraction.sub_ms_ns));
    }
  }
  out.append(fmt::format(",\"createdAt\":{},\"modifiedAt\":{},\"attrs\":{{", e.created_at, e.modified_at));
  bool first = true;
  for (const auto& [name, instances] : e.attrs) {
    if (!first) out.push_back(',');
    first = false;
    util::AppendJsonString(out, name);
    out.append(":[");
    for (size_t i = 0; i < instances.size(); ++i) {
      if (i) out.push_back(',');
      util::AppendJson(out, instances[i]);
    }
    out.push_back(']');
  }
  out.append("}}");
  return out;
}

Result<Entity> DeserializeEntity(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = kStoredMaxDepth;
  json::value v = util::ParseJson(text, opts, ec);
  if (ec || !v.is_object()) return Status::Internal("stored entity document is corrupt");
  json::object& doc = v.get_object();
  Entity e;
  const auto* id = doc.if_contains("id");
  const auto* types = doc.if_contains("type");
  json::value* attrs = doc.if_contains("attrs");  // not const: its instances are moved out
  if (!id || !id->is_string() || !types || !types->is_array() || !attrs || !attrs->is_object()) {
    return Status::Internal("stored entity document lacks id, type or attrs");
  }
  e.id = std::string(id->get_string());
  for (const auto& t : types->get_array()) {
    if (t.is_string()) e.types.emplace_back(t.get_string());
  }
  if (const auto* s = doc.if_contains("scope")) e.scope = *s;
  if (const auto* o = doc.if_contains("owner"); o && o->is_string()) e.owner = std::string(o->get_string());
  if (const auto* c = doc.if_contains("createdAt"); c && c->is_int64()) e.created_at = c->get_int64();
  if (const auto* m = doc.if_contains("modifiedAt"); m && m->is_int64()) e.modified_at = m->get_int64();
  if (const auto* x = doc.if_contains("expiresAt"); x && x->is_int64()) e.expires_at = x->get_int64();
  if (const auto* f = doc.if_contains("expiresAtFraction"); f && f->is_array() && f->get_array().size() == 2) {
    const auto& parts = f->get_array();
    if (parts[0].is_int64() && parts[1].is_int64()) {
      e.expires_fraction = {static_cast<uint8_t>(parts[0].get_int64()), static_cast<uint32_t>(parts[1].get_int64())};
    }
  }
  for (auto& [name, arr] : attrs->get_object()) {
    if (!arr.is_array()) return Status::Internal("stored entity document has a malformed attribute");
    Instances instances;
    instances.reserve(arr.get_array().size());
    for (auto& inst : arr.get_array()) {
      if (!inst.is_object()) return Status::Internal("stored entity document has a malformed attribute");
      instances.push_back(std::move(inst.get_object()));
    }
    e.attrs.emplace(std::string(name), std::move(instances));
  }
  return e;
}

namespace {

// Characters a URI (outside the scheme) and a name may not hold, one table each: ids and names
// are checked for every attribute of every entity read or written, so a lookup beats a chain
// of comparisons.
struct Forbidden {
  bool in_uri[256] = {};
  bool in_name[256] = {};
  constexpr Forbidden() {
    for (int c = 0; c <= 0x20; ++c) in_uri[c] = in_name[c] = true;
    in_uri[0x7f] = in_name[0x7f] = true;
    for (unsigned char c : std::string_view("<>\"\\{}|^`")) in_uri[c] = true;
    for (unsigned char c : std::string_view("<>\"'=;()\\")) in_name[c] = true;
  }
};
constexpr Forbidden kForbidden;

}  // namespace

bool IsUri(std::string_view s) {
  if (s.size() < 3 || s.size() > 2048) return false;
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    char c = s[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  for (unsigned char c : s) {
    if (kForbidden.in_uri[c]) return false;
  }
  return true;
}

bool IsValidName(std::string_view s) {
  if (s.empty() || s.size() > 512) return false;
  for (unsigned char c : s) {
    if (kForbidden.in_name[c]) return false;
  }
  return true;
}

}  // namespace cityhub::ngsild
