// TempStore: a real RocksDB store in a fresh temporary directory for the broker tests, with small
// caches (tests hold little data); closed and its directory removed when it goes. Declare it
// before the services that use it, so that they go first.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string_view>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/rocksdb/rocksdb_store.h"

namespace cityhub::broker {

class TempStore {
 public:
  explicit TempStore(std::string_view name) {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / fmt::format("cityhub-{}-{}-{}", name, ::getpid(), rd());
    store::RocksDbOptions o;
    o.data_dir = dir_.string();
    o.block_cache_bytes = 8 << 20;
    o.write_buffer_bytes = 4 << 20;
    auto s = store::OpenRocksDbStore(o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (s.ok()) store_ = std::move(*s);
  }
  ~TempStore() {
    if (store_) store_->Close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;

  bool ok() const { return store_ != nullptr; }
  store::Store& operator*() const { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace cityhub::broker
