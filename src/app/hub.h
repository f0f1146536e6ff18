// Hub: the running server — opens the store, the @context resolver and the broker, serves the
// API until SIGINT/SIGTERM, then drains in-flight requests and closes the store cleanly.
#pragma once

#include <string>

#include "app/config.h"

namespace cityhub::app {

// Serves until a stop signal. Returns the process exit code (0 after a clean shutdown).
int Serve(const Config& config);

// Writes an online, consistent copy of the data dir to `dir` (RocksDB checkpoints). If a hub is
// serving the data dir, asks it (over loopback, POST /admin/backup) to make the copy.
int Backup(const Config& config, const std::string& dir);

}  // namespace cityhub::app
