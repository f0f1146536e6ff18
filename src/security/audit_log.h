// AuditLog: the tamper-evident record of who did what (issue 6; docs/SECURITY.md "Audit log").
// One JSON line per record, appended to a file opened O_APPEND (mode 0600):
//   {"seq":N,"time":"<RFC 3339 UTC, µs>","event":…,"subject":…,"tenant":…,"method":…,
//    "path":…,"status":…,"remote":…,"detail":…,"prev":"<64 hex>","hash":"<64 hex>"}
// where `hash` is the SHA-256 of the line up to (excluding) `,"hash"` and `prev` the previous
// line's hash (64 zeros for seq 1). Fields are JSON-escaped and bytes that are not UTF-8 become
// U+FFFD, so whatever a path holds, a record stays one valid JSON line.
//
// What the chain proves, and what it does not. Editing, removing or reordering a line breaks
// the chain at that line, and VerifyAuditLog names it. The hash is not keyed: someone who can
// write the file can also recompute every hash from their edit to the end, and removing the
// newest lines (truncation) leaves a valid shorter chain. Both are detected only against a head
// hash kept elsewhere — `cityhub audit verify` prints the record count and head hash so that
// operators can anchor it (e.g. send it daily to another system).
//
// Append never blocks on I/O: records queue for the writer thread ("audit-log"), which
// serialises them in arrival order, chains them, and writes each batch with one write() and
// an fdatasync() every `flush_interval` (sooner on Flush or a full queue). Past `max_queued`
// waiting records Append blocks: records are never dropped — if the disk refuses writes the
// writer retries, saying so in the log, and appenders eventually wait. Reopening continues the
// chain from the last line (read from the file's tail); a torn last line (a crash mid-write)
// is cut off, any other last line that is not an intact record refuses the open.
// Never put payloads or personal values into a record. Thread-safe.
//
// VerifyAuditLog reads the file as it is: run `cityhub audit verify` with the hub stopped, or
// accept that a last line still being written shows as incomplete.
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
  std::chrono::milliseconds flush_interval{100};  // how often a batch is written and synced
  size_t max_queued = 100'000;                    // Append blocks past this many waiting records
};

class AuditLog {
 public:
  // Opens (creating it, mode 0600, and missing directories, mode 0700) and continues the
  // chain of `path`. BadRequestData if it cannot be opened or its last line is not an intact
  // record of this format (the message says which; the operator must look at the file).
  static Result<std::unique_ptr<AuditLog>> Open(std::string path, AuditOptions options = {});
  ~AuditLog();  // writes what is queued, then stops
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues `record`; returns at once unless `max_queued` records are waiting.
  void Append(AuditRecord record);
  // Waits until every record appended before the call is written and synced.
  void Flush();
  // Records written and synced since Open (for tests and metrics).
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
  bool flush_requested_ = false;
  bool stopping_ = false;
  // Owned by the writer thread.
  uint64_t seq_;
  std::string head_;
  std::thread writer_;
};

struct AuditVerifyReport {
  bool ok = false;
  uint64_t records = 0;   // intact records (before bad_line when !ok)
  std::string head_hash;  // of the last intact record; "" when there is none
  uint64_t bad_line = 0;  // 1-based, when !ok
  std::string problem;    // "line 7: hash does not match its content (edited)", when !ok
};

// Streams `path` line by line and checks each line's format, its hash against its content,
// that seq counts up from 1 and that prev is the previous line's hash. A report with ok false
// names the first bad line; NotFound if the file cannot be read.
Result<AuditVerifyReport> VerifyAuditLog(const std::string& path);

}  // namespace cityhub::security
