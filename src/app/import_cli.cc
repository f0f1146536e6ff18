#include "app/import_cli.h"

#include <fstream>
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "app/config.h"
#include "app/hub_client.h"

namespace cityhub::app {
namespace json = boost::json;
namespace {

std::string Text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return "";
  return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
}

void PrintReport(const json::object& body) {
  const json::value* report = body.if_contains("report");
  if (!report || !report->is_object()) return;
  const json::object& r = report->get_object();
  if (const json::value* problems = r.if_contains("problems"); problems && problems->is_array()) {
    for (const json::value& p : problems->get_array()) {
      if (!p.is_object()) continue;
      const json::object& o = p.get_object();
      std::string where = Text(o, "file");
      if (o.contains("line")) where += ":" + Text(o, "line");
      if (o.contains("field")) where += " (" + Text(o, "field") + ")";
      std::cout << fmt::format("  {:<7} {}: {}\n", Text(o, "severity"), where, Text(o, "reason"));
    }
  }
  if (Text(r, "notListed") != "0" && !Text(r, "notListed").empty()) {
    std::cout << fmt::format("  … and {} more problems not listed\n", Text(r, "notListed"));
  }
}

}  // namespace

ImportCommand::ImportCommand(CLI::App& app) {
  import_ = app.add_subcommand("import", "Load data into a running hub at --listen");
  import_->formatter(HelpWithHubOptions());  // gtfs and gtfs-rt inherit it
  gtfs_ = import_->add_subcommand("gtfs", "Import a GTFS feed (zip) for journey planning, replacing the tenant's feed");
  gtfs_->add_option("feed", file_, "The GTFS zip")->required();
  gtfs_->add_option("--tenant", tenant_, "The tenant (NGSILD-Tenant) whose feed it becomes (default: the default tenant)");
  gtfs_rt_ = import_->add_subcommand("gtfs-rt", "Apply a GTFS-Realtime feed (binary FeedMessage) to the tenant's transit feed");
  gtfs_rt_->add_option("message", file_, "The FeedMessage file (.pb)")->required();
  gtfs_rt_->add_option("--tenant", tenant_, "The tenant (NGSILD-Tenant) whose feed it updates");
  import_->require_subcommand(1);
}

bool ImportCommand::selected() const { return import_->parsed(); }

int ImportCommand::Run(const Config& config) const {
  std::ifstream in(file_, std::ios::binary);
  if (!in) {
    std::cerr << fmt::format("cannot read '{}'\n", file_);
    return 2;
  }
  const std::string zip((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string host;
  unsigned short port = 0;
  if (!SplitHostPort(config.listen, &host, &port)) {
    std::cerr << "--listen must be HOST:PORT\n";
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (!tenant_.empty()) headers.emplace_back("NGSILD-Tenant", tenant_);
  const bool realtime = gtfs_rt_->parsed();
  auto reply = SendToHub(host, port, !config.tls_cert_file.empty(), "POST",
                         realtime ? "/mobility/v1/realtime" : "/mobility/v1/feed",
                         realtime ? "application/x-protobuf" : "application/zip", zip, headers);
  if (!reply.ok()) {
    std::cerr << reply.status().message() << "\n";
    return 2;
  }
  json::error_code ec;
  json::value body = json::parse(reply->body, ec);
  if (ec || !body.is_object()) {
    std::cerr << fmt::format("the hub answered {}: {}\n", reply->status, reply->body.substr(0, 500));
    return 1;
  }
  const json::object& o = body.get_object();
  if (reply->status != 200) {
    std::cerr << fmt::format("the hub refused the feed ({}): {}\n", reply->status, Text(o, "detail"));
    PrintReport(o);
    return 1;
  }
  if (realtime) {
    std::cout << fmt::format("applied '{}': {} trips updated ({} cancelled), {} added, {} vehicles; feed time {}\n",
                             file_, Text(o, "updatedTrips"), Text(o, "cancelledTrips"), Text(o, "addedTrips"),
                             Text(o, "vehicles"), Text(o, "feedTimestamp"));
    std::cout << fmt::format("{} problems reported (updates skipped)\n", Text(o, "problems"));
    PrintReport(o);
    return 0;
  }
  std::cout << fmt::format("imported '{}'{}: {} stops, {} stations, {} routes, {} trips, {} stop times; service {} to {} ({})\n",
                           file_, tenant_.empty() ? "" : fmt::format(" for tenant '{}'", tenant_), Text(o, "stops"),
                           Text(o, "stations"), Text(o, "routes"), Text(o, "trips"), Text(o, "stopTimes"),
                           Text(o, "firstServiceDate"), Text(o, "lastServiceDate"), Text(o, "timezone"));
  if (o.contains("entities")) std::cout << "entities: " << Text(o, "entities") << "\n";
  std::cout << fmt::format("{} problems reported (rows skipped)\n", Text(o, "problems"));
  PrintReport(o);
  return 0;
}

}  // namespace cityhub::app
