// AuditLog: the tamper-evident record of who did what (issue 6; docs/SECURITY.md "Audit log").
// One JSON line per record, appended to a file opened O_APPEND (mode 0600):
//   {"seq":N,"time":"<RFC 3339 UTC, µs>","event":…,"subject":…,"tenant":…,"method":…,
//    "path":…,"status":…,"remote":…,"detail":…,"prev":"<64 hex>","hash":"<64 hex>"}
// where `hash` is the SHA-256 of the line up to (excluding) `,"hash"` and `prev` the previous
// line's hash (64 zeros for seq 1). Editing, removing or reordering a line therefore breaks the
// chain at that line; VerifyAuditLog finds it. Removing the newest lines leaves a valid shorter
// chain: only a head hash kept elsewhere detects that (verify prints it for that purpose).
//
// Append never blocks on I/O: records queue for the writer thread ("audit-log"), which
// serialises them in arrival order, chains them, and writes and fdatasyncs a batch every
// `flush_interval`. Past `max_queued` waiting records Append blocks (records are never dropped).
// Reopening continues the chain; a torn last line (a crash mid-write) is cut off.
// Never put payloads or personal values into a record. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/status.h"

namespace cityhub::security {

struct AuditRecord {
  int64_t time_us = 0;   // microseconds since the epoch
  std::string event;     // "write", "read-personal", "auth-failure", "denied", "rate-limited"
  std::string subject;   // the principal ("" if unauthenticated)
  std::string tenant;
  std::string method;
  std::string path;      // without the query string
  int status = 0;
  std::string remote;    // the peer's address
  std::string detail;
};

struct AuditOptions {
  std::chrono::milliseconds flush_interval{100};
  size_t max_queued = 100'000;
};

class AuditLog {
 public:
  // Opens (creating it and its directory, mode 0700) and continues the chain of `path`.
  // BadRequestData if the file's last line is not a record of this format.
  static Result<std::unique_ptr<AuditLog>> Open(std::string path, AuditOptions options = {});
  ~AuditLog();  // writes what is queued, then stops
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Append(AuditRecord record);
  // Waits until every record appended before the call is written and synced.
  void Flush();
  uint64_t records_written() const;

 private:
  AuditLog(std::string path, int fd, uint64_t seq, std::string head, AuditOptions options);
  void Run();

  const std::string path_;
  const int fd_;
  const AuditOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable wake_appenders_;
  std::vector<AuditRecord> queue_;
  uint64_t appended_ = 0;  // records ever appended
  uint64_t written_ = 0;   // records ever written and synced
  bool stopping_ = false;
  // Owned by the writer thread.
  uint64_t seq_;
  std::string head_;
  std::thread writer_;
};

struct AuditVerifyReport {
  bool ok = false;
  uint64_t records = 0;
  std::string head_hash;  // of the last valid line
  uint64_t bad_line = 0;  // 1-based, when !ok
  std::string problem;
};

// Checks the whole chain of `path`. NotFound if it cannot be read.
Result<AuditVerifyReport> VerifyAuditLog(const std::string& path);

}  // namespace cityhub::security
