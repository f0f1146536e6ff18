// Tests for services/simulator/demo_script: the demo city's scenario decoded as the hub's IoT
// agent decodes it (ingest/measures.h) and fed to the early-warning engine with the default
// rules raises exactly DemoScript::ExpectedStages() in one cycle — every bollard its own stage,
// the underpass through all four, one earthquake confirmed by the four shaken sensors, nothing
// for the lone noisy sensor or the lowest bollard — at any start time; measures carry the
// script's clock; the same seed replays the same city; the free spots it reports follow its
// own spot messages.
#include "services/simulator/demo_script.h"

#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ingest/measures.h"
#include "services/warning/warning_engine.h"

namespace cityhub::services {
namespace {

constexpr int64_t kStart = 1'795'000'000'000;  // 2026-11-18

std::string Expand(std::string_view t) { return "urn:t:" + std::string(t); }

// The attribute an object id maps to (as the demo city provisions its devices).
std::string AttributeOf(const std::string& object_id) {
  static const std::map<std::string, std::string> names = {{"l", "waterLevel"}, {"d", "waterDepth"}, {"a", "acceleration"}};
  auto it = names.find(object_id);
  return it == names.end() ? object_id : it->second;
}

struct Outcome {
  std::map<std::string, std::vector<std::string>> stages;  // sensor (or "earthquake") -> stages
  std::vector<std::vector<std::string>> quake_sources;
  std::vector<int64_t> message_times;
  long measures = 0;
};

// Runs `seconds` of the script through the IoT agent's decoder and the warning engine.
Outcome Simulate(const DemoCity& city, int seconds, int64_t start_ms = kStart) {
  Outcome out;
  WarningEngine engine(WarningRules::Defaults(Expand));
  DemoScript script(city, start_ms);
  auto feed = [&](const std::vector<DemoMessage>& messages) {
    for (const auto& m : messages) {
      auto groups = ingest::DecodeUltralight(m.payload, ingest::MeasureLimits{});
      ASSERT_TRUE(groups.ok()) << m.payload;
      for (const auto& g : *groups) {
        ASSERT_TRUE(g.observed_ms.has_value()) << m.payload;
        out.message_times.push_back(*g.observed_ms);
        out.measures += static_cast<long>(g.measures.size());
        for (const auto& measure : g.measures) {
          if (!measure.value.is_number()) continue;
          Reading r;
          r.tenant = "";
          r.sensor = m.device->id;
          r.types = {Expand(m.device->type)};
          r.attribute = Expand(AttributeOf(measure.object_id));
          r.value = measure.value.to_number<double>();
          r.at_ms = *g.observed_ms;
          for (const AlertChange& c : engine.Observe(r)) {
            const std::string key = c.sub_category == "earthquake" ? "earthquake" : c.sources.at(0);
            out.stages[key].emplace_back(StageName(c.stage));
            if (c.sub_category == "earthquake" && c.stage != Stage::kNone) out.quake_sources.push_back(c.sources);
          }
        }
      }
    }
  };
  feed(script.Start());
  for (int t = 0; t < seconds; ++t) feed(script.Step(t));
  return out;
}

TEST(DemoScript, OneCycleRaisesExactlyTheExpectedAlerts) {
  const DemoCity city = MakeDemoCity();
  const Outcome o = Simulate(city, kDemoCycleSeconds);
  EXPECT_EQ(o.stages, DemoScript::ExpectedStages());
  EXPECT_EQ(o.stages.count("haeban-4"), 0u);     // 1.5 m: below every stage
  EXPECT_EQ(o.stages.count("vibration-5"), 0u);  // never an alert of its own
  ASSERT_EQ(o.quake_sources.size(), 1u);
  EXPECT_THAT(o.quake_sources[0], ::testing::ElementsAre("vibration-0", "vibration-1", "vibration-2"));
  // 200 spots first, then 20 messages (26 measures) per second.
  EXPECT_EQ(o.measures, 200 + 26L * kDemoCycleSeconds);
}

TEST(DemoScript, TheOutcomeDoesNotDependOnTheStartTime) {
  const DemoCity city = MakeDemoCity();
  for (int64_t start : {kStart + 123456, kStart - int64_t{86400000} * 200}) {
    EXPECT_EQ(Simulate(city, kDemoCycleSeconds, start).stages, DemoScript::ExpectedStages()) << start;
  }
}

TEST(DemoScript, TheLoneNoisySensorRaisesNothingBeforeTheEarthquake) {
  const Outcome o = Simulate(MakeDemoCity(), 89);  // up to just before the earthquake
  EXPECT_EQ(o.stages.count("earthquake"), 0u);
  EXPECT_TRUE(o.quake_sources.empty());
}

TEST(DemoScript, MeasuresCarryTheScriptsClock) {
  const Outcome o = Simulate(MakeDemoCity(), 3);
  std::set<int64_t> times(o.message_times.begin(), o.message_times.end());
  EXPECT_EQ(times, (std::set<int64_t>{kStart, kStart + 1000, kStart + 2000}));
}

TEST(DemoScript, TheSameSeedReplaysTheSameCityAndFreeSpotsFollowTheSpotMessages) {
  const DemoCity city = MakeDemoCity();
  ASSERT_EQ(city.spots.size(), 200u);
  ASSERT_EQ(city.sites.size(), 3u);
  DemoScript a(city, kStart), b(city, kStart), other(city, kStart, 7);
  std::map<std::string, bool> occupied;  // spot -> last state said
  auto track = [&](const std::vector<DemoMessage>& messages) {
    for (const auto& m : messages) {
      if (m.device->type == "ParkingSpot") occupied[m.device->id] = m.payload.find("occupied") != std::string::npos;
    }
  };
  auto same = [](const std::vector<DemoMessage>& x, const std::vector<DemoMessage>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i].device != y[i].device || x[i].payload != y[i].payload) return false;
    }
    return true;
  };
  auto start_a = a.Start();
  EXPECT_TRUE(same(start_a, b.Start()));
  EXPECT_FALSE(same(start_a, other.Start()));
  track(start_a);
  for (int t = 0; t < 100; ++t) {
    auto step = a.Step(t);
    EXPECT_TRUE(same(step, b.Step(t))) << t;
    track(step);
  }
  std::map<std::string, int> free;
  for (const auto& s : city.sites) free[s.id] = 0;
  for (const auto& d : city.spots) {
    ASSERT_TRUE(occupied.count(d.id)) << d.id;
    if (!occupied[d.id]) ++free[d.site];
  }
  EXPECT_EQ(a.FreeSpots(), free);
  int total_free = 0;
  for (const auto& [site, n] : free) total_free += n;
  EXPECT_GT(total_free, 40);  // about 40 % free, as the script starts
  EXPECT_LT(total_free, 120);
}

}  // namespace
}  // namespace cityhub::services
