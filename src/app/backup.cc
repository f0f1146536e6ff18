#include "app/backup.h"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "api/request.h"
#include "app/hub_client.h"
#include "app/storage.h"
#include "store/rocksdb/rocksdb_store.h"

namespace cityhub::app {
namespace json = boost::json;

namespace {

// A backup's name under --backup-dir: one path component, no hidden or parent names.
bool ValidBackupName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// Writes every tenant's checkpoint to `target` and makes the copy readable by its owner only
// (it holds every tenant's data).
Status WriteBackup(store::Store& store, const std::filesystem::path& target) {
  CITYHUB_RETURN_IF_ERROR(store.Backup(target.string()));
  std::error_code ec;
  std::filesystem::permissions(target, std::filesystem::perms::owner_all, ec);
  return Status::Ok();
}

// Sends POST /admin/backup to a hub on loopback; returns the HTTP status or -1.
int RequestBackup(const std::string& host, unsigned short port, const std::string& name, bool tls) {
  const std::string body = json::serialize(json::object{{"name", name}});
  auto reply = SendToHub(host, port, tls, "POST", "/admin/backup", "application/json", body);
  if (!reply.ok()) return -1;
  if (reply->status != 204) spdlog::error("the hub refused the backup: {}", reply->body);
  return reply->status;
}

}  // namespace

http::Response AdminBackup(store::Store& store, const std::filesystem::path& root, const api::ApiLimits& limits,
                           const http::Request& req) {
  if (!IsLoopbackPeer(req.remote_address)) return api::Problem(Status::NotFound("no resource at this path"));
  auto body = api::ParseJsonBody(req, limits);
  if (!body.ok()) return api::Problem(body.status());
  const json::value* name = body->value.is_object() ? body->value.get_object().if_contains("name") : nullptr;
  if (!name || !name->is_string() || !ValidBackupName(name->get_string())) {
    return api::Problem(Status::BadRequestData(
        "body must be {\"name\": \"<new backup name>\"}: 1-128 letters, digits, '-', '_' or '.', not starting with '.'"));
  }
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  std::filesystem::permissions(root, std::filesystem::perms::owner_all, ec);
  std::filesystem::path target = root / std::string(name->get_string());
  Status st = WriteBackup(store, target);
  if (!st.ok()) return api::Problem(st);
  spdlog::info("backup written to '{}' at the request of {}", target.string(), req.remote_address);
  return api::NoContent();
}

int Backup(const Config& config, const std::string& dir) {
  if (!config.store.empty()) {
    spdlog::error("the hub keeps its data in PostgreSQL (--store): back it up with PostgreSQL's tools "
                  "(pg_basebackup and WAL archiving; docs/OPERATIONS.md)");
    return 2;
  }
  const std::filesystem::path target = std::filesystem::absolute(dir).lexically_normal();
  if (!std::filesystem::is_directory(config.data_dir)) {
    spdlog::error("data dir '{}' does not exist: nothing to back up", config.data_dir);
    return 1;
  }
  auto store = store::OpenRocksDbStore(StoreOptions(config));
  if (store.ok()) {
    Status st = WriteBackup(**store, target);
    (*store)->Close();
    if (!st.ok()) {
      spdlog::error("backup failed: {}", st.message());
      return 1;
    }
    spdlog::info("backup of '{}' written to '{}'", config.data_dir, target.string());
    return 0;
  }
  // The data dir is locked: a running hub owns it, so ask it to make the copy — which it
  // writes only under its --backup-dir.
  const std::filesystem::path root = std::filesystem::absolute(config.backup_dir).lexically_normal();
  if (target.parent_path() != root || !ValidBackupName(target.filename().string())) {
    spdlog::error("a running hub writes backups only directly under --backup-dir '{}'; '{}' is not",
                  root.string(), target.string());
    return 1;
  }
  std::string host;
  unsigned short port;
  if (!SplitHostPort(config.listen, &host, &port)) return 2;
  int status = RequestBackup(host, port, target.filename().string(), ServesTls(config));
  if (status == 204) {
    spdlog::info("backup written by the running hub to '{}'", target.string());
    return 0;
  }
  spdlog::error("cannot open '{}' ({}) and the hub on {} did not write the backup", config.data_dir,
                store.status().message(), config.listen);
  return 1;
}

}  // namespace cityhub::app
