// The metadata key space has one owner per key (store/meta_keys.h): a ScanMeta of one part's
// prefix must never visit another part's keys, and no two parts may share a key.
#include "store/meta_keys.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace cityhub::store::meta {
namespace {

TEST(MetaKeys, NoPrefixStartsAnotherKey) {
  for (std::string_view prefix : kAll) {
    if (prefix.empty() || prefix.back() != '/') continue;
    for (std::string_view other : kAll) {
      if (other == prefix) continue;
      EXPECT_FALSE(other.starts_with(prefix)) << "'" << other << "' lies under the prefix '" << prefix << "'";
    }
  }
}

TEST(MetaKeys, KeysAreDistinctAndNonEmpty) {
  std::set<std::string_view> seen;
  for (std::string_view key : kAll) {
    EXPECT_FALSE(key.empty());
    EXPECT_TRUE(seen.insert(key).second) << "'" << key << "' is listed twice";
  }
}

}  // namespace
}  // namespace cityhub::store::meta
