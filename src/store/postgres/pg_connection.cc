#include "store/postgres/pg_connection.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>

namespace cityhub::store::pg {
namespace {

// Longest server message kept in a Status (a message never needs more; a long one is noise).
constexpr size_t kMaxMessageBytes = 200;

bool Retryable(std::string_view sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

const char* BeginStatement(Isolation isolation) {
  switch (isolation) {
    case Isolation::kRepeatableRead: return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case Isolation::kSerializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case Isolation::kReadCommitted: break;
  }
  return "BEGIN ISOLATION LEVEL READ COMMITTED";
}

std::string_view Trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s.substr(0, kMaxMessageBytes);
}

}  // namespace

Param Param::Int(int64_t value) {
  Param p({}, false, false);
  p.owned_ = std::make_shared<const std::string>(std::to_string(value));
  return p;
}

// --- Rows -----------------------------------------------------------------------------------

void Rows::Free::operator()(pg_result* r) const { PQclear(r); }

Rows::Rows(pg_result* result) : result_(result) {}
Rows::~Rows() = default;

size_t Rows::size() const { return static_cast<size_t>(PQntuples(result_.get())); }
size_t Rows::columns() const { return static_cast<size_t>(PQnfields(result_.get())); }

bool Rows::IsNull(size_t row, size_t column) const {
  return PQgetisnull(result_.get(), static_cast<int>(row), static_cast<int>(column)) != 0;
}

std::string_view Rows::Get(size_t row, size_t column) const {
  const int r = static_cast<int>(row), c = static_cast<int>(column);
  return std::string_view(PQgetvalue(result_.get(), r, c), static_cast<size_t>(PQgetlength(result_.get(), r, c)));
}

Result<int64_t> Rows::GetInt(size_t row, size_t column) const {
  const std::string_view text = Get(row, column);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (IsNull(row, column) || ec != std::errc() || end != text.data() + text.size()) {
    return Status::Internal(fmt::format("PostgreSQL: column '{}' is not an integer", PQfname(result_.get(), static_cast<int>(column))));
  }
  return value;
}

uint64_t Rows::Affected() const {
  const char* n = PQcmdTuples(result_.get());
  uint64_t value = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), value);
  return value;
}

// --- Connection -----------------------------------------------------------------------------

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo, std::chrono::seconds connect_timeout,
                                                     std::chrono::milliseconds statement_timeout) {
  // libpq reads "dbname" as a whole conninfo when expand_dbname is set: the URI or key=value
  // string the operator gave, with our own settings beside it (ours win where both speak).
  const std::string timeout = std::to_string(std::max<int64_t>(2, connect_timeout.count()));  // libpq's minimum is 2 s
  const std::string idle = std::to_string(kKeepaliveIdleSeconds), interval = std::to_string(kKeepaliveIntervalSeconds),
                    count = std::to_string(kKeepaliveCount);
  const char* keys[] = {"dbname",          "connect_timeout",     "application_name", "client_encoding", "keepalives",
                        "keepalives_idle", "keepalives_interval", "keepalives_count", nullptr};
  const char* values[] = {conninfo.c_str(), timeout.c_str(),  "cityhub",     "UTF8", "1",
                          idle.c_str(),     interval.c_str(), count.c_str(), nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status(Status::Code::kUnavailable, "PostgreSQL: out of memory while connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status st = Status(Status::Code::kUnavailable, fmt::format("PostgreSQL: cannot connect to {}: {}", RedactedConninfo(conninfo),
                                                Trimmed(PQerrorMessage(conn))));
    PQfinish(conn);
    return st;
  }
  std::unique_ptr<Connection> connection(new Connection(conn));
  connection->statement_timeout_ = statement_timeout;
  PQsetNoticeReceiver(conn, &Connection::OnNotice, connection.get());
  if (Status st = connection->ApplySessionSettings(); !st.ok()) return st;
  return connection;
}

void Connection::OnNotice(void* self, const pg_result* notice) {
  // Server notices ("relation … already exists, skipping") are not for the operator's terminal;
  // two kinds matter: a warning while committing, and a fatal error announced on an idle
  // connection (the server is about to close it: terminated, shutting down).
  auto* c = static_cast<Connection*>(self);
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const std::string_view level = severity ? severity : "";
  if (c->committing_ && level == "WARNING") c->commit_warned_ = true;
  if (level == "FATAL" || level == "PANIC") c->server_unusable_ = true;
}

Status Connection::ApplySessionSettings() {
  if (statement_timeout_.count() <= 0) return Status::Ok();
  const std::string set = fmt::format("SET statement_timeout = {}", statement_timeout_.count());
  return Exec("setting the statement timeout", set.c_str()).status();
}

Status Connection::ExecUnbounded(std::string_view what, const char* sql) {
  if (statement_timeout_.count() > 0) {
    if (auto off = Exec(what, "SET statement_timeout = 0"); !off.ok()) return off.status();
  }
  Status st = Exec(what, sql).status();
  Status restored = ApplySessionSettings();
  return st.ok() ? restored : st;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::Healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

bool Connection::StillOpen() {
  if (!Reusable()) return false;
  // Reads what the server sent while the connection was idle, without waiting: its end closed
  // makes the connection bad; a fatal error it announced reaches OnNotice once parsed (PQisBusy).
  if (PQconsumeInput(conn_) == 0) return false;
  (void)PQisBusy(conn_);
  return Reusable();
}

Status Connection::Reset() {
  PQreset(conn_);
  prepared_.clear();  // a new session: nothing is prepared there
  server_unusable_ = false;
  if (!Healthy()) {
    return Status(Status::Code::kUnavailable, fmt::format("PostgreSQL: cannot reconnect: {}", Trimmed(PQerrorMessage(conn_))));
  }
  return ApplySessionSettings();
}

Status Connection::Failure(std::string_view what, pg_result* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  last_sqlstate_ = state ? state : "";
  if (!state) {
    // No answer from the server at all: the connection is gone (or libpq ran out of memory).
    last_sqlstate_ = Healthy() ? "" : "08006";
    // Lost with the statement sent: a COMMIT, or a statement committing itself, may have taken
    // effect; anything else inside a transaction has not (the server rolls it back).
    if (!Healthy() && (!in_transaction_ || committing_)) ++unknown_outcomes_;
    return Status(Status::Code::kUnavailable, fmt::format("PostgreSQL: {} failed: {}", what, Trimmed(PQerrorMessage(conn_))));
  }
  const std::string_view sqlstate = last_sqlstate_;
  if (sqlstate == "25006" || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||
      sqlstate.starts_with("08")) {
    server_unusable_ = true;
  }
  return StatusOfSqlState(what, last_sqlstate_, primary ? primary : "");
}

namespace {

// libpq's parameter arrays for `params` (views into them and into `terminated`).
struct ParamArrays {
  explicit ParamArrays(std::span<const Param> params) : values(params.size()), lengths(params.size()), formats(params.size()) {
    terminated.reserve(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const Param& p = params[i];
      lengths[i] = static_cast<int>(p.value().size());
      formats[i] = p.binary() ? 1 : 0;
      if (p.is_null()) continue;
      if (p.binary()) {
        // (libpq reads a null pointer as NULL: an empty value gets a non-null one.)
        values[i] = p.value().empty() ? "" : p.value().data();
      } else {
        // A text parameter is read up to its terminating NUL; a view need not have one.
        terminated.emplace_back(p.value());
        values[i] = terminated.back().c_str();
      }
    }
  }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  std::vector<std::string> terminated;  // reserved: never reallocated, so c_str() stays valid
};

}  // namespace

Result<Rows> Connection::Finish(std::string_view what, pg_result* result) {
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Status st = Failure(what, result);
    PQclear(result);
    return st;
  }
  last_sqlstate_.clear();
  return Rows(result);
}

Result<const std::string*> Connection::Prepared(std::string_view what, const std::string& sql, size_t params) {
  auto known = prepared_.find(sql);
  if (known == prepared_.end()) {
    std::string name = "cityhub_" + std::to_string(prepared_.size());
    auto made = Finish(what, PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(params), nullptr));
    if (!made.ok()) return made.status();
    known = prepared_.emplace(sql, std::move(name)).first;
  }
  return &known->second;
}

Result<Rows> Connection::ExecPrepared(std::string_view what, const std::string& sql, std::span<const Param> params,
                                      Format format) {
  auto name = Prepared(what, sql, params.size());
  if (!name.ok()) return name.status();
  ParamArrays p(params);
  return Finish(what, PQexecPrepared(conn_, (*name)->c_str(), static_cast<int>(params.size()), p.values.data(),
                                     p.lengths.data(), p.formats.data(), format == Format::kBinary ? 1 : 0));
}

Status Connection::SendPrepared(std::string_view what, const std::string& sql, std::span<const Param> params,
                                Format format) {
  auto name = Prepared(what, sql, params.size());
  if (!name.ok()) return name.status();
  ParamArrays p(params);
  if (PQsendQueryPrepared(conn_, (*name)->c_str(), static_cast<int>(params.size()), p.values.data(), p.lengths.data(),
                          p.formats.data(), format == Format::kBinary ? 1 : 0) != 1) {
    return Failure(what, nullptr);
  }
  return Status::Ok();
}

Result<Rows> Connection::Receive(std::string_view what) {
  pg_result* result = PQgetResult(conn_);
  // The statement's answer ends with a null result; read it so the connection is free again.
  while (pg_result* more = PQgetResult(conn_)) PQclear(more);
  return Finish(what, result);
}

Result<Rows> Connection::Exec(std::string_view what, const char* sql, std::span<const Param> params, Format format) {
  ParamArrays p(params);
  return Finish(what, PQexecParams(conn_, sql, static_cast<int>(params.size()), nullptr, p.values.data(), p.lengths.data(),
                                   p.formats.data(), format == Format::kBinary ? 1 : 0));
}

Status Connection::Transaction(std::string_view what, const std::function<Status(Connection&)>& body,
                               Isolation isolation, std::string_view with_begin) {
  Status st;
  const std::string begin =
      with_begin.empty() ? std::string(BeginStatement(isolation)) : fmt::format("{}; {}", BeginStatement(isolation), with_begin);
  for (int attempt = 0; attempt < kMaxTransactionAttempts; ++attempt) {
    in_transaction_ = true;
    // (The simple query protocol: it alone runs several statements in one round trip.)
    auto begun = with_begin.empty() ? Exec(what, begin.c_str()) : Finish(what, PQexec(conn_, begin.c_str()));
    if (!begun.ok() && with_begin.size() && Healthy()) (void)Exec(what, "ROLLBACK");
    if (!begun.ok()) {
      in_transaction_ = false;
      return begun.status();
    }
    st = body(*this);
    std::string state = last_sqlstate_;
    if (st.ok()) {
      const uint64_t unknown_before = unknown_outcomes_;
      st = Commit(what);
      if (st.ok() || unknown_outcomes_ != unknown_before) return st;
      state = last_sqlstate_;
    } else {
      (void)Exec(what, "ROLLBACK");  // a failed ROLLBACK leaves the connection unhealthy: Healthy() says so
      in_transaction_ = false;
    }
    if (!Retryable(state)) return st;
  }
  return st;
}

Status Connection::Commit(std::string_view what) {
  const uint64_t unknown_before = unknown_outcomes_;
  committing_ = true;
  commit_warned_ = false;
  auto committed = Exec(what, "COMMIT");
  committing_ = false;
  in_transaction_ = false;
  if (committed.ok() && commit_warned_) {
    ++unknown_outcomes_;
    return Status(Status::Code::kUnavailable,
                  fmt::format("PostgreSQL: {}: the commit was not confirmed by a synchronous standby (the server "
                              "stopped waiting for it); it may not survive a failover",
                              what));
  }
  if (!committed.ok() && unknown_outcomes_ != unknown_before) {
    return Status(Status::Code::kUnavailable,
                  fmt::format("PostgreSQL: {}: the connection was lost while committing, so whether the write took "
                              "effect is unknown",
                              what));
  }
  return committed.status();
}

// --- free functions -------------------------------------------------------------------------

Status StatusOfSqlState(std::string_view what, std::string_view sqlstate, std::string_view message) {
  const std::string_view cls = sqlstate.substr(0, 2);
  const bool may_quote_values = cls == "22" || cls == "23";
  const std::string text = may_quote_values
                               ? fmt::format("PostgreSQL: {} failed (SQLSTATE {})", what, sqlstate)
                               : fmt::format("PostgreSQL: {} failed: {} (SQLSTATE {})", what, Trimmed(message), sqlstate);
  if (sqlstate == "23505") return Status::AlreadyExists(text);
  // 08: connection exception; 57P0x: the server is shutting down or starting; 25006: a read-only
  // transaction (connected to a standby, e.g. just after a failover); 53: out of disk, memory or
  // connections; 40: a transaction the server rolled back (serialization failure, deadlock);
  // 57014: a statement cancelled (statement_timeout) — the server is too busy to answer in time.
  if (cls == "08" || sqlstate.starts_with("57P0") || sqlstate == "25006" || sqlstate == "57014" || cls == "53" ||
      cls == "40") {
    return Status(Status::Code::kUnavailable, text);
  }
  return Status::Internal(text);
}

std::string RedactedConninfo(std::string_view conninfo) {
  std::string out(conninfo);
  // URI form: scheme://user:password@host…
  if (const size_t scheme = out.find("://"); scheme != std::string::npos) {
    const size_t at = out.find('@', scheme + 3);
    const size_t colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // key=value form, or a URI's ?password=… parameter.
  for (size_t pos = out.find("password="); pos != std::string::npos; pos = out.find("password=", pos + 1)) {
    const size_t start = pos + 9;
    size_t end = out.find_first_of(" &", start);
    if (end == std::string::npos) end = out.size();
    out.replace(start, end - start, "***");
  }
  return out;
}

int64_t Rows::GetBigInt(size_t row, size_t column) const {
  uint64_t v = 0;
  for (unsigned char c : Get(row, column)) v = (v << 8) | c;
  return static_cast<int64_t>(v);
}

std::string InSchema(std::string_view sql, std::string_view schema) {
  std::string out;
  for (size_t at = 0;;) {
    const size_t next = sql.find("{s}", at);
    out.append(sql.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
    if (next == std::string_view::npos) return out;
    out.append(schema);
    at = next + 3;
  }
}

}  // namespace cityhub::store::pg
