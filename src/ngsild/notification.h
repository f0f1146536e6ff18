// Notifications (GS CIM 009 §5.3.1): the payload a subscription's endpoint receives for the
// entities a change fired it for — {"id", "type": "Notification", "subscriptionId",
// "notifiedAt", "data": [entities]} — with each entity rendered as the subscription's
// `notification` asks: format (normalized, concise, keyValues), `attributes`, `sysAttrs`,
// `lang`. As §5.8.6 says for changes: attribute instances (by datasetId) the previous state had
// and the entity has no more are rendered as deleted ("urn:ngsi-ld:null"; with their datasetId,
// createdAt/modifiedAt/deletedAt under sysAttrs, and their previous value under showChanges);
// with `showChanges`, each modified instance carries its previous value (previousValue,
// previousObject, previousLanguageMap, previousVocab (compacted), previousJson, …). A deleted
// entity is rendered as its id, type and deletedAt (createdAt and modifiedAt with sysAttrs;
// with showChanges, every attribute as deleted). For an endpoint that accepts
// application/geo+json, data is a GeoJSON FeatureCollection (geometry: "location").
// Pure functions, no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "ngsild/context.h"
#include "ngsild/entity.h"

namespace cityhub::ngsild {

// One entity of a notification.
struct NotifiedEntity {
  Entity entity;                     // after the change (before it, for a deletion)
  const Entity* previous = nullptr;  // before the change, for showChanges and deleted attributes (null: none)
  bool deleted = false;              // the entity was deleted
  int64_t deleted_at_ms = 0;         // when, for a deleted entity (an update's is entity.modified_at)
};

// `subscription` is the stored form of ngsild/subscription.h; `ctx` the @context to compact
// names with (the subscription's jsonldContext or creation context: the caller resolves it).
boost::json::object RenderNotification(const boost::json::object& subscription, std::vector<NotifiedEntity> items,
                                       const Context& ctx, std::string_view notification_id,
                                       int64_t notified_at_ms);

}  // namespace cityhub::ngsild
