// AuditLog: the tamper-evident record of who did what (docs/SECURITY.md "Audit log").
// One JSON line per record, appended to a file opened O_APPEND (mode 0600):
//   {"seq":N,"time":"<RFC 3339 UTC, µs>","event":…,"subject":…,"tenant":…,"method":…,
//    "path":…,"status":…,"remote":…,"detail":…,"prev":"<64 hex>","hash":"<64 hex>"}
// where `hash` is the SHA-256 of the line up to (excluding) `,"hash"` and `prev` the previous
// line's hash (64 zeros for seq 1). Fields are JSON-escaped, bytes that are not UTF-8 become
// U+FFFD, and each field is cut to a fixed budget of escaped bytes (kMaxLineBytes bounds the
// whole line), so whatever a request holds, a record stays one short valid JSON line.
//
// What the chain proves, and what it does not. Editing, removing or reordering a line breaks
// the chain at that line, and VerifyAuditLog names it. The hash is not keyed: someone who can
// write the file can also recompute every hash from their edit to the end, and removing the
// newest lines (truncation) leaves a valid shorter chain. Both are detected only against a head
// hash kept elsewhere — `cityhub audit verify` prints the record count and head hash so that
// operators can anchor it (e.g. send it daily to another system).
//
// Rotation. With `max_file_bytes` set, a record that would grow the file past it goes to a
// new file instead: PATH becomes PATH.1, PATH.1 becomes PATH.2, …, files past `keep_files` are
// deleted. The chain does not restart: seq keeps counting and the new file's first line
// chains to the previous file's last, so the files in order (PATH.N … PATH.1, PATH) are one
// chain. Once `keep_files` has deleted the oldest, the oldest kept file starts mid-chain: its
// first link cannot be checked, which VerifyAuditLog reports as such (not as tampering). A crash
// between the renames leaves a gap in the numbers but never reorders the files.
//
// Floods. Records a client can cause at will without credentials (authentication failures,
// rate-limited requests) go through AppendRepeated: per kind (event, subject, client address,
// status, detail) and `summary_interval`, the first is written as it is and the rest are only
// counted; when the interval ends one record says how many more there were. At most
// `max_summary_kinds` kinds are told apart per interval, the others are counted together.
// So a flood costs the log a few records per client and minute, not one per request.
//
// Append never blocks on I/O: records queue for the writer thread ("audit-log"), which
// serialises them in arrival order, chains them, and writes each batch with one write() and
// an fdatasync() every `flush_interval` (sooner on Flush or a full queue). Past `max_queued`
// waiting records Append blocks: records are never dropped — if the disk refuses writes the
// writer retries, saying so in the log, and appenders eventually wait. Reopening continues the
// chain from the last line (read from the file's tail; from PATH.1's when PATH is empty); a
// torn last line (a crash mid-write) is cut off, any other last line that is not an intact
// record refuses the open. Never put payloads or personal values into a record. Thread-safe.
//
// VerifyAuditLog reads the files as they are: run `cityhub audit verify` with the hub stopped,
// or accept that a last line still being written shows as incomplete.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
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

// The longest line a record can make (every field at its budget, every character escaped).
inline constexpr size_t kMaxAuditLineBytes = 4096;

struct AuditOptions {
  std::chrono::milliseconds flush_interval{100};  // how often a batch is written and synced
  size_t max_queued = 100'000;                    // Append blocks past this many waiting records
  uint64_t max_file_bytes = 0;                    // rotate before the file grows past this; 0 = never
  unsigned keep_files = 10;                       // rotated files kept (PATH.1 … PATH.N), at least 1
  std::chrono::milliseconds summary_interval{60'000};  // AppendRepeated's counting period
  size_t max_summary_kinds = 10'000;              // kinds AppendRepeated tells apart per period
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
  // For records a client can repeat at will: queues `record` if it is the first of its kind
  // (event, subject, util::ClientOf(remote), status, detail) in this summary interval, else
  // only counts it; at the interval's end a record of the kind, with remote the client and
  // detail "N more since TIME: detail", stands for those counted. Never blocks on the queue
  // for a counted record.
  void AppendRepeated(AuditRecord record);
  // Waits until every record appended before the call is written and synced.
  void Flush();
  // Records written and synced since Open (for tests and metrics).
  uint64_t records_written() const;

 private:
  struct Summary {
    AuditRecord first;      // the record written for the kind in this interval
    uint64_t more = 0;      // records of the kind counted since
    int64_t more_since_us = 0;  // time of the first of those
  };

  AuditLog(std::string path, int fd, uint64_t file_bytes, uint64_t seq, std::string head, AuditOptions options);
  void Run();
  // Moves the summaries of the interval that ended into `batch` and starts a new interval, if
  // one ended. Called by the writer with mutex_ held.
  void TakeSummaries(std::vector<AuditRecord>* batch, std::chrono::steady_clock::time_point now);
  // Writes `text` to the current file and syncs it.
  void WriteAndSync(std::string_view text);
  // Renames the files one up (PATH → PATH.1 …), deletes those past keep_files and opens a
  // new PATH. On a failure the current file stays in use (logged).
  void Rotate();

  const std::string path_;
  const AuditOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable wake_appenders_;
  std::vector<AuditRecord> queue_;
  uint64_t appended_ = 0;  // records ever appended
  uint64_t written_ = 0;   // records ever written and synced
  bool flush_requested_ = false;
  bool stopping_ = false;
  std::unordered_map<std::string, Summary> summaries_;  // by kind, this interval
  std::chrono::steady_clock::time_point interval_start_;
  // Owned by the writer thread.
  int fd_;
  uint64_t file_bytes_;  // size of the current file
  uint64_t seq_;
  std::string head_;
  std::thread writer_;
};

struct AuditVerifyReport {
  bool ok = false;
  uint64_t records = 0;   // intact records (before the bad line when !ok)
  std::string head_hash;  // of the last intact record; "" when there is none
  size_t files = 0;       // files read
  // seq of the first record; above 1 when the oldest file starts mid-chain (older files were
  // rotated out and deleted): its link to them cannot be checked. 0 when there is no record.
  uint64_t first_seq = 0;
  std::string bad_file;   // the file holding the bad line, when !ok
  uint64_t bad_line = 0;  // 1-based within bad_file, when !ok
  std::string problem;    // "FILE line 7: hash does not match its content (edited)", when !ok
};

// The files of the audit log `path` in chain order: its rotated files PATH.N (as found, gaps
// allowed) from the highest N down, then `path` itself.
std::vector<std::string> AuditLogFiles(const std::string& path);

// Streams `files` (oldest first) line by line as one chain and checks each line's format, its
// hash against its content, that seq counts up by one and that prev is the previous line's hash
// — across file boundaries too. The chain must start at seq 1 with prev 64 zeros, unless
// `mid_chain_start` allows the first record to be any (then first_seq says where it starts).
// A report with ok false names the first bad line; NotFound if a file cannot be read.
Result<AuditVerifyReport> VerifyAuditLog(const std::vector<std::string>& files, bool mid_chain_start);
// The log `path` with its rotated files (AuditLogFiles); the oldest may start mid-chain when
// it is a rotated file (its predecessors deleted by keep_files).
Result<AuditVerifyReport> VerifyAuditLog(const std::string& path);

}  // namespace cityhub::security
