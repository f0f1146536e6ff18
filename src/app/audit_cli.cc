// `cityhub audit verify` (see audit_cli.h). The verdict goes to stdout when the log is intact
// (`ok: N records, head H`, so scripts can keep H) and to stderr otherwise. The files are read as
// they are: with the hub running, the last line may still be in flight.
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
  verify_->add_option("files", files_,
                      "The audit log (e.g. <data-dir>/audit/audit.log): its rotated files audit.log.N are "
                      "found and checked with it, oldest first. Or several files, oldest first, checked as "
                      "one chain (the first may then start mid-chain)")
      ->required();
}

bool AuditCommand::selected() const { return audit_->parsed(); }

int AuditCommand::Run() const {
  auto report = files_.size() == 1 ? security::VerifyAuditLog(files_.front()) : security::VerifyAuditLog(files_, true);
  if (!report.ok()) {
    std::cerr << fmt::format("cityhub audit verify: {}\n", report.status().message());
    return 2;
  }
  if (!report->ok) {
    std::cerr << fmt::format("TAMPERED: {}; {} records intact before it\n", report->problem, report->records);
    return 1;
  }
  std::cout << fmt::format("ok: {} records in {} file{}, head {}\n", report->records, report->files,
                           report->files == 1 ? "" : "s", report->head_hash.empty() ? "-" : report->head_hash);
  if (report->first_seq > 1) {
    std::cout << fmt::format(
        "note: the oldest file starts mid-chain, at record {}: the records before it were rotated out and "
        "deleted (--audit-log-keep), so its link to them cannot be checked. Expected after rotation; compare "
        "with a head hash kept from before\n",
        report->first_seq);
  }
  return 0;
}

}  // namespace cityhub::app
