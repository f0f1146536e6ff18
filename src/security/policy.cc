#include "security/policy.h"

#include <algorithm>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

namespace cityhub::security {
namespace json = boost::json;

namespace {

constexpr unsigned Bit(Operation op) { return 1u << static_cast<unsigned>(op); }
constexpr unsigned kAllOperations = Bit(Operation::kRead) | Bit(Operation::kWrite) | Bit(Operation::kSubscribe) | Bit(Operation::kAdmin) |
                                  Bit(Operation::kRegister);

// The operations a built-in role grants (0 for a custom role).
unsigned BuiltInGrant(std::string_view role) {
  if (role == "reader") return Bit(Operation::kRead);
  if (role == "writer") return Bit(Operation::kRead) | Bit(Operation::kWrite) | Bit(Operation::kSubscribe);
  if (role == "admin") return kAllOperations;
  return 0;
}

bool Contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

Status Bad(size_t index, std::string_view member, std::string_view why) {
  return Status::BadRequestData(fmt::format("policy rule {}: '{}' {}", index, member, why));
}

Result<std::vector<std::string>> Strings(const json::object& rule, std::string_view member, size_t index) {
  std::vector<std::string> out;
  const json::value* v = rule.if_contains(member);
  if (!v) return out;
  if (!v->is_array()) return Bad(index, member, "must be an array of strings");
  for (const auto& item : v->get_array()) {
    if (!item.is_string() || item.get_string().empty()) return Bad(index, member, "must be an array of non-empty strings");
    out.emplace_back(item.get_string());
  }
  return out;
}

}  // namespace

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kRead: return "read";
    case Operation::kWrite: return "write";
    case Operation::kSubscribe: return "subscribe";
    case Operation::kAdmin: return "admin";
    case Operation::kRegister: return "register";
  }
  return "?";
}

bool Rule::MatchesEntity(const EntityFacts& e, std::string_view subject) const {
  if (owner_only && (e.owner.empty() || e.owner != subject)) return false;
  if (!types.empty()) {
    if (!e.types) return false;
    bool any = false;
    for (const auto& t : *e.types) any = any || Contains(types, t);
    if (!any) return false;
  }
  if (id_pattern && !re2::RE2::FullMatch(re2::StringPiece(e.id.data(), e.id.size()), *id_pattern)) return false;
  return true;
}

bool Rule::CoversAttribute(std::string_view attr) const { return attrs.empty() || Contains(attrs, attr); }

Access Access::All() {
  Access a;
  a.all_ = true;
  return a;
}

bool Access::Entity(const EntityFacts& e) const {
  if (all_) return true;
  bool allowed = false;
  for (const Rule* r : allows_) allowed = allowed || r->MatchesEntity(e, subject_);
  if (!allowed) return false;
  for (const Rule* r : denies_) {
    if (r->attrs.empty() && r->MatchesEntity(e, subject_)) return false;
  }
  return true;
}

bool Access::Attribute(const EntityFacts& e, std::string_view attr) const {
  if (all_) return true;
  bool allowed = false;
  for (const Rule* r : allows_) allowed = allowed || (r->CoversAttribute(attr) && r->MatchesEntity(e, subject_));
  if (!allowed) return false;
  for (const Rule* r : denies_) {
    if (r->CoversAttribute(attr) && r->MatchesEntity(e, subject_)) return false;
  }
  return true;
}

bool Access::EveryAttribute(const EntityFacts& e) const {
  if (all_) return true;
  bool unrestricted = false;
  for (const Rule* r : allows_) unrestricted = unrestricted || (r->attrs.empty() && r->MatchesEntity(e, subject_));
  if (!unrestricted) return false;
  for (const Rule* r : denies_) {
    if (r->MatchesEntity(e, subject_)) return false;
  }
  return true;
}

bool Access::TypeMayBeVisible(std::string_view type) const {
  if (all_) return true;
  bool allowed = false;
  for (const Rule* r : allows_) allowed = allowed || r->types.empty() || Contains(r->types, type);
  if (!allowed) return false;
  for (const Rule* r : denies_) {
    if (r->attrs.empty() && !r->id_pattern && !r->owner_only && Contains(r->types, type)) return false;
  }
  return true;
}

Result<std::shared_ptr<const Policy>> Policy::Parse(
    std::string_view text,
    const std::function<Result<std::function<std::string(std::string_view)>>(const json::value* context)>& expander) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return Status::BadRequestData("the policy file is not a JSON object");
  const json::object& root = doc.get_object();
  for (const auto& [k, v] : root) {
    if (k != "@context" && k != "rules") return Status::BadRequestData(fmt::format("the policy file has an unknown member '{}'", std::string_view(k)));
  }
  auto expand = expander(root.if_contains("@context"));
  if (!expand.ok()) return expand.status();
  const json::value* rules = root.if_contains("rules");
  if (!rules || !rules->is_array()) return Status::BadRequestData("the policy file needs a 'rules' array");
  auto policy = std::make_shared<Policy>();
  size_t index = 0;
  for (const auto& item : rules->get_array()) {
    if (!item.is_object()) return Bad(index, "rule", "must be an object");
    const json::object& o = item.get_object();
    Rule r;
    for (const auto& [k, v] : o) {
      static const char* kKnown[] = {"effect", "roles", "subjects", "tenants", "operations", "types", "idPattern", "attrs", "owner", "description"};
      if (std::none_of(std::begin(kKnown), std::end(kKnown), [&, key = std::string_view(k)](const char* n) { return key == n; })) {
        return Bad(index, k, "is not a rule member");
      }
    }
    const json::value* effect = o.if_contains("effect");
    if (!effect || !effect->is_string() || (effect->get_string() != "allow" && effect->get_string() != "deny")) {
      return Bad(index, "effect", "must be \"allow\" or \"deny\"");
    }
    r.allow = effect->get_string() == "allow";
    auto roles = Strings(o, "roles", index);
    auto subjects = Strings(o, "subjects", index);
    auto tenants = Strings(o, "tenants", index);
    auto ops = Strings(o, "operations", index);
    auto types = Strings(o, "types", index);
    auto attrs = Strings(o, "attrs", index);
    for (const auto* res : {&roles, &subjects, &tenants, &ops, &types, &attrs}) {
      if (!res->ok()) return res->status();
    }
    r.roles = std::move(*roles);
    r.subjects = std::move(*subjects);
    if (r.roles.empty() && r.subjects.empty()) return Bad(index, "roles", "or 'subjects' must name who the rule is for");
    if (!Contains(*tenants, "*")) r.tenants = std::move(*tenants);
    if (ops->empty()) return Bad(index, "operations", "must name at least one operation");
    for (const auto& op : *ops) {
      if (op == "read") r.operations |= Bit(Operation::kRead);
      else if (op == "write") r.operations |= Bit(Operation::kWrite);
      else if (op == "subscribe") r.operations |= Bit(Operation::kSubscribe);
      else if (op == "admin") r.operations |= Bit(Operation::kAdmin);
      else if (op == "register") r.operations |= Bit(Operation::kRegister);
      else return Bad(index, "operations", fmt::format("has an unknown operation '{}' (read, write, subscribe, admin, register)", op));
    }
    for (const auto& t : *types) r.types.push_back((*expand)(t));
    for (const auto& a : *attrs) r.attrs.push_back((*expand)(a));
    if (const json::value* p = o.if_contains("idPattern")) {
      if (!p->is_string() || p->get_string().empty()) return Bad(index, "idPattern", "must be a non-empty string");
      re2::RE2::Options opts;
      opts.set_log_errors(false);
      auto re = std::make_shared<re2::RE2>(std::string(p->get_string()), opts);
      if (!re->ok()) return Bad(index, "idPattern", fmt::format("is not a valid regular expression: {}", re->error()));
      r.id_pattern = std::move(re);
    }
    if (const json::value* owner = o.if_contains("owner")) {
      if (!owner->is_bool()) return Bad(index, "owner", "must be true or false");
      r.owner_only = owner->get_bool();
    }
    if (!r.allow && r.owner_only) return Bad(index, "owner", "is only meaningful on allow rules");
    policy->rules_.push_back(std::move(r));
    ++index;
  }
  return std::shared_ptr<const Policy>(std::move(policy));
}

Access Policy::AccessFor(const Principal& p, std::string_view tenant, Operation op) const {
  Access a;
  a.subject_ = p.subject;
  const std::vector<std::string_view> held = p.RolesIn(tenant);
  bool unconditional = false;
  for (std::string_view role : held) unconditional = unconditional || (BuiltInGrant(role) & Bit(op));
  for (const Rule& r : rules_) {
    if (!(r.operations & Bit(op))) continue;
    if (!r.tenants.empty() && !Contains(r.tenants, tenant)) continue;
    bool who = Contains(r.subjects, p.subject);
    for (std::string_view role : held) who = who || Contains(r.roles, role);
    if (!who) continue;
    if (r.allow) {
      if (!r.Conditional()) unconditional = true;
      a.allows_.push_back(&r);
    } else {
      a.denies_.push_back(&r);
    }
  }
  if (unconditional) {
    if (a.denies_.empty()) return Access::All();
    // An unconditional grant stands for every conditional allow.
    static const Rule kGrant;
    a.allows_.assign(1, &kGrant);
  }
  for (const Rule* r : a.allows_) a.needs_owner_ = a.needs_owner_ || r->owner_only;
  return a;
}

}  // namespace cityhub::security
