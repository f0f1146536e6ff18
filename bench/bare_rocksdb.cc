// bare_rocksdb: the hardware's durable-write ceiling for issue 20 ("bare RocksDB doing durable
// batched updates of the same documents"): RocksDB alone, no cityhub code. `--entities`
// documents the size of a parking spot's stored entity are loaded, then `--threads` writers
// each replace random ones for `--seconds`, one synced write per update (WriteOptions::sync):
// RocksDB's group commit gathers concurrent writers into one WAL append and one fsync, which is
// what "batched" means here — the same commit path the hub's writes take.
// Prints updates per second and the latency of one update (p50, p99).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace {

std::string Id(uint64_t n) { return fmt::format("urn:ngsi-ld:ParkingSpot:bench:{:07}", n); }

// About the size of what the hub stores for a parking spot after a PATCH of two attributes.
std::string Document(uint64_t n, uint64_t version) {
  return fmt::format(
      R"({{"id":"{}","type":"https://smartdatamodels.org/dataModel.Parking/ParkingSpot",)"
      R"("https://smartdatamodels.org/dataModel.Parking/status":[{{"type":"Property","value":"{}",)"
      R"("observedAt":"2026-11-26T10:00:00Z"}}],"https://smartdatamodels.org/occupancy":[{{"type":"Property","value":{}}}],)"
      R"("location":[{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[127.{:04},37.{:04}]}}}}],)"
      R"("https://uri.etsi.org/ngsi-ld/createdAt":"2026-11-26T09:00:00Z","https://uri.etsi.org/ngsi-ld/modifiedAt":"2026-11-26T10:00:{:02}Z"}})",
      Id(n), version % 2 ? "occupied" : "free", version % 100, n % 10000, (n / 10000) % 10000, version % 60);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bare RocksDB durable updates: the hardware's ceiling for the hub's write figures"};
  std::string dir = "/tmp/bare-rocksdb";
  uint64_t entities = 100000;
  unsigned threads = 8;
  double seconds = 10;
  app.add_option("--dir", dir, "made afresh");
  app.add_option("--entities", entities);
  app.add_option("--threads", threads);
  app.add_option("--seconds", seconds);
  CLI11_PARSE(app, argc, argv);

  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kZSTD;  // the hub's choice too (store/rocksdb/tuning.cc)
  options.IncreaseParallelism(static_cast<int>(std::thread::hardware_concurrency()));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(options, dir, &raw);
  if (!st.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), st.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);

  // Load, in batches of 1,000 (not timed).
  for (uint64_t first = 0; first < entities; first += 1000) {
    rocksdb::WriteBatch batch;
    for (uint64_t n = first; n < std::min(entities, first + 1000); ++n) batch.Put(Id(n), Document(n, 0));
    if (!(st = db->Write(rocksdb::WriteOptions(), &batch)).ok()) {
      std::fprintf(stderr, "load: %s\n", st.ToString().c_str());
      return 1;
    }
  }

  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> writers;
  const auto start = std::chrono::steady_clock::now();
  for (unsigned t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      rocksdb::WriteOptions durable;
      durable.sync = true;
      for (uint64_t version = 1; !stop.load(std::memory_order_relaxed); ++version) {
        const uint64_t n = rng() % entities;
        rocksdb::WriteBatch batch;
        batch.Put(Id(n), Document(n, version));
        const auto t0 = std::chrono::steady_clock::now();
        if (!db->Write(durable, &batch).ok()) std::abort();
        latencies[t].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : writers) w.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all.empty() ? 0.0 : all[static_cast<size_t>(q * static_cast<double>(all.size() - 1))]; };
  std::printf("bare RocksDB: %zu durable updates in %.1f s with %u threads: %.0f updates/s, p50 %.2f ms, p99 %.2f ms\n",
              all.size(), elapsed, threads, static_cast<double>(all.size()) / elapsed, pct(0.5), pct(0.99));
  db.reset();
  std::filesystem::remove_all(dir);
}
