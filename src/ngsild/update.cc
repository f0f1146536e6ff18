// Update semantics. Every operation works instance by instance, keyed by (attribute name,
// datasetId); the default instance has no datasetId. The helpers below keep the system times
// right so that the operations above stay short.
#include "ngsild/update.h"

#include <algorithm>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

int64_t CreatedAtOf(const Instance& inst, int64_t fallback) {
  const auto* c = inst.if_contains("createdAt");
  return c && c->is_int64() ? c->get_int64() : fallback;
}

// Replaces `old` with `fresh`, keeping old's creation time.
void ReplaceInstance(Instance& old, Instance fresh) {
  int64_t created = CreatedAtOf(old, CreatedAtOf(fresh, 0));
  old = std::move(fresh);
  old["createdAt"] = created;
}

// Puts `inst` into `instances`: replaces the one with the same datasetId or appends.
// Returns false (and changes nothing) if one exists and `overwrite` is false.
bool Upsert(Instances& instances, Instance inst, bool overwrite) {
  std::string_view ds = DatasetIdOf(inst);
  for (auto& existing : instances) {
    if (DatasetIdOf(existing) == ds) {
      if (!overwrite) return false;
      ReplaceInstance(existing, std::move(inst));
      return true;
    }
  }
  instances.push_back(std::move(inst));
  return true;
}

// Removes the sub-attributes of `inst` that are deletion markers: nothing to delete in a new
// instance, and a marker must never be stored.
Instance WithoutNullMarkers(Instance inst) {
  for (auto it = inst.begin(); it != inst.end();) {
    if (!IsInstanceKeyword(it->key()) && it->value().is_object()) {
      if (IsNullMarker(it->value().get_object())) {
        it = inst.erase(it);
        continue;
      }
      it->value().get_object() = WithoutNullMarkers(std::move(it->value().get_object()));
    }
    ++it;
  }
  return inst;
}

// JSON Merge Patch (RFC 7396) of `patch` into `target`, with the NGSI-LD Null in place of
// JSON null (§5.5.12): members whose value is "urn:ngsi-ld:null" are removed, objects merge
// member by member, anything else replaces.
void MergePatch(json::object& target, const json::object& patch) {
  for (const auto& [key, val] : patch) {
    if (val.is_string() && val.get_string() == kNullMarker) {
      target.erase(key);
    } else if (auto* existing = target.if_contains(key); existing && existing->is_object() && val.is_object()) {
      MergePatch(existing->get_object(), val.get_object());
    } else {
      target[key] = val;
    }
  }
}

// True when a Property value is a JSON object that merges member by member (§5.5.12 EXAMPLE 2);
// a GeoJSON geometry is a whole and is replaced.
bool MergesMemberwise(const Instance& target, std::string_view key, const json::value& val) {
  const json::value* existing = target.if_contains(key);
  if (!existing || !existing->is_object() || !val.is_object()) return false;
  const AttrType type = AttrTypeOf(target);
  if (key == "languageMap") return type == AttrType::kLanguageProperty;
  return key == "value" && type == AttrType::kProperty;
}

// Merges the members of `frag` into `target` (Merge Entity / Partial Attribute Update rules).
// `deep` (Merge Entity, §5.5.12) merges JSON object values and languageMaps member by member;
// otherwise (Partial Attribute Update, §5.5.8) a value member is replaced whole.
void MergeInstance(Instance& target, const Instance& frag, int64_t now, bool deep) {
  // A fragment without "type" (e.g. only {"observedAt": …}) merges into any attribute type.
  if (frag.contains("type") && AttrTypeOf(frag) != AttrTypeOf(target)) {
    // A different attribute type cannot be merged member-wise: the fragment wins whole.
    ReplaceInstance(target, WithoutNullMarkers(frag));
    return;
  }
  for (const auto& [key, val] : frag) {
    if (key == "createdAt") continue;
    if (IsInstanceKeyword(key)) {
      if (deep && MergesMemberwise(target, key, val)) {
        MergePatch(target[key].get_object(), val.get_object());
      } else {
        target[key] = val;
      }
      continue;
    }
    if (!val.is_object()) continue;
    const Instance& sub = val.get_object();
    if (IsNullMarker(sub)) {
      target.erase(key);
    } else if (auto* existing = target.if_contains(key); existing && existing->is_object()) {
      MergeInstance(existing->get_object(), sub, now, deep);
    } else {
      target[key] = WithoutNullMarkers(sub);
    }
  }
  target["modifiedAt"] = now;
}

void EraseEmpty(Entity& e, const std::string& attr) {
  auto it = e.attrs.find(attr);
  if (it != e.attrs.end() && it->second.empty()) e.attrs.erase(it);
}

}  // namespace

// Puts one instance of an append or update into `e.attrs[name]`: an NGSI-LD Null deletes the
// instance with its datasetId, anything else replaces it (only if `overwrite`) or is appended.
// Returns why nothing changed, or "" when something did.
std::string PutInstance(Entity& e, const std::string& name, Instance inst, bool overwrite) {
  Instances& target = e.attrs[name];
  const std::string ds(DatasetIdOf(inst));
  const bool exists = std::any_of(target.begin(), target.end(), [&](const Instance& i) { return DatasetIdOf(i) == ds; });
  if (exists && !overwrite) return "attribute exists and options=noOverwrite was given";
  if (!IsNullMarker(inst)) {
    Upsert(target, std::move(inst), true);
    return "";
  }
  if (!exists) {
    return ds.empty() ? "NGSI-LD Null: the attribute has no default instance (without datasetId) to delete"
                      : "NGSI-LD Null: the attribute has no instance with that datasetId to delete";
  }
  std::erase_if(target, [&](const Instance& i) { return DatasetIdOf(i) == ds; });
  return "";
}

UpdateResult AppendAttributes(Entity& e, AttrMap attrs, bool no_overwrite, int64_t now_ms) {
  UpdateResult r;
  for (auto& [name, instances] : attrs) {
    bool any = false;
    std::string reason;
    for (auto& inst : instances) {
      std::string why = PutInstance(e, name, std::move(inst), !no_overwrite);
      if (why.empty()) {
        any = true;
      } else if (reason.empty()) {
        reason = std::move(why);
      }
    }
    if (any) {
      r.updated.push_back(name);
    } else {
      r.not_updated.emplace_back(name, std::move(reason));
    }
    EraseEmpty(e, name);
  }
  if (r.changed()) e.modified_at = now_ms;
  return r;
}

UpdateResult UpdateAttributes(Entity& e, AttrMap attrs, int64_t now_ms) {
  return AppendAttributes(e, std::move(attrs), /*no_overwrite=*/false, now_ms);
}

void MergeAttributes(Entity& e, AttrMap attrs, int64_t now_ms) {
  for (auto& [name, instances] : attrs) {
    for (auto& inst : instances) {
      std::string ds(DatasetIdOf(inst));
      Instance* existing = e.FindInstance(name, ds);
      if (IsNullMarker(inst)) {
        if (existing) {
          auto& list = e.attrs[name];
          std::erase_if(list, [&](const Instance& i) { return DatasetIdOf(i) == ds; });
          EraseEmpty(e, name);
        }
      } else if (existing) {
        MergeInstance(*existing, inst, now_ms, /*deep=*/true);
      } else {
        e.attrs[name].push_back(WithoutNullMarkers(std::move(inst)));
      }
    }
  }
  e.modified_at = now_ms;
}

Status PartialUpdateAttribute(Entity& e, const std::string& attr, Instances fragment, int64_t now_ms) {
  for (auto& frag : fragment) {
    Instance* existing = e.FindInstance(attr, DatasetIdOf(frag));
    if (!existing) {
      return Status::NotFound(DatasetIdOf(frag).empty()
                                  ? "the attribute has no default instance (without datasetId)"
                                  : "the attribute has no instance with that datasetId");
    }
    if (IsNullMarker(frag)) {
      return Status::BadRequestData(
          "a partial attribute update deletes sub-attributes, not the attribute itself (GS CIM 009 §5.6.4): "
          "use DELETE /entities/{entityId}/attrs/{attrId}");
    }
    if (frag.contains("type") && AttrTypeOf(frag) != AttrTypeOf(*existing)) {
      return Status::BadRequestData(fmt::format(
          "a partial attribute update cannot change the attribute's type (GS CIM 009 §5.6.4): it is a {}, the "
          "fragment a {}",
          AttrTypeName(AttrTypeOf(*existing)), AttrTypeName(AttrTypeOf(frag))));
    }
    MergeInstance(*existing, frag, now_ms, /*deep=*/false);
  }
  e.modified_at = now_ms;
  return Status::Ok();
}

Status ReplaceAttribute(Entity& e, const std::string& attr, Instances instances, int64_t now_ms) {
  auto it = e.attrs.find(attr);
  if (it == e.attrs.end()) return Status::NotFound("attribute does not exist");
  for (auto& inst : instances) Upsert(it->second, std::move(inst), true);
  e.modified_at = now_ms;
  return Status::Ok();
}

void SetScope(Entity& e, const json::value& scope, ScopeChange how) {
  if (scope.is_null() || (how == ScopeChange::kReplaceExisting && e.scope.is_null())) return;
  if (how != ScopeChange::kAdd || e.scope.is_null()) {
    e.scope = scope;
    return;
  }
  json::array all;
  auto add = [&](const json::value& s) {
    if (std::find(all.begin(), all.end(), s) == all.end()) all.push_back(s);
  };
  for (const json::value* v : std::initializer_list<const json::value*>{&e.scope, &scope}) {
    if (v->is_array()) {
      for (const auto& s : v->get_array()) add(s);
    } else {
      add(*v);
    }
  }
  e.scope = all.size() == 1 ? all.front() : json::value(std::move(all));
}

Status DeleteAttribute(Entity& e, const std::string& attr, const std::optional<std::string>& dataset_id,
                       bool delete_all) {
  if (attr == kScopeMember) {
    if (e.scope.is_null()) return Status::NotFound("the entity has no scope");
    e.scope = nullptr;
    return Status::Ok();
  }
  auto it = e.attrs.find(attr);
  if (it == e.attrs.end()) return Status::NotFound("attribute does not exist");
  if (delete_all) {
    e.attrs.erase(it);
    return Status::Ok();
  }
  std::string_view ds = dataset_id ? std::string_view(*dataset_id) : std::string_view();
  size_t erased = std::erase_if(it->second, [&](const Instance& i) { return DatasetIdOf(i) == ds; });
  if (erased == 0) {
    return Status::NotFound(ds.empty() ? "the attribute has no default instance (without datasetId)"
                                       : "the attribute has no instance with that datasetId");
  }
  EraseEmpty(e, attr);
  return Status::Ok();
}

}  // namespace cityhub::ngsild
