// ZipArchive: libzip underneath; this file adds the bounds and the base-name lookup described in
// zip_reader.h. Inflating is streamed through one fixed buffer, so memory stays at
// kZipChunkBytes whatever the member's size.
#include "services/mobility/gtfs/zip_reader.h"

#include <zip.h>

#include <algorithm>
#include <fmt/format.h>

namespace cityhub::mobility::gtfs {
namespace {

std::string_view BaseName(std::string_view name) {
  size_t slash = name.find_last_of('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

size_t Depth(std::string_view name) { return std::count(name.begin(), name.end(), '/'); }

Status TooLarge(std::string message) {
  return Status(Status::Code::kPayloadTooLarge, std::move(message));
}

}  // namespace

void ZipArchive::Closer::operator()(zip* z) const { zip_discard(z); }

ZipArchive::ZipArchive(zip* handle, std::string path, ZipLimits limits,
                       std::vector<ZipMember> members)
    : handle_(handle), path_(std::move(path)), limits_(limits), members_(std::move(members)) {}
ZipArchive::ZipArchive(ZipArchive&&) noexcept = default;
ZipArchive& ZipArchive::operator=(ZipArchive&&) noexcept = default;
ZipArchive::~ZipArchive() = default;

Result<ZipArchive> ZipArchive::Open(const std::string& path, ZipLimits limits) {
  int error_code = 0;
  zip* handle = zip_open(path.c_str(), ZIP_RDONLY, &error_code);
  if (handle == nullptr) {
    zip_error_t error;
    zip_error_init_with_code(&error, error_code);
    std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    return Status::InvalidRequest(fmt::format("cannot open zip '{}': {}", path, reason));
  }
  std::vector<ZipMember> members;
  zip_int64_t count = zip_get_num_entries(handle, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(handle, i, 0, &stat) != 0 || stat.name == nullptr) continue;
    ZipMember member;
    member.index = static_cast<uint64_t>(i);
    member.name = stat.name;
    member.declared_size = (stat.valid & ZIP_STAT_SIZE) ? stat.size : 0;
    member.compressed_size = (stat.valid & ZIP_STAT_COMP_SIZE) ? stat.comp_size : 0;
    if (member.name.empty() || member.name.back() == '/') continue;  // a folder entry
    if (member.name.rfind("__MACOSX/", 0) == 0) continue;
    members.push_back(std::move(member));
  }
  return ZipArchive(handle, path, limits, std::move(members));
}

std::optional<ZipMember> ZipArchive::FindMember(std::string_view base_name) const {
  const ZipMember* best = nullptr;
  for (const ZipMember& member : members_) {
    if (BaseName(member.name) != base_name) continue;
    if (best == nullptr || Depth(member.name) < Depth(best->name)) best = &member;
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

Status ZipArchive::CheckLimits(const ZipMember& member, uint64_t member_bytes,
                               uint64_t feed_bytes) const {
  if (member_bytes > limits_.max_member_bytes) {
    return TooLarge(fmt::format("zip member '{}' is larger than the limit of {} bytes",
                                member.name, limits_.max_member_bytes));
  }
  if (feed_bytes > limits_.max_feed_bytes) {
    return TooLarge(fmt::format(
        "reading zip member '{}' takes the feed over its limit of {} uncompressed bytes",
        member.name, limits_.max_feed_bytes));
  }
  // Compare without dividing: member_bytes > ratio * compressed (+ slack), overflow-safe.
  uint64_t allowed = limits_.ratio_slack_bytes;
  if (member.compressed_size > (UINT64_MAX - allowed) / std::max<uint64_t>(limits_.max_ratio, 1)) {
    allowed = UINT64_MAX;
  } else {
    allowed += member.compressed_size * limits_.max_ratio;
  }
  if (member_bytes > allowed) {
    return TooLarge(fmt::format(
        "zip member '{}' inflates more than {}x its compressed size of {} bytes "
        "(refused as a zip bomb)",
        member.name, limits_.max_ratio, member.compressed_size));
  }
  return Status::Ok();
}

Status ZipArchive::ReadMember(const ZipMember& member, const ChunkCallback& on_chunk) {
  CITYHUB_RETURN_IF_ERROR(
      CheckLimits(member, member.declared_size, bytes_read_ + member.declared_size));
  zip_file_t* file = zip_fopen_index(handle_.get(), member.index, 0);
  if (file == nullptr) {
    return Status::InvalidRequest(fmt::format("cannot read zip member '{}' of '{}': {}",
                                              member.name, path_, zip_strerror(handle_.get())));
  }
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> closer(file, &zip_fclose);
  std::string buffer(kZipChunkBytes, '\0');
  uint64_t member_bytes = 0;
  for (;;) {
    zip_int64_t n = zip_fread(file, buffer.data(), buffer.size());
    if (n < 0) {
      return Status::InvalidRequest(fmt::format("zip member '{}' of '{}' is corrupt: {}",
                                                member.name, path_,
                                                zip_error_strerror(zip_file_get_error(file))));
    }
    if (n == 0) return Status::Ok();
    member_bytes += static_cast<uint64_t>(n);
    bytes_read_ += static_cast<uint64_t>(n);
    CITYHUB_RETURN_IF_ERROR(CheckLimits(member, member_bytes, bytes_read_));
    CITYHUB_RETURN_IF_ERROR(on_chunk(std::string_view(buffer.data(), static_cast<size_t>(n))));
  }
}

}  // namespace cityhub::mobility::gtfs
