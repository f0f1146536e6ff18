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

// `s` as a JSON string; bytes that are not UTF-8 become U+FFFD (the line must stay JSON).
void AppendField(std::string& out, std::string_view s) {
  std::string clean;
  clean.reserve(s.size());
  while (!s.empty()) {
    const size_t n = Utf8Sequence(s);
    clean.append(n ? s.substr(0, n) : std::string_view("\xEF\xBF\xBD"));
    s.remove_prefix(n ? n : 1);
  }
  util::AppendJsonString(out, clean);
}

// Appends the line of record `r` numbered `seq` after `prev`, with its newline, to `out`;
// returns its hash.
std::string AppendLine(std::string& out, const AuditRecord& r, uint64_t seq, const std::string& prev) {
  std::string body = fmt::format("{{\"seq\":{},\"time\":\"{}\",\"event\":", seq, FormatTime(r.time_us));
  AppendField(body, r.event);
  body += ",\"subject\":";
  AppendField(body, r.subject);
  body += ",\"tenant\":";
  AppendField(body, r.tenant);
  body += ",\"method\":";
  AppendField(body, r.method);
  body += ",\"path\":";
  AppendField(body, r.path);
  body += fmt::format(",\"status\":{},\"remote\":", r.status);
  AppendField(body, r.remote);
  body += ",\"detail\":";
  AppendField(body, r.detail);
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
  uint64_t seq = 0;
  std::string head = kZeroHash;
  if (last->has_value()) {
    auto parsed = ParseLine(**last);
    if (!parsed.ok() || !parsed->hash_matches) {
      ::close(fd);
      return Status::BadRequestData(fmt::format(
          "the last line of '{}' is not an intact audit record ({}); check the file with `cityhub audit verify` "
          "and move it away", path, parsed.ok() ? "its hash does not match its content" : parsed.status().message()));
    }
    seq = parsed->seq;
    head = parsed->hash;
  }
  options.max_queued = std::max<size_t>(options.max_queued, 1);
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(path), fd, seq, std::move(head), options));
}

AuditLog::AuditLog(std::string path, int fd, uint64_t seq, std::string head, AuditOptions options)
    : path_(std::move(path)), fd_(fd), options_(options), seq_(seq), head_(std::move(head)) {
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

void AuditLog::Run() {
  util::NameThisThread("audit-log");
  std::vector<AuditRecord> batch;
  std::string text;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_writer_.wait_for(lock, options_.flush_interval, [this] {
        return stopping_ || flush_requested_ || queue_.size() >= options_.max_queued;
      });
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
      flush_requested_ = false;
    }
    wake_appenders_.notify_all();  // room in the queue
    if (batch.empty()) continue;
    text.clear();
    for (const auto& r : batch) head_ = AppendLine(text, r, ++seq_, head_);
    WriteAll(fd_, text, path_);
    if (::fdatasync(fd_) != 0) spdlog::error("audit log '{}': sync failed: {}", path_, std::strerror(errno));
    {
      std::lock_guard lock(mutex_);
      written_ += batch.size();
    }
    wake_appenders_.notify_all();  // Flush waits here
    batch.clear();
  }
}

Result<AuditVerifyReport> VerifyAuditLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  AuditVerifyReport report;
  std::string prev = kZeroHash;
  uint64_t number = 0;
  std::string line;
  auto bad = [&](std::string_view problem) {
    report.ok = false;
    report.bad_line = number;
    report.problem = fmt::format("line {}: {}", number, problem);
    return report;
  };
  while (std::getline(in, line)) {
    ++number;
    if (in.eof()) return bad("no line end (an incomplete last record: a crash mid-write, or the hub is writing it)");
    auto parsed = ParseLine(line);
    if (!parsed.ok()) return bad(parsed.status().message());
    if (!parsed->hash_matches) return bad("hash does not match its content (edited)");
    if (parsed->seq != number) {
      return bad(number == 1 ? fmt::format("seq {} but the chain starts at 1 (the first records were removed)", parsed->seq)
                             : fmt::format("seq {} follows {} (a record was removed, added or moved)", parsed->seq,
                                           number - 1));
    }
    if (parsed->prev != prev) {
      return bad(number == 1 ? std::string("prev is not 64 zeros (the first records were removed)")
                             : fmt::format("prev does not match line {}'s hash (reordered, removed or rewritten)",
                                           number - 1));
    }
    prev = std::move(parsed->hash);
    report.records = number;
    report.head_hash = prev;
  }
  if (in.bad()) return Status::NotFound(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  report.ok = true;
  return report;
}

}  // namespace cityhub::security
