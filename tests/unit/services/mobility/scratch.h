// Helpers the mobility tests share: a scratch directory per test program and process (another
// checkout's run may share the machine's temp dir), removed when the tests end, and zips written
// from in-memory files with libzip directly (so a test of the reader does not depend on it).
#pragma once

#include <unistd.h>
#include <zip.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cityhub::mobility::test_support {

using Files = std::map<std::string, std::string>;  // member name -> content

namespace detail {
inline std::mutex scratch_mu;
inline std::vector<std::filesystem::path> scratch_dirs;

class RemoveScratchDirs : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard lock(scratch_mu);
    for (const auto& dir : scratch_dirs) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }
};
[[maybe_unused]] inline ::testing::Environment* const remove_scratch_dirs =
    ::testing::AddGlobalTestEnvironment(new RemoveScratchDirs);
}  // namespace detail

// <temp>/<name>-<pid>, created; removed with everything in it once all tests have run.
inline std::filesystem::path ScratchDir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::lock_guard lock(detail::scratch_mu);
  if (std::find(detail::scratch_dirs.begin(), detail::scratch_dirs.end(), dir) == detail::scratch_dirs.end()) {
    detail::scratch_dirs.push_back(dir);
  }
  return dir;
}

// Writes `files` into a fresh zip `name` in `dir` (deflated; stored uncompressed with `store`)
// and returns its path.
inline std::string WriteTestZip(const std::filesystem::path& dir, const std::string& name, const Files& files,
                                bool store = false) {
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::filesystem::remove(path);
  int error = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  EXPECT_NE(z, nullptr);
  if (z == nullptr) return path;
  for (const auto& [member, content] : files) {
    zip_source_t* source = zip_source_buffer(z, content.data(), content.size(), 0);
    const zip_int64_t index = zip_file_add(z, member.c_str(), source, ZIP_FL_OVERWRITE);
    EXPECT_GE(index, 0);
    if (store && index >= 0) {
      EXPECT_EQ(zip_set_file_compression(z, index, ZIP_CM_STORE, 0), 0);
    }
  }
  EXPECT_EQ(zip_close(z), 0);  // the buffers are read here, while `files` is alive
  return path;
}

}  // namespace cityhub::mobility::test_support
