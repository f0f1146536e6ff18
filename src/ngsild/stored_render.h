// Rendering an entity straight from its storage text (SerializeEntity's output) into the text a
// client receives, without building a DOM of either: the members the client sees are copied
// from the stored text as they are, and only names, vocabulary terms and system times are
// rewritten. Gives the same text as DeserializeEntity + RenderEntity + serializing, for the
// representations a retrieve or a query page most often asks (normalized, concise, keyValues,
// with or without system attributes, an `attrs` filter); the rest (lang, pick/omit,
// datasetId, GeoJSON, joins, redaction) keeps the DOM path (render.h).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "ngsild/render.h"
#include "util/status.h"
#include "util/time.h"

namespace cityhub::ngsild {

// A stored entity document with its top-level members read, its attributes located but not
// parsed. Owns the text; the spans are offsets into it (so moving the object keeps them valid).
class StoredEntity {
 public:
  struct Span {
    size_t pos = 0, len = 0;
  };
  struct Attribute {
    std::string name;  // expanded IRI
    Span instances;    // the stored array of instances
    bool empty = true; // no instance
  };

  // Internal naming what is malformed when `text` is not an entity document.
  static Result<StoredEntity> Read(std::string text);

  const std::string& text() const { return text_; }
  std::string_view span(Span s) const { return std::string_view(text_).substr(s.pos, s.len); }

  std::string id;
  std::vector<std::string> types;  // expanded IRIs
  std::string owner;
  Span id_text;                     // the id as stored (a JSON string)
  Span scope;                       // len 0 when absent
  int64_t created_at = 0, modified_at = 0, expires_at = 0;
  util::TimeFraction expires_fraction;
  std::vector<Attribute> attrs;    // in stored (ascending) order

  bool ExpiredAt(int64_t now_ms) const { return expires_at != 0 && expires_at <= now_ms; }
  // The entity, as DeserializeEntity gives it; with `only`, just those attributes (expanded
  // names) parsed and kept — enough for a filter that reads no others (a q, a geo-query, scopeQ),
  // at the cost of parsing what it reads. Internal for a malformed attribute.
  Result<Entity> Decode(const std::vector<std::string>* only = nullptr) const;
  // True if one of `names` (expanded) has an instance.
  bool HasAnyOf(const std::set<std::string>& names) const;

 private:
  std::string text_;
};

// Appends the entity rendered as RenderEntity would give it, serialized, to `out`.
// `opts.lang` must be null. Members are written as they come, never merged: two names of one
// object cannot compact alike (Context::CompactIri is one-to-one — core terms cannot be
// redefined, and @vocab and prefix forms are only used when they expand back to the IRI), so
// there is nothing a DOM object would have merged. The scanner locates values without
// validating them (the text is the store's own): Internal, nothing appended, when it finds the
// structure broken.
Status RenderStored(const StoredEntity& e, const Context& ctx, const RenderOptions& opts, std::string* out);

}  // namespace cityhub::ngsild
