#include "store/rocksdb/index_delta.h"

#include <algorithm>

#include "store/rocksdb/keys.h"

namespace cityhub::store::rocks {

namespace {
const std::vector<IndexTerm> kNoTerms;
}  // namespace

std::vector<std::string> SortedUnique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

void IndexDelta::Change(std::string_view id, const EntityRecord* old, const EntityRecord* now) {
  ChangeTerms(id, old ? old->terms : kNoTerms, now ? now->terms : kNoTerms);
  // The common update changes values only: no type keys or counters change.
  if (old && now && old->types == now->types && old->attributes == now->attributes) return;
  const auto old_types = old ? SortedUnique(old->types) : std::vector<std::string>{};
  const auto new_types = now ? SortedUnique(now->types) : std::vector<std::string>{};
  for (const auto& t : old_types) {
    if (!std::binary_search(new_types.begin(), new_types.end(), t)) removed_.push_back(IndexPrefix(kTypeTag, t).append(id));
  }
  for (const auto& t : new_types) {
    if (!std::binary_search(old_types.begin(), old_types.end(), t)) added_.push_back(IndexPrefix(kTypeTag, t).append(id));
  }
  if (old) Count(old_types, SortedUnique(old->attributes), -1);
  if (now) Count(new_types, SortedUnique(now->attributes), +1);
}

void IndexDelta::AppendTo(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* index) const {
  for (const auto& key : removed_) batch.Delete(index, key);
  for (const auto& key : added_) batch.Put(index, key, rocksdb::Slice());
  for (const auto& [key, payload] : term_puts_) batch.Put(index, key, payload);
  for (const auto& [key, delta] : counts_) {
    if (delta != 0) batch.Merge(index, key, EncodeCount(delta));
  }
}

void IndexDelta::Count(const std::vector<std::string>& types, const std::vector<std::string>& attrs, int64_t d) {
  for (const auto& t : types) {
    counts_[IndexPrefix(kTypeCountTag, t)] += d;
    for (const auto& a : attrs) counts_[IndexPrefix(kTypeAttrCountTag, t, a)] += d;
  }
  for (const auto& a : attrs) counts_[IndexPrefix(kAttrCountTag, a)] += d;
}

void IndexDelta::ChangeTerms(std::string_view id, const std::vector<IndexTerm>& old,
                             const std::vector<IndexTerm>& now) {
  if (old == now) return;
  std::map<std::string_view, std::string_view> kept;
  for (const auto& term : now) kept.emplace(term.key, term.payload);
  for (const auto& term : old) {
    auto it = kept.find(term.key);
    if (it == kept.end()) {
      removed_.push_back(TermKey(term.key, id));
    } else if (it->second == term.payload) {
      kept.erase(it);  // unchanged: nothing to write
    }
  }
  for (const auto& [key, payload] : kept) term_puts_.emplace_back(TermKey(key, id), std::string(payload));
}

}  // namespace cityhub::store::rocks
