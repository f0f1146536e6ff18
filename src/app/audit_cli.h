// `cityhub audit verify FILE [FILE…]`: the operator's check of the audit log's hash chain
// (security/audit_log.h) — one log with its rotated files, or the files given, oldest first.
// Prints the record count and head hash to anchor elsewhere, or names the first tampered line.
// Used once from main(); not thread-safe.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace cityhub::app {

class AuditCommand {
 public:
  // Registers `audit` and its subcommand `verify` on `app`; they fill this object when parsed.
  explicit AuditCommand(CLI::App& app);

  // True if the command line chose `audit`.
  bool selected() const;

  // Runs the chosen subcommand: 0 when the log is intact, 1 when it is tampered with (the
  // first bad line is on stderr), 2 when the file cannot be read.
  int Run() const;

 private:
  CLI::App* audit_ = nullptr;
  CLI::App* verify_ = nullptr;
  std::vector<std::string> files_;
};

}  // namespace cityhub::app
