// API keys: credentials for machines (sensor gateways, city services) that cannot run an
// OpenID Connect flow. A key is handed out once as `chk_<id>_<secret>` — id 12 lower-case hex
// characters, secret 32 random bytes in base64url without padding — and only its SHA-256 is
// kept, with a unique name, its roles (principal.h), when it was created, when it expires and
// whether it was revoked. The secret is never stored or logged; a stolen key file lets nobody
// sign in.
//
// The keys live in one JSON file the operator chooses (e.g. /etc/cityhub/api-keys.json):
//   {"version":1,"keys":[{"id":…,"name":…,"sha256":…,"roles":[…],"created_at":…,
//                          "expires_at":…,"revoked_at":…}, …]}
// times in seconds since the epoch, 0 meaning "never" / "not revoked". `cityhub keys …`
// (app/keys_cli.h) edits it through ApiKeyFile; it is replaced atomically (temporary file with
// mode 0600, fsync, rename, fsync of the directory), so a reader sees the old or the new set,
// never half of one. A running hub reads it through ApiKeyAuthenticator, which notices a
// changed file (by inode, size and mtime) within `reload_check` and reloads it: a revocation
// takes effect without a restart. A file that fails to load leaves the keys held in force.
//
// ApiKeyFile is a plain value (not thread-safe); ApiKeyAuthenticator is thread-safe.
#pragma once

#include <atomic>
#include <optional>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "security/principal.h"
#include "util/status.h"

namespace cityhub::security {

struct ApiKeyRecord {
  std::string id;                  // 12 lower-case hex characters, public (shown by `keys list`)
  std::string name;                // unique among keys not revoked
  std::string sha256;              // hex SHA-256 of the whole key text
  std::vector<std::string> roles;  // role entries (principal.h), at least one
  int64_t created_at = 0;          // seconds since the epoch
  int64_t expires_at = 0;          // 0 = never
  int64_t revoked_at = 0;          // 0 = not revoked
};

// The key file as a value: load it, change it, save it. Not thread-safe.
class ApiKeyFile {
 public:
  // The keys in `path`; an empty set if the file does not exist. BadRequestData naming the
  // file, the key's index and the field if the content is invalid; Internal on an I/O error.
  static Result<ApiKeyFile> Load(const std::string& path);

  // Replaces `path` atomically by this set, readable by its owner only (mode 0600).
  // Internal on an I/O error (the previous file is then left as it was).
  Status Save(const std::string& path) const;

  // Adds a key and returns its text — the only time it is ever available. BadRequestData if
  // the name is invalid (1-64 of letters, digits, '_', '-', '.'; not 12 hex digits, which would
  // read as an id), if `roles` is empty or holds an invalid entry, or if `expires_at`
  // (0 = never) is not after `now`; AlreadyExists if a key not revoked has the name; Internal
  // if no random bytes could be drawn. Duplicate role entries are kept once.
  Result<std::string> Create(std::string name, std::vector<std::string> roles, int64_t expires_at, int64_t now);

  // Marks the key not revoked whose name or id is `name_or_id` revoked at `now`.
  // NotFound if there is none (also when the key is already revoked); BadRequestData if the
  // text is the name of one such key and the id of another.
  Status Revoke(std::string_view name_or_id, int64_t now);

  const std::vector<ApiKeyRecord>& keys() const { return keys_; }

 private:
  std::vector<ApiKeyRecord> keys_;
};

// Checks the API keys presented to the hub against the key file. Thread-safe: lookups share a
// read lock on an immutable snapshot; a reload builds a new snapshot and swaps it in.
class ApiKeyAuthenticator {
 public:
  // Loads `path` (a missing file = no keys; they may be added later). The errors of
  // ApiKeyFile::Load. The file is checked for changes at most every `reload_check`; removing
  // it withdraws every key (fail closed), a file that does not load keeps the keys held.
  static Result<std::unique_ptr<ApiKeyAuthenticator>> Open(
      std::string path, std::chrono::milliseconds reload_check = std::chrono::seconds(1));

  // The principal of the key text `key_text` at `now_s` (seconds since the epoch): subject
  // "apikey:<name>", issuer "", the key's roles and expiry. Unauthenticated with a reason that
  // never repeats the key: malformed, unknown or wrong key, revoked, expired.
  Result<Principal> Authenticate(std::string_view key_text, int64_t now_s);

  // How many keys the set in force holds (revoked and expired ones included).
  size_t size() const;

  // The principal `subject` ("apikey:<name>") is now: its key not revoked nor expired at `now_s`
  // (checking the file for changes first); nullopt if there is no such key any more. For what
  // a key's holder left running (its subscriptions), so that it follows revocation.
  std::optional<Principal> Current(std::string_view subject, int64_t now_s);
  // Changes whenever a new version of the key file is put in force (checking it first).
  uint64_t Generation();

  // Implementation details: the keys in force by id, and what tells a changed file.
  struct Snapshot;
  struct FileIdentity {
    bool exists = false;
    uint64_t device = 0, inode = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
  };

 private:
  ApiKeyAuthenticator(std::string path, std::chrono::milliseconds reload_check,
                      std::shared_ptr<const Snapshot> snapshot, FileIdentity identity);
  // Reloads the file if reload_check has passed since the last check and the file changed.
  void ReloadIfChanged();
  std::shared_ptr<const Snapshot> Current() const;
  std::atomic<uint64_t> generation_{0};

  const std::string path_;
  const std::chrono::milliseconds reload_check_;
  std::atomic<int64_t> next_check_ns_;  // steady clock

  mutable std::shared_mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;

  std::mutex reload_mutex_;  // one reload at a time; guards identity_
  FileIdentity identity_;    // of the file the last load attempt read
};

}  // namespace cityhub::security
