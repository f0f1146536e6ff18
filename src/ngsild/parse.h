// Parsing client JSON into the entity model (GS CIM 09 §4.5, §5.5): accepts the normalized and
// the concise representation, validates every member, expands names with the request's
// Context and stamps system times. Every error names the offending member, e.g.
// "attribute 'speed': Property has no 'value'". Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "util/status.h"

namespace cityhub::ngsild {

// Attributes parsed from a fragment: expanded name -> instances (one per datasetId).
using AttrMap = std::map<std::string, Instances>;

// Limits on what one entity may hold; exceeding one is a 400 naming the limit.
struct ParseLimits {
  size_t max_attributes = 1000;
  size_t max_instances_per_attribute = 100;
  size_t max_sub_attribute_depth = 8;
};

// Parses a whole entity (POST /entities, PUT /entities/{id}, batch items). `require_id_type`
// is false for PUT, where id and type may be omitted from the body. Sets created/modified to
// `now_ms` on the entity and every instance. "@context" in `body` is ignored here (the API
// resolved it already). Returns BadRequestData naming the first invalid member.
Result<Entity> ParseEntity(const boost::json::object& body, const Context& ctx, int64_t now_ms,
                           const ParseLimits& limits, bool require_id_type = true);

// Parses an entity as an NGSI-LD system rendered it, normalized or concise (a context source's
// answer, GS CIM 009 §4.3.6): the checks of ParseEntity (id and type required), but the system
// times it carries — createdAt and modifiedAt of the entity and of each instance, as DateTime
// text — are kept rather than stamped (0 or absent where it carries none), and an expiresAt in
// the past is accepted. BadRequestData naming the first invalid member.
Result<Entity> ParseRenderedEntity(const boost::json::object& body, const Context& ctx, const ParseLimits& limits);

// Parses an attribute fragment (the body of append/update/merge): every member except id,
// type, scope and @context is an attribute. With `allow_null_value`, an attribute whose value
// is an NGSI-LD Null is kept as a deletion marker (merge, update); without it, an NGSI-LD Null
// is BadRequestData.
Result<AttrMap> ParseAttributes(const boost::json::object& body, const Context& ctx,
                                int64_t now_ms, const ParseLimits& limits,
                                bool allow_null_value = false);

// Parses one attribute value (normalized or concise; an array means several instances).
// `name` is the short name as the client wrote it (for error messages).
Result<Instances> ParseAttribute(std::string_view name, const boost::json::value& v,
                                 const Context& ctx, int64_t now_ms, const ParseLimits& limits,
                                 bool allow_null_value = false);

// The marker value that deletes an attribute in merge and partial updates (§4.5.0).
inline constexpr std::string_view kNullMarker = "urn:ngsi-ld:null";
// True if `v` is an NGSI-LD Null in one of its forms (§4.5.0, §5.5.8): "urn:ngsi-ld:null",
// {"@none": "urn:ngsi-ld:null"} (a languageMap), {"object": "urn:ngsi-ld:null"} (an objectList
// item), or an array holding one of these (a valueList, objectList or object list).
bool IsNullValue(const boost::json::value& v);
// True if the instance is a deletion marker: its value member is an NGSI-LD Null ("value" and
// "json" only as the bare string: a JSON value may well be an array or object).
bool IsNullMarker(const Instance& inst);

// Validates a GeoJSON geometry (type and coordinates; positions within WGS84 ranges; rings
// closed). Returns BadRequestData naming `where` and the problem.
Status ValidateGeometry(const boost::json::value& geometry, std::string_view where);

// location, observationSpace and operationSpace are GeoProperties by definition (§4.7):
// BadRequestData naming `name` if an instance of the attribute expanded to `iri` carries
// another type. Deletion markers and fragments without a type pass.
Status CheckGeoOnly(std::string_view iri, std::string_view name, const Instances& instances);

// The entity member expiresAt (a transient entity, GS CIM 009 §4.22): a DateTime later than
// `now_ms`, as epoch ms. BadRequestData naming 'expiresAt' otherwise.
Result<ExpiresAt> ParseExpiresAt(const boost::json::value& v, int64_t now_ms);

// Names that are not attributes in an entity body.
bool IsEntityKeyword(std::string_view member);

}  // namespace cityhub::ngsild
