// The store's write path alone, on either backend: T threads each replace the record of random
// entities of their own (a measure arriving: same types and attribute names, a new value term
// and document), one durable Write per update — what a PATCH costs the store, without HTTP or
// NGSI-LD. Prints updates/s and latency percentiles.
//   store_bench --backend rocksdb [--dir DIR] | --backend postgres --conninfo URI
//               [--entities 10000] [--threads 8] [--seconds 10] [--mode write|update|update-shared]
// --mode update: each update a read-modify-write (Update: the record read, on PostgreSQL FOR
// UPDATE, then written) as the broker's PATCH does; update-shared: the same while the store
// follows shared metadata (store.h, SharedMetaObserver), so every Update also takes the
// tenant's shared lock and checks for subscription changes — the check's cost is the difference.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "store/postgres/postgres_store.h"
#include "store/rocksdb/rocksdb_store.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace cityhub;

store::EntityRecord Measure(size_t entity, uint64_t value) {
  store::EntityRecord r;
  r.id = fmt::format("urn:ngsi-ld:WaterLevelSensor:bench:{:06}", entity);
  r.types = {"https://smartdatamodels.org/dataModel.Environment/WaterObserved"};
  r.attributes = {"https://smartdatamodels.org/dataModel.Environment/height", "https://smartdatamodels.org/location"};
  r.terms = {{fmt::format("v/height/{:012}", value % 100000), std::to_string(value)},
             {fmt::format("g/cell/{:08x}", entity * 2654435761u), ""}};
  r.document = fmt::format(R"({{"id":"{}","height":{{"type":"Property","value":{}}},"pad":"{}"}})", r.id, value,
                           std::string(220, 'x'));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "rocksdb", dir, conninfo;
  size_t entities = 10000, threads = 8;
  int seconds = 10;
  std::string mode = "write";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--backend") backend = value;
    else if (flag == "--dir") dir = value;
    else if (flag == "--conninfo") conninfo = value;
    else if (flag == "--entities") entities = std::stoul(value);
    else if (flag == "--threads") threads = std::stoul(value);
    else if (flag == "--seconds") seconds = std::stoi(value);
    else if (flag == "--mode") mode = value;
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  Result<std::unique_ptr<store::Store>> opened = Status::Internal("no backend");
  if (backend == "postgres") {
    store::PostgresStoreOptions o;
    o.conninfo = conninfo;
    o.max_connections = threads + 2;
    opened = store::OpenPostgresStore(o);
  } else {
    if (dir.empty()) dir = (std::filesystem::temp_directory_path() / "cityhub-store-bench").string();
    std::filesystem::remove_all(dir);
    store::RocksDbOptions o;
    o.data_dir = dir;
    opened = store::OpenRocksDbStore(o);
  }
  if (!opened.ok()) {
    std::fprintf(stderr, "cannot open the %s store: %s\n", backend.c_str(), opened.status().message().c_str());
    return 1;
  }
  store::TenantStore* t = (*opened)->Tenant("", true).value();
  struct Ignore : store::SharedMetaObserver {
    void SharedMetaChanged(std::string_view, std::string_view, const std::optional<std::string>&) override {}
  } ignore;
  if (mode == "update-shared") {
    if (Status st = (*opened)->WatchSharedMeta("subscription/", &ignore); !st.ok()) {
      std::fprintf(stderr, "cannot follow shared metadata: %s\n", st.message().c_str());
      return 1;
    }
  } else if (mode != "write" && mode != "update") {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }

  // The entities, created in batches of 500.
  const auto load_start = Clock::now();
  for (size_t first = 0; first < entities; first += 500) {
    store::WriteSet ws;
    for (size_t e = first; e < std::min(entities, first + 500); ++e) ws.puts.push_back(Measure(e, 0));
    if (Status st = t->Write(ws); !st.ok()) {
      std::fprintf(stderr, "load failed: %s\n", st.message().c_str());
      return 1;
    }
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failures{0};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (size_t w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937_64 rng(w);
      uint64_t value = w << 40;
      while (!stop) {
        // Each thread its own entities (w, w + T, …): updates to one entity never race here
        // (the broker's stripe lock would serialise them anyway).
        const size_t e = (rng() % std::max<size_t>(1, entities / threads)) * threads + w;
        store::WriteSet ws;
        ws.puts.push_back(Measure(std::min(e, entities - 1), ++value));
        const auto t0 = Clock::now();
        Status st;
        if (mode == "write") {
          st = t->Write(ws);
        } else {
          const std::string id = ws.puts.front().id;
          st = t->Update({id}, [&](const store::CurrentRecords& current) -> Result<store::WriteSet> {
            if (!current[0].ok()) return current[0].status();
            return ws;
          });
        }
        if (!st.ok()) ++failures;
        latencies[w].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  std::printf("%s %s: %zu entities loaded in %.2f s (%.0f/s); %zu threads, %zu durable updates in %.1f s = %.0f updates/s, "
              "p50 %.2f ms, p99 %.2f ms, %llu failed\n",
              backend.c_str(), mode.c_str(), entities, load_s, entities / load_s, threads, all.size(), elapsed, all.size() / elapsed,
              pct(0.5), pct(0.99), static_cast<unsigned long long>(failures.load()));
  (*opened)->Close();
  if (backend != "postgres") std::filesystem::remove_all(dir);
  return failures ? 1 : 0;
}
