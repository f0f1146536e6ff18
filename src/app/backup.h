// Online backups: `cityhub backup DIR` on a stopped hub copies the data dir itself; a running
// hub holds the data dir's lock, so the command asks it (POST /admin/backup, loopback only) to
// write the copy under its --backup-dir. Either way every tenant's RocksDB checkpoint, readable
// by its owner only.
#pragma once

#include <filesystem>
#include <string>

#include "api/api.h"
#include "app/config.h"
#include "http/message.h"
#include "store/store.h"

namespace cityhub::app {

// Writes an online, consistent copy of the data dir to `dir`, or asks the hub serving it to.
// Returns the process exit code: 0 when written, 2 when --listen is not HOST:PORT, 1 otherwise
// (the reason is logged).
int Backup(const Config& config, const std::string& dir);

// POST /admin/backup {"name": "2026-11-26"}: writes <root>/<name>. Only from loopback peers and
// only directly under `root`, so a request can neither come from the network nor choose where
// the copy of every tenant's data lands.
http::Response AdminBackup(store::Store& store, const std::filesystem::path& root, const api::ApiLimits& limits,
                           const http::Request& req);

}  // namespace cityhub::app
