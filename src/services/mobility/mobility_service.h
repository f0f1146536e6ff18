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
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/translations.h"
#include "services/mobility/network/realtime.h"
#include "services/mobility/network/transit_network.h"
#include "util/status.h"

namespace cityhub::mobility {

inline constexpr int64_t kDefaultMaxRealtimeAgeSeconds = 900;

struct MobilityOptions {
  std::string state_dir;  // empty: imports are not persisted
  network::NetworkOptions network;
  gtfs::FeedOptions feed;
  gtfs::RealtimeLimits realtime;
  // Real-time data older than this (since the hub received it) is no longer applied: a feed
  // that stopped updating must not keep predicting yesterday's delays.
  int64_t max_realtime_age_s = kDefaultMaxRealtimeAgeSeconds;
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
// Writes the vehicle positions of a real-time snapshot for `tenant`.
using VehiclePublisher = std::function<Status(std::string_view tenant, const network::TransitNetwork& network,
                                              const network::RealtimeSnapshot& snapshot)>;

// What a real-time feed changed.
struct RealtimeSummary {
  size_t updated_trips = 0, cancelled_trips = 0, added_trips = 0, vehicles = 0;
  uint64_t problems = 0;
  uint64_t feed_timestamp = 0;  // the feed header's (POSIX seconds), 0 when absent
  int64_t received_unix = 0;
  std::string vehicle_entities;  // how publishing the vehicles went ("" when there were none)
};

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

  void SetVehiclePublisher(VehiclePublisher publisher) { vehicle_publisher_ = std::move(publisher); }

  // Applies a GTFS-Realtime feed (a binary FeedMessage) to the tenant's feed, replacing its
  // previous real-time data; journeys and boards use it from the next request. Unavailable when
  // the tenant has no feed; InvalidRequest / PayloadTooLarge for a bad message. Problems with
  // single updates go to `report` and the rest applies.
  Result<RealtimeSummary> ApplyRealtime(std::string_view tenant, std::string_view message,
                                        gtfs::ValidationReport& report, int64_t now_unix);

  // The tenant's current real-time data for `loaded` (null: none, or older than
  // max_realtime_age_s, or made for a feed since replaced).
  std::shared_ptr<const network::RealtimeSnapshot> Realtime(std::string_view tenant, const LoadedFeed& loaded,
                                                            int64_t now_unix) const;
  std::optional<RealtimeSummary> RealtimeStatus(std::string_view tenant) const;

  // The timetable of `date` for `loaded` with the tenant's current real-time data applied (the
  // scheduled one when there is none); applied timetables are cached per snapshot.
  Result<std::shared_ptr<const network::DayTimetable>> Day(std::string_view tenant, const LoadedFeed& loaded,
                                                           int32_t date, int64_t now_unix) const;

  const MobilityOptions& options() const { return options_; }

 private:
  std::string TenantDir(std::string_view tenant) const;
  void Install(std::string_view tenant, std::shared_ptr<const LoadedFeed> loaded);

  struct RealtimeSlot {
    std::weak_ptr<const network::TransitNetwork> network;  // the feed the snapshot was resolved for
    std::shared_ptr<const network::RealtimeSnapshot> snapshot;
    RealtimeSummary summary;
    std::map<int32_t, std::shared_ptr<const network::DayTimetable>> applied;  // by date, for snapshot
  };

  MobilityOptions options_;
  EntityPublisher publisher_;
  VehiclePublisher vehicle_publisher_;
  mutable std::mutex realtime_mu_;
  mutable std::map<std::string, RealtimeSlot, std::less<>> realtime_;
  std::mutex import_mu_;  // one import at a time
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const LoadedFeed>, std::less<>> feeds_;
};

FeedSummary Summarise(const gtfs::Feed& feed, const network::TransitNetwork& network);

}  // namespace cityhub::mobility
