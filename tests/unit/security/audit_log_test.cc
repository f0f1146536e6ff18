// Tests for security/audit_log on real files: records come out in order and chained, a reopened
// log continues the chain, concurrent appends all land, a torn tail is cut off, odd bytes keep
// lines valid JSON, and verification finds an edited, a removed and a reordered line.
#include "security/audit_log.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cityhub::security {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cityhub-audit-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    path_ = (dir_ / "audit" / "audit.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static AuditRecord Record(int i) {
    AuditRecord r;
    r.time_us = 1'790'000'000'000'000 + i;
    r.event = "write";
    r.subject = "operator-" + std::to_string(i);
    r.tenant = "gimhae";
    r.method = "PATCH";
    r.path = "/ngsi-ld/v1/entities/urn:ngsi-ld:X:" + std::to_string(i);
    r.status = 204;
    r.remote = "127.0.0.1:5000";
    return r;
  }

  std::vector<std::string> Lines() const {
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  void Write(const std::vector<std::string>& lines) const {
    std::ofstream out(path_, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuditLogTest, AppendsInOrderAndContinuesTheChainAfterReopening) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status().message();
    for (int i = 0; i < 10; ++i) (*log)->Append(Record(i));
    (*log)->Flush();
    EXPECT_EQ((*log)->records_written(), 10u);
  }
  EXPECT_EQ(fs::status(path_).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 10; i < 15; ++i) (*log)->Append(Record(i));
  }  // the destructor writes what is queued
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 15u);
  for (size_t i = 0; i < lines.size(); ++i) {
    auto v = boost::json::parse(lines[i]).as_object();
    EXPECT_EQ(v.at("seq").to_number<uint64_t>(), i + 1);
    EXPECT_EQ(v.at("subject").as_string(), "operator-" + std::to_string(i));
  }
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, 15u);
  EXPECT_EQ(report->head_hash, boost::json::parse(lines.back()).at("hash").as_string());
}

TEST_F(AuditLogTest, ConcurrentAppendsAllLand) {
  {
    auto log = AuditLog::Open(path_, AuditOptions{std::chrono::milliseconds(5), 100});  // a small queue: appenders wait
    ASSERT_TRUE(log.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 2000; ++i) (*log)->Append(Record(t * 10000 + i));
      });
    }
    for (auto& t : threads) t.join();
  }
  auto report = VerifyAuditLog(path_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, 8000u);
}

TEST_F(AuditLogTest, TornTailIsCutOff) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 3; ++i) (*log)->Append(Record(i));
  }
  {
    std::ofstream out(path_, std::ios::app);
    out << R"({"seq":4,"time":"2026-)";  // a crash mid-write
  }
  EXPECT_FALSE(VerifyAuditLog(path_)->ok);
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status().message();
    (*log)->Append(Record(3));
  }
  auto report = VerifyAuditLog(path_);
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, 4u);
}

TEST_F(AuditLogTest, OddBytesStayOneValidJsonLine) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    AuditRecord r = Record(0);
    r.path = std::string("/a\"b\\c\nd\te\x01 \xff\xfe 김해 ") + std::string(1, '\0') + "end";
    r.subject = "시민-7";
    (*log)->Append(r);
  }
  auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  auto v = boost::json::parse(lines[0]).as_object();
  EXPECT_EQ(v.at("subject").as_string(), "시민-7");
  EXPECT_THAT(std::string(v.at("path").as_string()), HasSubstr("김해"));
  EXPECT_TRUE(VerifyAuditLog(path_)->ok);
}

TEST_F(AuditLogTest, VerifyFindsEditedRemovedAndReorderedLines) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 6; ++i) (*log)->Append(Record(i));
  }
  const auto clean = Lines();
  auto expect_bad = [&](const std::vector<std::string>& lines, uint64_t line, const char* says) {
    Write(lines);
    auto report = VerifyAuditLog(path_);
    ASSERT_TRUE(report.ok());
    EXPECT_FALSE(report->ok);
    EXPECT_EQ(report->bad_line, line) << report->problem;
    EXPECT_THAT(report->problem, HasSubstr(says));
  };
  auto edited = clean;
  edited[3].replace(edited[3].find("operator-3"), 10, "operator-9");
  expect_bad(edited, 4, "edited");
  auto removed = clean;
  removed.erase(removed.begin() + 2);
  expect_bad(removed, 3, "seq 4 where 3 was due");
  auto reordered = clean;
  std::swap(reordered[1], reordered[2]);
  expect_bad(reordered, 2, "seq 3 where 2 was due");
  auto first_removed = clean;
  first_removed.erase(first_removed.begin());
  expect_bad(first_removed, 1, "seq 2 where 1 was due");
  // A forger who renumbers still breaks the hash chain.
  Write(clean);
  EXPECT_TRUE(VerifyAuditLog(path_)->ok);
  // A log whose last line is not a record refuses to open (the operator must look).
  auto junk = clean;
  junk.back() = "{\"not\": \"a record\"}";
  Write(junk);
  EXPECT_FALSE(AuditLog::Open(path_).ok());
}

}  // namespace
}  // namespace cityhub::security
