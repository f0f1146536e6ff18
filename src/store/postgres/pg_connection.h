// One connection to PostgreSQL through libpq, as the PostgreSQL store uses it (issue 20): every
// statement sends its values as parameters apart from the SQL text (never spliced into it), rows
// are read as text or raw bytes, and every failure becomes a Status that names what the store was
// doing and the server's SQLSTATE — never the values involved, which may be personal data.
//
// A Connection is used by one thread at a time (libpq's rule); the store keeps a pool of them.
// libpq's headers stay in the .cc: including this pulls in none.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/status.h"

struct pg_conn;
struct pg_result;

namespace cityhub::store::pg {

// A statement parameter: text, raw bytes (sent in binary, for bytea columns), or NULL.
class Param {
 public:
  static Param Text(std::string_view value) { return Param(value, false, false); }
  static Param Bytes(std::string_view value) { return Param(value, true, false); }
  static Param Int(int64_t value);
  static Param Null() { return Param({}, false, true); }

  std::string_view value() const { return owned_ ? std::string_view(*owned_) : value_; }
  bool binary() const { return binary_; }
  bool is_null() const { return is_null_; }

 private:
  Param(std::string_view value, bool binary, bool is_null) : value_(value), binary_(binary), is_null_(is_null) {}
  std::string_view value_;
  std::shared_ptr<const std::string> owned_;  // Int's text (a Param may be copied freely)
  bool binary_ = false;
  bool is_null_ = false;
};

// A transaction's isolation level (PostgreSQL's; READ COMMITTED is its default).
enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

// How the columns of the answer come back: as text (numbers, timestamps in PostgreSQL's text
// form) or in binary (bytea as its raw bytes; other types in PostgreSQL's binary format).
enum class Format { kText, kBinary };

// The rows a statement answered. Views returned by Get live as long as the Rows.
class Rows {
 public:
  Rows(Rows&&) noexcept = default;
  Rows& operator=(Rows&&) noexcept = default;
  ~Rows();

  size_t size() const;
  size_t columns() const;
  bool IsNull(size_t row, size_t column) const;
  // The column's value: its text, or its bytes in a binary answer ("" when NULL).
  std::string_view Get(size_t row, size_t column) const;
  // A text column holding an integer; InternalError naming the column otherwise.
  Result<int64_t> GetInt(size_t row, size_t column) const;
  // A bigint column of a binary answer (8 bytes, big endian).
  int64_t GetBigInt(size_t row, size_t column) const;
  // How many rows an INSERT, UPDATE or DELETE touched.
  uint64_t Affected() const;

 private:
  friend class Connection;
  explicit Rows(pg_result* result);
  struct Free {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Free> result_;
};

class Connection {
 public:
  // Limits (documented in docs/OPERATIONS.md with --store).
  static constexpr int kMaxTransactionAttempts = 5;  // a serialization failure or deadlock is retried
  // TCP keepalives on every connection: a server that went silent (a machine lost, a network cut)
  // is noticed within idle + interval × count seconds, even while a statement waits for its answer.
  static constexpr int kKeepaliveIdleSeconds = 5, kKeepaliveIntervalSeconds = 2, kKeepaliveCount = 3;

  // Connects to `conninfo`: a libpq URI or key=value string, several hosts allowed
  // ("postgresql://h1:5432,h2:5432/city?target_session_attrs=read-write" follows a promotion:
  // libpq tries the hosts in turn and keeps the one that accepts writes). Unavailable, with
  // libpq's reason, when no host accepts within `connect_timeout` (per host). A
  // `statement_timeout` above zero is set on the session: the server cancels a statement that
  // runs longer (SQLSTATE 57014, Unavailable).
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo, std::chrono::seconds connect_timeout,
                                                  std::chrono::milliseconds statement_timeout = {});

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement. `what` says what the store was doing, for the error message.
  Result<Rows> Exec(std::string_view what, const char* sql, std::span<const Param> params = {},
                    Format format = Format::kText);
  Result<Rows> Exec(std::string_view what, const char* sql, std::initializer_list<Param> params,
                    Format format = Format::kText) {
    return Exec(what, sql, std::span<const Param>(params.begin(), params.size()), format);
  }

  // As Exec, for a statement run again and again: prepared on this connection the first time
  // (parsed and planned once; PostgreSQL may keep a generic plan), then only executed.
  Result<Rows> ExecPrepared(std::string_view what, const std::string& sql, std::span<const Param> params = {},
                            Format format = Format::kText);
  Result<Rows> ExecPrepared(std::string_view what, const std::string& sql, std::initializer_list<Param> params,
                            Format format = Format::kText) {
    return ExecPrepared(what, sql, std::span<const Param>(params.begin(), params.size()), format);
  }

  // ExecPrepared in two halves, so that the caller works while the server runs the statement and
  // sends its rows: SendPrepared sends it without waiting, Receive waits for its answer. Between
  // the two nothing else may run on this connection, and every SendPrepared that succeeded must
  // be followed by its Receive (the answer is read even when the caller no longer wants it).
  Status SendPrepared(std::string_view what, const std::string& sql, std::span<const Param> params,
                      Format format = Format::kText);
  Result<Rows> Receive(std::string_view what);

  // Runs one maintenance statement (VACUUM, which may rightly take minutes) without the
  // statement timeout, which is set again afterwards.
  Status ExecUnbounded(std::string_view what, const char* sql);

  // Runs `body` between BEGIN and COMMIT (ROLLBACK when it or the commit fails). A transaction
  // the server aborted as a serialization failure or a deadlock (SQLSTATE 40001, 40P01) is run
  // again, `body` included, up to kMaxTransactionAttempts times: `body` must have no effect
  // outside the database before the commit. `with_begin`: SQL without parameters (constants
  // only) run in the same round trip as BEGIN, e.g. taking an advisory lock — a statement of its
  // own, so the transaction's next statement sees what committed while it waited for the lock.
  // When the COMMIT was sent but its answer never came (the connection was lost) or came with a
  // warning (the server cancelled its wait for the synchronous standby: committed there, maybe
  // not replicated), the outcome is unknown: Unavailable, and unknown_outcomes() grows.
  Status Transaction(std::string_view what, const std::function<Status(Connection&)>& body,
                     Isolation isolation = Isolation::kReadCommitted, std::string_view with_begin = {});

  // The SQLSTATE of the last failed statement ("" if the last one succeeded).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  // How many statements failed here without telling whether their work was committed: a COMMIT
  // (or a statement outside a transaction, which commits itself) sent on a connection that was
  // lost before its answer, or a COMMIT answered with a warning. A caller that sees it grow
  // must not run the work again on its own, nor report it done.
  uint64_t unknown_outcomes() const { return unknown_outcomes_; }
  // False once the connection is lost (the server went away, a failover); Reset reconnects.
  bool Healthy() const;
  // Whether the connection may serve another caller: healthy, and its server has not answered
  // that it is read-only (a standby: SQLSTATE 25006) or shutting down (57P01–57P03).
  bool Reusable() const { return Healthy() && !server_unusable_; }
  // Reusable, and its server has not closed it while it sat idle (looks at the socket without
  // waiting: a server that died or was restarted has closed its end).
  bool StillOpen();
  Status Reset();

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  Status Failure(std::string_view what, pg_result* result);
  Result<Rows> Finish(std::string_view what, pg_result* result);
  // The name of `sql` prepared on this connection, preparing it the first time.
  Result<const std::string*> Prepared(std::string_view what, const std::string& sql, size_t params);
  Status Commit(std::string_view what);
  Status ApplySessionSettings();
  static void OnNotice(void* self, const pg_result* notice);

  pg_conn* conn_;
  std::string last_sqlstate_;
  uint64_t unknown_outcomes_ = 0;
  bool in_transaction_ = false;  // between BEGIN and the COMMIT's answer: a lost statement commits nothing
  bool committing_ = false;      // the COMMIT is under way
  bool commit_warned_ = false;   // the server sent a warning while committing
  bool server_unusable_ = false;
  std::chrono::milliseconds statement_timeout_{0};
  std::unordered_map<std::string, std::string> prepared_;  // SQL → its statement name here
};

// The Status a SQLSTATE stands for: unique_violation → AlreadyExists; connection loss, server
// shutdown, a read-only server (a standby after failover), a statement cancelled by
// statement_timeout or exhausted resources → Unavailable;
// anything else → Internal. `message` is the server's primary message, left out for data and
// integrity errors (classes 22 and 23), whose messages can quote the values.
Status StatusOfSqlState(std::string_view what, std::string_view sqlstate, std::string_view message);

// The conninfo with any password replaced by "***", for logs and error messages.
std::string RedactedConninfo(std::string_view conninfo);

// `sql` with every {s} replaced by the schema (a tenant's statements name its schema so).
std::string InSchema(std::string_view sql, std::string_view schema);

}  // namespace cityhub::store::pg
