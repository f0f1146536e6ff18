// cityhub: the command line. `cityhub serve` runs the hub, `cityhub backup DIR` copies its
// data online, `cityhub keys …` manages API keys, `cityhub audit verify FILE` checks the audit
// log's hash chain, `cityhub version` prints the version. Every
// serve option is also a CITYHUB_* environment variable and a key of the --config TOML file.
#include <iostream>

#include <CLI/CLI.hpp>

#include "app/audit_cli.h"
#include "app/config.h"
#include "app/hub.h"
#include "app/keys_cli.h"
#include "app/logging.h"

#ifndef CITYHUB_VERSION
#define CITYHUB_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using cityhub::app::Config;
  CLI::App app{"cityhub — the NGSI-LD smart city data hub"};
  app.require_subcommand(1);
  app.set_config("--config", "", "TOML file with settings (keys are the long option names without --)");
  Config config;
  cityhub::app::AddServeOptions(app, config);
  app.fallthrough();

  auto* serve = app.add_subcommand("serve", "Run the hub (NGSI-LD API on --listen, data in --data-dir)");
  std::string backup_dir;
  auto* backup = app.add_subcommand("backup", "Write an online, consistent copy of the data to DIR");
  backup->add_option("dir", backup_dir, "Target directory (must not exist)")->required();
  auto* version = app.add_subcommand("version", "Print the version and exit");
  cityhub::app::KeysCommand keys(app);
  cityhub::app::AuditCommand audit(app);

  std::vector<std::string> args = cityhub::app::ArgsWithEnvironment(app, argc, argv);
  std::vector<const char*> arg_ptrs;
  for (const auto& a : args) arg_ptrs.push_back(a.c_str());
  CLI11_PARSE(app, static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  if (*version) {
    std::cout << "cityhub " << CITYHUB_VERSION << "\n";
    return 0;
  }
  if (keys.selected()) return keys.Run();
  if (audit.selected()) return audit.Run();
  cityhub::app::SetUpLogging(config.log_level);
  if (*serve) return cityhub::app::Serve(config);
  if (*backup) return cityhub::app::Backup(config, backup_dir);
  return 2;
}
