// The RocksDB merge operators of the backend: counters summed from deltas (so concurrent
// writers of one type need no lock) and history blocks appended to without a read.
#pragma once

#include <memory>

#include <rocksdb/merge_operator.h>

namespace cityhub::store::rocks {

// Sums counter deltas (keys.h: EncodeCount): merge(existing, delta) = existing + delta.
std::shared_ptr<rocksdb::MergeOperator> NewCounterMerge();
// Appends to a history block: the result is the operands concatenated in order.
std::shared_ptr<rocksdb::MergeOperator> NewHistoryAppendMerge();

}  // namespace cityhub::store::rocks
