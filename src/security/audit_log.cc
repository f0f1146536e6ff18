#include "security/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "util/json.h"
#include "util/thread_name.h"

namespace cityhub::security {
namespace json = boost::json;

namespace {

constexpr std::string_view kHashMember = ",\"hash\":\"";
const std::string kZeroHash(64, '0');

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string FormatTime(int64_t time_us) {
  const time_t seconds = static_cast<time_t>(time_us / 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, time_us % 1'000'000);
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

// The line of record `r` numbered `seq` after `prev`, with its trailing newline.
std::string Line(const AuditRecord& r, uint64_t seq, const std::string& prev, std::string* hash) {
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
  *hash = Sha256Hex(body);
  return body + std::string(kHashMember) + *hash + "\"}\n";
}

// A line split into what its hash covers and the facts the chain needs.
struct ParsedLine {
  uint64_t seq = 0;
  std::string prev;
  std::string hash;
  bool hash_matches = false;
};

Result<ParsedLine> ParseLine(std::string_view line) {
  const size_t at = line.rfind(kHashMember);
  if (at == std::string_view::npos || line.size() != at + kHashMember.size() + 64 + 2 ||
      line.substr(line.size() - 2) != "\"}") {
    return Status::BadRequestData("not an audit record (no hash at its end)");
  }
  ParsedLine p;
  const std::string_view body = line.substr(0, at);
  p.hash = std::string(line.substr(at + kHashMember.size(), 64));
  boost::system::error_code ec;
  json::value v = json::parse(std::string(body) + "}", ec);
  if (ec || !v.is_object()) return Status::BadRequestData("not an audit record (not JSON)");
  const json::object& o = v.get_object();
  const json::value* seq = o.if_contains("seq");
  const json::value* prev = o.if_contains("prev");
  if (!seq || !(seq->is_uint64() || seq->is_int64()) || !prev || !prev->is_string() || prev->get_string().size() != 64) {
    return Status::BadRequestData("not an audit record (no seq or prev)");
  }
  p.seq = seq->to_number<uint64_t>();
  p.prev = std::string(prev->get_string());
  p.hash_matches = Sha256Hex(body) == p.hash;
  return p;
}

// The last line of the file `fd` of `size` bytes (without its newline); cuts off a torn tail.
Result<std::string> LastLine(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::Internal(fmt::format("cannot stat '{}'", path));
  off_t size = st.st_size;
  std::string tail;
  for (size_t chunk = 4096;; chunk *= 2) {
    const off_t from = size > static_cast<off_t>(chunk) ? size - static_cast<off_t>(chunk) : 0;
    tail.resize(static_cast<size_t>(size - from));
    if (::pread(fd, tail.data(), tail.size(), from) != static_cast<ssize_t>(tail.size())) {
      return Status::Internal(fmt::format("cannot read '{}'", path));
    }
    if (!tail.empty() && tail.back() != '\n') {  // torn: a crash in the middle of a write
      const size_t nl = tail.rfind('\n');
      if (nl == std::string::npos && from > 0) continue;  // the torn line is longer than the chunk
      const off_t keep = nl == std::string::npos ? 0 : from + static_cast<off_t>(nl) + 1;
      spdlog::warn("audit log '{}': cutting off an incomplete last record ({} bytes)", path, size - keep);
      if (::ftruncate(fd, keep) != 0) return Status::Internal(fmt::format("cannot truncate '{}'", path));
      size = keep;
      tail.clear();
      if (size == 0) return std::string();
      continue;
    }
    if (tail.empty()) return std::string();
    const size_t start = tail.rfind('\n', tail.size() - 2);
    if (start == std::string::npos && from > 0) continue;  // the line started before the chunk
    return tail.substr(start == std::string::npos ? 0 : start + 1, tail.size() - 1 - (start == std::string::npos ? 0 : start + 1));
  }
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::string path, AuditOptions options) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) return Status::BadRequestData(fmt::format("cannot create directory '{}': {}", dir.string(), ec.message()));
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    }
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::BadRequestData(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  auto last = LastLine(fd, path);
  if (!last.ok()) {
    ::close(fd);
    return last.status();
  }
  uint64_t seq = 0;
  std::string head = kZeroHash;
  if (!last->empty()) {
    auto parsed = ParseLine(*last);
    if (!parsed.ok() || !parsed->hash_matches) {
      ::close(fd);
      return Status::BadRequestData(fmt::format("the last line of '{}' is not an intact audit record; check it with "
                                                "`cityhub audit verify` and move the file away", path));
    }
    seq = parsed->seq;
    head = parsed->hash;
  }
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
  wake_appenders_.wait(lock, [this] { return queue_.size() < options_.max_queued || stopping_; });
  queue_.push_back(std::move(record));
  ++appended_;
}

void AuditLog::Flush() {
  std::unique_lock lock(mutex_);
  const uint64_t target = appended_;
  wake_writer_.notify_all();
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
      wake_writer_.wait_for(lock, options_.flush_interval, [this] { return stopping_; });
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
    }
    wake_appenders_.notify_all();
    if (batch.empty()) continue;
    text.clear();
    for (const auto& r : batch) {
      std::string hash;
      text += Line(r, ++seq_, head_, &hash);
      head_ = std::move(hash);
    }
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // Nothing sensible to do but say so loudly: the chain on disk stays valid up to here.
        spdlog::error("audit log '{}': write failed: {}", path_, std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      done += static_cast<size_t>(n);
    }
    if (::fdatasync(fd_) != 0) spdlog::error("audit log '{}': sync failed: {}", path_, std::strerror(errno));
    {
      std::lock_guard lock(mutex_);
      written_ += batch.size();
    }
    wake_appenders_.notify_all();
    batch.clear();
  }
}

Result<AuditVerifyReport> VerifyAuditLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("cannot read '{}'", path));
  AuditVerifyReport report;
  std::string prev = kZeroHash;
  uint64_t expected_seq = 1;
  uint64_t number = 0;
  std::string line;
  auto bad = [&](std::string problem) {
    report.ok = false;
    report.bad_line = number;
    report.problem = fmt::format("line {}: {}", number, problem);
    return report;
  };
  while (std::getline(in, line)) {
    ++number;
    if (in.eof()) return bad("has no line end (an incomplete last record)");
    auto parsed = ParseLine(line);
    if (!parsed.ok()) return bad(std::string(parsed.status().message()));
    if (!parsed->hash_matches) return bad("its hash does not match its content (the record was edited)");
    if (parsed->seq != expected_seq) {
      return bad(fmt::format("seq {} where {} was due (a record was removed, added or moved)", parsed->seq, expected_seq));
    }
    if (parsed->prev != prev) {
      return bad(number == 1 ? "the first record does not start the chain (records before it were removed)"
                             : fmt::format("its prev does not match line {}'s hash (records removed or reordered)", number - 1));
    }
    prev = parsed->hash;
    ++expected_seq;
    report.records = number;
    report.head_hash = prev;
  }
  report.ok = true;
  return report;
}

}  // namespace cityhub::security
