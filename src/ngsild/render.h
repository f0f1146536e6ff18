// Rendering entities for clients (GS CIM 009 §4.5): the normalized, concise and simplified
// (keyValues) representations, with names compacted by the reader's @context, optional system
// attributes and an attribute projection. Pure functions; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "util/status.h"

namespace cityhub::ngsild {

enum class Format { kNormalized, kConcise, kKeyValues };

// Compact names already worked out, for rendering many entities with one @context (a query's
// page): each attribute IRI is compacted once per request rather than once per entity. Not
// thread-safe; one per rendering pass.
class NameCache {
 public:
  const std::string& Compact(std::string_view iri, const Context& ctx);

 private:
  // Hashed, not ordered: the IRIs of one vocabulary share a long prefix, which an ordered map
  // compares again at every step of every lookup.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> names_;
};

struct RenderOptions {
  Format format = Format::kNormalized;
  bool sys_attrs = false;                       // include createdAt / modifiedAt
  const std::set<std::string>* attrs = nullptr;  // expanded names to keep; null = all
  // `lang` (§4.15): language ranges in order of preference (ParseLanguageFilter). When set, a
  // LanguageProperty is rendered as a Property holding one string and a "lang" member naming
  // its language: for the first range the languageMap can serve, the entry whose tag equals it
  // (case-insensitively), else the first whose tag starts with it and "-" ("fr" serves
  // "fr-CH"), "*" being served by the first entry; when no range is served, its "@none" entry,
  // else its first entry. Null = languageMap as stored.
  const std::vector<std::string>* lang = nullptr;
  // Optional: remembers compact names across the entities of one response. Only IRIs that
  // name things (types, attributes, sub-attributes, vocab terms) go in it.
  NameCache* names = nullptr;
};

// The language ranges of a `lang` filter (§4.15, RFC 9110 Accept-Language syntax): a comma
// list of tags ("en", "fr-CH", or "*"), each optionally weighted ";q=0.8"; returned best first
// (stable for equal weights), those weighted q=0 left out. BadRequestData naming the item for
// an empty item, a tag that is not letters, digits and "-" (at most 35), or a bad weight.
Result<std::vector<std::string>> ParseLanguageFilter(std::string_view text);

// Renders `e` as a JSON object (without "@context"; the API adds it when the media type asks).
// The overload taking an rvalue moves the entity's values into the result instead of copying
// them (the cheaper path for a response built from entities read for it).
boost::json::object RenderEntity(Entity&& e, const Context& ctx, const RenderOptions& opts);
boost::json::object RenderEntity(const Entity& e, const Context& ctx, const RenderOptions& opts);

// Renders one attribute's instances (single object, or array when there are several).
boost::json::value RenderAttribute(const Instances& instances, const Context& ctx,
                                   const RenderOptions& opts);

// A rendered entity (any format) as a GeoJSON Feature (§4.5.16): its id, the geometry held by
// the attribute `geometry_attr` (as `rendered` names it; null if it holds none) and everything
// else, type included, as properties.
boost::json::object GeoJsonFeature(boost::json::object rendered, const std::string& geometry_attr);

}  // namespace cityhub::ngsild
