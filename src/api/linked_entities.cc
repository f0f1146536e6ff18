// Linked Entity Retrieval for retrieve and the queries: parameters, nested projection and the
// rendering of an answer with its linked entities (see linked_entities.h).
#include "api/linked_entities.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/entity_read.h"
#include "api/request.h"
#include "ngsild/render.h"

namespace cityhub::api {
namespace json = boost::json;

namespace {

// Deepest nesting of a projection (`a{b{c{…}}}`): one more than the deepest join.
constexpr int kMaxProjectionDepth = broker::JoinLimits{}.max_level + 1;

class ProjectionParser {
 public:
  ProjectionParser(std::string_view text, std::string_view param, bool keep, const ngsild::Context& ctx)
      : text_(text), param_(param), keep_(keep), ctx_(ctx) {}

  Result<broker::LinkedProjection> Parse(std::vector<std::string>* top) {
    broker::LinkedProjection root;
    CITYHUB_RETURN_IF_ERROR(List(root, 1, top));
    if (pos_ != text_.size()) return Fault("unexpected '}'");
    return root;
  }

 private:
  // list := item (',' item)* ; item := name ('{' list '}')?
  Status List(broker::LinkedProjection& into, int depth, std::vector<std::string>* top) {
    into.keep = keep_;
    for (;;) {
      size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '{' && text_[pos_] != '}') ++pos_;
      std::string_view name = text_.substr(start, pos_ - start);
      if (name.empty()) return Fault("expected a name");
      bool member = name == "id" || name == "type" || name == "scope";
      if (!member && !ngsild::IsValidName(name)) {
        return Status::BadRequestData(
            fmt::format("parameter '{}': invalid name '{}'", param_, name.substr(0, 64)));
      }
      std::string iri = member ? std::string(name) : ctx_.ExpandTerm(name);
      bool nested = pos_ < text_.size() && text_[pos_] == '{';
      if (top && (keep_ || !nested)) top->push_back(member ? std::string(name) : ctx_.CompactIri(iri));
      if (keep_ || !nested) into.members.insert(iri);
      if (nested) {
        if (member) return Fault(fmt::format("'{}' links to no entity", name));
        if (depth >= kMaxProjectionDepth) return Fault(fmt::format("nested deeper than {} levels", kMaxProjectionDepth));
        ++pos_;
        CITYHUB_RETURN_IF_ERROR(List(into.nested[iri], depth + 1, nullptr));
        if (pos_ >= text_.size() || text_[pos_] != '}') return Fault("expected '}'");
        ++pos_;
      }
      if (pos_ >= text_.size() || text_[pos_] != ',') return Status::Ok();
      ++pos_;
    }
  }

  Status Fault(std::string_view what) const {
    return Status::BadRequestData(fmt::format("parameter '{}': at position {}: {}", param_, pos_, what));
  }

  std::string_view text_;
  std::string_view param_;
  bool keep_;
  const ngsild::Context& ctx_;
  size_t pos_ = 0;
};

}  // namespace

Result<broker::LinkedProjection> ParseNestedProjection(std::string_view text, std::string_view param, bool keep,
                                                       const ngsild::Context& ctx, std::vector<std::string>* top) {
  return ProjectionParser(text, param, keep, ctx).Parse(top);
}

Result<broker::JoinOptions> JoinOptionsOf(const http::Request& req, const json::value* contained_by_body) {
  std::vector<std::string> contained_by;
  if (contained_by_body) {
    const json::array* ids = contained_by_body->if_array();
    if (!ids || ids->empty()) return Status::BadRequestData("member 'containedBy' must be a non-empty array of entity ids");
    for (const auto& id : *ids) {
      if (!id.is_string()) return Status::BadRequestData("member 'containedBy' must be a non-empty array of entity ids");
      contained_by.emplace_back(id.get_string());
    }
  } else if (const std::string* param = req.Param("containedBy")) {
    auto ids = SplitList(*param, "containedBy");
    if (!ids.ok()) return ids.status();
    contained_by = std::move(*ids);
  }
  return broker::ParseJoinOptions(req.Param("join"), req.Param("joinLevel"), contained_by);
}

Result<json::value> RenderAnswer(const EntityRead& in, std::vector<ngsild::Entity> entities, const ApiDeps& deps,
                                 const broker::EntityView* view, bool one) {
  if (in.join.mode == broker::JoinMode::kNone) {
    if (one) return json::value(in.RenderOne(std::move(entities.front())));
    return json::value(in.RenderList(std::move(entities)));
  }
  ngsild::NameCache names;
  std::vector<json::object> rendered;
  rendered.reserve(entities.size());
  for (const auto& e : entities) rendered.push_back(in.Render(e, &names));
  std::vector<broker::JoinedEntity> joined;
  joined.reserve(entities.size());
  for (size_t i = 0; i < entities.size(); ++i) joined.push_back({&entities[i], &rendered[i]});

  broker::JoinRequest request;
  request.options = in.join;
  request.format = in.rep.format;
  request.ctx = in.ctx.get();
  request.projection = in.linked_projection ? &*in.linked_projection : nullptr;
  auto render = [&in, &names](ngsild::Entity e, const broker::LinkedProjection* projection) {
    ngsild::RenderOptions opts{in.rep.format, in.rep.sys_attrs, nullptr, in.lang ? &*in.lang : nullptr, &names};
    json::object out = ngsild::RenderEntity(std::move(e), *in.ctx, opts);
    if (projection) broker::ProjectLinked(out, *projection, *in.ctx);
    return out;
  };
  auto linked = broker::JoinLinkedEntities(joined, request, broker::QueryLoader(*deps.queries, in.tenant, view), render);
  if (!linked.ok()) return linked.status();

  const bool geo = in.media == MediaType::kGeoJson;
  auto shaped = [&](json::object o) -> json::value {
    if (geo) return ngsild::GeoJsonFeature(std::move(o), in.geometry_attr);
    return o;
  };
  if (one && in.join.mode == broker::JoinMode::kInline) return json::value(shaped(std::move(rendered.front())));
  json::array items;
  items.reserve(rendered.size() + linked->size());
  for (auto& o : rendered) items.push_back(shaped(std::move(o)));
  for (auto& o : *linked) items.push_back(shaped(std::move(o)));
  if (!geo) return json::value(std::move(items));
  return json::value(json::object{{"type", "FeatureCollection"}, {"features", std::move(items)}});
}

}  // namespace cityhub::api
