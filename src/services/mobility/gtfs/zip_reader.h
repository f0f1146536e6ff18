// ZipArchive: reads the members of a GTFS zip file as a stream of chunks, with hard bounds on
// what inflating may cost. The archive owns its libzip handle; the caller owns nothing but the
// callback it passes. Not thread-safe: one reader at a time per ZipArchive.
//
// Bounds. A feed is untrusted input: a member's declared sizes can lie and a few kilobytes can
// inflate to gigabytes. So every limit is checked twice — against the central directory's
// declared sizes before inflating, and against the bytes actually produced while streaming —
// and reading stops at the first chunk that crosses one:
//   - ZipLimits::max_member_bytes: uncompressed bytes of one member;
//   - ZipLimits::max_feed_bytes:   uncompressed bytes of all members read through one archive;
//   - ZipLimits::max_ratio:        inflated bytes over compressed bytes (a zip bomb), allowed
//                                  only above ZipLimits::ratio_slack_bytes so that tiny, very
//                                  compressible files (a two-line calendar) are never refused.
//
// Member names. GTFS files sit at the zip's root, but some producers zip the folder instead;
// FindMember looks a base name up at the root first, then in the shallowest sub-folder that has
// it (macOS "__MACOSX/" resource forks are ignored).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

struct zip;

namespace cityhub::mobility::gtfs {

inline constexpr uint64_t kDefaultMaxMemberBytes = uint64_t{2} << 30;  // 2 GiB
inline constexpr uint64_t kDefaultMaxFeedBytes = uint64_t{4} << 30;    // 4 GiB
inline constexpr uint64_t kDefaultMaxCompressionRatio = 200;
inline constexpr uint64_t kDefaultRatioSlackBytes = uint64_t{1} << 20;  // 1 MiB
inline constexpr size_t kZipChunkBytes = size_t{64} << 10;             // 64 KiB per callback

struct ZipLimits {
  uint64_t max_member_bytes = kDefaultMaxMemberBytes;
  uint64_t max_feed_bytes = kDefaultMaxFeedBytes;
  uint64_t max_ratio = kDefaultMaxCompressionRatio;
  uint64_t ratio_slack_bytes = kDefaultRatioSlackBytes;
};

// One member as the central directory describes it (sizes as declared, not yet trusted).
struct ZipMember {
  uint64_t index = 0;
  std::string name;  // full path inside the zip
  uint64_t declared_size = 0;
  uint64_t compressed_size = 0;
};

class ZipArchive {
 public:
  // Receives the member's bytes in order, at most kZipChunkBytes at a time. A non-ok Status
  // stops the read and is returned by ReadMember.
  using ChunkCallback = std::function<Status(std::string_view chunk)>;

  // Opens the zip at `path`. Returns InvalidRequest naming the path when it cannot be opened or
  // is not a zip.
  static Result<ZipArchive> Open(const std::string& path, ZipLimits limits = {});

  ZipArchive(ZipArchive&&) noexcept;
  ZipArchive& operator=(ZipArchive&&) noexcept;
  ~ZipArchive();

  // The member whose base name is `base_name` (e.g. "stops.txt"): at the root if there is one,
  // else in the shallowest sub-folder. nullopt when the zip has none.
  std::optional<ZipMember> FindMember(std::string_view base_name) const;

  // Streams `member` to `on_chunk`. Returns ok after the last byte; PayloadTooLarge naming the
  // member when a limit is crossed (nothing further is inflated); InvalidRequest naming the
  // member when the data is corrupt; or the callback's own error.
  Status ReadMember(const ZipMember& member, const ChunkCallback& on_chunk);

  // Uncompressed bytes read so far through this archive (counted against max_feed_bytes).
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  ZipArchive(zip* handle, std::string path, ZipLimits limits, std::vector<ZipMember> members);
  Status CheckLimits(const ZipMember& member, uint64_t member_bytes, uint64_t feed_bytes) const;

  struct Closer {
    void operator()(zip* z) const;
  };
  std::unique_ptr<zip, Closer> handle_;
  std::string path_;
  ZipLimits limits_;
  std::vector<ZipMember> members_;
  uint64_t bytes_read_ = 0;
};

}  // namespace cityhub::mobility::gtfs
