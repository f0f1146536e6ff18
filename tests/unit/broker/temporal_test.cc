// Tests for the temporal building blocks: the history codec (records round-trip every value
// kind and time, corrupt bytes are an error, never a crash), the aggregation (every method
// against a brute-force computation on random series, calendar periods, durations) and
// TemporalService on a real RocksDB store (time ranges, lastN, the per-attribute cap).
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "broker/history_codec.h"
#include "broker/history_recorder.h"
#include "broker/temporal_aggregation.h"
#include "broker/temporal_service.h"
#include "store/hub_slot.h"
#include "store/rocksdb/rocksdb_store.h"
#include "util/json.h"
#include "util/time.h"

namespace cityhub::broker {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using ::testing::ElementsAre;

json::object Obj(std::string_view text) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.get_object() : json::object();
}

HistoryInstance Make(std::string_view instance, int64_t stamp_us, std::optional<int64_t> observed_ms,
                     std::optional<int64_t> deleted_ms = std::nullopt) {
  HistoryInstance h;
  h.stamp_us = stamp_us;
  h.modified_us = stamp_us;
  h.observed_ms = observed_ms;
  h.deleted_ms = deleted_ms;
  h.instance = Obj(instance);
  return h;
}

std::vector<HistoryInstance> DecodeAll(const std::string& bytes, int64_t block) {
  std::vector<HistoryInstance> out;
  Status st = ForEachHistoryRecord(bytes, block, [&](const InstanceView& v) {
    auto h = v.Materialize();
    EXPECT_TRUE(h.ok()) << h.status().message();
    if (h.ok()) out.push_back(std::move(*h));
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

TEST(HistoryCodecTest, EveryValueKindAndTimeRoundTrips) {
  const int64_t t = 1'767'261'600'000;  // 2026-01-01T10:00:00Z
  std::vector<HistoryInstance> in = {
      Make(R"({"type":"Property","value":21.5,"unitCode":"CEL"})", t * 1000 + 17, t),
      Make(R"({"type":"Property","value":-42})", t * 1000 + 18, t - 5),  // observed in the past
      Make(R"({"type":"Property","value":true})", t * 1000 + 19, std::nullopt),
      Make(R"({"type":"Property","value":false,"datasetId":"urn:d:1"})", t * 1000 + 20, t + 999),
      Make(R"({"type":"Property","value":"주의 caution"})", t * 1000 + 21, t),
      Make(R"({"type":"Relationship","object":"urn:ngsi-ld:Car:1"})", t * 1000 + 22, t),
      Make(R"({"type":"GeoProperty","value":{"type":"Point","coordinates":[128.88,35.23]}})", t * 1000 + 23, t),
      Make(R"({"type":"Property","value":{"nested":[1,2]},"https://x/sub":{"type":"Property","value":1}})",
           t * 1000 + 24, t),
      Make(R"({"type":"Property","value":"urn:ngsi-ld:null"})", t * 1000 + 25, std::nullopt, t + 7),
      Make(R"({"type":"Property","value":1.0e300})", t * 1000 + 26, t),
      Make(R"({"type":"Property","value":9007199254740993})", t * 1000 + 27, t),
  };
  in[1].modified_us = in[1].stamp_us + 123'456;  // edited later
  const int64_t block = HistoryBlockOf(t);
  std::string bytes;
  for (const auto& h : in) EncodeHistoryInstance(h, block, &bytes);
  auto out = DecodeAll(bytes, block);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(out[i].stamp_us, in[i].stamp_us);
    EXPECT_EQ(out[i].modified_us, in[i].modified_us);
    EXPECT_EQ(out[i].observed_ms, in[i].observed_ms);
    EXPECT_EQ(out[i].deleted_ms, in[i].deleted_ms);
    EXPECT_EQ(out[i].instance, in[i].instance) << json::serialize(out[i].instance);
  }
  // A plain numeric reading stays small before compression.
  std::string one;
  EncodeHistoryInstance(Make(R"({"type":"Property","value":21.5})", t * 1000 + 3, t + 60'000), block, &one);
  EXPECT_LE(one.size(), 20u);
}

TEST(HistoryCodecTest, ObservedAtKeepsTheFractionItWasWrittenWith) {
  const int64_t t = 1'767'261'600'000;  // 2026-01-01T10:00:00Z
  const int64_t block = HistoryBlockOf(t);
  const std::vector<std::string> written = {"2026-01-01T10:00:00Z", "2026-01-01T10:00:00.5Z",
                                            "2026-01-01T10:00:00.000Z", "2026-01-01T10:00:00.123456789Z",
                                            "2026-01-01T10:59:59.000001Z", "2026-01-01T10:00:01.10Z",
                                            "2026-01-01T10:00:00.123Z"};
  std::string bytes;
  std::vector<size_t> sizes;
  for (size_t i = 0; i < written.size(); ++i) {
    HistoryInstance h = Make(R"({"type":"Property","value":1.5})", t * 1000 + static_cast<int64_t>(i), std::nullopt);
    h.observed_ms = util::ParseDateTime(written[i], &h.observed_fraction);
    ASSERT_TRUE(h.observed_ms);
    const size_t before = bytes.size();
    EncodeHistoryInstance(h, block, &bytes);
    sizes.push_back(bytes.size() - before);
  }
  auto out = DecodeAll(bytes, block);
  ASSERT_EQ(out.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    ASSERT_TRUE(out[i].observed_ms);
    EXPECT_EQ(util::FormatDateTime(*out[i].observed_ms, out[i].observed_fraction), written[i]);
  }
  // Milliseconds, the hub's own precision, cost nothing; another precision one byte or a few.
  EXPECT_EQ(sizes[0], sizes[2] + 1);
  EXPECT_EQ(sizes[3], sizes[6] + 4);
}

TEST(HistoryCodecTest, DecodesRecordsOfThePreviousFormat) {
  // Written by the encoder before observedAt's fraction was stored (flags bit 7 unused):
  // 21.5 CEL observed at t + 1.5 s, a Relationship observed at t + 2 s, 7 without observedAt.
  const int64_t t = 1'767'261'600'000;
  const std::string old_block(
      "\x1f\x01\x22\xb8\x17\x00\x00\x00\x00\x00\x80\x35\x40\x12\x7b\x22\x75\x6e\x69\x74\x43\x6f\x64\x65"
      "\x22\x3a\x22\x43\x45\x4c\x22\x7d\x39\x51\x24\xa0\x1f\x34\x7b\x22\x74\x79\x70\x65\x22\x3a\x22\x52"
      "\x65\x6c\x61\x74\x69\x6f\x6e\x73\x68\x69\x70\x22\x2c\x22\x6f\x62\x6a\x65\x63\x74\x22\x3a\x22\x75"
      "\x72\x6e\x3a\x6e\x67\x73\x69\x2d\x6c\x64\x3a\x43\x61\x72\x3a\x31\x22\x7d\x04\x10\x26\x0e\x00",
      95);
  auto out = DecodeAll(old_block, HistoryBlockOf(t));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].stamp_us, t * 1000 + 17);
  EXPECT_EQ(out[0].observed_ms, t + 1500);
  EXPECT_EQ(out[0].instance, Obj(R"({"type":"Property","value":21.5,"unitCode":"CEL"})"));
  EXPECT_EQ(out[1].observed_ms, t + 2000);
  EXPECT_EQ(out[1].instance, Obj(R"({"type":"Relationship","object":"urn:ngsi-ld:Car:1"})"));
  EXPECT_EQ(out[2].observed_ms, std::nullopt);
  EXPECT_EQ(out[2].instance, Obj(R"({"type":"Property","value":7})"));
  // Shown as they always were: with milliseconds.
  EXPECT_EQ(util::FormatDateTime(*out[0].observed_ms, out[0].observed_fraction), "2026-01-01T10:00:01.500Z");
  EXPECT_EQ(util::FormatDateTime(*out[1].observed_ms, out[1].observed_fraction), "2026-01-01T10:00:02.000Z");
  // And an old block appended to with new records reads as one.
  std::string mixed = old_block;
  HistoryInstance h = Make(R"({"type":"Property","value":8})", t * 1000 + 20, std::nullopt);
  h.observed_ms = util::ParseDateTime("2026-01-01T10:00:03Z", &h.observed_fraction);
  EncodeHistoryInstance(h, HistoryBlockOf(t), &mixed);
  auto all = DecodeAll(mixed, HistoryBlockOf(t));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(util::FormatDateTime(*all[3].observed_ms, all[3].observed_fraction), "2026-01-01T10:00:03Z");
}

TEST(HistoryCodecTest, AFractionFieldOutOfRangeIsCorruption) {
  const int64_t block = 5;
  HistoryInstance h = Make(R"({"type":"Property","value":1})", 18'000'000'000, 18'000'000);
  h.observed_fraction = {0, 0};
  std::string good;
  EncodeHistoryInstance(h, block, &good);
  ASSERT_TRUE(ForEachHistoryRecord(good, block, [](const InstanceView&) { return true; }).ok());
  std::string bad = good;
  const size_t fraction_at = bad.size() - 3;  // before the int value and the empty extras
  ASSERT_EQ(bad[fraction_at], '\x00');          // 0 ns × 16 + 0 digits
  bad[fraction_at] = '\x0a';                     // ten digits
  EXPECT_FALSE(ForEachHistoryRecord(bad, block, [](const InstanceView&) { return true; }).ok());
}

TEST(HistoryCodecTest, CorruptBytesAreAnErrorNotACrash) {
  const int64_t block = 5;
  std::string good;
  EncodeHistoryInstance(Make(R"({"type":"Property","value":1.5,"unitCode":"CEL"})", 18'000'000'000, 18'000'000),
                        block, &good);
  EncodeHistoryInstance(Make(R"({"type":"Relationship","object":"urn:x"})", 18'000'000'001, 18'000'001), block, &good);
  std::mt19937 rng(7);
  int errors = 0;
  for (size_t cut = 0; cut < good.size(); ++cut) {  // every truncation
    Status st = ForEachHistoryRecord(std::string_view(good).substr(0, cut), block, [](const InstanceView&) { return true; });
    if (!st.ok()) ++errors;
  }
  EXPECT_GT(errors, 0);
  for (int round = 0; round < 2000; ++round) {  // random byte flips: decode or fail, never crash
    std::string bad = good;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    (void)ForEachHistoryRecord(bad, block, [](const InstanceView& v) {
      (void)v.Materialize();
      return true;
    });
  }
}

TEST(HistoryCodecTest, TimesThatWouldOverflowAreCorruptionNotUndefinedBehaviour) {
  // Found by fuzz_history: a stamp delta near INT64_MAX added to the block's start.
  const std::string bytes("\x10\x00\xf6\xff\xff\xff\xd1\xd1\xff\xff\xff\x01\x01\x00\x00\x00\x01\xff\xff\xff\x01"
                          "\x10\x00\xff\xff\xff\xd1\xd1\xff\xff\xff\x01\x01\x00\x00\x00\x01", 37);
  Status st = ForEachHistoryRecord(bytes, 480'000, [](const InstanceView& v) {
    (void)v.Materialize();
    return true;
  });
  EXPECT_FALSE(st.ok());
  // A stamp delta that overflows, built on purpose.
  std::string rec;
  rec.push_back('\x00');  // flags: a double
  rec.push_back('\xfe');
  for (int i = 0; i < 8; ++i) rec.push_back('\xff');
  rec.push_back('\x01');  // zigzag varint of INT64_MAX: the stamp would overflow
  rec.append(8, '\0');    // the double
  rec.push_back('\0');    // no extras
  std::string block(1, static_cast<char>(rec.size()));
  block += rec;
  EXPECT_FALSE(ForEachHistoryRecord(block, 480'000, [](const InstanceView&) { return true; }).ok());
}

TEST(HistoryCodecTest, BlocksAndInstanceIds) {
  EXPECT_EQ(HistoryBlockOf(0), 0);
  EXPECT_EQ(HistoryBlockOf(kHistoryBlockMs - 1), 0);
  EXPECT_EQ(HistoryBlockOf(kHistoryBlockMs), 1);
  EXPECT_EQ(HistoryBlockOf(-1), -1);  // before 1970: floor, not truncation
  EXPECT_EQ(HistoryBlockStartMs(HistoryBlockOf(-1)), -kHistoryBlockMs);
  EXPECT_EQ(StampOfInstanceId(InstanceIdOf(1795721404619997)), 1795721404619997);
  EXPECT_EQ(StampOfInstanceId("urn:ngsi-ld:Instance:12x"), std::nullopt);
  EXPECT_EQ(StampOfInstanceId("urn:other:1"), std::nullopt);
  std::set<int64_t> stamps;
  for (int i = 0; i < 10000; ++i) stamps.insert(NextHistoryStamp());
  EXPECT_EQ(stamps.size(), 10000u);  // never the same twice
}

// Hubs sharing a database stamp in their own residue class (store/hub_slot.h): two hubs never
// give two instances one identity, and a hub's stamps stay increasing and close to the clock.
TEST(HistoryCodecTest, StampsAreCongruentToTheHubsSlot) {
  const auto now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  // µs the stamps may be ahead of the clock: what earlier stamps of this process ran ahead, a
  // millisecond for reading the clock, and 16 ms per 1,000 stamps below.
  int64_t ahead_at_most = std::max<int64_t>(0, NextHistoryStamp() - now_us()) + 1'000;
  for (uint32_t slot : {3u, 0u, 15u}) {
    store::SetCurrentHubSlot({slot, 16});
    const int64_t before = now_us();
    int64_t last = 0;
    for (int i = 0; i < 1000; ++i) {
      const int64_t stamp = NextHistoryStamp();
      ASSERT_EQ(stamp % 16, static_cast<int64_t>(slot)) << stamp;
      ASSERT_GT(stamp, last);
      last = stamp;
    }
    // 1,000 stamps 16 µs apart at the least: at most 16 ms more ahead of the clock (called
    // faster than it ticks, they run ahead; they come back to it when called slower).
    ahead_at_most += 16'000;
    EXPECT_GE(last, before);
    EXPECT_LE(last, now_us() + ahead_at_most);
  }
  store::SetCurrentHubSlot({});  // alone again: every µs may be a stamp
  std::set<int64_t> residues;
  for (int i = 0; i < 1000; ++i) residues.insert(NextHistoryStamp() % 16);
  EXPECT_GT(residues.size(), 1u);
}

TEST(IsoDurationTest, ParsesTheIsoFormsAndRefusesOthers) {
  auto ms = [](std::string_view s) { return ParseIsoDuration(s).value().ms; };
  EXPECT_EQ(ms("PT1H"), 3'600'000);
  EXPECT_EQ(ms("PT15M"), 900'000);
  EXPECT_EQ(ms("PT0.5S"), 500);
  EXPECT_EQ(ms("P1D"), 86'400'000);
  EXPECT_EQ(ms("P2W"), 14 * 86'400'000LL);
  EXPECT_EQ(ms("P1DT12H"), 86'400'000 + 43'200'000);
  EXPECT_EQ(ParseIsoDuration("P1Y2M").value().months, 14);
  EXPECT_TRUE(ParseIsoDuration("PT0S").value().IsZero());
  for (std::string_view bad : {"", "P", "PT", "1D", "P1H", "PT1D", "P1DT", "P1M1Y", "PT1.5M", "P-1D", "P1D2",
                               "P1.5D", "PT1S1M", "P99999Y", "P1DT1H1H"}) {
    EXPECT_FALSE(ParseIsoDuration(bad).ok()) << bad;
  }
  // Calendar months: Jan 31 + 1 month = Feb 28 (2026 is not a leap year), + 2 = Mar 31.
  const int64_t jan31 = util::ParseDateTime("2026-01-31T06:00:00Z").value();
  EXPECT_EQ(util::FormatDateTime(AddDuration(jan31, {1, 0}, 1)), "2026-02-28T06:00:00.000Z");
  EXPECT_EQ(util::FormatDateTime(AddDuration(jan31, {1, 0}, 2)), "2026-03-31T06:00:00.000Z");
  EXPECT_EQ(util::FormatDateTime(AddDuration(jan31, {12, 0}, -1)), "2025-01-31T06:00:00.000Z");
}

TEST(AggregationTest, MethodsParseByNameAndUnknownOnesAreNamed) {
  EXPECT_THAT(ParseAggregationMethods("avg,min,avg,totalCount").value(),
              ElementsAre(AggrMethod::kAvg, AggrMethod::kMin, AggrMethod::kTotalCount));
  auto bad = ParseAggregationMethods("avg,median");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("'median'"));
  EXPECT_FALSE(ParseAggregationMethods("").ok());
  EXPECT_FALSE(ParseAggregationMethods("avg,").ok());
}

// Every method on random numeric series against a brute-force computation, fixed and
// calendar periods.
TEST(AggregationTest, AgreesWithBruteForceOnRandomSeries) {
  std::mt19937_64 rng(42);
  const int64_t origin = util::ParseDateTime("2026-01-30T00:00:00Z").value();
  const std::vector<AggrMethod> all = {AggrMethod::kTotalCount, AggrMethod::kDistinctCount, AggrMethod::kSum,
                                       AggrMethod::kAvg,        AggrMethod::kMin,           AggrMethod::kMax,
                                       AggrMethod::kStddev,     AggrMethod::kSumsq};
  for (IsoDuration period : {IsoDuration{0, 3'600'000}, IsoDuration{0, 86'400'000}, IsoDuration{1, 0}, IsoDuration{}}) {
    SCOPED_TRACE(period.months * 1000000000 + period.ms);
    AggregationRequest request{all, period};
    Aggregator agg(request, origin, std::nullopt);
    struct Point {
      int64_t t;
      double v;
    };
    std::vector<Point> points;
    std::string bytes;
    for (int i = 0; i < 3000; ++i) {
      const int64_t t = origin + static_cast<int64_t>(rng() % (70LL * 86'400'000));  // ~70 days
      const bool integral = rng() % 2;
      const double v = integral ? static_cast<double>(static_cast<int64_t>(rng() % 200) - 100)
                                : std::ldexp(static_cast<double>(rng() % 1'000'000), -10) - 300;
      json::object inst{{"type", "Property"}};
      if (integral) inst["value"] = static_cast<int64_t>(v); else inst["value"] = v;
      HistoryInstance h;
      h.stamp_us = h.modified_us = 1'000'000 + i;
      h.observed_ms = t;
      h.instance = inst;
      std::string rec;
      EncodeHistoryInstance(h, HistoryBlockOf(t), &rec);
      Status st = ForEachHistoryRecord(rec, HistoryBlockOf(t), [&](const InstanceView& view) {
        agg.Add(view, t);
        return true;
      });
      ASSERT_TRUE(st.ok());
      points.push_back({t, v});
    }
    // Before the origin: ignored.
    HistoryInstance early;
    early.stamp_us = early.modified_us = 5;
    early.observed_ms = origin - 1;
    early.instance = Obj(R"({"type":"Property","value":1000000})");
    std::string rec;
    EncodeHistoryInstance(early, HistoryBlockOf(origin - 1), &rec);
    (void)ForEachHistoryRecord(rec, HistoryBlockOf(origin - 1), [&](const InstanceView& v) {
      agg.Add(v, origin - 1);
      return true;
    });

    // Brute force: period k holds t with start(k) <= t < start(k+1).
    std::map<int64_t, std::vector<double>> expected;
    for (const auto& p : points) {
      int64_t k = 0;
      if (!period.IsZero()) {
        while (AddDuration(origin, period, k + 1) <= p.t) ++k;
      }
      expected[k].push_back(p.v);
    }
    AggregatedAttribute out = agg.Finish("a");
    ASSERT_EQ(out.results.size(), all.size());
    for (const auto& [method, rows] : out.results) {
      SCOPED_TRACE(std::string(AggregationMethodName(method)));
      ASSERT_EQ(rows.size(), expected.size());
      size_t i = 0;
      for (const auto& [k, values] : expected) {
        const auto& row = rows[i++];
        if (!period.IsZero()) {
          EXPECT_EQ(row.start_ms, AddDuration(origin, period, k));
          EXPECT_EQ(row.end_ms, AddDuration(origin, period, k + 1));
        }
        const double n = static_cast<double>(values.size());
        double sum = 0, sumsq = 0, mn = values[0], mx = values[0];
        for (double v : values) {
          sum += v;
          sumsq += v * v;
          mn = std::min(mn, v);
          mx = std::max(mx, v);
        }
        const double mean = sum / n;
        double var = 0;
        for (double v : values) var += (v - mean) * (v - mean);
        var = values.size() > 1 ? var / (n - 1) : 0;
        double want = 0;
        switch (method) {
          case AggrMethod::kTotalCount: want = n; break;
          case AggrMethod::kDistinctCount: want = static_cast<double>(std::set<double>(values.begin(), values.end()).size()); break;
          case AggrMethod::kSum: want = sum; break;
          case AggrMethod::kAvg: want = mean; break;
          case AggrMethod::kMin: want = mn; break;
          case AggrMethod::kMax: want = mx; break;
          case AggrMethod::kStddev: want = std::sqrt(var); break;
          case AggrMethod::kSumsq: want = sumsq; break;
        }
        const double got = row.value.to_number<double>();
        EXPECT_NEAR(got, want, 1e-9 * std::max(1.0, std::fabs(want))) << "period " << k;
      }
    }
  }
}

TEST(AggregationTest, BooleansCountAsOneAndZeroStringsHaveMinMaxAndCountsOnly) {
  AggregationRequest request{{AggrMethod::kSum, AggrMethod::kAvg, AggrMethod::kMin, AggrMethod::kMax,
                              AggrMethod::kTotalCount, AggrMethod::kDistinctCount},
                             {}};
  auto feed = [&](Aggregator& agg, std::vector<std::string> instances) {
    int64_t t = 1000;
    for (const auto& text : instances) {
      HistoryInstance h;
      h.stamp_us = h.modified_us = t * 1000;
      h.observed_ms = t;
      h.instance = Obj(text);
      std::string rec;
      EncodeHistoryInstance(h, HistoryBlockOf(t), &rec);
      (void)ForEachHistoryRecord(rec, HistoryBlockOf(t), [&](const InstanceView& v) {
        agg.Add(v, t);
        return true;
      });
      ++t;
    }
  };
  Aggregator flags(request, 0, std::nullopt);
  feed(flags, {R"({"type":"Property","value":true})", R"({"type":"Property","value":false})",
               R"({"type":"Property","value":true})"});
  auto f = flags.Finish("f");
  std::map<std::string, json::value> got;
  for (const auto& [m, rows] : f.results) got[std::string(AggregationMethodName(m))] = rows.at(0).value;
  EXPECT_EQ(got["sum"], json::value(2));
  EXPECT_NEAR(got["avg"].to_number<double>(), 2.0 / 3, 1e-12);
  EXPECT_EQ(got["totalCount"], json::value(3));
  EXPECT_EQ(got["distinctCount"], json::value(2));

  Aggregator words(request, 0, std::nullopt);
  feed(words, {R"({"type":"Property","value":"관심"})", R"({"type":"Property","value":"주의"})",
               R"({"type":"Property","value":"관심"})",
               R"({"type":"Property","value":"urn:ngsi-ld:null"})"});  // a plain string here
  auto w = words.Finish("w");
  got.clear();
  for (const auto& [m, rows] : w.results) got[std::string(AggregationMethodName(m))] = rows.at(0).value;
  EXPECT_FALSE(got.count("sum"));  // does not apply to strings: left out
  EXPECT_FALSE(got.count("avg"));
  EXPECT_EQ(got["min"], json::value("urn:ngsi-ld:null"));
  EXPECT_EQ(got["max"], json::value("주의"));
  EXPECT_EQ(got["totalCount"], json::value(4));
  EXPECT_EQ(got["distinctCount"], json::value(3));

  Aggregator links(request, 0, std::nullopt);
  feed(links, {R"({"type":"Relationship","object":"urn:a"})", R"({"type":"Relationship","object":"urn:b"})",
               R"({"type":"Relationship","object":"urn:a","observedAt":"x"})"});
  auto l = links.Finish("l");
  EXPECT_EQ(l.type, "Relationship");
  got.clear();
  for (const auto& [m, rows] : l.results) got[std::string(AggregationMethodName(m))] = rows.at(0).value;
  EXPECT_EQ(got.size(), 2u);  // only the counts
  EXPECT_EQ(got["totalCount"], json::value(3));
  EXPECT_EQ(got["distinctCount"], json::value(2));
}

class TemporalServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "cityhub-temporal-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    store::RocksDbOptions options;
    options.data_dir = (root_ / "data").string();
    options.block_cache_bytes = 8 << 20;
    options.write_buffer_bytes = 4 << 20;
    auto opened = store::OpenRocksDbStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    service_ = std::make_unique<TemporalService>(*store_);
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
    fs::remove_all(root_);
  }
  // n readings of attribute "p", one a minute from `start`, value = index.
  void Readings(int64_t start, int n) {
    std::vector<TemporalAppend> items;
    for (int i = 0; i < n; ++i) {
      json::object inst{{"type", "Property"}, {"value", i}, {"observedAt", util::FormatDateTime(start + i * 60'000LL)}};
      items.push_back({"p", std::move(inst)});
    }
    auto created = service_->Append(AnyoneMayWrite(), "", "urn:e:1", {"T"}, items, true);
    ASSERT_TRUE(created.ok()) << created.status().message();
  }
  std::vector<int64_t> Values(const TemporalQuery& q, bool* truncated = nullptr) {
    auto e = service_->Retrieve("", "urn:e:1", q);
    EXPECT_TRUE(e.ok()) << e.status().message();
    std::vector<int64_t> out;
    if (!e.ok() || e->attributes.empty()) return out;
    for (const auto& h : e->attributes[0].instances) out.push_back(h.instance.at("value").as_int64());
    if (truncated) *truncated = e->attributes[0].truncated;
    return out;
  }

  fs::path root_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<TemporalService> service_;
};

TEST_F(TemporalServiceTest, TimeRangesLastNAndTheCapFollowTheSpecAcrossBlocks) {
  const int64_t t0 = util::ParseDateTime("2026-03-01T00:00:00Z").value();
  Readings(t0, 600);  // 10 hours: 10+ blocks
  TemporalQuery q;
  EXPECT_EQ(Values(q).size(), 600u);
  q.timerel = TimeRel::kBefore;
  q.time_at_ms = t0 + 120 * 60'000;  // value 120 is at timeAt: excluded
  auto before = Values(q);
  ASSERT_EQ(before.size(), 120u);
  EXPECT_EQ(before.back(), 119);
  q.timerel = TimeRel::kAfter;  // included
  auto after = Values(q);
  ASSERT_EQ(after.size(), 480u);
  EXPECT_EQ(after.front(), 120);
  q.timerel = TimeRel::kBetween;
  q.end_time_at_ms = t0 + 300 * 60'000;
  auto between = Values(q);
  ASSERT_EQ(between.size(), 180u);
  EXPECT_EQ(between.front(), 120);
  EXPECT_EQ(between.back(), 299);
  q.last_n = 5;  // the last five of the range, oldest first
  EXPECT_THAT(Values(q), ElementsAre(295, 296, 297, 298, 299));
  q.timerel = TimeRel::kAny;
  EXPECT_THAT(Values(q), ElementsAre(595, 596, 597, 598, 599));
  // The cap: forwards the oldest, with lastN the newest; both marked truncated.
  q.last_n.reset();
  q.max_instances = 50;
  bool truncated = false;
  auto capped = Values(q, &truncated);
  EXPECT_TRUE(truncated);
  ASSERT_EQ(capped.size(), 50u);
  EXPECT_EQ(capped.front(), 0);
  q.last_n = 100;
  capped = Values(q, &truncated);
  EXPECT_TRUE(truncated);
  ASSERT_EQ(capped.size(), 50u);
  EXPECT_EQ(capped.back(), 599);
  q.last_n = 50;
  capped = Values(q, &truncated);
  EXPECT_FALSE(truncated);  // exactly what lastN asked for
  // Late data lands in its own (old) block and is found in order.
  std::vector<TemporalAppend> late = {
      {"p", json::object{{"type", "Property"}, {"value", -1}, {"observedAt", util::FormatDateTime(t0 - 1)}}}};
  ASSERT_TRUE(service_->Append(AnyoneMayWrite(), "", "urn:e:1", {}, late, false).ok());
  q = TemporalQuery{};
  q.last_n.reset();
  EXPECT_EQ(Values(q).front(), -1);
  // Unknown entity or tenant: NotFound.
  EXPECT_EQ(service_->Retrieve("", "urn:e:2", q).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(service_->Retrieve("other", "urn:e:1", q).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(service_->Append(AnyoneMayWrite(), "", "urn:e:2", {}, late, false).status().code(), Status::Code::kNotFound);
}

TEST_F(TemporalServiceTest, TheCapNeverSplitsTheInstancesOfOneTime) {
  // Times (minutes): 0 1 2 3 3 4 5 5 6 — values are the indexes.
  const int64_t t0 = util::ParseDateTime("2026-03-01T00:00:00Z").value();
  const std::vector<int> minutes = {0, 1, 2, 3, 3, 4, 5, 5, 6};
  std::vector<TemporalAppend> items;
  for (size_t i = 0; i < minutes.size(); ++i) {
    items.push_back({"p", json::object{{"type", "Property"}, {"value", static_cast<int64_t>(i)},
                                       {"observedAt", util::FormatDateTime(t0 + minutes[i] * 60'000LL)}}});
  }
  ASSERT_TRUE(service_->Append(AnyoneMayWrite(), "", "urn:e:1", {"T"}, items, true).ok());
  TemporalQuery q;
  bool truncated = false;
  q.max_instances = 4;  // forwards the cut falls inside minute 3: both of its instances wait
  EXPECT_THAT(Values(q, &truncated), ElementsAre(0, 1, 2));
  EXPECT_TRUE(truncated);
  q.max_instances = 5;  // after minute 3: whole
  EXPECT_THAT(Values(q, &truncated), ElementsAre(0, 1, 2, 3, 4));
  q.last_n = 9;
  q.max_instances = 2;  // backwards the cut falls inside minute 5
  EXPECT_THAT(Values(q, &truncated), ElementsAre(8));
  EXPECT_TRUE(truncated);
  q.max_instances = 4;
  EXPECT_THAT(Values(q, &truncated), ElementsAre(5, 6, 7, 8));
  // A page that would hold nothing but one time's instances keeps them, cut as they come.
  q.last_n.reset();
  q.timerel = TimeRel::kAfter;
  q.time_at_ms = t0 + 3 * 60'000;
  q.max_instances = 1;
  EXPECT_THAT(Values(q, &truncated), ElementsAre(3));
  EXPECT_TRUE(truncated);
}

TEST_F(TemporalServiceTest, AggregatedDailyPeriodsOverAWeekOfMinuteData) {
  const int64_t t0 = util::ParseDateTime("2026-03-01T00:00:00Z").value();
  Readings(t0, 7 * 1440);
  TemporalQuery q;
  q.timerel = TimeRel::kBetween;
  q.time_at_ms = t0;
  q.end_time_at_ms = t0 + 7LL * 86'400'000;
  AggregationRequest a{{AggrMethod::kTotalCount, AggrMethod::kMin, AggrMethod::kMax}, {0, 86'400'000}};
  auto e = service_->RetrieveAggregated("", "urn:e:1", q, a);
  ASSERT_TRUE(e.ok()) << e.status().message();
  ASSERT_EQ(e->attributes.size(), 1u);
  const auto& results = e->attributes[0].results;
  ASSERT_EQ(results.size(), 3u);
  ASSERT_EQ(results[0].second.size(), 7u);
  for (int day = 0; day < 7; ++day) {
    EXPECT_EQ(results[0].second[day].value, json::value(1440));
    EXPECT_EQ(results[1].second[day].value, json::value(day * 1440));
    EXPECT_EQ(results[2].second[day].value, json::value(day * 1440 + 1439));
    EXPECT_EQ(results[0].second[day].start_ms, t0 + day * 86'400'000LL);
  }
}

}  // namespace
}  // namespace cityhub::broker

namespace cityhub::broker {
namespace {

TEST(RetentionPolicyTest, TheMostSpecificRuleAppliesAndTheShortestAmongTypes) {
  auto policy = RetentionPolicy::Parse(" *=P2Y, CctvEvent=P30D ,gimhae/ParkingSpot=P90D, gimhae/*=P1Y,"
                                       "https://example.org/Person=P7D");
  ASSERT_TRUE(policy.ok()) << policy.status().message();
  const int64_t now = util::ParseDateTime("2026-06-30T00:00:00Z").value();
  auto cutoff = [&](std::string_view tenant, std::vector<std::string> types) {
    auto c = policy->CutoffMs(tenant, types, now);
    return c ? util::FormatDateTime(*c) : std::string("forever");
  };
  const std::string sdm = "https://smartdatamodels.org/dataModel.Parking/ParkingSpot";
  EXPECT_EQ(cutoff("", {"https://uri.etsi.org/ngsi-ld/default-context/Tree"}), "2024-06-30T00:00:00.000Z");
  EXPECT_EQ(cutoff("", {"https://uri.etsi.org/ngsi-ld/default-context/CctvEvent"}), "2026-05-31T00:00:00.000Z");
  EXPECT_EQ(cutoff("gimhae", {sdm}), "2026-04-01T00:00:00.000Z");                   // tenant + type
  EXPECT_EQ(cutoff("gimhae", {"urn:x:Tree"}), "2025-06-30T00:00:00.000Z");         // tenant
  EXPECT_EQ(cutoff("jeju", {sdm}), "2024-06-30T00:00:00.000Z");                    // falls back to */*
  EXPECT_EQ(cutoff("", {"https://example.org/Person", "https://x/CctvEvent"}), "2026-06-23T00:00:00.000Z");  // shortest
  auto none = RetentionPolicy::Parse("CctvEvent=P30D");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->CutoffMs("", {"urn:x:Tree"}, now), std::nullopt);  // no rule: for ever
  EXPECT_TRUE(RetentionPolicy::Parse("").value().empty());
  for (std::string_view bad : {"CctvEvent", "CctvEvent=30d", "=P1D", "x/=P1D", "CctvEvent=PT0S"}) {
    EXPECT_FALSE(RetentionPolicy::Parse(bad).ok()) << bad;
  }
}

TEST_F(TemporalServiceTest, RetentionHidesExpiredInstancesAtOnceAndThePurgeRemovesTheirBlocks) {
  const int64_t now = util::NowMillis();
  std::vector<TemporalAppend> items;
  for (int64_t age_h : {50, 30, 25, 23, 1}) {  // hours ago
    items.push_back({"p", json::object{{"type", "Property"}, {"value", age_h},
                                       {"observedAt", util::FormatDateTime(now - age_h * 3'600'000)}}});
  }
  ASSERT_TRUE(service_->Append(AnyoneMayWrite(), "", "urn:e:1", {"urn:x:Sensor"}, items, true).ok());
  ASSERT_TRUE(service_->Append(AnyoneMayWrite(), "", "urn:e:2", {"urn:x:Tree"}, items, true).ok());
  auto policy = RetentionPolicy::Parse("Sensor=P1D");
  ASSERT_TRUE(policy.ok());
  TemporalService with_retention(*store_, &*policy);
  auto values = [&](TemporalService& s, std::string_view id) {
    std::vector<int64_t> out;
    auto e = s.Retrieve("", id, TemporalQuery{});
    EXPECT_TRUE(e.ok());
    if (e.ok() && !e->attributes.empty()) {
      for (const auto& h : e->attributes[0].instances) out.push_back(h.instance.at("value").as_int64());
    }
    return out;
  };
  EXPECT_THAT(values(with_retention, "urn:e:1"), ElementsAre(23, 1));  // hidden at once
  EXPECT_THAT(values(with_retention, "urn:e:2"), ElementsAre(50, 30, 25, 23, 1));  // no rule for Tree
  HistoryPurger purger(*store_, *policy, std::chrono::hours(1));
  auto stats = purger.PurgeOnce(now);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->entities, 1u);
  // Gone from the store itself (seen without the policy), except what shares the boundary block.
  auto kept = values(*service_, "urn:e:1");
  EXPECT_THAT(kept, ::testing::Not(::testing::Contains(50)));
  EXPECT_THAT(kept, ::testing::Not(::testing::Contains(30)));
  EXPECT_THAT(kept, ::testing::IsSupersetOf({23, 1}));
  EXPECT_THAT(values(*service_, "urn:e:2"), ElementsAre(50, 30, 25, 23, 1));
  // A second purge finds nothing more to do.
  EXPECT_EQ(purger.PurgeOnce(now).value().entities, 0u);
}

}  // namespace
}  // namespace cityhub::broker
