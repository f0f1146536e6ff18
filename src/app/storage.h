// Storage: what the running hub keeps — the store (one database per tenant under --data-dir)
// and the @context resolver, whose hosted contexts are saved in the default tenant's metadata.
// Open() opens both or neither; the destructor closes the store, flushing every acknowledged
// write, so whatever was built on the Storage must be gone by then. Everything else in the hub
// borrows the store and the resolver from here.
#pragma once

#include <memory>

#include "app/config.h"
#include "app/outbound.h"
#include "ngsild/context.h"
#include "store/rocksdb/rocksdb_store.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::app {

class Storage {
 public:
  // Opens the data dir (replaying its write-ahead log after a crash) and loads the hosted and
  // preloaded @contexts; downloads go through `outbound`'s address policy. StartFailure naming
  // the data dir or the @contexts otherwise, with nothing left open.
  static Result<std::unique_ptr<Storage>> Open(const Config& config, const Outbound& outbound);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  store::Store& store() { return *store_; }
  ngsild::ContextResolver& contexts() { return contexts_; }

 private:
  Storage(std::unique_ptr<store::Store> store, ngsild::ContextResolverOptions context_options);

  std::unique_ptr<store::Store> store_;
  ngsild::ContextResolver contexts_;
};

// The store settings of `config` (also used by `cityhub backup` on a stopped hub).
store::RocksDbOptions StoreOptions(const Config& config);

}  // namespace cityhub::app
