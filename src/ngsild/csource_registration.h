// Context source registrations (GS CIM 009 v1.8.1 §5.2.9, with RegistrationInfo §5.2.10,
// EntityInfo §5.2.8, TimeInterval §5.2.11 and RegistrationManagementInfo §5.2.34): validating a
// registration from a client (Register §5.9.2 and Update §5.9.3 payloads) into its stored form,
// rendering the stored form for a client, and the operation names and groups of §4.20.
//
// The stored form is a JSON object like the payload with every name expanded to its IRI
// (information.entities.type, propertyNames, relationshipNames, and the names of the
// registration's own properties — members the data type does not define, §5.2.9 "additional
// properties" — which are kept under "properties"), DateTimes as UTC text, "mode" always
// present ("inclusive" unless given), and createdAt/modifiedAt as epoch milliseconds.
// Rendering compacts the names with the reader's @context. The read-only status members
// (status, timesSent, timesFailed, lastSuccess, lastFailure) belong to the hub: a payload
// naming them is refused.
// Pure functions, no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "ngsild/context.h"
#include "ngsild/entity.h"
#include "util/status.h"

namespace cityhub::ngsild {

// Limits on one registration (documented in docs/API.md).
struct RegistrationLimits {
  size_t max_information = 100;       // RegistrationInfo items
  size_t max_entities = 100;          // EntityInfo items per RegistrationInfo
  size_t max_names = 100;             // propertyNames / relationshipNames per item, types per EntityInfo
  size_t max_info_pairs = 32;         // contextSourceInfo
  size_t max_properties = 64;         // the registration's own properties
  size_t max_text_bytes = 8 * 1024;   // names, descriptions, URIs, values of contextSourceInfo
  size_t max_id_pattern_bytes = 1024;
  size_t max_geometry_bytes = 64 * 1024;  // each of location, observationSpace, operationSpace
  size_t max_stored_bytes = 256 * 1024;   // the whole stored form
  size_t max_per_tenant = 100'000;        // registrations a tenant may hold (RegistrationService)
};

// The §4.20 operation names a registration may list, and whether `name` is one; the groups
// (federationOps, updateOps, retrieveOps, redirectionOps) expand to names.
bool IsOperationName(std::string_view name);
// The operation names `operations` (a stored "operations" array, or null for the default
// federationOps) stands for, without duplicates.
std::vector<std::string> ExpandOperations(const boost::json::value* operations);
// True for the operations that only read (retrieve, query, subscribe): the only ones an
// auxiliary registration may offer (§4.3.6.2).
bool IsReadOperation(std::string_view name);
// Every operation name (not the groups), in a fixed order: index i is bit i of a mask.
const std::vector<std::string_view>& OperationNames();

// Validates a Register payload (§5.9.2) read with `ctx` and returns the stored form; `id` is
// used when the payload has none. BadRequestData naming the member for anything invalid:
// wrong types, an unknown operation, a bad URI, an invalid geometry or interval, expiresAt in
// the past, a status member, a mode the information does not allow (§4.3.6.2: an exclusive
// registration names entity ids, no idPattern, and attributes; an auxiliary one offers only
// read operations).
Result<boost::json::object> NormalizeRegistration(const boost::json::object& payload, const Context& ctx,
                                                  std::string_view id, int64_t now_ms,
                                                  const RegistrationLimits& limits = {});

// Applies an Update fragment (§5.9.3) read with `ctx`: each member given replaces the stored
// one (null removes an optional one); the result is validated as a whole. `stored` is
// unchanged on error.
Status PatchRegistration(boost::json::object& stored, const boost::json::object& fragment, const Context& ctx,
                         int64_t now_ms, const RegistrationLimits& limits = {});

// The stored registration as a client sees it: names compacted with `ctx`, createdAt and
// modifiedAt as DateTime text only with `sys_attrs`.
boost::json::object RenderRegistration(const boost::json::object& stored, const Context& ctx, bool sys_attrs);

// The registration as an entity for the query languages (q, csf, scopeQ): its id, type
// ContextSourceRegistration, scope, and each member as a Property named by its expanded IRI
// (`ctx` expands the members the data type defines; the registration's own properties are
// stored expanded).
Entity RegistrationAsEntity(const boost::json::object& stored, const Context& ctx);

// A temporal query on registrations (§5.10.2; a context source registration subscription's
// temporalQ, §5.2.12): true if the registration's interval for `timeproperty` —
// observationInterval for observedAt, managementInterval for createdAt, modifiedAt and
// deletedAt — overlaps the query: starts before `at_ms` (before), ends after it or is open
// (after), or overlaps [at_ms, end_ms) (between). False without that interval.
enum class IntervalRel { kBefore, kAfter, kBetween };
bool IntervalOverlaps(const boost::json::object& stored, std::string_view timeproperty, IntervalRel rel, int64_t at_ms,
                      int64_t end_ms);

// The epoch milliseconds of a stored DateTime member (nullopt if absent or not a DateTime).
std::optional<int64_t> RegistrationTime(const boost::json::object& stored, std::string_view member);

}  // namespace cityhub::ngsild
