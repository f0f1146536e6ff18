// Linked Entity Retrieval (GS CIM 009 v1.8 §4.5.23): following the Relationships and
// ListRelationships of the entities an answer holds to the entities they target, up to
// `joinLevel` hops, and adding those to the answer — inline (an `entity` member in each
// Relationship instance, `entityList` in each ListRelationship instance; in keyValues the
// target's URI is replaced by the entity) or flat (the linked entities after the answer's
// own, each once).
//
// Who may see what: linked entities are loaded with the reader's EntityView (a request's
// caller, a subscription's owner), so a target the reader may not see is exactly like one that
// does not exist — the Relationship keeps its object and gains nothing — and what is shown of a
// target is redacted as any read of it would be. Only the Relationships the reader's rendering
// still shows (after attrs, pick/omit) are followed.
//
// Bounds: joinLevel is at most JoinLimits::max_level; an answer holds at most
// JoinLimits::max_linked linked entities (each inlined occurrence counts) — beyond it the
// join is TooManyResults, or, where no error can be returned (notifications), the first
// max_linked are kept. Each entity is expanded (its own links followed) once: an entity met
// again — in a cycle A→B→A, a second path to it, an entity of the answer itself or one the
// client lists in `containedBy` — is inlined without its links and not listed again in flat.
// Targets are loaded a level at a time, one batched lookup per level.
//
// Stateless functions; thread-safe as long as the loader and renderer passed in are.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "broker/entity_view.h"
#include "broker/query_service.h"
#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "ngsild/render.h"
#include "util/status.h"

namespace cityhub::broker {

enum class JoinMode { kNone, kFlat, kInline };

struct JoinLimits {
  int max_level = 5;         // joinLevel at most
  size_t max_linked = 1000;  // linked entities in one answer
};

struct JoinOptions {
  JoinMode mode = JoinMode::kNone;
  int level = 1;                          // joinLevel (default 1, §4.5.23)
  std::vector<std::string> contained_by;  // ids already met while walking the graph
};

// Reads `join` ("flat", "inline", "@none"), `joinLevel` (an integer from 1 to
// limits.max_level) and `containedBy` (entity ids); null = not given. joinLevel and
// containedBy are used only with join flat or inline. BadRequestData naming the parameter.
Result<JoinOptions> ParseJoinOptions(const std::string* join, const std::string* join_level,
                                     const std::vector<std::string>& contained_by, const JoinLimits& limits = {});

// What to show of the entities a Relationship leads to: nested pick/omit (`rel{a,b}`, §4.21).
// `members` are "id", "type", "scope" or expanded attribute IRIs; `nested` holds the
// projections of deeper links by expanded relationship IRI.
struct LinkedProjection {
  bool keep = true;  // pick; false for omit
  std::set<std::string, std::less<>> members;
  std::map<std::string, LinkedProjection, std::less<>> nested;
};

// Loads the entities with the given ids as the reader sees them: the visible ones, redacted;
// unknown and hidden ones are left out. An error ends the join.
using LinkedEntityLoader = std::function<Result<std::vector<ngsild::Entity>>(const std::vector<std::string>& ids)>;

// A loader reading `tenant` through `queries` with `view` (null: everything in clear).
LinkedEntityLoader QueryLoader(const QueryService& queries, std::string tenant, const EntityView* view);

// Renders a linked entity in the reader's representation (no "@context"), applying
// `projection` (null: the whole entity).
using LinkedEntityRenderer = std::function<boost::json::object(ngsild::Entity, const LinkedProjection* projection)>;

// One entity of the answer: its stored form (as the reader sees it) and the rendered object
// holding its attributes (the entity, or a GeoJSON Feature's "properties").
struct JoinedEntity {
  const ngsild::Entity* stored;
  boost::json::object* rendered;
};

struct JoinRequest {
  JoinOptions options;
  JoinLimits limits;
  ngsild::Format format = ngsild::Format::kNormalized;
  const ngsild::Context* ctx = nullptr;              // names the rendered attributes
  const LinkedProjection* projection = nullptr;      // nested projections of the answer's links
  bool truncate = false;                             // past max_linked: keep the first (else error)
};

// Follows the links of `entities`. Inline: adds the linked entities into their renderings and
// returns nothing. Flat: returns the renderings of the linked entities to append, each once, in
// the order met (breadth first). TooManyResults past limits.max_linked (unless truncate);
// a loader's error.
Result<std::vector<boost::json::object>> JoinLinkedEntities(const std::vector<JoinedEntity>& entities,
                                                            const JoinRequest& request,
                                                            const LinkedEntityLoader& load,
                                                            const LinkedEntityRenderer& render);

// Subscriptions (`notification.join`, `notification.joinLevel`, §5.2.14): adds the linked
// entities to a rendered notification `body` ("data" an array, or a GeoJSON FeatureCollection)
// whose entities are `stored` (aligned with data; null for a deleted entity, which links to
// nothing), read in `tenant` with `view` (the subscription owner's). The linked entities take
// the notification's format and sysAttrs. Past JoinLimits::max_linked the first are kept.
// True if the subscription asks for a join.
bool WantsJoin(const boost::json::object& notification_params);
Status JoinNotification(boost::json::object& body, const boost::json::object& notification_params,
                        const std::vector<const ngsild::Entity*>& stored, const ngsild::Context& ctx,
                        const QueryService& queries, std::string tenant, const EntityView* view);

// The projection applied to a rendered linked entity: `id` and `type` always stay (they say
// which entity it is); other members stay when picked, or go when omitted.
void ProjectLinked(boost::json::object& rendered, const LinkedProjection& projection, const ngsild::Context& ctx);

}  // namespace cityhub::broker
