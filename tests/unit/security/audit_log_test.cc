// Tests for security/audit_log on real files: records come out in order, chained and hashed as
// the format says; a reopened log continues the chain; concurrent appends all land; Flush and a
// full queue do not wait for the flush interval; a torn tail is cut off; odd bytes keep lines
// one valid JSON line of bounded size; verification names an edited, removed, reordered or
// rewritten line; Open refuses a log whose last line is not an intact record; rotation keeps one
// chain across files, verified across them; repeated records are summarised.
#include "security/audit_log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

namespace cityhub::security {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr), 1);
  std::string out;
  for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

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

  void AppendRecords(int from, int to) const {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status().message();
    for (int i = from; i < to; ++i) (*log)->Append(Record(i));
  }  // the destructor writes what is queued

  std::vector<std::string> Lines() const {
    std::ifstream in(path_, std::ios::binary);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  void Write(const std::vector<std::string>& lines, std::string_view tail = "") const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
    out << tail;
  }
  AuditVerifyReport Verify() const {
    auto report = VerifyAuditLog(path_);
    EXPECT_TRUE(report.ok()) << report.status().message();
    return report.ok() ? *report : AuditVerifyReport{};
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuditLogTest, AppendsInOrderChainedAndHashedAsTheFormatSays) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok()) << log.status().message();
    for (int i = 0; i < 10; ++i) (*log)->Append(Record(i));
    (*log)->Flush();
    EXPECT_EQ((*log)->records_written(), 10u);
  }
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 10u);
  std::string prev(64, '0');
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto v = boost::json::parse(lines[i]).as_object();
    EXPECT_EQ(v.at("seq").to_number<uint64_t>(), i + 1);
    EXPECT_EQ(v.at("subject").as_string(), "operator-" + std::to_string(i));
    EXPECT_EQ(v.at("status").as_int64(), 204);
    EXPECT_EQ(v.at("prev").as_string(), prev);
    const size_t at = lines[i].rfind(",\"hash\":\"");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(v.at("hash").as_string(), Sha256Hex(std::string_view(lines[i]).substr(0, at)));
    prev = std::string(v.at("hash").as_string());
  }
  EXPECT_EQ(boost::json::parse(lines[3]).at("time").as_string(), "2026-09-21T14:13:20.000003Z");
  EXPECT_THAT(lines[0], MatchesRegex(R"(\{"seq":1,"time":"[^"]+","event":"write","subject":"operator-0","tenant":"gimhae",)"
                                     R"("method":"PATCH","path":"[^"]+","status":204,"remote":"127.0.0.1:5000","detail":"",)"
                                     R"("prev":"0{64}","hash":"[0-9a-f]{64}"\})"));
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records, 10u);
  EXPECT_EQ(report.head_hash, prev);
}

TEST_F(AuditLogTest, ReopeningContinuesTheChainWithPrivatePermissions) {
  AppendRecords(0, 10);
  AppendRecords(10, 15);
  EXPECT_EQ(fs::status(path_).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir_ / "audit").permissions() & fs::perms::all, fs::perms::owner_all);
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 15u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(boost::json::parse(lines[i]).at("seq").to_number<uint64_t>(), i + 1);
  }
  EXPECT_EQ(boost::json::parse(lines[10]).at("prev"), boost::json::parse(lines[9]).at("hash"));
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records, 15u);
  EXPECT_EQ(report.head_hash, boost::json::parse(lines.back()).at("hash").as_string());
}

TEST_F(AuditLogTest, ConcurrentAppendsAllLandInEachThreadsOrder) {
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
    (*log)->Flush();
    EXPECT_EQ((*log)->records_written(), 8000u);
  }
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records, 8000u);
  std::set<std::string> subjects;
  int last_of_thread[4] = {-1, -1, -1, -1};
  for (const auto& line : Lines()) {
    const std::string subject(boost::json::parse(line).at("subject").as_string());
    subjects.insert(subject);
    const int n = std::stoi(subject.substr(subject.find('-') + 1));
    EXPECT_GT(n % 10000, last_of_thread[n / 10000]) << subject;
    last_of_thread[n / 10000] = n % 10000;
  }
  EXPECT_EQ(subjects.size(), 8000u);
}

TEST_F(AuditLogTest, FlushAndAFullQueueDoNotWaitForTheInterval) {
  const auto start = std::chrono::steady_clock::now();
  {
    auto log = AuditLog::Open(path_, AuditOptions{std::chrono::hours(1), 10});
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 95; ++i) (*log)->Append(Record(i));  // blocks nine times on a full queue
    EXPECT_GE((*log)->records_written(), 80u);
    (*log)->Flush();
    EXPECT_EQ((*log)->records_written(), 95u);
    EXPECT_EQ(Lines().size(), 95u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(AuditLogTest, TornTailIsCutOffAndTheChainContinues) {
  AppendRecords(0, 3);
  Write(Lines(), R"({"seq":4,"time":"2026-)");  // a crash mid-write
  EXPECT_FALSE(Verify().ok);
  AppendRecords(3, 4);
  auto report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records, 4u);
  // Longer than the chunk Open reads the tail in: a long record, then a long torn line.
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    AuditRecord r = Record(4);
    r.detail = std::string(200'000, 'd');
    (*log)->Append(r);
  }
  Write(Lines(), std::string(150'000, 'x'));
  AppendRecords(5, 6);
  report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records, 6u);
  // A file that is nothing but a torn line starts a new chain.
  Write({}, "{\"seq\":1,");
  AppendRecords(0, 1);
  report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.records, 1u);
}

TEST_F(AuditLogTest, OddBytesRoundTripOnOneValidJsonLine) {
  const std::string odd = std::string("/a\"b\\c\nd\re\tf\x01\x1f\x7f g/ 김해 🌊 ") + std::string(1, '\0') + "end";
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    AuditRecord r = Record(0);
    r.path = odd;
    r.subject = "시민-7";
    r.time_us = -1;  // before the epoch: still a valid time
    r.detail = "bad \xff\xfe utf-8 \xed\xa0\x80 \xc0\xaf";  // invalid byte, surrogate, overlong
    (*log)->Append(r);
  }
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 1u);
  for (char c : lines[0]) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "a raw control character";
  const auto v = boost::json::parse(lines[0]).as_object();  // also checks it is valid UTF-8
  EXPECT_EQ(v.at("path").as_string(), odd);
  EXPECT_EQ(v.at("subject").as_string(), "시민-7");
  EXPECT_EQ(v.at("time").as_string(), "1969-12-31T23:59:59.999999Z");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(v.at("detail").as_string(), "bad " + fffd + fffd + " utf-8 " + fffd + fffd + fffd + " " + fffd + fffd);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, VerifyNamesTheFirstBadLine) {
  AppendRecords(0, 6);
  const auto clean = Lines();
  auto expect_bad = [&](const std::vector<std::string>& lines, uint64_t line, const std::string& says) {
    Write(lines);
    const auto report = Verify();
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.bad_line, line) << report.problem;
    EXPECT_EQ(report.records, line - 1);
    EXPECT_THAT(report.problem, HasSubstr(says));
  };
  auto edited = clean;
  edited[3].replace(edited[3].find("operator-3"), 10, "operator-9");
  expect_bad(edited, 4, "line 4: hash does not match its content (edited)");
  auto removed = clean;
  removed.erase(removed.begin() + 2);
  expect_bad(removed, 3, "line 3: seq 4 follows 2 (a record was removed");
  auto swapped = clean;
  std::swap(swapped[1], swapped[4]);
  expect_bad(swapped, 2, "line 2: seq 5 follows 1");
  auto first_removed = clean;
  first_removed.erase(first_removed.begin());
  expect_bad(first_removed, 1, "line 1: seq 2 but the chain starts at 1");
  // Edited and re-hashed: the line itself is consistent, the next one's prev is not.
  auto rehashed = clean;
  const size_t at = rehashed[2].rfind(",\"hash\":\"");
  std::string body = rehashed[2].substr(0, at);
  body.replace(body.find("\"status\":204"), 12, "\"status\":200");
  rehashed[2] = body + ",\"hash\":\"" + Sha256Hex(body) + "\"}";
  expect_bad(rehashed, 4, "line 4: prev does not match line 3's hash");
  expect_bad({clean[0], "{\"seq\":2}", clean[2]}, 2, "line 2: not an audit record");
  Write(clean, "{\"seq\":7");
  const auto torn = Verify();
  EXPECT_FALSE(torn.ok);
  EXPECT_EQ(torn.bad_line, 7u);
  EXPECT_THAT(torn.problem, HasSubstr("no line end"));
  // The clean file verifies; an empty one too; a missing one is an error, not a report.
  Write(clean);
  EXPECT_TRUE(Verify().ok);
  Write({});
  EXPECT_TRUE(Verify().ok);
  EXPECT_EQ(VerifyAuditLog((dir_ / "missing.log").string()).status().code(), Status::Code::kNotFound);
}

TEST_F(AuditLogTest, OpenRefusesALastLineThatIsNotAnIntactRecord) {
  AppendRecords(0, 3);
  const auto clean = Lines();
  auto refused = [&](const std::vector<std::string>& lines, const std::string& says) {
    Write(lines);
    auto log = AuditLog::Open(path_);
    ASSERT_FALSE(log.ok()) << says;
    EXPECT_THAT(log.status().message(), HasSubstr(says));
  };
  refused({clean[0], clean[1], "{\"not\": \"a record\"}"}, "not an audit record");
  refused({clean[0], clean[1], clean[2], ""}, "not an audit record");  // an empty last line
  auto edited = clean;
  edited[2].replace(edited[2].find("operator-2"), 10, "operator-7");
  refused(edited, "hash does not match");
  // Nothing was changed by the refusals: the clean log opens and continues.
  Write(clean);
  AppendRecords(3, 4);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, EveryLineIsBoundedWhateverTheFieldsHold) {
  {
    auto log = AuditLog::Open(path_);
    ASSERT_TRUE(log.ok());
    AuditRecord r = Record(0);
    const std::string worst = std::string(5000, '\x01') + std::string(5000, '"');
    r.event = r.subject = r.tenant = r.method = r.path = r.remote = r.detail = worst;
    (*log)->Append(r);
    AuditRecord plain = Record(1);
    plain.subject = std::string(10'000, 's');
    plain.detail = "김해" + std::string(10'000, 'd');
    (*log)->Append(plain);
  }
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& line : lines) {
    EXPECT_LE(line.size() + 1, kMaxAuditLineBytes);
    const auto v = boost::json::parse(line).as_object();
    EXPECT_THAT(std::string(v.at("subject").as_string()), ::testing::EndsWith("\u2026"));  // marked as cut
  }
  const auto v = boost::json::parse(lines[1]).as_object();
  EXPECT_EQ(v.at("subject").as_string().size(), 256u);  // 253 bytes and the 3-byte mark: its budget
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, RotationKeepsOneChainAcrossFilesAndVerifiesAcrossThem) {
  AuditOptions options;
  options.max_file_bytes = 2000;  // about six records a file
  options.keep_files = 3;
  {
    auto log = AuditLog::Open(path_, options);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 60; ++i) {
      (*log)->Append(Record(i));
      if (i % 7 == 0) (*log)->Flush();  // rotation within a batch and between batches
    }
  }
  const std::vector<std::string> files = {path_ + ".3", path_ + ".2", path_ + ".1", path_};
  EXPECT_EQ(AuditLogFiles(path_), files);
  EXPECT_FALSE(fs::exists(path_ + ".4"));  // past keep_files: deleted
  std::string prev;
  uint64_t seq = 0;
  for (const auto& file : files) {
    EXPECT_LE(fs::file_size(file), options.max_file_bytes) << file;
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      const auto v = boost::json::parse(line).as_object();
      if (!prev.empty()) {
        EXPECT_EQ(v.at("prev").as_string(), prev) << file;  // across files too
        EXPECT_EQ(v.at("seq").to_number<uint64_t>(), seq + 1) << file;
      }
      prev = std::string(v.at("hash").as_string());
      seq = v.at("seq").to_number<uint64_t>();
    }
  }
  EXPECT_EQ(seq, 60u);
  auto report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.files, 4u);
  EXPECT_GT(report.first_seq, 1u);  // the oldest kept file starts mid-chain
  EXPECT_EQ(report.records, 60u - report.first_seq + 1);
  EXPECT_EQ(report.head_hash, prev);
  // Explicit files: the same chain; the middle two alone too (the first may start mid-chain).
  auto explicit_files = VerifyAuditLog(files, true);
  ASSERT_TRUE(explicit_files.ok());
  EXPECT_TRUE(explicit_files->ok) << explicit_files->problem;
  EXPECT_FALSE(VerifyAuditLog(files, false)->ok);  // otherwise a chain must start at 1

  // Reopening continues the chain in the current file.
  AppendRecords(60, 61);
  report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;

  // A middle file removed, files swapped, a line edited in a rotated file: all fail.
  const std::string aside = (dir_ / "aside").string();
  fs::rename(path_ + ".2", aside);
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_file, path_ + ".1");
  EXPECT_THAT(report.problem, HasSubstr("does not continue the chain"));
  fs::rename(path_ + ".1", path_ + ".2");
  fs::rename(aside, path_ + ".1");  // .2 and .1 swapped
  EXPECT_FALSE(Verify().ok);
  fs::rename(path_ + ".2", aside);
  fs::rename(path_ + ".1", path_ + ".2");
  fs::rename(aside, path_ + ".1");  // back in order
  EXPECT_TRUE(Verify().ok);
  {
    std::ifstream in(path_ + ".3");
    std::stringstream text;
    text << in.rdbuf();
    std::string edited = text.str();
    edited.replace(edited.find("\"status\":204"), 12, "\"status\":200");
    std::ofstream(path_ + ".3", std::ios::trunc) << edited;
  }
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_file, path_ + ".3");
  EXPECT_THAT(report.problem, HasSubstr("edited"));
}

TEST_F(AuditLogTest, ACrashBetweenRotationStepsLosesNoLink) {
  AuditOptions options;
  options.max_file_bytes = 2000;
  options.keep_files = 5;
  {
    auto log = AuditLog::Open(path_, options);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 15; ++i) (*log)->Append(Record(i));
  }
  ASSERT_TRUE(fs::exists(path_ + ".2"));
  ASSERT_FALSE(fs::exists(path_ + ".3"));
  // Stopped after renaming .2 to .3 and before .1 to .2: a gap in the numbers.
  fs::rename(path_ + ".2", path_ + ".3");
  EXPECT_TRUE(Verify().ok);
  // Stopped after the current file became .1 and before a new one was made.
  fs::rename(path_ + ".1", path_ + ".2");
  fs::rename(path_, path_ + ".1");
  EXPECT_TRUE(VerifyAuditLog(AuditLogFiles(path_), false).status().code() == Status::Code::kNotFound);
  AppendRecords(15, 16);  // continues from .1's last record
  const auto report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.first_seq, 1u);
  EXPECT_EQ(report.records, 16u);
}

TEST_F(AuditLogTest, RepeatedRecordsAreSummarisedPerClientAndReason) {
  AuditOptions options;
  options.summary_interval = std::chrono::hours(1);  // ends when the log closes
  options.max_summary_kinds = 2;
  {
    auto log = AuditLog::Open(path_, options);
    ASSERT_TRUE(log.ok());
    auto failure = [](std::string remote, std::string reason) {
      AuditRecord r;
      r.time_us = 1'790'000'000'000'000;
      r.event = "auth-failure";
      r.method = "GET";
      r.path = "/ngsi-ld/v1/entities";
      r.status = 401;
      r.remote = std::move(remote);
      r.detail = std::move(reason);
      return r;
    };
    for (int i = 0; i < 1000; ++i) (*log)->AppendRepeated(failure("192.0.2.7:" + std::to_string(1024 + i), "invalid token signature"));
    (*log)->AppendRepeated(failure("[2001:db8:1:2::9]:4000", "invalid token signature"));
    (*log)->AppendRepeated(failure("[2001:db8:1:2::a]:4001", "invalid token signature"));  // the same /64
    for (int i = 0; i < 10; ++i) (*log)->AppendRepeated(failure("198.51.100." + std::to_string(i) + ":80", "expired"));
    (*log)->Append(Record(0));
    (*log)->Flush();
    EXPECT_EQ(Lines().size(), 3u);  // the first of each of the two kinds told apart, and the write
  }
  std::vector<boost::json::object> records;
  for (const auto& line : Lines()) records.push_back(boost::json::parse(line).as_object());
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[0].at("remote").as_string(), "192.0.2.7:1024");
  EXPECT_EQ(records[0].at("path").as_string(), "/ngsi-ld/v1/entities");
  EXPECT_EQ(records[1].at("remote").as_string(), "[2001:db8:1:2::9]:4000");
  std::map<std::string, std::string> summaries;  // remote -> detail
  for (size_t i = 3; i < records.size(); ++i) {
    summaries[std::string(records[i].at("remote").as_string())] = std::string(records[i].at("detail").as_string());
    EXPECT_EQ(records[i].at("event").as_string(), "auth-failure");
    EXPECT_EQ(records[i].at("path").as_string(), "");
  }
  EXPECT_THAT(summaries["192.0.2.7"], MatchesRegex("999 more since 2026-09-21T[0-9:.]+Z: invalid token signature"));
  EXPECT_THAT(summaries["2001:db8:1:2::/64"], HasSubstr("1 more since"));
  EXPECT_THAT(summaries["*"], HasSubstr("10 more since"));  // kinds past max_summary_kinds, together
  EXPECT_TRUE(Verify().ok);
}

}  // namespace
}  // namespace cityhub::security
