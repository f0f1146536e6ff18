// The NGSI-LD entity model as the hub keeps it (GS CIM 009 §4.5, §5.2): an Entity with its
// id, types, scope, system times and attributes, every name already expanded to its IRI.
//
// An attribute instance is a boost::json::object in normalized form whose members are either
// NGSI-LD keywords (type, value, object, objectType, languageMap, vocab, json, valueList,
// objectList, observedAt, unitCode, datasetId, createdAt, modifiedAt) or sub-attributes keyed
// by expanded IRI (an IRI always contains ':', a keyword never does, so they cannot collide).
// createdAt/modifiedAt are kept as epoch milliseconds (int64) and rendered as DateTime text.
// Plain values; not thread-safe (each request works on its own copy).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "util/status.h"
#include "util/time.h"

namespace cityhub::ngsild {

// The attribute types of GS CIM 009 v1.8 §4.5.
enum class AttrType {
  kProperty,
  kRelationship,
  kGeoProperty,
  kLanguageProperty,
  kVocabProperty,
  kJsonProperty,
  kListProperty,
  kListRelationship,
};

// "Property", "Relationship", … ; and the member holding each type's value ("value",
// "object", "value", "languageMap", "vocab", "json", "valueList", "objectList").
std::string_view AttrTypeName(AttrType t);
std::string_view AttrValueMember(AttrType t);
std::optional<AttrType> ParseAttrTypeName(std::string_view name);

// A transient entity's expiresAt (§4.22) as the client wrote it: the instant (epoch ms) and the
// fraction of a second it was written with, so that it is returned with the same precision.
struct ExpiresAt {
  int64_t ms = 0;
  util::TimeFraction fraction;
};

using Instance = boost::json::object;
using Instances = std::vector<Instance>;

struct Entity {
  std::string id;
  std::vector<std::string> types;        // expanded IRIs, in input order, no duplicates
  boost::json::value scope;              // null, or a string / array of strings
  int64_t created_at = 0;                // epoch ms
  int64_t modified_at = 0;
  // When a transient entity expires (epoch ms; 0 = never): from then on it is no longer served
  // and the hub deletes it (GS CIM 009 §4.22, the Entity member expiresAt).
  int64_t expires_at = 0;
  util::TimeFraction expires_fraction;  // the fraction expiresAt was written with
  std::map<std::string, Instances> attrs;  // expanded attribute IRI -> instances
  // Who created the entity (the principal's subject; "" without authentication). Kept by every
  // later write; never rendered — access rules may grant rights to an entity's owner.
  std::string owner;

  // True if the entity is transient and its expiry has passed at `now_ms`.
  bool ExpiredAt(int64_t now_ms) const { return expires_at != 0 && expires_at <= now_ms; }
  // Sets expiresAt; true if that changed it.
  bool SetExpiresAt(const ExpiresAt& at);
  // Returns the instance of `attr` with `dataset_id` ("" = the default instance), or nullptr.
  Instance* FindInstance(const std::string& attr, std::string_view dataset_id);
  // The expanded attribute names present, ascending.
  std::vector<std::string> AttributeNames() const;
  // Adds those of `more` (expanded type IRIs) that the entity does not have yet, in order.
  void AddTypes(const std::vector<std::string>& more);
};

// The instance's datasetId, or "" for the default instance.
std::string_view DatasetIdOf(const Instance& inst);
// The datasetId selection of a request or subscription (§4.5.5, the `datasetId` parameter):
// each item a URI, or "@none" for the default instances (kept as ""). BadRequestData naming
// `where` for an empty list or an item that is neither.
Result<std::set<std::string>> ParseDatasetSelection(const std::vector<std::string>& items, std::string_view where);
// Keeps, of each attribute of `e`, only the instances whose datasetId `selection` holds ("" =
// the default instance); an attribute left without instances is removed.
void KeepDatasets(Entity& e, const std::set<std::string>& selection);

// The attribute type of an instance (instances are validated on the way in, so always known).
AttrType AttrTypeOf(const Instance& inst);
// True for the members of an instance that are NGSI-LD keywords, not sub-attributes.
bool IsInstanceKeyword(std::string_view member);

// The nesting a stored entity document may reach: a body's deepest (at most 512, see
// --max-json-depth) plus the levels the storage form wraps values in. Reading a stored entity
// must never refuse what a write accepted.
inline constexpr size_t kStoredMaxDepth = 600;

// Storage form: compact JSON text with expanded names. Parse returns Internal on corruption.
std::string SerializeEntity(const Entity& e);
Result<Entity> DeserializeEntity(std::string_view doc);

// Validation helpers shared by parsing and the API.
// True if `s` is an absolute URI: scheme ":" rest, no whitespace or control characters.
bool IsUri(std::string_view s);
// True if `s` may name an entity type or attribute: non-empty, at most 512 bytes, and free of
// control characters, whitespace and the characters the spec forbids (<>"'=;()\).
bool IsValidName(std::string_view s);

}  // namespace cityhub::ngsild
