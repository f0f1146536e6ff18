#include "store/rocksdb/tuning.h"

#include <algorithm>
#include <initializer_list>
#include <memory>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_buffer_manager.h>

#include "store/rocksdb/merge_operators.h"

namespace cityhub::store::rocks {

namespace {

constexpr size_t kMemtableBudgetFactor = 4;
constexpr int kBloomBitsPerKey = 10;
constexpr size_t kMetaWriteBufferBytes = 4 << 20;

// The first of `preferred` this librocksdb supports, else none.
rocksdb::CompressionType PickCompression(std::initializer_list<rocksdb::CompressionType> preferred_order) {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (auto preferred : preferred_order) {
    if (std::find(supported.begin(), supported.end(), preferred) != supported.end()) {
      return preferred;
    }
  }
  return rocksdb::kNoCompression;
}

rocksdb::ColumnFamilyOptions FamilyOptions(const RocksDbOptions& options,
                                           const std::shared_ptr<rocksdb::Cache>& cache,
                                           rocksdb::CompressionType compression, bool bloom) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // Partitioned index and filters: a big SST's index is split into 4 KB blocks that the cache
  // can hold, and only a small top level is pinned (see tuning.h).
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  if (bloom) table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));

  rocksdb::ColumnFamilyOptions cf;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.write_buffer_size = options.write_buffer_bytes;
  cf.max_write_buffer_number = 2;
  cf.compression = compression;
  cf.level_compaction_dynamic_level_bytes = true;
  return cf;
}

}  // namespace

Tuning MakeTuning(const RocksDbOptions& options) {
  const auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  // Read on every retrieve and query: the fastest to decompress. Scanned or rarely read: the
  // smallest.
  const auto fast = PickCompression({rocksdb::kLZ4Compression, rocksdb::kSnappyCompression, rocksdb::kZSTD});
  const auto compression = PickCompression({rocksdb::kZSTD, rocksdb::kLZ4Compression, rocksdb::kSnappyCompression});

  Tuning t;
  t.db.create_if_missing = true;
  t.db.create_missing_column_families = true;
  t.db.max_background_jobs = 2;
  t.db.max_subcompactions = 1;
  t.db.max_total_wal_size = options.max_total_wal_bytes;
  t.db.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
      kMemtableBudgetFactor * options.write_buffer_bytes);
  t.db.bytes_per_sync = 1 << 20;
  t.db.max_open_files = 256;
  t.db.keep_log_file_num = 4;
  // Writes are small (one entity) or already batched: the leader of a write group inserting
  // all of them beats followers inserting in parallel and then synchronising (+10 % durable
  // PATCH throughput measured, batch loads unchanged).
  t.db.allow_concurrent_memtable_write = false;

  t.entities = FamilyOptions(options, cache, fast, /*bloom=*/true);
  t.index = FamilyOptions(options, cache, compression, /*bloom=*/false);
  t.index.merge_operator = NewCounterMerge();
  // Index keys are deleted in bulk when values change or entities go: a file in which a
  // quarter of any 64k consecutive entries are deletions is compacted soon, so scans do not
  // keep stepping over them.
  t.index.table_properties_collector_factories.emplace_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(64 * 1024, 16 * 1024));
  t.meta = FamilyOptions(options, cache, compression, /*bloom=*/true);
  t.meta.write_buffer_size = std::min(options.write_buffer_bytes, kMetaWriteBufferBytes);
  // The outbox is a queue: records are written, read back soon and deleted; small memtables,
  // and files dense with deletions compacted soon.
  t.outbox = t.meta;
  t.outbox.table_properties_collector_factories.emplace_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(16 * 1024, 4 * 1024));
  // History is appended to and scanned by key range, never looked up by whole key without a
  // seek: no bloom filter.
  t.history = FamilyOptions(options, cache, compression, /*bloom=*/false);
  t.history.merge_operator = NewHistoryAppendMerge();
  t.other = t.meta;
  return t;
}

}  // namespace cityhub::store::rocks
