// Schema versions of the RocksDB backend's layout (keys.h) and the steps between them.
//
// Schema versions. A new database gets `schema_version` = 1 in the same open that creates it.
// Opening a database with an older version runs kMigrations[v - 1] for each step v -> v + 1
// and records each step; a newer version is refused with an error naming both versions, so an
// old binary never misreads (or worse, rewrites) data laid out by a newer one.
#pragma once

#include <string>

#include <rocksdb/db.h>

#include "util/status.h"

namespace cityhub::store::rocks {

inline constexpr int kSchemaVersion = 4;

// The column families of a tenant database (a migration may read and rewrite them).
struct Families {
  rocksdb::ColumnFamilyHandle* entities;
  rocksdb::ColumnFamilyHandle* index;
  rocksdb::ColumnFamilyHandle* meta;
  rocksdb::ColumnFamilyHandle* outbox;
  rocksdb::ColumnFamilyHandle* history;
};

// Brings the database at `path` (open as `db`) to kSchemaVersion: records the version in a new,
// empty database; runs the missing steps on an older one; refuses a newer one (NotSupported,
// naming both versions) and one that holds data but no version (Internal).
Status BringSchemaUpToDate(rocksdb::DB* db, const Families& families, const std::string& path);

}  // namespace cityhub::store::rocks
