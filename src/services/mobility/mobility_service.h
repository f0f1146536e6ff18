// MobilityService: the journey planner's state, per tenant — the imported GTFS feed as a
// TransitNetwork, its saved snapshot, and imports that replace it. The API and the import
// command go through it; it owns the networks it hands out (shared, immutable: a request keeps
// the network it started with, so an import never shows it half a feed).
//
// Import: read and validate the zip → build the network and today's timetable → write the
// snapshot → swap the tenant's network → publish the feed's entities (a callback the hub sets:
// stops, stations, routes and agencies written through the broker). Imports run one at a time
// (each holds a whole feed in memory). A failed import leaves the previous feed in place.
//
// Persistence: <state_dir>/<tenant dir>/feed.snapshot (gtfs/feed_snapshot.h); LoadSaved() reads
// them at start-up, so a restart serves journeys without parsing any zip. The tenant directory
// is "default" for the default tenant, else "t-" + the tenant name in hex (any tenant name is
// a safe file name that way).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/translations.h"
#include "services/mobility/network/transit_network.h"
#include "util/status.h"

namespace cityhub::mobility {

struct MobilityOptions {
  std::string state_dir;  // empty: imports are not persisted
  network::NetworkOptions network;
  gtfs::FeedOptions feed;
};

// What is loaded for a tenant.
struct FeedSummary {
  size_t agencies = 0, stops = 0, stations = 0, routes = 0, trips = 0, stop_times = 0;
  size_t frequencies = 0, transfers = 0, translations = 0;
  int32_t first_date = 0, last_date = 0;  // service calendar (yyyymmdd)
  std::string timezone;
  std::string publisher;  // feed_info.feed_publisher_name, else the first agency's name
  int64_t imported_at_ms = 0;
  uint64_t problems = 0;  // validation problems reported at import
  std::string entities;   // how publishing the entities went ("" while not attempted)
};

struct LoadedFeed {
  std::shared_ptr<const network::TransitNetwork> network;
  gtfs::TranslationIndex translations;  // of network->feed()
  FeedSummary summary;
};

// Writes a feed's entities for `tenant`; `previous` is the feed it replaces (null: none).
using EntityPublisher =
    std::function<Status(std::string_view tenant, const gtfs::Feed& feed, const gtfs::Feed* previous)>;

class MobilityService {
 public:
  explicit MobilityService(MobilityOptions options);

  void SetPublisher(EntityPublisher publisher) { publisher_ = std::move(publisher); }

  // Reads every saved snapshot; a damaged one is logged and left out. Returns how many loaded.
  size_t LoadSaved();

  // Imports the GTFS zip at `zip_path` for `tenant`, filling `report`. On success the tenant's
  // feed is replaced and its summary returned; else the error of the first fatal problem (or of
  // building/saving) and the previous feed stays.
  Result<FeedSummary> Import(std::string_view tenant, const std::string& zip_path, gtfs::ValidationReport& report);

  // The tenant's feed, or null when none is loaded.
  std::shared_ptr<const LoadedFeed> Get(std::string_view tenant) const;

  const MobilityOptions& options() const { return options_; }

 private:
  std::string TenantDir(std::string_view tenant) const;
  void Install(std::string_view tenant, std::shared_ptr<const LoadedFeed> loaded);

  MobilityOptions options_;
  EntityPublisher publisher_;
  std::mutex import_mu_;  // one import at a time
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const LoadedFeed>, std::less<>> feeds_;
};

FeedSummary Summarise(const gtfs::Feed& feed, const network::TransitNetwork& network);

}  // namespace cityhub::mobility
