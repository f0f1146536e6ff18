// Subscriptions (GS CIM 009 §5.2.12, §5.8): validating a subscription from a client (create
// and update payloads) into its stored form, and rendering the stored form for a client.
//
// The stored form is a JSON object like the payload, with every name expanded to its IRI
// (entity types, watchedAttributes, notification.attributes, geoQ.geoproperty), defaults
// filled in, expiresAt as DateTime text in UTC with the fraction it was written with (epoch
// milliseconds in subscriptions stored by earlier versions), `q` kept as written together with the @context
// it was written in ("qContext"), since its names are expanded only when it is compiled, and
// the @context the subscription was created with ("context"; notifications are compacted with
// it unless jsonldContext is given). Rendering compacts the names with the reader's @context,
// leaves the two contexts out and adds `status`.
// Pure functions, no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "ngsild/context.h"
#include "ngsild/qlang.h"
#include "util/status.h"

namespace cityhub::ngsild {

// Limits on a subscription (documented in docs/API.md).
struct SubscriptionLimits {
  size_t max_entities = 100;           // entity selectors
  size_t max_attributes = 100;         // watchedAttributes, notification.attributes
  size_t max_info_pairs = 32;          // receiverInfo, notifierInfo
  size_t max_text_bytes = 8 * 1024;    // subscriptionName, description, lang, values
  size_t max_id_pattern_bytes = 1024;
  size_t max_per_tenant = 100'000;     // subscriptions a tenant may hold (SubscriptionService)
  size_t max_per_owner = 0;            // …one owner may hold in a tenant (0 = no limit)
  int max_join_level = 5;              // notification.joinLevel (broker::JoinLimits::max_level)
  QueryLimits query;                   // q and scopeQ
};

// What a subscription is notified of: entity changes (§5.8), or context source registrations
// (§5.11, the same data type). For kCsource, q and csf test the registration's members, geoQ
// its location, observationSpace or operationSpace, watchedAttributes its propertyNames and
// relationshipNames, temporalQ its observationInterval or managementInterval (without one, a
// registration with either interval is not matched); the members that only shape entity
// notifications (notificationTrigger,
// datasetId, lang, notification.attributes/pick/omit/showChanges/join/joinLevel, a format other
// than normalized, accept application/geo+json) are BadRequestData, timeInterval NotSupported.
// For kEntity, csf and temporalQ are NotSupported.
enum class SubscriptionKind { kEntity, kCsource };

// Validates a Create Subscription payload (§5.8.1) read with `ctx` and returns the stored form.
// `id` is used when the payload has none. BadRequestData naming the member for anything
// invalid (unknown member, wrong type, bad URI or scheme, invalid q/geoQ/scopeQ, negative or
// zero throttling/timeInterval, expiresAt in the past, conflicting members); NotSupported for
// spec members this hub does not implement (csf and temporalQ on entity subscriptions).
Result<boost::json::object> NormalizeSubscription(const boost::json::object& payload, const Context& ctx,
                                                  std::string_view id, int64_t now_ms,
                                                  const SubscriptionLimits& limits = {},
                                                  SubscriptionKind kind = SubscriptionKind::kEntity);

// Applies an Update Subscription fragment (§5.8.2) read with `ctx` to a stored subscription:
// top-level members replace the stored ones (null removes an optional one), members of
// "notification" and of its "endpoint" are merged into the stored ones; the result is
// validated as a whole. `stored` is unchanged on error.
Status PatchSubscription(boost::json::object& stored, const boost::json::object& fragment, const Context& ctx,
                         int64_t now_ms, const SubscriptionLimits& limits = {},
                         SubscriptionKind kind = SubscriptionKind::kEntity);

// The stored subscription as a client sees it: names compacted with `ctx`, expiresAt and the
// system times as DateTime text (createdAt/modifiedAt only with `sys_attrs`), and `status`:
// "expired" past expiresAt, "paused" when not active, else "active".
boost::json::object RenderSubscription(const boost::json::object& stored, const Context& ctx, bool sys_attrs,
                                       int64_t now_ms);

// The epoch milliseconds of a stored expiresAt (text, or a number as earlier versions stored
// it); nullopt if it is neither.
std::optional<int64_t> ExpiresAtMs(const boost::json::value& stored);

}  // namespace cityhub::ngsild
