#include "store/rocksdb/tenant_store.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <limits>

#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "store/record_codec.h"
#include "store/rocksdb/index_delta.h"
#include "store/rocksdb/keys.h"
#include "util/thread_name.h"

namespace cityhub::store::rocks {

namespace fs = std::filesystem;

namespace {

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

Status CorruptRecord(std::string_view id) {
  return Status::Internal(fmt::format("corrupt entity record for id '{}'", id));
}


}  // namespace

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
  CITYHUB_RETURN_IF_ERROR(BringSchemaUpToDate(store->db_.get(), store->families_, path));
  return store;
}

RocksTenantStore::RocksTenantStore(std::string path) : path_(std::move(path)) {}

RocksTenantStore::~RocksTenantStore() { Close(); }

void RocksTenantStore::Close() {
  if (closed_.exchange(true)) return;
  for (int n = calls_in_flight_.load(); n != 0; n = calls_in_flight_.load()) {
    calls_in_flight_.wait(n);
  }
  {
    std::lock_guard lock(commit_mutex_);  // the queue is empty: its items were calls in flight
    committer_stopping_ = true;
  }
  commit_wake_.notify_one();
  if (committer_.joinable()) committer_.join();
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
  rocksdb::WriteBatch batch;
  auto any = AppendChanges(ws, ids, previous, batch);
  if (!any.ok()) return any.status();
  if (!*any) return Status::Ok();
  return FromRocks(db_->Write(write_options_, &batch), "writing batch to " + path_);
}

Result<bool> RocksTenantStore::AppendChanges(const WriteSet& ws, const std::vector<std::string_view>& ids,
                                             const CurrentRecords& previous, rocksdb::WriteBatch& batch) {
  // The final state of each id: the last put wins, and deletes apply after puts.
  if (ws.empty()) return false;
  std::map<std::string_view, const EntityRecord*> next;
  for (const auto& record : ws.puts) next[record.id] = &record;
  for (const auto& id : ws.deletes) next[id] = nullptr;
  std::map<std::string_view, const Result<EntityRecord>*> before;
  for (size_t i = 0; i < ids.size(); ++i) before.emplace(ids[i], &previous[i]);

  // Checked before anything is appended, so that a refused item leaves a shared batch intact.
  for (const auto& [id, record] : next) {
    auto it = before.find(id);
    if (it == before.end()) {
      return Status::Internal(fmt::format("entity '{}' is written by an update that did not read it", id));
    }
    if (!it->second->ok() && !it->second->status().IsNotFound()) return it->second->status();
  }
  IndexDelta delta;
  for (const auto& [id, record] : next) {
    const Result<EntityRecord>& old = *before.find(id)->second;
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
  return true;
}

struct RocksTenantStore::DeferredCommit {
  DeferredCommit(RocksTenantStore& store, const std::vector<std::string_view>& read, CurrentRecords current, WriteSet ws,
                 CommitDone done)
      : guard(store), id_texts(read.begin(), read.end()), current(std::move(current)), ws(std::move(ws)),
        done(std::move(done)) {
    ids.assign(id_texts.begin(), id_texts.end());
  }
  CallGuard guard;  // Close() waits for the item
  std::vector<std::string> id_texts;
  std::vector<std::string_view> ids;  // into id_texts
  CurrentRecords current;
  WriteSet ws;
  CommitDone done;
};

void RocksTenantStore::UpdateDeferred(const std::vector<std::string_view>& ids, const UpdateFn& fn, CommitDone done) {
  CallGuard guard(*this);
  if (!guard) return done(Unavailable());
  CurrentRecords current = ReadRecords(ids);
  Result<WriteSet> ws = fn(current);
  if (!ws.ok()) return done(ws.status());
  if (Status valid = ValidateWriteSet(*ws); !valid.ok()) return done(valid);
  // Nothing to write: what was read is durable already (the caller's locks kept it so).
  if (ws->empty()) return done(Status::Ok());
  auto item = std::make_unique<DeferredCommit>(*this, ids, std::move(current), std::move(*ws), std::move(done));
  {
    std::lock_guard lock(commit_mutex_);
    if (!committer_.joinable()) committer_ = std::thread([this] { CommitQueued(); });
    commit_queue_.push_back(std::move(item));
  }
  commit_wake_.notify_one();
}

void RocksTenantStore::CommitQueued() {
  util::NameThisThread("rocksdb-commit");
  std::unique_lock lock(commit_mutex_);
  for (;;) {
    commit_wake_.wait(lock, [this] { return committer_stopping_ || !commit_queue_.empty(); });
    if (commit_queue_.empty()) return;  // stopping, and nothing is left
    std::vector<std::unique_ptr<DeferredCommit>> group;
    group.swap(commit_queue_);
    lock.unlock();
    rocksdb::WriteBatch batch;
    std::vector<Status> outcome(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      auto appended = AppendChanges(group[i]->ws, group[i]->ids, group[i]->current, batch);
      if (!appended.ok()) outcome[i] = appended.status();
    }
    Status written = batch.Count() == 0
                         ? Status::Ok()
                         : FromRocks(db_->Write(write_options_, &batch), "writing batch to " + path_);
    for (size_t i = 0; i < group.size(); ++i) {
      try {
        group[i]->done(outcome[i].ok() ? written : outcome[i]);
      } catch (const std::exception& e) {
        // `done` is the caller's; a failure there must not stop the commits of everyone else.
        spdlog::error("store {}: a deferred update's completion failed: {}", path_, e.what());
      } catch (...) {
        spdlog::error("store {}: a deferred update's completion failed", path_);
      }
      group[i].reset();  // leaves the calls in flight
    }
    lock.lock();
  }
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
static std::string_view FirstPart(std::string_view rest) { return rest.substr(0, rest.find('\0')); }

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

}  // namespace cityhub::store::rocks
