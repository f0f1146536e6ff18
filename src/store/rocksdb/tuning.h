// Tuning of the RocksDB backend (DESIGN §3, 2 cores): the options every tenant database opens with.
//   - One LRU block cache of block_cache_bytes for all tenants and families, holding index and
//     filter blocks too (cache_index_and_filter_blocks): read memory has a single budget.
//     Indexes and filters are partitioned into 4 KB blocks: a monolithic index block of a big
//     SST (2+ MB at a million entities) is larger than one cache shard, so it was never cached
//     and every point lookup read and decompressed it again — measured: zstd took 68 % of the
//     CPU and durable updates fell from 9,000/s to 1,300/s once compaction built such files.
//     The small top-level index and L0 index/filter blocks are pinned.
//   - Memtables of write_buffer_bytes, at most two per family, and a WriteBufferManager over
//     all tenants of 4 x write_buffer_bytes: unbudgeted, memtables grew to ~120 MB under load.
//   - max_total_wal_size = max_total_wal_bytes forces flushes of families that pin old WAL
//     files, bounding WAL replay after kill -9 (measured ~1.4 s per 58 MB) to a few seconds.
//   - Entities: LZ4 if this librocksdb has it, else snappy, else zstd. With more entities than
//     the block cache holds, a retrieve decompresses a block: zstd's decompression was 29 % of
//     the hub's CPU for GET by id at a million entities (perf). Every other family: zstd if
//     available (best ratio; history appends measured fastest with it), else lz4, else snappy.
//     Files written with the other codec stay readable and are rewritten by compaction.
//   - Bloom filters (10 bits/key, ~1% false positives) on entities and meta: a write does a
//     point lookup per put and most creates miss. The index family is only ever seeked, where
//     whole-key filters do not help, so it carries none and spends no memory on them.
//   - max_background_jobs = 2 and no subcompactions: flush and compaction must leave CPU to
//     the server on a 2-core machine. bytes_per_sync = 1 MB smooths SST write-back so a flush
//     does not stall the fsync of a commit behind a burst of dirty pages.
//   - level_compaction_dynamic_level_bytes keeps space amplification near 1.1x.
//   - max_open_files = 256 per tenant bounds file descriptors when there are many tenants.
#pragma once

#include <rocksdb/options.h>

#include "store/rocksdb/rocksdb_store.h"

namespace cityhub::store::rocks {

// Options shared by every tenant database, one set per family.
struct Tuning {
  rocksdb::DBOptions db;
  rocksdb::ColumnFamilyOptions entities;
  rocksdb::ColumnFamilyOptions index;
  rocksdb::ColumnFamilyOptions meta;
  rocksdb::ColumnFamilyOptions outbox;
  rocksdb::ColumnFamilyOptions history;
  rocksdb::ColumnFamilyOptions other;  // the unused default family
};

// The options for `options`' budgets (one block cache and one memtable budget for all tenants).
Tuning MakeTuning(const RocksDbOptions& options);

}  // namespace cityhub::store::rocks
