// `cityhub keys create|list|revoke` (see keys_cli.h). Each change is load, edit, save of the
// whole file under an exclusive lock on PATH.lock, so two operators (or scripts) running at
// once cannot lose each other's change — a lost revocation would leave a key working. The key
// text goes to stdout alone, so `KEY=$(cityhub keys create …)` captures exactly it; every
// note and error goes to stderr.
#include "app/keys_cli.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <system_error>

#include <CLI/CLI.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "security/api_keys.h"

namespace cityhub::app {

namespace {

using security::ApiKeyFile;
using security::ApiKeyRecord;

constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kMaxExpiryDays = 36500;

int Refused(std::string_view command, std::string_view reason) {
  std::cerr << fmt::format("cityhub keys {}: {}\n", command, reason);
  return 1;
}

// An exclusive advisory lock on PATH.lock, held while the object lives.
class KeyFileLock {
 public:
  explicit KeyFileLock(const std::string& key_file) {
    const std::string path = key_file + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      error_ = fmt::format("cannot open the lock file {}: {}", path, std::error_code(errno, std::system_category()).message());
    } else if (::flock(fd_, LOCK_EX) != 0) {
      error_ = fmt::format("cannot lock {}: {}", path, std::error_code(errno, std::system_category()).message());
    }
  }
  ~KeyFileLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  KeyFileLock(const KeyFileLock&) = delete;
  KeyFileLock& operator=(const KeyFileLock&) = delete;

  // "" when the lock is held, else why not.
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

std::string Rfc3339(int64_t seconds) { return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(static_cast<std::time_t>(seconds))); }

std::string JoinRoles(const std::vector<std::string>& roles) {
  std::string out;
  for (const std::string& r : roles) out += (out.empty() ? "" : ",") + r;
  return out;
}

// One row of `keys list` per key, columns padded to their widest cell.
void PrintTable(const std::vector<ApiKeyRecord>& keys) {
  std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "ROLES", "CREATED", "EXPIRES", "REVOKED"}};
  for (const ApiKeyRecord& k : keys) {
    rows.push_back({k.id, k.name, JoinRoles(k.roles), Rfc3339(k.created_at),
                    k.expires_at == 0 ? "never" : Rfc3339(k.expires_at), k.revoked_at == 0 ? "-" : Rfc3339(k.revoked_at)});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += c + 1 == row.size() ? row[c] : fmt::format("{:<{}}  ", row[c], widths[c]);
    }
    std::cout << line << "\n";
  }
}

}  // namespace

KeysCommand::KeysCommand(CLI::App& app) {
  keys_ = app.add_subcommand("keys", "Manage the API keys of machines (sensor gateways, city services)");
  keys_->require_subcommand(1);

  create_ = keys_->add_subcommand("create", "Create a key and print it on stdout (shown only this once)");
  create_->add_option("--file", file_, "API key file (e.g. /etc/cityhub/api-keys.json)")->required();
  create_->add_option("--name", name_, "Unique name of the key: 1-64 letters, digits, '_', '-', '.'")->required();
  create_->add_option("--role", roles_, "Role entry: ROLE, TENANT:ROLE or *:ROLE (repeatable)")->required();
  create_->add_option("--expires-in-days", expires_in_days_, "Days until the key expires (default: never)")
      ->check(CLI::Range(int64_t{1}, kMaxExpiryDays));

  list_ = keys_->add_subcommand("list", "List the keys: id, name, roles, created, expires, revoked (UTC)");
  list_->add_option("--file", file_, "API key file")->required();

  revoke_ = keys_->add_subcommand("revoke", "Revoke a key by name or id; a running hub refuses it within seconds");
  revoke_->add_option("--file", file_, "API key file")->required();
  revoke_->add_option("name_or_id", name_or_id_, "Name or id of the key")->required();
}

bool KeysCommand::selected() const { return keys_->parsed(); }

int KeysCommand::Run() const {
  if (create_->parsed()) return Create();
  if (list_->parsed()) return List();
  if (revoke_->parsed()) return Revoke();
  return 2;
}

int KeysCommand::Create() const {
  KeyFileLock lock(file_);
  if (!lock.error().empty()) return Refused("create", lock.error());
  auto file = ApiKeyFile::Load(file_);
  if (!file.ok()) return Refused("create", file.status().message());
  const int64_t now = std::time(nullptr);
  const int64_t expires_at = expires_in_days_ == 0 ? 0 : now + expires_in_days_ * kSecondsPerDay;
  auto text = file->Create(name_, roles_, expires_at, now);
  if (!text.ok()) return Refused("create", text.status().message());
  if (Status st = file->Save(file_); !st.ok()) return Refused("create", st.message());
  const ApiKeyRecord& key = file->keys().back();
  std::cout << *text << std::endl;
  std::cerr << fmt::format("API key '{}' (id {}) created{}. It is shown only this once: store it now.\n", key.name,
                           key.id, expires_at == 0 ? "" : ", expires " + Rfc3339(expires_at));
  return 0;
}

int KeysCommand::List() const {
  auto file = ApiKeyFile::Load(file_);
  if (!file.ok()) return Refused("list", file.status().message());
  if (!std::filesystem::exists(file_)) std::cerr << fmt::format("{} does not exist yet: no keys\n", file_);
  PrintTable(file->keys());
  return 0;
}

int KeysCommand::Revoke() const {
  KeyFileLock lock(file_);
  if (!lock.error().empty()) return Refused("revoke", lock.error());
  auto file = ApiKeyFile::Load(file_);
  if (!file.ok()) return Refused("revoke", file.status().message());
  if (Status st = file->Revoke(name_or_id_, std::time(nullptr)); !st.ok()) return Refused("revoke", st.message());
  if (Status st = file->Save(file_); !st.ok()) return Refused("revoke", st.message());
  std::cout << fmt::format("API key '{}' revoked\n", name_or_id_);
  return 0;
}

}  // namespace cityhub::app
