// WarningEngine: the early-warning rules (issue 7), pure logic without I/O — readings in,
// alert changes out — so that every rule is unit-testable with exact timings.
//
// Level rules (river water level, underpass depth): up to four stages with the Korean warning
// levels 관심 interest < 주의 caution < 경계 alert < 심각 serious, each a threshold on the
// reading; a rise faster than `rise_per_hour` raises at least to caution; a stage is left only
// when the reading falls below its threshold by `hysteresis` (no flapping around a threshold).
// One alert per sensor, raised, raised further, lowered and cleared as its stage changes.
//
// Ground-motion rules (earthquake): a reading at or above the threshold counts only when at
// least `confirmations` distinct sensors of the tenant exceed it within `window_ms` — a single
// noisy sensor raises nothing. One alert per event (per tenant), cleared after `clear_ms` with
// no exceedance.
//
// Rules file (JSON; attribute and type names are terms of its optional "@context", or IRIs):
//   {"levels": [{"types": ["WaterLevelSensor"], "attribute": "waterLevel", "subCategory": "flood",
//                "stages": {"interest": 2.0, "caution": 3.0, "alert": 4.0, "serious": 5.0},
//                "hysteresis": 0.2, "risePerHour": 0.5, "riseWindowSeconds": 600}],
//    "groundMotion": [{"types": ["VibrationSensor"], "attribute": "acceleration", "threshold": 0.1,
//                      "confirmations": 3, "windowSeconds": 10, "clearAfterSeconds": 60}]}
// Not thread-safe: one engine is driven by one thread (the WarningService's).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "util/status.h"

namespace cityhub::services {

enum class Stage { kNone = 0, kInterest = 1, kCaution = 2, kAlert = 3, kSerious = 4 };
std::string_view StageName(Stage s);        // "interest", …, "cleared" for kNone
std::string_view StageKoreanName(Stage s);  // 관심, 주의, 경계, 심각
std::string_view SeverityOf(Stage s);       // Smart Data Models Alert severity: low … critical

constexpr double kNoThreshold = std::numeric_limits<double>::infinity();

struct LevelRule {
  std::vector<std::string> types;   // expanded
  std::string attribute;            // expanded
  std::string sub_category = "flood";
  std::array<double, 4> thresholds{kNoThreshold, kNoThreshold, kNoThreshold, kNoThreshold};  // interest … serious
  double hysteresis = 0;
  double rise_per_hour = 0;         // 0: no rate-of-rise rule
  // The rise is measured against the oldest reading of this window (once it spans at least
  // half of it), so that ripples and sensor noise between close readings are not a "rise".
  int64_t rise_window_ms = 600'000;
};

struct GroundMotionRule {
  std::vector<std::string> types;
  std::string attribute;
  double threshold = 0;
  size_t confirmations = 3;
  int64_t window_ms = 10'000;
  int64_t clear_ms = 60'000;
};

struct WarningRules {
  std::vector<LevelRule> levels;
  std::vector<GroundMotionRule> ground_motion;

  // `expand` expands a term of the file's @context (or of the core context without one).
  static Result<WarningRules> Parse(std::string_view text,
                                    const std::function<Result<std::function<std::string(std::string_view)>>(
                                        const boost::json::value* context)>& expander);
  // The rules used without a file: river levels (m) and underpass depth (m) of a Gimhae-like
  // demo city, ground acceleration (g) confirmed by 3 sensors within 10 s.
  static WarningRules Defaults(const std::function<std::string(std::string_view)>& expand);
};

struct Reading {
  std::string tenant;
  std::string sensor;                      // entity id
  std::vector<std::string> types;
  std::string attribute;
  double value = 0;
  int64_t at_ms = 0;                       // observedAt, else the write's time
  boost::json::value location;             // the sensor's GeoJSON geometry, or null
};

struct AlertChange {
  std::string tenant;
  std::string alert_id;
  std::string sub_category;                // flood, earthquake
  Stage stage = Stage::kNone;              // kNone: cleared
  Stage previous = Stage::kNone;
  std::vector<std::string> sources;        // sensor ids
  std::string attribute;
  double value = 0;
  int64_t at_ms = 0;
  boost::json::value location;
  std::string reason;                      // why, in words (no personal data: sensor readings)
};

class WarningEngine {
 public:
  explicit WarningEngine(WarningRules rules) : rules_(std::move(rules)) {}

  // True if some rule watches `attribute` on an entity with `types`.
  bool Watches(const std::vector<std::string>& types, std::string_view attribute) const;
  std::vector<AlertChange> Observe(const Reading& r);
  // Clears `tenant`'s ground-motion alert once quiet for clear_ms by `now_ms`, the tenant's
  // clock (call now and then; Observe calls it with each reading's time).
  std::vector<AlertChange> Tick(std::string_view tenant, int64_t now_ms);

 private:
  struct SensorState {
    Stage stage = Stage::kNone;
    std::optional<std::pair<double, int64_t>> last;  // previous reading (value, time)
    std::deque<std::pair<double, int64_t>> recent;   // readings within the rise window
  };
  struct Quake {
    std::deque<std::pair<std::string, int64_t>> exceedances;  // (sensor, time), oldest first
    std::map<std::string, boost::json::value> where;          // sensor -> location
    bool active = false;
    std::string alert_id;
    int64_t last_exceedance_ms = 0;
    const GroundMotionRule* rule = nullptr;
  };
  std::vector<AlertChange> ObserveLevel(const LevelRule& rule, const Reading& r);
  std::vector<AlertChange> ObserveMotion(const GroundMotionRule& rule, const Reading& r);

  WarningRules rules_;
  std::map<std::pair<std::string, std::string>, SensorState> sensors_;  // (tenant, sensor+attribute)
  std::map<std::string, Quake> quakes_;                                 // by tenant
};

// What a CAP message says about an alert.
struct CapAlert {
  std::string id;
  std::string sub_category;      // flood, earthquake
  std::string severity;          // low, medium, high, critical, informational (cleared)
  std::string stage;             // interest … serious, or cleared
  std::string description;
  std::string issued;            // dateIssued (RFC 3339)
  std::string sent;              // the last change
  std::string valid_to;          // set once cleared
  std::optional<std::pair<double, double>> point;  // (lat, lon)
};
// The alert as a CAP 1.2 document (OASIS Common Alerting Protocol), for public warning systems:
// msgType Alert, Update, or Cancel once cleared.
std::string CapXml(const CapAlert& alert, std::string_view sender);

}  // namespace cityhub::services
