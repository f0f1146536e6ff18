// Wiring of the running hub (DESIGN §2: app owns construction order and lifetimes).
//
// Start-up order: check the bind address against the security default, open the store (the
// slowest step: it replays the write-ahead log after a crash), load hosted @contexts, register
// routes, listen, mark ready. Shutdown order is the reverse: stop accepting and drain requests,
// then close the store so every acknowledged write is on disk and the next start is clean.
//
// Hosted @contexts persist as metadata of the default tenant under "ctx/<id>".
#include "app/hub.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <fstream>
#include <iterator>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/metrics.h"
#include "api/request.h"
#include "broker/context_source_client.h"
#include "broker/distributed_read.h"
#include "broker/distributed_write.h"
#include "broker/endpoint_policy.h"
#include "broker/entity_map_store.h"
#include "broker/entity_service.h"
#include "broker/history_recorder.h"
#include "broker/http_sender.h"
#include "broker/mqtt_sender.h"
#include "broker/notification_outbox.h"
#include "broker/notifier.h"
#include "broker/query_service.h"
#include "broker/registration_service.h"
#include "broker/subscription_service.h"
#include "broker/transient_purge.h"
#include "ingest/ingestor.h"
#include "ingest/mqtt_ingest.h"
#include "services/mobility/mobility_service.h"
#include "services/mobility/publish/feed_publisher.h"
#include "services/mobility/publish/realtime_poller.h"
#include "services/parking/parking_service.h"
#include "services/warning/warning_service.h"
#include "ingest/registry.h"
#include "http/server.h"
#include "ngsild/context.h"
#include "ngsild/context_fetch.h"
#include "app/hub_client.h"
#include "app/security_setup.h"
#include "store/rocksdb_store.h"
#include "util/counting_gate.h"
#include "util/periodic_task.h"
#include "util/time.h"

namespace cityhub::app {
namespace json = boost::json;

namespace {

constexpr std::string_view kContextMetaPrefix = "ctx/";

std::string EncodeStoredContext(const ngsild::StoredContext& c) {
  return json::serialize(json::object{{"id", c.id},
                                      {"url", c.url},
                                      {"kind", static_cast<int>(c.kind)},
                                      {"document", c.document},
                                      {"createdAt", c.created_at_ms},
                                      {"tenant", c.tenant}});
}

std::optional<ngsild::StoredContext> DecodeStoredContext(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  ngsild::StoredContext c;
  const auto* id = o.if_contains("id");
  const auto* url = o.if_contains("url");
  const auto* doc = o.if_contains("document");
  if (!id || !id->is_string() || !url || !url->is_string() || !doc || !doc->is_string()) return std::nullopt;
  c.id = std::string(id->get_string());
  c.url = std::string(url->get_string());
  c.document = std::string(doc->get_string());
  if (const auto* k = o.if_contains("kind"); k && k->is_int64()) c.kind = static_cast<ngsild::StoredContext::Kind>(k->get_int64());
  if (const auto* t = o.if_contains("createdAt"); t && t->is_int64()) c.created_at_ms = t->get_int64();
  if (const auto* t = o.if_contains("tenant"); t && t->is_string()) c.tenant = std::string(t->get_string());
  return c;
}

ngsild::ContextPersistence PersistIn(store::Store& store) {
  auto meta = [&store]() { return store.Tenant("", true); };
  ngsild::ContextPersistence p;
  p.save = [meta](const ngsild::StoredContext& c) -> Status {
    auto ts = meta();
    if (!ts.ok()) return ts.status();
    return (*ts)->PutMeta(fmt::format("{}{}", kContextMetaPrefix, c.id), EncodeStoredContext(c));
  };
  p.remove = [meta](std::string_view id) -> Status {
    auto ts = meta();
    if (!ts.ok()) return ts.status();
    return (*ts)->DeleteMeta(fmt::format("{}{}", kContextMetaPrefix, id));
  };
  p.load_all = [meta](const std::function<void(ngsild::StoredContext)>& add) -> Status {
    auto ts = meta();
    if (!ts.ok()) return ts.status();
    return (*ts)->ScanMeta(kContextMetaPrefix, [&](std::string_view, std::string_view value) {
      if (auto c = DecodeStoredContext(value)) {
        add(std::move(*c));
      } else {
        spdlog::warn("skipping an unreadable stored @context record");
      }
      return true;
    });
  };
  return p;
}

// A backup's name under --backup-dir: one path component, no hidden or parent names.
bool ValidBackupName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// Writes every tenant's checkpoint to `target` and makes the copy readable by its owner only
// (it holds every tenant's data).
Status WriteBackup(store::Store& store, const std::filesystem::path& target) {
  CITYHUB_RETURN_IF_ERROR(store.Backup(target.string()));
  std::error_code ec;
  std::filesystem::permissions(target, std::filesystem::perms::owner_all, ec);
  return Status::Ok();
}

// POST /admin/backup {"name": "2026-11-26"}: writes <backup-dir>/<name>. Only from loopback
// peers, and only under the configured backup dir, so a request can neither reach this from
// the network nor choose where the copy of every tenant's data lands.
http::Response AdminBackup(store::Store& store, const std::filesystem::path& root, const api::ApiLimits& limits,
                           const http::Request& req) {
  if (!IsLoopbackPeer(req.remote_address)) return api::Problem(Status::NotFound("no resource at this path"));
  auto body = api::ParseJsonBody(req, limits);
  if (!body.ok()) return api::Problem(body.status());
  const json::value* name = body->value.is_object() ? body->value.get_object().if_contains("name") : nullptr;
  if (!name || !name->is_string() || !ValidBackupName(name->get_string())) {
    return api::Problem(Status::BadRequestData(
        "body must be {\"name\": \"<new backup name>\"}: 1-128 letters, digits, '-', '_' or '.', not starting with '.'"));
  }
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  std::filesystem::permissions(root, std::filesystem::perms::owner_all, ec);
  std::filesystem::path target = root / std::string(name->get_string());
  Status st = WriteBackup(store, target);
  if (!st.ok()) return api::Problem(st);
  spdlog::info("backup written to '{}' at the request of {}", target.string(), req.remote_address);
  return api::NoContent();
}

// Every tenant database keeps files open: raise the soft descriptor limit to the hard one.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

bool ServesTls(const Config& c) { return !c.tls_cert_file.empty(); }

std::string PublicUrl(const Config& c) {
  if (!c.public_url.empty()) return c.public_url;
  return fmt::format("{}://{}", ServesTls(c) ? "https" : "http", c.listen);
}

mobility::MobilityOptions MobilityOptionsOf(const Config& c) {
  mobility::MobilityOptions o;
  o.state_dir = (std::filesystem::path(c.data_dir) / "mobility").string();
  o.network.walking.radius_m = c.transit_walk_radius_m;
  o.network.walking.detour_factor = c.transit_walk_detour;
  o.network.walking.speed_m_per_s = c.transit_walk_speed;
  o.network.default_min_transfer = static_cast<mobility::routing::Seconds>(c.transit_min_transfer_s);
  return o;
}

store::RocksDbOptions StoreOptions(const Config& c) {
  store::RocksDbOptions o;
  o.data_dir = c.data_dir;
  o.block_cache_bytes = c.block_cache_mb << 20;
  o.max_tenants = c.max_tenants;
  return o;
}

// The early-warning rules: --warning-rules, else the built-in ones (names in the core context).
Result<services::WarningRules> WarningRulesOf(const Config& config, ngsild::ContextResolver& contexts) {
  ngsild::ContextPtr core = contexts.Core();
  if (config.warning_rules.empty()) {
    return services::WarningRules::Defaults([&core](std::string_view t) { return core->ExpandTerm(t); });
  }
  std::ifstream in(config.warning_rules);
  if (!in) return Status::BadRequestData(fmt::format("cannot read '{}'", config.warning_rules));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return services::WarningRules::Parse(text, FileExpander(contexts));
}

// A periodic subscription's entities: those of its selectors' types that it selects, read a
// page at a time through the query service.
broker::PeriodicSource PeriodicEntities(const broker::QueryService& queries) {
  return [&queries](std::string_view tenant, const broker::CompiledSubscription& sub,
                    size_t limit) -> Result<std::vector<ngsild::Entity>> {
    constexpr size_t kPage = 1000;
    std::vector<ngsild::Entity> out;
    std::set<std::string> seen;  // an entity of two selected types is listed once
    for (const std::string& type : sub.types()) {
      broker::EntityQuery q;
      q.types = {type};
      q.limit = kPage;
      for (q.offset = 0; out.size() < limit; q.offset += kPage) {
        auto page = queries.Query(tenant, q);
        if (!page.ok()) return page.status().IsNotFound() ? Result<std::vector<ngsild::Entity>>(std::move(out)) : page.status();
        for (auto& e : page->entities) {
          if (out.size() < limit && sub.Selects(e) && seen.insert(e.id).second) out.push_back(std::move(e));
        }
        if (page->entities.size() < kPage) break;
      }
    }
    return out;
  };
}

// How the hub asks registered context sources (docs/API.md "Distributed operations"); the
// credentials files are read here, so a bad entry stops the start-up instead of a later request.
Result<broker::ContextSourceClientOptions> FederationOptions(const Config& config,
                                                            std::shared_ptr<const net::AddressPolicy> addresses) {
  auto credentials = broker::SourceCredentials::Load(config.federation_credentials);
  if (!credentials.ok()) return credentials.status();
  broker::ContextSourceClientOptions o;
  o.default_timeout = std::chrono::milliseconds(config.federation_timeout_ms);
  o.health.cooldown = std::chrono::milliseconds(config.federation_cooldown_ms);
  o.health.max_in_flight = config.federation_max_in_flight;
  o.max_answer_bytes = config.federation_max_answer_bytes;
  o.credentials = std::move(*credentials);
  o.addresses = std::move(addresses);
  o.ca_file = config.notify_ca_file;
  return o;
}

}  // namespace


int Serve(const Config& config) {
  std::string host;
  unsigned short port;
  if (!SplitHostPort(config.listen, &host, &port)) {
    spdlog::error("--listen '{}' is not HOST:PORT", config.listen);
    return 2;
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    spdlog::error("TLS needs both --tls-cert-file and --tls-key-file; only {} is given",
                  config.tls_cert_file.empty() ? "--tls-key-file" : "--tls-cert-file");
    return 2;
  }
  // One outbound address policy for every client of the hub (notifications, @context and JWKS
  // downloads), and the notification endpoint rules built on it.
  auto outbound = net::AddressPolicy::FromList(config.outbound_allow);
  if (!outbound.ok()) {
    spdlog::error("--outbound-allow: {}", outbound.status().message());
    return 2;
  }
  auto addresses = std::make_shared<const net::AddressPolicy>(std::move(*outbound));
  auto allowed_headers = broker::EndpointPolicy::ParseAllowedHeaders(config.notification_allow_headers);
  if (!allowed_headers.ok()) {
    spdlog::error("--notification-allow-headers: {}", allowed_headers.status().message());
    return 2;
  }
  auto endpoint_policy = std::make_shared<const broker::EndpointPolicy>(addresses, std::move(*allowed_headers));
  spdlog::info("outbound connections (notifications, @context downloads, JWKS): {}{}", addresses->Describe(),
               addresses->allowed().empty() ? " (--outbound-allow adds networks, e.g. 127.0.0.0/8,::1 for "
                                              "receivers on this machine)"
                                            : "");
  auto federation = FederationOptions(config, addresses);
  if (!federation.ok()) {
    spdlog::error("--federation-credentials: {}", federation.status().message());
    return 2;
  }
  spdlog::info("distributed operations: {} ms per source unless registered otherwise, {} ms cooldown, "
               "credentials for {} origin(s)", federation->default_timeout.count(),
               federation->health.cooldown.count(), federation->credentials.size());
  SecuritySetup security;
  if (Status st = SetUpAuthentication(config, addresses, &security); !st.ok()) {
    spdlog::error("authentication: {}", st.message());
    return 2;
  }
  if (security.authenticates()) {
    // Authenticated: any address may be served.
  } else if (!IsLoopbackHost(host)) {
    if (!config.insecure) {
      spdlog::error("refusing to listen on non-loopback address {}: authentication is not configured; "
                    "bind to 127.0.0.1 or pass --insecure", host);
      return 2;
    }
    spdlog::warn("listening on {} WITHOUT authentication (--insecure): anyone who can reach it can read and write", host);
  } else {
    spdlog::info("no authentication configured: serving on loopback only");
  }

  RaiseFileLimit();
  auto store = store::OpenRocksDbStore(StoreOptions(config));
  if (!store.ok()) {
    spdlog::error("cannot open data dir '{}': {}", config.data_dir, store.status().message());
    return 1;
  }
  ngsild::ContextResolverOptions ctx_opts;
  ctx_opts.preload_dir = config.context_dir;
  ctx_opts.fetch_timeout = std::chrono::milliseconds(config.context_fetch_timeout_ms);
  ctx_opts.allow_remote_fetch = config.remote_contexts;
  ctx_opts.outbound = addresses;
  ctx_opts.public_base_url = PublicUrl(config);
  ngsild::ContextResolver contexts(ctx_opts, PersistIn(**store));
  if (Status st = contexts.Init(); !st.ok()) {
    spdlog::error("cannot load @contexts: {}", st.message());
    (*store)->Close();
    return 1;
  }
  if (Status st = SetUpProtection(config, contexts, &security); !st.ok()) {
    spdlog::error("{}", st.message());
    (*store)->Close();
    return 2;
  }

  api::Metrics metrics;
  broker::EntityService entities(**store);
  entities.SetCommitObserver([&metrics](double seconds) { metrics.ObserveCommit(seconds); });
  Status indexed = entities.EnsureIndexed([](std::string_view tenant, uint64_t n) {
    spdlog::info("rebuilt the query indexes of tenant '{}': {} entities", tenant, n);
  });
  if (!indexed.ok()) {
    spdlog::error("cannot build the query indexes: {}", indexed.message());
    (*store)->Close();
    return 1;
  }
  const broker::QueryServiceLimits query_limits;
  broker::QueryService queries(**store, query_limits);
  // Query slots: CPU-bound queries beyond the cores only time-slice them, so they queue here
  // while the large worker pool stays for writes (whose disk syncs it groups).
  const unsigned query_threads =
      config.query_threads > 0 ? config.query_threads : std::max(1u, 2 * std::thread::hardware_concurrency());
  util::CountingGate query_slots(query_threads);
  std::atomic<bool> ready{false};
  broker::CatalogueScanner catalogue(**store);
  broker::EntityMapLimits map_limits;
  map_limits.ttl = std::chrono::seconds(std::clamp(config.entity_map_ttl_s, 1u, 86400u));
  broker::EntityMapStore entity_maps(map_limits);
  api::ApiDeps deps;
  deps.entities = &entities;
  deps.queries = &queries;
  deps.entity_maps = &entity_maps;
  deps.catalogue = &catalogue;
  deps.security = security.Deps();
  // Subscriptions: compiled into the matcher (a subscription that cannot be compiled is refused
  // when created, and reported at start-up).
  broker::SubscriptionMatcher matcher;
  ngsild::SubscriptionLimits subscription_limits;
  subscription_limits.max_per_owner = config.max_subscriptions_per_principal;
  broker::SubscriptionService subscriptions(**store, &matcher, &contexts, subscription_limits);
  subscriptions.SetViewFactory(SubscriptionViews(deps.security));
  subscriptions.SetEndpointPolicy(endpoint_policy);
  auto loaded = subscriptions.LoadAll([](std::string_view tenant, std::string_view id, const Status& st) {
    spdlog::warn("subscription '{}' of tenant '{}' is not active: {}", id, tenant, st.message());
  });
  if (!loaded.ok()) {
    spdlog::error("cannot load the subscriptions: {}", loaded.status().message());
    (*store)->Close();
    return 1;
  }
  // Context source registrations: indexed in memory for the distributed operations; an
  // exclusive or redirect registration may not claim an entity held here.
  broker::RegistrationService registrations(**store);
  registrations.SetLocalEntityProbe(
      [&entities](std::string_view tenant, std::string_view id) -> std::optional<std::vector<std::string>> {
        auto e = entities.Get(tenant, id);
        if (!e.ok()) return std::nullopt;
        std::vector<std::string> attrs;
        for (const auto& [name, instances] : e->attrs) attrs.push_back(name);
        return attrs;
      });
  auto registered = registrations.LoadAll([](std::string_view tenant, std::string_view id, const Status& st) {
    spdlog::warn("context source registration '{}' of tenant '{}' is not active: {}", id, tenant, st.message());
  });
  if (!registered.ok()) {
    spdlog::error("cannot load the context source registrations: {}", registered.status().message());
    (*store)->Close();
    return 1;
  }
  deps.registrations = &registrations;
  // Context source registration subscriptions: the same data type, stored apart, compiled into a
  // matcher of their own that registration changes are matched against.
  broker::SubscriptionMatcher csource_matcher;
  broker::SubscriptionService csource_subscriptions(**store, &csource_matcher, &contexts, subscription_limits,
                                                    ngsild::SubscriptionKind::kCsource);
  csource_subscriptions.SetViewFactory(SubscriptionViews(deps.security, security::Operation::kRegister));
  csource_subscriptions.SetEndpointPolicy(endpoint_policy);
  auto csource_loaded = csource_subscriptions.LoadAll([](std::string_view tenant, std::string_view id, const Status& st) {
    spdlog::warn("context source registration subscription '{}' of tenant '{}' is not active: {}", id, tenant, st.message());
  });
  if (!csource_loaded.ok()) {
    spdlog::error("cannot load the context source registration subscriptions: {}", csource_loaded.status().message());
    (*store)->Close();
    return 1;
  }
  // Distributed operations: the sources the registrations name are asked alongside the hub's
  // data, and take the writes of exclusive and redirect registrations.
  broker::ContextSourceClient source_client(std::move(*federation));
  broker::DistributedRead distributed_reads(source_client);
  deps.distributed_reads = &distributed_reads;
  broker::DistributedWrite distributed_writes(source_client);
  deps.distributed_writes = &distributed_writes;
  deps.source_statistics = &source_client.statistics();
  // Notifications: every write adds what it owes to the outbox in its own transaction; once
  // durable the records go to the notifier, which also delivers what a previous run left.
  broker::HttpSenderOptions http_opts;
  http_opts.response_timeout = std::chrono::milliseconds(config.notify_timeout_ms);
  http_opts.ca_file = config.notify_ca_file;
  http_opts.endpoints = endpoint_policy;
  broker::HttpSender http_sender(http_opts);
  broker::MqttSenderOptions mqtt_opts;
  mqtt_opts.ca_file = config.notify_ca_file;
  mqtt_opts.endpoints = endpoint_policy;
  broker::MqttSender mqtt_sender(mqtt_opts);
  broker::NotifierOptions notify_opts;
  notify_opts.retry_initial = std::chrono::milliseconds(config.notify_retry_initial_ms);
  notify_opts.retry_max = std::chrono::milliseconds(config.notify_retry_max_ms);
  notify_opts.retry_budget = std::chrono::seconds(config.notify_retry_budget_s);
  notify_opts.max_queue = std::max<size_t>(1, config.notify_queue);
  broker::Notifier notifier(**store, matcher, contexts, http_sender, &mqtt_sender, &subscriptions, notify_opts);
  broker::OutboxWriter outbox(matcher, [&notifier](std::string_view tenant, std::vector<broker::OutboxEntry> entries) {
    notifier.Committed(tenant, std::move(entries));
  });
  entities.AddChangeObserver(&outbox);
  outbox.SetCsourceMatcher(&csource_matcher);
  notifier.SetCsourceMatcher(&csource_matcher);
  registrations.SetWriteHook([&outbox](std::string_view tenant, store::TenantStore& ts, const boost::json::object* before,
                                       const boost::json::object* after, int64_t before_at_ms, store::WriteSet& ws) {
    return outbox.AddRegistrationChange(tenant, ts, before, after, before_at_ms, ws);
  });
  csource_subscriptions.SetCreateHook([&outbox, &registrations](std::string_view tenant, store::TenantStore& ts,
                                                                const broker::CompiledSubscription& created,
                                                                store::WriteSet& ws) {
    return outbox.AddFirstNotification(tenant, ts, created, registrations.All(tenant), ws);
  });
  broker::HistoryRecorder history(config.history);
  if (Status st = history.Prepare(**store); !st.ok()) {
    spdlog::error("cannot prepare the history of existing entities: {}", st.message());
    (*store)->Close();
    return 1;
  }
  entities.AddChangeObserver(&history);
  // City services on the broker: smart parking keeps each site's counts exact.
  services::ParkingService parking(entities, queries);
  entities.AddChangeObserver(&parking);
  parking.Start();
  for (const auto& tenant : (*store)->ListTenants()) {
    if (Status st = parking.RecountAll(tenant); !st.ok()) spdlog::warn("parking: {}", st.message());
  }
  if (Status st = parking.RecountAll(""); !st.ok()) spdlog::warn("parking: {}", st.message());
  auto rules = WarningRulesOf(config, contexts);
  if (!rules.ok()) {
    spdlog::error("--warning-rules: {}", rules.status().message());
    parking.Stop();
    notifier.Stop();
    (*store)->Close();
    return 2;
  }
  services::WarningService warning(entities, std::move(*rules));
  entities.AddChangeObserver(&warning);
  warning.Start();
  subscriptions.SetDeletionObserver([&notifier](std::string_view tenant, std::string_view id) { notifier.Forget(tenant, id); });
  csource_subscriptions.SetDeletionObserver(
      [&notifier](std::string_view tenant, std::string_view id) { notifier.Forget(tenant, id, /*csource=*/true); });
  notifier.SetPeriodicSource(PeriodicEntities(queries));
  if (Status st = notifier.Start(); !st.ok()) {
    spdlog::error("cannot read the notification outbox: {}", st.message());
    (*store)->Close();
    return 1;
  }
  deps.subscriptions = &subscriptions;
  // Expired registrations owe their subscribers a noLongerMatching notification.
  util::PeriodicTask registration_expiry("csr-expiry", std::chrono::seconds(1), [&registrations] {
    auto swept = registrations.SweepExpired(util::NowMillis());
    if (!swept.ok()) spdlog::warn("context source registration expiry: {}", swept.status().message());
  });
  registration_expiry.Start();
  deps.csource_subscriptions = &csource_subscriptions;
  // The IoT agent: provisioned devices, and their measures written in batched transactions.
  ingest::DeviceRegistry devices(**store);
  if (Status st = devices.Load(); !st.ok()) {
    spdlog::error("cannot load the IoT devices: {}", st.message());
    notifier.Stop();
    (*store)->Close();
    return 1;
  }
  ingest::IngestOptions ingest_opts;
  ingest_opts.limits.max_payload_bytes = config.iot_max_payload_bytes;
  ingest_opts.limits.max_measures = std::max<size_t>(1, config.iot_max_measures);
  auto ingestor = std::make_unique<ingest::Ingestor>(entities, devices, contexts.Core(), ingest_opts);
  deps.devices = &devices;
  deps.parking = &parking;
  // Journey planning: the tenants' transit feeds, from their snapshots (no zip parsed again).
  mobility::MobilityService mobility(MobilityOptionsOf(config));
  services::FeedPublisher feed_publisher(entities, contexts.Core());
  mobility.SetPublisher([&feed_publisher](std::string_view tenant, const mobility::gtfs::Feed& feed,
                                          const mobility::gtfs::Feed* previous) {
    return feed_publisher.Publish(tenant, feed, previous);
  });
  mobility.SetVehiclePublisher([&feed_publisher](std::string_view tenant, const mobility::network::TransitNetwork& net,
                                                 const mobility::network::RealtimeSnapshot& snapshot) {
    return feed_publisher.PublishVehicles(tenant, net, snapshot);
  });
  if (size_t n = mobility.LoadSaved(); n > 0) spdlog::info("mobility: {} transit feeds loaded", n);
  if (!config.gtfs_feed.empty() && !mobility.Get("")) {
    mobility::gtfs::ValidationReport report;
    auto imported = mobility.Import("", config.gtfs_feed, report);
    if (imported.ok()) {
      spdlog::info("mobility: '{}' imported: {} stops, {} routes, {} trips ({} problems)", config.gtfs_feed,
                   imported->stops, imported->routes, imported->trips, report.total());
    } else {
      spdlog::error("mobility: --gtfs-feed '{}': {}", config.gtfs_feed, imported.status().message());
    }
  }
  deps.mobility = &mobility;
  std::unique_ptr<services::RealtimePoller> realtime_poller;
  if (!config.gtfs_rt_url.empty()) {
    services::RealtimePollerOptions po;
    po.url = config.gtfs_rt_url;
    po.interval = std::chrono::seconds(config.gtfs_rt_poll_s);
    po.addresses = addresses;
    po.ca_file = config.notify_ca_file;
    realtime_poller = std::make_unique<services::RealtimePoller>(mobility, po);
    realtime_poller->Start();
    spdlog::info("mobility: polling GTFS-Realtime from {} every {} s", config.gtfs_rt_url, config.gtfs_rt_poll_s);
  }
  deps.ingestor = ingestor.get();
  std::unique_ptr<ingest::MqttIngest> mqtt_ingest;
  if (!config.mqtt.empty()) {
    ingest::MqttIngestOptions mo;
    mo.uri = config.mqtt;
    mo.client_id = config.mqtt_client_id;
    mo.ca_file = config.notify_ca_file;
    auto started = ingest::MqttIngest::Start(*ingestor, mo);
    if (!started.ok()) {
      spdlog::error("{}", started.status().message());
      ingestor.reset();
      notifier.Stop();
      (*store)->Close();
      return 1;
    }
    mqtt_ingest = std::move(*started);
  }
  auto retention = broker::RetentionPolicy::Parse(RetentionRules(config, security));
  if (!retention.ok()) {
    spdlog::error("--retention: {}", retention.status().message());
    mqtt_ingest.reset();
    ingestor.reset();
    notifier.Stop();
    (*store)->Close();
    return 1;
  }
  broker::TemporalService temporal(**store, &*retention);
  broker::HistoryPurger purger(**store, *retention, std::chrono::seconds(std::max(1u, config.retention_check_s)));
  purger.Start();
  // Transient entities: deleted through the broker once past their expiresAt.
  broker::TransientPurge transient_purge(entities, **store, std::chrono::milliseconds(std::max(10u, config.expiry_sweep_ms)));
  transient_purge.Start();
  deps.temporal = &temporal;
  deps.notifier = &notifier;
  deps.contexts = &contexts;
  deps.metrics = &metrics;
  deps.ready = &ready;
  deps.query_slots = &query_slots;
  deps.query_slot_wait = query_limits.max_query_time;
  deps.limits.max_json_depth = config.max_json_depth;

  http::Router router;
  api::RegisterRoutes(router, deps);
  store::Store& store_ref = **store;
  const std::filesystem::path backup_root = std::filesystem::absolute(config.backup_dir);
  router.Add("POST", "/admin/backup", [&store_ref, &deps, &backup_root](const http::Request& r, const http::PathParams&) {
    return AdminBackup(store_ref, backup_root, deps.limits, r);
  });

  http::ServerOptions server_opts;
  server_opts.host = host;
  server_opts.port = port;
  server_opts.io_threads = config.io_threads;
  server_opts.worker_threads = config.worker_threads;
  server_opts.limits.max_body_bytes = config.max_body_bytes;
  server_opts.limits.max_header_bytes = config.max_header_bytes;
  server_opts.limits.upload_paths = {"/mobility/v1/feed", "/mobility/v1/realtime"};
  server_opts.limits.max_upload_bytes = config.gtfs_max_upload_mb << 20;
  server_opts.limits.request_timeout = std::chrono::milliseconds(config.request_timeout_ms);
  server_opts.limits.idle_timeout = std::chrono::milliseconds(config.idle_timeout_ms);
  server_opts.limits.max_connections = config.max_connections;
  server_opts.limits.max_connections_per_address = config.max_connections_per_address;
  server_opts.tls_cert_file = config.tls_cert_file;
  server_opts.tls_key_file = config.tls_key_file;
  http::Server server(server_opts, [&router, &deps](const http::Request& r) { return api::Dispatch(router, deps, r); });
  if (Status st = server.Listen(); !st.ok()) {
    spdlog::error("{}", st.message());
    mqtt_ingest.reset();
    ingestor.reset();
    notifier.Stop();
    purger.Stop();
    transient_purge.Stop();
    (*store)->Close();
    return 1;
  }
  server.StopOnSignals();
  if (ServesTls(config)) {
    spdlog::info("TLS: serving https on {}:{} with the certificate in '{}'", host, server.port(), config.tls_cert_file);
  }
  ready = true;
  spdlog::info("cityhub ready on {}:{} with data in '{}' ({} worker threads, {} query threads)", host, server.port(),
               config.data_dir, config.worker_threads, query_threads);
  server.Run();
  ready = false;
  if (realtime_poller) realtime_poller->Stop();
  mqtt_ingest.reset();  // no more device messages …
  ingestor.reset();     // … and those queued are written
  parking.Stop();
  warning.Stop();
  registration_expiry.Stop();
  notifier.Stop();
  purger.Stop();
  transient_purge.Stop();
  (*store)->Close();
  spdlog::info("cityhub stopped cleanly");
  return 0;
}

namespace {

// Sends POST /admin/backup to a hub on loopback; returns the HTTP status or -1.
int RequestBackup(const std::string& host, unsigned short port, const std::string& name, bool tls) {
  const std::string body = json::serialize(json::object{{"name", name}});
  auto reply = SendToHub(host, port, tls, "POST", "/admin/backup", "application/json", body);
  if (!reply.ok()) return -1;
  if (reply->status != 204) spdlog::error("the hub refused the backup: {}", reply->body);
  return reply->status;
}

}  // namespace

int Backup(const Config& config, const std::string& dir) {
  const std::filesystem::path target = std::filesystem::absolute(dir).lexically_normal();
  if (!std::filesystem::is_directory(config.data_dir)) {
    spdlog::error("data dir '{}' does not exist: nothing to back up", config.data_dir);
    return 1;
  }
  auto store = store::OpenRocksDbStore(StoreOptions(config));
  if (store.ok()) {
    Status st = WriteBackup(**store, target);
    (*store)->Close();
    if (!st.ok()) {
      spdlog::error("backup failed: {}", st.message());
      return 1;
    }
    spdlog::info("backup of '{}' written to '{}'", config.data_dir, target.string());
    return 0;
  }
  // The data dir is locked: a running hub owns it, so ask it to make the copy — which it
  // writes only under its --backup-dir.
  const std::filesystem::path root = std::filesystem::absolute(config.backup_dir).lexically_normal();
  if (target.parent_path() != root || !ValidBackupName(target.filename().string())) {
    spdlog::error("a running hub writes backups only directly under --backup-dir '{}'; '{}' is not",
                  root.string(), target.string());
    return 1;
  }
  std::string host;
  unsigned short port;
  if (!SplitHostPort(config.listen, &host, &port)) return 2;
  int status = RequestBackup(host, port, target.filename().string(), ServesTls(config));
  if (status == 204) {
    spdlog::info("backup written by the running hub to '{}'", target.string());
    return 0;
  }
  spdlog::error("cannot open '{}' ({}) and the hub on {} did not write the backup", config.data_dir,
                store.status().message(), config.listen);
  return 1;
}

}  // namespace cityhub::app
