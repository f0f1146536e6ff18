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
// replaced unless `no_overwrite`, in which case they are reported as not updated.
UpdateResult AppendAttributes(Entity& e, AttrMap attrs, bool no_overwrite, int64_t now_ms);

// Update Entity Attributes (§5.6.2): only attributes (instances, by datasetId) that exist are
// replaced; the others are reported as not updated.
UpdateResult UpdateAttributes(Entity& e, AttrMap attrs, int64_t now_ms);

// Merge Entity (§5.6.17): existing attributes are merged member by member (sub-attributes
// recursively), new ones added; the value "urn:ngsi-ld:null" deletes an attribute or
// sub-attribute. Also used for batch merge.
void MergeAttributes(Entity& e, AttrMap attrs, int64_t now_ms);

// Partial Attribute Update (§5.6.4): merges `fragment` into the existing instance of `attr` with
// the fragment's datasetId. NotFound if that attribute instance does not exist.
Status PartialUpdateAttribute(Entity& e, const std::string& attr, Instances fragment, int64_t now_ms);

// Replace Attribute (§5.6.19): replaces the instance with the same datasetId. NotFound if the
// attribute does not exist.
Status ReplaceAttribute(Entity& e, const std::string& attr, Instances instances, int64_t now_ms);

// Delete Attribute (§5.6.5): deletes the default instance, the one with `dataset_id`, or all
// instances with `delete_all`. NotFound if nothing matched.
Status DeleteAttribute(Entity& e, const std::string& attr, const std::optional<std::string>& dataset_id,
                       bool delete_all);

}  // namespace cityhub::ngsild
