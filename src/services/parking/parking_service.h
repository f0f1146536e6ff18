// ParkingService: smart parking on the broker (issue 7). Every committed change of a
// ParkingSpot's status or refParkingSite (and every spot created or deleted) schedules its
// parking site — an OffStreetParking or OnStreetParking entity — for a recount: the service's
// thread ("parking") counts the site's spots through the query service and writes the site's
// availableSpotNumber, occupiedSpotNumber, totalSpotNumber, occupancy (occupied / (free +
// occupied)) and status (full, almostFull, or open; a site marked closed keeps it) through
// EntityService, only when something changed — so subscribers are notified like for any write.
//
// Sites without ParkingSpots pointing at them are left alone (their counts may come from
// elsewhere, e.g. a barrier counter) — so a site whose last spot is removed keeps its last counts.
//
// Exactness. A recount reads committed state and runs after the commit that scheduled it,
// and recounts of a site run one at a time on one thread; whatever the interleaving of spot
// changes, the last recount of a site follows its last change and sees it, so the counts settle
// on the exact figures (a recount, not increments that a lost or doubled event would skew).
// Pending sites are coalesced: a burst of changes costs one recount per site.
//
// Both vocabularies are understood: the Smart Data Models IRIs (dataModel.Parking) and the
// default-context terms; a site is written in the vocabulary of its own type.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "broker/entity_service.h"
#include "broker/query_service.h"
#include "broker/temporal_service.h"
#include "ngsild/context.h"
#include "services/parking/occupancy_forecast.h"
#include "util/status.h"

namespace cityhub::services {

// A parking site near a point, for "nearest car parks with at least N free spaces".
struct NearbyParking {
  std::string id;
  double distance_m = 0;
  int64_t available = 0;
};

// A site's next-hour occupancy forecast (occupancy_forecast.h).
struct SiteForecast {
  int64_t origin_ms = 0;                           // the start of the current 15-minute slot
  std::optional<int64_t> total;                    // totalSpotNumber, when known
  double occupancy = 0;                            // now
  std::vector<std::pair<int64_t, double>> points;  // (slot start, occupancy) of the next hour
  OccupancyModel model;
  BacktestResult error;
};

class ParkingService : public broker::ChangeObserver {
 public:
  ParkingService(broker::EntityService& entities, const broker::QueryService& queries);
  ~ParkingService() override;  // Stop()

  void Start();
  // Finishes the recount in progress; drops the rest (a restart recounts nothing by itself:
  // call RecountAll).
  void Stop();
  // Schedules every parking site of `tenant` (e.g. at start, after a restore).
  Status RecountAll(std::string_view tenant);
  // Recounts one site now, on the caller's thread (tests and the tools use it).
  Status Recount(std::string_view tenant, std::string_view site);
  // Sites pending or being recounted (0: settled).
  size_t Pending() const;

  // Parking sites within `max_distance_m` of (lat, lon) with at least `min_free` available
  // spots, nearest first, at most `limit`. `view` (null: everything) is the caller's: a site is
  // listed only if the caller may see it and read its location and availableSpotNumber in clear
  // (the answer is made of them: a distance from a hidden location would locate it).
  Result<std::vector<NearbyParking>> Nearest(std::string_view tenant, double lat, double lon, int64_t min_free,
                                             double max_distance_m, size_t limit, const broker::EntityView* view) const;

  // The next-hour occupancy forecast of parking site `site` as of `now_ms`, from the last 8
  // weeks of its occupancy history, with the model's measured error on that history. `view`
  // (null: everything) is the caller's: the site and its occupancy must be readable in clear
  // (PermissionDenied). NotFound for an unknown entity or a site with neither an occupancy nor
  // its history; BadRequestData when the entity is not a parking site.
  Result<SiteForecast> Forecast(std::string_view tenant, std::string_view site, broker::TemporalService& temporal,
                                const broker::EntityView* view, int64_t now_ms) const;

  // ChangeObserver
  bool Watching(std::string_view tenant) const override;
  Status AddTo(std::string_view tenant, store::TenantStore& ts, const std::vector<broker::EntityChange>& changes,
               store::WriteSet& ws, std::unique_ptr<broker::PendingChanges>* pending) override;
  void Committed(std::string_view tenant, std::unique_ptr<broker::PendingChanges> pending) override;

  struct Vocabulary;

 private:
  void Run();
  // The vocabulary of a parking site's type, or null when `site` is not a parking site.
  const Vocabulary* VocabularyOf(const ngsild::Entity& site) const;

  broker::EntityService& entities_;
  const broker::QueryService& queries_;
  // Its rights as system principal "system:parking": the counts and status of parking sites.
  std::unique_ptr<const broker::SystemWriteAccess> writes_;
  ngsild::ContextResolver own_contexts_;  // private: its inline contexts are nobody else's business
  std::vector<std::shared_ptr<const Vocabulary>> vocabularies_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::set<std::pair<std::string, std::string>> pending_;  // (tenant, site id)
  size_t running_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace cityhub::services
