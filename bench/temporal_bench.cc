// temporal_bench: the temporal API benchmarks against a running hub (docs/PERFORMANCE.md,
// issue 5). bench/run_temporal_bench.sh starts the hub on an empty data dir and runs:
//
//   year:    one entity, one attribute, a year of minute data (525,600 instances) posted
//            through POST /temporal/entities/{id}/attrs; then, one request at a time, the
//            daily aggregates (avg, min, max with aggrPeriodDuration=P1D over the year) and
//            lastN=100; and, as the ceiling of the same HTTP stack and store, a GET of the
//            small current entity. Prints the latency distribution of each.
//   ingest:  E entities x one day of minute data (E x 1,440 instances) posted with
//            POST /temporal/entities, one entity per request, over C connections; prints
//            instances per second.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "http_client.h"

namespace {

using cityhub::bench::Client;
using Clock = std::chrono::steady_clock;

constexpr int64_t kYearStartMs = 1'735'689'600'000;  // 2025-01-01T00:00:00Z

std::string Iso(int64_t ms) {
  const std::time_t s = ms / 1000;
  std::tm tm{};
  gmtime_r(&s, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

// A river level that rises and falls over the day, with noise: realistic values compress
// like real ones (not a constant).
double Level(size_t minute) {
  const double day = static_cast<double>(minute % 1440) / 1440.0;
  return static_cast<double>(static_cast<int64_t>((1.5 + 0.8 * day * (1 - day) + 0.01 * static_cast<double>((minute * 7919) % 13)) * 1000)) / 1000;
}

// `count` minute readings of waterLevel from minute `first`, as the attribute's array.
std::string Readings(size_t first, size_t count) {
  std::string out = R"("waterLevel":[)";
  for (size_t i = 0; i < count; ++i) {
    const size_t m = first + i;
    if (i) out.push_back(',');
    out += fmt::format(R"({{"type":"Property","value":{},"unitCode":"MTR","observedAt":"{}"}})", Level(m),
                       Iso(kYearStartMs + static_cast<int64_t>(m) * 60'000));
  }
  out.push_back(']');
  return out;
}

struct Stats {
  std::vector<double> ms;
  double Pct(double p) {
    std::sort(ms.begin(), ms.end());
    return ms.empty() ? 0 : ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))];
  }
};

template <typename Fn>
Stats Time(int runs, Fn&& fn) {
  Stats s;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    fn();
    s.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return s;
}

// `load`: post the year first; without, time the queries on a year posted by an earlier run.
int Year(const std::string& host, unsigned short port, int runs, bool load) {
  Client c(host, port);
  const std::string id = "urn:ngsi-ld:WaterLevelSensor:year";
  if (load && c.Send("POST", "/ngsi-ld/v1/entities",
             fmt::format(R"({{"id":"{}","type":"WaterLevelSensor","name":{{"type":"Property","value":"river"}}}})", id)) != 201) {
    std::fprintf(stderr, "cannot create the entity: %s\n", c.body().c_str());
    return 1;
  }
  constexpr size_t kMinutes = 525'600, kBatch = 8'000;
  const auto t0 = Clock::now();
  for (size_t first = 0; load && first < kMinutes; first += kBatch) {
    const size_t n = std::min(kBatch, kMinutes - first);
    const std::string path = first == 0 ? "/ngsi-ld/v1/temporal/entities" : fmt::format("/ngsi-ld/v1/temporal/entities/{}/attrs", id);
    const std::string body = first == 0 ? fmt::format(R"({{"id":"{}","type":"WaterLevelSensor",{}}})", id, Readings(first, n))
                                        : fmt::format("{{{}}}", Readings(first, n));
    const int status = c.Send("POST", path, body);
    if (status != 201 && status != 204) {
      std::fprintf(stderr, "posting history failed (%d): %s\n", status, c.body().substr(0, 300).c_str());
      return 1;
    }
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (load) {
    std::printf("year: %zu instances posted in %.1f s (%.0f/s, one connection)\n", kMinutes, load_s,
                static_cast<double>(kMinutes) / load_s);
  }

  const std::string daily = fmt::format(
      "/ngsi-ld/v1/temporal/entities/{}?format=aggregatedValues&aggrMethods=avg,min,max&aggrPeriodDuration=P1D"
      "&timerel=between&timeAt={}&endTimeAt={}",
      id, Iso(kYearStartMs), Iso(kYearStartMs + 365LL * 86'400'000));
  const std::string last = fmt::format("/ngsi-ld/v1/temporal/entities/{}?lastN=100&attrs=waterLevel", id);
  const std::string ceiling = fmt::format("/ngsi-ld/v1/entities/{}", id);
  // Check the answers once.
  if (c.Send("GET", daily, "") != 200 || c.body().find("\"avg\"") == std::string::npos) {
    std::fprintf(stderr, "daily aggregates failed: %s\n", c.body().substr(0, 300).c_str());
    return 1;
  }
  std::printf("daily aggregates answer: %zu bytes\n", c.body().size());
  if (c.Send("GET", last, "") != 200) return 1;
  std::printf("lastN=100 answer: %zu bytes\n", c.body().size());

  for (int round = 0; round < 2; ++round) {  // the second round is the one reported warm
    Stats agg = Time(runs, [&] { c.Send("GET", daily, ""); });
    Stats ln = Time(runs * 10, [&] { c.Send("GET", last, ""); });
    Stats ce = Time(runs * 10, [&] { c.Send("GET", ceiling, ""); });
    std::printf("round %d: daily avg/min/max over a year (P1D): p50 %.2f ms  p90 %.2f ms  max %.2f ms (%d runs)\n", round + 1,
                agg.Pct(0.5), agg.Pct(0.9), agg.Pct(1.0), runs);
    std::printf("round %d: lastN=100: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms (%d runs)\n", round + 1, ln.Pct(0.5), ln.Pct(0.9),
                ln.Pct(0.99), runs * 10);
    std::printf("round %d: ceiling, GET /entities/{id} (small entity): p50 %.3f ms  p90 %.3f ms  p99 %.3f ms\n", round + 1,
                ce.Pct(0.5), ce.Pct(0.9), ce.Pct(0.99));
  }
  return 0;
}

int Ingest(const std::string& host, unsigned short port, size_t entities, unsigned conns) {
  std::atomic<size_t> next{0}, failed{0};
  std::vector<std::thread> threads;
  // The readings of each day of the year are formatted before the clock starts (entity e posts
  // day e % 365): the client's JSON formatting is not measured, only an id is prefixed.
  std::vector<std::string> days(std::min<size_t>(entities, 365));
  for (size_t d = 0; d < days.size(); ++d) days[d] = Readings(d * 1440, 1440) + "}";
  const auto t0 = Clock::now();
  for (unsigned t = 0; t < conns; ++t) {
    threads.emplace_back([&] {
      Client c(host, port);
      for (size_t e = next++; e < entities; e = next++) {
        const std::string body =
            fmt::format(R"({{"id":"urn:ngsi-ld:WaterLevelSensor:{}","type":"WaterLevelSensor",)", e) + days[e % days.size()];
        const int status = c.Send("POST", "/ngsi-ld/v1/temporal/entities", body);
        if (status != 201 && status != 204) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double instances = static_cast<double>(entities) * 1440;
  std::printf("ingest: %zu entities x 1,440 instances = %.0f instances in %.1f s over %u connections: %.0f instances/s "
              "(%zu requests failed)\n",
              entities, instances, s, conns, instances / s, failed.load());
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Temporal API benchmark"};
  std::string mode = "year", host = "127.0.0.1";
  unsigned short port = 1026;
  int runs = 20;
  size_t entities = 10000;
  unsigned conns = 4;
  app.add_option("--mode", mode, "year, year-queries (a year posted by an earlier run) or ingest")
      ->check(CLI::IsMember({"year", "year-queries", "ingest"}));
  app.add_option("--hub-port", port);
  app.add_option("--runs", runs, "aggregation requests timed per round (lastN: 10x)");
  app.add_option("--entities", entities, "ingest: entities with a day of minute data each");
  app.add_option("--conns", conns, "ingest: connections");
  CLI11_PARSE(app, argc, argv);
  if (mode == "ingest") return Ingest(host, port, entities, conns);
  return Year(host, port, runs, mode == "year");
}
