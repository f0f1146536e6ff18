// `cityhub import gtfs FEED.zip [--tenant T]`: sends a GTFS zip to the running hub at --listen
// (POST /mobility/v1/feed, admin credentials from $CITYHUB_API_KEY or $CITYHUB_TOKEN), which
// validates it and replaces the tenant's transit feed; prints the summary and every problem
// the validation report lists (file, line, field, reason).
// `cityhub import gtfs-rt FILE.pb [--tenant T]`: the same for a GTFS-Realtime FeedMessage
// (POST /mobility/v1/realtime). Used once from main().
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace cityhub::app {

struct Config;

class ImportCommand {
 public:
  // Registers `import` and its subcommand `gtfs` on `app`; they fill this object when parsed.
  explicit ImportCommand(CLI::App& app);

  bool selected() const;

  // 0 when the hub imported the feed, 1 when it refused it (fatal problems) or failed, 2 when
  // the file cannot be read or the hub not reached.
  int Run(const Config& config) const;

 private:
  CLI::App* import_ = nullptr;
  CLI::App* gtfs_ = nullptr;
  CLI::App* gtfs_rt_ = nullptr;
  std::string file_;
  std::string tenant_;
};

}  // namespace cityhub::app
