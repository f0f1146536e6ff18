// The PostgreSQL backend of the Store (`--store postgres://…`, issue 20): one database, a schema
// per tenant holding its entities, index terms, type/attribute counts, outbox, history and
// metadata in tables; every Write one transaction, acknowledged once COMMIT returns (durable with
// PostgreSQL's default synchronous_commit). Several hubs may share the database: the schema is
// created and migrated under an advisory lock, and nothing is cached that another hub could
// change (apart from the tenant → schema map, which only grows).
//
// Layout and the reasons for it: docs/ARCHITECTURE.md "Storage backends".
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "store/store.h"
#include "util/status.h"

namespace cityhub::store {

struct PostgresStoreOptions {
  std::string conninfo;                       // a libpq URI or key=value string (several hosts allowed)
  size_t max_connections = 16;                // the pool's bound, shared by every tenant
  std::chrono::seconds connect_timeout{10};   // per connection attempt (per host of a multi-host URI)
  std::chrono::milliseconds pool_wait{10000}; // waiting for a pooled connection before Unavailable
  // How often history blocks written since the last time are folded into one row each
  // (history_folding.h); zero: never (a test folds itself).
  std::chrono::milliseconds history_fold_interval{60000};
  // Shared metadata (store.h) is followed by a listener (LISTEN/NOTIFY) and by every Update's own
  // check; false leaves only the check (for tests that show the check alone suffices).
  bool listen_for_shared_meta = true;
  // The server cancels a statement running longer (Unavailable); 0 = the server's own setting.
  // A synchronous commit's wait for the standby is cut by it too: that write is then answered
  // Unavailable, its outcome unknown (pg_connection.h).
  std::chrono::milliseconds statement_timeout{10000};
};

// Opens (and on first use creates) the hub's tables in the database `options.conninfo` names.
// Unavailable when the database cannot be reached; Internal when its schema is newer than
// this build knows.
Result<std::unique_ptr<Store>> OpenPostgresStore(PostgresStoreOptions options);

}  // namespace cityhub::store
