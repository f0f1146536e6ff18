// The NGSI-LD HTTP API (under /ngsi-ld/v1/) plus /health and /metrics: maps HTTP requests to
// broker calls and broker results to HTTP responses with the spec's status codes and RFC 7807
// ProblemDetails. One file per resource: entities_api.cc, query_api.cc, batch_api.cc,
// discovery_api.cc, contexts_api.cc, subscriptions_api.cc, registrations_api.cc, ops_api.cc; shared request
// handling in request.h; whether a read or write is local or distributed is decided in distributed.h.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string_view>

#include "broker/distributed_read.h"
#include "broker/distributed_write.h"
#include "broker/entity_map_store.h"
#include "broker/entity_service.h"
#include "broker/notifier.h"
#include "broker/query_service.h"
#include "broker/registration_service.h"
#include "broker/subscription_service.h"
#include "broker/temporal_service.h"
#include "broker/visible_catalogue.h"
#include "http/router.h"
#include "security/authenticator.h"
#include "security/policy.h"
#include "security/privacy.h"
#include "ngsild/context.h"
#include "ngsild/parse.h"
#include "ngsild/qlang.h"
#include "util/counting_gate.h"

namespace cityhub::ingest {
class DeviceRegistry;
class Ingestor;
}  // namespace cityhub::ingest

namespace cityhub::services {
class ParkingService;
}  // namespace cityhub::services

namespace cityhub::store {
class Store;
}  // namespace cityhub::store

namespace cityhub::mobility {
class MobilityService;
}  // namespace cityhub::mobility

namespace cityhub::security {
class ApiKeyAuthenticator;
class AuditLog;
class RateLimiter;
class RoleDirectory;
}  // namespace cityhub::security

namespace cityhub::api {

class Metrics;

// The version of GS CIM 009 the hub's payloads conform to ("major.minor", as the Prefer
// preference ngsi-ld=<version> and Preference-Applied name it, §6.3.6).
inline constexpr std::string_view kNgsiLdVersion = "1.8";

// Authentication, authorization, privacy and audit (docs/SECURITY.md). With neither `jwt` nor
// `api_keys` there is no authentication: every request is allowed everything in clear.
struct SecurityDeps {
  security::Authenticator* jwt = nullptr;              // Bearer JWTs
  security::ApiKeyAuthenticator* api_keys = nullptr;   // X-API-Key / Authorization: ApiKey
  std::shared_ptr<const security::Policy> policy;      // null: the built-in roles only
  std::shared_ptr<const security::PrivacyPolicy> privacy;  // null: no attribute is classified
  const security::Pseudonymiser* pseudonyms = nullptr;  // set with `privacy`
  security::AuditLog* audit = nullptr;                 // null: no audit log
  security::RateLimiter* rate_limits = nullptr;        // null: no per-principal limit
  const security::RoleDirectory* roles = nullptr;      // roles token subjects presented last
  // Failed authentications per client (util::ClientOf the peer); past the limit the client's
  // requests get 429 before any signature check or audit record (null: no limit).
  security::RateLimiter* auth_failures = nullptr;
  bool enabled() const { return jwt || api_keys; }
};

struct ApiLimits {
  size_t max_json_depth = 64;       // nesting of request bodies; deeper is a 400
  size_t default_page_size = 20;
  size_t max_page_size = 1000;      // larger `limit` is a 403 TooManyResults
  size_t max_batch_entities = 1000; // larger batches are a 400
  size_t max_temporal_instances = 10000;  // per attribute in a temporal answer; more: 206
  size_t max_temporal_instances_per_request = 100000;  // in one temporal POST; more: 400
  ngsild::ParseLimits parse;
  ngsild::QueryLimits query;        // q and scopeQ
};

// What the handlers need; owned by the app, outliving the router.
struct ApiDeps {
  broker::EntityService* entities = nullptr;
  broker::QueryService* queries = nullptr;
  broker::EntityMapStore* entity_maps = nullptr;  // null: entityMap=true is not supported
  broker::CatalogueScanner* catalogue = nullptr;  // /types and /attributes of restricted callers
  broker::SubscriptionService* subscriptions = nullptr;
  // Context source registration subscriptions (null: no /csourceSubscriptions routes).
  broker::SubscriptionService* csource_subscriptions = nullptr;
  broker::RegistrationService* registrations = nullptr;  // null: no /csourceRegistrations routes
  // Reads with the registered context sources (api/distributed.h); null: every read is local.
  broker::DistributedRead* distributed_reads = nullptr;
  // Writes forwarded to exclusive and redirect registrations; null: every write is local.
  broker::DistributedWrite* distributed_writes = nullptr;
  // What distributed operations recorded per registration (§5.2.9), shown by the registrations
  // API; null: nothing shown.
  broker::SourceStatistics* source_statistics = nullptr;
  broker::TemporalService* temporal = nullptr;  // null: no /temporal routes
  SecurityDeps security;
  broker::Notifier* notifier = nullptr;  // delivery statuses of subscriptions (null: none shown)
  ingest::DeviceRegistry* devices = nullptr;  // the IoT agent (null, with ingestor: no /iot routes)
  ingest::Ingestor* ingestor = nullptr;
  services::ParkingService* parking = nullptr;  // null: no /cityhub/v1/parking routes
  mobility::MobilityService* mobility = nullptr;  // null: no /mobility/v1 routes
  ngsild::ContextResolver* contexts = nullptr;
  Metrics* metrics = nullptr;
  std::atomic<bool>* ready = nullptr;  // false while starting or draining
  store::Store* store = nullptr;       // readiness needs it to take writes (null: not asked)
  // Query slots: how many entity queries run and render at once (null = no bound), and how long
  // a query waits for a slot before a 503 — the query time limit of `queries`.
  util::CountingGate* query_slots = nullptr;
  std::chrono::milliseconds query_slot_wait = broker::QueryServiceLimits{}.max_query_time;
  ApiLimits limits;
};

// Adds every route to `router`.
void RegisterRoutes(http::Router& router, const ApiDeps& deps);

// True when the hub answers `req` without blocking, so that the server may handle it on its I/O
// thread (http::ServerOptions::runs_inline; docs/ARCHITECTURE.md, "A request, end to end"):
// retrieving one entity by id (GET /ngsi-ld/v1/entities/{entityId}), or updating its attributes
// (PATCH …/attrs, whose commit is waited for without the thread: EntityService::UpdateDeferred)
// while no other write of the entity is under way, on a store that reads locally
// (Store::ReadsLocally), asking for nothing that reaches elsewhere (join, containedBy, entityMap),
// with a @context already resolved in memory (no ld+json body), credentials known without a
// download or a signature check (an API key, or a token verified before), and no context source
// registered in the tenant. Everything else goes to a worker. Cheap: called for every request.
bool RunsInline(const http::Router& router, const ApiDeps& deps, const http::Request& req);

// For a handler that answers later without holding its thread (a write waiting for its commit,
// TenantStore::UpdateDeferred): the returned function gives the answer — from any thread, once
// — and what the handler returns is dropped; Dispatch still adds the NGSI-LD headers, the audit
// record and the metrics to the answer given. Null when the request cannot be answered later
// (it is not served by an http::Server): then the handler answers by returning.
std::function<void(http::Response)> DeferAnswer();

// The top-level handler: routes `req`, turns routing failures into ProblemDetails (404, 405
// with Allow, 400 for a bad path) and records metrics. Thread-safe.
http::Response Dispatch(const http::Router& router, const ApiDeps& deps, const http::Request& req);

}  // namespace cityhub::api
