// RocksDbStore: the embedded Store — one RocksDB database per tenant.
//
// Why one database per tenant (and not a tenant prefix in one database): a tenant can be
// backed up, inspected, moved or dropped as a directory, its keys never share a block with
// another tenant's, and a bug in a key prefix cannot leak data across tenants. The cost is a
// WAL and memtables per tenant, which the shared block cache and write-buffer budget below
// keep bounded. Tenant databases are opened at start-up (found by listing the data dir) or
// lazily on the first write to a new tenant, and stay open until Close().
//
// The parts: keys.h (key layout and encodings), merge_operators.h, index_delta.h (a write's index
// changes), tuning.h, migrations.h (schema versions), tenant_store.h (one tenant's database).
#include "store/rocksdb/rocksdb_store.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>

#include <fmt/format.h>

#include "store/rocksdb/keys.h"
#include "store/rocksdb/tenant_store.h"
#include "store/rocksdb/tuning.h"

namespace cityhub::store {

namespace {

namespace fs = std::filesystem;
using rocks::FromRocks;
using rocks::MakeTuning;
using rocks::RocksTenantStore;
using rocks::Tuning;
using rocks::Unavailable;

// --- Store --------------------------------------------------------------------------------

class RocksStore final : public Store {
 public:
  // Opens the data dir and every tenant database found in it.
  static Result<std::unique_ptr<Store>> Open(const RocksDbOptions& options);
  ~RocksStore() override { Close(); }

  Result<TenantStore*> Tenant(std::string_view name, bool create) override;
  std::vector<std::string> ListTenants() override;
  Status Backup(const std::string& dir) override;
  bool ReadsLocally() const override { return true; }
  void Close() override;

 private:
  explicit RocksStore(const RocksDbOptions& options)
      : options_(options), tuning_(MakeTuning(options)) {}

  // Relative location of a tenant's database under a data or backup dir.
  static fs::path TenantDir(std::string_view name) {
    return name.empty() ? fs::path("default") : fs::path("tenants") / std::string(name);
  }
  // Opens `name` and registers it. Requires mu_ held exclusively (or no other thread yet).
  Result<TenantStore*> OpenTenantLocked(std::string_view name);

  const RocksDbOptions options_;
  const Tuning tuning_;
  std::shared_mutex mu_;
  bool closed_ = false;                                                        // guarded by mu_
  std::map<std::string, std::unique_ptr<RocksTenantStore>, std::less<>> tenants_;  // by mu_
};

Result<std::unique_ptr<Store>> RocksStore::Open(const RocksDbOptions& options) {
  const fs::path tenants_dir = fs::path(options.data_dir) / "tenants";
  std::error_code ec;
  fs::create_directories(tenants_dir, ec);
  if (ec) {
    return Status::Internal(
        fmt::format("cannot create data dir '{}': {}", tenants_dir.string(), ec.message()));
  }
  std::unique_ptr<RocksStore> store(new RocksStore(options));
  auto opened = store->OpenTenantLocked("");
  if (!opened.ok()) return opened.status();
  for (fs::directory_iterator it(tenants_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (!it->is_directory(type_ec) || !ValidTenantName(name)) continue;
    opened = store->OpenTenantLocked(name);
    if (!opened.ok()) return opened.status();
  }
  if (ec) {
    return Status::Internal(
        fmt::format("cannot list tenants in '{}': {}", tenants_dir.string(), ec.message()));
  }
  return std::unique_ptr<Store>(std::move(store));
}

Result<TenantStore*> RocksStore::OpenTenantLocked(std::string_view name) {
  const std::string path = (fs::path(options_.data_dir) / TenantDir(name)).string();
  auto opened = RocksTenantStore::Open(path, tuning_, options_.sync_writes);
  if (!opened.ok()) return opened.status();
  auto& slot = tenants_[std::string(name)];
  slot = std::move(opened).value();
  return slot.get();
}

Result<TenantStore*> RocksStore::Tenant(std::string_view name, bool create) {
  if (!name.empty() && !ValidTenantName(name)) {
    return Status::InvalidRequest(fmt::format("invalid tenant name '{}'", name));
  }
  {
    std::shared_lock lock(mu_);
    if (closed_) return Unavailable();
    if (auto it = tenants_.find(name); it != tenants_.end()) return it->second.get();
    if (!create) return Status::NotFound(fmt::format("tenant '{}' not found", name));
  }
  std::unique_lock lock(mu_);
  if (closed_) return Unavailable();
  if (auto it = tenants_.find(name); it != tenants_.end()) return it->second.get();
  // Each tenant is a database with its own files and memtables: cap how many a client can make.
  if (!name.empty() && tenants_.size() - tenants_.count("") >= options_.max_tenants) {
    return Status::BadRequestData(fmt::format(
        "tenant '{}' cannot be created: the hub already holds its maximum of {} tenants (--max-tenants)",
        name, options_.max_tenants));
  }
  return OpenTenantLocked(name);
}

std::vector<std::string> RocksStore::ListTenants() {
  std::shared_lock lock(mu_);
  std::vector<std::string> names;
  if (closed_) return names;
  for (const auto& entry : tenants_) names.push_back(entry.first);
  return names;
}

Status RocksStore::Backup(const std::string& dir) {
  std::vector<std::pair<std::string, RocksTenantStore*>> tenants;
  {
    std::shared_lock lock(mu_);
    if (closed_) return Unavailable();
    for (const auto& [name, tenant] : tenants_) tenants.emplace_back(name, tenant.get());
  }
  const fs::path root(dir);
  std::error_code ec;
  if (root.has_parent_path()) fs::create_directories(root.parent_path(), ec);
  if (ec || !fs::create_directory(root, ec)) {
    if (ec) {
      return Status::Internal(
          fmt::format("cannot create backup dir '{}': {}", dir, ec.message()));
    }
    return Status::AlreadyExists(fmt::format("backup dir '{}' already exists", dir));
  }
  fs::create_directory(root / "tenants", ec);
  Status status = ec ? Status::Internal(fmt::format("cannot create '{}/tenants': {}", dir,
                                                    ec.message()))
                     : Status::Ok();
  for (const auto& [name, tenant] : tenants) {
    if (!status.ok()) break;
    status = tenant->Checkpoint((root / TenantDir(name)).string());
  }
  if (!status.ok()) fs::remove_all(root, ec);
  return status;
}

void RocksStore::Close() {
  std::vector<RocksTenantStore*> tenants;
  {
    // Tenants close outside the lock: a scan still running may call Tenant() and must get
    // kUnavailable rather than wait on a lock held by the Close() that waits for that scan.
    std::unique_lock lock(mu_);
    closed_ = true;
    for (const auto& entry : tenants_) tenants.push_back(entry.second.get());
  }
  for (auto* tenant : tenants) tenant->Close();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenRocksDbStore(const RocksDbOptions& options) {
  return RocksStore::Open(options);
}

}  // namespace cityhub::store
