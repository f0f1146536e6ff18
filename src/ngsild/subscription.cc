// Subscription validation and rendering. Each member has one reader that checks it and writes
// its stored form; cross-member rules (what must be present, what excludes what) are checked
// once on the whole stored form, after a create or after a patch was applied.
#include "ngsild/subscription.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include "ngsild/entity.h"
#include "ngsild/geo.h"
#include "ngsild/members.h"
#include "ngsild/projection.h"
#include "ngsild/render.h"
#include "ngsild/type_selection.h"
#include "util/time.h"

namespace cityhub::ngsild {
namespace json = boost::json;

namespace {

constexpr std::string_view kTriggers[] = {"entityCreated",    "entityUpdated",    "entityDeleted",
                                          "attributeCreated", "attributeUpdated", "attributeDeleted"};
constexpr std::string_view kFormats[] = {"normalized", "concise", "keyValues"};
constexpr std::string_view kAccepts[] = {"application/json", "application/ld+json", "application/geo+json"};
constexpr std::string_view kSchemes[] = {"http", "https", "mqtt", "mqtts"};
// Members the system maintains: accepted in a payload (a client may send back what it read)
// and ignored.
constexpr std::string_view kReadOnly[] = {"status", "createdAt", "modifiedAt", "deletedAt"};
constexpr std::string_view kNotificationReadOnly[] = {"status",      "timesSent",   "timesFailed",
                                                      "lastNotification", "lastFailure", "lastSuccess",
                                                      "lastFailureReason", "timesGivenUp"};
// Optional members an update may remove by giving them null (others given null are validated
// like any value, so null can never remove what the hub keeps, nor a mandatory member).
constexpr std::string_view kRemovable[] = {"subscriptionName", "description", "lang", "entities", "watchedAttributes",
                                           "notificationTrigger", "q", "geoQ", "scopeQ", "timeInterval",
                                           "throttling", "expiresAt", "isActive", "localOnly", "jsonldContext",
                                           "datasetId", "temporalQ"};
constexpr std::string_view kNotificationRemovable[] = {"attributes", "format", "sysAttrs", "showChanges", "join",
                                                       "joinLevel", "pick", "omit"};
// Spec members this hub does not implement for entity subscriptions (temporalQ is for context
// source registration subscriptions; csf, handled below, would select context sources).
constexpr std::string_view kUnsupported[] = {"temporalQ"};
constexpr std::string_view kTimeRels[] = {"before", "after", "between"};
constexpr std::string_view kTimeProperties[] = {"observedAt", "createdAt", "modifiedAt", "deletedAt"};
// Members that say what to do with entities, meaningless for a subscription to context source
// registrations (its notifications carry registrations): refused there, so that no client
// believes they filter or shape anything.
constexpr std::string_view kEntityOnly[] = {"notificationTrigger", "datasetId", "lang"};
constexpr std::string_view kEntityOnlyNotification[] = {"attributes", "pick", "omit", "showChanges", "join", "joinLevel"};
constexpr std::string_view kJoins[] = {"flat", "inline", "@none"};

Status Bad(std::string_view member, std::string_view what) {
  return Status::BadRequestData(fmt::format("subscription member '{}': {}", member, what));
}

// Reads the members of a payload or fragment into the stored form.
class Reader {
 public:
  Reader(const Context& ctx, int64_t now_ms, const SubscriptionLimits& limits, SubscriptionKind kind)
      : ctx_(ctx), now_ms_(now_ms), limits_(limits), csource_(kind == SubscriptionKind::kCsource) {}

  // Reads `in`'s top-level members into `out` (replacing those present; null removes, if
  // `patch`), merging "notification" into what `out` holds.
  Status Read(const json::object& in, json::object& out, bool patch) {
    for (const auto& [key, value] : in) {
      if (key == "@context" || key == "id" || OneOf(key, kReadOnly)) continue;  // id: the caller's business
      if (!csource_ && OneOf(key, kUnsupported)) {
        return Status::NotSupported(fmt::format("subscription member '{}' is not supported", key));
      }
      if (csource_ && OneOf(key, kEntityOnly)) return EntityOnly(key);
      if (csource_ && key == "timeInterval") {
        return Status::NotSupported("subscription member 'timeInterval': periodic context source registration subscriptions are not supported");
      }
      if (!csource_ && key == "csf") {
        return Status::NotSupported("subscription member 'csf' is not supported (context sources are not subscribed to)");
      }
      if (patch && value.is_null() && key == "csf") {
        out.erase("csf");
        out.erase("csfContext");
        continue;
      }
      if (patch && value.is_null() && OneOf(key, kRemovable)) {
        out.erase(key);
        if (key == "q") out.erase("qContext");
        continue;
      }
      if (key == "type") {
        if (!value.is_string() || value.get_string() != "Subscription") return Bad("type", "must be \"Subscription\"");
        out["type"] = "Subscription";
      } else if (key == "subscriptionName" || key == "description" || key == "lang") {
        CITYHUB_RETURN_IF_ERROR(Text(key, value));
        if (key == "lang") {
          auto tags = ParseLanguageFilter(value.get_string());
          if (!tags.ok()) return Bad("lang", tags.status().message());
        }
        out[key] = value;
      } else if (key == "entities") {
        auto v = Entities(value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "watchedAttributes") {
        auto v = Names(key, value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "notificationTrigger") {
        auto v = Triggers(value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "q") {
        if (!value.is_string()) return Bad("q", "must be a string");
        auto q = QFilter::Parse(value.get_string(), ctx_, limits_.query);
        if (!q.ok()) return Bad("q", q.status().message());
        out["q"] = value;
        out["qContext"] = ctx_.AsJson();
      } else if (key == "temporalQ") {  // context source registration subscriptions only (above)
        auto v = TemporalQ(value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "csf") {
        if (!value.is_string()) return Bad("csf", "must be a string");
        auto csf = QFilter::Parse(value.get_string(), ctx_, limits_.query);
        if (!csf.ok()) return Bad("csf", csf.status().message());
        out["csf"] = value;
        out["csfContext"] = ctx_.AsJson();
      } else if (key == "geoQ") {
        auto v = GeoQ(value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "scopeQ") {
        if (!value.is_string()) return Bad("scopeQ", "must be a string");
        auto scope = ScopeFilter::Parse(value.get_string(), limits_.query);
        if (!scope.ok()) return Bad("scopeQ", scope.status().message());
        out[key] = value;
      } else if (key == "timeInterval" || key == "throttling") {
        auto v = Positive(key, value);
        if (!v.ok()) return v.status();
        out[key] = *v;
      } else if (key == "expiresAt") {
        auto ms = value.is_string() ? util::ParseDateTime(value.get_string()) : std::nullopt;
        if (!ms) return Bad("expiresAt", "must be a DateTime such as 2030-01-01T00:00:00Z");
        if (*ms <= now_ms_) return Bad("expiresAt", "is in the past");
        out[key] = *util::DateTimeInUtc(value.get_string());
      } else if (key == "isActive" || key == "localOnly") {
        if (!value.is_bool()) return Bad(key, "must be true or false");
        if (key == "isActive") out[key] = value;  // localOnly: every subscription here is local
      } else if (key == "datasetId") {
        auto v = Datasets(value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "jsonldContext") {
        if (!value.is_string() || !IsUri(value.get_string())) return Bad("jsonldContext", "must be a URI");
        out[key] = value;
      } else if (key == "notification") {
        if (!value.is_object()) return Bad("notification", "must be an object");
        json::value& stored = out["notification"];
        if (!stored.is_object()) stored = json::object();
        CITYHUB_RETURN_IF_ERROR(Notification(value.get_object(), stored.get_object(), patch));
      } else {
        return Status::BadRequestData(fmt::format("unknown subscription member '{}'", Shown(key)));
      }
    }
    return Status::Ok();
  }

 private:
  Status Text(std::string_view member, const json::value& v) const {
    if (!v.is_string()) return Bad(member, "must be a string");
    if (v.get_string().size() > limits_.max_text_bytes) {
      return Bad(member, fmt::format("is longer than {} bytes", limits_.max_text_bytes));
    }
    return Status::Ok();
  }

  std::string Expand(std::string_view name) const { return ctx_.ExpandTerm(name); }

  // A TemporalQuery (§5.2.21) on registrations: timerel and timeAt, endTimeAt after it for
  // between (only then), timeproperty; DateTimes kept in UTC.
  Result<json::object> TemporalQ(const json::value& v) const {
    const json::object* in = v.if_object();
    if (!in) return Bad("temporalQ", "must be an object");
    json::object out;
    for (const auto& [key, value] : *in) {
      if (key == "timerel") {
        if (!value.is_string() || !OneOf(value.get_string(), kTimeRels)) {
          return Bad("temporalQ", "'timerel' must be before, after or between");
        }
      } else if (key == "timeAt" || key == "endTimeAt") {
        auto at = value.is_string() ? util::DateTimeInUtc(value.get_string()) : std::nullopt;
        if (!at) return Bad("temporalQ", fmt::format("'{}' must be a DateTime such as 2030-01-01T00:00:00Z", std::string_view(key)));
        out[key] = *at;
        continue;
      } else if (key == "timeproperty") {
        if (!value.is_string() || !OneOf(value.get_string(), kTimeProperties)) {
          return Bad("temporalQ", "'timeproperty' must be observedAt, createdAt, modifiedAt or deletedAt");
        }
      } else {
        return Bad("temporalQ", fmt::format("unknown member '{}'", Shown(key)));
      }
      out[key] = value;
    }
    const json::value* rel = out.if_contains("timerel");
    if (!rel || !out.contains("timeAt")) return Bad("temporalQ", "needs 'timerel' and 'timeAt'");
    if ((*rel == "between") != out.contains("endTimeAt")) {
      return Bad("temporalQ", "'endTimeAt' is given with timerel between, and only then");
    }
    if (*rel == "between" && *util::ParseDateTime(out.at("endTimeAt").as_string()) <= *util::ParseDateTime(out.at("timeAt").as_string())) {
      return Bad("temporalQ", "'endTimeAt' must be after 'timeAt'");
    }
    return out;
  }

  static Status EntityOnly(std::string_view member) {
    return Bad(member, "applies to entity subscriptions only (a context source registration subscription is notified of registrations)");
  }

  // A non-empty array of attribute names, expanded, without duplicates.
  Result<json::array> Names(std::string_view member, const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty()) return Bad(member, "must be a non-empty array of attribute names");
    if (a->size() > limits_.max_attributes) return Bad(member, fmt::format("has more than {} names", limits_.max_attributes));
    json::array out;
    std::set<std::string> seen;
    for (const auto& item : *a) {
      if (!item.is_string() || !IsValidName(item.get_string())) {
        return Bad(member, fmt::format("'{}' is not a valid attribute name", item.is_string() ? Shown(item.get_string()) : "(not a string)"));
      }
      std::string expanded = Expand(item.get_string());
      if (seen.insert(expanded).second) out.emplace_back(expanded);
    }
    return out;
  }

  // datasetId (§5.2.12, §4.5.5): a non-empty array of URIs or "@none", kept as written.
  Result<json::array> Datasets(const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty() || a->size() > limits_.max_attributes) {
      return Bad("datasetId", fmt::format("must be an array of 1 to {} datasetIds (URIs, or \"@none\")", limits_.max_attributes));
    }
    std::vector<std::string> items;
    for (const auto& item : *a) {
      if (!item.is_string()) return Bad("datasetId", "must hold only strings");
      items.emplace_back(item.get_string());
    }
    auto selection = ParseDatasetSelection(items, "datasetId");
    if (!selection.ok()) return Bad("datasetId", selection.status().message());
    return *a;
  }

  // notification.pick / omit (§4.21): a non-empty array of Entity members ("id", "type",
  // "scope" or attribute names), attribute names expanded.
  Result<json::array> Projected(std::string_view key, const json::value& v) const {
    const std::string member = fmt::format("notification.{}", key);
    const json::array* a = v.if_array();
    if (!a || a->empty()) return Bad(member, "must be a non-empty array of entity member names");
    if (a->size() > limits_.max_attributes) return Bad(member, fmt::format("has more than {} names", limits_.max_attributes));
    std::vector<std::string> items;
    for (const auto& item : *a) {
      if (!item.is_string()) return Bad(member, "must hold only strings");
      items.emplace_back(item.get_string());
    }
    std::optional<std::vector<std::string>> list(items);
    auto checked = Projection::Make(key == "pick" ? list : std::nullopt, key == "omit" ? list : std::nullopt, ctx_,
                                    "notification.");
    if (!checked.ok()) return checked.status();
    json::array out;
    std::set<std::string> seen;
    for (const auto& item : items) {
      auto parsed = ParseProjectionList(item, member);
      for (const auto& name : parsed->members) {
        std::string stored = name == "id" || name == "type" || name == "scope" ? name : Expand(name);
        if (seen.insert(stored).second) out.emplace_back(stored);
      }
    }
    return out;
  }

  Result<json::array> Entities(const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty()) return Bad("entities", "must be a non-empty array of entity selectors");
    if (a->size() > limits_.max_entities) return Bad("entities", fmt::format("has more than {} selectors", limits_.max_entities));
    json::array out;
    for (size_t i = 0; i < a->size(); ++i) {
      const std::string where = fmt::format("entities[{}]", i);
      const json::object* sel = (*a)[i].if_object();
      if (!sel) return Bad(where, "must be an object with 'type' and optionally 'id' or 'idPattern'");
      json::object stored;
      for (const auto& [key, value] : *sel) {
        if (key == "type") {
          if (!value.is_string()) return Bad(where, "'type' must be an entity type selection (§4.17) such as \"A\" or \"(A;B),C\"");
          auto selection = TypeSelection::Parse(value.get_string(), ctx_, "'type'");
          if (!selection.ok()) return Bad(where, selection.status().message());
          stored["type"] = selection->ToString([](const std::string& iri) { return iri; });
        } else if (key == "id") {
          if (!value.is_string() || !IsUri(value.get_string())) return Bad(where, "'id' must be a URI");
          stored["id"] = value;
        } else if (key == "idPattern") {
          if (!value.is_string() || value.get_string().size() > limits_.max_id_pattern_bytes) {
            return Bad(where, fmt::format("'idPattern' must be a regular expression of at most {} bytes", limits_.max_id_pattern_bytes));
          }
          re2::RE2::Options opts;
          opts.set_log_errors(false);
          re2::RE2 re(re2::StringPiece(value.get_string().data(), value.get_string().size()), opts);
          if (!re.ok()) return Bad(where, fmt::format("'idPattern' is not a valid regular expression: {}", re.error()));
          stored["idPattern"] = value;
        } else {
          return Bad(where, fmt::format("unknown member '{}'", Shown(key)));
        }
      }
      if (!stored.contains("type")) return Bad(where, "'type' is mandatory");
      out.emplace_back(std::move(stored));
    }
    return out;
  }

  Result<json::array> Triggers(const json::value& v) const {
    const json::array* a = v.if_array();
    if (!a || a->empty()) return Bad("notificationTrigger", "must be a non-empty array");
    json::array out;
    for (const auto& item : *a) {
      if (!item.is_string() || !OneOf(item.get_string(), kTriggers)) {
        return Bad("notificationTrigger", fmt::format(
            "'{}' is not one of entityCreated, entityUpdated, entityDeleted, attributeCreated, attributeUpdated, attributeDeleted",
            item.is_string() ? Shown(item.get_string()) : "(not a string)"));
      }
      if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    }
    return out;
  }

  Result<double> Positive(std::string_view member, const json::value& v) const {
    if (!v.is_number()) return Bad(member, "must be a number of seconds");
    double d = v.to_number<double>();
    if (!std::isfinite(d) || d <= 0) return Bad(member, "must be a positive number of seconds");
    return d;
  }

  Result<json::object> GeoQ(const json::value& v) const {
    const json::object* g = v.if_object();
    if (!g) return Bad("geoQ", "must be an object with geometry, coordinates and georel");
    json::object out;
    for (const auto& [key, value] : *g) {
      if (key != "geometry" && key != "coordinates" && key != "georel" && key != "geoproperty") {
        return Bad("geoQ", fmt::format("unknown member '{}'", Shown(key)));
      }
    }
    const json::value* geometry = g->if_contains("geometry");
    const json::value* coordinates = g->if_contains("coordinates");
    const json::value* georel = g->if_contains("georel");
    const json::value* geoproperty = g->if_contains("geoproperty");
    if (!geometry || !geometry->is_string()) return Bad("geoQ", "'geometry' is mandatory and must be a string");
    if (!georel || !georel->is_string()) return Bad("geoQ", "'georel' is mandatory and must be a string");
    if (!coordinates) return Bad("geoQ", "'coordinates' is mandatory");
    if (geoproperty && (!geoproperty->is_string() || !IsValidName(geoproperty->get_string()))) {
      return Bad("geoQ", "'geoproperty' must be an attribute name");
    }
    std::string property = Expand(geoproperty ? std::string_view(geoproperty->get_string()) : "location");
    if (csource_ && property != Expand("location") && property != Expand("observationSpace") &&
        property != Expand("operationSpace")) {
      return Bad("geoQ", "'geoproperty' of a context source registration subscription must be location, observationSpace or operationSpace");
    }
    auto q = GeoQuery::Parse(georel->get_string(), geometry->get_string(), *coordinates, property);
    if (!q.ok()) return Bad("geoQ", q.status().message());
    out["geometry"] = *geometry;
    out["coordinates"] = *coordinates;
    out["georel"] = *georel;
    out["geoproperty"] = property;
    return out;
  }

  Status Endpoint(const json::object& in, json::object& out) const {
    for (const auto& [key, value] : in) {
      if (key == "uri") {
        CITYHUB_RETURN_IF_ERROR(EndpointUri(value));
        out[key] = value;
      } else if (key == "accept") {
        if (!value.is_string() || !OneOf(value.get_string(), kAccepts)) {
          return Bad("notification.endpoint.accept", "must be application/json, application/ld+json or application/geo+json");
        }
        if (csource_ && value.get_string() == "application/geo+json") {
          return Bad("notification.endpoint.accept", "must be application/json or application/ld+json: a registration is no GeoJSON Feature");
        }
        out[key] = value;
      } else if (key == "timeout" || key == "cooldown") {
        if (!value.is_number() || !(value.to_number<double>() > 0) || !std::isfinite(value.to_number<double>())) {
          return Bad(fmt::format("notification.endpoint.{}", key), "must be a positive number of milliseconds");
        }
        out[key] = value;
      } else if (key == "receiverInfo" || key == "notifierInfo") {
        CITYHUB_RETURN_IF_ERROR(KeyValues(fmt::format("notification.endpoint.{}", key), value));
        if (key == "notifierInfo") CITYHUB_RETURN_IF_ERROR(NotifierInfo(value.get_array()));
        out[key] = value;
      } else {
        return Bad("notification.endpoint", fmt::format("unknown member '{}'", Shown(key)));
      }
    }
    return Status::Ok();
  }

  // http(s)://host[:port][/path] or mqtt(s)://host[:port]/topic.
  static Status EndpointUri(const json::value& v) {
    constexpr std::string_view kMember = "notification.endpoint.uri";
    if (!v.is_string() || !IsUri(v.get_string())) return Bad(kMember, "must be an absolute URI");
    std::string_view uri = v.get_string();
    const size_t colon = uri.find(':');
    std::string scheme(uri.substr(0, colon));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!OneOf(scheme, kSchemes)) {
      return Bad(kMember, fmt::format("scheme '{}' is not supported (http, https, mqtt, mqtts)", Shown(scheme)));
    }
    std::string_view rest = uri.substr(colon + 1);
    if (!rest.starts_with("//") || rest.size() == 2 || rest[2] == '/') return Bad(kMember, "must name a host (scheme://host…)");
    const std::string_view authority_and_path = rest.substr(2);
    const size_t slash = authority_and_path.find('/');
    if (scheme.starts_with("mqtt") && (slash == std::string_view::npos || slash + 1 == authority_and_path.size())) {
      return Bad(kMember, "an MQTT endpoint must name a topic: mqtt://host:port/topic");
    }
    return Status::Ok();
  }

  // The MQTT binding's options (§7.2): MQTT-QoS 0, 1 or 2; MQTT-Version mqtt3.1.1 or mqtt5.0.
  static Status NotifierInfo(const json::array& pairs) {
    for (const auto& item : pairs) {
      const json::object& kv = item.get_object();
      const std::string_view key = kv.at("key").get_string(), value = kv.at("value").get_string();
      if (key == "MQTT-QoS" && value != "0" && value != "1" && value != "2") {
        return Bad("notification.endpoint.notifierInfo", "MQTT-QoS must be \"0\", \"1\" or \"2\"");
      }
      if (key == "MQTT-Version" && value != "mqtt3.1.1" && value != "mqtt5.0") {
        return Bad("notification.endpoint.notifierInfo", "MQTT-Version must be \"mqtt3.1.1\" or \"mqtt5.0\"");
      }
    }
    return Status::Ok();
  }

  Status KeyValues(const std::string& member, const json::value& v) const {
    auto problem = KeyValuePairsProblem(v, limits_.max_info_pairs, limits_.max_text_bytes);
    return problem ? Bad(member, *problem) : Status::Ok();
  }

  Status Notification(const json::object& in, json::object& out, bool patch) const {
    for (const auto& [key, value] : in) {
      if (OneOf(key, kNotificationReadOnly)) continue;
      if (csource_ && OneOf(key, kEntityOnlyNotification)) return EntityOnly(fmt::format("notification.{}", key));
      if (csource_ && key == "format" && !(value.is_string() && value.get_string() == "normalized") && !value.is_null()) {
        return Bad("notification.format", "must be normalized for a context source registration subscription");
      }
      if (patch && value.is_null() && OneOf(key, kNotificationRemovable)) {
        out.erase(key);
        continue;
      }
      if (key == "attributes") {
        auto v = Names("notification.attributes", value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "pick" || key == "omit") {
        auto v = Projected(key, value);
        if (!v.ok()) return v.status();
        out[key] = std::move(*v);
      } else if (key == "format") {
        if (!value.is_string() || !OneOf(value.get_string(), kFormats)) {
          return Bad("notification.format", "must be normalized, concise or keyValues");
        }
        out[key] = value;
      } else if (key == "join") {
        if (!value.is_string() || !OneOf(value.get_string(), kJoins)) {
          return Bad("notification.join", "must be flat, inline or @none");
        }
        out[key] = value;
      } else if (key == "joinLevel") {
        auto level = value.is_number() ? value.to_number<double>() : 0.0;
        if (level < 1 || level != static_cast<double>(static_cast<int64_t>(level)) || level > limits_.max_join_level) {
          return Bad("notification.joinLevel", fmt::format("must be an integer from 1 to {}", limits_.max_join_level));
        }
        out[key] = static_cast<int64_t>(level);
      } else if (key == "sysAttrs" || key == "showChanges") {
        if (!value.is_bool()) return Bad(fmt::format("notification.{}", key), "must be true or false");
        out[key] = value;
      } else if (key == "endpoint") {
        if (!value.is_object()) return Bad("notification.endpoint", "must be an object with 'uri'");
        json::value& stored = out["endpoint"];
        if (!stored.is_object()) stored = json::object();
        CITYHUB_RETURN_IF_ERROR(Endpoint(value.get_object(), stored.get_object()));
      } else {
        return Bad("notification", fmt::format("unknown member '{}'", Shown(key)));
      }
    }
    return Status::Ok();
  }

  const Context& ctx_;
  const int64_t now_ms_;
  const SubscriptionLimits& limits_;
  const bool csource_;
};

// The stored form fills in the defaults of optional members and lists the ones it filled under
// kDefaulted (dotted paths), so that a client reads back the members it gave and no others
// (§5.8.3 returns the subscription as created, plus the status members).
constexpr std::string_view kDefaulted = "defaulted";

// Whether `o` has the member at dotted `path` ("notification.endpoint.accept").
bool HasPath(const json::object& o, std::string_view path) {
  const json::object* at = &o;
  while (true) {
    const size_t dot = path.find('.');
    const json::value* v = at->if_contains(path.substr(0, dot));
    if (!v) return false;
    if (dot == std::string_view::npos) return true;
    if (!v->is_object()) return false;
    at = &v->get_object();
    path.remove_prefix(dot + 1);
  }
}

// Removes the member at dotted `path`, if there.
void ErasePath(json::object& o, std::string_view path) {
  const size_t dot = path.find('.');
  if (dot == std::string_view::npos) {
    o.erase(path);
    return;
  }
  if (json::value* v = o.if_contains(path.substr(0, dot)); v && v->is_object()) ErasePath(v->get_object(), path.substr(dot + 1));
}

// Fills in the defaults of the stored form, adding what it fills to the kDefaulted list.
void AddDefaults(json::object& s, SubscriptionKind kind) {
  json::array defaulted;
  if (const json::value* d = s.if_contains(kDefaulted); d && d->is_array()) defaulted = d->get_array();
  auto fill = [&](json::object& o, std::string_view member, json::value value, std::string_view path) {
    if (o.contains(member)) return;
    o[member] = std::move(value);
    if (std::find(defaulted.begin(), defaulted.end(), json::value(path)) == defaulted.end()) defaulted.emplace_back(path);
  };
  fill(s, "isActive", true, "isActive");
  if (kind == SubscriptionKind::kEntity) {
    fill(s, "notificationTrigger", json::array{"attributeCreated", "attributeUpdated"}, "notificationTrigger");
  }
  json::object& n = s["notification"].as_object();
  fill(n, "format", "normalized", "notification.format");
  fill(n, "sysAttrs", false, "notification.sysAttrs");
  fill(n, "showChanges", false, "notification.showChanges");
  fill(n["endpoint"].as_object(), "accept", "application/json", "notification.endpoint.accept");
  if (defaulted.empty()) {
    s.erase(kDefaulted);
  } else {
    s[kDefaulted] = std::move(defaulted);
  }
}

// After an update: a defaulted member the fragment gives is the client's from now on.
void ForgetDefaultsGiven(json::object& s, const json::object& fragment) {
  json::value* d = s.if_contains(kDefaulted);
  if (!d || !d->is_array()) return;
  json::array kept;
  for (const json::value& path : d->get_array()) {
    if (!path.is_string() || !HasPath(fragment, path.get_string())) kept.push_back(path);
  }
  d->get_array() = std::move(kept);
}

// The rules between members, on the whole stored form.
Status CheckWhole(const json::object& s) {
  if (s.if_contains("type") == nullptr) return Bad("type", "is mandatory (\"Subscription\")");
  const json::value* n = s.if_contains("notification");
  if (!n || !n->is_object()) return Bad("notification", "is mandatory");
  const json::value* e = n->get_object().if_contains("endpoint");
  if (!e || !e->is_object()) return Bad("notification.endpoint", "is mandatory");
  if (!e->get_object().contains("uri")) return Bad("notification.endpoint.uri", "is mandatory");
  const bool entities = s.contains("entities"), watched = s.contains("watchedAttributes");
  if (!entities && !watched) return Bad("entities", "or 'watchedAttributes' must be given");
  if (s.contains("timeInterval")) {
    if (watched) return Bad("timeInterval", "cannot be combined with 'watchedAttributes' (periodic or on change, not both)");
    if (s.contains("throttling")) return Bad("timeInterval", "cannot be combined with 'throttling'");
    if (!entities) return Bad("timeInterval", "needs 'entities'");
  }
  const json::object& notification = n->get_object();
  if (notification.contains("attributes") && (notification.contains("pick") || notification.contains("omit"))) {
    return Bad("notification.attributes", "cannot be combined with 'pick' or 'omit'");
  }
  if (const json::value* pick = notification.if_contains("pick"); pick && pick->is_array()) {
    if (const json::value* omit = notification.if_contains("omit"); omit && omit->is_array()) {
      for (const auto& name : omit->get_array()) {
        if (std::find(pick->get_array().begin(), pick->get_array().end(), name) != pick->get_array().end()) {
          return Bad("notification.omit", fmt::format("names '{}', which 'pick' names too", Shown(name.get_string())));
        }
      }
    }
  }
  const json::value* format = n->get_object().if_contains("format");
  const json::value* changes = n->get_object().if_contains("showChanges");
  if (format && *format == "keyValues" && changes && *changes == true) {
    return Bad("notification.showChanges", "cannot be true with format keyValues");
  }
  return Status::Ok();
}

}  // namespace

Result<json::object> NormalizeSubscription(const json::object& payload, const Context& ctx, std::string_view id,
                                           int64_t now_ms, const SubscriptionLimits& limits, SubscriptionKind kind) {
  if (!payload.contains("type")) return Bad("type", "is mandatory (\"Subscription\")");
  if (const json::value* given = payload.if_contains("id")) {
    if (!given->is_string() || !IsUri(given->get_string())) return Bad("id", "must be a URI");
  }
  json::object s;
  s["id"] = id;
  s["context"] = ctx.AsJson();  // the @context it was created with: notifications use it
  CITYHUB_RETURN_IF_ERROR(Reader(ctx, now_ms, limits, kind).Read(payload, s, /*patch=*/false));
  CITYHUB_RETURN_IF_ERROR(CheckWhole(s));
  AddDefaults(s, kind);
  s["createdAt"] = now_ms;
  s["modifiedAt"] = now_ms;
  return s;
}

Status PatchSubscription(json::object& stored, const json::object& fragment, const Context& ctx, int64_t now_ms,
                         const SubscriptionLimits& limits, SubscriptionKind kind) {
  if (const json::value* id = fragment.if_contains("id"); id && !(id->is_string() && *id == stored["id"])) {
    return Bad("id", "differs from the subscription id in the path");
  }
  json::object next = stored;
  CITYHUB_RETURN_IF_ERROR(Reader(ctx, now_ms, limits, kind).Read(fragment, next, /*patch=*/true));
  CITYHUB_RETURN_IF_ERROR(CheckWhole(next));
  ForgetDefaultsGiven(next, fragment);
  AddDefaults(next, kind);
  next["modifiedAt"] = now_ms;
  stored = std::move(next);
  return Status::Ok();
}

std::optional<int64_t> ExpiresAtMs(const json::value& stored) {
  if (stored.is_int64()) return stored.get_int64();
  if (stored.is_string()) return util::ParseDateTime(stored.get_string());
  return std::nullopt;
}

json::object RenderSubscription(const json::object& stored, const Context& ctx, bool sys_attrs, int64_t now_ms) {
  json::object out = stored;
  if (const json::value* d = stored.if_contains(kDefaulted); d && d->is_array()) {
    for (const auto& path : d->get_array()) {
      if (path.is_string()) ErasePath(out, path.get_string());
    }
  }
  out.erase(kDefaulted);
  out.erase("qContext");
  out.erase("csfContext");
  out.erase("context");
  out.erase("owner");  // who created it (cityhub's access control)
  if (json::value* entities = out.if_contains("entities"); entities && entities->is_array()) {
    for (auto& sel : entities->get_array()) {
      if (json::value* type = sel.is_object() ? sel.get_object().if_contains("type") : nullptr; type && type->is_string()) {
        auto selection = TypeSelection::ParseExpanded(type->get_string());
        *type = selection.ok() ? selection->ToString([&](const std::string& iri) { return ctx.CompactIri(iri); })
                               : ctx.CompactIri(type->get_string());
      }
    }
  }
  CompactNames(out.if_contains("watchedAttributes"), ctx);
  if (json::value* g = out.if_contains("geoQ"); g && g->is_object()) {
    if (json::value* p = g->get_object().if_contains("geoproperty"); p && p->is_string()) *p = ctx.CompactIri(p->get_string());
  }
  if (json::value* n = out.if_contains("notification"); n && n->is_object()) {
    for (const char* member : {"attributes", "pick", "omit"}) {
      CompactNames(n->get_object().if_contains(member), ctx);
    }
  }
  bool expired = false;
  if (json::value* e = out.if_contains("expiresAt")) {
    const std::optional<int64_t> at = ExpiresAtMs(*e);
    expired = at && *at <= now_ms;
    if (e->is_int64()) *e = util::FormatDateTime(e->get_int64());
  }
  for (const char* t : {"createdAt", "modifiedAt"}) {
    json::value* v = out.if_contains(t);
    if (!v) continue;
    if (sys_attrs && v->is_int64()) {
      *v = util::FormatDateTime(v->get_int64());
    } else {
      out.erase(t);
    }
  }
  const json::value* active = out.if_contains("isActive");
  out["status"] = expired ? "expired" : (active && *active == false) ? "paused" : "active";
  return out;
}

}  // namespace cityhub::ngsild
