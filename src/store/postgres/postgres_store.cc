/* The PostgreSQL Store.
 *
 * Layout. Schema `cityhub` holds the tenant directory (tenant name → its schema; the default
 * tenant is "tenant_default", the others "tenant_<n>": a tenant name may be 64 bytes, more than
 * an identifier holds). Each tenant schema holds:
 *   entities(id, record)          the record as store::EncodeRecord writes it (types,
 *                                 attributes, terms, document): one row read per Get
 *   entity_types(type, id)        for scans by type
 *   terms(term, id, payload)      the value and spatial index (ScanTerms)
 *   counts(kind, a, b, n)         entities per type ('T', a), per attribute ('A', a), per
 *                                 type and attribute ('P', a, b): discovery without scanning.
 *                                 A write changes a count only when it changes an entity's types
 *                                 or attribute names — updating values, the common write, takes
 *                                 no counter row lock, so writers of one type do not queue there.
 *   outbox(seq, value)            notifications owed (DESIGN §1), written in the entity's
 *                                 transaction and numbered there by the sequence outbox_seq
 *                                 (every hub writing the outbox takes its numbers from it)
 *   history(entity_id, attr, block, part, bytes)
 *                                 appends are rows (no read); a block is its parts in order
 *   history_entities(entity_id, header), meta(key, value), schema_version(version)
 * Ids, names and keys are bytea: they compare by bytes (memcmp, then length), as RocksDB's keys
 * do, so both backends answer scans in the same order, and an id need not be valid UTF-8.
 *
 * Every statement sends its values as parameters (pg_connection.h) and reads its answer in
 * binary: bytea and text columns come back as their bytes, bigints as 8 big-endian bytes.
 * Scans page by key (keyset pagination), so no transaction stays open while a visitor runs.
 */
#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "store/postgres/history_folding.h"
#include "store/postgres/hub_slot.h"
#include "store/postgres/outbox_claims.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_listener.h"
#include "store/postgres/shared_meta_feed.h"
#include "store/postgres/sql_arrays.h"
#include "store/record_codec.h"
#include "util/periodic_task.h"

namespace cityhub::store {
namespace {

using pg::Connection;
using pg::Format;
using pg::InSchema;
using pg::Param;
using pg::Rows;
using pg::ByteaArray;
using pg::Column;

// Rows fetched per round trip by a scan.
constexpr size_t kScanPage = 512;
// pg_advisory_xact_lock key of schema changes ("cityhub" in ASCII): hubs starting at once
// create and migrate one after the other.
constexpr int64_t kSchemaLockKey = 0x63697479687562;
constexpr std::string_view kDefaultTenantSchema = "tenant_default";
// Shared metadata (store.h): the channel every hub LISTENs on (payload: the tenant's name), and
// the first key of the per-tenant advisory lock that orders its changes before writes — an
// announcing write takes it exclusively, an Update shared, at BEGIN (no round trip of its own).
constexpr std::string_view kSharedMetaChannel = "cityhub_shared_meta";
constexpr int32_t kSharedMetaLockClass = 0x63687562;  // "chub"

// The second key of that lock: the schema's name hashed (FNV-1a), the same in every hub.
int32_t SharedMetaLockKey(std::string_view schema) {
  uint32_t h = 2166136261u;
  for (char c : schema) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return static_cast<int32_t>(h);
}

// Each migration: the statements that take a tenant schema from the previous version to this
// one ({s}: the quoted schema name). Append only; never edit a released one.
const std::vector<std::vector<std::string_view>>& TenantMigrations() {
  static const std::vector<std::vector<std::string_view>> migrations = {
      // 1: the first layout.
      {
          R"(CREATE TABLE {s}.schema_version (version int NOT NULL))",
          R"(INSERT INTO {s}.schema_version VALUES (0))",
          R"(CREATE TABLE {s}.entities (id bytea PRIMARY KEY, record bytea NOT NULL))",
          R"(CREATE TABLE {s}.entity_types (type bytea, id bytea, PRIMARY KEY (type, id)))",
          R"(CREATE INDEX ON {s}.entity_types (id))",
          R"(CREATE TABLE {s}.terms (term bytea, id bytea, payload bytea NOT NULL, PRIMARY KEY (term, id)))",
          R"(CREATE INDEX ON {s}.terms (id))",
          R"(CREATE TABLE {s}.counts (kind "char", a bytea, b bytea, n bigint NOT NULL,
                                      PRIMARY KEY (kind, a, b)))",
          R"(CREATE INDEX ON {s}.counts (kind, b, a))",
          R"(CREATE TABLE {s}.outbox (seq bigint PRIMARY KEY, value bytea NOT NULL))",
          R"(CREATE TABLE {s}.history (entity_id bytea, attr bytea, block bigint,
                                       part bigint GENERATED ALWAYS AS IDENTITY, bytes bytea NOT NULL,
                                       PRIMARY KEY (entity_id, attr, block, part)))",
          R"(CREATE TABLE {s}.history_entities (entity_id bytea PRIMARY KEY, header bytea NOT NULL))",
          R"(CREATE TABLE {s}.meta (key bytea PRIMARY KEY, value bytea NOT NULL))",
      },
      // 2: history blocks folded into one compressed row each by a background job
      //    (history_folding.h): whether a row is compressed, how far folding got, and a BRIN
      //    index to find the parts written since (cheap to keep: part numbers grow with the table).
      {
          R"(ALTER TABLE {s}.history ADD COLUMN zstd boolean NOT NULL DEFAULT false)",
          R"(CREATE TABLE {s}.history_fold (horizon bigint NOT NULL))",
          R"(INSERT INTO {s}.history_fold VALUES (0))",
          R"(CREATE INDEX ON {s}.history USING brin (part))",
      },
      // 3: shared metadata (store.h, SharedMetaObserver): the version of each announced key's
      // last change, numbered per tenant in commit order.
      {
          R"(CREATE TABLE {s}.shared_meta_versions (key bytea PRIMARY KEY, version bigint NOT NULL))",
          R"(CREATE INDEX ON {s}.shared_meta_versions (version))",
      },
      // 4: folds compress with LZ4-HC (history_folding.h); the column says whether a row is
      //    compressed, the row's first byte which codec (zstd rows from versions 2–3 stay readable).
      {
          R"(ALTER TABLE {s}.history RENAME COLUMN zstd TO compressed)",
      },
      // 5: outbox records numbered by the database, since several hubs write one outbox: a
      //    sequence, going on after the highest number a hub numbering them itself left.
      {
          R"(CREATE SEQUENCE {s}.outbox_seq)",
          R"(SELECT setval('{s}.outbox_seq', (SELECT coalesce(max(seq), 0) + 1 FROM {s}.outbox), false))",
      },
      // 6: records filed under delivery partitions (outbox_claims.h); those an older hub left are
      //    all in partition 0, whose owner delivers them whatever subscriptions they name.
      {
          R"(ALTER TABLE {s}.outbox ADD COLUMN part int NOT NULL DEFAULT 0)",
          R"(CREATE INDEX ON {s}.outbox (part, seq))",
      },
  };
  return migrations;
}

std::string QuotedIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// --- the connection pool --------------------------------------------------------------------

class Pool {
 public:
  explicit Pool(PostgresStoreOptions options) : options_(std::move(options)) {}

  const PostgresStoreOptions& options() const { return options_; }

  // A connection for one caller; back to the pool when the lease ends (dropped if broken).
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) noexcept = default;
    ~Lease() {
      if (conn_) pool_->Return(std::move(conn_));
    }
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  Result<Lease> Acquire() {
    std::unique_lock lock(mutex_);
    const bool ready = changed_.wait_for(lock, options_.pool_wait, [&] {
      return closed_ || !idle_.empty() || open_ < options_.max_connections;
    });
    if (closed_) return Status(Status::Code::kUnavailable, "the store is closed");
    if (!ready) {
      return Status(Status::Code::kUnavailable,
                    fmt::format("PostgreSQL: all {} connections of the pool stayed busy for {} ms",
                                options_.max_connections, options_.pool_wait.count()));
    }
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->StillOpen()) return Lease(this, std::move(conn));
      // Its server closed it while idle (restarted, failed over): so it did the others of that
      // server, most likely — and the newest idle ones are tried first anyway.
      --open_;
    }
    ++open_;
    lock.unlock();
    auto conn = Connection::Open(options_.conninfo, options_.connect_timeout, options_.statement_timeout);
    if (!conn.ok()) {
      lock.lock();
      --open_;
      changed_.notify_one();
      return conn.status();
    }
    return Lease(this, std::move(*conn));
  }

  // Closes every idle connection: one turned out lost or on a read-only server, and the others
  // reached the same server, so the next callers connect afresh (libpq picks the primary now).
  void DropIdle() {
    std::vector<std::unique_ptr<Connection>> closing;
    {
      std::lock_guard lock(mutex_);
      closing.swap(idle_);
      open_ -= closing.size();
    }
    changed_.notify_all();
  }

  void Close() {
    std::vector<std::unique_ptr<Connection>> closing;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      closing.swap(idle_);
      open_ -= closing.size();
    }
    changed_.notify_all();
  }

 private:
  void Return(std::unique_ptr<Connection> conn) {
    std::unique_ptr<Connection> dropped;
    {
      std::lock_guard lock(mutex_);
      if (closed_ || !conn->Reusable()) {
        dropped = std::move(conn);
        --open_;
      } else {
        idle_.push_back(std::move(conn));
      }
    }
    changed_.notify_one();
  }

  const PostgresStoreOptions options_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;
  bool closed_ = false;
};

// Runs `body` on a pooled connection, and once more on a fresh one when the first turned out
// lost or on a server that cannot take it (read-only: a standby after a failover; shutting down)
// — a read always; a write unless a statement whose commit it could not confirm was among its
// work (Connection::unknown_outcomes): a write lost before its COMMIT was rolled back by the
// server, one refused as read-only wrote nothing, but one lost during its COMMIT may be done.
// That one is Unavailable (503): the client's retry decides, and the hub never reports as done
// what may not be, nor does it twice on its own. The idle connections are dropped with a lost
// one: they reached the same server.
Status OnConnection(Pool& pool, bool retry_read, const std::function<Status(Connection&)>& body) {
  for (int attempt = 0;; ++attempt) {
    auto lease = pool.Acquire();
    if (!lease.ok()) return lease.status();
    const uint64_t unknown_before = (*lease)->unknown_outcomes();
    Status st = body(**lease);
    if (st.ok() || (*lease)->Reusable()) return st;
    pool.DropIdle();
    if (attempt > 0) return st;
    if (!retry_read && (*lease)->unknown_outcomes() != unknown_before) return st;
  }
}

// --- one tenant -----------------------------------------------------------------------------

class PgTenantStore : public TenantStore {
 public:
  PgTenantStore(Pool& pool, const std::string& schema, std::string tenant, pg::SharedMetaFeed& feed)
      : pool_(pool),
        s_(QuotedIdentifier(schema)),
        tenant_(std::move(tenant)),
        feed_(feed),
        shared_lock_(fmt::format("SELECT pg_advisory_xact_lock_shared({}, {})", kSharedMetaLockClass, SharedMetaLockKey(schema))),
        exclusive_lock_(fmt::format("SELECT pg_advisory_xact_lock({}, {})", kSharedMetaLockClass, SharedMetaLockKey(schema))) {}

  // Hands the shared metadata changes this hub has not applied yet to the feed's observers.
  Status CatchUp() {
    std::vector<pg::SharedMetaChange> changes;
    Status st = Read([&](Connection& c) { return SharedChangesSince(c, feed_.Applied(tenant_), &changes); });
    if (st.ok()) feed_.Apply(tenant_, std::move(changes));
    return st;
  }
  // The version of the tenant's last shared metadata change (0: none).
  Result<int64_t> SharedVersion() {
    int64_t version = 0;
    Status st = Read([&](Connection& c) -> Status {
      auto rows = c.ExecPrepared("reading the shared metadata version",
                                 Sql("SELECT coalesce(max(version), 0) FROM {s}.shared_meta_versions"), {}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      version = rows->GetBigInt(0, 0);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return version;
  }

  Result<EntityRecord> Get(std::string_view id) override {
    std::optional<EntityRecord> found;
    Status st = Read([&](Connection& c) -> Status {
      auto rows = c.ExecPrepared("reading an entity", Sql("SELECT record FROM {s}.entities WHERE id = $1"),
                         {Param::Bytes(id)}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      found.reset();
      if (rows->size() == 0) return Status::Ok();
      EntityRecord record;
      if (!DecodeRecord(rows->Get(0, 0), &record)) return Corrupt(id);
      record.id = std::string(id);
      found = std::move(record);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    if (!found) return Status::NotFound(fmt::format("entity '{}' not found", id));
    return std::move(*found);
  }

  std::vector<Result<EntityRecord>> GetMany(const std::vector<std::string_view>& ids) override {
    std::vector<Result<EntityRecord>> out;
    std::map<std::string, EntityRecord, std::less<>> found;
    Status st = Read([&](Connection& c) -> Status {
      found.clear();
      const std::string list = ByteaArray(ids);
      auto rows = c.ExecPrepared("reading entities", Sql("SELECT id, record FROM {s}.entities WHERE id = ANY($1::bytea[])"),
                         {Param::Text(list)}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      return RecordsOf(*rows, &found);
    });
    out.reserve(ids.size());
    for (std::string_view id : ids) {
      if (!st.ok()) {
        out.emplace_back(st);
        continue;
      }
      auto it = found.find(id);
      if (it == found.end()) {
        out.emplace_back(Status::NotFound(fmt::format("entity '{}' not found", id)));
      } else {
        out.emplace_back(it->second);
      }
    }
    return out;
  }

  Status Write(const WriteSet& ws) override;
  Status Update(const std::vector<std::string_view>& ids, const UpdateFn& fn) override;

  Status ScanIds(const ScanOptions& opts, const IdVisitor& visit) override {
    return ScanEntities(opts, false, [&](std::string_view id, std::string_view) { return visit(id); });
  }

  Status Scan(const ScanOptions& opts, const EntityVisitor& visit) override {
    Status decode_error;
    Status st = ScanEntities(opts, true, [&](std::string_view id, std::string_view value) {
      EntityRecord record;
      record.id = std::string(id);
      if (!DecodeRecord(value, &record)) {
        decode_error = Corrupt(id);
        return false;
      }
      return visit(record);
    });
    return st.ok() ? decode_error : st;
  }

  Status ScanTerms(const std::vector<TermRange>& ranges, const TermVisitor& visit) override {
    for (const TermRange& range : ranges) {
      std::string last_term, last_id;
      bool first_page = true;
      for (;;) {
        bool stop = false;
        size_t n = 0;
        std::string next_term, next_id;
        Status st = Read([&](Connection& c) -> Status {
          // The first page from `begin`; the next ones after the last (term, id) seen.
          std::string sql = first_page ? "SELECT term, id, payload FROM {s}.terms WHERE term >= $1"
                                       : "SELECT term, id, payload FROM {s}.terms WHERE (term, id) > ($1, $2)";
          std::vector<Param> params;
          if (first_page) {
            params.push_back(Param::Bytes(range.begin));
          } else {
            params.push_back(Param::Bytes(last_term));
            params.push_back(Param::Bytes(last_id));
          }
          if (!range.end.empty()) {
            sql += fmt::format(" AND term < ${}", params.size() + 1);
            params.push_back(Param::Bytes(range.end));
          }
          sql += fmt::format(" ORDER BY term, id LIMIT {}", kScanPage);
          auto rows = c.ExecPrepared("scanning index terms", Sql(sql), params, Format::kBinary);
          if (!rows.ok()) return rows.status();
          n = rows->size();
          for (size_t r = 0; r < n && !stop; ++r) {
            if (!visit(rows->Get(r, 0), rows->Get(r, 1), rows->Get(r, 2))) stop = true;
          }
          if (n) {
            next_term = std::string(rows->Get(n - 1, 0));
            next_id = std::string(rows->Get(n - 1, 1));
          }
          return Status::Ok();
        });
        if (!st.ok()) return st;
        if (stop) return Status::Ok();
        if (n < kScanPage) break;
        last_term = std::move(next_term);
        last_id = std::move(next_id);
        first_page = false;
      }
    }
    return Status::Ok();
  }

  Status CompactTerms() override {
    return Read([&](Connection& c) { return c.ExecUnbounded("compacting the index", Sql("VACUUM (ANALYZE) {s}.terms").c_str()); });
  }

  Status ScanOutbox(uint64_t from, const std::function<bool(uint64_t, std::string_view)>& visit) override {
    int64_t next = static_cast<int64_t>(std::min<uint64_t>(from, std::numeric_limits<int64_t>::max()));
    for (;;) {
      bool stop = false;
      size_t n = 0;
      Status st = Read([&](Connection& c) -> Status {
        auto rows = c.ExecPrepared("reading the outbox",
                           Sql(fmt::format("SELECT seq, value FROM {{s}}.outbox WHERE seq >= $1 ORDER BY seq LIMIT {}", kScanPage)),
                           {Param::Int(next)}, Format::kBinary);
        if (!rows.ok()) return rows.status();
        n = rows->size();
        for (size_t r = 0; r < n && !stop; ++r) {
          const int64_t seq = rows->GetBigInt(r, 0);
          if (!visit(static_cast<uint64_t>(seq), rows->Get(r, 1))) stop = true;
          next = seq + 1;
        }
        return Status::Ok();
      });
      if (!st.ok() || stop || n < kScanPage) return st;
    }
  }

  Status DeleteOutbox(const std::vector<uint64_t>& sequences) override {
    if (sequences.empty()) return Status::Ok();
    std::string list = "{";
    for (size_t i = 0; i < sequences.size(); ++i) list += (i ? "," : "") + std::to_string(sequences[i]);
    list += "}";
    return OnConnection(pool_, false, [&](Connection& c) {
      return c.ExecPrepared("removing delivered notifications", Sql("DELETE FROM {s}.outbox WHERE seq = ANY($1::bigint[])"),
                    {Param::Text(list)}).status();
    });
  }

  bool NumbersOutbox() const override { return true; }
  uint32_t OutboxPartitions() const override { return pg::kOutboxPartitions; }

  Status ScanOutboxPartition(uint32_t partition, const std::function<bool(uint64_t, std::string_view)>& visit) override {
    int64_t after = 0;
    for (;;) {
      bool stop = false;
      size_t n = 0;
      Status st = Read([&](Connection& c) -> Status {
        auto rows = c.ExecPrepared(
            "reading the outbox",
            Sql(fmt::format("SELECT seq, value FROM {{s}}.outbox WHERE part = $1 AND seq > $2 ORDER BY seq LIMIT {}", kScanPage)),
            {Param::Int(partition), Param::Int(after)}, Format::kBinary);
        if (!rows.ok()) return rows.status();
        n = rows->size();
        for (size_t r = 0; r < n && !stop; ++r) {
          after = rows->GetBigInt(r, 0);
          if (!visit(static_cast<uint64_t>(after), rows->Get(r, 1))) stop = true;
        }
        return Status::Ok();
      });
      if (!st.ok() || stop || n < kScanPage) return st;
    }
  }

  Status ReadOutbox(std::vector<uint64_t> sequences, const std::function<bool(uint64_t, std::string_view)>& visit) override {
    if (sequences.empty()) return Status::Ok();
    Column list;
    for (uint64_t seq : sequences) list.Int(static_cast<int64_t>(seq));
    return Read([&](Connection& c) -> Status {
      auto rows = c.ExecPrepared("reading the outbox",
                                 Sql("SELECT seq, value FROM {s}.outbox WHERE seq = ANY($1::bigint[]) ORDER BY seq"),
                                 {Param::Text(list.Literal())}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      for (size_t r = 0; r < rows->size(); ++r) {
        if (!visit(static_cast<uint64_t>(rows->GetBigInt(r, 0)), rows->Get(r, 1))) break;
      }
      return Status::Ok();
    });
  }

  Result<uint64_t> LastOutboxSequence() override {
    int64_t last = 0;
    Status st = Read([&](Connection& c) -> Status {
      auto rows = c.ExecPrepared("reading the outbox", Sql("SELECT coalesce(max(seq), 0) FROM {s}.outbox"), {}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      last = rows->GetBigInt(0, 0);
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return static_cast<uint64_t>(last);
  }

  Status ScanHistory(std::string_view id, std::string_view attr, int64_t first, int64_t last, bool backwards,
                     const HistoryBlockVisitor& visit) override;
  // Folds the blocks written since the last fold (history_folding.h).
  Result<pg::FoldRound> FoldHistory() {
    pg::FoldRound round;
    Status st = OnConnection(pool_, false, [&](Connection& c) -> Status {
      auto folded = pg::FoldHistory(c, s_);
      if (!folded.ok()) return folded.status();
      round = *folded;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return round;
  }

  Result<std::vector<std::string>> HistoryAttributes(std::string_view id) override {
    // A skip scan: one index probe per attribute, not a pass over every block of the entity
    // (a year of hourly blocks is 8,760 rows per attribute).
    return Strings("reading history",
                   "WITH RECURSIVE a(attr) AS ("
                   "  (SELECT attr FROM {s}.history WHERE entity_id = $1 ORDER BY attr LIMIT 1)"
                   "  UNION ALL"
                   "  SELECT (SELECT h.attr FROM {s}.history h WHERE h.entity_id = $1 AND h.attr > a.attr ORDER BY h.attr LIMIT 1)"
                   "  FROM a WHERE a.attr IS NOT NULL)"
                   "SELECT attr FROM a WHERE attr IS NOT NULL",
                   {Param::Bytes(id)});
  }

  Status PutHistoryBlock(std::string_view id, std::string_view attr, int64_t block, std::string_view bytes) override {
    return OnConnection(pool_, false, [&](Connection& c) {
      // REPEATABLE READ: a fold that replaced the block's parts meanwhile fails this transaction
      // (run again), instead of leaving the folded row beside the new one (history_folding.h).
      return c.Transaction("replacing a history block", [&](Connection& t) -> Status {
        auto removed = t.ExecPrepared("replacing a history block",
                              Sql("DELETE FROM {s}.history WHERE entity_id = $1 AND attr = $2 AND block = $3"),
                              {Param::Bytes(id), Param::Bytes(attr), Param::Int(block)});
        if (!removed.ok()) return removed.status();
        if (bytes.empty()) return Status::Ok();
        return t.ExecPrepared("replacing a history block",
                      Sql("INSERT INTO {s}.history (entity_id, attr, block, bytes) VALUES ($1, $2, $3, $4)"),
                      {Param::Bytes(id), Param::Bytes(attr), Param::Int(block), Param::Bytes(bytes)})
            .status();
      }, pg::Isolation::kRepeatableRead);
    });
  }

  Status DeleteHistory(std::string_view id, std::string_view attr, int64_t before) override {
    return OnConnection(pool_, false, [&](Connection& c) {
      return c.Transaction("deleting history", [&](Connection& t) -> Status {
        // (Two statements: the attribute's emptiness decided here, not by a typeless parameter.)
        auto removed = attr.empty()
                           ? t.ExecPrepared("deleting history", Sql("DELETE FROM {s}.history WHERE entity_id = $1 AND block < $2"),
                                    {Param::Bytes(id), Param::Int(before)})
                           : t.ExecPrepared("deleting history",
                                    Sql("DELETE FROM {s}.history WHERE entity_id = $1 AND attr = $2 AND block < $3"),
                                    {Param::Bytes(id), Param::Bytes(attr), Param::Int(before)});
        if (!removed.ok()) return removed.status();
        if (!attr.empty() || before != std::numeric_limits<int64_t>::max()) return Status::Ok();
        return t.ExecPrepared("deleting history", Sql("DELETE FROM {s}.history_entities WHERE entity_id = $1"), {Param::Bytes(id)})
            .status();
      }, pg::Isolation::kRepeatableRead);  // as PutHistoryBlock
    });
  }

  Result<std::string> GetHistoryEntity(std::string_view id) override {
    auto header = FirstValue("reading history", "SELECT header FROM {s}.history_entities WHERE entity_id = $1", id);
    if (!header.ok()) return header.status();
    if (!*header) return Status::NotFound(fmt::format("no history of entity '{}'", id));
    return std::move(**header);
  }

  Status ScanHistoryEntities(const std::function<bool(std::string_view, std::string_view)>& visit) override {
    return Keyed("reading history", "SELECT entity_id, header FROM {s}.history_entities WHERE entity_id >= $1 AND entity_id > $2",
                 "", "entity_id", visit);
  }

  Result<std::vector<std::string>> ListTypes() override {
    return Strings("listing types", "SELECT a FROM {s}.counts WHERE kind = 'T' AND n > 0 ORDER BY a", {});
  }
  Result<std::vector<std::string>> AttributesOfType(std::string_view type) override {
    return Strings("listing attributes", "SELECT b FROM {s}.counts WHERE kind = 'P' AND a = $1 AND n > 0 ORDER BY b",
                   {Param::Bytes(type)});
  }
  Result<std::vector<std::string>> ListAttributes() override {
    return Strings("listing attributes", "SELECT a FROM {s}.counts WHERE kind = 'A' AND n > 0 ORDER BY a", {});
  }
  Result<std::vector<std::string>> TypesWithAttribute(std::string_view attr) override {
    return Strings("listing types", "SELECT a FROM {s}.counts WHERE kind = 'P' AND b = $1 AND n > 0 ORDER BY a",
                   {Param::Bytes(attr)});
  }
  Result<uint64_t> CountType(std::string_view type) override { return Count("T", type); }
  Result<uint64_t> CountAttribute(std::string_view attr) override { return Count("A", attr); }

  uint64_t ApproximateEntityCount() override {
    int64_t n = 0;
    Status st = Read([&](Connection& c) -> Status {
      // The planner's estimate (kept by autovacuum); before the first ANALYZE it is -1 and the
      // table small, so it is counted.
      auto rows = c.Exec("estimating the entity count", "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
                         {Param::Text(s_ + ".entities")}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      n = rows->size() ? rows->GetBigInt(0, 0) : 0;
      if (n >= 0) return Status::Ok();
      auto counted = c.ExecPrepared("counting entities", Sql("SELECT count(*) FROM {s}.entities"), {}, Format::kBinary);
      if (!counted.ok()) return counted.status();
      n = counted->GetBigInt(0, 0);
      return Status::Ok();
    });
    return st.ok() && n > 0 ? static_cast<uint64_t>(n) : 0;
  }

  Result<std::string> GetMeta(std::string_view key) override {
    auto value = FirstValue("reading metadata", "SELECT value FROM {s}.meta WHERE key = $1", key);
    if (!value.ok()) return value.status();
    if (!*value) return Status::NotFound(fmt::format("metadata '{}' not found", key));
    return std::move(**value);
  }

  Status PutMeta(std::string_view key, std::string_view value) override {
    if (feed_.Active() && feed_.Watched(key)) {
      WriteSet ws;
      ws.meta_puts.emplace_back(key, value);
      return Write(ws);
    }
    return OnConnection(pool_, false, [&](Connection& c) {
      return c.ExecPrepared("writing metadata",
                    Sql("INSERT INTO {s}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"),
                    {Param::Bytes(key), Param::Bytes(value)})
          .status();
    });
  }

  Status DeleteMeta(std::string_view key) override {
    if (feed_.Active() && feed_.Watched(key)) {
      WriteSet ws;
      ws.meta_deletes.emplace_back(key);
      return Write(ws);
    }
    return OnConnection(pool_, false, [&](Connection& c) {
      return c.ExecPrepared("deleting metadata", Sql("DELETE FROM {s}.meta WHERE key = $1"), {Param::Bytes(key)}).status();
    });
  }

  Status ScanMeta(std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) override {
    // From the prefix on, in key order, until a key without it.
    return Keyed("reading metadata", "SELECT key, value FROM {s}.meta WHERE key >= $1 AND key > $2", std::string(prefix), "key",
                 [&](std::string_view key, std::string_view value) { return key.starts_with(prefix) && visit(key, value); });
  }

 private:
  std::string Sql(std::string_view sql) const { return InSchema(sql, s_); }
  Status Read(const std::function<Status(Connection&)>& body) { return OnConnection(pool_, true, body); }
  static Status Corrupt(std::string_view id) { return Status::Internal(fmt::format("corrupt entity record for id '{}'", id)); }
  // Adds the (id, record) rows of `rows` to *records, decoded.
  static Status RecordsOf(const Rows& rows, std::map<std::string, EntityRecord, std::less<>>* records) {
    for (size_t r = 0; r < rows.size(); ++r) {
      EntityRecord record;
      record.id = std::string(rows.Get(r, 0));
      if (!DecodeRecord(rows.Get(r, 1), &record)) return Corrupt(record.id);
      std::string key = record.id;
      records->emplace(std::move(key), std::move(record));
    }
    return Status::Ok();
  }

  // The first column of the row `sql` selects by `key` ($1), nullopt when there is none.
  Result<std::optional<std::string>> FirstValue(std::string_view what, std::string_view sql, std::string_view key) {
    std::optional<std::string> value;
    Status st = Read([&](Connection& c) -> Status {
      auto rows = c.ExecPrepared(what, Sql(sql), {Param::Bytes(key)}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      value.reset();
      if (rows->size()) value = std::string(rows->Get(0, 0));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return value;
  }

  Result<std::vector<std::string>> Strings(std::string_view what, std::string_view sql, std::vector<Param> params) {
    std::vector<std::string> out;
    Status st = Read([&](Connection& c) -> Status {
      auto rows = c.ExecPrepared(what, Sql(sql), params, Format::kBinary);
      if (!rows.ok()) return rows.status();
      out.clear();
      for (size_t r = 0; r < rows->size(); ++r) out.emplace_back(rows->Get(r, 0));
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<uint64_t> Count(std::string_view kind, std::string_view name) {
    int64_t n = 0;
    Status st = Read([&](Connection& c) -> Status {
      auto rows = c.ExecPrepared("counting entities", Sql("SELECT n FROM {s}.counts WHERE kind = $1 AND a = $2 AND b = ''::bytea"),
                         {Param::Text(kind), Param::Bytes(name)}, Format::kBinary);
      if (!rows.ok()) return rows.status();
      n = rows->size() ? rows->GetBigInt(0, 0) : 0;
      return Status::Ok();
    });
    if (!st.ok()) return st;
    return static_cast<uint64_t>(std::max<int64_t>(0, n));
  }

  // Pages through `sql`, which selects (key, value) of the rows WHERE key >= $1 AND key > $2
  // (`from` and the last key seen), ordered by its key column, visiting rows until `visit`
  // says stop.
  Status Keyed(std::string_view what, std::string_view sql, std::string from, std::string_view key_column,
               const std::function<bool(std::string_view, std::string_view)>& visit) {
    const std::string statement = Sql(fmt::format("{} ORDER BY {} LIMIT {}", sql, key_column, kScanPage));
    std::string after;
    for (;;) {
      bool stop = false;
      size_t n = 0;
      Status st = Read([&](Connection& c) -> Status {
        auto rows = c.ExecPrepared(what, statement, {Param::Bytes(from), Param::Bytes(after)}, Format::kBinary);
        if (!rows.ok()) return rows.status();
        n = rows->size();
        for (size_t r = 0; r < n && !stop; ++r) {
          if (!visit(rows->Get(r, 0), rows->Get(r, 1))) stop = true;
        }
        if (n) after = std::string(rows->Get(n - 1, 0));
        return Status::Ok();
      });
      if (!st.ok() || stop || n < kScanPage) return st;
    }
  }

  // The entities ScanOptions select, ascending by id: (id, record) — the record only `with_records`.
  Status ScanEntities(const ScanOptions& opts, bool with_records,
                      const std::function<bool(std::string_view, std::string_view)>& visit) {
    std::vector<std::string_view> type_list(opts.types.begin(), opts.types.end());
    const std::string types = ByteaArray(type_list);
    std::string sql;
    if (opts.types.empty()) {
      sql = with_records ? "SELECT id, record FROM {s}.entities WHERE id > $1 AND id >= $2"
                         : "SELECT id, NULL FROM {s}.entities WHERE id > $1 AND id >= $2";
    } else if (with_records) {
      sql = "SELECT e.id, e.record FROM {s}.entities e WHERE e.id > $1 AND e.id >= $2 AND "
            "e.id IN (SELECT id FROM {s}.entity_types WHERE type = ANY($3::bytea[]))";
    } else {
      sql = "SELECT DISTINCT id, NULL FROM {s}.entity_types WHERE id > $1 AND id >= $2 AND type = ANY($3::bytea[])";
    }
    sql += fmt::format(" ORDER BY 1 LIMIT {}", kScanPage);
    const std::string statement = Sql(sql);
    std::string after = opts.after_id;
    for (;;) {
      bool stop = false;
      size_t n = 0;
      Status st = Read([&](Connection& c) -> Status {
        std::vector<Param> params{Param::Bytes(after), Param::Bytes(opts.id_prefix)};
        if (!opts.types.empty()) params.push_back(Param::Text(types));
        auto rows = c.ExecPrepared("scanning entities", statement, params, Format::kBinary);
        if (!rows.ok()) return rows.status();
        n = rows->size();
        for (size_t r = 0; r < n && !stop; ++r) {
          const std::string_view id = rows->Get(r, 0);
          if (!id.starts_with(opts.id_prefix) || !visit(id, rows->Get(r, 1))) stop = true;
        }
        if (n) after = std::string(rows->Get(n - 1, 0));
        return Status::Ok();
      });
      if (!st.ok() || stop || n < kScanPage) return st;
    }
  }

  // Reads the records of `ids` in transaction `t`, locking their rows until it ends (in id
  // order: writers of overlapping sets lock alike, so they queue rather than deadlock).
  Status LockRecords(Connection& t, std::vector<std::string_view> ids,
                     std::map<std::string, EntityRecord, std::less<>>* records);
  // Likewise, and in the same statement the shared metadata changes after version `applied`.
  Status LockRecords(Connection& t, std::vector<std::string_view> ids,
                     std::map<std::string, EntityRecord, std::less<>>* records, int64_t applied,
                     std::vector<pg::SharedMetaChange>* changes);
  // Writes `ws` (validated) in transaction `t`, with the index and count changes from `old` —
  // the records, locked by LockRecords, of every id it puts or deletes (absent: none).
  Status Apply(Connection& t, const WriteSet& ws, const std::map<std::string, EntityRecord, std::less<>>& old);

  // The shared metadata keys `ws` changes (none unless the feed is active), distinct.
  std::vector<std::string_view> SharedKeys(const WriteSet& ws) const;
  // Numbers the change of `keys` (one version for the write) and tells every hub, at commit.
  Status Announce(Connection& t, const std::vector<std::string_view>& keys);
  // The announced keys changed after `version`, with their values now.
  Status SharedChangesSince(Connection& c, int64_t version, std::vector<pg::SharedMetaChange>* changes);

  Pool& pool_;
  const std::string s_;  // the schema, quoted for SQL
  const std::string tenant_;
  pg::SharedMetaFeed& feed_;
  const std::string shared_lock_, exclusive_lock_;  // run with BEGIN (see kSharedMetaLockClass)
};

bool WritesNothing(const WriteSet& ws) {
  return ws.puts.empty() && ws.deletes.empty() && ws.outbox.empty() && ws.history.empty() &&
         ws.history_entities.empty() && ws.meta_puts.empty() && ws.meta_deletes.empty();
}

// Update's answer to a WriteSet that writes an entity the transaction did not read (a bug).
Status UnreadId(std::string_view id) {
  return Status::Internal(fmt::format("entity '{}' is written by an update that did not read it", id));
}

// --- Write ----------------------------------------------------------------------------------

// What a write changes of the counts: (kind, a, b) → delta.
using CountDeltas = std::map<std::tuple<char, std::string, std::string>, int64_t>;

void CountRecord(const EntityRecord& r, int64_t sign, CountDeltas* deltas) {
  for (const auto& type : r.types) (*deltas)[{'T', type, ""}] += sign;
  for (const auto& attr : r.attributes) {
    (*deltas)[{'A', attr, ""}] += sign;
    for (const auto& type : r.types) (*deltas)[{'P', type, attr}] += sign;
  }
}

// Everything a write does, in one statement: data-modifying CTEs, each fed by arrays (empty ones
// do nothing). They run against one snapshot and cannot see each other's rows, so the caller
// never lets two of them touch one row (a key is deleted or upserted, not both). Outbox records
// written with sequence 0 take numbers of the tenant's sequence — ascending in the order they
// come in the write (the k-th smallest number to the k-th such record) — and the statement
// answers (position in ws.outbox from 1, number) for each; then (-1, how many NOTIFYs): one per
// partition written, delivered at commit to the partition's owner (outbox_claims.h; the row
// that counts them is what makes PostgreSQL run that part of the statement).
constexpr std::string_view kApplyWrite = R"(WITH
  entity_puts AS (INSERT INTO {s}.entities (id, record) SELECT * FROM unnest($1::bytea[], $2::bytea[])
                  ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record),
  entity_deletes AS (DELETE FROM {s}.entities WHERE id = ANY($3::bytea[])),
  type_deletes AS (DELETE FROM {s}.entity_types t USING unnest($4::bytea[], $5::bytea[]) AS d(type, id)
                   WHERE t.type = d.type AND t.id = d.id),
  type_puts AS (INSERT INTO {s}.entity_types (type, id) SELECT * FROM unnest($6::bytea[], $7::bytea[])),
  term_deletes AS (DELETE FROM {s}.terms t USING unnest($8::bytea[], $9::bytea[]) AS d(term, id)
                   WHERE t.term = d.term AND t.id = d.id),
  term_puts AS (INSERT INTO {s}.terms (term, id, payload) SELECT * FROM unnest($10::bytea[], $11::bytea[], $12::bytea[])
                ON CONFLICT (term, id) DO UPDATE SET payload = EXCLUDED.payload),
  count_changes AS (INSERT INTO {s}.counts (kind, a, b, n)
                    SELECT k, a, b, n FROM unnest($13::"char"[], $14::bytea[], $15::bytea[], $16::bigint[]) AS u(k, a, b, n)
                    ON CONFLICT (kind, a, b) DO UPDATE SET n = {s}.counts.n + EXCLUDED.n),
  outbox_in AS (SELECT * FROM unnest($17::bigint[], $18::bytea[], $28::int[]) WITH ORDINALITY AS u(seq, value, part, n)),
  outbox_taken AS (SELECT nextval('{s}.outbox_seq') AS seq FROM outbox_in WHERE seq = 0),
  outbox_numbered AS (SELECT i.n, t.seq
                      FROM (SELECT n, row_number() OVER (ORDER BY n) AS r FROM outbox_in WHERE seq = 0) i
                      JOIN (SELECT seq, row_number() OVER (ORDER BY seq) AS r FROM outbox_taken) t USING (r)),
  outbox_puts AS (INSERT INTO {s}.outbox (seq, value, part)
                  SELECT coalesce(b.seq, i.seq), i.value, i.part FROM outbox_in i LEFT JOIN outbox_numbered b USING (n)
                  RETURNING seq, part),
  outbox_notices AS (SELECT pg_notify($29, part || ' ' ||
                                      CASE WHEN count(*) <= 200 THEN string_agg(seq::text, ',' ORDER BY seq) ELSE '' END ||
                                      ' ' || $30)
                     FROM outbox_puts GROUP BY part),
  history_puts AS (INSERT INTO {s}.history (entity_id, attr, block, bytes)
                   SELECT i, a, b, x FROM unnest($19::bytea[], $20::bytea[], $21::bigint[], $22::bytea[])
                   WITH ORDINALITY AS u(i, a, b, x, n) ORDER BY n),
  header_puts AS (INSERT INTO {s}.history_entities (entity_id, header) SELECT * FROM unnest($23::bytea[], $24::bytea[])
                  ON CONFLICT (entity_id) DO UPDATE SET header = EXCLUDED.header),
  meta_puts AS (INSERT INTO {s}.meta (key, value) SELECT * FROM unnest($25::bytea[], $26::bytea[])
                ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value),
  meta_deletes AS (DELETE FROM {s}.meta WHERE key = ANY($27::bytea[]))
SELECT n, seq FROM outbox_numbered UNION ALL SELECT -1, count(*) FROM outbox_notices)";

Status PgTenantStore::LockRecords(Connection& t, std::vector<std::string_view> ids,
                                  std::map<std::string, EntityRecord, std::less<>>* records) {
  records->clear();
  if (ids.empty()) return Status::Ok();
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  auto rows = t.ExecPrepared("reading entities to write",
                             Sql("SELECT id, record FROM {s}.entities WHERE id = ANY($1::bytea[]) ORDER BY id FOR UPDATE"),
                             {Param::Text(ByteaArray(ids))}, Format::kBinary);
  if (!rows.ok()) return rows.status();
  return RecordsOf(*rows, records);
}

Status PgTenantStore::LockRecords(Connection& t, std::vector<std::string_view> ids,
                                  std::map<std::string, EntityRecord, std::less<>>* records, int64_t applied,
                                  std::vector<pg::SharedMetaChange>* changes) {
  records->clear();
  changes->clear();
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  // Rows with a version are shared metadata changes (key, value or NULL, version); the others
  // the records (id, record, NULL).
  auto rows = t.ExecPrepared(
      "reading entities to write",
      Sql("WITH locked AS (SELECT id, record FROM {s}.entities WHERE id = ANY($1::bytea[]) ORDER BY id FOR UPDATE) "
          "SELECT id, record, NULL::bigint FROM locked UNION ALL "
          "SELECT v.key, m.value, v.version FROM {s}.shared_meta_versions v LEFT JOIN {s}.meta m ON m.key = v.key "
          "WHERE v.version > $2"),
      {Param::Text(ByteaArray(ids)), Param::Int(applied)}, Format::kBinary);
  if (!rows.ok()) return rows.status();
  for (size_t r = 0; r < rows->size(); ++r) {
    if (!rows->IsNull(r, 2)) {
      pg::SharedMetaChange change{rows->GetBigInt(r, 2), std::string(rows->Get(r, 0)), std::nullopt};
      if (!rows->IsNull(r, 1)) change.value = std::string(rows->Get(r, 1));
      changes->push_back(std::move(change));
      continue;
    }
    EntityRecord record;
    record.id = std::string(rows->Get(r, 0));
    if (!DecodeRecord(rows->Get(r, 1), &record)) return Corrupt(record.id);
    std::string key = record.id;
    records->emplace(std::move(key), std::move(record));
  }
  return Status::Ok();
}

Status PgTenantStore::Apply(Connection& t, const WriteSet& ws,
                           const std::map<std::string, EntityRecord, std::less<>>& old) {
  // The final state of each id: the last put wins, and deletes apply after puts.
  std::map<std::string_view, const EntityRecord*> next;
  for (const auto& record : ws.puts) next[record.id] = &record;
  for (const auto& id : ws.deletes) next[id] = nullptr;
  if (WritesNothing(ws)) return Status::Ok();
  Column put_ids, put_records, deleted_ids, type_del_types, type_del_ids, type_put_types, type_put_ids, term_del_keys,
      term_del_ids, term_put_keys, term_put_ids, term_put_payloads;
  CountDeltas counts;
  for (const auto& [id, record] : next) {
    const auto before = old.find(id);
    const EntityRecord* was = before == old.end() ? nullptr : &before->second;
    if (was) CountRecord(*was, -1, &counts);
    if (record) {
      CountRecord(*record, +1, &counts);
      put_ids.Bytes(id);
      put_records.Bytes(EncodeRecord(*record));
    } else if (was) {
      deleted_ids.Bytes(id);
    }
    std::set<std::string_view> old_types, new_types;
    std::map<std::string_view, std::string_view> old_terms, new_terms;
    if (was) {
      old_types.insert(was->types.begin(), was->types.end());
      for (const auto& term : was->terms) old_terms[term.key] = term.payload;
    }
    if (record) {
      new_types.insert(record->types.begin(), record->types.end());
      for (const auto& term : record->terms) new_terms[term.key] = term.payload;
    }
    for (std::string_view type : old_types) {
      if (!new_types.contains(type)) type_del_types.Bytes(type), type_del_ids.Bytes(id);
    }
    for (std::string_view type : new_types) {
      if (!old_types.contains(type)) type_put_types.Bytes(type), type_put_ids.Bytes(id);
    }
    for (const auto& [key, payload] : old_terms) {
      if (!new_terms.contains(key)) term_del_keys.Bytes(key), term_del_ids.Bytes(id);
    }
    for (const auto& [key, payload] : new_terms) {
      const auto kept = old_terms.find(key);
      if (kept != old_terms.end() && kept->second == payload) continue;
      term_put_keys.Bytes(key);
      term_put_ids.Bytes(id);
      term_put_payloads.Bytes(payload);
    }
  }
  Column count_kinds, count_as, count_bs, count_ns;
  for (const auto& [key, delta] : counts) {
    if (delta == 0) continue;
    count_kinds.Char(std::get<0>(key));
    count_as.Bytes(std::get<1>(key));
    count_bs.Bytes(std::get<2>(key));
    count_ns.Int(delta);
  }
  Column outbox_seqs, outbox_values, outbox_partitions;
  for (const auto& record : ws.outbox) {
    if (record.partition >= pg::kOutboxPartitions) return Status::Internal("an outbox record names no partition of the store");
    outbox_seqs.Int(static_cast<int64_t>(record.sequence));
    outbox_values.Bytes(record.value);
    outbox_partitions.Int(record.partition);
  }
  Column history_ids, history_attrs, history_blocks, history_bytes;
  for (const auto& append : ws.history) {
    history_ids.Bytes(append.entity_id);
    history_attrs.Bytes(append.attr);
    history_blocks.Int(append.block);
    history_bytes.Bytes(append.bytes);
  }
  // Headers and metadata: the last put of a key wins, and a deleted key is not put.
  std::map<std::string_view, std::string_view> headers, meta;
  for (const auto& header : ws.history_entities) headers[header.entity_id] = header.header;
  for (const auto& [key, value] : ws.meta_puts) meta[key] = value;
  for (const auto& key : ws.meta_deletes) meta.erase(key);
  Column header_ids, header_values, meta_keys, meta_values, meta_deleted;
  for (const auto& [id, header] : headers) header_ids.Bytes(id), header_values.Bytes(header);
  for (const auto& [key, value] : meta) meta_keys.Bytes(key), meta_values.Bytes(value);
  for (const auto& key : ws.meta_deletes) meta_deleted.Bytes(key);

  const std::vector<std::string> arrays = {
      put_ids.Literal(),        put_records.Literal(),   deleted_ids.Literal(),    type_del_types.Literal(),
      type_del_ids.Literal(),   type_put_types.Literal(), type_put_ids.Literal(),  term_del_keys.Literal(),
      term_del_ids.Literal(),   term_put_keys.Literal(),  term_put_ids.Literal(),  term_put_payloads.Literal(),
      count_kinds.Literal(),    count_as.Literal(),       count_bs.Literal(),      count_ns.Literal(),
      outbox_seqs.Literal(),    outbox_values.Literal(),  history_ids.Literal(),   history_attrs.Literal(),
      history_blocks.Literal(), history_bytes.Literal(),  header_ids.Literal(),    header_values.Literal(),
      meta_keys.Literal(),      meta_values.Literal(),    meta_deleted.Literal(),  outbox_partitions.Literal()};
  std::vector<Param> params;
  params.reserve(arrays.size() + 2);
  for (const std::string& a : arrays) params.push_back(Param::Text(a));
  params.push_back(Param::Text(pg::kOutboxChannel));
  params.push_back(Param::Text(tenant_));
  auto numbered = t.ExecPrepared("writing", Sql(kApplyWrite), params, Format::kBinary);
  if (!numbered.ok()) return numbered.status();
  for (size_t r = 0; r < numbered->size(); ++r) {
    const int64_t position = numbered->GetBigInt(r, 0);
    if (position == -1) continue;  // the NOTIFYs' count
    if (position < 1 || static_cast<size_t>(position) > ws.outbox.size()) {
      return Status::Internal("PostgreSQL: the write numbered an outbox record it was not given");
    }
    if (uint64_t* assigned = ws.outbox[static_cast<size_t>(position - 1)].assigned) {
      *assigned = static_cast<uint64_t>(numbered->GetBigInt(r, 1));
    }
  }
  return Status::Ok();
}

Status PgTenantStore::Write(const WriteSet& ws) {
  CITYHUB_RETURN_IF_ERROR(ValidateWriteSet(ws));
  if (WritesNothing(ws)) return Status::Ok();
  std::vector<std::string_view> ids;
  for (const auto& record : ws.puts) ids.push_back(record.id);
  for (const auto& id : ws.deletes) ids.push_back(id);
  const std::vector<std::string_view> shared = SharedKeys(ws);
  return OnConnection(pool_, false, [&](Connection& c) {
    return c.Transaction(
        "writing",
        [&](Connection& t) -> Status {
          std::map<std::string, EntityRecord, std::less<>> old;
          CITYHUB_RETURN_IF_ERROR(LockRecords(t, ids, &old));
          CITYHUB_RETURN_IF_ERROR(Apply(t, ws, old));
          return shared.empty() ? Status::Ok() : Announce(t, shared);
        },
        pg::Isolation::kReadCommitted, shared.empty() ? std::string_view() : exclusive_lock_);
  });
}

std::vector<std::string_view> PgTenantStore::SharedKeys(const WriteSet& ws) const {
  std::vector<std::string_view> keys;
  if (!feed_.Active()) return keys;
  for (const auto& [key, value] : ws.meta_puts) keys.push_back(key);
  for (const auto& key : ws.meta_deletes) keys.push_back(key);
  std::erase_if(keys, [&](std::string_view key) { return !feed_.Watched(key); });
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

Status PgTenantStore::Announce(Connection& t, const std::vector<std::string_view>& keys) {
  // Under the exclusive lock (taken at BEGIN): the versions of a tenant's changes rise in commit
  // order, and the NOTIFY goes out only if the transaction commits.
  return t.ExecPrepared("announcing a shared metadata change",
                        Sql("WITH next AS (SELECT coalesce(max(version), 0) + 1 AS version FROM {s}.shared_meta_versions), "
                            "numbered AS (INSERT INTO {s}.shared_meta_versions (key, version) "
                            "SELECT k, next.version FROM unnest($1::bytea[]) AS k, next "
                            "ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version) "
                            "SELECT pg_notify($2, $3)"),
                        {Param::Text(ByteaArray(keys)), Param::Text(kSharedMetaChannel), Param::Text(tenant_)})
      .status();
}

Status PgTenantStore::SharedChangesSince(Connection& c, int64_t version, std::vector<pg::SharedMetaChange>* changes) {
  auto rows = c.ExecPrepared("reading shared metadata changes",
                             Sql("SELECT v.key, m.value, v.version FROM {s}.shared_meta_versions v "
                                 "LEFT JOIN {s}.meta m ON m.key = v.key WHERE v.version > $1"),
                             {Param::Int(version)}, Format::kBinary);
  if (!rows.ok()) return rows.status();
  changes->clear();
  for (size_t r = 0; r < rows->size(); ++r) {
    pg::SharedMetaChange change{rows->GetBigInt(r, 2), std::string(rows->Get(r, 0)), std::nullopt};
    if (!rows->IsNull(r, 1)) change.value = std::string(rows->Get(r, 1));
    changes->push_back(std::move(change));
  }
  return Status::Ok();
}

Status PgTenantStore::Update(const std::vector<std::string_view>& ids, const UpdateFn& fn) {
  const bool shared = feed_.Active();
  return OnConnection(pool_, false, [&](Connection& c) {
    // A serialization failure or deadlock runs this again, `fn` included (store.h allows it).
    return c.Transaction("updating", [&](Connection& t) -> Status {
      std::map<std::string, EntityRecord, std::less<>> old;
      if (shared) {
        // The shared lock taken at BEGIN orders this write after every shared metadata change
        // committed before it and before every one not yet committed; the changes this hub has
        // not applied yet (usually none: the listener is quick) come with the records, in the
        // same round trip, and are applied before `fn` decides anything on them.
        std::vector<pg::SharedMetaChange> changes;
        CITYHUB_RETURN_IF_ERROR(LockRecords(t, ids, &old, feed_.Applied(tenant_), &changes));
        if (!changes.empty()) feed_.Apply(tenant_, std::move(changes));
      } else {
        CITYHUB_RETURN_IF_ERROR(LockRecords(t, ids, &old));
      }
      CurrentRecords current;
      current.reserve(ids.size());
      for (std::string_view id : ids) {
        auto it = old.find(id);
        if (it == old.end()) {
          current.emplace_back(Status::NotFound(fmt::format("entity '{}' not found", id)));
        } else {
          current.emplace_back(it->second);
        }
      }
      Result<WriteSet> ws = fn(current);
      if (!ws.ok()) return ws.status();
      CITYHUB_RETURN_IF_ERROR(ValidateWriteSet(*ws));
      auto read = [&](std::string_view id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
      for (const auto& record : ws->puts) {
        if (!read(record.id)) return UnreadId(record.id);
      }
      for (const auto& id : ws->deletes) {
        if (!read(id)) return UnreadId(id);
      }
      if (!SharedKeys(*ws).empty()) return Status::Internal("an update writes shared metadata (store.h: only Write may)");
      return Apply(t, *ws, old);
    }, pg::Isolation::kReadCommitted, shared ? std::string_view(shared_lock_) : std::string_view());
  });
}

Status PgTenantStore::ScanHistory(std::string_view id, std::string_view attr, int64_t first, int64_t last,
                                  bool backwards, const HistoryBlockVisitor& visit) {
  // Pages by whole blocks: a block is visited with the rows of one statement (one snapshot), so a
  // fold between two pages (history_folding.h) cannot have a block read half before it and half
  // after. The last block of a full page may be cut short: the next page starts with it again —
  // or, when one block fills the whole page, that block is read alone, whatever its size.
  // Pages start small and double: most visitors stop early (lastN reads a block or two from the
  // end), and a page of whole blocks is tens of kilobytes each. Backwards, parts come in
  // descending order too (the index then serves the order; "block DESC, part" made PostgreSQL
  // sort every block of the attribute) and are put back in part order here.
  // Long scans are pipelined: from kPrefetchRows on, the next page is asked for as soon as this
  // one's block numbers are known, and the server finds and sends it while this page is
  // decompressed and visited (a year's daily aggregates are 8,760 blocks in 20 pages). A visitor
  // that stops leaves at most one page read for nothing.
  static constexpr int64_t kPrefetchRows = 64;
  const std::string page = Sql(fmt::format(
      "SELECT block, bytes, compressed FROM {{s}}.history WHERE entity_id = $1 AND attr = $2 AND block BETWEEN $3 AND $4 "
      "ORDER BY block {0}, part {0} LIMIT $5",
      backwards ? "DESC" : "ASC"));
  const std::string whole =
      Sql("SELECT bytes, compressed FROM {s}.history WHERE entity_id = $1 AND attr = $2 AND block = $3 ORDER BY part");
  auto compressed = [](const Rows& rows, size_t r, size_t column) { return rows.Get(r, column) == std::string_view("\1", 1); };
  // Where the scan stands, kept across a retry on a new connection: what was visited is not
  // visited again.
  int64_t lo = first, hi = last;
  int64_t page_rows = 8;
  bool stopped = false;
  return Read([&](Connection& c) -> Status {
    auto page_params = [&](int64_t from, int64_t to, int64_t rows) {
      return std::vector<Param>{Param::Bytes(id), Param::Bytes(attr), Param::Int(from), Param::Int(to), Param::Int(rows)};
    };
    bool pending = false;  // a page was sent and its answer not read
    // Every return reads what was sent, so the connection goes back to the pool free.
    auto drained = [&](Status st) {
      if (pending) (void)c.Receive("reading history");
      return st;
    };
    CITYHUB_RETURN_IF_ERROR(c.SendPrepared("reading history", page, page_params(lo, hi, page_rows), Format::kBinary));
    pending = true;
    std::string bytes;
    while (!stopped && lo <= hi) {
      auto rows = c.Receive("reading history");
      pending = false;
      if (!rows.ok()) return rows.status();
      const size_t n = rows->size();
      // The page's blocks: [number, first row, end row).
      std::vector<std::tuple<int64_t, size_t, size_t>> blocks;
      for (size_t r = 0; r < n;) {
        const int64_t b = rows->GetBigInt(r, 0);
        size_t end = r;
        while (end < n && rows->GetBigInt(end, 0) == b) ++end;
        blocks.emplace_back(b, r, end);
        r = end;
      }
      const bool full = static_cast<int64_t>(n) == page_rows;
      std::optional<Rows> alone;  // one block filled the page: the block read whole
      if (full && blocks.size() == 1) {
        auto all = c.ExecPrepared("reading history", whole, {Param::Bytes(id), Param::Bytes(attr), Param::Int(std::get<0>(blocks[0]))},
                                  Format::kBinary);
        if (!all.ok()) return all.status();
        alone.emplace(std::move(*all));
      }
      const bool cut = full && blocks.size() > 1;  // the page's last block may lack parts
      const size_t complete = blocks.size() - (cut ? 1 : 0);
      // The next page's bounds, from the block numbers alone.
      int64_t next_lo = lo, next_hi = hi;
      bool more = full;
      if (full) {
        const int64_t done = std::get<0>(blocks[complete - 1]);
        if (cut) {
          (backwards ? next_hi : next_lo) = std::get<0>(blocks.back());
        } else if (backwards) {
          more = done != lo;
          next_hi = done - 1;
        } else {
          more = done != hi;
          next_lo = done + 1;
        }
      }
      const int64_t next_rows = std::min<int64_t>(page_rows * 2, kScanPage);
      if (more && page_rows >= kPrefetchRows) {
        CITYHUB_RETURN_IF_ERROR(c.SendPrepared("reading history", page, page_params(next_lo, next_hi, next_rows), Format::kBinary));
        pending = true;
      }
      for (size_t i = 0; i < complete && !stopped; ++i) {
        const auto [number, from, to] = blocks[i];
        bytes.clear();
        if (alone) {
          for (size_t r = 0; r < alone->size(); ++r) {
            Status st = pg::AppendBlockBytes(alone->Get(r, 0), compressed(*alone, r, 1), &bytes);
            if (!st.ok()) return drained(st);
          }
        } else {
          for (size_t k = 0; k < to - from; ++k) {
            const size_t row = backwards ? to - 1 - k : from + k;  // part order
            Status st = pg::AppendBlockBytes(rows->Get(row, 1), compressed(*rows, row, 2), &bytes);
            if (!st.ok()) return drained(st);
          }
        }
        stopped = !visit(number, bytes);
      }
      if (stopped || !more) break;
      lo = next_lo;
      hi = next_hi;
      page_rows = next_rows;
      if (!pending) {
        CITYHUB_RETURN_IF_ERROR(c.SendPrepared("reading history", page, page_params(lo, hi, page_rows), Format::kBinary));
        pending = true;
      }
    }
    return drained(Status::Ok());
  });
}

// --- the store ------------------------------------------------------------------------------

class PostgresStore : public Store {
 public:
  explicit PostgresStore(PostgresStoreOptions options)
      : options_(options),
        fold_interval_(options.history_fold_interval),
        pool_(std::move(options)),
        folder_("pg-history-fold", fold_interval_, [this] { FoldAll(); }) {}
  ~PostgresStore() override { Close(); }

  Status Bootstrap() {
    return OnConnection(pool_, false, [&](Connection& c) {
      return c.Transaction("creating the tenant directory", [&](Connection& t) -> Status {
        auto locked = t.Exec("creating the tenant directory", "SELECT pg_advisory_xact_lock($1)", {Param::Int(kSchemaLockKey)});
        if (!locked.ok()) return locked.status();
        for (const char* sql : {"CREATE SCHEMA IF NOT EXISTS cityhub",
                                "CREATE TABLE IF NOT EXISTS cityhub.tenants (name text COLLATE \"C\" PRIMARY KEY, "
                                "schema_name text UNIQUE NOT NULL)",
                                "CREATE SEQUENCE IF NOT EXISTS cityhub.tenant_numbers"}) {
          auto r = t.Exec("creating the tenant directory", sql);
          if (!r.ok()) return r.status();
        }
        return Status::Ok();
      });
    });
  }

  Result<TenantStore*> Tenant(std::string_view name, bool create) override {
    if (closed_) return Status(Status::Code::kUnavailable, "the store is closed");
    if (!name.empty() && !ValidTenantName(name)) return Status::InvalidRequest(fmt::format("invalid tenant name '{}'", name));
    std::lock_guard lock(mutex_);
    if (auto it = tenants_.find(name); it != tenants_.end()) return it->second.get();
    std::string schema;
    Status st = OnConnection(pool_, false, [&](Connection& c) {
      return c.Transaction("opening a tenant", [&](Connection& t) -> Status {
        auto locked = t.Exec("opening a tenant", "SELECT pg_advisory_xact_lock($1)", {Param::Int(kSchemaLockKey)});
        if (!locked.ok()) return locked.status();
        auto rows = t.Exec("opening a tenant", "SELECT schema_name FROM cityhub.tenants WHERE name = $1", {Param::Text(name)});
        if (!rows.ok()) return rows.status();
        if (rows->size()) {
          schema = std::string(rows->Get(0, 0));
          return Migrate(t, schema);
        }
        if (!create) return Status::NotFound(fmt::format("tenant '{}' does not exist", name));
        if (name.empty()) {
          schema = std::string(kDefaultTenantSchema);
        } else {
          auto number = t.Exec("creating a tenant", "SELECT nextval('cityhub.tenant_numbers')");
          if (!number.ok()) return number.status();
          schema = fmt::format("tenant_{}", number->Get(0, 0));
        }
        auto made = t.Exec("creating a tenant", ("CREATE SCHEMA " + QuotedIdentifier(schema)).c_str());
        if (!made.ok()) return made.status();
        auto listed = t.Exec("creating a tenant", "INSERT INTO cityhub.tenants (name, schema_name) VALUES ($1, $2)",
                             {Param::Text(name), Param::Text(schema)});
        if (!listed.ok()) return listed.status();
        return Migrate(t, schema);
      });
    });
    if (!st.ok()) return st;
    auto store = std::make_unique<PgTenantStore>(pool_, schema, std::string(name), feed_);
    TenantStore* out = store.get();
    tenants_.emplace(std::string(name), std::move(store));
    return out;
  }

  std::vector<std::string> ListTenants() override {
    std::vector<std::string> out;
    (void)OnConnection(pool_, true, [&](Connection& c) -> Status {
      auto rows = c.Exec("listing tenants", "SELECT name FROM cityhub.tenants ORDER BY name");
      if (!rows.ok()) return rows.status();
      out.clear();
      for (size_t r = 0; r < rows->size(); ++r) out.emplace_back(rows->Get(r, 0));
      return Status::Ok();
    });
    return out;
  }

  Status Backup(const std::string&) override {
    return Status::NotSupported(
        "a hub on PostgreSQL is backed up with PostgreSQL's own tools (pg_basebackup and WAL archiving for "
        "point-in-time recovery; docs/OPERATIONS.md), not by `cityhub backup`");
  }

  void UnwatchSharedMeta(SharedMetaObserver* observer) override { feed_.Unwatch(observer); }

  uint32_t OutboxPartitions() const override { return pg::kOutboxPartitions; }

  Status DeliverOutbox(OutboxOwner* owner) override {
    std::lock_guard lock(claims_mutex_);
    if (closed_) return Status(Status::Code::kUnavailable, "the store is closed");
    claims_.reset();
    pg::OutboxClaimsOptions o;
    o.conninfo = options_.conninfo;
    o.connect_timeout = options_.connect_timeout;
    o.partitions = pg::kOutboxPartitions;
    o.tenants = [this] { return ListTenants(); };
    auto claims = pg::OutboxClaims::Start(std::move(o), owner);
    if (!claims.ok()) return claims.status();
    claims_ = std::move(*claims);
    return Status::Ok();
  }

  void StopDeliveringOutbox() override {
    std::lock_guard lock(claims_mutex_);
    claims_.reset();
  }

  Status CatchUpSharedMeta(std::string_view tenant) override {
    if (!feed_.Active()) return Status::Ok();
    auto ts = Tenant(tenant, false);
    if (!ts.ok()) return ts.status().IsNotFound() ? Status::Ok() : ts.status();
    return static_cast<PgTenantStore*>(*ts)->CatchUp();
  }

  Status WatchSharedMeta(std::string prefix, SharedMetaObserver* observer) override {
    feed_.Watch(std::move(prefix), observer);
    std::lock_guard lock(listener_mutex_);
    if (listening_) return Status::Ok();
    listening_ = true;
    pg::ListenerOptions o;
    o.conninfo = options_.conninfo;
    o.connect_timeout = options_.connect_timeout;
    o.channels = {std::string(kSharedMetaChannel)};
    o.on_notify = [this](std::string_view, std::string_view tenant) { CatchUp(tenant); };
    o.on_resumed = [this] {
      for (const auto& tenant : ListTenants()) CatchUp(tenant);
    };
    if (options_.listen_for_shared_meta) {
      auto listener = pg::Listener::Start(std::move(o));
      if (!listener.ok()) return listener.status();
      listener_ = std::move(*listener);
    }
    // What the observers load next (at start-up) holds every change made so far: they begin
    // after the last one. (Listening first: a change made meanwhile is heard, perhaps twice.)
    for (const auto& tenant : ListTenants()) {
      auto ts = Tenant(tenant, false);
      if (!ts.ok()) return ts.status();
      auto version = static_cast<PgTenantStore*>(*ts)->SharedVersion();
      if (!version.ok()) return version.status();
      feed_.Skip(tenant, *version);
    }
    return Status::Ok();
  }

  // One caller at a time asks the database; the others meanwhile get the last answer instead of
  // waiting (a silent server can hold the asker for the connect timeout: health checks must
  // not pile up behind it).
  Status CheckWritable() override {
    if (closed_) return Status(Status::Code::kUnavailable, "the store is closed");
    std::unique_lock probing(probe_mutex_, std::try_to_lock);
    if (probing.owns_lock() && std::chrono::steady_clock::now() - probed_at_ >= kProbeInterval) {
      Status answer = ProbeWritable();
      probed_at_ = std::chrono::steady_clock::now();
      std::lock_guard lock(answer_mutex_);
      answer_ = std::move(answer);
    }
    std::lock_guard lock(answer_mutex_);
    return answer_;
  }

  // This hub's slot among the hubs on the database (store/hub_slot.h), held until Close.
  Status TakeHubSlot() {
    pg::HubSlotOptions o;
    o.conninfo = options_.conninfo;
    o.connect_timeout = options_.connect_timeout;
    o.taken = [](HubSlot slot) { SetCurrentHubSlot(slot); };
    auto taken = pg::HubSlotLock::Start(std::move(o));
    if (!taken.ok()) return taken.status();
    hub_slot_ = std::move(*taken);
    return Status::Ok();
  }

  void Close() override {
    StopDeliveringOutbox();
    {
      std::lock_guard lock(listener_mutex_);
      listener_.reset();  // no catch-up runs once it returns
    }
    closed_ = true;
    folder_.Stop();
    pool_.Close();
    hub_slot_.reset();  // after the last write
  }

  // Starts folding history in the background (if an interval is set).
  void StartFolding() {
    if (fold_interval_.count() > 0) folder_.Start();
  }

 private:
  // How long an answer of CheckWritable is reused: load balancers of several hubs ask often.
  static constexpr std::chrono::milliseconds kProbeInterval{250};

  // Asks the database, on a connection of the probe's own (a pool whose connections are all
  // busy is no sign of an unreachable database), whether this session may write.
  Status ProbeWritable() {
    if (probe_connection_ && !probe_connection_->StillOpen()) probe_connection_.reset();
    if (!probe_connection_) {
      const PostgresStoreOptions& o = pool_.options();
      auto opened = Connection::Open(o.conninfo, o.connect_timeout, o.statement_timeout);
      if (!opened.ok()) return opened.status();
      probe_connection_ = std::move(*opened);
    }
    auto rows = probe_connection_->Exec("checking that the database takes writes", "SHOW transaction_read_only");
    if (rows.ok() && rows->Get(0, 0) == "off") return Status::Ok();
    probe_connection_.reset();
    if (!rows.ok()) return rows.status();
    return Status(Status::Code::kUnavailable, "PostgreSQL: the database is read-only (a standby, not the primary)");
  }

  // Takes `schema` to the newest layout this build knows (under the caller's advisory lock).
  static Status Migrate(Connection& t, const std::string& schema) {
    const std::string s = QuotedIdentifier(schema);
    auto exists = t.Exec("reading the schema version", "SELECT to_regclass($1) IS NOT NULL", {Param::Text(s + ".schema_version")});
    if (!exists.ok()) return exists.status();
    int64_t version = 0;
    if (exists->Get(0, 0) == "t") {
      auto rows = t.Exec("reading the schema version", InSchema("SELECT version FROM {s}.schema_version", s).c_str());
      if (!rows.ok()) return rows.status();
      auto v = rows->GetInt(0, 0);
      if (!v.ok()) return v.status();
      version = *v;
    }
    const auto& migrations = TenantMigrations();
    if (version > static_cast<int64_t>(migrations.size())) {
      return Status::Internal(fmt::format("PostgreSQL schema '{}' is at version {}, newer than this hub knows ({}): "
                                          "upgrade the hub", schema, version, migrations.size()));
    }
    for (size_t v = static_cast<size_t>(version); v < migrations.size(); ++v) {
      for (std::string_view sql : migrations[v]) {
        auto r = t.Exec(fmt::format("migrating schema '{}' to version {}", schema, v + 1), InSchema(sql, s).c_str());
        if (!r.ok()) return r.status();
      }
      auto r = t.Exec("migrating", InSchema("UPDATE {s}.schema_version SET version = $1", s).c_str(),
                      {Param::Int(static_cast<int64_t>(v + 1))});
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }

  // One fold round over every tenant. A failure is retried next round: folding only saves space
  // and read time, and the store is correct without it.
  void FoldAll() {
    for (const auto& name : ListTenants()) {
      if (closed_) return;
      auto tenant = Tenant(name, false);
      if (tenant.ok()) (void)static_cast<PgTenantStore*>(*tenant)->FoldHistory();
    }
  }

  // The tenant's shared metadata changes this hub has not applied yet, to the observers (a
  // tenant made by another hub is opened here). A failure is left for the next notification or
  // the next write's own catch-up to repair.
  void CatchUp(std::string_view tenant) {
    if (closed_ || (!tenant.empty() && !ValidTenantName(tenant))) return;
    auto ts = Tenant(tenant, false);
    if (ts.ok()) (void)static_cast<PgTenantStore*>(*ts)->CatchUp();
  }

  const PostgresStoreOptions options_;
  const std::chrono::milliseconds fold_interval_;
  Pool pool_;
  pg::SharedMetaFeed feed_;
  std::mutex listener_mutex_;
  std::unique_ptr<pg::Listener> listener_;
  std::unique_ptr<pg::HubSlotLock> hub_slot_;  // from open to Close
  std::mutex claims_mutex_;
  std::unique_ptr<pg::OutboxClaims> claims_;  // while the outbox is delivered (DeliverOutbox)
  bool listening_ = false;  // guarded by listener_mutex_
  util::PeriodicTask folder_;
  std::atomic<bool> closed_{false};
  std::mutex probe_mutex_;  // held while asking; guards the two below
  std::unique_ptr<Connection> probe_connection_;
  std::chrono::steady_clock::time_point probed_at_;
  std::mutex answer_mutex_;  // guards the last answer
  Status answer_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<PgTenantStore>, std::less<>> tenants_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(PostgresStoreOptions options) {
  auto store = std::make_unique<PostgresStore>(std::move(options));
  CITYHUB_RETURN_IF_ERROR(store->Bootstrap());
  CITYHUB_RETURN_IF_ERROR(store->TakeHubSlot());
  // The default tenant always exists, as on RocksDB.
  if (auto default_tenant = store->Tenant("", true); !default_tenant.ok()) return default_tenant.status();
  store->StartFolding();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace cityhub::store
