// The tests' PostgreSQL server (the CTest fixture postgres.server.start, tests/CMakeLists.txt)
// and a database of one's own on it for a test.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "store/postgres/pg_connection.h"

namespace cityhub::store::testing {

// The server's libpq URI (scripts/pg-test-cluster.sh writes it); "" when not run by ctest.
inline std::string TestServerUri() {
  const char* dir = std::getenv("CITYHUB_TEST_PG_DIR");
  if (!dir) return "";
  std::ifstream in(std::string(dir) + "/conninfo");
  std::string uri;
  std::getline(in, uri);
  return uri;
}

// A fresh database on the test server for as long as the object lives (dropped, connections
// and all, at the end). `uri()` reaches it; ok() says whether it was made.
class TestDatabase {
 public:
  explicit TestDatabase(const std::string& prefix) {
    server_ = TestServerUri();
    if (server_.empty()) {
      ADD_FAILURE() << "no test server: run through ctest (fixture postgres.server.start)";
      return;
    }
    static std::atomic<int> counter{0};
    name_ = prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    auto admin = Admin();
    if (!admin) return;
    auto made = admin->Exec("test", ("CREATE DATABASE " + name_).c_str());
    EXPECT_TRUE(made.ok()) << made.status().message();
    ok_ = made.ok();
  }
  ~TestDatabase() {
    if (!ok_) return;
    if (auto admin = Admin()) (void)admin->Exec("test", ("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").c_str());
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  // postgresql://user@host:port/postgres → …/<this database>
  std::string uri() const { return server_.substr(0, server_.rfind('/') + 1) + name_; }
  // A connection to the server's maintenance database (to create, drop, terminate).
  std::unique_ptr<pg::Connection> Admin() const {
    auto c = pg::Connection::Open(server_, std::chrono::seconds(5));
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }

 private:
  std::string server_, name_;
  bool ok_ = false;
};

}  // namespace cityhub::store::testing
