// `cityhub audit verify` (see audit_cli.h). The verdict goes to stdout when the log is intact
// (`ok: N records, head H`, so scripts can keep H) and to stderr otherwise. The file is read as
// it is: with the hub running, its last line may still be in flight.
#include "app/audit_cli.h"

#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "security/audit_log.h"

namespace cityhub::app {

AuditCommand::AuditCommand(CLI::App& app) {
  audit_ = app.add_subcommand("audit", "Work with the audit log");
  audit_->require_subcommand(1);
  verify_ = audit_->add_subcommand(
      "verify", "Check the hash chain of an audit log: exit 0 if intact, 1 if tampered, 2 if unreadable");
  verify_->add_option("file", file_, "The audit log (e.g. <data-dir>/audit/audit.log)")->required();
}

bool AuditCommand::selected() const { return audit_->parsed(); }

int AuditCommand::Run() const {
  auto report = security::VerifyAuditLog(file_);
  if (!report.ok()) {
    std::cerr << fmt::format("cityhub audit verify: {}\n", report.status().message());
    return 2;
  }
  if (!report->ok) {
    std::cerr << fmt::format("TAMPERED: {}; {} records intact before it\n", report->problem, report->records);
    return 1;
  }
  std::cout << fmt::format("ok: {} records, head {}\n", report->records,
                           report->head_hash.empty() ? "-" : report->head_hash);
  return 0;
}

}  // namespace cityhub::app
