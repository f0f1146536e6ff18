// Option registration. CLI11 gives each option three sources: the flag, the CITYHUB_*
// environment variable, and the config file (TOML, `key = value` at top level); the flag wins
// over the environment, which wins over the file. CLI11 itself reads the file first and lets it
// win over the environment, so ConfigFileReader skips the keys whose variable is set.
//
// The options live where they are used: those of the hub's address and data dir on the root, so
// that backup, import and simulate take them too (before or after their name), every other one
// on `serve`. The file keeps one flat list of keys for both; the reader hands serve's to `serve`.
#include "app/config.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <CLI/CLI.hpp>

namespace cityhub::app {

namespace {

const std::string kHubGroup = "Hub: address, data dir, logging (also for backup, import, simulate)";

bool SetInEnvironment(const CLI::Option& option) {
  const std::string& name = option.get_envname();
  const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
  return value != nullptr && *value != '\0';  // CLI11 takes an empty variable as unset
}

// Reads the --config file (see the top of this file). Keys in [sections] are left to CLI11.
class ConfigFileReader : public CLI::ConfigTOML {
 public:
  ConfigFileReader(const CLI::App& root, const CLI::App& serve) : root_(root), serve_(serve) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> items;
    for (CLI::ConfigItem& item : CLI::ConfigTOML::from_config(input)) {
      if (item.parents.empty()) {
        const CLI::Option* option = root_.get_option_no_throw("--" + item.name);
        if (option == nullptr) {
          option = serve_.get_option_no_throw("--" + item.name);
          if (option != nullptr) item.parents = {serve_.get_name()};
        }
        if (option != nullptr && SetInEnvironment(*option)) continue;
      }
      items.push_back(std::move(item));
    }
    return items;
  }

 private:
  const CLI::App& root_;
  const CLI::App& serve_;
};

// Help that lists the root's hub options before the command's own.
class HubOptionsFormatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return make_expanded(app);
    const CLI::App* root = app;
    while (root->get_parent() != nullptr) root = root->get_parent();
    std::vector<const CLI::Option*> hub =
        root->get_options([](const CLI::Option* o) { return o->get_group() == kHubGroup; });
    return make_description(app) + make_usage(app, name) + make_positionals(app) + make_group(kHubGroup, false, hub) +
           "\n" + make_groups(app, mode) + make_subcommands(app, mode) + "\n" + make_footer(app);
  }
};

// The hub options, on the root.
void AddHubOptions(CLI::App& app, Config& c) {
  auto opt = [&](const std::string& name, auto& field, const std::string& env, const std::string& help) {
    return app.add_option(name, field, help)->envname(env)->capture_default_str()->group(kHubGroup);
  };
  app.set_config("--config", "", "TOML file with settings (keys are the long option names without --)")
      ->group(kHubGroup);
  opt("--listen", c.listen, "CITYHUB_LISTEN",
      "HOST:PORT to serve on. Without authentication configured (--auth-jwks-file) only loopback "
      "addresses are allowed unless --insecure is given");
  opt("--data-dir", c.data_dir, "CITYHUB_DATA_DIR",
      "Directory holding the hub's files, and the databases (one per tenant) unless --store names PostgreSQL");
  opt("--store", c.store, "CITYHUB_STORE",
      "Where entities, history and notifications owed are kept: empty for RocksDB in --data-dir, or a "
      "PostgreSQL URI (postgresql://user@host:5432/db, several hosts allowed; keep the password in "
      "~/.pgpass or PGPASSWORD, not here)");
  opt("--store-max-connections", c.store_max_connections, "CITYHUB_STORE_MAX_CONNECTIONS",
      "PostgreSQL connections the hub keeps at most");
  opt("--store-connect-timeout-s", c.store_connect_timeout_s, "CITYHUB_STORE_CONNECT_TIMEOUT_S",
      "PostgreSQL: seconds one connection attempt may take, per host of a multi-host URI (at least 2)");
  opt("--store-statement-timeout-ms", c.store_statement_timeout_ms, "CITYHUB_STORE_STATEMENT_TIMEOUT_MS",
      "PostgreSQL: the server cancels a statement of the hub running longer (the request is answered "
      "503); 0 leaves the server's own setting");
  opt("--backup-dir", c.backup_dir, "CITYHUB_BACKUP_DIR",
      "Directory under which a running hub writes online backups (`cityhub backup` targets must "
      "be inside it); created with owner-only permissions");
  opt("--tls-cert-file", c.tls_cert_file, "CITYHUB_TLS_CERT_FILE",
      "PEM certificate chain (server certificate first) to serve HTTPS with, TLS 1.2 or 1.3 only; "
      "needs --tls-key-file. Without both the hub speaks plain HTTP (e.g. behind a TLS proxy)");
  opt("--tls-key-file", c.tls_key_file, "CITYHUB_TLS_KEY_FILE",
      "PEM private key (unencrypted) of --tls-cert-file; keep it readable by the hub's user only");
  opt("--mqtt", c.mqtt, "CITYHUB_MQTT",
      "MQTT broker the IoT agent takes device measures from (mqtt://[user:password@]host:port, "
      "mqtts://…; topics /<key>/<device>/attrs[/<attr>], /ul/…, /json/…)");
  opt("--block-cache-mb", c.block_cache_mb, "CITYHUB_BLOCK_CACHE_MB", "RocksDB block cache shared by all tenants");
  opt("--max-tenants", c.max_tenants, "CITYHUB_MAX_TENANTS",
      "Named tenants that may exist; each is a database with its own files and memory, so a "
      "client cannot create them without bound (400 beyond)");
  opt("--log-level", c.log_level, "CITYHUB_LOG_LEVEL", "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
}

// Every other option, on `serve`.
void AddServeOptions(CLI::App& serve, Config& c) {
  std::string group;
  auto opt = [&](const std::string& name, auto& field, const std::string& env, const std::string& help) {
    return serve.add_option(name, field, help)->envname(env)->capture_default_str()->group(group);
  };
  auto flag = [&](const std::string& name, bool& field, const std::string& env, const std::string& help) {
    return serve.add_flag(name, field, help)->envname(env)->group(group);
  };

  group = "Serving: HTTP(S) connections, request limits and threads";
  opt("--public-url", c.public_url, "CITYHUB_PUBLIC_URL",
      "Base URL clients reach the hub at, used in the URLs of hosted @contexts (default http://LISTEN, "
      "https://LISTEN with TLS)");
  flag("--insecure", c.insecure, "CITYHUB_INSECURE",
       "Allow listening on a non-loopback address without authentication (not for production)");
  opt("--io-threads", c.io_threads, "CITYHUB_IO_THREADS", "Threads doing socket I/O (0 = one per core)");
  opt("--worker-threads", c.worker_threads, "CITYHUB_WORKER_THREADS",
      "Threads running request handlers; many let concurrent writes share a disk sync");
  opt("--query-threads", c.query_threads, "CITYHUB_QUERY_THREADS",
      "Entity queries that run and render at once (0 = two per hardware thread); more wait, "
      "first come first served, and get 503 if none frees up within the query time limit");
  opt("--max-body-bytes", c.max_body_bytes, "CITYHUB_MAX_BODY_BYTES", "Largest request body accepted (413 beyond)");
  opt("--max-header-bytes", c.max_header_bytes, "CITYHUB_MAX_HEADER_BYTES",
      "Largest request line plus headers accepted (431 beyond)");
  opt("--request-timeout-ms", c.request_timeout_ms, "CITYHUB_REQUEST_TIMEOUT_MS",
      "Time a client has to send a whole request (408 beyond; stops slow-loris clients)");
  opt("--idle-timeout-ms", c.idle_timeout_ms, "CITYHUB_IDLE_TIMEOUT_MS", "Keep-alive connections idle this long are closed");
  opt("--max-connections", c.max_connections, "CITYHUB_MAX_CONNECTIONS", "Open connections beyond this get 503");
  opt("--max-connections-per-address", c.max_connections_per_address, "CITYHUB_MAX_CONNECTIONS_PER_ADDRESS",
      "Open connections one client address (IPv4 address, IPv6 /64) may hold; beyond it 503 "
      "(0 = no cap). Behind a reverse proxy every client has the proxy's address");
  opt("--max-json-depth", c.max_json_depth, "CITYHUB_MAX_JSON_DEPTH",
      "Deepest JSON nesting accepted in a body (400 beyond), at most 512 (stored entities are read "
      "back with room for that)")
      ->check(CLI::Range(size_t{1}, size_t{512}));
  opt("--entity-map-ttl-s", c.entity_map_ttl_s, "CITYHUB_ENTITY_MAP_TTL_S",
      "Seconds an EntityMap made by a query with entityMap=true is kept (its expiresAt), "
      "at most 86400");

  group = "Security: authentication, access rules, privacy, audit log, rate limits";
  opt("--auth-jwks-file", c.auth_jwks_file, "CITYHUB_AUTH_JWKS_FILE",
      "JSON Web Key Set of the identity provider (e.g. Keycloak's realm certs): every request but "
      "/health must then carry a Bearer JWT signed with one of its keys (RS256, ES256)");
  opt("--auth-jwks-url", c.auth_jwks_url, "CITYHUB_AUTH_JWKS_URL",
      "URL of the identity provider's JWKS (its jwks_uri), instead of --auth-jwks-file: fetched at "
      "start, every --auth-jwks-refresh-s and when a token names an unknown key id");
  opt("--auth-jwks-refresh-s", c.auth_jwks_refresh_s, "CITYHUB_AUTH_JWKS_REFRESH_S",
      "Seconds between two fetches of --auth-jwks-url");
  opt("--auth-issuer", c.auth_issuer, "CITYHUB_AUTH_ISSUER", "Required 'iss' of tokens (e.g. https://idp.example/realms/city)");
  opt("--auth-audience", c.auth_audience, "CITYHUB_AUTH_AUDIENCE", "Required 'aud' of tokens");
  opt("--auth-clock-skew-s", c.auth_clock_skew_s, "CITYHUB_AUTH_CLOCK_SKEW_S",
      "Seconds of tolerance on a token's exp, nbf and iat");
  opt("--api-keys-file", c.api_keys_file, "CITYHUB_API_KEYS_FILE",
      "API keys for machines, managed with `cityhub keys`: requests may then carry X-API-Key "
      "(changes to the file apply within a second)");
  opt("--auth-policy-file", c.auth_policy_file, "CITYHUB_AUTH_POLICY_FILE",
      "JSON access rules by tenant, type, id pattern, attribute, operation and ownership beyond "
      "the built-in roles reader/writer/admin (docs/SECURITY.md)");
  opt("--privacy-file", c.privacy_file, "CITYHUB_PRIVACY_FILE",
      "JSON classification of personal and sensitive attributes per entity type, with purpose "
      "and retention: others see them pseudonymised or omitted (docs/SECURITY.md)");
  opt("--privacy-secret-file", c.privacy_secret_file, "CITYHUB_PRIVACY_SECRET_FILE",
      "Secret the pseudonyms are keyed with (default <data-dir>/privacy.secret, created once)");
  opt("--audit-log", c.audit_log, "CITYHUB_AUDIT_LOG",
      "Hash-chained audit log of writes, denials, authentication failures and reads of "
      "classified attributes: a path, 'off', or 'auto' (<data-dir>/audit/audit.log when "
      "authentication is configured)");
  opt("--audit-log-max-bytes", c.audit_log_max_bytes, "CITYHUB_AUDIT_LOG_MAX_BYTES",
      "Size past which the audit log is rotated (audit.log -> audit.log.1 -> …; the hash chain "
      "continues across the files); 0 = never");
  opt("--audit-log-keep", c.audit_log_keep, "CITYHUB_AUDIT_LOG_KEEP",
      "Rotated audit log files kept (audit.log.1 … audit.log.N); older ones are deleted — copy "
      "them elsewhere first if they must be kept longer")
      ->check(CLI::Range(1u, 100000u));
  opt("--max-subscriptions-per-principal", c.max_subscriptions_per_principal, "CITYHUB_MAX_SUBSCRIPTIONS_PER_PRINCIPAL",
      "Subscriptions one authenticated principal may hold in a tenant (0 = no limit); each one costs "
      "every matching write a check, so one client cannot slow every writer");
  opt("--rate-limit-rps", c.rate_limit_rps, "CITYHUB_RATE_LIMIT_RPS",
      "Requests per second each principal may send (0 = no limit); beyond it 429 with Retry-After");
  opt("--rate-limit-burst", c.rate_limit_burst, "CITYHUB_RATE_LIMIT_BURST",
      "Requests a principal may send at once before --rate-limit-rps applies (0 = the rate)");
  opt("--auth-failure-rps", c.auth_failure_rps, "CITYHUB_AUTH_FAILURE_RPS",
      "Failed authentications per second a client address (IPv4 address, IPv6 /64) may cause "
      "(0 = no limit); beyond it its requests get 429 before any check, except with an API key "
      "or a token verified before");
  opt("--auth-failure-burst", c.auth_failure_burst, "CITYHUB_AUTH_FAILURE_BURST",
      "Failed authentications a client address may cause at once before --auth-failure-rps "
      "applies (0 = the rate)");

  group = "@contexts";
  opt("--context-dir", c.context_dir, "CITYHUB_CONTEXT_DIR",
      "Folder of @context documents served offline; its index.json maps context URLs to files");
  opt("--context-fetch-timeout-ms", c.context_fetch_timeout_ms, "CITYHUB_CONTEXT_FETCH_TIMEOUT_MS",
      "Deadline for downloading a remote @context (LdContextNotAvailable beyond)");
  opt("--remote-contexts", c.remote_contexts, "CITYHUB_REMOTE_CONTEXTS",
      "Whether unknown @context URLs may be downloaded (false for offline sites)");

  group = "Outbound connections and notifications";
  opt("--outbound-allow", c.outbound_allow, "CITYHUB_OUTBOUND_ALLOW",
      "Networks (CIDR[,CIDR...], e.g. 10.20.0.0/16,fd00::/8) the hub may connect to besides public "
      "addresses, for notifications (HTTP, MQTT), @context downloads and JWKS fetches. Loopback, "
      "private, link-local (cloud metadata), CGNAT, multicast and other special ranges are refused "
      "unless listed here; 127.0.0.0/8,::1 allows receivers on this machine");
  opt("--notification-allow-headers", c.notification_allow_headers, "CITYHUB_NOTIFICATION_ALLOW_HEADERS",
      "Credential and forwarding headers (Authorization, Cookie, Proxy-Authorization, Forwarded, "
      "X-Forwarded-*) a subscription's receiverInfo may set on its notifications, comma-separated; "
      "others of them are refused (400). Host, Content-Length and other framing headers never");
  opt("--notify-retry-initial-ms", c.notify_retry_initial_ms, "CITYHUB_NOTIFY_RETRY_INITIAL_MS",
      "Wait after a failed notification before the next attempt; doubles per failure");
  opt("--notify-retry-max-ms", c.notify_retry_max_ms, "CITYHUB_NOTIFY_RETRY_MAX_MS",
      "Longest wait between two attempts to notify a failing endpoint");
  opt("--notify-retry-budget-s", c.notify_retry_budget_s, "CITYHUB_NOTIFY_RETRY_BUDGET_S",
      "A notification still failing this long after its change is given up (counted in the "
      "subscription's status and in /metrics)");
  opt("--notify-queue", c.notify_queue, "CITYHUB_NOTIFY_QUEUE",
      "Notifications waiting per subscription; beyond it the oldest is given up (counted)");
  opt("--notify-timeout-ms", c.notify_timeout_ms, "CITYHUB_NOTIFY_TIMEOUT_MS",
      "Time an HTTP endpoint has to answer a notification (a subscription's endpoint.timeout wins)");
  opt("--notify-ca-file", c.notify_ca_file, "CITYHUB_NOTIFY_CA_FILE",
      "PEM file of certificate authorities trusted for https:// notification endpoints besides "
      "the system trust store, and for mqtts:// ones instead of it (e.g. the city's own PKI)");

  group = "Distributed operations: registered context sources";
  opt("--federation-timeout-ms", c.federation_timeout_ms, "CITYHUB_FEDERATION_TIMEOUT_MS",
      "Time a registered context source has to answer a distributed operation when its "
      "registration gives no management.timeout; all sources are asked at once")
      ->check(CLI::Range(1u, 600000u));
  opt("--federation-cooldown-ms", c.federation_cooldown_ms, "CITYHUB_FEDERATION_COOLDOWN_MS",
      "After a context source failed (no answer in time, no connection, a 5xx answer), how long it "
      "is not asked when its registration gives no management.cooldown (0 = ask again at once)");
  opt("--federation-max-in-flight", c.federation_max_in_flight, "CITYHUB_FEDERATION_MAX_IN_FLIGHT",
      "Requests open to one context source at a time; beyond it the source is skipped (and named "
      "in an NGSILD-Warning)")
      ->check(CLI::Range(size_t{1}, size_t{10000}));
  opt("--federation-max-answer-bytes", c.federation_max_answer_bytes, "CITYHUB_FEDERATION_MAX_ANSWER_BYTES",
      "Largest answer taken from a context source; a longer one counts as a failure of that source")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  opt("--federation-credentials", c.federation_credentials, "CITYHUB_FEDERATION_CREDENTIALS",
      "Credentials the hub presents to context sources, per origin, read from files at start-up: "
      "'https://hub-b.city.kr=bearer:/etc/cityhub/hub-b.token;http://10.0.0.5:1026=header:X-API-Key:"
      "/etc/cityhub/hub-c.key'. Never taken from clients or registrations");

  group = "History and expiry";
  opt("--history", c.history, "CITYHUB_HISTORY",
      "Record every attribute change as an attribute instance for the temporal API "
      "(/ngsi-ld/v1/temporal/…), in the same durable write as the change");
  opt("--retention", c.retention, "CITYHUB_RETENTION",
      "How long history is kept: comma-separated [tenant/]type=duration rules, e.g. "
      "'*=P2Y,CctvEvent=P30D,gimhae/ParkingSpot=P90D' (see docs/OPERATIONS.md); empty = for ever");
  opt("--retention-check-s", c.retention_check_s, "CITYHUB_RETENTION_CHECK_S",
      "Seconds between two runs of the retention purge (reads hide expired instances at once)");
  opt("--expiry-sweep-ms", c.expiry_sweep_ms, "CITYHUB_EXPIRY_SWEEP_MS",
      "Milliseconds between two purges of transient entities past their expiresAt (they are "
      "no longer served from that moment; the purge deletes them like a client would)");

  group = "IoT agent";
  opt("--mqtt-client-id", c.mqtt_client_id, "CITYHUB_MQTT_CLIENT_ID",
      "Client id of the IoT agent's persistent MQTT session (one per hub)");
  opt("--mqtt-shared-group", c.mqtt_shared_group, "CITYHUB_MQTT_SHARED_GROUP",
      "Hubs of a cluster that share the IoT agent's work: each subscribes as a member of this MQTT "
      "shared-subscription group, so the broker hands each measure to one of them and it is "
      "written once (give each hub its own --mqtt-client-id); empty = this hub takes every measure");
  opt("--iot-max-payload-bytes", c.iot_max_payload_bytes, "CITYHUB_IOT_MAX_PAYLOAD_BYTES",
      "Largest device message (UltraLight or JSON measures) accepted; larger ones are refused and counted");
  opt("--iot-max-measures", c.iot_max_measures, "CITYHUB_IOT_MAX_MEASURES",
      "Most attribute values one device message may carry; more and the message is refused");

  group = "City services: early warning, journey planning";
  opt("--warning-rules", c.warning_rules, "CITYHUB_WARNING_RULES",
      "JSON file of early-warning rules (water-level stages, rate of rise, hysteresis, ground "
      "motion confirmed by N sensors); without it the built-in rules apply (docs/API.md)");
  opt("--gtfs-max-upload-mb", c.gtfs_max_upload_mb, "CITYHUB_GTFS_MAX_UPLOAD_MB",
      "Largest GTFS zip POST /mobility/v1/feed accepts, in MiB (413 beyond)")
      ->check(CLI::Range(1, 4096));
  opt("--gtfs-feed", c.gtfs_feed, "CITYHUB_GTFS_FEED",
      "A GTFS zip imported into the default tenant at start-up, unless that tenant already has a feed");
  opt("--transit-walk-radius-m", c.transit_walk_radius_m, "CITYHUB_TRANSIT_WALK_RADIUS_M",
      "Walking transfers between stops within this crow-fly distance (0: only transfers.txt)")
      ->check(CLI::Range(0.0, 2000.0));
  opt("--transit-walk-detour", c.transit_walk_detour, "CITYHUB_TRANSIT_WALK_DETOUR",
      "Walking distance over crow-fly distance (an estimate: no street network)")
      ->check(CLI::Range(1.0, 3.0));
  opt("--transit-walk-speed", c.transit_walk_speed, "CITYHUB_TRANSIT_WALK_SPEED", "Walking speed in metres per second")
      ->check(CLI::Range(0.3, 3.0));
  opt("--transit-min-transfer-s", c.transit_min_transfer_s, "CITYHUB_TRANSIT_MIN_TRANSFER_S",
      "Seconds needed to change vehicles at a stop transfers.txt says nothing about")
      ->check(CLI::Range(0, 3600));
  opt("--gtfs-rt-url", c.gtfs_rt_url, "CITYHUB_GTFS_RT_URL",
      "A GTFS-Realtime feed (trip updates, vehicle positions) polled for the default tenant's transit feed; "
      "the address must be allowed by --outbound-allow like every outbound connection");
  opt("--gtfs-rt-poll-s", c.gtfs_rt_poll_s, "CITYHUB_GTFS_RT_POLL_S", "Seconds between two polls of --gtfs-rt-url")
      ->check(CLI::Range(5, 3600));
  serve.formatter(HelpWithHubOptions());
}

}  // namespace

CLI::App* AddServeCommand(CLI::App& app, Config& config) {
  AddHubOptions(app, config);
  CLI::App* serve = app.add_subcommand("serve", "Run the hub (NGSI-LD API on --listen, data in --data-dir)");
  AddServeOptions(*serve, config);
  app.config_formatter(std::make_shared<ConfigFileReader>(app, *serve));
  return serve;
}

std::shared_ptr<CLI::FormatterBase> HelpWithHubOptions() { return std::make_shared<HubOptionsFormatter>(); }

bool ServesTls(const Config& config) { return !config.tls_cert_file.empty(); }

std::string PublicUrl(const Config& config) {
  if (!config.public_url.empty()) return config.public_url;
  return (ServesTls(config) ? "https://" : "http://") + config.listen;
}

bool SplitHostPort(const std::string& listen, std::string* host, unsigned short* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= listen.size()) return false;
  std::string h = listen.substr(0, colon);
  if (h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::string p = listen.substr(colon + 1);
  if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long n = std::stoul(p);
  if (n > 65535) return false;
  *host = h;
  *port = static_cast<unsigned short>(n);
  return true;
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;
  }
  return false;
}

bool IsLoopbackPeer(std::string_view peer) {
  size_t colon = peer.rfind(':');
  std::string_view host = colon == std::string_view::npos ? peer : peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host != "localhost" && IsLoopbackHost(std::string(host));
}

}  // namespace cityhub::app
