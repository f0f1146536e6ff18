// Feed snapshots: a Feed written to one binary file and read back, so a restart does not parse
// the GTFS zip again (the NYC feed takes ~7 s to parse, its snapshot well under a second to read).
//
// Format (little-endian, this machine's layout; a snapshot is a cache of an import, not an
// exchange format): "CHFEED" magic, format version, payload length, CRC-32 of the payload, then
// the payload: every Feed field in declaration order — counts as u64, strings as u32 length +
// bytes, numbers as themselves, trivially copyable record arrays (stop_times) in one block.
// Reading checks magic, version, length and CRC before trusting any count, and bounds every
// count by the bytes left, so a damaged or foreign file is refused with a reason, never read
// past its end. The id maps are rebuilt on reading.
#pragma once

#include <string>

#include "services/mobility/gtfs/feed.h"
#include "util/status.h"

namespace cityhub::mobility::gtfs {

inline constexpr uint32_t kFeedSnapshotVersion = 2;  // 2: GTFS-Flex records

// Writes `feed` to `path` atomically (a temp file beside it, fsynced, then renamed).
Status WriteFeedSnapshot(const Feed& feed, const std::string& path);

// Reads a snapshot. NotFound when there is no file; InvalidRequest naming what is wrong when it
// is damaged, of another version, or not a snapshot.
Result<Feed> ReadFeedSnapshot(const std::string& path);

}  // namespace cityhub::mobility::gtfs
