// RocksDbStore: the embedded Store — one RocksDB database per tenant.
//
// Why one database per tenant (and not a tenant prefix in one database): a tenant can be
// backed up, inspected, moved or dropped as a directory, its keys never share a block with
// another tenant's, and a bug in a key prefix cannot leak data across tenants. The cost is a
// WAL and memtables per tenant, which the shared block cache and write-buffer budget below
// keep bounded. Tenant databases are opened at start-up (found by listing the data dir) or
// lazily on the first write to a new tenant, and stay open until Close().
//
// Key layout (schema version 4), five column families:
//
//   entities  <id>                      -> record: format byte 0x02, varint count + (varint
//                                          length, bytes) for types, same for attributes,
//                                          varint count + (key, payload) pairs for terms,
//                                          then the document bytes up to the end (format
//                                          0x01, written by schema version 1, has no terms)
//   index     T<type>\0<id>             -> ""   entities by type (typed scans, ListTypes)
//             X<term><id><len>          -> payload   the broker's terms (value and spatial
//                                          indexes); <len> is the id's length as 2 bytes big
//                                          endian, so the id is found from the key's end
//             N<type>\0                 -> int64 count of entities having the type
//             M<attr>\0                 -> int64 count of entities having the attribute
//             C<type>\0<attr>\0         -> int64 count of entities of the type having it
//   outbox    <sequence, 8 bytes BE>    -> a notification owed (broker's format), from the write
//                                          that owes it until delivered (version 3)
//   history   A<id>\0<attr>\0<block>     -> a block of attribute instances (the broker's
//                                          encoding); <block> is the int64 block number as 8
//                                          bytes big endian with the sign bit flipped, so key
//                                          order is block order. Appends are merges that
//                                          concatenate (HistoryAppendMerge). (version 4)
//             E<id>                     -> the broker's header of an entity with history
//   meta      schema_version            -> decimal version of this layout
//             u/<key>                   -> user metadata (GetMeta/PutMeta/...)
//
// The counters are 8-byte little-endian int64 values changed only through RocksDB merges of
// deltas (CounterMerge below): merges commute, so concurrent writers need no lock, and one
// write sums its deltas first — a batch of 1,000 new ParkingSpots adds one T key per entity
// and about a dozen merges in all, where a key per (entity, attribute) would add thousands of
// memtable inserts (measured: they made memtable insertion 40 % of the CPU of a batch load).
// A counter that falls to 0 stays as a key and is skipped by the listings.
//
// Types and attribute names may not contain NUL (they are IRIs), so '\0' ends them. Listings
// read counters, one key per distinct value (or pair): their cost is the number of distinct
// types and attributes, not the number of entities. Ids are always the last component of a T
// key, so they may hold any byte and a type range is in ascending id order, the order every
// scan promises.
//
// Writes. Every write knows the previous records of the ids it touches — Update() read them
// for its function, Write() reads them (one MultiGet either way) — and Apply() diffs their
// types, attributes and terms against the new ones and puts entity records, type and term keys
// and summed counter deltas into one WriteBatch: the change is atomic, and the indexes can never
// disagree with the records.
// There is no lock around this: the broker guarantees that no two concurrent writes touch the
// same id (it holds the ids' stripe locks across an Update), so concurrent writes go straight
// to RocksDB, whose write path groups them into one WAL append and one fsync (group commit). A
// global write mutex would make every writer wait for every other writer's fsync.
//
// Scans. Without a type filter a scan walks the entities family. With types it merges one
// iterator per type over `T<type>\0` in id order, dropping duplicates (an entity with two of
// the types appears once), and reads records under one snapshot shared by all iterators, so
// a scan sees one consistent state. A query names a handful of types, so the merge takes the
// minimum by a linear pass rather than keeping a heap.
//
// Terms. The record keeps its terms, so a write removes exactly the keys the previous version
// added; a term scan is one iterator over [X<begin>, X<end>). Version 2 added terms without
// rewriting version 1 records: they decode with no terms, and the broker re-derives the terms
// of every entity when its own index version changes (EntityService::EnsureIndexed).
//
// Schema versions. A new database gets `schema_version` = 1 in the same open that creates it.
// Opening a database with an older version runs kMigrations[v - 1] for each step v -> v + 1
// and records each step; a newer version is refused with an error naming both versions, so an
// old binary never misreads (or worse, rewrites) data laid out by a newer one.
//
// Closing. Every TenantStore call holds an in-flight count; Close() marks the store closed,
// waits for calls already inside RocksDB to leave, flushes memtables (so the next start does
// not replay the WAL) and closes the database. Calls after that return kUnavailable. A scan
// visitor must therefore not call Store::Close() (it would wait for itself).
//
// Tuning (DESIGN §3, 2 cores):
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
//   - zstd if this librocksdb has it (best ratio; history appends measured fastest with it),
//     else lz4, else snappy.
//   - Bloom filters (10 bits/key, ~1% false positives) on entities and meta: a write does a
//     point lookup per put and most creates miss. The index family is only ever seeked, where
//     whole-key filters do not help, so it carries none and spends no memory on them.
//   - max_background_jobs = 2 and no subcompactions: flush and compaction must leave CPU to
//     the server on a 2-core machine. bytes_per_sync = 1 MB smooths SST write-back so a flush
//     does not stall the fsync of a commit behind a burst of dirty pages.
//   - level_compaction_dynamic_level_bytes keeps space amplification near 1.1x.
//   - max_open_files = 256 per tenant bounds file descriptors when there are many tenants.

#include "store/rocksdb_store.h"
#include "store/record_codec.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <deque>
#include <limits>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>

#include <fmt/format.h>

namespace cityhub::store {

namespace {

namespace fs = std::filesystem;

constexpr char kEntitiesFamily[] = "entities";
constexpr char kIndexFamily[] = "index";
constexpr char kMetaFamily[] = "meta";
constexpr char kOutboxFamily[] = "outbox";
constexpr char kHistoryFamily[] = "history";

constexpr int kSchemaVersion = 4;
constexpr std::string_view kSchemaVersionKey = "schema_version";
constexpr std::string_view kUserMetaPrefix = "u/";

constexpr char kTypeTag = 'T';
constexpr char kTypeCountTag = 'N';
constexpr char kAttrCountTag = 'M';
constexpr char kTypeAttrCountTag = 'C';
constexpr char kTermTag = 'X';

constexpr size_t kMemtableBudgetFactor = 4;
constexpr int kBloomBitsPerKey = 10;
constexpr size_t kMetaWriteBufferBytes = 4 << 20;

// The column families a migration may read and rewrite.
struct Families {
  rocksdb::ColumnFamilyHandle* entities;
  rocksdb::ColumnFamilyHandle* index;
  rocksdb::ColumnFamilyHandle* meta;
  rocksdb::ColumnFamilyHandle* outbox;
  rocksdb::ColumnFamilyHandle* history;
};

// kMigrations[v - 1] rewrites a database from schema version v to v + 1. To change the layout:
// bump kSchemaVersion, append the step here, and describe the new layout in the block above.
using Migration = rocksdb::Status (*)(rocksdb::DB* db, const Families& families);
// 1 -> 2: records may carry terms (format 2); format 1 records stay readable as they are.
rocksdb::Status AddTerms(rocksdb::DB*, const Families&) { return rocksdb::Status::OK(); }
// 2 -> 3: the outbox family, which opening creates empty.
rocksdb::Status AddOutbox(rocksdb::DB*, const Families&) { return rocksdb::Status::OK(); }
// 3 -> 4: the history family, which opening creates empty.
rocksdb::Status AddHistory(rocksdb::DB*, const Families&) { return rocksdb::Status::OK(); }
constexpr std::array<Migration, kSchemaVersion - 1> kMigrations = {&AddTerms, &AddOutbox, &AddHistory};

constexpr char kHistoryBlockTag = 'A';
constexpr char kHistoryEntityTag = 'E';

// A history key's prefix for every block of (id, attr): A<id>\0<attr>\0.
std::string HistoryPrefix(std::string_view id, std::string_view attr) {
  std::string key;
  key.reserve(id.size() + attr.size() + 11);
  key.push_back(kHistoryBlockTag);
  key.append(id);
  key.push_back('\0');
  key.append(attr);
  key.push_back('\0');
  return key;
}

std::string HistoryKey(std::string_view id, std::string_view attr, int64_t block) {
  std::string key = HistoryPrefix(id, attr);
  uint64_t ordered = static_cast<uint64_t>(block) ^ (uint64_t{1} << 63);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((ordered >> shift) & 0xff));
  return key;
}

int64_t HistoryBlockOf(std::string_view key) {
  uint64_t ordered = 0;
  for (unsigned char c : key.substr(key.size() - 8)) ordered = (ordered << 8) | c;
  return static_cast<int64_t>(ordered ^ (uint64_t{1} << 63));
}

std::string HistoryEntityKey(std::string_view id) {
  std::string key(1, kHistoryEntityTag);
  key.append(id);
  return key;
}

// Outbox keys: the sequence, 8 bytes big endian, so key order is sequence order.
std::string OutboxKey(uint64_t sequence) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, sequence >>= 8) key[i] = static_cast<char>(sequence & 0xff);
  return key;
}

uint64_t OutboxSequence(std::string_view key) {
  uint64_t sequence = 0;
  for (unsigned char c : key.substr(0, 8)) sequence = (sequence << 8) | c;
  return sequence;
}

Status Unavailable() { return Status(Status::Code::kUnavailable, "store is closed"); }

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::Internal(fmt::format("rocksdb {}: {}", what, s.ToString()));
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// The smallest key greater than every key starting with `prefix`; empty if there is none.
std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto last = static_cast<unsigned char>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

Status CorruptRecord(std::string_view id) {
  return Status::Internal(fmt::format("corrupt entity record for id '{}'", id));
}

// --- Index keys ---------------------------------------------------------------------------

std::string IndexPrefix(char tag, std::string_view value) {
  std::string key;
  key.reserve(value.size() + 2);
  key.push_back(tag);
  key.append(value);
  key.push_back('\0');
  return key;
}

std::string IndexPrefix(char tag, std::string_view first, std::string_view second) {
  std::string key = IndexPrefix(tag, first);
  key.append(second);
  key.push_back('\0');
  return key;
}

// X<term><id><2-byte id length>: ids hold any byte, so their length ends the key.
std::string TermKey(std::string_view term, std::string_view id) {
  std::string key;
  key.reserve(1 + term.size() + id.size() + 2);
  key.push_back(kTermTag);
  key.append(term).append(id);
  key.push_back(static_cast<char>((id.size() >> 8) & 0xff));
  key.push_back(static_cast<char>(id.size() & 0xff));
  return key;
}

// Splits a term key (without the tag) into term and id; false if it is malformed.
bool SplitTermKey(std::string_view rest, std::string_view* term, std::string_view* id) {
  if (rest.size() < 2) return false;
  size_t length = (static_cast<size_t>(static_cast<uint8_t>(rest[rest.size() - 2])) << 8) |
                  static_cast<uint8_t>(rest[rest.size() - 1]);
  if (length + 2 > rest.size()) return false;
  *id = rest.substr(rest.size() - 2 - length, length);
  *term = rest.substr(0, rest.size() - 2 - length);
  return true;
}

std::vector<std::string> SortedUnique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Counters are stored as 8-byte little-endian two's complement int64 values.
std::string EncodeCount(int64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  return out;
}

int64_t DecodeCount(std::string_view in) {
  if (in.size() != 8) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return static_cast<int64_t>(v);
}

// Sums counter deltas: merge(existing, delta) = existing + delta.
class CounterMerge : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    int64_t base = existing ? DecodeCount(View(*existing)) : 0;
    *new_value = EncodeCount(base + DecodeCount(View(value)));
    return true;
  }
  const char* Name() const override { return "cityhub.CounterMerge"; }
};

// Appends to a history block: the result is the operands concatenated in order. All operands
// at once (not pairwise, which would copy a block of n appends n times).
class HistoryAppendMerge : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    size_t size = in.existing_value ? in.existing_value->size() : 0;
    for (const auto& operand : in.operand_list) size += operand.size();
    out->new_value.clear();
    out->new_value.reserve(size);
    if (in.existing_value) out->new_value.append(in.existing_value->data(), in.existing_value->size());
    for (const auto& operand : in.operand_list) out->new_value.append(operand.data(), operand.size());
    return true;
  }
  bool PartialMergeMulti(const rocksdb::Slice&, const std::deque<rocksdb::Slice>& operands, std::string* new_value,
                         rocksdb::Logger*) const override {
    new_value->clear();
    for (const auto& operand : operands) new_value->append(operand.data(), operand.size());
    return true;
  }
  const char* Name() const override { return "cityhub.HistoryAppendMerge"; }
};

// The index changes of one write: type keys to add and remove, and counter deltas summed
// over every entity of the write.
class IndexDelta {
 public:
  // Records that `id` goes from `old` (null = absent) to `now` (null = deleted).
  void Change(std::string_view id, const EntityRecord* old, const EntityRecord* now) {
    ChangeTerms(id, old ? old->terms : kNoTerms, now ? now->terms : kNoTerms);
    // The common update changes values only: no type keys or counters change.
    if (old && now && old->types == now->types && old->attributes == now->attributes) return;
    const auto old_types = old ? SortedUnique(old->types) : std::vector<std::string>{};
    const auto new_types = now ? SortedUnique(now->types) : std::vector<std::string>{};
    for (const auto& t : old_types) {
      if (!std::binary_search(new_types.begin(), new_types.end(), t)) removed_.push_back(IndexPrefix(kTypeTag, t).append(id));
    }
    for (const auto& t : new_types) {
      if (!std::binary_search(old_types.begin(), old_types.end(), t)) added_.push_back(IndexPrefix(kTypeTag, t).append(id));
    }
    if (old) Count(old_types, SortedUnique(old->attributes), -1);
    if (now) Count(new_types, SortedUnique(now->attributes), +1);
  }

  void AppendTo(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* index) const {
    for (const auto& key : removed_) batch.Delete(index, key);
    for (const auto& key : added_) batch.Put(index, key, rocksdb::Slice());
    for (const auto& [key, payload] : term_puts_) batch.Put(index, key, payload);
    for (const auto& [key, delta] : counts_) {
      if (delta != 0) batch.Merge(index, key, EncodeCount(delta));
    }
  }

 private:
  void Count(const std::vector<std::string>& types, const std::vector<std::string>& attrs, int64_t d) {
    for (const auto& t : types) {
      counts_[IndexPrefix(kTypeCountTag, t)] += d;
      for (const auto& a : attrs) counts_[IndexPrefix(kTypeAttrCountTag, t, a)] += d;
    }
    for (const auto& a : attrs) counts_[IndexPrefix(kAttrCountTag, a)] += d;
  }

  // Deletes the term keys `old` has and `now` lacks; puts those new or with a new payload.
  void ChangeTerms(std::string_view id, const std::vector<IndexTerm>& old, const std::vector<IndexTerm>& now) {
    if (old == now) return;
    std::map<std::string_view, std::string_view> kept;
    for (const auto& term : now) kept.emplace(term.key, term.payload);
    for (const auto& term : old) {
      auto it = kept.find(term.key);
      if (it == kept.end()) {
        removed_.push_back(TermKey(term.key, id));
      } else if (it->second == term.payload) {
        kept.erase(it);  // unchanged: nothing to write
      }
    }
    for (const auto& [key, payload] : kept) term_puts_.emplace_back(TermKey(key, id), std::string(payload));
  }

  static inline const std::vector<IndexTerm> kNoTerms;
  std::vector<std::string> removed_;
  std::vector<std::string> added_;
  std::vector<std::pair<std::string, std::string>> term_puts_;
  std::map<std::string, int64_t> counts_;
};

// --- Tuning ---------------------------------------------------------------------------------

rocksdb::CompressionType PickCompression() {
  const auto supported = rocksdb::GetSupportedCompressions();
  for (auto preferred : {rocksdb::kZSTD, rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), preferred) != supported.end()) {
      return preferred;
    }
  }
  return rocksdb::kNoCompression;
}

// Options shared by every tenant database (see "Tuning" above).
struct Tuning {
  rocksdb::DBOptions db;
  rocksdb::ColumnFamilyOptions entities;
  rocksdb::ColumnFamilyOptions index;
  rocksdb::ColumnFamilyOptions meta;
  rocksdb::ColumnFamilyOptions outbox;
  rocksdb::ColumnFamilyOptions history;
  rocksdb::ColumnFamilyOptions other;  // the unused default family
};

rocksdb::ColumnFamilyOptions FamilyOptions(const RocksDbOptions& options,
                                           const std::shared_ptr<rocksdb::Cache>& cache,
                                           rocksdb::CompressionType compression, bool bloom) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // Partitioned index and filters: a big SST's index is split into 4 KB blocks that the cache
  // can hold, and only a small top level is pinned (see "Tuning" above).
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

Tuning MakeTuning(const RocksDbOptions& options) {
  const auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  const auto compression = PickCompression();

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

  t.entities = FamilyOptions(options, cache, compression, /*bloom=*/true);
  t.index = FamilyOptions(options, cache, compression, /*bloom=*/false);
  t.index.merge_operator = std::make_shared<CounterMerge>();
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
  t.history.merge_operator = std::make_shared<HistoryAppendMerge>();
  t.other = t.meta;
  return t;
}

// Releases a snapshot when it goes out of scope.
class ScopedSnapshot {
 public:
  explicit ScopedSnapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~ScopedSnapshot() { db_->ReleaseSnapshot(snapshot_); }
  ScopedSnapshot(const ScopedSnapshot&) = delete;
  ScopedSnapshot& operator=(const ScopedSnapshot&) = delete;
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
};

// An iterator confined to [lower, upper) (upper empty = unbounded). Not movable: the
// iterator keeps a pointer to the bound.
class RangeIterator {
 public:
  // Positioned at `lower` unless `seek` is false (the caller seeks; positioning at the start
  // of a range the caller does not read may step over many deleted keys for nothing).
  RangeIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
                const rocksdb::Snapshot* snapshot, std::string lower, std::string upper, bool seek = true)
      : lower_(std::move(lower)), upper_(std::move(upper)), upper_slice_(upper_) {
    rocksdb::ReadOptions read;
    read.snapshot = snapshot;
    if (!upper_.empty()) read.iterate_upper_bound = &upper_slice_;
    it_.reset(db->NewIterator(read, family));
    if (seek) it_->Seek(lower_);
  }
  RangeIterator(const RangeIterator&) = delete;
  RangeIterator& operator=(const RangeIterator&) = delete;

  rocksdb::Iterator* operator->() { return it_.get(); }

 private:
  std::string lower_;
  std::string upper_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

// Where an id-ordered scan starts (inclusive) within keys beginning with `key_prefix`.
std::string ScanStart(std::string_view key_prefix, const ScanOptions& opts) {
  std::string start(opts.id_prefix);
  if (!opts.after_id.empty()) {
    std::string after = opts.after_id;
    after.push_back('\0');  // the smallest id strictly greater than after_id
    start = std::max(start, after);
  }
  return std::string(key_prefix) + start;
}

// Where it ends (exclusive); empty = the end of the family.
std::string ScanEnd(std::string_view key_prefix, const ScanOptions& opts) {
  std::string id_end = PrefixSuccessor(opts.id_prefix);
  if (id_end.empty()) return PrefixSuccessor(key_prefix);
  return std::string(key_prefix) + id_end;
}

// --- Tenant database --------------------------------------------------------------------

class RocksTenantStore final : public TenantStore {
 public:
  // Opens (creating if missing) the database at `path` and brings its schema up to date.
  static Result<std::unique_ptr<RocksTenantStore>> Open(const std::string& path,
                                                        const Tuning& tuning, bool sync_writes);
  ~RocksTenantStore() override { Close(); }

  Result<EntityRecord> Get(std::string_view id) override;
  Status Write(const WriteSet& ws) override;
  Status Update(const std::vector<std::string_view>& ids, const UpdateFn& fn) override;
  Status ScanIds(const ScanOptions& opts, const IdVisitor& visit) override;
  Status Scan(const ScanOptions& opts, const EntityVisitor& visit) override;
  Status ScanTerms(const std::vector<TermRange>& ranges, const TermVisitor& visit) override;
  Status CompactTerms() override;
  std::vector<Result<EntityRecord>> GetMany(const std::vector<std::string_view>& ids) override;
  Status ScanOutbox(uint64_t from,
                    const std::function<bool(uint64_t sequence, std::string_view value)>& visit) override;
  Status DeleteOutbox(const std::vector<uint64_t>& sequences) override;
  Result<uint64_t> LastOutboxSequence() override;
  Status ScanHistory(std::string_view id, std::string_view attr, int64_t first, int64_t last, bool backwards,
                     const HistoryBlockVisitor& visit) override;
  Result<std::vector<std::string>> HistoryAttributes(std::string_view id) override;
  Status PutHistoryBlock(std::string_view id, std::string_view attr, int64_t block, std::string_view bytes) override;
  Status DeleteHistory(std::string_view id, std::string_view attr, int64_t before) override;
  Result<std::string> GetHistoryEntity(std::string_view id) override;
  Status ScanHistoryEntities(const std::function<bool(std::string_view, std::string_view)>& visit) override;

  Result<std::vector<std::string>> ListTypes() override;
  Result<std::vector<std::string>> AttributesOfType(std::string_view type) override;
  Result<std::vector<std::string>> ListAttributes() override;
  Result<std::vector<std::string>> TypesWithAttribute(std::string_view attr) override;
  Result<uint64_t> CountType(std::string_view type) override;
  Result<uint64_t> CountAttribute(std::string_view attr) override;
  uint64_t ApproximateEntityCount() override;

  Result<std::string> GetMeta(std::string_view key) override;
  Status PutMeta(std::string_view key, std::string_view value) override;
  Status DeleteMeta(std::string_view key) override;
  Status ScanMeta(std::string_view prefix,
                  const std::function<bool(std::string_view, std::string_view)>& visit) override;

  // Writes a consistent copy of this database to `dir`, which must not exist.
  Status Checkpoint(const std::string& dir);
  // Flushes and closes the database; later calls return kUnavailable. Idempotent.
  void Close();

 private:
  class CallGuard;

  explicit RocksTenantStore(std::string path) : path_(std::move(path)) {}

  Status CheckSchema();
  Result<bool> FamilyEmpty(rocksdb::ColumnFamilyHandle* family);
  Status PutSchemaVersion(int version);
  // The records of `ids` in one MultiGet (element i: of ids[i], NotFound if absent).
  CurrentRecords ReadRecords(const std::vector<std::string_view>& ids);
  // Writes `ws` (validated) in one WriteBatch, with the index changes from `previous` — the
  // records of `ids`, element by element — to the records `ws` puts. Internal if `ws` puts or
  // deletes an id not in `ids`; the read's error for one whose read failed.
  Status Apply(const WriteSet& ws, const std::vector<std::string_view>& ids, const CurrentRecords& previous);
  Status MergeTypeIds(const rocksdb::Snapshot* snapshot, const ScanOptions& opts,
                      const IdVisitor& visit);
  // Visits counters under `prefix` with a positive count: (rest of the key, count).
  Status PositiveCounters(std::string_view prefix,
                          const std::function<void(std::string_view rest, uint64_t count)>& visit);
  Result<uint64_t> Counter(const std::string& key);

  const std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // every open family, owned
  Families families_{};
  rocksdb::WriteOptions write_options_;
  std::atomic<int> calls_in_flight_{0};
  std::atomic<bool> closed_{false};
};

// Counts a call as in flight for its lifetime; false if the store is closed.
class RocksTenantStore::CallGuard {
 public:
  explicit CallGuard(RocksTenantStore& store) : store_(store) {
    store_.calls_in_flight_.fetch_add(1);
    open_ = !store_.closed_.load();
  }
  ~CallGuard() {
    if (store_.calls_in_flight_.fetch_sub(1) == 1 && store_.closed_.load()) {
      store_.calls_in_flight_.notify_all();
    }
  }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;
  explicit operator bool() const { return open_; }

 private:
  RocksTenantStore& store_;
  bool open_;
};

Result<std::unique_ptr<RocksTenantStore>> RocksTenantStore::Open(const std::string& path,
                                                                 const Tuning& tuning,
                                                                 bool sync_writes) {
  std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName};
  if (fs::exists(fs::path(path) / "CURRENT")) {
    auto s = rocksdb::DB::ListColumnFamilies(tuning.db, path, &names);
    if (!s.ok()) return FromRocks(s, fmt::format("listing column families of '{}'", path));
  }
  for (const char* known : {kEntitiesFamily, kIndexFamily, kMetaFamily, kOutboxFamily, kHistoryFamily}) {
    if (std::find(names.begin(), names.end(), known) == names.end()) names.push_back(known);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names) {
    const auto& options = name == kEntitiesFamily ? tuning.entities
                          : name == kIndexFamily  ? tuning.index
                          : name == kMetaFamily   ? tuning.meta
                          : name == kOutboxFamily ? tuning.outbox
                          : name == kHistoryFamily ? tuning.history
                                                  : tuning.other;
    descriptors.emplace_back(name, options);
  }

  std::unique_ptr<RocksTenantStore> store(new RocksTenantStore(path));
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(tuning.db, path, descriptors, &store->handles_, &db);
  if (!s.ok()) return FromRocks(s, fmt::format("opening '{}'", path));
  store->db_.reset(db);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == kEntitiesFamily) store->families_.entities = store->handles_[i];
    if (names[i] == kIndexFamily) store->families_.index = store->handles_[i];
    if (names[i] == kMetaFamily) store->families_.meta = store->handles_[i];
    if (names[i] == kOutboxFamily) store->families_.outbox = store->handles_[i];
    if (names[i] == kHistoryFamily) store->families_.history = store->handles_[i];
  }
  store->write_options_.sync = sync_writes;
  CITYHUB_RETURN_IF_ERROR(store->CheckSchema());
  return store;
}

Result<bool> RocksTenantStore::FamilyEmpty(rocksdb::ColumnFamilyHandle* family) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), family));
  it->SeekToFirst();
  if (!it->status().ok()) return FromRocks(it->status(), "reading " + path_);
  return !it->Valid();
}

Status RocksTenantStore::PutSchemaVersion(int version) {
  rocksdb::WriteOptions synced;
  synced.sync = true;
  return FromRocks(db_->Put(synced, families_.meta, rocksdb::Slice(kSchemaVersionKey.data(),
                                                                  kSchemaVersionKey.size()),
                            std::to_string(version)),
                   "writing schema version of " + path_);
}

Status RocksTenantStore::CheckSchema() {
  std::string stored;
  auto s = db_->Get(rocksdb::ReadOptions(), families_.meta,
                    rocksdb::Slice(kSchemaVersionKey.data(), kSchemaVersionKey.size()), &stored);
  if (s.IsNotFound()) {
    // A brand-new database, or one whose creation crashed before the version was written.
    auto entities_empty = FamilyEmpty(families_.entities);
    if (!entities_empty.ok()) return entities_empty.status();
    auto meta_empty = FamilyEmpty(families_.meta);
    if (!meta_empty.ok()) return meta_empty.status();
    if (!*entities_empty || !*meta_empty) {
      return Status::Internal(fmt::format(
          "database '{}' holds data but no schema_version: not a cityhub database?", path_));
    }
    return PutSchemaVersion(kSchemaVersion);
  }
  if (!s.ok()) return FromRocks(s, "reading schema version of " + path_);

  int version = 0;
  auto [end, ec] = std::from_chars(stored.data(), stored.data() + stored.size(), version);
  if (ec != std::errc() || end != stored.data() + stored.size() || version < 1) {
    return Status::Internal(
        fmt::format("database '{}' has an unreadable schema_version '{}'", path_, stored));
  }
  if (version > kSchemaVersion) {
    return Status::NotSupported(fmt::format(
        "database '{}' has schema version {}, newer than the {} this cityhub supports; "
        "upgrade cityhub to open it",
        path_, version, kSchemaVersion));
  }
  for (; version < kSchemaVersion; ++version) {
    s = kMigrations[version - 1](db_.get(), families_);
    if (!s.ok()) {
      return FromRocks(s, fmt::format("migrating '{}' from schema version {} to {}", path_,
                                      version, version + 1));
    }
    CITYHUB_RETURN_IF_ERROR(PutSchemaVersion(version + 1));
  }
  return Status::Ok();
}

void RocksTenantStore::Close() {
  if (closed_.exchange(true)) return;
  for (int n = calls_in_flight_.load(); n != 0; n = calls_in_flight_.load()) {
    calls_in_flight_.wait(n);
  }
  if (!db_) return;
  // Errors are not reportable from here; a failed flush only means a longer WAL replay.
  db_->Flush(rocksdb::FlushOptions(),
             {families_.entities, families_.index, families_.meta, families_.outbox, families_.history});
  for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  handles_.clear();
  db_->Close();
  db_.reset();
}

Result<EntityRecord> RocksTenantStore::Get(std::string_view id) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  rocksdb::PinnableSlice value;
  auto s = db_->Get(rocksdb::ReadOptions(), families_.entities,
                    rocksdb::Slice(id.data(), id.size()), &value);
  if (s.IsNotFound()) return Status::NotFound(fmt::format("entity '{}' not found", id));
  if (!s.ok()) return FromRocks(s, fmt::format("reading entity '{}'", id));
  EntityRecord record;
  record.id.assign(id);
  if (!DecodeRecord(View(value), &record)) return CorruptRecord(id);
  return record;
}

std::vector<Result<EntityRecord>> RocksTenantStore::GetMany(const std::vector<std::string_view>& ids) {
  CallGuard guard(*this);
  if (!guard) return CurrentRecords(ids.size(), Unavailable());
  return ReadRecords(ids);
}

CurrentRecords RocksTenantStore::ReadRecords(const std::vector<std::string_view>& ids) {
  CurrentRecords out;
  if (ids.empty()) return out;
  out.reserve(ids.size());
  std::vector<rocksdb::Slice> keys;
  keys.reserve(ids.size());
  for (auto id : ids) keys.emplace_back(id.data(), id.size());
  std::vector<rocksdb::PinnableSlice> values(ids.size());
  std::vector<rocksdb::Status> statuses(ids.size());
  db_->MultiGet(rocksdb::ReadOptions(), families_.entities, keys.size(), keys.data(), values.data(),
                statuses.data(), /*sorted_input=*/false);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      out.emplace_back(Status::NotFound(fmt::format("entity '{}' not found", ids[i])));
    } else if (!statuses[i].ok()) {
      out.emplace_back(FromRocks(statuses[i], fmt::format("reading entity '{}'", ids[i])));
    } else {
      EntityRecord record;
      record.id.assign(ids[i]);
      if (DecodeRecord(View(values[i]), &record)) {
        out.emplace_back(std::move(record));
      } else {
        out.emplace_back(CorruptRecord(ids[i]));
      }
    }
  }
  return out;
}

Status RocksTenantStore::Write(const WriteSet& ws) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  CITYHUB_RETURN_IF_ERROR(ValidateWriteSet(ws));
  std::vector<std::string_view> ids;
  ids.reserve(ws.puts.size() + ws.deletes.size());
  for (const auto& record : ws.puts) ids.push_back(record.id);
  for (const auto& id : ws.deletes) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return Apply(ws, ids, ReadRecords(ids));
}

Status RocksTenantStore::Update(const std::vector<std::string_view>& ids, const UpdateFn& fn) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  const CurrentRecords current = ReadRecords(ids);
  Result<WriteSet> ws = fn(current);
  if (!ws.ok()) return ws.status();
  CITYHUB_RETURN_IF_ERROR(ValidateWriteSet(*ws));
  return Apply(*ws, ids, current);
}

Status RocksTenantStore::Apply(const WriteSet& ws, const std::vector<std::string_view>& ids,
                               const CurrentRecords& previous) {
  // The final state of each id: the last put wins, and deletes apply after puts.
  std::map<std::string_view, const EntityRecord*> next;
  for (const auto& record : ws.puts) next[record.id] = &record;
  for (const auto& id : ws.deletes) next[id] = nullptr;
  if (next.empty() && ws.outbox.empty() && ws.history.empty() && ws.history_entities.empty() && ws.meta_puts.empty() &&
      ws.meta_deletes.empty()) {
    return Status::Ok();
  }
  std::map<std::string_view, const Result<EntityRecord>*> before;
  for (size_t i = 0; i < ids.size(); ++i) before.emplace(ids[i], &previous[i]);

  rocksdb::WriteBatch batch;
  IndexDelta delta;
  for (const auto& [id, record] : next) {
    auto it = before.find(id);
    if (it == before.end()) {
      return Status::Internal(fmt::format("entity '{}' is written by an update that did not read it", id));
    }
    const Result<EntityRecord>& old = *it->second;
    if (!old.ok() && !old.status().IsNotFound()) return old.status();
    delta.Change(id, old.ok() ? &old.value() : nullptr, record);
    const rocksdb::Slice key(id.data(), id.size());
    if (record) {
      batch.Put(families_.entities, key, EncodeRecord(*record));
    } else if (old.ok()) {
      batch.Delete(families_.entities, key);
    }
  }
  delta.AppendTo(batch, families_.index);
  for (const auto& record : ws.outbox) batch.Put(families_.outbox, OutboxKey(record.sequence), record.value);
  for (const auto& append : ws.history) {
    batch.Merge(families_.history, HistoryKey(append.entity_id, append.attr, append.block), append.bytes);
  }
  for (const auto& header : ws.history_entities) {
    batch.Put(families_.history, HistoryEntityKey(header.entity_id), header.header);
  }
  for (const auto& [key, value] : ws.meta_puts) {
    batch.Put(families_.meta, std::string(kUserMetaPrefix).append(key), value);
  }
  for (const auto& key : ws.meta_deletes) batch.Delete(families_.meta, std::string(kUserMetaPrefix).append(key));
  return FromRocks(db_->Write(write_options_, &batch), "writing batch to " + path_);
}

// Visits the union of the ids under `T<type>\0` for every requested type, ascending, once each.
Status RocksTenantStore::MergeTypeIds(const rocksdb::Snapshot* snapshot,
                                      const ScanOptions& opts, const IdVisitor& visit) {
  struct Cursor {
    std::string prefix;
    std::unique_ptr<RangeIterator> it;
    std::string_view id() { return View((*it)->key()).substr(prefix.size()); }
  };
  std::vector<Cursor> cursors;
  for (const auto& type : SortedUnique(opts.types)) {
    std::string prefix = IndexPrefix(kTypeTag, type);
    auto it = std::make_unique<RangeIterator>(db_.get(), families_.index, snapshot,
                                              ScanStart(prefix, opts), ScanEnd(prefix, opts));
    cursors.push_back(Cursor{std::move(prefix), std::move(it)});
  }

  std::string current;
  for (;;) {
    Cursor* lowest = nullptr;
    for (auto& cursor : cursors) {
      if ((*cursor.it)->Valid() && (!lowest || cursor.id() < lowest->id())) lowest = &cursor;
    }
    if (!lowest) break;
    current.assign(lowest->id());
    for (auto& cursor : cursors) {
      if ((*cursor.it)->Valid() && cursor.id() == current) (*cursor.it)->Next();
    }
    if (!visit(current)) break;
  }
  for (auto& cursor : cursors) {
    if (!(*cursor.it)->status().ok()) return FromRocks((*cursor.it)->status(), "scanning index");
  }
  return Status::Ok();
}

Status RocksTenantStore::ScanIds(const ScanOptions& opts, const IdVisitor& visit) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  if (!opts.types.empty()) {
    ScopedSnapshot snapshot(db_.get());
    return MergeTypeIds(snapshot.get(), opts, visit);
  }
  RangeIterator it(db_.get(), families_.entities, nullptr, ScanStart("", opts),
                   ScanEnd("", opts));
  for (; it->Valid(); it->Next()) {
    if (!visit(View(it->key()))) break;
  }
  return FromRocks(it->status(), "scanning entities");
}

Status RocksTenantStore::Scan(const ScanOptions& opts, const EntityVisitor& visit) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  EntityRecord record;
  if (opts.types.empty()) {
    RangeIterator it(db_.get(), families_.entities, nullptr, ScanStart("", opts),
                     ScanEnd("", opts));
    for (; it->Valid(); it->Next()) {
      record.id.assign(View(it->key()));
      if (!DecodeRecord(View(it->value()), &record)) return CorruptRecord(record.id);
      if (!visit(record)) break;
    }
    return FromRocks(it->status(), "scanning entities");
  }

  ScopedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions read;
  read.snapshot = snapshot.get();
  Status failure;
  auto status = MergeTypeIds(snapshot.get(), opts, [&](std::string_view id) {
    rocksdb::PinnableSlice value;
    auto s = db_->Get(read, families_.entities, rocksdb::Slice(id.data(), id.size()), &value);
    if (s.IsNotFound()) {
      failure = Status::Internal(fmt::format("type index names missing entity '{}'", id));
      return false;
    }
    if (!s.ok()) {
      failure = FromRocks(s, fmt::format("reading entity '{}'", id));
      return false;
    }
    record.id.assign(id);
    if (!DecodeRecord(View(value), &record)) {
      failure = CorruptRecord(id);
      return false;
    }
    return visit(record);
  });
  return failure.ok() ? status : failure;
}

Status RocksTenantStore::ScanTerms(const std::vector<TermRange>& ranges, const TermVisitor& visit) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  // One iterator for all ranges (creating one costs more than a seek); its upper bound is the
  // end of the term keys, and each range's end is checked here.
  const std::string tag(1, kTermTag);
  RangeIterator it(db_.get(), families_.index, nullptr, tag, PrefixSuccessor(tag), /*seek=*/false);
  std::string key;
  for (const auto& range : ranges) {
    key = tag + range.begin;
    const std::string end = range.end.empty() ? PrefixSuccessor(tag) : tag + range.end;
    for (it->Seek(key); it->Valid() && View(it->key()) < end; it->Next()) {
      std::string_view term, id;
      if (!SplitTermKey(View(it->key()).substr(1), &term, &id)) {
        return Status::Internal("malformed term key in the index of " + path_);
      }
      if (!visit(term, id, View(it->value()))) return Status::Ok();
    }
    if (!it->status().ok()) return FromRocks(it->status(), "scanning terms");
  }
  return Status::Ok();
}

Status RocksTenantStore::CompactTerms() {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  const std::string begin(1, kTermTag), end = PrefixSuccessor(begin);
  const rocksdb::Slice b(begin), e(end);
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  return FromRocks(db_->CompactRange(options, families_.index, &b, &e), "compacting the term keys");
}

Status RocksTenantStore::ScanOutbox(uint64_t from,
                                    const std::function<bool(uint64_t, std::string_view)>& visit) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  RangeIterator it(db_.get(), families_.outbox, nullptr, OutboxKey(from), "");
  for (; it->Valid(); it->Next()) {
    if (!visit(OutboxSequence(View(it->key())), View(it->value()))) break;
  }
  return FromRocks(it->status(), "scanning the outbox");
}

Status RocksTenantStore::DeleteOutbox(const std::vector<uint64_t>& sequences) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  if (sequences.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  for (uint64_t sequence : sequences) batch.Delete(families_.outbox, OutboxKey(sequence));
  // Not synced: a deletion lost in a crash only means the record is delivered once more.
  rocksdb::WriteOptions unsynced;
  return FromRocks(db_->Write(unsynced, &batch), "removing from the outbox of " + path_);
}

Status RocksTenantStore::ScanHistory(std::string_view id, std::string_view attr, int64_t first, int64_t last,
                                     bool backwards, const HistoryBlockVisitor& visit) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  if (first > last) return Status::Ok();
  std::string lower = HistoryKey(id, attr, first);
  std::string upper = last == std::numeric_limits<int64_t>::max() ? PrefixSuccessor(HistoryPrefix(id, attr))
                                                                  : HistoryKey(id, attr, last + 1);
  rocksdb::ReadOptions read;
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  read.iterate_lower_bound = &lower_slice;
  read.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, families_.history));
  if (backwards) {
    for (it->SeekToLast(); it->Valid(); it->Prev()) {
      if (!visit(HistoryBlockOf(View(it->key())), View(it->value()))) break;
    }
  } else {
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!visit(HistoryBlockOf(View(it->key())), View(it->value()))) break;
    }
  }
  return FromRocks(it->status(), "scanning history");
}

Result<std::vector<std::string>> RocksTenantStore::HistoryAttributes(std::string_view id) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  std::string prefix(1, kHistoryBlockTag);
  prefix.append(id);
  prefix.push_back('\0');
  std::vector<std::string> attrs;
  RangeIterator it(db_.get(), families_.history, nullptr, prefix, PrefixSuccessor(prefix));
  while (it->Valid()) {
    std::string_view rest = View(it->key()).substr(prefix.size());
    std::string_view attr = rest.substr(0, rest.find('\0'));
    attrs.emplace_back(attr);
    // The next attribute: skip every block of this one.
    it->Seek(PrefixSuccessor(HistoryPrefix(id, attr)));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing history attributes");
  return attrs;
}

Status RocksTenantStore::PutHistoryBlock(std::string_view id, std::string_view attr, int64_t block,
                                         std::string_view bytes) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  const std::string key = HistoryKey(id, attr, block);
  auto s = bytes.empty() ? db_->Delete(write_options_, families_.history, key)
                         : db_->Put(write_options_, families_.history, key, rocksdb::Slice(bytes.data(), bytes.size()));
  return FromRocks(s, "rewriting a history block of " + path_);
}

Status RocksTenantStore::DeleteHistory(std::string_view id, std::string_view attr, int64_t before) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  rocksdb::WriteBatch batch;
  if (attr.empty()) {
    std::string prefix(1, kHistoryBlockTag);
    prefix.append(id);
    prefix.push_back('\0');
    if (before == std::numeric_limits<int64_t>::max()) {
      batch.DeleteRange(families_.history, prefix, PrefixSuccessor(prefix));
      batch.Delete(families_.history, HistoryEntityKey(id));
    } else {
      auto attrs = HistoryAttributes(id);
      if (!attrs.ok()) return attrs.status();
      for (const auto& a : *attrs) batch.DeleteRange(families_.history, HistoryKey(id, a, INT64_MIN), HistoryKey(id, a, before));
    }
  } else if (before == std::numeric_limits<int64_t>::max()) {
    const std::string prefix = HistoryPrefix(id, attr);
    batch.DeleteRange(families_.history, prefix, PrefixSuccessor(prefix));
  } else {
    batch.DeleteRange(families_.history, HistoryKey(id, attr, INT64_MIN), HistoryKey(id, attr, before));
  }
  return FromRocks(db_->Write(write_options_, &batch), "deleting history of " + path_);
}

Result<std::string> RocksTenantStore::GetHistoryEntity(std::string_view id) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), families_.history, HistoryEntityKey(id), &value);
  if (s.IsNotFound()) return Status::NotFound(fmt::format("no history of entity '{}'", id));
  if (!s.ok()) return FromRocks(s, "reading a history header");
  return value;
}

Status RocksTenantStore::ScanHistoryEntities(const std::function<bool(std::string_view, std::string_view)>& visit) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  const std::string prefix(1, kHistoryEntityTag);
  RangeIterator it(db_.get(), families_.history, nullptr, prefix, PrefixSuccessor(prefix));
  for (; it->Valid(); it->Next()) {
    if (!visit(View(it->key()).substr(1), View(it->value()))) break;
  }
  return FromRocks(it->status(), "scanning history entities");
}

Result<uint64_t> RocksTenantStore::LastOutboxSequence() {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), families_.outbox));
  it->SeekToLast();
  if (!it->status().ok()) return FromRocks(it->status(), "reading the outbox of " + path_);
  return it->Valid() ? OutboxSequence(View(it->key())) : 0;
}

Status RocksTenantStore::PositiveCounters(
    std::string_view prefix, const std::function<void(std::string_view, uint64_t)>& visit) {
  RangeIterator it(db_.get(), families_.index, nullptr, std::string(prefix), PrefixSuccessor(prefix));
  for (; it->Valid(); it->Next()) {
    int64_t count = DecodeCount(View(it->value()));
    if (count > 0) visit(View(it->key()).substr(prefix.size()), static_cast<uint64_t>(count));
  }
  return it->status().ok() ? Status::Ok() : FromRocks(it->status(), "scanning counters");
}

Result<uint64_t> RocksTenantStore::Counter(const std::string& key) {
  rocksdb::PinnableSlice value;
  auto s = db_->Get(rocksdb::ReadOptions(), families_.index, key, &value);
  if (s.IsNotFound()) return uint64_t{0};
  if (!s.ok()) return FromRocks(s, "reading counter");
  return static_cast<uint64_t>(std::max<int64_t>(0, DecodeCount(View(value))));
}

// The text of a counter key's rest up to its first '\0'.
std::string_view FirstPart(std::string_view rest) { return rest.substr(0, rest.find('\0')); }

Result<std::vector<std::string>> RocksTenantStore::ListTypes() {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  std::vector<std::string> out;
  CITYHUB_RETURN_IF_ERROR(PositiveCounters(std::string(1, kTypeCountTag),
                                           [&](std::string_view rest, uint64_t) { out.emplace_back(FirstPart(rest)); }));
  return out;
}

Result<std::vector<std::string>> RocksTenantStore::AttributesOfType(std::string_view type) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  std::vector<std::string> out;
  CITYHUB_RETURN_IF_ERROR(PositiveCounters(IndexPrefix(kTypeAttrCountTag, type),
                                           [&](std::string_view rest, uint64_t) { out.emplace_back(FirstPart(rest)); }));
  return out;
}

Result<std::vector<std::string>> RocksTenantStore::ListAttributes() {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  std::vector<std::string> out;
  CITYHUB_RETURN_IF_ERROR(PositiveCounters(std::string(1, kAttrCountTag),
                                           [&](std::string_view rest, uint64_t) { out.emplace_back(FirstPart(rest)); }));
  return out;
}

Result<std::vector<std::string>> RocksTenantStore::TypesWithAttribute(std::string_view attr) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  // One key per distinct (type, attribute) pair: small, so a full pass over them is cheap.
  std::vector<std::string> out;
  CITYHUB_RETURN_IF_ERROR(PositiveCounters(std::string(1, kTypeAttrCountTag), [&](std::string_view rest, uint64_t) {
    std::string_view type = FirstPart(rest);
    if (FirstPart(rest.substr(type.size() + 1)) == attr) out.emplace_back(type);
  }));
  return out;
}

Result<uint64_t> RocksTenantStore::CountType(std::string_view type) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  return Counter(IndexPrefix(kTypeCountTag, type));
}

Result<uint64_t> RocksTenantStore::CountAttribute(std::string_view attr) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  return Counter(IndexPrefix(kAttrCountTag, attr));
}

uint64_t RocksTenantStore::ApproximateEntityCount() {
  CallGuard guard(*this);
  if (!guard) return 0;
  uint64_t count = 0;
  db_->GetIntProperty(families_.entities, "rocksdb.estimate-num-keys", &count);
  return count;
}

Result<std::string> RocksTenantStore::GetMeta(std::string_view key) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), families_.meta,
                    std::string(kUserMetaPrefix).append(key), &value);
  if (s.IsNotFound()) return Status::NotFound(fmt::format("metadata '{}' not found", key));
  if (!s.ok()) return FromRocks(s, fmt::format("reading metadata '{}'", key));
  return value;
}

Status RocksTenantStore::PutMeta(std::string_view key, std::string_view value) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  rocksdb::WriteOptions synced;
  synced.sync = true;
  return FromRocks(db_->Put(synced, families_.meta, std::string(kUserMetaPrefix).append(key),
                            rocksdb::Slice(value.data(), value.size())),
                   fmt::format("writing metadata '{}'", key));
}

Status RocksTenantStore::DeleteMeta(std::string_view key) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  rocksdb::WriteOptions synced;
  synced.sync = true;
  return FromRocks(db_->Delete(synced, families_.meta, std::string(kUserMetaPrefix).append(key)),
                   fmt::format("deleting metadata '{}'", key));
}

Status RocksTenantStore::ScanMeta(
    std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  const std::string lower = std::string(kUserMetaPrefix).append(prefix);
  RangeIterator it(db_.get(), families_.meta, nullptr, lower, PrefixSuccessor(lower));
  for (; it->Valid(); it->Next()) {
    if (!visit(View(it->key()).substr(kUserMetaPrefix.size()), View(it->value()))) break;
  }
  return FromRocks(it->status(), "scanning metadata");
}

Status RocksTenantStore::Checkpoint(const std::string& dir) {
  CallGuard guard(*this);
  if (!guard) return Unavailable();
  rocksdb::Checkpoint* raw = nullptr;
  auto s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return FromRocks(s, "starting checkpoint of " + path_);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(dir),
                   fmt::format("checkpointing '{}' to '{}'", path_, dir));
}

// --- Store --------------------------------------------------------------------------------

class RocksStore final : public Store {
 public:
  // Opens the data dir and every tenant database found in it.
  static Result<std::unique_ptr<Store>> Open(const RocksDbOptions& options);
  ~RocksStore() override { Close(); }

  Result<TenantStore*> Tenant(std::string_view name, bool create) override;
  std::vector<std::string> ListTenants() override;
  Status Backup(const std::string& dir) override;
  void Close() override;

 private:
  explicit RocksStore(const RocksDbOptions& options)
      : options_(options), tuning_(MakeTuning(options)) {}

  // Relative location of a tenant's database under a data or backup dir.
  static fs::path TenantDir(std::string_view name) {
    return name.empty() ? fs::path("default") : fs::path("tenants") / std::string(name);
  }
  // Opens `name` and registers it. Requires mu_ held exclusively (or no other thread yet).
  Result<TenantStore*> OpenTenantLocked(std::string_view name);

  const RocksDbOptions options_;
  const Tuning tuning_;
  std::shared_mutex mu_;
  bool closed_ = false;                                                        // guarded by mu_
  std::map<std::string, std::unique_ptr<RocksTenantStore>, std::less<>> tenants_;  // by mu_
};

Result<std::unique_ptr<Store>> RocksStore::Open(const RocksDbOptions& options) {
  const fs::path tenants_dir = fs::path(options.data_dir) / "tenants";
  std::error_code ec;
  fs::create_directories(tenants_dir, ec);
  if (ec) {
    return Status::Internal(
        fmt::format("cannot create data dir '{}': {}", tenants_dir.string(), ec.message()));
  }
  std::unique_ptr<RocksStore> store(new RocksStore(options));
  auto opened = store->OpenTenantLocked("");
  if (!opened.ok()) return opened.status();
  for (fs::directory_iterator it(tenants_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (!it->is_directory(type_ec) || !ValidTenantName(name)) continue;
    opened = store->OpenTenantLocked(name);
    if (!opened.ok()) return opened.status();
  }
  if (ec) {
    return Status::Internal(
        fmt::format("cannot list tenants in '{}': {}", tenants_dir.string(), ec.message()));
  }
  return std::unique_ptr<Store>(std::move(store));
}

Result<TenantStore*> RocksStore::OpenTenantLocked(std::string_view name) {
  const std::string path = (fs::path(options_.data_dir) / TenantDir(name)).string();
  auto opened = RocksTenantStore::Open(path, tuning_, options_.sync_writes);
  if (!opened.ok()) return opened.status();
  auto& slot = tenants_[std::string(name)];
  slot = std::move(opened).value();
  return slot.get();
}

Result<TenantStore*> RocksStore::Tenant(std::string_view name, bool create) {
  if (!name.empty() && !ValidTenantName(name)) {
    return Status::InvalidRequest(fmt::format("invalid tenant name '{}'", name));
  }
  {
    std::shared_lock lock(mu_);
    if (closed_) return Unavailable();
    if (auto it = tenants_.find(name); it != tenants_.end()) return it->second.get();
    if (!create) return Status::NotFound(fmt::format("tenant '{}' not found", name));
  }
  std::unique_lock lock(mu_);
  if (closed_) return Unavailable();
  if (auto it = tenants_.find(name); it != tenants_.end()) return it->second.get();
  // Each tenant is a database with its own files and memtables: cap how many a client can make.
  if (!name.empty() && tenants_.size() - tenants_.count("") >= options_.max_tenants) {
    return Status::BadRequestData(fmt::format(
        "tenant '{}' cannot be created: the hub already holds its maximum of {} tenants (--max-tenants)",
        name, options_.max_tenants));
  }
  return OpenTenantLocked(name);
}

std::vector<std::string> RocksStore::ListTenants() {
  std::shared_lock lock(mu_);
  std::vector<std::string> names;
  if (closed_) return names;
  for (const auto& entry : tenants_) names.push_back(entry.first);
  return names;
}

Status RocksStore::Backup(const std::string& dir) {
  std::vector<std::pair<std::string, RocksTenantStore*>> tenants;
  {
    std::shared_lock lock(mu_);
    if (closed_) return Unavailable();
    for (const auto& [name, tenant] : tenants_) tenants.emplace_back(name, tenant.get());
  }
  const fs::path root(dir);
  std::error_code ec;
  if (root.has_parent_path()) fs::create_directories(root.parent_path(), ec);
  if (ec || !fs::create_directory(root, ec)) {
    if (ec) {
      return Status::Internal(
          fmt::format("cannot create backup dir '{}': {}", dir, ec.message()));
    }
    return Status::AlreadyExists(fmt::format("backup dir '{}' already exists", dir));
  }
  fs::create_directory(root / "tenants", ec);
  Status status = ec ? Status::Internal(fmt::format("cannot create '{}/tenants': {}", dir,
                                                    ec.message()))
                     : Status::Ok();
  for (const auto& [name, tenant] : tenants) {
    if (!status.ok()) break;
    status = tenant->Checkpoint((root / TenantDir(name)).string());
  }
  if (!status.ok()) fs::remove_all(root, ec);
  return status;
}

void RocksStore::Close() {
  std::vector<RocksTenantStore*> tenants;
  {
    // Tenants close outside the lock: a scan still running may call Tenant() and must get
    // kUnavailable rather than wait on a lock held by the Close() that waits for that scan.
    std::unique_lock lock(mu_);
    closed_ = true;
    for (const auto& entry : tenants_) tenants.push_back(entry.second.get());
  }
  for (auto* tenant : tenants) tenant->Close();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options) {
  return RocksStore::Open(options);
}

}  // namespace cityhub::store
