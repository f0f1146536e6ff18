// IndexDelta: what one write changes in the index family — type keys and term keys added and
// removed, counter deltas summed over every entity of the write — computed from each entity's
// record before and after, so the indexes can never disagree with the records.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rocksdb/write_batch.h>

#include "store/store.h"

namespace cityhub::store::rocks {

// `v` sorted, duplicates dropped.
std::vector<std::string> SortedUnique(std::vector<std::string> v);

class IndexDelta {
 public:
  // Records that `id` goes from `old` (null = absent) to `now` (null = deleted).
  void Change(std::string_view id, const EntityRecord* old, const EntityRecord* now);
  // Adds the changes to `batch`, in the index family.
  void AppendTo(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* index) const;

 private:
  void Count(const std::vector<std::string>& types, const std::vector<std::string>& attrs, int64_t d);
  // Deletes the term keys `old` has and `now` lacks; puts those new or with a new payload.
  void ChangeTerms(std::string_view id, const std::vector<IndexTerm>& old, const std::vector<IndexTerm>& now);

  std::vector<std::string> removed_;
  std::vector<std::string> added_;
  std::vector<std::pair<std::string, std::string>> term_puts_;
  std::map<std::string, int64_t> counts_;
};

}  // namespace cityhub::store::rocks
