// Update semantics. Every operation works instance by instance, keyed by (attribute name,
// datasetId); the default instance has no datasetId. The helpers below keep the system times
// right so that the operations above stay short.
#include "ngsild/update.h"

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

// Merges the members of `frag` into `target` (Merge Entity / Partial Attribute Update rules).
void MergeInstance(Instance& target, const Instance& frag, int64_t now) {
  // A fragment without "type" (e.g. only {"observedAt": …}) merges into any attribute type.
  if (frag.contains("type") && AttrTypeOf(frag) != AttrTypeOf(target)) {
    // A different attribute type cannot be merged member-wise: the fragment wins whole.
    ReplaceInstance(target, WithoutNullMarkers(frag));
    return;
  }
  for (const auto& [key, val] : frag) {
    if (key == "createdAt") continue;
    if (IsInstanceKeyword(key)) {
      target[key] = val;
      continue;
    }
    if (!val.is_object()) continue;
    const Instance& sub = val.get_object();
    if (IsNullMarker(sub)) {
      target.erase(key);
    } else if (auto* existing = target.if_contains(key); existing && existing->is_object()) {
      MergeInstance(existing->get_object(), sub, now);
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

UpdateResult AppendAttributes(Entity& e, AttrMap attrs, bool no_overwrite, int64_t now_ms) {
  UpdateResult r;
  for (auto& [name, instances] : attrs) {
    Instances& target = e.attrs[name];
    bool any = false;
    for (auto& inst : instances) any |= Upsert(target, std::move(inst), !no_overwrite);
    if (any) {
      r.updated.push_back(name);
    } else {
      r.not_updated.emplace_back(name, "attribute exists and options=noOverwrite was given");
    }
    EraseEmpty(e, name);
  }
  if (r.changed()) e.modified_at = now_ms;
  return r;
}

UpdateResult UpdateAttributes(Entity& e, AttrMap attrs, int64_t now_ms) {
  UpdateResult r;
  for (auto& [name, instances] : attrs) {
    auto it = e.attrs.find(name);
    if (it == e.attrs.end()) {
      r.not_updated.emplace_back(name, "attribute does not exist");
      continue;
    }
    bool any = false;
    for (auto& inst : instances) {
      for (auto& existing : it->second) {
        if (DatasetIdOf(existing) == DatasetIdOf(inst)) {
          ReplaceInstance(existing, std::move(inst));
          any = true;
          break;
        }
      }
    }
    if (any) {
      r.updated.push_back(name);
    } else {
      r.not_updated.emplace_back(name, "no instance with that datasetId exists");
    }
  }
  if (r.changed()) e.modified_at = now_ms;
  return r;
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
        MergeInstance(*existing, inst, now_ms);
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
    if (IsNullMarker(frag)) {  // "urn:ngsi-ld:null" deletes the instance, as in merge
      std::string ds(DatasetIdOf(frag));
      std::erase_if(e.attrs[attr], [&](const Instance& i) { return DatasetIdOf(i) == ds; });
      EraseEmpty(e, attr);
    } else {
      MergeInstance(*existing, frag, now_ms);
    }
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

Status DeleteAttribute(Entity& e, const std::string& attr, const std::optional<std::string>& dataset_id,
                       bool delete_all) {
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
