// Entity Type Selection (GS CIM 009 §4.17): which entity types a query, an EntitySelector or a
// retrieval asks for — a disjunction of elements, each one type or a parenthesised
// conjunction of types: `Building|House`, `(Home;Vehicle),Motorhome`.
// Plain value; thread-safe once built.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ngsild/context.h"
#include "util/status.h"

namespace cityhub::ngsild {

class TypeSelection {
 public:
  // Parses `text` by the §4.17 grammar, expanding each type with `ctx`:
  //   EntityTypes  = OrEntityType *(orOp OrEntityType)      orOp = "|" / ","
  //   OrEntityType = "(" EntityType *(";" EntityType) ")" / EntityType
  // Each EntityType is a name (§4.6.2) or a URI. BadRequestData naming `where` and what is
  // wrong: an empty element, an unbalanced parenthesis, an invalid name.
  static Result<TypeSelection> Parse(std::string_view text, const Context& ctx, std::string_view where = "type");

  // Parses a selection written by ToString() with its types expanded (each must be a URI);
  // BadRequestData otherwise.
  static Result<TypeSelection> ParseExpanded(std::string_view text);

  // The selection in the §4.17 syntax, each type written as `name(type)` gives it:
  // "A", "A,B", "(A;B),C".
  std::string ToString(const std::function<std::string(const std::string&)>& name) const;

  // Adds the elements of `other` (one more disjunction).
  void Add(const TypeSelection& other);

  // True if `types` (expanded, any order) hold every type of some element.
  bool Matches(const std::vector<std::string>& types) const;

  // One type of each element, distinct: an entity that matches has at least one of them (the
  // types whose index a query reads).
  std::vector<std::string> IndexTypes() const;

  // True if every element is a single type (IndexTypes() then decides the match alone).
  bool IsPlainList() const;

  bool empty() const { return elements_.empty(); }
  // The elements: each a conjunction of expanded types.
  const std::vector<std::vector<std::string>>& elements() const { return elements_; }

 private:
  std::vector<std::vector<std::string>> elements_;
};

}  // namespace cityhub::ngsild
