// Hosted @contexts persist as metadata of the default tenant under "ctx/<id>", one JSON record
// each; an unreadable record is skipped with a warning rather than stopping the start-up.
#include "app/storage.h"

#include <sys/resource.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/start_failure.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_store.h"
#include "store/meta_keys.h"

namespace cityhub::app {
namespace json = boost::json;

namespace {

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
    return (*ts)->PutMeta(fmt::format("{}{}", store::meta::kContextPrefix, c.id), EncodeStoredContext(c));
  };
  p.remove = [meta](std::string_view id) -> Status {
    auto ts = meta();
    if (!ts.ok()) return ts.status();
    return (*ts)->DeleteMeta(fmt::format("{}{}", store::meta::kContextPrefix, id));
  };
  p.load_all = [meta](const std::function<void(ngsild::StoredContext)>& add) -> Status {
    auto ts = meta();
    if (!ts.ok()) return ts.status();
    return (*ts)->ScanMeta(store::meta::kContextPrefix, [&](std::string_view, std::string_view value) {
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

// Every tenant database keeps files open: raise the soft descriptor limit to the hard one.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

ngsild::ContextResolverOptions ContextOptions(const Config& config, const Outbound& outbound) {
  ngsild::ContextResolverOptions o;
  o.preload_dir = config.context_dir;
  o.fetch_timeout = std::chrono::milliseconds(config.context_fetch_timeout_ms);
  o.allow_remote_fetch = config.remote_contexts;
  o.outbound = outbound.addresses;
  o.public_base_url = PublicUrl(config);
  return o;
}

}  // namespace

store::RocksDbOptions StoreOptions(const Config& config) {
  store::RocksDbOptions o;
  o.data_dir = config.data_dir;
  o.block_cache_bytes = config.block_cache_mb << 20;
  o.max_tenants = config.max_tenants;
  return o;
}

Storage::Storage(std::unique_ptr<store::Store> store, ngsild::ContextResolverOptions context_options)
    : store_(std::move(store)), contexts_(std::move(context_options), PersistIn(*store_)) {}

Storage::~Storage() { store_->Close(); }

bool NamesPostgres(std::string_view store) {
  return store.starts_with("postgresql://") || store.starts_with("postgres://");
}

Result<std::unique_ptr<Storage>> Storage::Open(const Config& config, const Outbound& outbound) {
  Result<std::unique_ptr<store::Store>> store = Status::Internal("no store");
  if (config.store.empty()) {
    RaiseFileLimit();
    store = store::OpenRocksDbStore(StoreOptions(config));
    if (!store.ok()) {
      return StartFailure(fmt::format("cannot open data dir '{}': {}", config.data_dir, store.status().message()));
    }
  } else if (NamesPostgres(config.store)) {
    store::PostgresStoreOptions o;
    o.conninfo = config.store;
    o.max_connections = std::max<size_t>(1, config.store_max_connections);
    o.connect_timeout = std::chrono::seconds(config.store_connect_timeout_s);
    o.statement_timeout = std::chrono::milliseconds(config.store_statement_timeout_ms);
    store = store::OpenPostgresStore(o);
    if (!store.ok()) return StartFailure(fmt::format("cannot open the PostgreSQL store: {}", store.status().message()));
    spdlog::info("storage: PostgreSQL at {} (up to {} connections, connect timeout {} s, statement timeout {} ms)",
                 store::pg::RedactedConninfo(config.store), o.max_connections, o.connect_timeout.count(),
                 o.statement_timeout.count());
  } else {
    return SettingError("--store must be empty (RocksDB in --data-dir) or a postgresql:// URI");
  }
  std::unique_ptr<Storage> storage(new Storage(std::move(*store), ContextOptions(config, outbound)));
  if (Status st = storage->contexts_.Init(); !st.ok()) {
    return StartFailure(fmt::format("cannot load @contexts: {}", st.message()));
  }
  return storage;
}

}  // namespace cityhub::app
