#include "services/mobility/gtfs/zip_writer.h"

#include <zip.h>

#include <cstdio>

#include <fmt/format.h>

namespace cityhub::mobility::gtfs {

Status WriteZip(const std::string& path, const std::vector<ZipFile>& files) {
  std::remove(path.c_str());
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (archive == nullptr) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, error);
    Status status = Status::InvalidRequest(fmt::format("cannot create zip '{}': {}", path, zip_error_strerror(&ze)));
    zip_error_fini(&ze);
    return status;
  }
  for (const auto& [name, content] : files) {
    // libzip reads the buffer at zip_close, while `files` is still alive; it does not free it.
    zip_source_t* source = zip_source_buffer(archive, content.data(), content.size(), 0);
    if (source == nullptr || zip_file_add(archive, name.c_str(), source, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) < 0) {
      if (source != nullptr) zip_source_free(source);
      Status status = Status::InvalidRequest(
          fmt::format("cannot add '{}' to zip '{}': {}", name, path, zip_strerror(archive)));
      zip_discard(archive);
      return status;
    }
  }
  if (zip_close(archive) != 0) {
    Status status = Status::InvalidRequest(fmt::format("cannot write zip '{}': {}", path, zip_strerror(archive)));
    zip_discard(archive);
    std::remove(path.c_str());
    return status;
  }
  return Status::Ok();
}

}  // namespace cityhub::mobility::gtfs
