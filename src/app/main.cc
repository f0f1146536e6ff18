// cityhub: the command line. `cityhub serve` runs the hub, `cityhub backup DIR` copies its
// data online, `cityhub import gtfs FEED.zip` loads a transit feed into a running hub, `cityhub keys …` manages API keys, `cityhub audit verify FILE` checks the audit
// log's hash chain, `cityhub simulate` runs the demo city, `cityhub version` prints the version. Every
// serve option is also a CITYHUB_* environment variable and a key of the --config TOML file; the
// root holds those other commands use as well (config.h).
#include <algorithm>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "app/audit_cli.h"
#include "app/backup.h"
#include "app/config.h"
#include "app/hub.h"
#include "app/import_cli.h"
#include "app/keys_cli.h"
#include "app/logging.h"
#include "services/simulator/demo_city.h"
#include "services/simulator/demo_transit.h"
#include "util/time.h"

#ifndef CITYHUB_VERSION
#define CITYHUB_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using cityhub::app::Config;
  CLI::App app{"cityhub — the NGSI-LD smart city data hub"};
  app.require_subcommand(1);
  app.fallthrough();  // subcommands take the root's hub options after their name too
  Config config;
  CLI::App* serve = cityhub::app::AddServeCommand(app, config);
  std::string backup_dir;
  auto* backup = app.add_subcommand("backup", "Write an online, consistent copy of the data to DIR");
  backup->add_option("dir", backup_dir, "Target directory (must not exist)")->required();
  backup->formatter(cityhub::app::HelpWithHubOptions());
  auto* version = app.add_subcommand("version", "Print the version and exit");
  std::string demo_feed_path;
  auto* demo_feed = app.add_subcommand("demo-transit-feed", "Write the demo city's GTFS bus feed (a zip) to FILE");
  demo_feed->add_option("file", demo_feed_path, "Where to write the zip")->required();
  cityhub::app::KeysCommand keys(app);
  cityhub::app::AuditCommand audit(app);
  cityhub::app::ImportCommand import(app);
  auto* simulate = app.add_subcommand(
      "simulate", "Run the demo city against a running hub: devices publish to --mqtt, the hub is at --listen");
  simulate->formatter(cityhub::app::HelpWithHubOptions());
  double sim_speed = 1, sim_duration = 0;
  int sim_cycles = 0;
  simulate->add_option("--speed", sim_speed, "Simulated seconds per real second (0.1 to 1000)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 1000.0));
  simulate->add_option("--duration-s", sim_duration, "Stop after this many seconds (0: run until interrupted)")
      ->check(CLI::NonNegativeNumber);
  std::string sim_start;
  simulate->add_option("--start", sim_start, "The simulated time of the first second, RFC 3339 (default: now)");
  simulate->add_option("--cycles", sim_cycles, "Stop after this many 180-second script cycles (0: no limit)")
      ->check(CLI::Range(0, 1'000'000));

  // Set last: subcommands created before inherit a footer.
  app.footer("The hub's settings: cityhub serve --help (each also a CITYHUB_* variable and a --config key).");
  CLI11_PARSE(app, argc, argv);
  if (*version) {
    std::cout << "cityhub " << CITYHUB_VERSION << "\n";
    return 0;
  }
  if (keys.selected()) return keys.Run();
  if (*demo_feed) {
    cityhub::Status st = cityhub::services::WriteDemoTransitFeed(demo_feed_path);
    if (!st.ok()) {
      std::cerr << st.message() << "\n";
      return 1;
    }
    return 0;
  }
  if (*simulate) {
    cityhub::services::DemoCityOptions o;
    if (!cityhub::app::SplitHostPort(config.listen, &o.hub_host, &o.hub_port)) {
      std::cerr << "--listen must be HOST:PORT\n";
      return 2;
    }
    const std::string mqtt = config.mqtt.empty() ? "mqtt://127.0.0.1:1883" : config.mqtt;
    const size_t scheme = mqtt.find("://");
    std::string host_port = scheme == std::string::npos ? mqtt : mqtt.substr(scheme + 3);
    if (size_t at = host_port.rfind('@'); at != std::string::npos) host_port = host_port.substr(at + 1);
    if (host_port.find(':') == std::string::npos) host_port += ":1883";
    if (!cityhub::app::SplitHostPort(host_port, &o.mqtt_host, &o.mqtt_port)) {
      std::cerr << "--mqtt must be mqtt://HOST:PORT\n";
      return 2;
    }
    o.speed = sim_speed;
    o.duration_s = sim_duration;
    o.cycles = sim_cycles;
    if (!sim_start.empty()) {
      auto start = cityhub::util::ParseDateTime(sim_start);
      if (!start) {
        std::cerr << "--start must be an RFC 3339 date-time, e.g. 2026-07-15T09:00:00Z\n";
        return 2;
      }
      o.start_ms = *start;
    }
    if (const char* key = std::getenv("CITYHUB_API_KEY")) o.api_key = key;
    return cityhub::services::RunDemoCity(o);
  }
  if (audit.selected()) return audit.Run();
  if (import.selected()) return import.Run(config);
  cityhub::app::SetUpLogging(config.log_level);
  if (*serve) return cityhub::app::Serve(config);
  if (*backup) return cityhub::app::Backup(config, backup_dir);
  return 2;
}
