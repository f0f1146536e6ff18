// The command line as main() builds it: where each setting comes from (flag, CITYHUB_*
// variable, --config file) and which command takes which option.
#include "app/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

namespace cityhub::app {
namespace {

// Sets an environment variable for the test's lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

class CommandLineTest : public ::testing::Test {
 protected:
  CommandLineTest() {
    app_.require_subcommand(1);
    app_.fallthrough();
    serve_ = AddServeCommand(app_, config_);
    backup_ = app_.add_subcommand("backup");
    backup_->add_option("dir", backup_dir_)->required();
  }

  void TearDown() override { std::filesystem::remove(file_); }

  std::string ConfigFile(const std::string& text) {
    std::ofstream(file_) << text;
    return file_.string();
  }

  // Parses `args` (without the program name); false if CLI11 refused them.
  bool Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "cityhub");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      app_.parse(static_cast<int>(argv.size()), argv.data());
      return true;
    } catch (const CLI::ParseError&) {
      return false;
    }
  }

  CLI::App app_;
  CLI::App* serve_ = nullptr;
  CLI::App* backup_ = nullptr;
  Config config_;
  std::string backup_dir_;
  const std::filesystem::path file_ =
      std::filesystem::temp_directory_path() / ("cityhub-config-test-" + std::to_string(getpid()) + ".toml");
};

TEST_F(CommandLineTest, FileKeysReachTheHubAndTheServeOptions) {
  const std::string file = ConfigFile("listen = \"127.0.0.1:2000\"\nmax-body-bytes = 2000\nhistory = false\n");
  ASSERT_TRUE(Parse({"serve", "--config", file}));
  EXPECT_EQ(config_.listen, "127.0.0.1:2000");
  EXPECT_EQ(config_.max_body_bytes, 2000u);
  EXPECT_FALSE(config_.history);
}

TEST_F(CommandLineTest, EnvironmentWinsOverTheFileAndTheFlagOverTheEnvironment) {
  const std::string file = ConfigFile("listen = \"127.0.0.1:2000\"\nmax-body-bytes = 2000\nworker-threads = 3\n");
  ScopedEnv listen("CITYHUB_LISTEN", "127.0.0.1:3000");
  ScopedEnv body("CITYHUB_MAX_BODY_BYTES", "3000");
  ScopedEnv workers("CITYHUB_WORKER_THREADS", "5");
  ASSERT_TRUE(Parse({"serve", "--config", file, "--worker-threads", "7"}));
  EXPECT_EQ(config_.listen, "127.0.0.1:3000");
  EXPECT_EQ(config_.max_body_bytes, 3000u);
  EXPECT_EQ(config_.worker_threads, 7u);
}

TEST_F(CommandLineTest, AnEmptyVariableCountsAsUnset) {
  const std::string file = ConfigFile("max-body-bytes = 2000\n");
  ScopedEnv body("CITYHUB_MAX_BODY_BYTES", "");
  ASSERT_TRUE(Parse({"serve", "--config", file}));
  EXPECT_EQ(config_.max_body_bytes, 2000u);
}

TEST_F(CommandLineTest, HubOptionsBeforeTheCommand) {
  ASSERT_TRUE(Parse({"--data-dir", "/srv/a", "--listen", "127.0.0.1:2000", "backup", "/srv/copy"}));
  EXPECT_EQ(config_.data_dir, "/srv/a");
  EXPECT_EQ(config_.listen, "127.0.0.1:2000");
  EXPECT_EQ(backup_dir_, "/srv/copy");
}

TEST_F(CommandLineTest, HubOptionsAfterTheCommand) {
  ASSERT_TRUE(Parse({"backup", "/srv/copy", "--data-dir", "/srv/b"}));
  EXPECT_EQ(config_.data_dir, "/srv/b");
}

TEST_F(CommandLineTest, ServeOptionsBelongToServe) {
  EXPECT_TRUE(Parse({"serve", "--gtfs-feed", "feed.zip", "--data-dir", "/srv/c"}));
  EXPECT_EQ(config_.gtfs_feed, "feed.zip");
  EXPECT_EQ(config_.data_dir, "/srv/c");
}

TEST_F(CommandLineTest, ServeOptionsAreRefusedElsewhere) {
  EXPECT_FALSE(Parse({"backup", "/srv/copy", "--gtfs-feed", "feed.zip"}));
}

TEST_F(CommandLineTest, ServeHelpListsTheHubOptionsAndItsOwnInGroups) {
  const std::string help = serve_->help();
  for (const char* word : {"--listen", "CITYHUB_LISTEN", "--data-dir", "--config", "--gtfs-feed", "--auth-jwks-url",
                           "CITYHUB_AUTH_JWKS_URL", "Security:", "City services:"}) {
    EXPECT_NE(help.find(word), std::string::npos) << word;
  }
  EXPECT_EQ(app_.help().find("--gtfs-feed"), std::string::npos);
}

}  // namespace
}  // namespace cityhub::app
