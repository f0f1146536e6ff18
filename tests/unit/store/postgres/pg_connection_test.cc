// pg::Connection against a real PostgreSQL 15 (the CTest fixture's server, see CMakeLists.txt).
#include "store/postgres/pg_connection.h"

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_server.h"

namespace cityhub::store::pg {
namespace {

using namespace std::chrono_literals;

using cityhub::store::testing::TestServerUri;

class PgConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string uri = TestServerUri();
    ASSERT_FALSE(uri.empty()) << "no test server: run through ctest (fixture postgres.server.start)";
    auto c = Connection::Open(uri, 5s);
    ASSERT_TRUE(c.ok()) << c.status().message();
    conn_ = std::move(*c);
    // A temporary table: private to this session, gone with it.
    ASSERT_TRUE(conn_->Exec("create", "CREATE TEMP TABLE t (id text PRIMARY KEY, doc bytea, n bigint)").ok());
  }

  Result<std::unique_ptr<Connection>> Another() { return Connection::Open(TestServerUri(), 5s); }

  std::unique_ptr<Connection> conn_;
};

TEST_F(PgConnectionTest, ParametersTravelApartFromTheSql) {
  auto sum = conn_->Exec("add", "SELECT $1::bigint + 1", {Param::Int(41)});
  ASSERT_TRUE(sum.ok()) << sum.status().message();
  ASSERT_EQ(sum->size(), 1u);
  EXPECT_EQ(sum->GetInt(0, 0).value(), 42);

  // A value shaped like SQL is stored as it is and runs nothing.
  const std::string hostile = "x'); DROP TABLE t; --";
  ASSERT_TRUE(conn_->Exec("insert", "INSERT INTO t (id) VALUES ($1)", {Param::Text(hostile)}).ok());
  auto rows = conn_->Exec("select", "SELECT id FROM t");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->Get(0, 0), hostile);
}

TEST_F(PgConnectionTest, TextViewsNeedNoTerminatingNul) {
  const std::string buffer = "urn:a|urn:b";
  const std::string_view first = std::string_view(buffer).substr(0, 5);  // "urn:a", not NUL-terminated
  ASSERT_TRUE(conn_->Exec("insert", "INSERT INTO t (id) VALUES ($1)", {Param::Text(first)}).ok());
  auto rows = conn_->Exec("select", "SELECT id FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->Get(0, 0), "urn:a");
}

TEST_F(PgConnectionTest, BytesRoundTripInBinary) {
  const std::string bytes("a\0b\xff\x01", 5);
  ASSERT_TRUE(conn_->Exec("insert", "INSERT INTO t (id, doc) VALUES ('k', $1)", {Param::Bytes(bytes)}).ok());
  auto rows = conn_->Exec("select", "SELECT doc FROM t WHERE id = $1", {Param::Text("k")}, Format::kBinary);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->Get(0, 0), bytes);
}

TEST_F(PgConnectionTest, NullsAreNulls) {
  ASSERT_TRUE(conn_->Exec("insert", "INSERT INTO t (id, n) VALUES ('k', $1)", {Param::Null()}).ok());
  auto rows = conn_->Exec("select", "SELECT n FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->IsNull(0, 0));
  EXPECT_FALSE(rows->GetInt(0, 0).ok());
}

TEST_F(PgConnectionTest, AffectedCountsTheRowsTouched) {
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(conn_->Exec("insert", "INSERT INTO t (id, n) VALUES ($1, 1)", {Param::Text(id)}).ok());
  auto updated = conn_->Exec("update", "UPDATE t SET n = 2 WHERE id <> $1", {Param::Text("a")});
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->Affected(), 2u);
}

TEST_F(PgConnectionTest, UniqueViolationIsAlreadyExistsWithoutTheValue) {
  const std::string id = "urn:ngsi-ld:Person:kim-minji";
  ASSERT_TRUE(conn_->Exec("insert", "INSERT INTO t (id) VALUES ($1)", {Param::Text(id)}).ok());
  auto again = conn_->Exec("creating the entity", "INSERT INTO t (id) VALUES ($1)", {Param::Text(id)});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find("creating the entity"), std::string::npos) << again.status().message();
  EXPECT_NE(again.status().message().find("23505"), std::string::npos);
  EXPECT_EQ(again.status().message().find("kim-minji"), std::string::npos) << again.status().message();
  EXPECT_EQ(conn_->last_sqlstate(), "23505");
}

TEST_F(PgConnectionTest, SqlErrorsNameWhatFailed) {
  auto bad = conn_->Exec("reading the schema version", "SELEC 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInternal);
  EXPECT_NE(bad.status().message().find("reading the schema version"), std::string::npos);
  EXPECT_NE(bad.status().message().find("42601"), std::string::npos) << bad.status().message();
  // The connection stays usable, and a success clears the SQLSTATE.
  EXPECT_TRUE(conn_->Exec("select", "SELECT 1").ok());
  EXPECT_EQ(conn_->last_sqlstate(), "");
}

TEST_F(PgConnectionTest, TransactionCommitsOrRollsBackAsAWhole) {
  Status st = conn_->Transaction("two inserts", [](Connection& c) -> Status {
    if (auto r = c.Exec("insert", "INSERT INTO t (id) VALUES ('one')"); !r.ok()) return r.status();
    return Status::BadRequestData("the caller changed its mind");
  });
  EXPECT_EQ(st.code(), Status::Code::kBadRequestData);
  auto none = conn_->Exec("count", "SELECT count(*) FROM t");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->GetInt(0, 0).value(), 0) << "the failed body's insert was rolled back";

  st = conn_->Transaction("two inserts", [](Connection& c) -> Status {
    for (const char* id : {"one", "two"}) {
      if (auto r = c.Exec("insert", "INSERT INTO t (id) VALUES ($1)", {Param::Text(id)}); !r.ok()) return r.status();
    }
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.message();
  auto two = conn_->Exec("count", "SELECT count(*) FROM t");
  EXPECT_EQ(two->GetInt(0, 0).value(), 2);
}

TEST_F(PgConnectionTest, SerializationFailuresAreRetriedThenGivenUp) {
  // The server says 40001 on the first attempt only: the body runs again and commits.
  int attempts = 0;
  Status st = conn_->Transaction("a retried write", [&](Connection& c) -> Status {
    ++attempts;
    if (auto r = c.Exec("insert", "INSERT INTO t (id, n) VALUES ('k', $1)", {Param::Int(attempts)}); !r.ok()) return r.status();
    if (attempts == 1) {
      auto r = c.Exec("conflict", "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$");
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }, Isolation::kSerializable);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(attempts, 2);
  auto rows = conn_->Exec("select", "SELECT n FROM t WHERE id = 'k'");
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->GetInt(0, 0).value(), 2) << "only the second attempt's write is kept";

  // Always a deadlock: given up after the limit, as Unavailable.
  attempts = 0;
  st = conn_->Transaction("a doomed write", [&](Connection& c) -> Status {
    ++attempts;
    auto r = c.Exec("conflict", "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$");
    return r.ok() ? Status::Ok() : r.status();
  });
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(attempts, Connection::kMaxTransactionAttempts);
}

TEST_F(PgConnectionTest, ALostConnectionIsUnavailableAndReconnects) {
  auto pid = conn_->Exec("pid", "SELECT pg_backend_pid()");
  ASSERT_TRUE(pid.ok());
  auto other = Another();
  ASSERT_TRUE(other.ok()) << other.status().message();
  ASSERT_TRUE((*other)->Exec("terminate", "SELECT pg_terminate_backend($1::int)", {Param::Text(pid->Get(0, 0))}).ok());

  auto lost = conn_->Exec("select", "SELECT 1");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), Status::Code::kUnavailable) << lost.status().message();
  EXPECT_FALSE(conn_->Healthy());
  ASSERT_TRUE(conn_->Reset().ok());
  EXPECT_TRUE(conn_->Healthy());
  EXPECT_TRUE(conn_->Exec("select", "SELECT 1").ok());
}

TEST(PgConnectionOpen, NoServerIsUnavailableAndThePasswordIsNotRepeated) {
  const auto start = std::chrono::steady_clock::now();
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  auto c = Connection::Open("postgresql://cityhub:s3cret-pw@127.0.0.1:1/city", 2s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(c.status().message().find("s3cret-pw"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("127.0.0.1"), std::string::npos) << c.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(PgConnectionOpen, MultiHostConnInfoSkipsADeadHost) {
  const std::string uri = TestServerUri();
  ASSERT_FALSE(uri.empty());
  // postgresql://cityhub@127.0.0.1:PORT/postgres → the same with a dead host first.
  const size_t at = uri.find('@');
  auto c = Connection::Open(uri.substr(0, at + 1) + "127.0.0.1:1," + uri.substr(at + 1), 5s);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE((*c)->Exec("select", "SELECT 1").ok());
}

TEST(PgStatus, SqlStatesMapToStatusCodes) {
  EXPECT_EQ(StatusOfSqlState("w", "23505", "dup").code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(StatusOfSqlState("w", "08006", "gone").code(), Status::Code::kUnavailable);
  EXPECT_EQ(StatusOfSqlState("w", "57P01", "shutdown").code(), Status::Code::kUnavailable);
  EXPECT_EQ(StatusOfSqlState("w", "25006", "read-only").code(), Status::Code::kUnavailable);
  EXPECT_EQ(StatusOfSqlState("w", "53100", "disk full").code(), Status::Code::kUnavailable);
  EXPECT_EQ(StatusOfSqlState("w", "42P01", "no table").code(), Status::Code::kInternal);
  // Data errors can quote the value: their message is left out.
  const Status data = StatusOfSqlState("w", "22P02", "invalid input syntax for type bigint: \"kim\"");
  EXPECT_EQ(data.message().find("kim"), std::string::npos);
  EXPECT_NE(data.message().find("22P02"), std::string::npos);
}

TEST(PgConninfo, PasswordsAreRedacted) {
  EXPECT_EQ(RedactedConninfo("postgresql://hub:pw@db1:5432,db2:5432/city"), "postgresql://hub:***@db1:5432,db2:5432/city");
  EXPECT_EQ(RedactedConninfo("host=db1 user=hub password=pw dbname=city"), "host=db1 user=hub password=*** dbname=city");
  EXPECT_EQ(RedactedConninfo("postgresql://db1/city?user=hub&password=pw&sslmode=require"),
            "postgresql://db1/city?user=hub&password=***&sslmode=require");
  EXPECT_EQ(RedactedConninfo("postgresql://hub@db1/city"), "postgresql://hub@db1/city");
}

// A commit whose answer never comes may or may not have taken effect: the caller is told so,
// and unknown_outcomes() counts it. (A deferred trigger ends the session inside the COMMIT.)
TEST_F(PgConnectionTest, ACommitLostInFlightHasAnUnknownOutcome) {
  ASSERT_TRUE(conn_->Exec("trigger", "CREATE FUNCTION pg_temp.end_session() RETURNS trigger LANGUAGE plpgsql AS "
                                     "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$")
                  .ok());
  ASSERT_TRUE(conn_->Exec("trigger", "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED "
                                     "FOR EACH ROW EXECUTE FUNCTION pg_temp.end_session()")
                  .ok());
  Status st = conn_->Transaction("inserting", [](Connection& c) {
    return c.Exec("insert", "INSERT INTO t (id) VALUES ('a')").status();
  });
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_NE(st.message().find("unknown"), std::string::npos) << st.message();
  EXPECT_EQ(conn_->unknown_outcomes(), 1u);
  EXPECT_FALSE(conn_->Reusable());
}

// Lost before its COMMIT, a transaction is rolled back by the server: its outcome is known.
TEST_F(PgConnectionTest, ATransactionLostBeforeItsCommitHasAKnownOutcome) {
  Status st = conn_->Transaction("inserting", [](Connection& c) {
    auto inserted = c.Exec("insert", "INSERT INTO t (id) VALUES ('a')");
    if (!inserted.ok()) return inserted.status();
    return c.Exec("end", "SELECT pg_terminate_backend(pg_backend_pid())").status();
  });
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(conn_->unknown_outcomes(), 0u);
  EXPECT_FALSE(conn_->Reusable());
}

// A warning while committing (as when the server stops waiting for its synchronous standby):
// committed here, but not as promised — Unavailable, outcome unknown.
TEST_F(PgConnectionTest, ACommitAnsweredWithAWarningIsNotReportedDone) {
  ASSERT_TRUE(conn_->Exec("trigger", "CREATE FUNCTION pg_temp.warn() RETURNS trigger LANGUAGE plpgsql AS "
                                     "$$ BEGIN RAISE WARNING 'not replicated'; RETURN NULL; END $$")
                  .ok());
  ASSERT_TRUE(conn_->Exec("trigger", "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED "
                                     "FOR EACH ROW EXECUTE FUNCTION pg_temp.warn()")
                  .ok());
  Status st = conn_->Transaction("inserting", [](Connection& c) {
    return c.Exec("insert", "INSERT INTO t (id) VALUES ('a')").status();
  });
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(conn_->unknown_outcomes(), 1u);
  EXPECT_TRUE(conn_->Reusable()) << "the session itself is fine";
  auto rows = conn_->Exec("count", "SELECT count(*) FROM t");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->Get(0, 0), "1") << "the row was committed: why the outcome is 'unknown', not 'failed'";
  // A warning outside a COMMIT is no such sign.
  ASSERT_TRUE(conn_->Exec("warn", "DO $$ BEGIN RAISE WARNING 'elsewhere'; END $$").ok());
  EXPECT_TRUE(conn_->Transaction("reading", [](Connection& c) { return c.Exec("select", "SELECT 1").status(); }).ok());
  EXPECT_EQ(conn_->unknown_outcomes(), 1u);
}

// A standby (here: a session made read-only) refuses writes: Unavailable, and the connection is
// not to be reused — after a failover it would keep reaching the old server.
TEST_F(PgConnectionTest, AReadOnlyServerMakesTheConnectionUnusable) {
  ASSERT_TRUE(conn_->Exec("read-only", "SET default_transaction_read_only = on").ok());
  // (Temporary tables stay writable in a read-only transaction: a table of the database is not.)
  auto refused = conn_->Exec("create", "CREATE TABLE not_on_a_standby (x int)");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable) << refused.status().message();
  EXPECT_EQ(conn_->last_sqlstate(), "25006");
  EXPECT_TRUE(conn_->Healthy());
  EXPECT_FALSE(conn_->Reusable());
}

// A statement running past the connection's statement_timeout is cancelled by the server.
TEST(PgConnectionOpen, AStatementTimeoutCancelsALongStatement) {
  auto c = Connection::Open(TestServerUri(), 5s, 200ms);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const auto start = std::chrono::steady_clock::now();
  auto slow = (*c)->Exec("sleeping", "SELECT pg_sleep(10)");
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), Status::Code::kUnavailable) << slow.status().message();
  EXPECT_EQ((*c)->last_sqlstate(), "57014");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE((*c)->Reusable());
}

// Maintenance runs past the statement timeout; the timeout holds again afterwards.
TEST(PgConnectionOpen, AnUnboundedStatementOutlivesTheStatementTimeout) {
  auto c = Connection::Open(TestServerUri(), 5s, 200ms);
  ASSERT_TRUE(c.ok()) << c.status().message();
  Status slow = (*c)->ExecUnbounded("sleeping", "SELECT pg_sleep(0.5)");
  EXPECT_TRUE(slow.ok()) << slow.message();
  auto again = (*c)->Exec("sleeping", "SELECT pg_sleep(0.5)");
  EXPECT_FALSE(again.ok());
  EXPECT_EQ((*c)->last_sqlstate(), "57014");
}

// An idle connection whose server ended it is found out without sending anything.
TEST_F(PgConnectionTest, StillOpenNoticesAnIdleConnectionTheServerEnded) {
  EXPECT_TRUE(conn_->StillOpen());
  auto pid = conn_->Exec("pid", "SELECT pg_backend_pid()");
  ASSERT_TRUE(pid.ok());
  auto other = Another();
  ASSERT_TRUE(other.ok()) << other.status().message();
  ASSERT_TRUE((*other)->Exec("terminate", "SELECT pg_terminate_backend($1::int)", {Param::Text(pid->Get(0, 0))}).ok());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (conn_->StillOpen() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(conn_->StillOpen());
}

}  // namespace
}  // namespace cityhub::store::pg
