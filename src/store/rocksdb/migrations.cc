#include "store/rocksdb/migrations.h"

#include <array>
#include <charconv>
#include <memory>

#include <fmt/format.h>

#include "store/rocksdb/keys.h"

namespace cityhub::store::rocks {

namespace {

// kMigrations[v - 1] rewrites a database from schema version v to v + 1. To change the layout:
// bump kSchemaVersion, append the step here, and describe the new layout in keys.h.
using Migration = rocksdb::Status (*)(rocksdb::DB* db, const Families& families);
// 1 -> 2: records may carry terms (format 2); format 1 records stay readable as they are.
rocksdb::Status AddTerms(rocksdb::DB*, const Families&) { return rocksdb::Status::OK(); }
// 2 -> 3: the outbox family, which opening creates empty.
rocksdb::Status AddOutbox(rocksdb::DB*, const Families&) { return rocksdb::Status::OK(); }
// 3 -> 4: the history family, which opening creates empty.
rocksdb::Status AddHistory(rocksdb::DB*, const Families&) { return rocksdb::Status::OK(); }
constexpr std::array<Migration, kSchemaVersion - 1> kMigrations = {&AddTerms, &AddOutbox, &AddHistory};

Result<bool> FamilyEmpty(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, const std::string& path) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
  it->SeekToFirst();
  if (!it->status().ok()) return FromRocks(it->status(), "reading " + path);
  return !it->Valid();
}

Status PutSchemaVersion(rocksdb::DB* db, const Families& families, const std::string& path, int version) {
  rocksdb::WriteOptions synced;
  synced.sync = true;
  return FromRocks(db->Put(synced, families.meta, rocksdb::Slice(kSchemaVersionKey.data(), kSchemaVersionKey.size()),
                           std::to_string(version)),
                   "writing schema version of " + path);
}

}  // namespace

Status BringSchemaUpToDate(rocksdb::DB* db, const Families& families, const std::string& path) {
  std::string stored;
  auto s = db->Get(rocksdb::ReadOptions(), families.meta,
                   rocksdb::Slice(kSchemaVersionKey.data(), kSchemaVersionKey.size()), &stored);
  if (s.IsNotFound()) {
    // A brand-new database, or one whose creation crashed before the version was written.
    auto entities_empty = FamilyEmpty(db, families.entities, path);
    if (!entities_empty.ok()) return entities_empty.status();
    auto meta_empty = FamilyEmpty(db, families.meta, path);
    if (!meta_empty.ok()) return meta_empty.status();
    if (!*entities_empty || !*meta_empty) {
      return Status::Internal(fmt::format(
          "database '{}' holds data but no schema_version: not a cityhub database?", path));
    }
    return PutSchemaVersion(db, families, path, kSchemaVersion);
  }
  if (!s.ok()) return FromRocks(s, "reading schema version of " + path);

  int version = 0;
  auto [end, ec] = std::from_chars(stored.data(), stored.data() + stored.size(), version);
  if (ec != std::errc() || end != stored.data() + stored.size() || version < 1) {
    return Status::Internal(
        fmt::format("database '{}' has an unreadable schema_version '{}'", path, stored));
  }
  if (version > kSchemaVersion) {
    return Status::NotSupported(fmt::format(
        "database '{}' has schema version {}, newer than the {} this cityhub supports; "
        "upgrade cityhub to open it",
        path, version, kSchemaVersion));
  }
  for (; version < kSchemaVersion; ++version) {
    s = kMigrations[version - 1](db, families);
    if (!s.ok()) {
      return FromRocks(s, fmt::format("migrating '{}' from schema version {} to {}", path,
                                      version, version + 1));
    }
    CITYHUB_RETURN_IF_ERROR(PutSchemaVersion(db, families, path, version + 1));
  }
  return Status::Ok();
}

}  // namespace cityhub::store::rocks
