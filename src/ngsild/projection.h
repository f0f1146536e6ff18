// Projection (GS CIM 009 §4.21): the `pick` and `omit` lists of Entity members — "id", "type",
// "scope" or an Attribute name — that reduce an entity as rendered for a client. Used by entity
// retrieval, the entity and temporal queries and subscriptions' notification.pick / omit.
// Plain values; thread-safe once built.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "ngsild/context.h"
#include "util/status.h"

namespace cityhub::ngsild {

// One projection list as written, parsed by the §4.21 grammar:
//   ProjectionTerm   = AttrName *1(LinkedEntityTerm) *(orOp ProjectionTerm)
//   LinkedEntityTerm = "{" ProjectionTerm "}"        orOp = "|" / ","
struct ProjectionList {
  std::vector<std::string> members;  // the top-level names, in order
  bool linked = false;               // some term names Linked Entity attributes (`rel{attr}`)
};

// Parses `text`; `param` names it in errors. BadRequestData for an empty list or item, an
// unbalanced brace or an invalid name.
Result<ProjectionList> ParseProjectionList(std::string_view text, std::string_view param);

class Projection {
 public:
  // Builds the projection of `pick` and `omit` (null: not given) with the reader's @context.
  // nullopt when neither is given. BadRequestData for a list ParseProjectionList refuses, a
  // member both picked and omitted, or a Linked Entity term (the caller retrieves no Linked
  // Entities, so §5.7.1.4 makes it an error); `where` prefixes the messages ("parameter ",
  // "notification.").
  static Result<std::optional<Projection>> Make(const std::string* pick, const std::string* omit, const Context& ctx,
                                                std::string_view where = "parameter ");
  // As Make(), from lists already split (a subscription's JSON arrays).
  static Result<std::optional<Projection>> Make(const std::optional<std::vector<std::string>>& pick,
                                                const std::optional<std::vector<std::string>>& omit,
                                                const Context& ctx, std::string_view where);

  // Removes from a rendered entity (any format) the members not picked and those omitted.
  void Apply(boost::json::object& rendered) const;

  // The expanded Attribute names picked ("id", "type", "scope" left out); empty when `pick`
  // names none (or is not given).
  const std::set<std::string>& PickedAttributes() const { return picked_attrs_; }

 private:
  std::optional<std::set<std::string>> keep_;  // rendered names; nullopt: no pick
  std::set<std::string> drop_;                 // rendered names
  std::set<std::string> picked_attrs_;         // expanded IRIs
};

}  // namespace cityhub::ngsild
