// Rendering entities for clients (GS CIM 009 §4.5): the normalized, concise and simplified
// (keyValues) representations, with names compacted by the reader's @context, optional system
// attributes and an attribute projection. Pure functions; thread-safe.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "ngsild/context.h"
#include "ngsild/entity.h"

namespace cityhub::ngsild {

enum class Format { kNormalized, kConcise, kKeyValues };

struct RenderOptions {
  Format format = Format::kNormalized;
  bool sys_attrs = false;                       // include createdAt / modifiedAt
  const std::set<std::string>* attrs = nullptr;  // expanded names to keep; null = all
  // `lang` (§4.15): language tags in order of preference. When set, a LanguageProperty is
  // rendered as a Property holding one string and a "lang" member naming its language: the
  // first preferred tag the languageMap has (compared case-insensitively; "*" = any), else
  // its "@none" entry, else its first entry. Null = languageMap as stored.
  const std::vector<std::string>* lang = nullptr;
};

// Renders `e` as a JSON object (without "@context"; the API adds it when the media type asks).
boost::json::object RenderEntity(const Entity& e, const Context& ctx, const RenderOptions& opts);

// Renders one attribute's instances (single object, or array when there are several).
boost::json::value RenderAttribute(const Instances& instances, const Context& ctx,
                                   const RenderOptions& opts);

}  // namespace cityhub::ngsild
