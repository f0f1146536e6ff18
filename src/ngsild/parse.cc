// Parsing client JSON into the entity model.
//
// One recursive descent over the body: every member is either an NGSI-LD keyword, checked for
// its own rule, or an attribute / sub-attribute name, validated and expanded with the request's
// @context. Both representations a client may send are accepted (GS CIM 009 §4.5):
//   normalized  {"type": "Property", "value": 5}
//   concise     5, or {"value": 5, "observedAt": …}, {"object": "urn:…"}, a bare GeoJSON
//               geometry, {"languageMap": …}, {"vocab": …}, {"json": …}, …
// An attribute that is an array of attribute objects is multi-instance (one per datasetId);
// any other array is a Property value. Errors stop at the first problem and name it with the
// path to it, so a client can fix its payload without guessing.
#include "ngsild/parse.h"

#include <cmath>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "util/time.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

constexpr std::string_view kGeometryTypes[] = {"Point",      "MultiPoint",      "LineString",
                                               "MultiLineString", "Polygon", "MultiPolygon"};

bool IsGeometryType(std::string_view t) {
  for (auto g : kGeometryTypes) {
    if (g == t) return true;
  }
  return false;
}

// Shortens client text quoted in an error so a huge value cannot bloat the response.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  if (s.size() <= kMax) return fmt::format("'{}'", s);
  return fmt::format("'{}…'", s.substr(0, kMax));
}

Status Bad(std::string_view where, std::string_view what) {
  return Status::BadRequestData(fmt::format("{}: {}", where, what));
}

// Where in the body a member is, for error messages: "attribute 'a'", "attribute 'a'
// sub-attribute 'b'". Kept as the chain of names and written out only when an error names it
// (most bodies have none, and formatting the text for every attribute would cost more than
// checking it).
struct Where {
  const Where* parent = nullptr;
  std::string_view name;

  std::string Text() const {
    if (!parent) return fmt::format("attribute {}", Quote(name));
    return fmt::format("{} sub-attribute {}", parent->Text(), Quote(name));
  }
};

Status Bad(const Where& where, std::string_view what) { return Bad(where.Text(), what); }

bool IsLanguageTag(std::string_view s) {
  if (s == "@none") return true;
  if (s.empty() || s.size() > 35) return false;
  size_t part = 0;
  for (char c : s) {
    if (c == '-') {
      if (part == 0) return false;
      part = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) || ++part > 8) return false;
  }
  return part > 0;
}

Status CheckPosition(const json::value& p, std::string_view where) {
  if (!p.is_array() || p.get_array().size() < 2 || p.get_array().size() > 3) {
    return Bad(where, "a position must be an array of 2 or 3 numbers");
  }
  double c[3] = {0, 0, 0};
  for (size_t i = 0; i < p.get_array().size(); ++i) {
    const auto& n = p.get_array()[i];
    if (!n.is_number()) return Bad(where, "a coordinate is not a number");
    c[i] = n.to_number<double>();
    if (!std::isfinite(c[i])) return Bad(where, "a coordinate is not finite");
  }
  if (c[0] < -180 || c[0] > 180) return Bad(where, fmt::format("longitude {} is outside [-180, 180]", c[0]));
  if (c[1] < -90 || c[1] > 90) return Bad(where, fmt::format("latitude {} is outside [-90, 90]", c[1]));
  return Status::Ok();
}

Status CheckPositions(const json::value& v, size_t min, std::string_view where) {
  if (!v.is_array() || v.get_array().size() < min) {
    return Bad(where, fmt::format("expected an array of at least {} positions", min));
  }
  for (const auto& p : v.get_array()) CITYHUB_RETURN_IF_ERROR(CheckPosition(p, where));
  return Status::Ok();
}

// Positions compare as numbers: [0,0] and [0.0,0.0] are the same point.
bool SamePosition(const json::array& a, const json::array& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].to_number<double>() != b[i].to_number<double>()) return false;
  }
  return true;
}

Status CheckRing(const json::value& ring, std::string_view where) {
  CITYHUB_RETURN_IF_ERROR(CheckPositions(ring, 4, where));
  const auto& a = ring.get_array();
  if (!SamePosition(a.front().get_array(), a.back().get_array())) {
    return Bad(where, "a polygon ring is not closed (first position != last)");
  }
  return Status::Ok();
}

Status CheckPolygon(const json::value& v, std::string_view where) {
  if (!v.is_array() || v.get_array().empty()) return Bad(where, "a polygon needs at least one ring");
  for (const auto& ring : v.get_array()) CITYHUB_RETURN_IF_ERROR(CheckRing(ring, where));
  return Status::Ok();
}

Status CheckEach(const json::value& v, std::string_view where,
                 Status (*check)(const json::value&, std::string_view)) {
  if (!v.is_array() || v.get_array().empty()) return Bad(where, "expected a non-empty array");
  for (const auto& item : v.get_array()) CITYHUB_RETURN_IF_ERROR(check(item, where));
  return Status::Ok();
}

class Parser {
 public:
  // `keep_times`: the body is an entity as an NGSI-LD system rendered it; its system times
  // (createdAt, modifiedAt as DateTime text) are kept instead of stamping `now`.
  Parser(const Context& ctx, int64_t now, const ParseLimits& limits, bool allow_null, bool keep_times = false)
      : ctx_(ctx), now_(now), limits_(limits), allow_null_(allow_null), keep_times_(keep_times) {}

  Result<Instances> Attribute(std::string_view name, const json::value& v) {
    const Where where{nullptr, name};
    if (v.is_array() && LooksMultiInstance(v.get_array())) {
      const auto& arr = v.get_array();
      if (arr.size() > limits_.max_instances_per_attribute) {
        return Bad(where, fmt::format("more than {} instances", limits_.max_instances_per_attribute));
      }
      Instances out;
      std::set<std::string, std::less<>> seen;
      for (const auto& item : arr) {
        auto inst = InstanceOf(where, item, 0);
        if (!inst.ok()) return inst.status();
        std::string ds(DatasetIdOf(*inst));
        if (!seen.insert(ds).second) {
          return Bad(where, ds.empty() ? "more than one instance without datasetId"
                                       : fmt::format("datasetId {} appears twice", Quote(ds)));
        }
        out.push_back(std::move(*inst));
      }
      return out;
    }
    auto inst = InstanceOf(where, v, 0);
    if (!inst.ok()) return inst.status();
    Instances out;
    out.push_back(std::move(*inst));
    return out;
  }

  Result<std::string> Name(std::string_view name, std::string_view kind) {
    if (!IsValidName(name)) {
      return Status::BadRequestData(fmt::format(
          "{} name {} is invalid: names must be 1-512 characters without whitespace, control "
          "characters or any of <>\"'=;()\\",
          kind, Quote(name)));
    }
    std::string iri = ctx_.ExpandTerm(name);
    // A @context may map a term to a keyword ("@id") or a bare word ("value", "type"); stored
    // under such a key the attribute would overwrite the entity's id or its own value.
    if (!IsUri(iri)) {
      return Status::BadRequestData(fmt::format(
          "{} name {} expands to {}, which is not an IRI: check the @context", kind, Quote(name), Quote(iri)));
    }
    return iri;
  }

 private:
  // An array is multi-instance when every element is an object carrying an attribute type or
  // a value member; otherwise it is the value of a (concise) Property.
  static bool LooksMultiInstance(const json::array& arr) {
    if (arr.empty()) return false;
    for (const auto& item : arr) {
      if (!item.is_object()) return false;
      const auto& o = item.get_object();
      const auto* t = o.if_contains("type");
      bool typed = t && t->is_string() && ParseAttrTypeName(t->get_string()).has_value();
      if (!typed && !o.contains("value") && !o.contains("object") && !o.contains("languageMap") &&
          !o.contains("vocab") && !o.contains("json") && !o.contains("valueList") &&
          !o.contains("objectList")) {
        return false;
      }
    }
    return true;
  }

  static std::optional<AttrType> InferType(const json::object& o) {
    if (const auto* v = o.if_contains("value")) {
      if (v->is_object()) {
        const auto* gt = v->get_object().if_contains("type");
        if (gt && gt->is_string() && IsGeometryType(gt->get_string()) &&
            v->get_object().contains("coordinates")) {
          return AttrType::kGeoProperty;
        }
      }
      return AttrType::kProperty;
    }
    if (o.contains("object")) return AttrType::kRelationship;
    if (o.contains("languageMap")) return AttrType::kLanguageProperty;
    if (o.contains("vocab")) return AttrType::kVocabProperty;
    if (o.contains("json")) return AttrType::kJsonProperty;
    if (o.contains("valueList")) return AttrType::kListProperty;
    if (o.contains("objectList")) return AttrType::kListRelationship;
    return std::nullopt;
  }

  Instance Stamp(Instance inst) const {
    if (keep_times_) return inst;
    inst["createdAt"] = now_;
    inst["modifiedAt"] = now_;
    return inst;
  }

  // A rendered system time (keep_times_): its epoch ms, or BadRequestData.
  Status KeepTime(const Where& where, std::string_view key, const json::value& val, Instance* inst) const {
    const std::optional<int64_t> at = val.is_string() ? util::ParseDateTime(val.get_string()) : std::nullopt;
    if (!at) return Bad(where, fmt::format("'{}' must be a DateTime", key));
    (*inst)[key] = *at;
    return Status::Ok();
  }

  Result<Instance> InstanceOf(const Where& where, const json::value& v, size_t depth) {
    if (v.is_null()) return Bad(where, "null is not a valid attribute value");
    if (!v.is_object()) {
      Instance inst;
      inst["type"] = "Property";
      inst["value"] = v;
      return Checked(where, Stamp(std::move(inst)));
    }
    const json::object& o = v.get_object();
    AttrType type;
    const auto* t = o.if_contains("type");
    if (t) {
      if (!t->is_string()) return Bad(where, "'type' must be a string");
      auto parsed = ParseAttrTypeName(t->get_string());
      if (!parsed) {
        if (IsGeometryType(t->get_string()) && !o.contains("value")) {
          CITYHUB_RETURN_IF_ERROR(ValidateGeometry(v, where.Text()));
          Instance inst;
          inst["type"] = "GeoProperty";
          inst["value"] = v;
          return Stamp(std::move(inst));
        }
        return Bad(where, fmt::format("type {} is not an NGSI-LD attribute type (Property, "
                                      "Relationship, GeoProperty, LanguageProperty, "
                                      "VocabProperty, JsonProperty, ListProperty, ListRelationship)",
                                      Quote(t->get_string())));
      }
      type = *parsed;
    } else if (auto inferred = InferType(o)) {
      type = *inferred;
    } else {
      Instance inst;  // a concise Property whose value is a JSON object
      inst["type"] = "Property";
      inst["value"] = v;
      return Stamp(std::move(inst));
    }
    return Members(where, o, type, depth);
  }

  Result<Instance> Members(const Where& where, const json::object& o, AttrType type,
                           size_t depth) {
    Instance inst(o.size() + 2);
    inst["type"] = AttrTypeName(type);
    const std::string_view value_member = AttrValueMember(type);
    bool has_value = false;
    for (const auto& [key, val] : o) {
      if (keep_times_ && (key == "createdAt" || key == "modifiedAt")) {
        CITYHUB_RETURN_IF_ERROR(KeepTime(where, key, val, &inst));
        continue;
      }
      if (key == "type" || key == "createdAt" || key == "modifiedAt" || key == "deletedAt" ||
          key == "instanceId" || key == "@context") {
        continue;  // system-generated or already handled
      }
      if (key == value_member) {
        CITYHUB_RETURN_IF_ERROR(Value(where, type, val, &inst[key]));
        has_value = true;
      } else if (key == "observedAt") {
        std::optional<std::string> at = val.is_string() ? util::DateTimeInUtc(val.get_string()) : std::nullopt;
        if (!at) return Bad(where, "'observedAt' must be an ISO 8601 DateTime with a time zone");
        // A time with an offset is stored in UTC, so that all observedAt values share one zone;
        // its fraction keeps the digits it was written with.
        inst[key] = val.get_string().ends_with("Z") ? val : json::value(*at);
      } else if (key == "unitCode") {
        if (!val.is_string() || val.get_string().empty()) return Bad(where, "'unitCode' must be a non-empty string");
        inst[key] = val;
      } else if (key == "datasetId") {
        if (!val.is_string() || !IsUri(val.get_string())) return Bad(where, "'datasetId' must be a URI");
        inst[key] = val;
      } else if (key == "objectType" &&
                 (type == AttrType::kRelationship || type == AttrType::kListRelationship)) {
        auto ot = TypeNames(where, val);
        if (!ot.ok()) return ot.status();
        inst[key] = std::move(*ot);
      } else if (IsInstanceKeyword(key)) {
        return Bad(where, fmt::format("member '{}' does not belong in a {}", std::string_view(key),
                                      AttrTypeName(type)));
      } else {
        CITYHUB_RETURN_IF_ERROR(SubAttribute(where, key, val, depth, &inst));
      }
    }
    if (!has_value) {
      return Bad(where, fmt::format("{} has no '{}'", AttrTypeName(type), value_member));
    }
    return Checked(where, Stamp(std::move(inst)));
  }

  Status SubAttribute(const Where& where, std::string_view key, const json::value& val,
                      size_t depth, Instance* inst) {
    if (depth + 1 > limits_.max_sub_attribute_depth) {
      return Bad(where, fmt::format("sub-attributes nested deeper than {}", limits_.max_sub_attribute_depth));
    }
    auto name = Name(key, "sub-attribute");
    if (!name.ok()) return Bad(where, name.status().message());
    const Where sub_where{&where, key};
    auto sub = InstanceOf(sub_where, val, depth + 1);
    if (!sub.ok()) return sub.status();
    (*inst)[*name] = std::move(*sub);
    return Status::Ok();
  }

  bool IsNull(const json::value& v) const { return allow_null_ && IsNullValue(v); }

  // An NGSI-LD Null deletes, so it is only meaningful where a request may delete (§5.2.1:
  // "In all other cases, implementations shall raise an error of type BadRequestData").
  Result<Instance> Checked(const Where& where, Instance inst) const {
    if (!allow_null_ && IsNullMarker(inst)) {
      return Bad(where, "the NGSI-LD Null \"urn:ngsi-ld:null\" only deletes in an update, merge or partial "
                        "update; it cannot be a value here");
    }
    return inst;
  }

  // Checks the value member `v` of an attribute of `type` and stores it in *out (copied once,
  // or as rewritten: expanded vocab terms, objectList items as objects).
  Status Value(const Where& where, AttrType type, const json::value& v, json::value* out) {
    auto stored = [&](Result<json::value> r) -> Status {
      if (!r.ok()) return r.status();
      *out = std::move(*r);
      return Status::Ok();
    };
    if (IsNull(v)) {
      *out = v;
      return Status::Ok();
    }
    switch (type) {
      case AttrType::kProperty:
        if (v.is_null()) return Bad(where, "'value' must not be null");
        break;
      case AttrType::kGeoProperty:
        if (Status valid = ValidateGeometry(v, {}); !valid.ok()) return ValidateGeometry(v, where.Text());
        break;
      case AttrType::kRelationship:
        CITYHUB_RETURN_IF_ERROR(Objects(where, v));
        break;
      case AttrType::kListRelationship: {
        if (!v.is_array()) return Bad(where, "'objectList' must be an array");
        json::array items;
        for (const auto& item : v.get_array()) {
          const json::value* target = &item;
          if (item.is_object()) {
            target = item.get_object().if_contains("object");
            if (!target) return Bad(where, "an 'objectList' item has no 'object'");
          }
          if (!target->is_string() || !IsUri(target->get_string())) {
            return Bad(where, "every 'objectList' item must be a URI");
          }
          items.emplace_back(json::object{{"object", *target}});
        }
        *out = std::move(items);
        return Status::Ok();
      }
      case AttrType::kLanguageProperty:
        CITYHUB_RETURN_IF_ERROR(LanguageMap(where, v));
        break;
      case AttrType::kVocabProperty:
        return stored(Vocab(where, v));
      case AttrType::kJsonProperty:
        if (v.is_null()) return Bad(where, "'json' must not be null");
        break;
      case AttrType::kListProperty:
        if (!v.is_array()) return Bad(where, "'valueList' must be an array");
        break;
    }
    *out = v;
    return Status::Ok();
  }

  Status Objects(const Where& where, const json::value& v) {
    if (v.is_string()) {
      if (!IsUri(v.get_string())) return Bad(where, fmt::format("'object' {} is not a URI", Quote(v.get_string())));
      return Status::Ok();
    }
    if (v.is_array() && !v.get_array().empty()) {
      for (const auto& item : v.get_array()) {
        if (!item.is_string() || !IsUri(item.get_string())) return Bad(where, "every 'object' must be a URI");
      }
      return Status::Ok();
    }
    return Bad(where, "'object' must be a URI or a non-empty array of URIs");
  }

  Status LanguageMap(const Where& where, const json::value& v) {
    if (!v.is_object() || v.get_object().empty()) return Bad(where, "'languageMap' must be a non-empty object");
    for (const auto& [lang, text] : v.get_object()) {
      if (!IsLanguageTag(lang)) return Bad(where, fmt::format("{} is not a language tag", Quote(lang)));
      bool ok = text.is_string();
      if (text.is_array()) {
        ok = true;
        for (const auto& s : text.get_array()) ok = ok && s.is_string();
      }
      if (!ok) return Bad(where, fmt::format("languageMap entry '{}' must be a string or strings", std::string_view(lang)));
    }
    return Status::Ok();
  }

  Result<json::value> Vocab(const Where& where, const json::value& v) {
    auto expand = [&](const json::value& term) -> Result<json::value> {
      if (!term.is_string() || !IsValidName(term.get_string())) {
        return Bad(where, "'vocab' must hold valid terms");
      }
      return json::value(ctx_.ExpandVocabValue(term.get_string()));
    };
    if (v.is_array() && !v.get_array().empty()) {
      json::array out;
      for (const auto& item : v.get_array()) {
        auto e = expand(item);
        if (!e.ok()) return e.status();
        out.push_back(std::move(*e));
      }
      return json::value(std::move(out));
    }
    return expand(v);
  }

  Result<json::value> TypeNames(const Where& where, const json::value& v) {
    auto one = [&](const json::value& t) -> Result<json::value> {
      if (!t.is_string()) return Bad(where, "'objectType' must hold type names");
      auto n = Name(t.get_string(), "type");
      if (!n.ok()) return Bad(where, n.status().message());
      return json::value(*n);
    };
    if (v.is_array()) {
      json::array out;
      for (const auto& t : v.get_array()) {
        auto e = one(t);
        if (!e.ok()) return e.status();
        out.push_back(std::move(*e));
      }
      return json::value(std::move(out));
    }
    return one(v);
  }

  const Context& ctx_;
  int64_t now_;
  const ParseLimits& limits_;
  bool allow_null_;
  bool keep_times_;
};

Status ParseTypes(const json::value& v, Parser& parser, std::vector<std::string>* out) {
  auto add = [&](const json::value& t) -> Status {
    if (!t.is_string()) return Status::BadRequestData("entity 'type' must be a string or an array of strings");
    auto name = parser.Name(t.get_string(), "entity type");
    if (!name.ok()) return name.status();
    for (const auto& existing : *out) {
      if (existing == *name) return Status::Ok();
    }
    out->push_back(std::move(*name));
    return Status::Ok();
  };
  if (v.is_array()) {
    if (v.get_array().empty()) return Status::BadRequestData("entity 'type' must not be an empty array");
    for (const auto& t : v.get_array()) CITYHUB_RETURN_IF_ERROR(add(t));
    return Status::Ok();
  }
  return add(v);
}

Status ParseScope(const json::value& v) {
  auto one = [](const json::value& s) {
    return s.is_string() && s.get_string().size() > 1 && s.get_string()[0] == '/' &&
           IsValidName(s.get_string());
  };
  bool ok = one(v);
  if (v.is_array() && !v.get_array().empty()) {
    ok = true;
    for (const auto& s : v.get_array()) ok = ok && one(s);
  }
  if (!ok) return Status::BadRequestData("'scope' must be a scope path like \"/Korea/Gimhae\" or an array of them");
  return Status::Ok();
}

}  // namespace

Status CheckGeoOnly(std::string_view iri, std::string_view name, const Instances& instances) {
  bool geo_only = iri == "https://uri.etsi.org/ngsi-ld/location" ||
                  iri == "https://uri.etsi.org/ngsi-ld/observationSpace" ||
                  iri == "https://uri.etsi.org/ngsi-ld/operationSpace";
  if (!geo_only) return Status::Ok();
  for (const auto& i : instances) {
    if (i.contains("type") && AttrTypeOf(i) != AttrType::kGeoProperty && !IsNullMarker(i)) {
      return Status::BadRequestData(fmt::format("attribute {} must be a GeoProperty", Quote(name)));
    }
  }
  return Status::Ok();
}

bool IsEntityKeyword(std::string_view m) {
  return m == "id" || m == "@id" || m == "type" || m == "@type" || m == "scope" || m == "expiresAt" ||
         m == "@context" || m == "createdAt" || m == "modifiedAt" || m == "deletedAt";
}

bool IsNullValue(const json::value& v) {
  if (v.is_string()) return v.get_string() == kNullMarker;
  if (v.is_object()) {  // {"@none": null} (a languageMap), {"object": null} (an objectList item)
    const json::object& o = v.get_object();
    if (o.size() != 1) return false;
    const json::value* inner = o.if_contains("@none");
    if (!inner) inner = o.if_contains("object");
    return inner && inner->is_string() && inner->get_string() == kNullMarker;
  }
  if (v.is_array()) return v.get_array().size() == 1 && IsNullValue(v.get_array().front());  // [null]: a list
  return false;
}

Result<ExpiresAt> ParseExpiresAt(const json::value& v, int64_t now_ms) {
  std::optional<int64_t> at;
  util::TimeFraction fraction;
  if (v.is_string()) at = util::ParseDateTime(v.get_string(), &fraction);
  if (!at) return Status::BadRequestData("'expiresAt' must be a DateTime such as \"2030-01-01T00:00:00Z\"");
  if (*at <= now_ms) return Status::BadRequestData("'expiresAt' must be in the future");
  return ExpiresAt{*at, fraction};
}

bool IsNullMarker(const Instance& inst) {
  for (std::string_view m : {"value", "object", "languageMap", "vocab", "json", "valueList", "objectList"}) {
    if (const auto* v = inst.if_contains(m)) {
      if (m == "value" || m == "json") return v->is_string() && v->get_string() == kNullMarker;
      return IsNullValue(*v);
    }
  }
  return false;
}

Status ValidateGeometry(const json::value& g, std::string_view where) {
  if (!g.is_object()) return Bad(where, "a GeoProperty value must be a GeoJSON geometry object");
  const auto* t = g.get_object().if_contains("type");
  const auto* c = g.get_object().if_contains("coordinates");
  if (!t || !t->is_string() || !IsGeometryType(t->get_string())) {
    return Bad(where, "geometry 'type' must be one of Point, MultiPoint, LineString, "
                      "MultiLineString, Polygon, MultiPolygon");
  }
  if (!c) return Bad(where, "geometry has no 'coordinates'");
  std::string_view type = t->get_string();
  if (type == "Point") return CheckPosition(*c, where);
  if (type == "MultiPoint") return CheckPositions(*c, 1, where);
  if (type == "LineString") return CheckPositions(*c, 2, where);
  if (type == "MultiLineString") {
    return CheckEach(*c, where, [](const json::value& l, std::string_view w) { return CheckPositions(l, 2, w); });
  }
  if (type == "Polygon") return CheckPolygon(*c, where);
  return CheckEach(*c, where, CheckPolygon);
}

Result<Instances> ParseAttribute(std::string_view name, const json::value& v, const Context& ctx,
                                 int64_t now_ms, const ParseLimits& limits, bool allow_null_value) {
  Parser parser(ctx, now_ms, limits, allow_null_value);
  return parser.Attribute(name, v);
}

namespace {

Result<AttrMap> AttributesOf(const json::object& body, Parser& parser, const ParseLimits& limits) {
  AttrMap out;
  for (const auto& [key, val] : body) {
    if (IsEntityKeyword(key)) continue;
    auto name = parser.Name(key, "attribute");
    if (!name.ok()) return name.status();
    auto inst = parser.Attribute(key, val);
    if (!inst.ok()) return inst.status();
    CITYHUB_RETURN_IF_ERROR(CheckGeoOnly(*name, key, *inst));
    if (!out.emplace(std::move(*name), std::move(*inst)).second) {
      return Status::BadRequestData(fmt::format("attribute {} is given twice (after @context expansion)", Quote(key)));
    }
    if (out.size() > limits.max_attributes) {
      return Status::BadRequestData(fmt::format("more than {} attributes", limits.max_attributes));
    }
  }
  return out;
}

Result<Entity> EntityOf(const json::object& body, Parser& parser, int64_t now_ms, const ParseLimits& limits,
                        bool require_id_type) {
  Entity e;
  e.created_at = e.modified_at = now_ms;
  const json::value* id = body.if_contains("id");
  if (!id) id = body.if_contains("@id");
  if (id) {
    if (!id->is_string() || !IsUri(id->get_string())) {
      return Status::BadRequestData(
          id->is_string() ? fmt::format("entity id {} is not a URI", Quote(id->get_string()))
                          : std::string("entity id must be a string holding a URI"));
    }
    e.id = std::string(id->get_string());
  } else if (require_id_type) {
    return Status::BadRequestData("entity has no 'id'");
  }
  const json::value* type = body.if_contains("type");
  if (!type) type = body.if_contains("@type");
  if (type) {
    CITYHUB_RETURN_IF_ERROR(ParseTypes(*type, parser, &e.types));
  } else if (require_id_type) {
    return Status::BadRequestData("entity has no 'type'");
  }
  if (const auto* scope = body.if_contains("scope")) {
    CITYHUB_RETURN_IF_ERROR(ParseScope(*scope));
    e.scope = *scope;
  }
  if (const auto* expires = body.if_contains("expiresAt")) {
    auto at = ParseExpiresAt(*expires, now_ms);
    if (!at.ok()) return at.status();
    e.SetExpiresAt(*at);
  }
  auto attrs = AttributesOf(body, parser, limits);
  if (!attrs.ok()) return attrs.status();
  e.attrs = std::move(*attrs);
  return e;
}

}  // namespace

Result<AttrMap> ParseAttributes(const json::object& body, const Context& ctx, int64_t now_ms,
                                const ParseLimits& limits, bool allow_null_value) {
  Parser parser(ctx, now_ms, limits, allow_null_value);
  return AttributesOf(body, parser, limits);
}

Result<Entity> ParseEntity(const json::object& body, const Context& ctx, int64_t now_ms,
                           const ParseLimits& limits, bool require_id_type) {
  Parser parser(ctx, now_ms, limits, false);
  return EntityOf(body, parser, now_ms, limits, require_id_type);
}

Result<Entity> ParseRenderedEntity(const json::object& body, const Context& ctx, const ParseLimits& limits) {
  Parser parser(ctx, 0, limits, false, /*keep_times=*/true);
  Result<Entity> e = EntityOf(body, parser, 0, limits, true);
  if (!e.ok()) return e;
  for (auto [member, into] : {std::pair{"createdAt", &e->created_at}, std::pair{"modifiedAt", &e->modified_at}}) {
    const json::value* v = body.if_contains(member);
    if (!v) continue;
    const std::optional<int64_t> at = v->is_string() ? util::ParseDateTime(v->get_string()) : std::nullopt;
    if (!at) return Status::BadRequestData(fmt::format("entity '{}' must be a DateTime", member));
    *into = *at;
  }
  return e;
}

}  // namespace cityhub::ngsild
