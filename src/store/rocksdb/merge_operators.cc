#include "store/rocksdb/merge_operators.h"

#include <deque>
#include <string>

#include "store/rocksdb/keys.h"

namespace cityhub::store::rocks {

namespace {

// Sums counter deltas: merge(existing, delta) = existing + delta.
class CounterMerge : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* new_value, rocksdb::Logger*) const override {
    int64_t base = existing ? DecodeCount(View(*existing)) : 0;
    *new_value = EncodeCount(base + DecodeCount(View(value)));
    return true;
  }
  const char* Name() const override { return "cityhub.CounterMerge"; }
};

// Appends to a history block: the result is the operands concatenated in order. All operands
// at once (not pairwise, which would copy a block of n appends n times).
class HistoryAppendMerge : public rocksdb::MergeOperator {
 public:
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    size_t size = in.existing_value ? in.existing_value->size() : 0;
    for (const auto& operand : in.operand_list) size += operand.size();
    out->new_value.clear();
    out->new_value.reserve(size);
    if (in.existing_value) out->new_value.append(in.existing_value->data(), in.existing_value->size());
    for (const auto& operand : in.operand_list) out->new_value.append(operand.data(), operand.size());
    return true;
  }
  bool PartialMergeMulti(const rocksdb::Slice&, const std::deque<rocksdb::Slice>& operands, std::string* new_value,
                         rocksdb::Logger*) const override {
    new_value->clear();
    for (const auto& operand : operands) new_value->append(operand.data(), operand.size());
    return true;
  }
  const char* Name() const override { return "cityhub.HistoryAppendMerge"; }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewCounterMerge() { return std::make_shared<CounterMerge>(); }
std::shared_ptr<rocksdb::MergeOperator> NewHistoryAppendMerge() { return std::make_shared<HistoryAppendMerge>(); }

}  // namespace cityhub::store::rocks
