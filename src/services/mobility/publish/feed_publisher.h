// FeedPublisher: writes a tenant's transit feed into the broker as NGSI-LD entities — GtfsAgency,
// GtfsStation, GtfsStop, GtfsRoute (gtfs/entities.h) — so queries, geo-queries, subscriptions and
// history see the network; on a re-import it deletes what the new feed no longer has. The
// MobilityService's EntityPublisher (the hub wires it). Writes as "system:mobility", which may
// write and delete entities of those four types only. Thread-safe (the broker is).
//
// Ids: urn:ngsi-ld:<Type>:gtfs:<GTFS id> (one feed per tenant, so one feed key). Entities are
// upserted with replace in batches of kPublishBatch, so attributes a stop lost disappear.
//
// Vehicles (GTFS-Realtime VehiclePositions): each vehicle with a position becomes a Smart Data
// Models `Vehicle` (dataModel.Transportation) urn:ngsi-ld:Vehicle:gtfs:<vehicle id, else the
// entity id>: `location` (GeoProperty Point), `speed` (km/h, as the model has it; GTFS-RT sends
// m/s), `heading` (degrees from north), `name` (the vehicle's label), `vehicleType` (from the
// route's type), `serviceStatus` "onRoute", and the trip it runs as `tripId` and `hasRoute`
// (Relationship to the GtfsRoute) — each with observedAt = the position's timestamp (else the
// feed's), so the temporal API keeps every vehicle's track. Written by "system:mobility-realtime",
// which may write Vehicle entities only.
#pragma once

#include <memory>
#include <string_view>

#include "broker/entity_service.h"
#include "broker/write_access.h"
#include "ngsild/context.h"
#include "services/mobility/gtfs/feed.h"
#include "services/mobility/network/realtime.h"
#include "util/status.h"

namespace cityhub::services {

inline constexpr size_t kPublishBatch = 500;
inline constexpr std::string_view kFeedKey = "gtfs";

class FeedPublisher {
 public:
  FeedPublisher(broker::EntityService& entities, ngsild::ContextPtr core);

  // Upserts `feed`'s entities in `tenant` and deletes those of `previous` (may be null) that
  // `feed` lacks. The first error met (others counted), or Ok.
  Status Publish(std::string_view tenant, const mobility::gtfs::Feed& feed, const mobility::gtfs::Feed* previous);

  // Upserts the vehicles of `snapshot` (resolved against `network`) in `tenant`.
  Status PublishVehicles(std::string_view tenant, const mobility::network::TransitNetwork& network,
                         const mobility::network::RealtimeSnapshot& snapshot);

 private:
  broker::EntityService& entities_;
  ngsild::ContextPtr core_;
  std::unique_ptr<broker::SystemWriteAccess> access_;
  std::unique_ptr<broker::SystemWriteAccess> vehicle_access_;
};

}  // namespace cityhub::services
