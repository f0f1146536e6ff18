// The audit log's writer, its chain and its verifier (see audit_log.h).
//
// A line's hash covers its text exactly as written (everything before `,"hash"`), so the
// verifier never re-serialises a record: it hashes the bytes it read. The writer is the only
// producer of lines and keeps the chain head (seq, hash) in memory; on Open it recovers the
// head from the file's last line, read backwards from the end in chunks so a large log costs
// no more to open than a small one.
#include "security/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "util/http_syntax.h"
#include "util/json.h"
#include "util/thread_name.h"

namespace cityhub::security {
namespace json = boost::json;

namespace {

constexpr std::string_view kHashMember = ",\"hash\":\"";
constexpr size_t kHashHexChars = 64;
constexpr off_t kTailChunk = 64 * 1024;
const std::string kZeroHash(kHashHexChars, '0');

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return std::string();  // never equal to a stored hash, so a failure cannot pass verification
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

bool IsHash(std::string_view s) {
  return s.size() == kHashHexChars &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string FormatTime(int64_t time_us) {
  const int64_t seconds = time_us >= 0 ? time_us / 1'000'000 : -((-time_us + 999'999) / 1'000'000);
  const int64_t micros = time_us - seconds * 1'000'000;
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

// Length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8Sequence(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || n > s.size() || (n == 2 && c < 0xc2)) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) >> 6) != 2) return 0;
  }
  if (n == 3 && ((c == 0xe0 && b(1) < 0xa0) || (c == 0xed && b(1) >= 0xa0))) return 0;  // overlong, surrogate
  if (n == 4 && ((c == 0xf0 && b(1) < 0x90) || c > 0xf4 || (c == 0xf4 && b(1) >= 0x90))) return 0;
  return n;
}

// Escaped bytes each field may take in a line; with the fixed members and the two hashes they
// keep a line within kMaxAuditLineBytes.
constexpr size_t kEventBytes = 32, kSubjectBytes = 256, kTenantBytes = 128, kMethodBytes = 32, kPathBytes = 2048,
                 kRemoteBytes = 96, kDetailBytes = 512;
constexpr std::string_view kCut = "\u2026";  // "…": the field was cut to its budget

// The bytes `c` takes escaped in a JSON string.
size_t EscapedSize(unsigned char c) {
  if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') return 2;
  return c < 0x20 ? 6 : 1;
}

// `s` as a JSON string of at most `budget` escaped bytes between its quotes; bytes that are not
// UTF-8 become U+FFFD (the line must stay JSON), and a cut is marked with an ellipsis.
void AppendField(std::string& out, std::string_view s, size_t budget) {
  std::string clean;
  clean.reserve(std::min(s.size(), budget));
  size_t used = 0;
  size_t fits = 0;  // how much of `clean` leaves room for the cut mark
  bool cut = false;
  while (!s.empty()) {
    const size_t n = Utf8Sequence(s);
    const std::string_view piece = n ? s.substr(0, n) : std::string_view("\xEF\xBF\xBD");
    const size_t cost = n == 1 ? EscapedSize(static_cast<unsigned char>(s[0])) : piece.size();
    if (used + cost > budget) {
      cut = true;
      break;
    }
    used += cost;
    clean.append(piece);
    if (used + kCut.size() <= budget) fits = clean.size();
    s.remove_prefix(n ? n : 1);
  }
  if (cut) clean.resize(fits);
  util::AppendJsonString(out, clean);
  if (cut) out.insert(out.size() - 1, kCut);
}

// Appends the line of record `r` numbered `seq` after `prev`, with its newline, to `out`;
// returns its hash.
std::string AppendLine(std::string& out, const AuditRecord& r, uint64_t seq, const std::string& prev) {
  std::string body = fmt::format("{{\"seq\":{},\"time\":\"{}\",\"event\":", seq, FormatTime(r.time_us));
  AppendField(body, r.event, kEventBytes);
  body += ",\"subject\":";
  AppendField(body, r.subject, kSubjectBytes);
  body += ",\"tenant\":";
  AppendField(body, r.tenant, kTenantBytes);
  body += ",\"method\":";
  AppendField(body, r.method, kMethodBytes);
  body += ",\"path\":";
  AppendField(body, r.path, kPathBytes);
  body += fmt::format(",\"status\":{},\"remote\":", r.status);
  AppendField(body, r.remote, kRemoteBytes);
  body += ",\"detail\":";
  AppendField(body, r.detail, kDetailBytes);
  body += ",\"prev\":\"" + prev + "\"";
  std::string hash = Sha256Hex(body);
  out += body;
  out += kHashMember;
  out += hash;
  out += "\"}\n";
  return hash;
}

// What the chain needs from a line of the format, and whether its hash matches its content.
struct ParsedLine {
  uint64_t seq = 0;
  std::string prev;
  std::string hash;
  bool hash_matches = false;
};

// Checks `line` (without its newline) against the format; BadRequestData says what is off.
Result<ParsedLine> ParseLine(std::string_view line) {
  const size_t at = line.rfind(kHashMember);
  if (at == std::string_view::npos || line.size() != at + kHashMember.size() + kHashHexChars + 2 ||
      !line.ends_with("\"}")) {
    return Status::BadRequestData("not an audit record (it does not end with its hash)");
  }
  const std::string_view body = line.substr(0, at);
  ParsedLine p;
  p.hash = std::string(line.substr(at + kHashMember.size(), kHashHexChars));
  boost::system::error_code ec;
  json::value v = json::parse(std::string(body) + "}", ec);
  if (ec || !v.is_object()) return Status::BadRequestData("not an audit record (not a JSON object)");
  const json::object& o = v.get_object();
  static constexpr std::string_view kStrings[] = {"time", "event", "subject", "tenant", "method", "path", "remote", "detail", "prev"};
  for (std::string_view key : kStrings) {
    const json::value* f = o.if_contains(key);
    if (!f || !f->is_string()) return Status::BadRequestData(fmt::format("not an audit record (no string \"{}\")", key));
  }
  const json::value* seq = o.if_contains("seq");
  if (!seq || !(seq->is_uint64() || (seq->is_int64() && seq->get_int64() >= 0))) {
    return Status::BadRequestData("not an audit record (no \"seq\" number)");
  }
  const json::value* status = o.if_contains("status");
  if (!status || !status->is_int64()) return Status::BadRequestData("not an audit record (no \"status\" number)");
  if (o.size() != std::size(kStrings) + 2) return Status::BadRequestData("not an audit record (unexpected members)");
  p.prev = std::string(o.at("prev").get_string());
  if (!IsHash(p.prev) || !IsHash(p.hash)) return Status::BadRequestData("not an audit record (prev or hash is not 64 hex)");
  p.seq = seq->is_uint64() ? seq->get_uint64() : static_cast<uint64_t>(seq->get_int64());
  p.hash_matches = Sha256Hex(body) == p.hash;
  return p;
}

// The offset of the last '\n' in the first `end` bytes of `fd`, or -1 if there is none.
Result<off_t> LastNewlineBefore(int fd, off_t end, const std::string& path) {
  std::string chunk;
  while (end > 0) {
    const off_t from = std::max<off_t>(0, end - kTailChunk);
    chunk.resize(static_cast<size_t>(end - from));
    if (::pread(fd, chunk.data(), chunk.size(), from) != static_cast<ssize_t>(chunk.size())) {
      return Status::BadRequestData(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
    }
    const size_t nl = chunk.rfind('\n');
    if (nl != std::string::npos) return from + static_cast<off_t>(nl);
    end = from;
  }
  return off_t{-1};
}

// The last line of `fd` without its newline, after cutting off a torn (unterminated) tail;
// nullopt when the file is empty then.
Result<std::optional<std::string>> LastLine(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::BadRequestData(fmt::format("cannot stat '{}': {}", path, std::strerror(errno)));
  off_t size = st.st_size;
  if (size == 0) return std::optional<std::string>();
  auto last_nl = LastNewlineBefore(fd, size, path);
  if (!last_nl.ok()) return last_nl.status();
  if (*last_nl != size - 1) {  // a crash in the middle of a write
    const off_t keep = *last_nl + 1;
    spdlog::warn("audit log '{}': cutting off an incomplete last record ({} bytes)", path, size - keep);
    if (::ftruncate(fd, keep) != 0 || ::fdatasync(fd) != 0) {
      return Status::BadRequestData(fmt::format("cannot truncate '{}': {}", path, std::strerror(errno)));
    }
    size = keep;
    if (size == 0) return std::optional<std::string>();
  }
  auto start = LastNewlineBefore(fd, size - 1, path);
  if (!start.ok()) return start.status();
  const off_t from = *start + 1;
  std::string line(static_cast<size_t>(size - 1 - from), '\0');
  if (::pread(fd, line.data(), line.size(), from) != static_cast<ssize_t>(line.size())) {
    return Status::BadRequestData(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  }
  return std::optional<std::string>(std::move(line));
}

// Creates the missing directories of `dir`, each with mode 0700.
Status CreateDirectories(const std::filesystem::path& dir) {
  std::filesystem::path at;
  for (const auto& part : dir) {
    at /= part;
    if (::mkdir(at.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::BadRequestData(fmt::format("cannot create directory '{}': {}", at.string(), std::strerror(errno)));
    }
  }
  return Status::Ok();
}

// The rotated files of `path` as (N, PATH.N) for every PATH.N present, N ascending.
std::vector<std::pair<uint64_t, std::string>> RotatedFiles(const std::string& path) {
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  const std::string prefix = p.filename().string() + ".";
  std::vector<std::pair<uint64_t, std::string>> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() || name.size() > prefix.size() + 9 || name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    const std::string_view digits = std::string_view(name).substr(prefix.size());
    if (digits[0] == '0' || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    out.emplace_back(std::stoull(std::string(digits)), (p.has_parent_path() ? dir / name : std::filesystem::path(name)).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Makes the renames and creations in `dir` durable.
void SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Writes all of `text` to `fd`, retrying until the disk takes it: audit records are not
// dropped. Says so in the log when a write fails and when writing works again.
void WriteAll(int fd, std::string_view text, const std::string& path) {
  bool failing = false;
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!failing) spdlog::error("audit log '{}': write failed, retrying: {}", path, std::strerror(errno));
      failing = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  if (failing) spdlog::warn("audit log '{}': writing works again", path);
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::string path, AuditOptions options) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) CITYHUB_RETURN_IF_ERROR(CreateDirectories(dir));
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::BadRequestData(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  auto last = LastLine(fd, path);
  if (!last.ok()) {
    ::close(fd);
    return last.status();
  }
  std::optional<std::string> last_line = std::move(*last);
  std::string last_file = path;
  if (!last_line) {  // new, or rotated just before a stop: the chain continues from PATH.1
    const auto rotated = RotatedFiles(path);
    if (!rotated.empty()) {
      last_file = rotated.front().second;
      const int rfd = ::open(last_file.c_str(), O_RDWR | O_CLOEXEC);
      auto rotated_last = rfd < 0 ? Result<std::optional<std::string>>(Status::BadRequestData(
                                        fmt::format("cannot open '{}': {}", last_file, std::strerror(errno))))
                                  : LastLine(rfd, last_file);
      if (rfd >= 0) ::close(rfd);
      if (!rotated_last.ok()) {
        ::close(fd);
        return rotated_last.status();
      }
      last_line = std::move(*rotated_last);
    }
  }
  uint64_t seq = 0;
  std::string head = kZeroHash;
  if (last_line) {
    auto parsed = ParseLine(*last_line);
    if (!parsed.ok() || !parsed->hash_matches) {
      ::close(fd);
      return Status::BadRequestData(fmt::format(
          "the last line of '{}' is not an intact audit record ({}); check the file with `cityhub audit verify` "
          "and move it away", last_file, parsed.ok() ? "its hash does not match its content" : parsed.status().message()));
    }
    seq = parsed->seq;
    head = parsed->hash;
  }
  struct stat st {};
  const uint64_t file_bytes = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  options.max_queued = std::max<size_t>(options.max_queued, 1);
  options.keep_files = std::max(options.keep_files, 1u);
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(path), fd, file_bytes, seq, std::move(head), options));
}

AuditLog::AuditLog(std::string path, int fd, uint64_t file_bytes, uint64_t seq, std::string head, AuditOptions options)
    : path_(std::move(path)), options_(options), interval_start_(std::chrono::steady_clock::now()), fd_(fd),
      file_bytes_(file_bytes), seq_(seq), head_(std::move(head)) {
  writer_ = std::thread([this] { Run(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_writer_.notify_all();
  writer_.join();
  ::close(fd_);
}

void AuditLog::Append(AuditRecord record) {
  std::unique_lock lock(mutex_);
  if (queue_.size() >= options_.max_queued) {
    wake_writer_.notify_one();
    wake_appenders_.wait(lock, [this] { return queue_.size() < options_.max_queued; });
  }
  queue_.push_back(std::move(record));
  ++appended_;
  if (queue_.size() >= options_.max_queued) wake_writer_.notify_one();
}

void AuditLog::AppendRepeated(AuditRecord record) {
  static const std::string kOtherKinds = "\n*";  // no real kind starts with a line break
  const std::string client = util::ClientOf(record.remote);
  const std::string kind = fmt::format("{}\n{}\n{}\n{}\n{}", record.event, record.subject, client, record.status, record.detail);
  {
    std::lock_guard lock(mutex_);
    auto it = summaries_.find(kind);
    if (it == summaries_.end() && summaries_.size() >= options_.max_summary_kinds) {
      it = summaries_.find(kOtherKinds);
      if (it == summaries_.end()) {
        it = summaries_.emplace(kOtherKinds, Summary{}).first;
        it->second.first.event = record.event;
        it->second.first.remote = "*";
        it->second.first.detail = "records of more kinds than the log tells apart per interval";
        it->second.more_since_us = record.time_us;
      }
    }
    if (it != summaries_.end()) {
      if (it->second.more++ == 0) it->second.more_since_us = record.time_us;
      return;
    }
    Summary& first = summaries_[kind];
    first.first = record;
    first.first.remote = client;
    first.first.method.clear();  // a summary stands for requests of any method and path
    first.first.path.clear();
  }
  Append(std::move(record));
}

void AuditLog::Flush() {
  std::unique_lock lock(mutex_);
  const uint64_t target = appended_;
  if (written_ >= target) return;
  flush_requested_ = true;
  wake_writer_.notify_one();
  wake_appenders_.wait(lock, [&] { return written_ >= target; });
}

uint64_t AuditLog::records_written() const {
  std::lock_guard lock(mutex_);
  return written_;
}

void AuditLog::TakeSummaries(std::vector<AuditRecord>* batch, std::chrono::steady_clock::time_point now) {
  if (!stopping_ && now - interval_start_ < options_.summary_interval) return;
  interval_start_ = now;
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (auto& [kind, summary] : summaries_) {
    if (summary.more == 0) continue;
    AuditRecord r = std::move(summary.first);
    r.time_us = now_us;
    r.detail = fmt::format("{} more since {}: {}", summary.more, FormatTime(summary.more_since_us), r.detail);
    batch->push_back(std::move(r));
  }
  summaries_.clear();
}

void AuditLog::WriteAndSync(std::string_view text) {
  if (text.empty()) return;
  WriteAll(fd_, text, path_);
  file_bytes_ += text.size();
  if (::fdatasync(fd_) != 0) spdlog::error("audit log '{}': sync failed: {}", path_, std::strerror(errno));
}

void AuditLog::Rotate() {
  const auto rotated = RotatedFiles(path_);
  for (auto it = rotated.rbegin(); it != rotated.rend(); ++it) {  // highest first: no rename overwrites
    const auto& [n, name] = *it;
    const bool gone = n >= options_.keep_files ? ::unlink(name.c_str()) == 0
                                                : ::rename(name.c_str(), fmt::format("{}.{}", path_, n + 1).c_str()) == 0;
    if (!gone) {
      spdlog::error("audit log '{}': cannot rotate '{}', writing on: {}", path_, name, std::strerror(errno));
      return;
    }
  }
  if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) {
    spdlog::error("audit log '{}': cannot rotate it, writing on: {}", path_, std::strerror(errno));
    return;
  }
  const int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {  // the records go on into PATH.1 (the same file), so the chain stays whole
    spdlog::error("audit log '{}': cannot open a new file, writing on in '{}.1': {}", path_, path_, std::strerror(errno));
    return;
  }
  ::close(fd_);
  fd_ = fd;
  file_bytes_ = 0;
  SyncDirectory(std::filesystem::path(path_).parent_path().string());
}

void AuditLog::Run() {
  util::NameThisThread("audit-log");
  std::vector<AuditRecord> batch;
  std::string text;
  std::string line;
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      wake_writer_.wait_for(lock, options_.flush_interval, [this] {
        return stopping_ || flush_requested_ || queue_.size() >= options_.max_queued;
      });
      batch.swap(queue_);
      const size_t appended = batch.size();
      TakeSummaries(&batch, std::chrono::steady_clock::now());
      appended_ += batch.size() - appended;  // summaries count as appended records
      stop = stopping_ && queue_.empty();
      flush_requested_ = false;
    }
    wake_appenders_.notify_all();  // room in the queue
    if (batch.empty()) {
      if (stop) return;
      continue;
    }
    text.clear();
    for (const auto& r : batch) {
      line.clear();
      const std::string hash = AppendLine(line, r, seq_ + 1, head_);
      if (options_.max_file_bytes > 0 && file_bytes_ + text.size() > 0 &&
          file_bytes_ + text.size() + line.size() > options_.max_file_bytes) {
        WriteAndSync(text);
        text.clear();
        Rotate();
      }
      ++seq_;
      head_ = hash;
      text += line;
    }
    WriteAndSync(text);
    {
      std::lock_guard lock(mutex_);
      written_ += batch.size();
    }
    wake_appenders_.notify_all();  // Flush waits here
    batch.clear();
    if (stop) return;
  }
}

std::vector<std::string> AuditLogFiles(const std::string& path) {
  std::vector<std::string> files;
  const auto rotated = RotatedFiles(path);
  for (auto it = rotated.rbegin(); it != rotated.rend(); ++it) files.push_back(it->second);
  files.push_back(path);
  return files;
}

Result<AuditVerifyReport> VerifyAuditLog(const std::vector<std::string>& files, bool mid_chain_start) {
  AuditVerifyReport report;
  std::string prev = kZeroHash;
  uint64_t expected_seq = 1;
  std::string previous_file;  // the last file that held a record
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Status::NotFound(fmt::format("cannot read '{}': {}", file, std::strerror(errno)));
    ++report.files;
    uint64_t number = 0;
    std::string line;
    auto bad = [&](std::string_view problem) {
      report.ok = false;
      report.bad_file = file;
      report.bad_line = number;
      report.problem = fmt::format("{} line {}: {}", file, number, problem);
      return report;
    };
    while (std::getline(in, line)) {
      ++number;
      if (in.eof()) return bad("no line end (an incomplete last record: a crash mid-write, or the hub is writing it)");
      auto parsed = ParseLine(line);
      if (!parsed.ok()) return bad(parsed.status().message());
      if (!parsed->hash_matches) return bad("hash does not match its content (edited)");
      if (report.records == 0) {
        if (parsed->seq == 1 ? parsed->prev != kZeroHash : !mid_chain_start) {
          return bad(parsed->seq == 1 ? std::string("prev is not 64 zeros (the first records were removed)")
                                      : fmt::format("seq {} but the chain starts at 1 (the first records were removed)",
                                                    parsed->seq));
        }
        report.first_seq = parsed->seq;
      } else if (number == 1 && (parsed->seq != expected_seq || parsed->prev != prev)) {
        return bad(fmt::format("seq {} does not continue the chain of '{}' (which ends at {}): a file between them "
                               "was removed, or the files are out of order", parsed->seq, previous_file, expected_seq - 1));
      } else if (parsed->seq != expected_seq) {
        return bad(fmt::format("seq {} follows {} (a record was removed, added or moved)", parsed->seq, expected_seq - 1));
      } else if (parsed->prev != prev) {
        return bad(fmt::format("prev does not match line {}'s hash (reordered, removed or rewritten)", number - 1));
      }
      prev = std::move(parsed->hash);
      expected_seq = parsed->seq + 1;
      ++report.records;
      report.head_hash = prev;
    }
    if (in.bad()) return Status::NotFound(fmt::format("cannot read '{}': {}", file, std::strerror(errno)));
    if (number > 0) previous_file = file;
  }
  report.ok = true;
  return report;
}

Result<AuditVerifyReport> VerifyAuditLog(const std::string& path) {
  const std::vector<std::string> files = AuditLogFiles(path);
  return VerifyAuditLog(files, files.size() > 1);
}

}  // namespace cityhub::security
