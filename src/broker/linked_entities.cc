// Linked Entity Retrieval: a breadth-first walk of the entity graph, one level per round.
//
// Each round looks at the entities met in the previous one that are to be expanded, finds the
// Relationship and ListRelationship instances their renderings still show, loads every target
// not loaded yet in one batch, and makes one node per (instance, target found): the target's
// rendering under the projection its relationship asks for. A node is expanded in the next
// round only if its entity was met here for the first time and the level allows. Inline, the
// nodes are then attached to their parents deepest first (so a node carries its own linked
// entities when it is attached); flat, the first occurrence of each entity is listed.
//
// Nodes are kept per occurrence (an entity linked from two places is rendered twice when
// inlined, possibly under two projections); the occurrence count is what max_linked bounds,
// so the work and the answer stay proportional to it.
#include "broker/linked_entities.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace cityhub::broker {
namespace json = boost::json;

Result<JoinOptions> ParseJoinOptions(const std::string* join, const std::string* join_level,
                                     const std::vector<std::string>& contained_by, const JoinLimits& limits) {
  JoinOptions o;
  if (!join || *join == "@none") return o;
  if (*join == "flat") {
    o.mode = JoinMode::kFlat;
  } else if (*join == "inline") {
    o.mode = JoinMode::kInline;
  } else {
    return Status::BadRequestData(
        fmt::format("parameter 'join': '{}' is not one of flat, inline, @none", join->substr(0, 40)));
  }
  if (join_level) {
    int level = 0;
    const char* end = join_level->data() + join_level->size();
    auto [ptr, ec] = std::from_chars(join_level->data(), end, level);
    if (ec != std::errc() || ptr != end || level < 1) {
      return Status::BadRequestData(
          fmt::format("parameter 'joinLevel': '{}' is not an integer of at least 1", join_level->substr(0, 40)));
    }
    if (level > limits.max_level) {
      return Status::BadRequestData(fmt::format("parameter 'joinLevel': at most {} (got {})", limits.max_level, level));
    }
    o.level = level;
  }
  for (const auto& id : contained_by) {
    if (!ngsild::IsUri(id)) {
      return Status::BadRequestData(fmt::format("parameter 'containedBy': '{}' is not a URI", id.substr(0, 100)));
    }
  }
  o.contained_by = contained_by;
  return o;
}

LinkedEntityLoader QueryLoader(const QueryService& queries, std::string tenant, const EntityView* view) {
  return [&queries, tenant = std::move(tenant), view](const std::vector<std::string>& ids) -> Result<std::vector<ngsild::Entity>> {
    EntityQuery q;
    q.ids = ids;
    q.limit = ids.size();
    q.view = view;
    auto result = queries.Query(tenant, q);
    if (!result.ok()) return result.status();
    return std::move(result->entities);
  };
}

void ProjectLinked(json::object& rendered, const LinkedProjection& projection, const ngsild::Context& ctx) {
  std::set<std::string, std::less<>> names = projection.members;
  for (const auto& m : projection.members) names.insert(ctx.CompactIri(m));
  for (auto it = rendered.begin(); it != rendered.end();) {
    std::string_view key = it->key();
    bool listed = names.count(key) > 0 || names.count(ctx.ExpandTerm(key)) > 0;
    bool keep = key == "id" || key == "type" || listed == projection.keep;
    it = keep ? std::next(it) : rendered.erase(it);
  }
}

namespace {

// The ids an instance of a Relationship ("object": URI or array) or ListRelationship
// ("objectList": [{"object": URI}]) targets, in order; `many` is set when the instance holds
// an array (the inlined member is then an array too).
std::vector<std::string> TargetsOf(const ngsild::Instance& inst, ngsild::AttrType type, bool* many) {
  std::vector<std::string> out;
  *many = type == ngsild::AttrType::kListRelationship;
  const json::value* v = inst.if_contains(type == ngsild::AttrType::kRelationship ? "object" : "objectList");
  if (!v) return out;
  if (v->is_string()) {
    out.emplace_back(v->get_string());
  } else if (v->is_array()) {
    *many = true;
    for (const auto& item : v->get_array()) {
      const json::value* target = item.is_object() ? item.get_object().if_contains("object") : &item;
      if (target && target->is_string()) out.emplace_back(target->get_string());
    }
  }
  return out;
}

struct Node {
  ngsild::Entity entity;
  json::object rendered;
  const LinkedProjection* projection = nullptr;
  bool first = false;  // the first occurrence of its entity in the answer
};

// One Relationship / ListRelationship instance of a rendered entity, and the nodes of its
// targets found (null for a target not found), in the order of its targets.
struct Placement {
  json::object* holder;  // the rendered entity (or properties) holding the attribute
  std::string key;       // the attribute's name there
  size_t instance;       // its index among the attribute's instances
  size_t instances;      // how many it has
  bool many;
  ngsild::AttrType type;
  std::vector<std::string> targets;
  const LinkedProjection* projection;
  std::vector<Node*> nodes;
};

// Adds the nodes of `p` to the rendered instance they belong to.
void Attach(Placement& p, ngsild::Format format) {
  json::value* attr = p.holder->if_contains(p.key);
  if (!attr) return;
  json::value* inst = attr;
  if (p.instances > 1) {
    if (!attr->is_array() || p.instance >= attr->get_array().size()) return;
    inst = &attr->get_array()[p.instance];
  }
  if (format == ngsild::Format::kKeyValues) {
    // The simplified value is the target URI (or an array of them): each target found is
    // replaced by its entity.
    if (inst->is_string()) {
      if (p.nodes.size() == 1 && p.nodes[0]) *inst = std::move(p.nodes[0]->rendered);
    } else if (inst->is_array()) {
      json::array& items = inst->get_array();
      for (size_t i = 0; i < items.size() && i < p.nodes.size(); ++i) {
        if (p.nodes[i]) items[i] = std::move(p.nodes[i]->rendered);
      }
    }
    return;
  }
  if (!inst->is_object()) return;
  json::array found;
  for (Node* n : p.nodes) {
    if (n) found.emplace_back(std::move(n->rendered));
  }
  if (found.empty()) return;
  if (p.type == ngsild::AttrType::kListRelationship) {
    inst->get_object()["entityList"] = std::move(found);
  } else if (p.many) {
    inst->get_object()["entity"] = std::move(found);
  } else {
    inst->get_object()["entity"] = std::move(found[0]);
  }
}

class GraphWalk {
 public:
  GraphWalk(const JoinRequest& request, const LinkedEntityLoader& load, const LinkedEntityRenderer& render)
      : request_(request), load_(load), render_(render), inline_(request.options.mode == JoinMode::kInline) {}

  Result<std::vector<json::object>> Run(const std::vector<JoinedEntity>& entities) {
    for (const auto& id : request_.options.contained_by) met_.insert(id);
    struct Expandable {
      const ngsild::Entity* entity;
      json::object* rendered;
      const LinkedProjection* projection;
    };
    std::vector<Expandable> level;
    for (const auto& e : entities) {
      met_.insert(e.stored->id);
      level.push_back({e.stored, e.rendered, request_.projection});
    }
    for (int depth = 1; depth <= request_.options.level && !level.empty() && !full_; ++depth) {
      size_t begin = placements_.size();
      for (const auto& x : level) Place(*x.entity, *x.rendered, x.projection);
      CITYHUB_RETURN_IF_ERROR(LoadTargets(begin));
      std::vector<Expandable> next;
      for (size_t i = begin; i < placements_.size(); ++i) {
        Placement& p = placements_[i];
        for (const auto& id : p.targets) {
          Node* n = nullptr;
          auto it = loaded_.find(id);
          const bool first = it != loaded_.end() && !met_.count(id);
          // Flat lists an entity once: later occurrences need no rendering.
          if (it != loaded_.end() && (first || inline_)) {
            CITYHUB_RETURN_IF_ERROR(Count(id));
            if (full_) break;
            met_.insert(id);
            n = &nodes_.emplace_back();
            n->entity = it->second;
            n->projection = p.projection;
            n->rendered = render_(n->entity, n->projection);
            n->first = first;
            if (first) {
              listed_.push_back(n);
              if (depth < request_.options.level) next.push_back({&n->entity, &n->rendered, n->projection});
            }
          }
          p.nodes.push_back(n);
        }
      }
      level = std::move(next);
    }
    std::vector<json::object> flat;
    if (request_.options.mode == JoinMode::kInline) {
      for (auto it = placements_.rbegin(); it != placements_.rend(); ++it) Attach(*it, request_.format);
    } else {
      flat.reserve(listed_.size());
      for (Node* n : listed_) flat.push_back(std::move(n->rendered));
    }
    return flat;
  }

 private:
  // Records the Relationship / ListRelationship instances `rendered` still shows.
  void Place(const ngsild::Entity& e, json::object& rendered, const LinkedProjection* projection) {
    for (const auto& [iri, instances] : e.attrs) {
      if (instances.empty()) continue;
      ngsild::AttrType type = ngsild::AttrTypeOf(instances.front());
      if (type != ngsild::AttrType::kRelationship && type != ngsild::AttrType::kListRelationship) continue;
      std::string key = request_.ctx->CompactIri(iri);
      if (!rendered.contains(key)) {
        if (!rendered.contains(iri)) continue;
        key = iri;
      }
      const LinkedProjection* nested = nullptr;
      if (projection) {
        if (auto it = projection->nested.find(iri); it != projection->nested.end()) nested = &it->second;
      }
      for (size_t i = 0; i < instances.size(); ++i) {
        Placement p{&rendered, key, i, instances.size(), false, ngsild::AttrTypeOf(instances[i]), {}, nested, {}};
        p.targets = TargetsOf(instances[i], p.type, &p.many);
        if (!p.targets.empty()) placements_.push_back(std::move(p));
      }
    }
  }

  Status LoadTargets(size_t begin) {
    std::vector<std::string> ids;
    std::unordered_set<std::string> asked;
    for (size_t i = begin; i < placements_.size(); ++i) {
      for (const auto& id : placements_[i].targets) {
        // Flat never shows an entity met before: no need to load it.
        if (!inline_ && met_.count(id)) continue;
        if (!tried_.count(id) && asked.insert(id).second) ids.push_back(id);
      }
    }
    if (ids.empty()) return Status::Ok();
    for (const auto& id : ids) tried_.insert(id);
    auto found = load_(ids);
    if (!found.ok()) return found.status();
    for (auto& e : *found) {
      std::string id = e.id;
      loaded_.emplace(std::move(id), std::move(e));
    }
    return Status::Ok();
  }

  Status Count(const std::string& id) {
    if (++count_ <= request_.limits.max_linked) return Status::Ok();
    if (request_.truncate) {
      full_ = true;
      return Status::Ok();
    }
    return Status::TooManyResults(fmt::format(
        "linked entity retrieval would return more than {} linked entities (at '{}'); lower joinLevel, the page size, "
        "or pick fewer relationships",
        request_.limits.max_linked, id.substr(0, 100)));
  }

  const JoinRequest& request_;
  const LinkedEntityLoader& load_;
  const LinkedEntityRenderer& render_;
  std::unordered_set<std::string> met_;      // entities met so far (expanded at most once)
  std::unordered_set<std::string> tried_;    // ids already looked up
  std::unordered_map<std::string, ngsild::Entity> loaded_;
  std::deque<Node> nodes_;                   // stable addresses
  std::deque<Placement> placements_;
  std::vector<Node*> listed_;                // first occurrences, in the order met
  const bool inline_;
  size_t count_ = 0;
  bool full_ = false;
};

}  // namespace

Result<std::vector<json::object>> JoinLinkedEntities(const std::vector<JoinedEntity>& entities,
                                                     const JoinRequest& request, const LinkedEntityLoader& load,
                                                     const LinkedEntityRenderer& render) {
  if (request.options.mode == JoinMode::kNone || entities.empty()) return std::vector<json::object>();
  GraphWalk walk(request, load, render);
  return walk.Run(entities);
}

namespace {

JoinOptions NotificationJoin(const json::object& params) {
  JoinOptions o;
  const json::value* join = params.if_contains("join");
  if (join && join->is_string()) {
    if (join->get_string() == "flat") o.mode = JoinMode::kFlat;
    if (join->get_string() == "inline") o.mode = JoinMode::kInline;
  }
  if (const json::value* level = params.if_contains("joinLevel"); level && level->is_int64()) {
    o.level = static_cast<int>(std::clamp<int64_t>(level->get_int64(), 1, JoinLimits{}.max_level));
  }
  return o;
}

}  // namespace

bool WantsJoin(const json::object& notification_params) {
  return NotificationJoin(notification_params).mode != JoinMode::kNone;
}

Status JoinNotification(json::object& body, const json::object& params, const std::vector<const ngsild::Entity*>& stored,
                        const ngsild::Context& ctx, const QueryService& queries, std::string tenant,
                        const EntityView* view) {
  json::value* data = body.if_contains("data");
  if (!data) return Status::Ok();
  json::array* features = nullptr;
  if (data->is_object()) {
    json::value* f = data->get_object().if_contains("features");
    features = f && f->is_array() ? &f->get_array() : nullptr;
  }
  json::array* items = features ? features : data->if_array();
  if (!items || items->size() != stored.size()) return Status::Internal("notification data and entities differ");

  std::vector<JoinedEntity> joined;
  for (size_t i = 0; i < stored.size(); ++i) {
    json::object* rendered = (*items)[i].if_object();
    if (rendered && features) {
      json::value* properties = rendered->if_contains("properties");
      rendered = properties ? properties->if_object() : nullptr;
    }
    if (stored[i] && rendered) joined.push_back({stored[i], rendered});
  }
  JoinRequest request;
  request.options = NotificationJoin(params);
  request.truncate = true;
  request.ctx = &ctx;
  const json::value* format = params.if_contains("format");
  if (format && format->is_string() && format->get_string() == "keyValues") request.format = ngsild::Format::kKeyValues;
  if (format && format->is_string() && format->get_string() == "concise") request.format = ngsild::Format::kConcise;
  const json::value* sys_attrs = params.if_contains("sysAttrs");
  ngsild::NameCache names;
  ngsild::RenderOptions opts{request.format, sys_attrs && sys_attrs->is_bool() && sys_attrs->get_bool(), nullptr,
                             nullptr, &names};
  auto render = [&](ngsild::Entity e, const LinkedProjection*) { return ngsild::RenderEntity(std::move(e), ctx, opts); };
  auto linked = JoinLinkedEntities(joined, request, QueryLoader(queries, std::move(tenant), view), render);
  if (!linked.ok()) return linked.status();
  const std::string geometry = ctx.CompactIri("https://uri.etsi.org/ngsi-ld/location");
  for (auto& o : *linked) {
    if (features) {
      items->emplace_back(ngsild::GeoJsonFeature(std::move(o), geometry));
    } else {
      items->emplace_back(std::move(o));
    }
  }
  return Status::Ok();
}

}  // namespace cityhub::broker
