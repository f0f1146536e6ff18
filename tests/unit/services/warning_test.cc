// Tests for services/warning_engine: the four Korean warning stages with hysteresis, rate of
// rise, one alert per sensor through raise/upgrade/downgrade/clear, ground motion confirmed by
// N sensors within a window (a single noisy sensor raises nothing), clearing after quiet, the
// rules file's errors, and the CAP 1.2 rendering.
#include "services/warning/warning_engine.h"

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cityhub::services {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

std::string Expand(std::string_view t) { return "urn:t:" + std::string(t); }

WarningEngine Engine() { return WarningEngine(WarningRules::Defaults(Expand)); }

Reading Level(std::string sensor, double v, int64_t at_ms) {
  Reading r;
  r.tenant = "gimhae";
  r.sensor = std::move(sensor);
  r.types = {Expand("WaterLevelSensor")};
  r.attribute = Expand("waterLevel");
  r.value = v;
  r.at_ms = at_ms;
  return r;
}

Reading Motion(std::string sensor, double g, int64_t at_ms, double lon = 128.88) {
  Reading r;
  r.tenant = "gimhae";
  r.sensor = std::move(sensor);
  r.types = {Expand("VibrationSensor")};
  r.attribute = Expand("acceleration");
  r.value = g;
  r.at_ms = at_ms;
  r.location = json::object{{"type", "Point"}, {"coordinates", json::array{lon, 35.2}}};
  return r;
}

constexpr int64_t kMinute = 60'000;

TEST(WarningEngine, StagesRiseAndFallWithHysteresis) {
  WarningEngine e = Engine();
  int64_t t = 0;
  EXPECT_TRUE(e.Observe(Level("b1", 1.0, t += kMinute * 60)).empty());
  auto c = e.Observe(Level("b1", 2.1, t += kMinute * 600));  // slow rise: interest by threshold
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].stage, Stage::kInterest);
  EXPECT_EQ(c[0].previous, Stage::kNone);
  EXPECT_EQ(c[0].alert_id, "urn:ngsi-ld:Alert:flood:b1");
  c = e.Observe(Level("b1", 4.2, t += kMinute * 600));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].stage, Stage::kAlert);
  EXPECT_TRUE(e.Observe(Level("b1", 3.9, t += kMinute * 600)).empty());  // within the hysteresis of 4.0
  c = e.Observe(Level("b1", 3.7, t += kMinute * 600));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].stage, Stage::kCaution);
  EXPECT_TRUE(e.Observe(Level("b1", 3.9, t += kMinute * 600)).empty());  // back up, still below 4.0: caution stays
  c = e.Observe(Level("b1", 0.5, t += kMinute * 600));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].stage, Stage::kNone);  // cleared
  EXPECT_EQ(SeverityOf(c[0].stage), "informational");
  c = e.Observe(Level("b1", 5.5, t += kMinute * 600));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].stage, Stage::kSerious);
  EXPECT_EQ(StageKoreanName(c[0].stage), "심각");
}

TEST(WarningEngine, FastRiseIsACautionBeforeAnyThreshold) {
  WarningEngine e = Engine();
  EXPECT_TRUE(e.Observe(Level("b2", 1.0, 0)).empty());
  auto c = e.Observe(Level("b2", 1.2, 10 * kMinute));  // 1.2 m/h
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].stage, Stage::kCaution);
  EXPECT_THAT(c[0].reason, HasSubstr("rising"));
  EXPECT_TRUE(e.Observe(Level("b3", 1.0, 0)).empty());
  EXPECT_TRUE(e.Observe(Level("b3", 1.01, 10 * kMinute)).empty());  // 0.06 m/h: nothing
  EXPECT_TRUE(e.Observe(Level("b3", 5.0, 5 * kMinute)).empty());    // late data is ignored
  // Ripples between close readings are no rise: 5 cm in 10 s is 18 m/h between those two, but
  // the rise is measured over the window.
  EXPECT_TRUE(e.Observe(Level("b4", 1.0, 0)).empty());
  EXPECT_TRUE(e.Observe(Level("b4", 1.05, 10'000)).empty());
  EXPECT_TRUE(e.Observe(Level("b4", 1.0, 20'000)).empty());
}

TEST(WarningEngine, ASingleNoisySensorRaisesNoEarthquake) {
  WarningEngine e = Engine();
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(e.Observe(Motion("v1", 0.5, 1000 + i * 100)).empty());
  EXPECT_TRUE(e.Observe(Motion("v2", 0.5, 3000)).empty());  // two sensors: still not confirmed
  auto c = e.Observe(Motion("v3", 0.3, 3100, 128.90));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].sub_category, "earthquake");
  EXPECT_EQ(c[0].stage, Stage::kSerious);
  EXPECT_EQ(c[0].sources, (std::vector<std::string>{"v1", "v2", "v3"}));
  ASSERT_TRUE(c[0].location.is_object());
  EXPECT_TRUE(e.Observe(Motion("v4", 0.4, 3200)).empty());  // the same event: one alert
  EXPECT_TRUE(e.Tick("gimhae", 3200 + 59'000).empty());
  EXPECT_TRUE(e.Tick("other", 3200 + 600'000).empty());  // another tenant's clock clears nothing here
  Reading elsewhere = Level("b9", 1.0, 3200 + 600'000);
  elsewhere.tenant = "other";
  EXPECT_TRUE(e.Observe(elsewhere).empty());               // nor does another tenant's reading
  auto cleared = e.Tick("gimhae", 3200 + 60'000);
  ASSERT_EQ(cleared.size(), 1u);
  EXPECT_EQ(cleared[0].stage, Stage::kNone);
  EXPECT_EQ(cleared[0].alert_id, c[0].alert_id);
}

TEST(WarningEngine, ExceedancesOutsideTheWindowDoNotConfirm) {
  WarningEngine e = Engine();
  EXPECT_TRUE(e.Observe(Motion("v1", 0.5, 0)).empty());
  EXPECT_TRUE(e.Observe(Motion("v2", 0.5, 6000)).empty());
  EXPECT_TRUE(e.Observe(Motion("v3", 0.5, 12'000)).empty());  // v1 left the 10 s window
  EXPECT_EQ(e.Observe(Motion("v4", 0.5, 13'000)).size(), 1u);
  EXPECT_TRUE(e.Observe(Motion("v5", 0.05, 13'500)).empty());  // below the threshold: no effect
}

TEST(WarningRules, FileAndErrors) {
  auto expander = [](const json::value*) -> Result<std::function<std::string(std::string_view)>> {
    return std::function<std::string(std::string_view)>(Expand);
  };
  auto r = WarningRules::Parse(R"({"levels": [{"types": ["Underpass"], "attribute": "depth", "stages": {"alert": 0.15},
                                    "hysteresis": 0.05}],
                                   "groundMotion": [{"types": ["Seismo"], "attribute": "pga", "threshold": 0.2,
                                                     "confirmations": 2, "windowSeconds": 5}]})",
                               expander);
  ASSERT_TRUE(r.ok()) << r.status().message();
  WarningEngine e(std::move(*r));
  Reading u;
  u.sensor = "u1";
  u.types = {Expand("Underpass")};
  u.attribute = Expand("depth");
  u.value = 0.16;
  u.at_ms = 1;
  ASSERT_EQ(e.Observe(u).size(), 1u);
  for (const char* bad : {R"([])", R"({"levels": [{"types": [], "attribute": "a", "stages": {"alert": 1}}]})",
                          R"({"levels": [{"types": ["T"], "attribute": "a", "stages": {"alert": 1, "caution": 2}}]})",
                          R"({"levels": [{"types": ["T"], "attribute": "a", "stages": {"red": 1}}]})",
                          R"({"groundMotion": [{"types": ["T"], "attribute": "a", "threshold": -1}]})"}) {
    EXPECT_FALSE(WarningRules::Parse(bad, expander).ok()) << bad;
  }
}

TEST(Cap, DocumentSaysWhatAndWhere) {
  CapAlert a;
  a.id = "urn:ngsi-ld:Alert:flood:b<1>";
  a.sub_category = "flood";
  a.severity = "critical";
  a.stage = "serious";
  a.description = "홍수 심각 (serious): waterLevel 5.5 & rising";
  a.issued = a.sent = "2026-11-26T10:00:00.000Z";
  a.point = std::make_pair(35.2285, 128.8811);
  std::string xml = CapXml(a, "cityhub");
  EXPECT_THAT(xml, HasSubstr("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"));
  EXPECT_THAT(xml, HasSubstr("<identifier>urn:ngsi-ld:Alert:flood:b&lt;1&gt;</identifier>"));
  EXPECT_THAT(xml, HasSubstr("<msgType>Alert</msgType>"));
  EXPECT_THAT(xml, HasSubstr("<severity>Extreme</severity>"));
  EXPECT_THAT(xml, HasSubstr("<event>Flood</event>"));
  EXPECT_THAT(xml, HasSubstr("&amp; rising"));
  EXPECT_THAT(xml, HasSubstr("<circle>35.228500,128.881100 0.5</circle>"));
  a.stage = "cleared";
  a.valid_to = "2026-11-26T11:00:00.000Z";
  a.sent = a.valid_to;
  xml = CapXml(a, "cityhub");
  EXPECT_THAT(xml, HasSubstr("<msgType>Cancel</msgType>"));
  EXPECT_THAT(xml, HasSubstr("<expires>2026-11-26T11:00:00.000Z</expires>"));
}

}  // namespace
}  // namespace cityhub::services
