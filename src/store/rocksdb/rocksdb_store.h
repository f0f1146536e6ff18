// RocksDbStore: the embedded default Store (DESIGN §3) — one RocksDB database per tenant under
// `<data_dir>/tenants/<name>/` (default tenant: `<data_dir>/default/`). See keys.h and tuning.h
// for the key layout and tuning. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace cityhub::store {

struct RocksDbOptions {
  std::string data_dir = "./data";
  size_t block_cache_bytes = 128 << 20;   // shared by all tenants
  size_t write_buffer_bytes = 32 << 20;   // per memtable
  size_t max_total_wal_bytes = 64 << 20;  // bounds WAL replay time after a crash
  bool sync_writes = true;                // false only for benchmarks that say so
  size_t max_tenants = 100;               // named tenants that may exist (creating more fails)
};

// Opens (creating if needed) the data dir and every existing tenant database.
// Returns an error if the directory cannot be used or a database fails to open or migrate.
Result<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options);

}  // namespace cityhub::store
