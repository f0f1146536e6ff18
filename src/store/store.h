// Store: the backend-neutral persistence interface (DESIGN §2). A Store owns one isolated
// TenantStore per tenant; a TenantStore persists entity documents and the indexes that narrow
// queries (by type, by attribute), plus small metadata records. No NGSI-LD rules live here:
// a document is an opaque string, types and attribute names are plain strings (expanded IRIs).
//
// Durability: Write() and Update() return ok only after the change is synced to the write-ahead
// log; concurrent writes share syncs (group commit). A write is atomic: all its entity
// puts/deletes and their index changes become visible together or not at all.
// Transactions: a read-modify-write of entities is one Update(), which reads the records once
// and writes what the caller's function made of them, with no other write to those ids in
// between — see Update() for who guarantees that in each backend.
// Thread-safety: every method of Store and TenantStore is safe to call concurrently.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace cityhub::store {

// A key under which an entity is found by ScanTerms: the value and spatial indexes. The broker
// derives an entity's terms (what is indexed and how values are encoded is its business); the
// store keeps them with the record and keeps the index equal to them. A term's `payload` is
// returned with the id by scans, so a caller can often decide without reading the document.
// Keys are at most kMaxTermBytes; payloads at most kMaxTermPayloadBytes.
struct IndexTerm {
  std::string key;
  std::string payload;
  friend bool operator==(const IndexTerm&, const IndexTerm&) = default;
};
inline constexpr size_t kMaxTermBytes = 1024;
inline constexpr size_t kMaxTermPayloadBytes = 256;

// What the store keeps of one entity: the id, what it indexes, and the opaque document.
struct EntityRecord {
  std::string id;
  std::vector<std::string> types;        // expanded type IRIs
  std::vector<std::string> attributes;   // expanded attribute IRIs present on the entity
  std::vector<IndexTerm> terms;          // distinct keys (duplicates are an error)
  std::string document;                  // the serialized entity (owned by the broker)
};

// One atomic change. Entities are keyed by id; a put replaces the whole record. If an id
// occurs more than once, its last put wins and deletes apply after puts. Type and attribute
// names must be non-empty and contain no NUL; ids must be non-empty (else BadRequestData).
// A notification owed (DESIGN §1): kept in the tenant's outbox from the write that owes it until
// the notifier has delivered it (or given up). `sequence` orders the outbox; the value's meaning
// is the broker's. A store that numbers the outbox (TenantStore::NumbersOutbox) gives a record
// written with sequence 0 the next number of the tenant's own counter, taken inside the write's
// transaction after its entities are locked — so one entity's records are numbered in the order
// of its changes, whichever hub makes them — and stores that number at `*assigned` (when set)
// before the write returns ok. A record written with a sequence keeps it.
// `partition` files the record for delivery (see OutboxOwner): below the store's
// OutboxPartitions(); a store with one partition ignores it.
struct OutboxRecord {
  uint64_t sequence = 0;
  std::string value;
  uint64_t* assigned = nullptr;
  uint32_t partition = 0;
};

// History (the temporal API): attribute instances are kept in blocks per (entity, attribute,
// block number); the broker decides what a block number means (a span of time) and encodes
// the instances. Appending adds bytes to the end of a block without reading it, so a write
// that records history costs no read; a block's bytes are the concatenation of every append in
// commit order.
struct HistoryAppend {
  std::string entity_id;
  std::string attr;    // expanded IRI; non-empty, no NUL
  int64_t block = 0;
  std::string bytes;
};
// The broker's description of an entity with history (its types, …), for finding entities by
// their history even once the entity itself is gone. Opaque to the store.
struct HistoryEntity {
  std::string entity_id;
  std::string header;
};

struct WriteSet {
  std::vector<EntityRecord> puts;
  std::vector<std::string> deletes;  // ids; deleting an absent id is not an error
  std::vector<OutboxRecord> outbox;  // written in the same atomic, durable write
  std::vector<HistoryAppend> history;           // likewise
  std::vector<HistoryEntity> history_entities;  // puts (replacing the header)
  // Metadata (the keys of PutMeta/DeleteMeta) changed in the same atomic, durable write: for
  // records kept as metadata whose changes owe notifications (context source registrations).
  std::vector<std::pair<std::string, std::string>> meta_puts;
  std::vector<std::string> meta_deletes;  // applied after meta_puts

  // True when applying this writes nothing.
  bool empty() const {
    return puts.empty() && deletes.empty() && outbox.empty() && history.empty() && history_entities.empty() &&
           meta_puts.empty() && meta_deletes.empty();
  }
};

// What an Update's function is handed: element i is the record of ids[i] — NotFound if there
// is none, Internal if it could not be read.
using CurrentRecords = std::vector<Result<EntityRecord>>;
// Makes what an Update writes from the current records, or returns why not (then nothing is
// written and Update returns that error).
using UpdateFn = std::function<Result<WriteSet>(const CurrentRecords& current)>;
// Told how a deferred Update ended (TenantStore::UpdateDeferred): Ok once durable, else why not.
using CommitDone = std::function<void(Status)>;

using HistoryBlockVisitor = std::function<bool(int64_t block, std::string_view bytes)>;

// Which entities a scan visits, always in ascending id order.
struct ScanOptions {
  // Visit only entities having at least one of these types (empty = all entities).
  std::vector<std::string> types;
  // Visit only ids strictly greater than this (for resuming). Empty = from the start.
  std::string after_id;
  // Visit only ids starting with this prefix (empty = any).
  std::string id_prefix;
};

// Visitor for scans: return false to stop early.
using EntityVisitor = std::function<bool(const EntityRecord&)>;
using IdVisitor = std::function<bool(std::string_view id)>;
using TermVisitor = std::function<bool(std::string_view term, std::string_view id, std::string_view payload)>;

// The term keys k with begin <= k < end (an empty `end` = no upper bound). For one term the
// ids come in ascending order; across terms, in term order.
struct TermRange {
  std::string begin;
  std::string end;
};

class TenantStore {
 public:
  virtual ~TenantStore() = default;

  // Reads the record of `id`. Returns NotFound if there is none, Internal on I/O error.
  virtual Result<EntityRecord> Get(std::string_view id) = 0;
  // Reads the records of `ids` in one batched lookup (cheaper than a Get each): element i is
  // the record of ids[i], NotFound if there is none, Internal on I/O error.
  virtual std::vector<Result<EntityRecord>> GetMany(const std::vector<std::string_view>& ids) = 0;
  // Applies `ws` atomically and durably; maintains the type and attribute indexes (reading the
  // records `ws` replaces for that). For writes that do not depend on the entities' current
  // state — index rebuilds, history, outbox, metadata; a read-modify-write of entities is an
  // Update().
  virtual Status Write(const WriteSet& ws) = 0;
  // A read-modify-write of the entities `ids` as one transaction: reads their records once
  // (GetMany's answer), hands them to `fn` and applies the WriteSet it returns as Write() does,
  // computing the index and counter changes from the records already read. Returns Ok (an empty
  // WriteSet writes nothing); else, with nothing written, `fn`'s error, Internal if the
  // WriteSet puts or deletes an entity not in `ids` (a bug: the transaction did not read it),
  // or the read's error for one whose read failed; else as Write(). Ids may repeat.
  //
  // Isolation: the records `fn` sees are the ones the write replaces — no other writer of these
  // ids commits in between. The RocksDB backend takes no lock for this: its caller must hold,
  // across the call, a lock per id that every writer of the id takes (the broker's entity
  // locks). PostgreSQL reads the rows FOR UPDATE in the transaction that writes them, which also
  // holds between hubs (and fails the whole Update, without calling `fn`, if the read fails).
  // `fn` may run more than once — PostgreSQL runs the transaction again after a serialization
  // failure or deadlock; RocksDB calls it exactly once — and only the WriteSet of its last run
  // is written, so it must change nothing but what it returns: leave the caller's inputs intact
  // (copy, don't move from them) and reset any state a previous run left. It runs inside the
  // transaction: keep it short, and it must not call Store::Close().
  virtual Status Update(const std::vector<std::string_view>& ids, const UpdateFn& fn) = 0;
  // Update() without waiting for the disk on the calling thread: reads, runs `fn` and validates
  // its WriteSet before returning, then `done` is told the outcome exactly once — when the write
  // is durable, or at once with the error if it failed before (then it is called before this
  // returns). A store that commits in groups (RocksDB) queues the write for its commit thread,
  // which writes every queued update in one synced batch and calls their `done` there, in queue
  // order; the default runs Update() and calls `done` before returning. `done` must not block,
  // and nothing it does may wait for this store's commit thread. The isolation contract is
  // Update()'s, held until `done` is called: the caller keeps its entity locks until then.
  virtual void UpdateDeferred(const std::vector<std::string_view>& ids, const UpdateFn& fn, CommitDone done) {
    done(Update(ids, fn));
  }
  // Visits matching ids without reading documents (cheap: index keys only).
  virtual Status ScanIds(const ScanOptions& opts, const IdVisitor& visit) = 0;
  // Visits matching records (documents included).
  virtual Status Scan(const ScanOptions& opts, const EntityVisitor& visit) = 0;
  // Visits the (term, id, payload) entries of the terms in each of `ranges` in turn, within a
  // range in (term, id) order. One call is one cursor: cheaper than a call per range.
  virtual Status ScanTerms(const std::vector<TermRange>& ranges, const TermVisitor& visit) = 0;
  // Rewrites the term keys so that those deleted no longer cost a scan anything; for after a
  // rebuild that replaced most of them (a scan steps over every deleted key in its way until
  // a compaction drops it). Takes tens of seconds per million entities.
  virtual Status CompactTerms() = 0;

  // The outbox: records with sequence >= `from`, ascending (visit returns false to stop);
  // removing records (absent ones are not an error; removals are not synced at once, so one
  // lost in a crash brings its record back to be delivered again); and the highest sequence
  // present (0 when empty), from which a restarted hub goes on numbering.
  virtual Status ScanOutbox(uint64_t from,
                            const std::function<bool(uint64_t sequence, std::string_view value)>& visit) = 0;
  virtual Status DeleteOutbox(const std::vector<uint64_t>& sequences) = 0;
  virtual Result<uint64_t> LastOutboxSequence() = 0;
  // True if the store numbers outbox records written with sequence 0 (see OutboxRecord): a store
  // several hubs share does, since no hub alone knows the next number. False: the caller numbers
  // them (from LastOutboxSequence at start).
  virtual bool NumbersOutbox() const { return false; }
  // How many delivery partitions the outbox has (Store::OutboxPartitions).
  virtual uint32_t OutboxPartitions() const { return 1; }
  // The records of `partition`, ascending by sequence (visit returns false to stop). A store
  // with one partition visits every record for partition 0.
  virtual Status ScanOutboxPartition(uint32_t partition,
                                     const std::function<bool(uint64_t sequence, std::string_view value)>& visit) {
    return partition == 0 ? ScanOutbox(0, visit) : Status::Ok();
  }
  // The records among `sequences` still present, ascending (visit returns false to stop).
  virtual Status ReadOutbox(std::vector<uint64_t> sequences,
                            const std::function<bool(uint64_t sequence, std::string_view value)>& visit) {
    std::sort(sequences.begin(), sequences.end());
    return ScanOutbox(0, [&](uint64_t sequence, std::string_view value) {
      return !std::binary_search(sequences.begin(), sequences.end(), sequence) || visit(sequence, value);
    });
  }

  // History (see HistoryAppend). ScanHistory visits the blocks of (id, attr) numbered
  // first..last (inclusive), ascending or, with `backwards`, descending; visit returns false to
  // stop. HistoryAttributes lists the attributes of `id` that have blocks, ascending.
  virtual Status ScanHistory(std::string_view id, std::string_view attr, int64_t first, int64_t last,
                             bool backwards, const HistoryBlockVisitor& visit) = 0;
  virtual Result<std::vector<std::string>> HistoryAttributes(std::string_view id) = 0;
  // Replaces a block's bytes (for editing or removing single instances); empty bytes delete
  // the block. Durable like Write(). The caller serialises this with appends to the entity.
  virtual Status PutHistoryBlock(std::string_view id, std::string_view attr, int64_t block,
                                 std::string_view bytes) = 0;
  // Removes the blocks of `id` numbered below `before` (INT64_MAX: all of them): of `attr`
  // only, or of every attribute when `attr` is empty — and, for every attribute and all
  // blocks, the entity's header too. Durable. Cheap whatever the number of blocks (a range
  // deletion).
  virtual Status DeleteHistory(std::string_view id, std::string_view attr, int64_t before) = 0;
  // The header of an entity with history; NotFound if there is none.
  virtual Result<std::string> GetHistoryEntity(std::string_view id) = 0;
  // Visits the entities with a history header, ascending by id (visit returns false to stop).
  virtual Status ScanHistoryEntities(
      const std::function<bool(std::string_view id, std::string_view header)>& visit) = 0;

  // Distinct entity types present, ascending.
  virtual Result<std::vector<std::string>> ListTypes() = 0;
  // Distinct attribute names present on entities of `type`, ascending.
  virtual Result<std::vector<std::string>> AttributesOfType(std::string_view type) = 0;
  // Distinct attribute names present on any entity, ascending.
  virtual Result<std::vector<std::string>> ListAttributes() = 0;
  // Distinct types of the entities that have attribute `attr`, ascending.
  virtual Result<std::vector<std::string>> TypesWithAttribute(std::string_view attr) = 0;
  // Number of entities of `type` / having `attr`.
  virtual Result<uint64_t> CountType(std::string_view type) = 0;
  virtual Result<uint64_t> CountAttribute(std::string_view attr) = 0;
  // Approximate total number of entities (for metrics), cheap.
  virtual uint64_t ApproximateEntityCount() = 0;

  // Small durable key/value metadata (e.g. registered @contexts). NotFound if absent.
  virtual Result<std::string> GetMeta(std::string_view key) = 0;
  virtual Status PutMeta(std::string_view key, std::string_view value) = 0;
  virtual Status DeleteMeta(std::string_view key) = 0;
  // Visits metadata whose key starts with `prefix`, ascending.
  virtual Status ScanMeta(std::string_view prefix,
                          const std::function<bool(std::string_view key, std::string_view value)>& visit) = 0;
};

// Metadata that every hub also holds in memory (subscriptions, registrations) when several hubs
// share one database: an observer of a key prefix hears of each change of a key under it, made
// by any hub (its own hub's too, which it may find already applied), with the key's value now
// (nullopt: deleted) — in the order of the changes, and before any later Update's function runs:
// a write that begins after such a change has committed is decided on what the observer made of
// it. Called on the store's own thread, or on a writer's inside its Update; one call at a time.
class SharedMetaObserver {
 public:
  virtual ~SharedMetaObserver() = default;
  virtual void SharedMetaChanged(std::string_view tenant, std::string_view key,
                                 const std::optional<std::string>& value) = 0;
};

// Who delivers the outbox (DESIGN §1) when several hubs share one store: its records are filed
// under partitions (OutboxRecord::partition), and a hub delivers a partition's records only while
// the store says it owns that partition — never two hubs at once. The store calls the owner on
// threads of its own, perhaps two at once: the owner is thread-safe and answers quickly (it
// queues the work).
class OutboxOwner {
 public:
  virtual ~OutboxOwner() = default;
  // This hub owns `partition` from now on: it reads that partition's records, of every tenant,
  // from the first, and delivers them and every one written later.
  virtual void PartitionGained(uint32_t partition) = 0;
  // This hub owns `partition` no more (its hold was lost, or it gives the partition up for
  // another hub's share): it stops sending the partition's records now; another hub may be
  // reading them already.
  virtual void PartitionLost(uint32_t partition) = 0;
  // Records of `partition` in `tenant` were committed, by this hub or another: those numbered
  // `sequences`, or, when it is empty, some not named (read the partition again). Only for an
  // owned partition. A store with several partitions tells of every record, this hub's own
  // included, in the order of their commits — one entity's records in the order of its changes,
  // whichever hubs made them — so the owner queues records in that order; a store with one
  // partition tells of none.
  virtual void OutboxWritten(std::string_view tenant, uint32_t partition, std::vector<uint64_t> sequences) = 0;
  // How many of the partition's records are being sent right now (a partition given up is free
  // for another hub only once this is 0, so that no record of it is sent by two hubs at once
  // and the order of each subscription's notifications holds across the change).
  virtual size_t Sending(uint32_t partition) const = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // The outbox's delivery partitions (OutboxRecord::partition is below this); 1 for a store only
  // one hub opens.
  virtual uint32_t OutboxPartitions() const { return 1; }
  // Starts handing the outbox's partitions to `owner` (OutboxOwner): a store shared by several
  // hubs gives each hub its fair share of the partitions that no live hub owns, takes them from
  // a hub that dies, and tells the owner of each record written. The default — one hub owns
  // everything — calls owner->PartitionGained(0) before it returns. Until StopDeliveringOutbox.
  virtual Status DeliverOutbox(OutboxOwner* owner) {
    owner->PartitionGained(0);
    return Status::Ok();
  }
  // Stops calling the owner and gives every partition up; once it returns no call to it is
  // running or will be.
  virtual void StopDeliveringOutbox() {}
  // Hands the shared metadata changes of `tenant` this hub has not heard of yet to their
  // observers (SharedMetaObserver) now, instead of when the store's own thread hears of them:
  // for a record naming a subscription made on another hub a moment ago. Ok with nothing to do.
  virtual Status CatchUpSharedMeta(std::string_view tenant) {
    (void)tenant;
    return Status::Ok();
  }

  // Tells `observer` of the changes to the metadata under `prefix` (see SharedMetaObserver); call
  // before reading that metadata at start-up and before serving. Every hub on one database must
  // watch the same prefixes: a write announces a change only where its own hub watches the key.
  // Such metadata is written with PutMeta, DeleteMeta or Write — never by an Update (Internal).
  // The default (an embedded store, which one hub owns and so sees every change of) does nothing.
  virtual Status WatchSharedMeta(std::string prefix, SharedMetaObserver* observer) {
    (void)prefix, (void)observer;
    return Status::Ok();
  }
  // Stops telling `observer` of changes; once it returns, no call to it is running or will be.
  // An observer that goes before the store calls it first (the store's listener outlives it).
  virtual void UnwatchSharedMeta(SharedMetaObserver* observer) { (void)observer; }

  // Returns the tenant's store. With `create`, makes it if missing; without, returns NotFound
  // for an unknown tenant. Tenant names are validated by the caller (see ValidTenantName).
  // The empty name is the default tenant. The pointer lives as long as the Store.
  virtual Result<TenantStore*> Tenant(std::string_view name, bool create) = 0;
  // Names of the existing tenants (the default tenant as "").
  virtual std::vector<std::string> ListTenants() = 0;
  // Writes an online, consistent copy of every tenant under `dir` (which must not exist).
  virtual Status Backup(const std::string& dir) = 0;
  // Ok if the store takes writes now; else Unavailable saying why (a database out of reach or
  // read-only). Readiness asks it (a load balancer takes the hub out meanwhile); cheap to ask
  // every second. An embedded store is always writable while open.
  virtual Status CheckWritable() { return Status::Ok(); }
  // True when reading a tenant's record is served from this process's memory or a local disk —
  // no network round trip, no wait on another process — so that a server may run such a read
  // on a thread that must never block (http::ServerOptions::runs_inline). False by default.
  virtual bool ReadsLocally() const { return false; }
  // Flushes and closes everything; further calls fail. Idempotent.
  virtual void Close() = 0;
};

// True if `name` is usable as a tenant name: 1..64 characters of [A-Za-z0-9_-], not starting
// with '-' — so it can never name a path outside the data dir.
bool ValidTenantName(std::string_view name);

// The limits every backend holds a WriteSet to: ids non-empty and at most kMaxIdBytes (the
// RocksDB term key stores an id's length in 2 bytes); type and attribute names non-empty
// without NUL (BadRequestData); index terms within kMaxTermBytes / kMaxTermPayloadBytes and
// distinct per entity (Internal: the broker derives them).
inline constexpr size_t kMaxIdBytes = 0xffff;
Status ValidateWriteSet(const WriteSet& ws);

}  // namespace cityhub::store
