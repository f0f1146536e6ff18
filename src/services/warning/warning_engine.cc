#include "services/warning/warning_engine.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace cityhub::services {
namespace json = boost::json;

std::string_view StageName(Stage s) {
  switch (s) {
    case Stage::kInterest: return "interest";
    case Stage::kCaution: return "caution";
    case Stage::kAlert: return "alert";
    case Stage::kSerious: return "serious";
    case Stage::kNone: break;
  }
  return "cleared";
}

std::string_view StageKoreanName(Stage s) {
  switch (s) {
    case Stage::kInterest: return "관심";
    case Stage::kCaution: return "주의";
    case Stage::kAlert: return "경계";
    case Stage::kSerious: return "심각";
    case Stage::kNone: break;
  }
  return "해제";
}

std::string_view SeverityOf(Stage s) {
  switch (s) {
    case Stage::kInterest: return "low";
    case Stage::kCaution: return "medium";
    case Stage::kAlert: return "high";
    case Stage::kSerious: return "critical";
    case Stage::kNone: break;
  }
  return "informational";
}

namespace {

bool AnyType(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  for (const auto& t : have) {
    if (std::find(want.begin(), want.end(), t) != want.end()) return true;
  }
  return false;
}

Status Bad(std::string_view where, size_t i, std::string_view why) {
  return Status::BadRequestData(fmt::format("warning rules: {} {}: {}", where, i, why));
}

Result<std::vector<std::string>> Names(const json::object& o, std::string_view key, const std::function<std::string(std::string_view)>& expand) {
  const json::value* v = o.if_contains(key);
  std::vector<std::string> out;
  if (!v || !v->is_array() || v->get_array().empty()) return Status::BadRequestData(fmt::format("'{}' must be a non-empty array of names", key));
  for (const auto& n : v->get_array()) {
    if (!n.is_string() || n.get_string().empty()) return Status::BadRequestData(fmt::format("'{}' must hold names", key));
    out.push_back(expand(n.get_string()));
  }
  return out;
}

std::optional<double> NumberAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

// The last segment of an IRI, for words meant for people ("waterLevel").
std::string_view ShortName(std::string_view iri) {
  const size_t cut = iri.find_last_of("/#");
  return cut == std::string_view::npos ? iri : iri.substr(cut + 1);
}

std::string XmlEscaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Result<WarningRules> WarningRules::Parse(
    std::string_view text,
    const std::function<Result<std::function<std::string(std::string_view)>>(const json::value* context)>& expander) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return Status::BadRequestData("warning rules: the file is not a JSON object");
  const json::object& root = doc.get_object();
  auto expand = expander(root.if_contains("@context"));
  if (!expand.ok()) return expand.status();
  WarningRules rules;
  if (const json::value* levels = root.if_contains("levels")) {
    if (!levels->is_array()) return Status::BadRequestData("warning rules: 'levels' must be an array");
    size_t i = 0;
    for (const auto& item : levels->get_array()) {
      const json::object* o = item.if_object();
      if (!o) return Bad("level rule", i, "must be an object");
      LevelRule r;
      auto types = Names(*o, "types", *expand);
      if (!types.ok()) return Bad("level rule", i, types.status().message());
      r.types = std::move(*types);
      const json::value* attr = o->if_contains("attribute");
      if (!attr || !attr->is_string()) return Bad("level rule", i, "needs an 'attribute'");
      r.attribute = (*expand)(attr->get_string());
      if (const json::value* sub = o->if_contains("subCategory"); sub && sub->is_string()) r.sub_category = std::string(sub->get_string());
      const json::value* stages = o->if_contains("stages");
      if (!stages || !stages->is_object() || stages->get_object().empty()) return Bad("level rule", i, "needs 'stages' (interest, caution, alert, serious)");
      double previous = -kNoThreshold;
      for (int s = 0; s < 4; ++s) {
        const std::string_view name = StageName(static_cast<Stage>(s + 1));
        if (auto t = NumberAt(stages->get_object(), name)) {
          if (*t <= previous) return Bad("level rule", i, "stage thresholds must rise from interest to serious");
          r.thresholds[s] = previous = *t;
        }
      }
      for (const auto& [k, v] : stages->get_object()) {
        if (k != "interest" && k != "caution" && k != "alert" && k != "serious") return Bad("level rule", i, fmt::format("unknown stage '{}'", std::string_view(k)));
        if (!v.is_number()) return Bad("level rule", i, "stage thresholds must be numbers");
      }
      r.hysteresis = NumberAt(*o, "hysteresis").value_or(0);
      r.rise_per_hour = NumberAt(*o, "risePerHour").value_or(0);
      const double window = NumberAt(*o, "riseWindowSeconds").value_or(600);
      if (window <= 0) return Bad("level rule", i, "riseWindowSeconds must be positive");
      r.rise_window_ms = static_cast<int64_t>(window * 1000);
      if (r.hysteresis < 0 || r.rise_per_hour < 0) return Bad("level rule", i, "hysteresis and risePerHour must not be negative");
      rules.levels.push_back(std::move(r));
      ++i;
    }
  }
  if (const json::value* motion = root.if_contains("groundMotion")) {
    if (!motion->is_array()) return Status::BadRequestData("warning rules: 'groundMotion' must be an array");
    size_t i = 0;
    for (const auto& item : motion->get_array()) {
      const json::object* o = item.if_object();
      if (!o) return Bad("ground-motion rule", i, "must be an object");
      GroundMotionRule r;
      auto types = Names(*o, "types", *expand);
      if (!types.ok()) return Bad("ground-motion rule", i, types.status().message());
      r.types = std::move(*types);
      const json::value* attr = o->if_contains("attribute");
      if (!attr || !attr->is_string()) return Bad("ground-motion rule", i, "needs an 'attribute'");
      r.attribute = (*expand)(attr->get_string());
      auto threshold = NumberAt(*o, "threshold");
      if (!threshold || *threshold <= 0) return Bad("ground-motion rule", i, "needs a positive 'threshold'");
      r.threshold = *threshold;
      const double n = NumberAt(*o, "confirmations").value_or(3);
      const double window = NumberAt(*o, "windowSeconds").value_or(10);
      const double clear = NumberAt(*o, "clearAfterSeconds").value_or(60);
      if (n < 1 || n > 1000 || window <= 0 || clear <= 0) return Bad("ground-motion rule", i, "confirmations 1-1000, windowSeconds and clearAfterSeconds positive");
      r.confirmations = static_cast<size_t>(n);
      r.window_ms = static_cast<int64_t>(window * 1000);
      r.clear_ms = static_cast<int64_t>(clear * 1000);
      rules.ground_motion.push_back(std::move(r));
      ++i;
    }
  }
  return rules;
}

WarningRules WarningRules::Defaults(const std::function<std::string(std::string_view)>& expand) {
  WarningRules rules;
  LevelRule river;
  river.types = {expand("WaterLevelSensor"), expand("FloodMonitoring")};
  river.attribute = expand("waterLevel");
  river.thresholds = {2.0, 3.0, 4.0, 5.0};
  river.hysteresis = 0.2;
  river.rise_per_hour = 0.5;
  rules.levels.push_back(river);
  LevelRule underpass;
  underpass.types = {expand("UnderpassFloodSensor")};
  underpass.attribute = expand("waterDepth");
  underpass.thresholds = {0.05, 0.1, 0.2, 0.3};
  underpass.hysteresis = 0.02;
  rules.levels.push_back(underpass);
  GroundMotionRule quake;
  quake.types = {expand("VibrationSensor")};
  quake.attribute = expand("acceleration");
  quake.threshold = 0.1;
  rules.ground_motion.push_back(quake);
  return rules;
}

bool WarningEngine::Watches(const std::vector<std::string>& types, std::string_view attribute) const {
  for (const auto& r : rules_.levels) {
    if (r.attribute == attribute && AnyType(types, r.types)) return true;
  }
  for (const auto& r : rules_.ground_motion) {
    if (r.attribute == attribute && AnyType(types, r.types)) return true;
  }
  return false;
}

std::vector<AlertChange> WarningEngine::Observe(const Reading& r) {
  std::vector<AlertChange> out;
  for (const auto& rule : rules_.levels) {
    if (rule.attribute == r.attribute && AnyType(r.types, rule.types)) {
      auto more = ObserveLevel(rule, r);
      out.insert(out.end(), more.begin(), more.end());
    }
  }
  for (const auto& rule : rules_.ground_motion) {
    if (rule.attribute == r.attribute && AnyType(r.types, rule.types)) {
      auto more = ObserveMotion(rule, r);
      out.insert(out.end(), more.begin(), more.end());
    }
  }
  auto cleared = Tick(r.tenant, r.at_ms);
  out.insert(out.end(), cleared.begin(), cleared.end());
  return out;
}

std::vector<AlertChange> WarningEngine::ObserveLevel(const LevelRule& rule, const Reading& r) {
  SensorState& s = sensors_[{r.tenant, r.sensor + '\n' + r.attribute}];
  if (s.last && r.at_ms < s.last->second) return {};  // late data: the state has moved on
  // The stage the reading reaches by thresholds.
  Stage raw = Stage::kNone;
  for (int i = 3; i >= 0; --i) {
    if (r.value >= rule.thresholds[i]) {
      raw = static_cast<Stage>(i + 1);
      break;
    }
  }
  const std::string_view what = ShortName(r.attribute);
  std::string reason = raw == Stage::kNone ? "" : fmt::format("{} {} reached the {} threshold {}", what, r.value,
                                                              StageName(raw), rule.thresholds[static_cast<int>(raw) - 1]);
  if (rule.rise_per_hour > 0) {
    while (!s.recent.empty() && s.recent.front().second < r.at_ms - rule.rise_window_ms) s.recent.pop_front();
    if (!s.recent.empty() && r.at_ms - s.recent.front().second >= rule.rise_window_ms / 2) {
      const auto& [old_value, old_at] = s.recent.front();
      const double per_hour = (r.value - old_value) / (static_cast<double>(r.at_ms - old_at) / 3'600'000.0);
      if (per_hour >= rule.rise_per_hour && raw < Stage::kCaution) {
        raw = Stage::kCaution;
        reason = fmt::format("{} rising {:.2f} per hour (at least {})", what, per_hour, rule.rise_per_hour);
      }
    }
    s.recent.emplace_back(r.value, r.at_ms);
  }
  s.last = {r.value, r.at_ms};
  Stage next = raw;
  if (raw < s.stage) {
    // Leave a stage only below its threshold minus the hysteresis.
    next = s.stage;
    while (next > raw && r.value < rule.thresholds[static_cast<int>(next) - 1] - rule.hysteresis) {
      next = static_cast<Stage>(static_cast<int>(next) - 1);
    }
    if (next == raw && reason.empty()) reason = fmt::format("{} {} fell below the thresholds", what, r.value);
    if (next != raw && next < s.stage) reason = fmt::format("{} {} fell below the {} threshold", what, r.value, StageName(s.stage));
  }
  if (next == s.stage) return {};
  AlertChange c;
  c.tenant = r.tenant;
  c.alert_id = fmt::format("urn:ngsi-ld:Alert:{}:{}", rule.sub_category, r.sensor);
  c.sub_category = rule.sub_category;
  c.previous = s.stage;
  c.stage = next;
  c.sources = {r.sensor};
  c.attribute = r.attribute;
  c.value = r.value;
  c.at_ms = r.at_ms;
  c.location = r.location;
  c.reason = reason;
  s.stage = next;
  return {std::move(c)};
}

std::vector<AlertChange> WarningEngine::ObserveMotion(const GroundMotionRule& rule, const Reading& r) {
  Quake& q = quakes_[r.tenant];
  q.rule = &rule;
  if (r.value < rule.threshold) return {};
  q.exceedances.emplace_back(r.sensor, r.at_ms);
  if (!r.location.is_null()) q.where[r.sensor] = r.location;
  q.last_exceedance_ms = std::max(q.last_exceedance_ms, r.at_ms);
  while (!q.exceedances.empty() && q.exceedances.front().second < r.at_ms - rule.window_ms) q.exceedances.pop_front();
  std::set<std::string> sensors;
  for (const auto& [sensor, at] : q.exceedances) sensors.insert(sensor);
  if (q.active || sensors.size() < rule.confirmations) return {};
  q.active = true;
  q.alert_id = fmt::format("urn:ngsi-ld:Alert:earthquake:{}:{}", r.tenant.empty() ? "default" : r.tenant, r.at_ms);
  AlertChange c;
  c.tenant = r.tenant;
  c.alert_id = q.alert_id;
  c.sub_category = "earthquake";
  c.stage = Stage::kSerious;
  c.sources.assign(sensors.begin(), sensors.end());
  c.attribute = r.attribute;
  c.value = r.value;
  c.at_ms = r.at_ms;
  // Where: the centroid of the confirming sensors' points.
  double lon = 0, lat = 0;
  int n = 0;
  for (const auto& s : sensors) {
    auto it = q.where.find(s);
    if (it == q.where.end() || !it->second.is_object()) continue;
    const json::value* coords = it->second.get_object().if_contains("coordinates");
    if (!coords || !coords->is_array() || coords->get_array().size() < 2 || !coords->get_array()[0].is_number()) continue;
    lon += coords->get_array()[0].to_number<double>();
    lat += coords->get_array()[1].to_number<double>();
    ++n;
  }
  if (n > 0) c.location = json::object{{"type", "Point"}, {"coordinates", json::array{lon / n, lat / n}}};
  c.reason = fmt::format("{} sensors exceeded {} {} within {} s", sensors.size(), ShortName(r.attribute), rule.threshold,
                         rule.window_ms / 1000.0);
  return {std::move(c)};
}

std::vector<AlertChange> WarningEngine::Tick(std::string_view tenant, int64_t now_ms) {
  auto it = quakes_.find(std::string(tenant));
  if (it == quakes_.end()) return {};
  Quake& q = it->second;
  if (!q.active || !q.rule || now_ms - q.last_exceedance_ms < q.rule->clear_ms) return {};
  q.active = false;
  q.exceedances.clear();
  AlertChange c;
  c.tenant = it->first;
  c.alert_id = q.alert_id;
  c.sub_category = "earthquake";
  c.previous = Stage::kSerious;
  c.stage = Stage::kNone;
  c.at_ms = now_ms;
  c.reason = fmt::format("no ground motion above the threshold for {} s", q.rule->clear_ms / 1000);
  return {std::move(c)};
}

std::string CapXml(const CapAlert& a, std::string_view sender) {
  const bool cleared = a.stage == "cleared";
  const bool quake = a.sub_category == "earthquake";
  const std::string_view severity = a.severity == "critical" ? "Extreme" : a.severity == "high" ? "Severe"
                                    : a.severity == "medium" ? "Moderate" : "Minor";
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n";
  xml += fmt::format("  <identifier>{}</identifier>\n  <sender>{}</sender>\n  <sent>{}</sent>\n", XmlEscaped(a.id),
                     XmlEscaped(sender), XmlEscaped(a.sent));
  xml += fmt::format("  <status>Actual</status>\n  <msgType>{}</msgType>\n  <scope>Public</scope>\n",
                     cleared ? "Cancel" : a.sent == a.issued ? "Alert" : "Update");
  xml += "  <info>\n    <language>ko-KR</language>\n";
  xml += fmt::format("    <category>{}</category>\n    <event>{}</event>\n", quake ? "Geo" : "Met", quake ? "Earthquake" : "Flood");
  xml += fmt::format("    <urgency>{}</urgency>\n    <severity>{}</severity>\n    <certainty>Observed</certainty>\n",
                     cleared ? "Past" : "Immediate", cleared ? "Minor" : severity);
  if (!a.valid_to.empty()) xml += fmt::format("    <expires>{}</expires>\n", XmlEscaped(a.valid_to));
  xml += fmt::format("    <headline>{} ({})</headline>\n", XmlEscaped(a.sub_category), XmlEscaped(a.stage));
  xml += fmt::format("    <description>{}</description>\n", XmlEscaped(a.description));
  if (a.point) {
    xml += fmt::format("    <area>\n      <areaDesc>{}</areaDesc>\n      <circle>{:.6f},{:.6f} {}</circle>\n    </area>\n",
                       quake ? "epicentre area" : "sensor site", a.point->first, a.point->second, quake ? "20" : "0.5");
  }
  xml += "  </info>\n</alert>\n";
  return xml;
}

}  // namespace cityhub::services
