// Context source registration validation and rendering. Each member has one reader that checks
// it and writes its stored form; the rules between members (what must be present, what a mode
// allows) are checked once on the whole stored form, after a create or after an update was
// applied, so that both paths refuse the same registrations.
#include "ngsild/csource_registration.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include "ngsild/geo.h"
#include "ngsild/members.h"
#include "util/json.h"
#include "util/time.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

// §4.20: every operation name, then the groups.
const std::vector<std::string_view> kOperationNames = {
    "createEntity", "updateEntity", "appendAttrs", "updateAttrs", "deleteAttrs", "deleteEntity", "createBatch",
    "upsertBatch", "updateBatch", "deleteBatch", "upsertTemporal", "appendAttrsTemporal", "deleteAttrsTemporal",
    "updateAttrInstanceTemporal", "deleteAttrInstanceTemporal", "deleteTemporal", "mergeEntity", "replaceEntity",
    "replaceAttrs", "mergeBatch", "purgeEntity",
    // reads
    "retrieveEntity", "queryEntity", "queryBatch", "retrieveTemporal", "queryTemporal", "retrieveEntityTypes",
    "retrieveEntityTypeDetails", "retrieveEntityTypeInfo", "retrieveAttrTypes", "retrieveAttrTypeDetails",
    "retrieveAttrTypeInfo", "createSubscription", "updateSubscription", "retrieveSubscription", "querySubscription",
    "deleteSubscription", "retrieveEntityMap", "updateEntityMap", "deleteEntityMap"};
constexpr size_t kFirstReadOperation = 21;  // index of retrieveEntity

struct OperationGroup {
  std::string_view name;
  std::vector<std::string_view> members;
};
const std::vector<OperationGroup> kGroups = {
    {"federationOps",
     {"retrieveEntity", "queryEntity", "queryBatch", "retrieveTemporal", "queryTemporal", "retrieveEntityTypes",
      "retrieveEntityTypeDetails", "retrieveEntityTypeInfo", "retrieveAttrTypes", "retrieveAttrTypeDetails",
      "retrieveAttrTypeInfo", "createSubscription", "updateSubscription", "retrieveSubscription", "querySubscription",
      "deleteSubscription"}},
    {"updateOps", {"updateEntity", "updateAttrs", "replaceEntity", "replaceAttrs"}},
    {"retrieveOps", {"retrieveEntity", "queryEntity"}},
    {"redirectionOps",
     {"createEntity", "updateEntity", "appendAttrs", "updateAttrs", "deleteAttrs", "deleteEntity", "mergeEntity",
      "replaceEntity", "replaceAttrs", "retrieveEntity", "queryEntity", "retrieveEntityTypes",
      "retrieveEntityTypeDetails", "retrieveEntityTypeInfo", "retrieveAttrTypes", "retrieveAttrTypeDetails",
      "retrieveAttrTypeInfo"}},
};

const OperationGroup* GroupNamed(std::string_view name) {
  for (const auto& g : kGroups) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

constexpr std::string_view kModes[] = {"inclusive", "exclusive", "redirect", "auxiliary"};
// Maintained by the hub: a client may not set them.
constexpr std::string_view kStatusMembers[] = {"status", "timesSent", "timesFailed", "lastSuccess", "lastFailure"};
// System members: accepted (a client may send back what it read) and ignored.
constexpr std::string_view kSystemMembers[] = {"createdAt", "modifiedAt", "deletedAt"};
// Optional members an update may remove with null.
constexpr std::string_view kRemovable[] = {
    "registrationName", "description", "contextSourceAlias", "datasetId", "tenant", "observationInterval",
    "managementInterval", "location", "observationSpace", "operationSpace", "expiresAt", "contextSourceInfo",
    "scope", "mode", "operations", "refreshRate", "management"};
constexpr std::string_view kGeoMembers[] = {"location", "observationSpace", "operationSpace"};
// The members §5.2.9 defines (the others are the registration's own properties).
constexpr std::string_view kDefined[] = {
    "id", "type", "registrationName", "description", "contextSourceAlias", "information", "datasetId", "tenant",
    "observationInterval", "managementInterval", "location", "observationSpace", "operationSpace", "expiresAt",
    "endpoint", "contextSourceInfo", "scope", "mode", "operations", "refreshRate", "management"};

Status Bad(std::string_view member, std::string_view what) {
  return Status::BadRequestData(fmt::format("registration member '{}': {}", member, what));
}

// An http(s) URI with a host: where the hub sends distributed operations.
bool IsHttpEndpoint(std::string_view uri) {
  std::string lower(uri.substr(0, 8));
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  size_t rest = lower.starts_with("https://") ? 8 : lower.starts_with("http://") ? 7 : 0;
  return rest > 0 && uri.size() > rest && uri[rest] != '/' && IsUri(uri);
}

class Reader {
 public:
  Reader(const Context& ctx, int64_t now_ms, const RegistrationLimits& limits)
      : ctx_(ctx), now_ms_(now_ms), limits_(limits) {}

  Status Read(const json::object& in, json::object& out, bool patch) {
    for (const auto& [key, value] : in) {
      if (key == "@context" || key == "id" || OneOf(key, kSystemMembers)) continue;  // id: the caller's
      if (OneOf(key, kStatusMembers)) return Bad(key, "is read-only: the hub maintains it");
      if (patch && value.is_null() && OneOf(key, kRemovable)) {
        out.erase(key);
        continue;
      }
      CITYHUB_RETURN_IF_ERROR(Member(key, value, out, patch));
    }
    return Status::Ok();
  }

 private:
  Status Member(std::string_view key, const json::value& value, json::object& out, bool patch) {
    if (key == "type") {
      if (!value.is_string() || value.get_string() != "ContextSourceRegistration") {
        return Bad("type", "must be \"ContextSourceRegistration\"");
      }
      out["type"] = value;
    } else if (key == "registrationName" || key == "description" || key == "contextSourceAlias" ||
               key == "tenant" || key == "refreshRate") {
      CITYHUB_RETURN_IF_ERROR(Text(key, value));
      out[key] = value;
    } else if (key == "information") {
      auto v = Information(value);
      if (!v.ok()) return v.status();
      out[key] = std::move(*v);
    } else if (key == "datasetId") {
      CITYHUB_RETURN_IF_ERROR(Datasets(value));
      out[key] = value;
    } else if (key == "observationInterval" || key == "managementInterval") {
      auto v = Interval(key, value);
      if (!v.ok()) return v.status();
      out[key] = std::move(*v);
    } else if (OneOf(key, kGeoMembers)) {
      auto g = Geometry::FromGeoJson(value, key);
      if (!g.ok()) return Bad(key, g.status().message());
      if (util::SerializeJson(value).size() > limits_.max_geometry_bytes) {
        return Bad(key, fmt::format("is larger than {} bytes", limits_.max_geometry_bytes));
      }
      out[key] = value;
    } else if (key == "expiresAt") {
      auto ms = value.is_string() ? util::ParseDateTime(value.get_string()) : std::nullopt;
      if (!ms) return Bad("expiresAt", "must be a DateTime such as 2030-01-01T00:00:00Z");
      if (*ms <= now_ms_) return Bad("expiresAt", "is in the past");
      out[key] = *util::DateTimeInUtc(value.get_string());
    } else if (key == "endpoint") {
      if (!value.is_string() || value.get_string().size() > limits_.max_text_bytes || !IsHttpEndpoint(value.get_string())) {
        return Bad("endpoint", "must be an absolute http or https URI naming a host");
      }
      out[key] = value;
    } else if (key == "contextSourceInfo") {
      CITYHUB_RETURN_IF_ERROR(KeyValues(key, value));
      out[key] = value;
    } else if (key == "scope") {
      CITYHUB_RETURN_IF_ERROR(Scope(value));
      out[key] = value;
    } else if (key == "mode") {
      if (!value.is_string() || !OneOf(value.get_string(), kModes)) {
        return Bad("mode", "must be inclusive, exclusive, redirect or auxiliary");
      }
      out[key] = value;
    } else if (key == "operations") {
      CITYHUB_RETURN_IF_ERROR(Operations(value));
      out[key] = value;
    } else if (key == "management") {
      if (!value.is_object()) return Bad("management", "must be an object");
      json::value& stored = out["management"];
      if (!patch || !stored.is_object()) stored = json::object();
      CITYHUB_RETURN_IF_ERROR(Management(value.get_object(), stored.get_object()));
    } else {
      return Property(key, value, out);
    }
    return Status::Ok();
  }

  Status Text(std::string_view member, const json::value& v) const {
    if (!v.is_string() || v.get_string().empty()) return Bad(member, "must be a non-empty string");
    if (v.get_string().size() > limits_.max_text_bytes) {
      return Bad(member, fmt::format("is longer than {} bytes", limits_.max_text_bytes));
    }
    return Status::Ok();
  }

  // A registration property (§5.2.9 additionalProperties): a valid name, expanded; any value.
  Status Property(std::string_view key, const json::value& value, json::object& out) const {
    if (!IsValidName(key) || key.size() > limits_.max_text_bytes) {
      return Status::BadRequestData(fmt::format("registration member '{}' is not a valid property name", Shown(key)));
    }
    const std::string name = ctx_.ExpandTerm(key);
    // Rendered under its compacted name: one that is a member's ("location:" expands to an IRI
    // compacted as "location") would come back as that member.
    const std::string shown_as = ctx_.CompactIri(name);
    if (OneOf(shown_as, kDefined) || OneOf(shown_as, kStatusMembers) || OneOf(shown_as, kSystemMembers)) {
      return Bad(key, fmt::format("would be returned as the registration member '{}'", shown_as));
    }
    json::value& props = out["properties"];
    if (!props.is_object()) props = json::object();
    if (value.is_null()) {
      props.get_object().erase(name);
    } else {
      props.get_object()[name] = value;
    }
    if (props.get_object().size() > limits_.max_properties) {
      return Bad(key, fmt::format("the registration has more than {} properties of its own", limits_.max_properties));
    }
    if (props.get_object().empty()) out.erase("properties");
    return Status::Ok();
  }

  // A non-empty array of attribute names, expanded, without duplicates.
  Result<json::array> Names(std::string_view member, const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty()) return Bad(member, "must be a non-empty array of attribute names");
    if (a->size() > limits_.max_names) return Bad(member, fmt::format("has more than {} names", limits_.max_names));
    json::array out;
    for (const auto& item : *a) {
      if (!item.is_string() || !IsValidName(item.get_string())) {
        return Bad(member, fmt::format("'{}' is not a valid attribute name",
                                       item.is_string() ? Shown(item.get_string()) : "(not a string)"));
      }
      json::value expanded(ctx_.ExpandTerm(item.get_string()));
      if (std::find(out.begin(), out.end(), expanded) == out.end()) out.push_back(std::move(expanded));
    }
    return out;
  }

  Result<json::array> Information(const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty()) return Bad("information", "must be a non-empty array of RegistrationInfo objects");
    if (a->size() > limits_.max_information) {
      return Bad("information", fmt::format("has more than {} items", limits_.max_information));
    }
    json::array out;
    for (size_t i = 0; i < a->size(); ++i) {
      const std::string where = fmt::format("information[{}]", i);
      const json::object* item = (*a)[i].if_object();
      if (!item) return Bad(where, "must be an object with entities, propertyNames or relationshipNames");
      json::object stored;
      for (const auto& [key, value] : *item) {
        if (key == "entities") {
          auto e = Entities(where, value);
          if (!e.ok()) return e.status();
          stored[key] = std::move(*e);
        } else if (key == "propertyNames" || key == "relationshipNames") {
          auto n = Names(fmt::format("{}.{}", where, key), value);
          if (!n.ok()) return n.status();
          stored[key] = std::move(*n);
        } else {
          return Bad(where, fmt::format("unknown member '{}'", Shown(key)));
        }
      }
      if (stored.empty()) return Bad(where, "must give entities, propertyNames or relationshipNames");
      out.emplace_back(std::move(stored));
    }
    return out;
  }

  // EntityInfo (§5.2.8): type (a name or an array of names) mandatory, id or idPattern.
  Result<json::array> Entities(const std::string& where, const json::value& v) const {
    const std::string member = where + ".entities";
    const json::array* a = v.if_array();
    if (!a || a->empty()) return Bad(member, "must be a non-empty array of EntityInfo objects");
    if (a->size() > limits_.max_entities) return Bad(member, fmt::format("has more than {} items", limits_.max_entities));
    json::array out;
    for (size_t i = 0; i < a->size(); ++i) {
      const std::string at = fmt::format("{}[{}]", member, i);
      const json::object* e = (*a)[i].if_object();
      if (!e) return Bad(at, "must be an object with 'type' and optionally 'id' or 'idPattern'");
      json::object stored;
      for (const auto& [key, value] : *e) {
        if (key == "type") {
          auto types = Types(at, value);
          if (!types.ok()) return types.status();
          stored["type"] = std::move(*types);
        } else if (key == "id") {
          if (!value.is_string() || value.get_string().size() > limits_.max_text_bytes || !IsUri(value.get_string())) {
            return Bad(at, "'id' must be a URI");
          }
          stored["id"] = value;
        } else if (key == "idPattern") {
          CITYHUB_RETURN_IF_ERROR(IdPattern(at, value));
          stored["idPattern"] = value;
        } else {
          return Bad(at, fmt::format("unknown member '{}'", Shown(key)));
        }
      }
      if (!stored.contains("type")) return Bad(at, "'type' is mandatory");
      if (stored.contains("id") && stored.contains("idPattern")) return Bad(at, "gives both 'id' and 'idPattern'");
      out.emplace_back(std::move(stored));
    }
    return out;
  }

  Result<json::array> Types(const std::string& at, const json::value& v) const {
    json::array given;
    if (v.is_string()) {
      given.push_back(v);
    } else if (v.is_array() && !v.get_array().empty() && v.get_array().size() <= limits_.max_names) {
      given = v.get_array();
    } else {
      return Bad(at, fmt::format("'type' must be an entity type name or an array of 1 to {} names", limits_.max_names));
    }
    json::array out;
    for (const auto& t : given) {
      if (!t.is_string() || !IsValidName(t.get_string())) {
        return Bad(at, fmt::format("'{}' is not a valid entity type name", t.is_string() ? Shown(t.get_string()) : "(not a string)"));
      }
      json::value expanded(ctx_.ExpandTerm(t.get_string()));
      if (std::find(out.begin(), out.end(), expanded) == out.end()) out.push_back(std::move(expanded));
    }
    return out;
  }

  Status IdPattern(const std::string& at, const json::value& v) const {
    if (!v.is_string() || v.get_string().empty() || v.get_string().size() > limits_.max_id_pattern_bytes) {
      return Bad(at, fmt::format("'idPattern' must be a regular expression of 1 to {} bytes", limits_.max_id_pattern_bytes));
    }
    re2::RE2::Options opts;
    opts.set_log_errors(false);
    re2::RE2 re(re2::StringPiece(v.get_string().data(), v.get_string().size()), opts);
    if (!re.ok()) return Bad(at, fmt::format("'idPattern' is not a valid regular expression: {}", re.error()));
    return Status::Ok();
  }

  Status Datasets(const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty() || a->size() > limits_.max_names) {
      return Bad("datasetId", fmt::format("must be an array of 1 to {} URIs or \"@none\"", limits_.max_names));
    }
    for (const auto& d : *a) {
      if (!d.is_string() || (d.get_string() != "@none" && !IsUri(d.get_string()))) {
        return Bad("datasetId", "must hold only URIs or \"@none\"");
      }
    }
    return Status::Ok();
  }

  // TimeInterval (§5.2.11): startAt mandatory, endAt optional and after startAt.
  Result<json::object> Interval(std::string_view member, const json::value& v) const {
    const json::object* o = v.if_object();
    if (!o) return Bad(member, "must be an object with startAt and optionally endAt");
    json::object out;
    std::optional<int64_t> start, end;
    for (const auto& [key, value] : *o) {
      if (key != "startAt" && key != "endAt") return Bad(member, fmt::format("unknown member '{}'", Shown(key)));
      auto ms = value.is_string() ? util::ParseDateTime(value.get_string()) : std::nullopt;
      if (!ms) return Bad(member, fmt::format("'{}' must be a DateTime", key));
      (key == "startAt" ? start : end) = ms;
      out[key] = *util::DateTimeInUtc(value.get_string());
    }
    if (!start) return Bad(member, "'startAt' is mandatory");
    if (end && *end <= *start) return Bad(member, "'endAt' must be after 'startAt'");
    return out;
  }

  Status KeyValues(std::string_view member, const json::value& v) const {
    auto problem = KeyValuePairsProblem(v, limits_.max_info_pairs, limits_.max_text_bytes);
    return problem ? Bad(member, *problem) : Status::Ok();
  }

  // Scope (§4.18): a scope or an array of scopes, each "/" followed by path segments.
  Status Scope(const json::value& v) const {
    auto valid = [&](const json::value& s) {
      if (!s.is_string()) return false;
      std::string_view t = s.get_string();
      return t.size() >= 2 && t.size() <= limits_.max_text_bytes && t[0] == '/' && t.back() != '/' &&
             t.find("//") == std::string_view::npos && t.find_first_of(" \t\"#?") == std::string_view::npos;
    };
    if (v.is_string() && valid(v)) return Status::Ok();
    if (v.is_array() && !v.get_array().empty() && v.get_array().size() <= limits_.max_names &&
        std::all_of(v.get_array().begin(), v.get_array().end(), valid)) {
      return Status::Ok();
    }
    return Bad("scope", "must be a scope such as \"/Seoul/Gangnam\" or a non-empty array of them");
  }

  Status Operations(const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty() || a->size() > kOperationNames.size() + kGroups.size()) {
      return Bad("operations", "must be a non-empty array of operation names or groups (§4.20)");
    }
    for (const auto& op : *a) {
      if (!op.is_string() || !(IsOperationName(op.get_string()) || GroupNamed(op.get_string()))) {
        return Bad("operations", fmt::format("'{}' is not an operation name or group of §4.20 (such as retrieveEntity, "
                                             "federationOps, updateOps, retrieveOps, redirectionOps)",
                                             op.is_string() ? Shown(op.get_string()) : "(not a string)"));
      }
    }
    return Status::Ok();
  }

  // RegistrationManagementInfo (§5.2.34), merged into what `out` holds.
  Status Management(const json::object& in, json::object& out) const {
    for (const auto& [key, value] : in) {
      if (value.is_null()) {
        out.erase(key);
        continue;
      }
      if (key == "localOnly") {
        if (!value.is_bool()) return Bad("management.localOnly", "must be true or false");
      } else if (key == "cacheDuration") {
        if (!value.is_string() || value.get_string().empty() || value.get_string().size() > 64) {
          return Bad("management.cacheDuration", "must be a duration such as \"PT10S\"");
        }
      } else if (key == "timeout" || key == "cooldown") {
        const double ms = value.is_number() ? value.to_number<double>() : 0;
        if (!std::isfinite(ms) || ms < 1 || ms > 86'400'000) {
          return Bad(fmt::format("management.{}", key), "must be a number of milliseconds from 1 to 86400000");
        }
      } else {
        return Bad("management", fmt::format("unknown member '{}'", Shown(key)));
      }
      out[key] = value;
    }
    return Status::Ok();
  }

  const Context& ctx_;
  const int64_t now_ms_;
  const RegistrationLimits& limits_;
};

// The operations a stored registration offers.
std::vector<std::string> Offered(const json::object& s) { return ExpandOperations(s.if_contains("operations")); }

// The rules between members (§5.2.9, §4.3.6.2), on the whole stored form.
Status CheckWhole(const json::object& s, const RegistrationLimits& limits) {
  if (!s.contains("type")) return Bad("type", "is mandatory (\"ContextSourceRegistration\")");
  const json::value* information = s.if_contains("information");
  if (!information) return Bad("information", "is mandatory");
  if (!s.contains("endpoint")) return Bad("endpoint", "is mandatory");
  const std::string_view mode = s.at("mode").get_string();
  if (mode == "exclusive") {
    for (size_t i = 0; i < information->get_array().size(); ++i) {
      const json::object& item = information->get_array()[i].get_object();
      const std::string where = fmt::format("information[{}]", i);
      const json::value* entities = item.if_contains("entities");
      if (!entities) return Bad(where, "an exclusive registration names the entities (by id) it holds (§4.3.6.2)");
      for (const auto& e : entities->get_array()) {
        if (e.get_object().contains("idPattern")) return Bad(where, "an exclusive registration cannot use idPattern (§4.3.6.2)");
        if (!e.get_object().contains("id")) return Bad(where, "an exclusive registration names each entity by id (§4.3.6.2)");
      }
      if (!item.contains("propertyNames") && !item.contains("relationshipNames")) {
        return Bad(where, "an exclusive registration names the attributes it holds (§4.3.6.2)");
      }
    }
  }
  if (mode == "auxiliary") {
    for (const auto& op : Offered(s)) {
      if (!IsReadOperation(op)) {
        return Bad("operations", fmt::format("an auxiliary registration only serves reads; '{}' is not one (§4.3.6.2)", op));
      }
    }
  }
  if (util::SerializeJson(s).size() > limits.max_stored_bytes) {
    return Status::BadRequestData(fmt::format("the registration is larger than {} bytes", limits.max_stored_bytes));
  }
  return Status::Ok();
}

}  // namespace

bool IsOperationName(std::string_view name) {
  return std::find(kOperationNames.begin(), kOperationNames.end(), name) != kOperationNames.end();
}

const std::vector<std::string_view>& OperationNames() { return kOperationNames; }

bool IsReadOperation(std::string_view name) {
  auto it = std::find(kOperationNames.begin(), kOperationNames.end(), name);
  return it != kOperationNames.end() && static_cast<size_t>(it - kOperationNames.begin()) >= kFirstReadOperation;
}

std::vector<std::string> ExpandOperations(const json::value* operations) {
  std::vector<std::string> out;
  auto add = [&](std::string_view name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
  };
  auto add_group_or_name = [&](std::string_view name) {
    if (const OperationGroup* g = GroupNamed(name)) {
      for (auto member : g->members) add(member);
    } else {
      add(name);
    }
  };
  if (!operations || !operations->is_array()) {
    add_group_or_name("federationOps");
    return out;
  }
  for (const auto& op : operations->get_array()) {
    if (op.is_string()) add_group_or_name(op.get_string());
  }
  return out;
}

Result<json::object> NormalizeRegistration(const json::object& payload, const Context& ctx, std::string_view id,
                                           int64_t now_ms, const RegistrationLimits& limits) {
  if (const json::value* given = payload.if_contains("id")) {
    if (!given->is_string() || given->get_string().size() > limits.max_text_bytes || !IsUri(given->get_string())) {
      return Bad("id", "must be a URI");
    }
  }
  json::object s;
  s["id"] = id;
  CITYHUB_RETURN_IF_ERROR(Reader(ctx, now_ms, limits).Read(payload, s, /*patch=*/false));
  if (!s.contains("mode")) s["mode"] = "inclusive";
  CITYHUB_RETURN_IF_ERROR(CheckWhole(s, limits));
  s["createdAt"] = now_ms;
  s["modifiedAt"] = now_ms;
  return s;
}

Status PatchRegistration(json::object& stored, const json::object& fragment, const Context& ctx, int64_t now_ms,
                         const RegistrationLimits& limits) {
  if (const json::value* id = fragment.if_contains("id"); id && !(id->is_string() && *id == stored["id"])) {
    return Bad("id", "differs from the registration id in the path");
  }
  if (fragment.contains("information") && fragment.at("information").is_null()) {
    return Bad("information", "is mandatory and cannot be removed");
  }
  if (fragment.contains("endpoint") && fragment.at("endpoint").is_null()) {
    return Bad("endpoint", "is mandatory and cannot be removed");
  }
  json::object next = stored;
  CITYHUB_RETURN_IF_ERROR(Reader(ctx, now_ms, limits).Read(fragment, next, /*patch=*/true));
  if (!next.contains("mode")) next["mode"] = "inclusive";
  CITYHUB_RETURN_IF_ERROR(CheckWhole(next, limits));
  next["modifiedAt"] = now_ms;
  stored = std::move(next);
  return Status::Ok();
}

json::object RenderRegistration(const json::object& stored, const Context& ctx, bool sys_attrs) {
  json::object out;
  for (const auto& [key, value] : stored) {
    if (key == "properties" || key == "createdAt" || key == "modifiedAt") continue;
    out[key] = value;
  }
  if (json::value* information = out.if_contains("information"); information && information->is_array()) {
    for (auto& item : information->get_array()) {
      if (!item.is_object()) continue;
      json::object& o = item.get_object();
      CompactNames(o.if_contains("propertyNames"), ctx);
      CompactNames(o.if_contains("relationshipNames"), ctx);
      if (json::value* entities = o.if_contains("entities"); entities && entities->is_array()) {
        for (auto& e : entities->get_array()) {
          json::value* type = e.is_object() ? e.get_object().if_contains("type") : nullptr;
          CompactNames(type, ctx);
          if (type && type->is_array() && type->get_array().size() == 1) *type = json::value(type->get_array()[0]);
        }
      }
    }
  }
  if (const json::value* props = stored.if_contains("properties"); props && props->is_object()) {
    for (const auto& [name, value] : props->get_object()) out[ctx.CompactIri(name)] = value;
  }
  if (sys_attrs) {
    for (const char* t : {"createdAt", "modifiedAt"}) {
      if (const json::value* v = stored.if_contains(t); v && v->is_int64()) out[t] = util::FormatDateTime(v->get_int64());
    }
  }
  return out;
}

Entity RegistrationAsEntity(const json::object& stored, const Context& ctx) {
  Entity e;
  e.id = std::string(stored.at("id").as_string());
  e.types = {ctx.ExpandTerm("ContextSourceRegistration")};
  if (const json::value* scope = stored.if_contains("scope")) e.scope = *scope;
  auto add = [&](const std::string& name, const json::value& value) {
    json::object instance;
    if (value.is_object() && value.get_object().contains("type") && value.get_object().contains("value")) {
      instance = value.get_object();
    } else {
      instance["type"] = "Property";
      instance["value"] = value;
    }
    e.attrs[name] = Instances{std::move(instance)};
  };
  for (const auto& [key, value] : stored) {
    if (key == "id" || key == "type" || key == "properties" || key == "createdAt" || key == "modifiedAt") continue;
    if (OneOf(key, kDefined)) add(ctx.ExpandTerm(key), value);
  }
  if (const json::value* props = stored.if_contains("properties"); props && props->is_object()) {
    for (const auto& [name, value] : props->get_object()) add(std::string(name), value);
  }
  return e;
}

std::optional<int64_t> RegistrationTime(const json::object& stored, std::string_view member) {
  const json::value* v = stored.if_contains(member);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_string()) return util::ParseDateTime(v->get_string());
  return std::nullopt;
}

bool IntervalOverlaps(const json::object& stored, std::string_view timeproperty, IntervalRel rel, int64_t at_ms,
                      int64_t end_ms) {
  const char* member = timeproperty == "observedAt" ? "observationInterval" : "managementInterval";
  const json::value* interval = stored.if_contains(member);
  if (!interval || !interval->is_object()) return false;
  auto start = RegistrationTime(interval->get_object(), "startAt");
  auto end = RegistrationTime(interval->get_object(), "endAt");
  if (!start) return false;
  switch (rel) {
    case IntervalRel::kBefore: return *start < at_ms;
    case IntervalRel::kAfter: return !end || *end > at_ms;
    case IntervalRel::kBetween: return *start < end_ms && (!end || *end > at_ms);
  }
  return false;
}

}  // namespace cityhub::ngsild
