// Config: every setting of `cityhub serve`, with its default. Each is settable, in rising
// precedence, from the TOML config file (--config), a CITYHUB_* environment variable and a
// command-line flag; `cityhub serve --help` describes each (config.cc registers them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class FormatterBase;
}

namespace cityhub::app {

struct Config {
  std::string listen = "127.0.0.1:1026";
  std::string data_dir = "./data";
  // Where entities, history and the outbox are kept: "" = RocksDB in data_dir (the default,
  // nothing to set up); a postgresql:// URI = a PostgreSQL database (for a cluster of hubs).
  std::string store;
  size_t store_max_connections = 16;  // PostgreSQL: the pool's bound
  unsigned store_connect_timeout_s = 10;       // PostgreSQL: per connection attempt and host
  unsigned store_statement_timeout_ms = 10000;  // PostgreSQL: the server cancels longer statements
  std::string backup_dir = "./backups";  // where a running hub may write online backups
  std::string context_dir;          // preload folder with index.json ("" = none)
  std::string public_url;           // base URL clients reach the hub at ("" = http(s)://<listen>)
  bool insecure = false;            // allow a non-loopback bind without authentication
  std::string tls_cert_file;        // PEM certificate chain: serve HTTPS only ("" = plain HTTP)
  std::string tls_key_file;         // PEM private key of that certificate
  unsigned io_threads = 0;          // 0 = one per core
  unsigned worker_threads = 32;
  unsigned query_threads = 0;       // entity queries running at once; 0 = two per hardware thread
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  unsigned request_timeout_ms = 30000;
  unsigned idle_timeout_ms = 60000;
  size_t max_connections = 10000;
  size_t max_connections_per_address = 256;  // per IPv4 address or IPv6 /64; 0 = no cap
  size_t max_json_depth = 64;
  unsigned context_fetch_timeout_ms = 2000;
  bool remote_contexts = true;
  std::string outbound_allow;       // CIDRs beyond public addresses the hub may connect to ("" = none)
  std::string notification_allow_headers;  // protected headers receiverInfo may set ("" = none)
  unsigned notify_retry_initial_ms = 250;   // first wait after a failed notification
  unsigned notify_retry_max_ms = 10000;     // longest wait between attempts
  unsigned notify_retry_budget_s = 600;     // notifications failing past this age are given up
  size_t notify_queue = 20000;              // notifications waiting per subscription
  unsigned notify_timeout_ms = 10000;       // answer timeout of an HTTP notification
  std::string notify_ca_file;               // extra CAs for https/mqtts endpoints ("" = none)
  unsigned federation_timeout_ms = 5000;    // a context source's answer time without management.timeout
  unsigned federation_cooldown_ms = 10000;  // pause after a source failed, without management.cooldown
  size_t federation_max_in_flight = 8;      // requests open to one context source
  size_t federation_max_answer_bytes = 8 << 20;  // largest answer taken from a context source
  std::string federation_credentials;       // ORIGIN=bearer:FILE / ORIGIN=header:NAME:FILE; … ("" = none)
  std::string auth_jwks_file;               // JWKS of the token issuer ("" = no authentication)
  std::string auth_jwks_url;                // or its URL, fetched at start and refreshed
  unsigned auth_jwks_refresh_s = 300;       // how often the URL is fetched again
  std::string auth_issuer;                  // required `iss` of tokens ("" = any)
  std::string auth_audience;                // required in `aud` ("" = any)
  unsigned auth_clock_skew_s = 60;          // tolerance on exp/nbf/iat
  std::string api_keys_file;                // API keys (`cityhub keys`; "" = none)
  std::string auth_policy_file;             // access rules beyond the built-in roles ("" = none)
  std::string privacy_file;                 // personal/sensitive attributes per type ("" = none)
  std::string privacy_secret_file;          // pseudonym key ("" = <data-dir>/privacy.secret)
  std::string audit_log = "auto";           // path, "off", or "auto" (<data-dir>/audit/audit.log with auth)
  size_t max_subscriptions_per_principal = 100;  // subscriptions one principal may hold per tenant (0 = no limit)
  double rate_limit_rps = 0;                // requests per second per principal (0 = no limit)
  double rate_limit_burst = 0;              // bucket size (0 = rate_limit_rps)
  double auth_failure_rps = 5;              // failed authentications per second per client address (0 = no limit)
  double auth_failure_burst = 50;           // bucket size (0 = auth_failure_rps)
  uint64_t audit_log_max_bytes = 64ull << 20;  // rotate the audit log past this size (0 = never)
  unsigned audit_log_keep = 10;             // rotated audit files kept
  std::string warning_rules;                // early-warning rules file ("" = the built-in rules)
  std::string mqtt;                         // broker the IoT agent subscribes to ("" = none)
  std::string mqtt_client_id = "cityhub-ingest";  // its persistent session's client id
  std::string mqtt_shared_group;            // hubs sharing the ingest ($share/<group>/…; "" = none)
  size_t iot_max_payload_bytes = 1 << 20;   // one device message (HTTP body or MQTT payload)
  size_t iot_max_measures = 1000;           // attribute values in one device message
  bool history = true;                      // record attribute instances (temporal API)
  std::string retention;                    // history retention rules ("" = keep for ever)
  unsigned retention_check_s = 3600;        // how often the retention purge runs
  unsigned expiry_sweep_ms = 10000;         // how often expired transient entities are deleted
  unsigned entity_map_ttl_s = 600;          // lifetime of an EntityMap a query creates
  size_t block_cache_mb = 128;
  size_t max_tenants = 100;
  // Journey planning (services/mobility): transit feeds and walking between stops.
  size_t gtfs_max_upload_mb = 512;          // largest GTFS zip POST /mobility/v1/feed accepts
  std::string gtfs_feed;                    // a GTFS zip imported at start-up ("" = none)
  double transit_walk_radius_m = 400;       // footpaths between stops within this crow-fly distance
  double transit_walk_detour = 1.3;         // walking distance / crow-fly distance
  double transit_walk_speed = 1.25;         // metres per second
  unsigned transit_min_transfer_s = 60;     // at stops transfers.txt says nothing about
  std::string gtfs_rt_url;                  // GTFS-Realtime feed polled for the default tenant ("" = none)
  unsigned gtfs_rt_poll_s = 30;
  std::string log_level = "info";
};

// Registers on the root `app` the options several commands take (where the hub listens, its
// data dir and TLS files, the MQTT broker, the store's limits, logging) and --config; then the
// `serve` command with every other Config field, in groups for its --help. Each flag has its
// CITYHUB_* environment variable; the --config file is one flat list of keys for both, and a
// set variable wins over its key. Returns `serve`. Call after app.fallthrough(), so that the
// commands take the root's options after their name too.
CLI::App* AddServeCommand(CLI::App& app, Config& config);

// A --help layout for the commands that take the hub options (before or after their name): the
// hub options, then the command's own.
std::shared_ptr<CLI::FormatterBase> HelpWithHubOptions();

// True when the hub serves HTTPS (--tls-cert-file given; the key is checked at start-up).
bool ServesTls(const Config& config);
// The base URL clients reach the hub at: --public-url, else http(s)://<listen>.
std::string PublicUrl(const Config& config);

// Splits "HOST:PORT" ("[v6]:PORT" allowed). Returns false if malformed.
bool SplitHostPort(const std::string& listen, std::string* host, unsigned short* port);
// True for "localhost" and IP address literals in 127.0.0.0/8 or ::1 (names are not resolved,
// so "127.example.com" is not loopback).
bool IsLoopbackHost(const std::string& host);
// The same for a peer written "ip:port" or "[ip]:port".
bool IsLoopbackPeer(std::string_view peer);

}  // namespace cityhub::app
