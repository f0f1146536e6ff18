// API keys (see api_keys.h). Trade-offs:
//  - Only SHA-256 of the key text is stored, not a slow password hash: the secret is 256 random
//    bits, so there is nothing to brute-force, and a check costs one hash, not tens of
//    milliseconds per request. The comparison is constant-time (CRYPTO_memcmp).
//  - An unknown id and a wrong secret give the same answer, so a caller cannot probe ids.
//    Revoked and expired are told apart only once the secret has matched.
//  - The hub polls the file (one stat() at most every reload_check, on the request path)
//    instead of watching it: no thread, no inotify, and it works on any file system. A failed
//    reload is logged once per change of the file and leaves the keys in force.
#include "security/api_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "security/jwt.h"
#include "util/json.h"
#include "util/string_map.h"

namespace cityhub::security {
namespace json = boost::json;

struct ApiKeyAuthenticator::Snapshot {
  util::StringMap<ApiKeyRecord> by_id;
};

namespace {

constexpr std::string_view kKeyPrefix = "chk_";
constexpr size_t kIdChars = 12;
constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretChars = 43;  // base64url of 32 bytes, unpadded
constexpr size_t kKeyTextChars = kKeyPrefix.size() + kIdChars + 1 + kSecretChars;
constexpr size_t kSha256HexChars = 64;
constexpr size_t kMaxNameChars = 64;
constexpr size_t kMaxFileBytes = 16 << 20;
constexpr int64_t kFileVersion = 1;

Status Unauthenticated(std::string reason) { return Status(Status::Code::kUnauthenticated, std::move(reason)); }

std::string ErrnoText() { return std::error_code(errno, std::system_category()).message(); }

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool IsRoleChar(char c) { return IsAlnum(c) || c == '_' || c == '-'; }
bool IsNameChar(char c) { return IsRoleChar(c) || c == '.'; }
bool IsBase64UrlChar(char c) { return IsRoleChar(c); }

bool IsLowerHex(std::string_view s, size_t length) {
  return s.size() == length &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool ValidRoleName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), IsRoleChar);
}

// The charset of store::ValidTenantName (security/ does not depend on store/), or "*".
bool ValidTenantScope(std::string_view s) { return s == "*" || (ValidRoleName(s) && s.front() != '-'); }

Status CheckRoleEntry(std::string_view entry) {
  const size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) != std::string_view::npos) {
    return Status::BadRequestData(
        fmt::format("role '{}': more than one ':' (write <role>, <tenant>:<role> or *:<role>)", entry));
  }
  std::string_view role = colon == std::string_view::npos ? entry : entry.substr(colon + 1);
  if (!ValidRoleName(role)) {
    return Status::BadRequestData(
        fmt::format("role '{}': a role name is 1-64 letters, digits, '_' or '-'", entry));
  }
  if (colon != std::string_view::npos && !ValidTenantScope(entry.substr(0, colon))) {
    return Status::BadRequestData(fmt::format(
        "role '{}': the tenant is '*' or 1-64 letters, digits, '_' or '-', not starting with '-'", entry));
  }
  return Status::Ok();
}

Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameChars || !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return Status::BadRequestData(
        fmt::format("key name '{}': a name is 1-{} letters, digits, '_', '-' or '.'", name, kMaxNameChars));
  }
  return Status::Ok();
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string Sha256Hex(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &md_len, EVP_sha256(), nullptr) != 1) return std::string();
  return Hex(md, md_len);
}

// `n` bytes from OpenSSL's CSPRNG.
Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::Internal("OpenSSL could not draw random bytes for an API key");
  }
  return out;
}

// The id of a key text of the form chk_<id>_<secret>, or "" if it is not of that form.
std::string_view KeyIdOf(std::string_view text) {
  if (text.size() != kKeyTextChars || text.substr(0, kKeyPrefix.size()) != kKeyPrefix) return {};
  std::string_view id = text.substr(kKeyPrefix.size(), kIdChars);
  std::string_view secret = text.substr(kKeyPrefix.size() + kIdChars + 1);
  if (!IsLowerHex(id, kIdChars) || text[kKeyPrefix.size() + kIdChars] != '_' ||
      !std::all_of(secret.begin(), secret.end(), IsBase64UrlChar)) {
    return {};
  }
  return id;
}

// ---- the file ----

struct FileContent {
  std::string text;  // "" when the file does not exist
  ApiKeyAuthenticator::FileIdentity identity;
};

ApiKeyAuthenticator::FileIdentity IdentityOf(const struct stat& st) {
  return {true, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// The text of `path` with the identity of exactly the file read (fstat of the open file).
Result<FileContent> ReadKeyFile(const std::string& path) {
  FileContent out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return Status::Internal(fmt::format("API key file {}: cannot open: {}", path, ErrnoText()));
  }
  struct stat st {};
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = Status::Internal(fmt::format("API key file {}: cannot stat: {}", path, ErrnoText()));
  } else if (!S_ISREG(st.st_mode)) {
    status = Status::BadRequestData(fmt::format("API key file {}: not a regular file", path));
  } else if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    status = Status::BadRequestData(fmt::format("API key file {}: larger than {} bytes", path, kMaxFileBytes));
  } else {
    out.identity = IdentityOf(st);
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) status = Status::Internal(fmt::format("API key file {}: cannot read: {}", path, ErrnoText()));
      if (n <= 0) break;
      out.text.append(buffer, static_cast<size_t>(n));
      if (out.text.size() > kMaxFileBytes) {
        status = Status::BadRequestData(fmt::format("API key file {}: larger than {} bytes", path, kMaxFileBytes));
        break;
      }
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return out;
}

// Reads one key object's fields into `r`; the message names the field ("keys[3].name: …").
class RecordReader {
 public:
  RecordReader(const json::object& o, std::string where) : o_(o), where_(std::move(where)) {}

  Status Read(ApiKeyRecord* r) {
    static constexpr std::string_view kFields[] = {"id", "name", "sha256", "roles", "created_at", "expires_at",
                                                   "revoked_at"};
    for (const auto& field : o_) {
      if (std::find(std::begin(kFields), std::end(kFields), field.key()) == std::end(kFields)) {
        return Error(field.key(), "unknown field");
      }
    }
    CITYHUB_RETURN_IF_ERROR(String("id", &r->id));
    if (!IsLowerHex(r->id, kIdChars)) return Error("id", fmt::format("not {} lower-case hex characters", kIdChars));
    CITYHUB_RETURN_IF_ERROR(String("name", &r->name));
    if (Status st = CheckName(r->name); !st.ok()) return Error("name", st.message());
    CITYHUB_RETURN_IF_ERROR(String("sha256", &r->sha256));
    if (!IsLowerHex(r->sha256, kSha256HexChars)) {
      return Error("sha256", fmt::format("not {} lower-case hex characters", kSha256HexChars));
    }
    CITYHUB_RETURN_IF_ERROR(Roles(&r->roles));
    CITYHUB_RETURN_IF_ERROR(Time("created_at", &r->created_at));
    CITYHUB_RETURN_IF_ERROR(Time("expires_at", &r->expires_at));
    return Time("revoked_at", &r->revoked_at);
  }

 private:
  Status Error(std::string_view field, std::string_view what) const {
    return Status::BadRequestData(fmt::format("{}.{}: {}", where_, field, what));
  }
  Status String(std::string_view field, std::string* out) const {
    const json::value* v = o_.if_contains(field);
    if (!v) return Error(field, "missing");
    if (!v->is_string()) return Error(field, "not a string");
    *out = std::string(v->get_string());
    return Status::Ok();
  }
  Status Time(std::string_view field, int64_t* out) const {
    const json::value* v = o_.if_contains(field);
    if (!v) return Error(field, "missing");
    if (v->is_int64() && v->get_int64() >= 0) {
      *out = v->get_int64();
      return Status::Ok();
    }
    return Error(field, "not a whole number of seconds since the epoch (0 or more)");
  }
  Status Roles(std::vector<std::string>* out) const {
    const json::value* v = o_.if_contains("roles");
    if (!v) return Error("roles", "missing");
    if (!v->is_array() || v->get_array().empty()) return Error("roles", "not a non-empty array");
    for (const json::value& role : v->get_array()) {
      if (!role.is_string()) return Error("roles", "holds a value that is not a string");
      if (Status st = CheckRoleEntry(role.get_string()); !st.ok()) return Error("roles", st.message());
      out->emplace_back(role.get_string());
    }
    return Status::Ok();
  }

  const json::object& o_;
  std::string where_;
};

Result<std::vector<ApiKeyRecord>> ParseKeyFile(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = util::ParseJson(text, ec);
  if (ec) return Status::BadRequestData(fmt::format("not valid JSON: {}", ec.message()));
  if (!doc.is_object()) return Status::BadRequestData("not a JSON object");
  const json::object& top = doc.get_object();
  for (const auto& field : top) {
    if (field.key() != "version" && field.key() != "keys") {
      return Status::BadRequestData(fmt::format("unknown field '{}'", std::string_view(field.key())));
    }
  }
  const json::value* version = top.if_contains("version");
  if (!version || !version->is_int64() || version->get_int64() != kFileVersion) {
    return Status::BadRequestData(fmt::format("'version' must be {}", kFileVersion));
  }
  const json::value* keys = top.if_contains("keys");
  if (!keys || !keys->is_array()) return Status::BadRequestData("'keys' must be an array");
  std::vector<ApiKeyRecord> out;
  for (size_t i = 0; i < keys->get_array().size(); ++i) {
    const json::value& k = keys->get_array()[i];
    if (!k.is_object()) return Status::BadRequestData(fmt::format("keys[{}]: not an object", i));
    ApiKeyRecord r;
    CITYHUB_RETURN_IF_ERROR(RecordReader(k.get_object(), fmt::format("keys[{}]", i)).Read(&r));
    for (const ApiKeyRecord& other : out) {
      if (other.id == r.id) return Status::BadRequestData(fmt::format("keys[{}].id: '{}' is used twice", i, r.id));
      if (other.name == r.name && other.revoked_at == 0 && r.revoked_at == 0) {
        return Status::BadRequestData(
            fmt::format("keys[{}].name: '{}' is held by two keys that are not revoked", i, r.name));
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<ApiKeyRecord>> LoadKeys(const std::string& path, ApiKeyAuthenticator::FileIdentity* identity) {
  auto content = ReadKeyFile(path);
  if (!content.ok()) return content.status();
  *identity = content->identity;
  if (!content->identity.exists) return std::vector<ApiKeyRecord>();
  auto keys = ParseKeyFile(content->text);
  if (!keys.ok()) {
    return Status(keys.status().code(), fmt::format("API key file {}: {}", path, keys.status().message()));
  }
  return keys;
}

std::string SerializeKeyFile(const std::vector<ApiKeyRecord>& keys) {
  std::string out = fmt::format("{{\"version\":{},\"keys\":[", kFileVersion);
  for (size_t i = 0; i < keys.size(); ++i) {
    const ApiKeyRecord& k = keys[i];
    json::object o;
    o["id"] = k.id;
    o["name"] = k.name;
    o["sha256"] = k.sha256;
    json::array& roles = o["roles"].emplace_array();
    for (const std::string& role : k.roles) roles.emplace_back(role);
    o["created_at"] = k.created_at;
    o["expires_at"] = k.expires_at;
    o["revoked_at"] = k.revoked_at;
    out += i == 0 ? "\n" : ",\n";  // one key a line: readable, diffable
    util::AppendJson(out, o);
  }
  out += keys.empty() ? "]}\n" : "\n]}\n";
  return out;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Internal(ErrnoText());
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Internal(fmt::format("cannot open directory {}: {}", dir, ErrnoText()));
  Status status = ::fsync(fd) == 0 ? Status::Ok() : Status::Internal(fmt::format("cannot fsync directory {}: {}", dir, ErrnoText()));
  ::close(fd);
  return status;
}

// Writes `data` to a new file beside `path` (mode 0600), syncs it and renames it over `path`.
Status ReplaceFileAtomically(const std::string& path, std::string_view data) {
  const std::filesystem::path target(path);
  std::string dir = target.parent_path().string();
  if (dir.empty()) dir = ".";
  std::string temp = (std::filesystem::path(dir) / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);  // created with mode 0600
  if (fd < 0) return Status::Internal(fmt::format("API key file {}: cannot create a file in {}: {}", path, dir, ErrnoText()));
  Status status = WriteAll(fd, data);
  if (status.ok() && ::fchmod(fd, 0600) != 0) status = Status::Internal(fmt::format("chmod: {}", ErrnoText()));
  if (status.ok() && ::fsync(fd) != 0) status = Status::Internal(fmt::format("fsync: {}", ErrnoText()));
  if (::close(fd) != 0 && status.ok()) status = Status::Internal(fmt::format("close: {}", ErrnoText()));
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) status = Status::Internal(fmt::format("rename: {}", ErrnoText()));
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return Status::Internal(fmt::format("API key file {}: cannot write {}: {}", path, temp, status.message()));
  }
  return SyncDirectory(dir);
}

std::shared_ptr<const ApiKeyAuthenticator::Snapshot> SnapshotOf(std::vector<ApiKeyRecord> keys) {
  auto snapshot = std::make_shared<ApiKeyAuthenticator::Snapshot>();
  for (ApiKeyRecord& k : keys) {
    std::string id = k.id;
    snapshot->by_id.emplace(std::move(id), std::move(k));
  }
  return snapshot;
}

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- ApiKeyFile ----

Result<ApiKeyFile> ApiKeyFile::Load(const std::string& path) {
  ApiKeyAuthenticator::FileIdentity identity;
  auto keys = LoadKeys(path, &identity);
  if (!keys.ok()) return keys.status();
  ApiKeyFile file;
  file.keys_ = std::move(*keys);
  return file;
}

Status ApiKeyFile::Save(const std::string& path) const { return ReplaceFileAtomically(path, SerializeKeyFile(keys_)); }

Result<std::string> ApiKeyFile::Create(std::string name, std::vector<std::string> roles, int64_t expires_at,
                                       int64_t now) {
  CITYHUB_RETURN_IF_ERROR(CheckName(name));
  if (IsLowerHex(name, kIdChars)) {
    return Status::BadRequestData(
        fmt::format("key name '{}': 12 hex digits would read as a key id; choose another name", name));
  }
  for (const ApiKeyRecord& k : keys_) {
    if (k.name == name && k.revoked_at == 0) {
      return Status::AlreadyExists(fmt::format("an API key named '{}' exists (id {}); revoke it first", name, k.id));
    }
  }
  if (roles.empty()) return Status::BadRequestData("an API key needs at least one role");
  std::vector<std::string> unique_roles;
  for (std::string& role : roles) {
    CITYHUB_RETURN_IF_ERROR(CheckRoleEntry(role));
    if (std::find(unique_roles.begin(), unique_roles.end(), role) == unique_roles.end()) {
      unique_roles.push_back(std::move(role));
    }
  }
  if (expires_at < 0 || (expires_at != 0 && expires_at <= now)) {
    return Status::BadRequestData("the expiry of an API key must be in the future (or 0 for never)");
  }

  std::string id;
  do {
    auto bytes = RandomBytes(kIdChars / 2);
    if (!bytes.ok()) return bytes.status();
    id = Hex(reinterpret_cast<const unsigned char*>(bytes->data()), bytes->size());
  } while (std::any_of(keys_.begin(), keys_.end(), [&](const ApiKeyRecord& k) { return k.id == id; }));
  auto secret = RandomBytes(kSecretBytes);
  if (!secret.ok()) return secret.status();
  std::string text = fmt::format("{}{}_{}", kKeyPrefix, id, Base64UrlEncode(*secret));
  OPENSSL_cleanse(secret->data(), secret->size());

  ApiKeyRecord record;
  record.id = std::move(id);
  record.name = std::move(name);
  record.sha256 = Sha256Hex(text);
  if (record.sha256.size() != kSha256HexChars) return Status::Internal("OpenSSL could not compute SHA-256");
  record.roles = std::move(unique_roles);
  record.created_at = now;
  record.expires_at = expires_at;
  keys_.push_back(std::move(record));
  return text;
}

Status ApiKeyFile::Revoke(std::string_view name_or_id, int64_t now) {
  std::vector<ApiKeyRecord*> matches;
  for (ApiKeyRecord& k : keys_) {
    if (k.revoked_at == 0 && (k.id == name_or_id || k.name == name_or_id)) matches.push_back(&k);
  }
  if (matches.empty()) return Status::NotFound(fmt::format("no API key that is not revoked has the name or id '{}'", name_or_id));
  if (matches.size() > 1) {
    return Status::BadRequestData(fmt::format("'{}' is the name of one key and the id of another; revoke by id ({} or {})",
                                              name_or_id, matches[0]->id, matches[1]->id));
  }
  matches[0]->revoked_at = std::max<int64_t>(now, 1);  // 0 would mean "not revoked"
  return Status::Ok();
}

// ---- ApiKeyAuthenticator ----

Result<std::unique_ptr<ApiKeyAuthenticator>> ApiKeyAuthenticator::Open(std::string path,
                                                                       std::chrono::milliseconds reload_check) {
  FileIdentity identity;
  auto keys = LoadKeys(path, &identity);
  if (!keys.ok()) return keys.status();
  if (!identity.exists) spdlog::warn("API key file {} does not exist: no API key is accepted until it does", path);
  return std::unique_ptr<ApiKeyAuthenticator>(
      new ApiKeyAuthenticator(std::move(path), reload_check, SnapshotOf(std::move(*keys)), identity));
}

ApiKeyAuthenticator::ApiKeyAuthenticator(std::string path, std::chrono::milliseconds reload_check,
                                         std::shared_ptr<const Snapshot> snapshot, FileIdentity identity)
    : path_(std::move(path)),
      reload_check_(reload_check),
      next_check_ns_(SteadyNowNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(reload_check).count()),
      snapshot_(std::move(snapshot)),
      identity_(identity) {}

std::shared_ptr<const ApiKeyAuthenticator::Snapshot> ApiKeyAuthenticator::Current() const {
  std::shared_lock lock(snapshot_mutex_);
  return snapshot_;
}

size_t ApiKeyAuthenticator::size() const { return Current()->by_id.size(); }

void ApiKeyAuthenticator::ReloadIfChanged() {
  const int64_t now = SteadyNowNs();
  if (now < next_check_ns_.load(std::memory_order_relaxed)) return;
  std::unique_lock lock(reload_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another request is checking; this one uses the keys in force
  if (now < next_check_ns_.load(std::memory_order_relaxed)) return;
  next_check_ns_.store(now + std::chrono::duration_cast<std::chrono::nanoseconds>(reload_check_).count(),
                       std::memory_order_relaxed);

  FileIdentity seen;
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    seen = IdentityOf(st);
  } else if (errno != ENOENT) {
    spdlog::warn("API key file {}: cannot stat ({}); the keys held stay in force", path_, ErrnoText());
    return;
  }
  if (seen == identity_) return;

  FileIdentity loaded;
  auto keys = LoadKeys(path_, &loaded);
  if (!keys.ok()) {
    identity_ = seen;  // warn once per change, not at every check
    spdlog::warn("{}; the {} keys held stay in force", keys.status().message(), size());
    return;
  }
  identity_ = loaded;
  const size_t count = keys->size();
  auto snapshot = SnapshotOf(std::move(*keys));
  {
    std::unique_lock write(snapshot_mutex_);
    snapshot_.swap(snapshot);
  }
  generation_.fetch_add(1, std::memory_order_release);
  if (loaded.exists) {
    spdlog::info("API key file {} reloaded: {} keys", path_, count);
  } else {
    spdlog::warn("API key file {} was removed: no API key is accepted until it exists again", path_);
  }
}

Result<Principal> ApiKeyAuthenticator::Authenticate(std::string_view key_text, int64_t now_s) {
  ReloadIfChanged();
  const std::string_view id = KeyIdOf(key_text);
  if (id.empty()) return Unauthenticated("malformed API key (expected chk_<id>_<secret>)");
  const std::string digest = Sha256Hex(key_text);
  const std::shared_ptr<const Snapshot> snapshot = Current();
  auto it = snapshot->by_id.find(id);
  if (it == snapshot->by_id.end() || digest.size() != kSha256HexChars ||
      CRYPTO_memcmp(digest.data(), it->second.sha256.data(), kSha256HexChars) != 0) {
    return Unauthenticated("unknown or wrong API key");
  }
  const ApiKeyRecord& key = it->second;
  if (key.revoked_at != 0) return Unauthenticated(fmt::format("API key '{}' is revoked", key.name));
  if (key.expires_at != 0 && now_s >= key.expires_at) return Unauthenticated(fmt::format("API key '{}' has expired", key.name));
  Principal p;
  p.subject = "apikey:" + key.name;
  p.roles = key.roles;
  p.expires_at = key.expires_at;
  return p;
}

std::optional<Principal> ApiKeyAuthenticator::Current(std::string_view subject, int64_t now_s) {
  constexpr std::string_view kPrefix = "apikey:";
  if (subject.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view name = subject.substr(kPrefix.size());
  ReloadIfChanged();
  const std::shared_ptr<const Snapshot> snapshot = Current();
  for (const auto& [id, key] : snapshot->by_id) {
    if (key.name != name || key.revoked_at != 0 || (key.expires_at != 0 && now_s >= key.expires_at)) continue;
    Principal p;
    p.subject = std::string(subject);
    p.roles = key.roles;
    p.expires_at = key.expires_at;
    return p;
  }
  return std::nullopt;
}

uint64_t ApiKeyAuthenticator::Generation() {
  ReloadIfChanged();
  return generation_.load(std::memory_order_acquire);
}

}  // namespace cityhub::security
