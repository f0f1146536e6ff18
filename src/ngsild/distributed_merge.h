// Merging what a distributed operation gathered (GS CIM 009 §4.3.6): the hub's own entities and
// those its context sources answered become one answer, by the rules of the sources'
// registration modes (§4.3.6.2) and of multi-attributes (§4.5.5). Pure functions over values,
// no I/O; thread-safe.
//
// The rules, in the order they apply to one entity id:
//  1. Local data first, then the sources in the order given (the registrations' order).
//  2. Exclusive and redirect sources that returned the entity are authoritative for their
//     attributes (those of their registration, whether they returned them or not; every
//     attribute they returned when it names none): the hub's own instances of such an attribute
//     are dropped before the sources' are merged in. A source that did not answer takes nothing
//     over.
//  3. Instances of one attribute with different datasetIds are all kept (§4.5.5); of instances
//     with the same datasetId (or both the default instance) one is kept: the one observed most
//     recently (observedAt), else — when neither has observedAt — the one modified most recently
//     (modifiedAt, present when system attributes were asked for), else the one merged first. An
//     instance with observedAt is preferred to one without.
//  4. Auxiliary sources only fill gaps: an attribute is taken from them only when neither the
//     hub nor any other source returned it, and an entity only when nobody else returned it.
//  5. Types and scopes are united; createdAt is the earliest, modifiedAt the latest.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "util/status.h"

namespace cityhub::ngsild {

// How a contribution's data ranks (the registration mode, §4.3.6.2; kLocal for the hub's own).
enum class ContributionRole { kLocal, kInclusive, kExclusive, kRedirect, kAuxiliary };

// The entities one party (the hub or one source) contributed to the answer.
struct Contribution {
  ContributionRole role = ContributionRole::kLocal;
  // For exclusive and redirect sources: the attributes (expanded) their registration covers;
  // empty = every attribute they returned.
  std::vector<std::string> attributes;
  std::vector<Entity> entities;
};

// Entity order of a query's answer: true when `a` comes before `b`.
using EntityLess = std::function<bool(const Entity&, const Entity&)>;
// Ascending id, the hub's default order.
bool IdLess(const Entity& a, const Entity& b);

// True when instance `candidate` is to replace `kept` of the same attribute and datasetId
// (rule 3).
bool PreferInstance(const Instance& candidate, const Instance& kept);

// True when rule 3 cannot choose among the parts' instances of some attribute for lack of
// times: one attribute and datasetId held by two or more instances without observedAt, not all
// of which carry modifiedAt (a source answers system times only when asked for them).
bool NeedsTimes(const std::vector<const Entity*>& parts);

// Retrieve Entity (§5.7.1) across sources: the one entity `id` merged from every contribution
// that holds it; nullopt when none does.
std::optional<Entity> MergeEntity(const std::string& id, std::vector<Contribution> parts);

// Query Entities (§5.7.2) across sources: every entity of every contribution, united by id and
// merged, in `less` order (ties keep the first-seen order). The caller pages the result (asking
// each party for offset + limit entities beforehand makes the page exact).
std::vector<Entity> MergeEntities(std::vector<Contribution> parts, const EntityLess& less = IdLess);

// The page [offset, offset + limit) of `merged`.
std::vector<Entity> Page(std::vector<Entity> merged, size_t offset, size_t limit);

// Type and attribute discovery (§5.7.5–§5.7.8) across sources, on the rendered answers (all
// compacted with the same @context). Name lists (EntityTypeList.typeList,
// AttributeList.attributeList): the union, ascending. Detailed lists (arrays of EntityType or
// Attribute objects): united by "id"; an EntityType's attributeNames, an Attribute's typeNames
// and attributeTypes are united; an Attribute's attributeCount is the sum (each party counts
// its own instances).
boost::json::array MergeNameLists(const std::vector<boost::json::array>& lists);
boost::json::array MergeTypeDetails(const std::vector<boost::json::array>& lists);
boost::json::array MergeAttributeDetails(const std::vector<boost::json::array>& lists);
// One type's or attribute's details across sources (§5.7.7 EntityTypeInfo, §5.7.10 Attribute),
// each party's object for the same id: an EntityTypeInfo's entityCount is summed and its
// attributeDetails united by id (attributeTypes united); an Attribute is merged as in
// MergeAttributeDetails. `infos` must not be empty.
boost::json::object MergeTypeInfo(const std::vector<boost::json::object>& infos);
boost::json::object MergeAttributeInfo(const std::vector<boost::json::object>& infos);

// Temporal retrieve and query (§5.7.3, §5.7.4) across sources, on the rendered normalized
// temporal representation (each attribute an array of instances): entities united by id, types
// united, each attribute's instances united — one instance with the same instanceId, or
// identical, kept once — and ordered by observedAt (instances without it after those with it, in
// merge order). Entities in first-seen order.
std::vector<boost::json::object> MergeTemporalEntities(const std::vector<std::vector<boost::json::object>>& parts);

// The reverse, for writes: an entity fragment (a create, update or merge body, names compacted
// with `ctx`) split by the attributes a registration covers (expanded IRIs; empty = every
// attribute). `matched` holds the covered attributes, `rest` the others; the entity members
// that are not attributes (id, type, scope, @context, …) are copied to both. `matched_any`
// tells whether any attribute was covered (a fragment without attributes matches nothing).
struct FragmentSplit {
  boost::json::object matched;
  boost::json::object rest;
  bool matched_any = false;
};
FragmentSplit SplitFragment(const boost::json::object& fragment, const Context& ctx,
                            const std::vector<std::string>& attributes);

}  // namespace cityhub::ngsild
