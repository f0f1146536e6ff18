// Helpers of the store tests (both backends): records, one-line writes, scans collected.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "store/store.h"

namespace cityhub::store::testing {

using Strings = std::vector<std::string>;

inline EntityRecord Record(std::string id, Strings types, Strings attrs, std::string doc = "{}") {
  EntityRecord r;
  r.id = std::move(id);
  r.types = std::move(types);
  r.attributes = std::move(attrs);
  r.document = std::move(doc);
  return r;
}

inline void Put(TenantStore* t, EntityRecord record) {
  WriteSet ws;
  ws.puts.push_back(std::move(record));
  auto st = t->Write(ws);
  ASSERT_TRUE(st.ok()) << st.message();
}

inline void Delete(TenantStore* t, std::string id) {
  WriteSet ws;
  ws.deletes.push_back(std::move(id));
  auto st = t->Write(ws);
  ASSERT_TRUE(st.ok()) << st.message();
}

inline Strings ScanIds(TenantStore* t, const ScanOptions& opts) {
  Strings ids;
  auto st = t->ScanIds(opts, [&](std::string_view id) {
    ids.emplace_back(id);
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return ids;
}

// The ids of a Scan, checking each record's document is "doc of <id>".
inline Strings ScanRecords(TenantStore* t, const ScanOptions& opts) {
  Strings ids;
  auto st = t->Scan(opts, [&](const EntityRecord& r) {
    EXPECT_EQ(r.document, "doc of " + r.id);
    ids.push_back(r.id);
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return ids;
}

inline Strings Value(Result<Strings> r) {
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : Strings{"<error>"};
}

inline uint64_t Count(Result<uint64_t> r) {
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r.value() : ~uint64_t{0};
}

}  // namespace cityhub::store::testing
