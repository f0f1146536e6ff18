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

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo, std::chrono::seconds connect_timeout) {
  // libpq reads "dbname" as a whole conninfo when expand_dbname is set: the URI or key=value
  // string the operator gave, with our own settings beside it.
  const std::string timeout = std::to_string(std::max<int64_t>(2, connect_timeout.count()));  // libpq's minimum is 2 s
  const char* keys[] = {"dbname", "connect_timeout", "application_name", "client_encoding", nullptr};
  const char* values[] = {conninfo.c_str(), timeout.c_str(), "cityhub", "UTF8", nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status(Status::Code::kUnavailable, "PostgreSQL: out of memory while connecting");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status st = Status(Status::Code::kUnavailable, fmt::format("PostgreSQL: cannot connect to {}: {}", RedactedConninfo(conninfo),
                                                Trimmed(PQerrorMessage(conn))));
    PQfinish(conn);
    return st;
  }
  // Server notices ("relation … already exists, skipping") are not for the operator's terminal.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::Healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

Status Connection::Reset() {
  PQreset(conn_);
  prepared_.clear();  // a new session: nothing is prepared there
  if (Healthy()) return Status::Ok();
  return Status(Status::Code::kUnavailable, fmt::format("PostgreSQL: cannot reconnect: {}", Trimmed(PQerrorMessage(conn_))));
}

Status Connection::Failure(std::string_view what, pg_result* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  last_sqlstate_ = state ? state : "";
  if (!state) {
    // No answer from the server at all: the connection is gone (or libpq ran out of memory).
    last_sqlstate_ = Healthy() ? "" : "08006";
    return Status(Status::Code::kUnavailable, fmt::format("PostgreSQL: {} failed: {}", what, Trimmed(PQerrorMessage(conn_))));
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
  ++statements_succeeded_;
  return Rows(result);
}

Result<Rows> Connection::ExecPrepared(std::string_view what, const std::string& sql, std::span<const Param> params,
                                      Format format) {
  auto known = prepared_.find(sql);
  if (known == prepared_.end()) {
    std::string name = "cityhub_" + std::to_string(prepared_.size());
    auto made = Finish(what, PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr));
    if (!made.ok()) return made.status();
    known = prepared_.emplace(sql, std::move(name)).first;
  }
  ParamArrays p(params);
  return Finish(what, PQexecPrepared(conn_, known->second.c_str(), static_cast<int>(params.size()), p.values.data(),
                                     p.lengths.data(), p.formats.data(), format == Format::kBinary ? 1 : 0));
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
    // (The simple query protocol: it alone runs several statements in one round trip.)
    auto begun = with_begin.empty() ? Exec(what, begin.c_str()) : Finish(what, PQexec(conn_, begin.c_str()));
    if (!begun.ok() && with_begin.size() && Healthy()) (void)Exec(what, "ROLLBACK");
    if (!begun.ok()) return begun.status();
    st = body(*this);
    std::string state = last_sqlstate_;
    if (st.ok()) {
      auto committed = Exec(what, "COMMIT");
      if (committed.ok()) return Status::Ok();
      st = committed.status();
      state = last_sqlstate_;
    } else {
      (void)Exec(what, "ROLLBACK");  // a failed ROLLBACK leaves the connection unhealthy: Healthy() says so
    }
    if (!Retryable(state)) return st;
  }
  return st;
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
  // connections; 40: a transaction the server rolled back (serialization failure, deadlock).
  if (cls == "08" || sqlstate.starts_with("57P0") || sqlstate == "25006" || cls == "53" || cls == "40") {
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

}  // namespace cityhub::store::pg
