// Tests for ingest/measures: UltraLight 2.0 and JSON measures as FIWARE devices send them, and
// every way a payload can be wrong or too big — refused whole with the reason.
#include "ingest/measures.h"

#include <random>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "util/time.h"

namespace cityhub::ingest {
namespace {

using ::testing::HasSubstr;

TEST(Ultralight, PairsGroupsAndTimestamps) {
  auto r = DecodeUltralight("t|23.5|h|45|s|open", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  const auto& m = (*r)[0].measures;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].object_id, "t");
  EXPECT_EQ(m[0].value, boost::json::value(23.5));
  EXPECT_EQ(m[1].value, boost::json::value(45));
  EXPECT_EQ(m[2].value, boost::json::value("open"));
  EXPECT_FALSE((*r)[0].observed_ms);

  r = DecodeUltralight("2026-11-26T10:00:00Z|l|1.25#2026-11-26T10:00:01.500Z|l|1.5\n", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].observed_ms, util::ParseDateTime("2026-11-26T10:00:00Z"));
  EXPECT_EQ((*r)[1].observed_ms, util::ParseDateTime("2026-11-26T10:00:01.500Z"));
  r = DecodeUltralight("l|2|TimeInstant|2026-11-26T09:00:00+09:00", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].observed_ms, util::ParseDateTime("2026-11-26T00:00:00Z"));
  EXPECT_EQ((*r)[0].measures.size(), 1u);
  // Numbers only when the whole text is one.
  r = DecodeUltralight("a|1e3|b|12abc|c|-7|d|0x10", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].measures[0].value, boost::json::value(1000.0));
  EXPECT_EQ((*r)[0].measures[1].value, boost::json::value("12abc"));
  EXPECT_EQ((*r)[0].measures[2].value, boost::json::value(-7));
  EXPECT_EQ((*r)[0].measures[3].value, boost::json::value("0x10"));
}

TEST(Ultralight, GarbageIsRefusedWithTheReason) {
  struct Case {
    const char* payload;
    const char* says;
  } cases[] = {
      {"", "holds no measure"},
      {"t", "neither a key|value pair nor a leading ISO 8601 timestamp"},
      {"t|1|h", "neither a key|value pair"},
      {"bad key|1", "not a valid measure name"},
      {"|1", "not a valid measure name"},
      {"TimeInstant|yesterday", "TimeInstant"},
      {"t|\x01", "not UTF-8 text"},
      {"t|1\n#\n", "measure group 2 holds no measure"},
      {"t|\xff\xfe", "not UTF-8 text"},
  };
  for (const auto& c : cases) {
    auto r = DecodeUltralight(c.payload, {});
    ASSERT_FALSE(r.ok()) << c.payload;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.says)) << c.payload;
  }
}

TEST(Ultralight, LimitsAreExplicit) {
  MeasureLimits limits;
  limits.max_measures = 10;
  limits.max_payload_bytes = 1000;
  limits.max_value_bytes = 20;
  std::string many;
  for (int i = 0; i < 11; ++i) many += (i ? "|m" : "m") + std::to_string(i) + "|1";
  auto r = DecodeUltralight(many, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPayloadTooLarge);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("more than 10 measures"));
  r = DecodeUltralight(std::string(1001, 'x'), limits);
  EXPECT_EQ(r.status().code(), Status::Code::kPayloadTooLarge);
  r = DecodeUltralight("t|" + std::string(21, 'v'), limits);
  EXPECT_EQ(r.status().code(), Status::Code::kPayloadTooLarge);
}

TEST(Ultralight, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const std::string alphabet = "t|h#0123456789.-:TZ \n\xff";
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 40, ' ');
    for (auto& c : s) c = alphabet[rng() % alphabet.size()];
    auto r = DecodeUltralight(s, {});
    if (r.ok()) {
      ++accepted;
      for (const auto& g : *r) EXPECT_FALSE(g.measures.empty());
    }
  }
  EXPECT_GT(accepted, 0u);
}

TEST(Json, ObjectsArraysAndTime) {
  auto r = DecodeJson(R"({"t": 23.5, "s": "open", "loc": {"type": "Point", "coordinates": [128.8, 35.2]}, "TimeInstant": "2026-11-26T10:00:00Z"})", {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)[0].measures.size(), 3u);
  EXPECT_EQ((*r)[0].observed_ms, util::ParseDateTime("2026-11-26T10:00:00Z"));
  EXPECT_TRUE((*r)[0].measures[2].value.is_object());
  r = DecodeJson(R"([{"l": 1}, {"l": 2}])", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
  for (const char* bad : {"", "[", "42", R"(["x"])", R"({})", R"({"a b": 1})", R"({"t": null})", R"({"TimeInstant": 5, "t": 1})"}) {
    EXPECT_FALSE(DecodeJson(bad, {}).ok()) << bad;
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(DecodeJson(deep, {}).ok());
  MeasureLimits limits;
  limits.max_measures = 5;
  std::string many = "{";
  for (int i = 0; i < 6; ++i) many += (i ? ",\"m" : "\"m") + std::to_string(i) + "\":1";
  many += "}";
  EXPECT_EQ(DecodeJson(many, limits).status().code(), Status::Code::kPayloadTooLarge);
}

TEST(Single, OneValue) {
  auto r = DecodeSingle("t", " 21.5\n", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->measures[0].value, boost::json::value(21.5));
  EXPECT_FALSE(DecodeSingle("bad id", "1", {}).ok());
}

}  // namespace
}  // namespace cityhub::ingest

#include "ingest/mqtt_ingest.h"

namespace cityhub::ingest {
namespace {

TEST(MqttTopics, FiwareFormsAndNothingElse) {
  DeviceMessage m;
  ASSERT_TRUE(ParseIngestTopic("/k1/dev-1/attrs", &m));
  EXPECT_EQ(std::tie(m.key, m.device_id), std::make_tuple(std::string("k1"), std::string("dev-1")));
  EXPECT_EQ(m.format, MeasureFormat::kByDevice);
  ASSERT_TRUE(ParseIngestTopic("k1/dev-1/attrs/t", &m));
  EXPECT_EQ(m.format, MeasureFormat::kSingle);
  EXPECT_EQ(m.attr, "t");
  ASSERT_TRUE(ParseIngestTopic("/ul/k1/dev-1/attrs", &m));
  EXPECT_EQ(m.format, MeasureFormat::kUltralight);
  ASSERT_TRUE(ParseIngestTopic("json/k1/dev-1/attrs", &m));
  EXPECT_EQ(m.format, MeasureFormat::kJson);
  ASSERT_TRUE(ParseIngestTopic("/json/k1/dev-1/attrs/no2", &m));
  EXPECT_EQ((std::tie(m.key, m.device_id, m.attr)), std::make_tuple(std::string("k1"), std::string("dev-1"), std::string("no2")));
  EXPECT_EQ(m.format, MeasureFormat::kSingle);
  for (const char* bad : {"/k1/dev-1", "/k1/dev-1/cmd", "//dev/attrs", "/k//attrs", "/k/d/attrs/", "/a/b/c/attrs/x/y", ""}) {
    DeviceMessage n;
    EXPECT_FALSE(ParseIngestTopic(bad, &n)) << bad;
  }
}

TEST(MqttTopics, ASharedGroupSubscribesToEveryFormAsAMember) {
  auto alone = IngestFilters("");
  auto shared = IngestFilters("city");
  ASSERT_TRUE(alone.ok() && shared.ok());
  ASSERT_EQ(alone->size(), shared->size());
  EXPECT_THAT(*alone, ::testing::Contains("/+/+/attrs"));
  for (size_t i = 0; i < alone->size(); ++i) EXPECT_EQ((*shared)[i], "$share/city/" + (*alone)[i]);
  const std::string too_long(65, 'g');
  for (const std::string& bad : {std::string("a/b"), std::string("a+"), std::string("#"), too_long}) {
    EXPECT_EQ(IngestFilters(bad).status().code(), Status::Code::kBadRequestData) << bad;
  }
}

}  // namespace
}  // namespace cityhub::ingest
