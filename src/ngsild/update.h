// The NGSI-LD update semantics as pure operations on an Entity (GS CIM 009 §5.6): append,
// update, merge, partial attribute update, attribute replace and delete. Instances are matched
// by datasetId; a replaced instance keeps its createdAt and gets modifiedAt = now; any change
// sets the entity's modifiedAt. The broker loads, applies one of these, and stores. Thread-safe
// (no shared state).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "util/status.h"

namespace cityhub::ngsild {

// Which attributes an append or update changed, and which it did not and why.
struct UpdateResult {
  std::vector<std::string> updated;                              // expanded names
  std::vector<std::pair<std::string, std::string>> not_updated;  // expanded name, reason
  bool changed() const { return !updated.empty(); }
};

// Append Entity Attributes (§5.6.3): new attributes and instances are added; existing ones are
// replaced unless `no_overwrite`, in which case they are reported as not updated. An instance
// that is an NGSI-LD Null (only batch update and upsert pass them) deletes the instance with its
// datasetId, unless `no_overwrite`; with nothing to delete it is reported as not updated.
UpdateResult AppendAttributes(Entity& e, AttrMap attrs, bool no_overwrite, int64_t now_ms);

// Update Attributes (§5.6.2.4): "If the target Entity does not include a matching Attribute
// [...] then such Attribute shall be appended"; a matching instance (by datasetId) is replaced,
// or deleted when the fragment's value is an NGSI-LD Null. An NGSI-LD Null with no instance to
// delete is reported as not updated.
UpdateResult UpdateAttributes(Entity& e, AttrMap attrs, int64_t now_ms);

// How a request's `scope` changes the entity's.
enum class ScopeChange {
  kReplace,          // Append (overwrite allowed), Merge: the request's scope becomes the entity's
  kReplaceExisting,  // Update (§5.6.2.4): replaces the entity's scope only if it has one
  kAdd,              // Append with noOverwrite (§5.6.3.4): the request's scopes are added
};
// Applies the request's `scope` (null: none given) to `e` as `how` says.
void SetScope(Entity& e, const boost::json::value& scope, ScopeChange how);
// The name that addresses an entity's scope in Delete Attribute (§5.6.5.4).
inline constexpr std::string_view kScopeMember = "scope";

// Merge Entity (§5.6.17, §5.5.12): existing attributes are merged member by member
// (sub-attributes, JSON object values and languageMaps recursively), new ones added; an NGSI-LD
// Null deletes an attribute instance, a sub-attribute or a member. Also used for batch merge.
void MergeAttributes(Entity& e, AttrMap attrs, int64_t now_ms);

// Partial Attribute Update (§5.6.4): merges `fragment` into the existing instance of `attr` with
// the fragment's datasetId, member by member (a value member is replaced whole, §5.5.8); an
// NGSI-LD Null deletes a sub-attribute. NotFound if that attribute instance does not exist; BadRequestData if the
// fragment would delete the whole instance or change the attribute's type.
Status PartialUpdateAttribute(Entity& e, const std::string& attr, Instances fragment, int64_t now_ms);

// Replace Attribute (§5.6.19): replaces the instance with the same datasetId. NotFound if the
// attribute does not exist.
Status ReplaceAttribute(Entity& e, const std::string& attr, Instances instances, int64_t now_ms);

// Delete Attribute (§5.6.5): deletes the default instance, the one with `dataset_id`, or all
// instances with `delete_all`; `attr` kScopeMember removes the entity's scope. NotFound if
// nothing matched.
Status DeleteAttribute(Entity& e, const std::string& attr, const std::optional<std::string>& dataset_id,
                       bool delete_all);

}  // namespace cityhub::ngsild
