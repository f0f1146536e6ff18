// VisibleCatalogue: the entity types and attributes of a tenant as one caller sees them, for
// /types and /attributes when an EntityView restricts what the caller reads.
//
// The store's type and attribute indexes count every entity. A restricted caller's answer may
// count only the entities it may see and name only the attributes it may read on them (in
// clear or as pseudonyms), or the catalogue itself would tell what the rules withhold — how many
// entities an id pattern hides, which attributes a deny covers. Rules depend on ids, owners
// and values' kinds, so the scanner reads the entities: one pass over the candidate types, each
// entity decoded once and judged by the view. That costs O(entities of those types) per request;
// callers without a view keep the index answers, which cost nothing of the kind.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/entity_view.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

struct VisibleType {
  uint64_t entities = 0;                                    // visible entities of the type
  std::map<std::string, std::set<std::string>> attributes;  // readable attribute -> its attribute types
};

struct VisibleAttribute {
  uint64_t entities = 0;             // visible entities on which it is readable
  std::set<std::string> types;       // the types of those entities
  std::set<std::string> attr_types;  // "Property", "Relationship", …
};

// Names are expanded IRIs; every type of a visible entity is listed, even if it was not asked for.
struct VisibleCatalogue {
  std::map<std::string, VisibleType> types;
  std::map<std::string, VisibleAttribute> attributes;
};

// Reads catalogues from the store. Thread-safe; holds nothing but the store.
class CatalogueScanner {
 public:
  explicit CatalogueScanner(store::Store& store) : store_(store) {}

  // What `view` shows of the entities of `tenant` having any of `types` (none if empty) and, if
  // `carrying` is not empty, that type too. With `presence_only` an entity is read only if it
  // carries a type not yet named: the result names every type of a visible entity (other types
  // of a multi-typed one included), and its counts and attributes are incomplete. NotFound for
  // an unknown tenant, BadRequestData for an invalid tenant name, store errors as they come.
  Result<VisibleCatalogue> Scan(std::string_view tenant, const std::vector<std::string>& types, const EntityView& view,
                                bool presence_only, std::string_view carrying = {}) const;

 private:
  store::Store& store_;
};

}  // namespace cityhub::broker
