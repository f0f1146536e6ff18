// Policy: who may do what (issue 6). Roles are held per tenant (principal.h); the built-in ones
// grant, in any tenant where they are held:
//   reader — read;   writer — read, write, subscribe;   admin — read, write, subscribe, admin, register.
// The policy file adds rules that grant (`allow`) or withhold (`deny`) an operation on the
// entities of some types, ids (idPattern) and attributes, to roles (built-in or custom) or
// subjects, in some tenants, optionally only on entities the caller owns (created). Deny wins;
// an attribute is readable/writable if some matching allow covers it and no matching deny does.
// A rule naming no types, idPattern, attributes or owner is unconditional.
//
// File (JSON; names are short terms expanded with "@context", or full IRIs):
//   {"@context": <optional JSON-LD context>,
//    "rules": [{"effect": "allow"|"deny", "roles": [..], "subjects": [..], "tenants": [..],
//               "operations": ["read","write","subscribe","admin","register"], "types": [..],
//               "idPattern": "<RE2, full match>", "attrs": [..], "owner": true|false}]}
// A rule must name roles or subjects; "tenants" absent or ["*"] means every tenant.
//
// Policy and Access are immutable after creation and thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "security/principal.h"
#include "util/status.h"

namespace re2 {
class RE2;
}

namespace cityhub::security {

// kRegister: managing and reading context source registrations (where the hub forwards
// requests, with what credentials) — held by admin only unless a policy rule grants it.
enum class Operation { kRead = 0, kWrite = 1, kSubscribe = 2, kAdmin = 3, kRegister = 4 };
std::string_view OperationName(Operation op);

// The facts about an entity the rules can test.
struct EntityFacts {
  std::string_view id;
  const std::vector<std::string>* types = nullptr;  // expanded IRIs
  std::string_view owner;                           // "" = unknown / none
};

struct Rule {
  bool allow = true;
  std::vector<std::string> roles;
  std::vector<std::string> subjects;
  std::vector<std::string> tenants;  // empty = every tenant
  unsigned operations = 0;           // bit per Operation
  std::vector<std::string> types;    // expanded; empty = any
  std::shared_ptr<const re2::RE2> id_pattern;  // null = any
  std::vector<std::string> attrs;    // expanded; empty = every attribute
  bool owner_only = false;

  bool Conditional() const { return !types.empty() || id_pattern || !attrs.empty() || owner_only; }
  bool MatchesEntity(const EntityFacts& e, std::string_view subject) const;
  bool CoversAttribute(std::string_view attr) const;
};

// What one principal may do with one operation in one tenant.
class Access {
 public:
  // Everything (no authentication configured, or an unconditional grant and no deny).
  static Access All();

  bool none() const { return !all_ && allows_.empty(); }
  bool all() const { return all_; }
  // True if deciding needs the entity's owner.
  bool needs_owner() const { return needs_owner_; }

  bool Entity(const EntityFacts& e) const;
  bool Attribute(const EntityFacts& e, std::string_view attr) const;
  // True if no attribute of a visible entity `e` is withheld (no attribute-level rule applies).
  bool EveryAttribute(const EntityFacts& e) const;
  // True if an entity of type `type` may be visible at all (for type and attribute discovery):
  // some allow could match it and no unconditional deny of the type holds.
  bool TypeMayBeVisible(std::string_view type) const;

 private:
  friend class Policy;
  bool all_ = false;
  bool needs_owner_ = false;
  std::string subject_;
  std::vector<const Rule*> allows_;
  std::vector<const Rule*> denies_;
};

class Policy {
 public:
  // The built-in roles only.
  Policy() = default;
  // Parses a policy file's text; `expand` expands a term the file's @context does not define
  // (the hub passes the resolved context's expansion). BadRequestData naming the rule and member.
  static Result<std::shared_ptr<const Policy>> Parse(
      std::string_view text, const std::function<Result<std::function<std::string(std::string_view)>>(
                                 const boost::json::value* context)>& expander);

  // The access `p` has for `op` in `tenant`.
  Access AccessFor(const Principal& p, std::string_view tenant, Operation op) const;
  size_t rule_count() const { return rules_.size(); }

 private:
  std::vector<Rule> rules_;
};

}  // namespace cityhub::security
