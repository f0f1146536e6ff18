// WriteZip: writes named in-memory files into a new zip archive (deflated), for feeds the hub
// makes itself (the demo feed) and for tests that build feeds. The caller owns the contents;
// nothing is kept after the call.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace cityhub::mobility::gtfs {

// A zip member: its name inside the archive and its bytes.
using ZipFile = std::pair<std::string, std::string>;

// Writes `files` to a zip at `path`, replacing any file there. Returns ok once the archive is
// complete on disk; InvalidRequest naming the path (and the member) when it cannot be written.
// A failed write leaves no partial archive at `path`.
Status WriteZip(const std::string& path, const std::vector<ZipFile>& files);

}  // namespace cityhub::mobility::gtfs
