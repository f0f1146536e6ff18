// Privacy (issue 6): which attributes of which entity types hold personal or sensitive data,
// how callers without the privilege see them, and what the hub tells citizens about it.
//
// The privacy file (JSON; names are short terms expanded with "@context", or full IRIs):
//   {"@context": <optional>, "k": 5,
//    "classes": {"personal":  {"treatment": "pseudonymise", "readers": ["privacy-officer"]},
//                "sensitive": {"treatment": "omit",         "readers": ["privacy-officer"]}},
//    "types": {"Person": {"purpose": "...", "legitimateInterest": "...", "retention": "P1Y",
//                         "crossborderTransfer": "None",
//                         "attributes": {"name": "personal", "healthCondition": "sensitive"}}}}
// "classes" may be left out (the defaults above). A caller holding one of a class's `readers`
// roles in the tenant sees its attributes in clear; anyone else gets them pseudonymised (a
// keyed HMAC-SHA256 of the value, stable per tenant: equal values give equal pseudonyms, so
// counting and joining still work) or omitted. "k" is the smallest group an aggregate export
// may show. "retention" (ISO 8601 duration) bounds how long the type's history is kept.
//
// Immutable after parsing; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "util/status.h"

namespace cityhub::security {

enum class DataClass { kNone = 0, kPersonal = 1, kSensitive = 2 };
enum class Treatment { kClear, kPseudonymise, kOmit };

struct ClassRule {
  Treatment treatment = Treatment::kOmit;
  std::vector<std::string> readers;  // role names that see the class in clear
};

struct TypePrivacy {
  std::string term;  // as the file names it
  std::string iri;   // expanded
  std::string purpose, legitimate_interest, retention, crossborder_transfer;
  std::map<std::string, DataClass> attributes;  // expanded attribute IRI -> class
  std::map<std::string, std::string> terms;     // expanded attribute IRI -> name in the file
};

class PrivacyPolicy {
 public:
  static constexpr size_t kDefaultK = 5;

  static Result<std::shared_ptr<const PrivacyPolicy>> Parse(
      std::string_view text, const std::function<Result<std::function<std::string(std::string_view)>>(
                                 const boost::json::value* context)>& expander);

  // The class of `attr` on an entity with `types` (the highest any of its types gives).
  DataClass ClassOf(const std::vector<std::string>& types, std::string_view attr) const;
  // True if any of `types` classifies an attribute.
  bool Classifies(const std::vector<std::string>& types) const;
  const ClassRule& Rule(DataClass c) const { return c == DataClass::kSensitive ? sensitive_ : personal_; }
  size_t k() const { return k_; }
  const std::map<std::string, TypePrivacy>& types() const { return types_; }
  // History retention rules ("<type IRI>=<duration>,…") for the types that give one.
  std::string RetentionRules() const;
  // The transparency document: one PrivacyObject-like entry per type (what is collected, why,
  // how long it is kept, who may read it in clear).
  boost::json::object Transparency() const;

 private:
  std::map<std::string, TypePrivacy> types_;  // by type IRI
  ClassRule personal_{Treatment::kPseudonymise, {"privacy-officer"}};
  ClassRule sensitive_{Treatment::kOmit, {"privacy-officer"}};
  size_t k_ = kDefaultK;
};

// Keyed pseudonyms: HMAC-SHA256 under a per-tenant key derived from the hub's secret.
class Pseudonymiser {
 public:
  // BadRequestData if the secret is shorter than 32 bytes.
  static Result<std::unique_ptr<Pseudonymiser>> Create(std::string secret);
  // The tenant's key (derived once per tenant and remembered; thread-safe).
  std::string TenantKey(std::string_view tenant) const;
  // "urn:cityhub:pseudonym:<27 base64url characters>" for `data` under `tenant_key`.
  static std::string Pseudonym(std::string_view tenant_key, std::string_view data);
  // Replaces the value of a normalized attribute instance by the pseudonym of its value and
  // drops its sub-attributes (they may hold personal data too); keeps type, datasetId,
  // observedAt, unitCode and system members. False for an instance that cannot keep its shape
  // with a pseudonym (GeoProperty): the caller must omit it.
  static bool Apply(std::string_view tenant_key, boost::json::object& instance);

 private:
  explicit Pseudonymiser(std::string secret) : secret_(std::move(secret)) {}
  std::string secret_;
  mutable std::shared_mutex keys_mutex_;
  mutable std::map<std::string, std::string, std::less<>> keys_;  // by tenant
};

// The hub's pseudonym secret from `path`, created (32 random bytes, mode 0600) if missing.
Result<std::string> LoadOrCreateSecret(const std::string& path);

}  // namespace cityhub::security
