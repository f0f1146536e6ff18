// History codec: how attribute instances are laid out in the store's history blocks (temporal
// API, GS CIM 009 §4.5.7–4.5.9). An instance is kept in the block of its time — observedAt when
// it has one, deletedAt for a deletion, else the moment it was recorded — with blocks of
// kHistoryBlockMs (one hour): a time range is a key range, and a year of minute data is 8,760
// blocks of 60 instances.
//
// Record layout (every integer a LEB128 varint, signed ones zigzag-encoded):
//   length of what follows
//   flags      bit 0 observedAt, bit 1 deletion, bit 2 modified after recording, bit 3
//              retraction (see below), bits 4–6 kind, bit 7 observedAt's fraction
//   stamp      µs since the epoch when recorded, minus the block's start (signed): with the
//              block it gives the instance's identity (instanceId) and its createdAt
//   [modified] µs after the stamp (bit 2)
//   [observed] ms since the block's start (signed) (bit 0)
//   [fraction] observedAt's fraction as written: nanoseconds below the ms × 16 + its number of
//              digits (bit 7; without it the fraction is three digits, the hub's own precision)
//   [deleted]  ms since the block's start (signed) (bit 1)
//   value      by kind: 0 double (8 bytes LE), 1 int64, 2 true, 3 false, 4 string (length +
//              bytes) — each a Property's `value`; 5 the whole instance as JSON text
//   [extras]   kinds 0–4: length + JSON text of the instance's other members (unitCode,
//              datasetId, sub-attributes), length 0 when there are none
// So a numeric reading costs ≈ 20 bytes before compression and is decoded without parsing
// JSON — what lets an aggregation walk a year of minute data in milliseconds.
//
// Versions: records written before bit 7 existed have none, and decode as they always did
// (observedAt shown with milliseconds). A time written with milliseconds needs no fraction
// field either, so the common case costs nothing; any other precision costs one or a few bytes.
// Readers that predate bit 7 see an unknown kind and report the block as malformed rather than
// misread it.
//
// Editing and deleting single instances (temporal API PATCH/DELETE …/{instanceId}) append too:
// a retraction record (flags with bit 3, then the stamp) hides every earlier record of that
// stamp in its block, and an edit is a retraction plus the new version (same stamp) in the
// block of its time. Nothing is rewritten in place, so edits never race with the appends of
// concurrent writes.
//
// Within a block, records are in the order they were recorded (appends), not in time order;
// readers sort. Not thread-safe state: plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "util/status.h"
#include "util/time.h"

namespace cityhub::broker {

inline constexpr int64_t kHistoryBlockMs = 3'600'000;

// The block holding time `ms` (floor division: times before 1970 work too).
int64_t HistoryBlockOf(int64_t ms);
int64_t HistoryBlockStartMs(int64_t block);

// One attribute instance as history keeps it.
struct HistoryInstance {
  int64_t stamp_us = 0;                // when recorded (µs); the instance's identity
  int64_t modified_us = 0;             // when last changed (== stamp_us unless edited)
  std::optional<int64_t> observed_ms;  // observedAt
  util::TimeFraction observed_fraction;  // observedAt's fraction as written
  std::optional<int64_t> deleted_ms;   // set on the instance recording a deletion
  // The normalized instance without observedAt, createdAt, modifiedAt (expanded names).
  boost::json::object instance;

  // The time the instance is filed under (see above).
  int64_t TimeMs() const;
};

// A decoded record whose bytes stay in the block (no JSON parsed): what aggregations read.
struct InstanceView {
  int64_t stamp_us = 0;
  int64_t modified_us = 0;
  std::optional<int64_t> observed_ms;
  util::TimeFraction observed_fraction;
  std::optional<int64_t> deleted_ms;
  enum class Kind : uint8_t { kDouble = 0, kInt = 1, kTrue = 2, kFalse = 3, kString = 4, kJson = 5 } kind{};
  double number = 0;        // kDouble, kInt (also as double), kTrue (1), kFalse (0)
  int64_t integer = 0;      // kInt
  std::string_view text;    // kString: the value; kJson: the whole instance
  std::string_view extras;  // kinds 0–4: other members as JSON text ("" = none)

  bool IsNumeric() const { return kind <= Kind::kInt; }
  int64_t TimeMs() const;
  // The full instance (what HistoryInstance holds). Internal error on corrupt JSON.
  Result<HistoryInstance> Materialize() const;
};

// Appends the record of `inst` (filed in `block`) to `out`.
void EncodeHistoryInstance(const HistoryInstance& inst, int64_t block, std::string* out);
// Appends a retraction of the instance `stamp_us` to `out` (for the block the instance is in).
void EncodeRetraction(int64_t stamp_us, int64_t block, std::string* out);

// Calls visit for each live record of a block (retracted ones and retractions skipped), in
// stored order; stops early when visit returns false. Internal error if the bytes are not a
// well-formed sequence of records.
template <typename Visit>
Status ForEachHistoryRecord(std::string_view block_bytes, int64_t block, Visit&& visit);

// The next record at *pos (advanced past it) into *view; false with *error on corruption.
// *retraction: the record is a retraction of view->stamp_us (nothing else in view is set).
bool DecodeHistoryRecord(std::string_view bytes, size_t* pos, int64_t block, InstanceView* view, bool* retraction,
                         std::string* error);
// The stamps retracted in a block, each with the offset of its last retraction; empty for
// almost every block (a cheap pass over the flags).
std::vector<std::pair<int64_t, size_t>> RetractionsIn(std::string_view block_bytes, int64_t block);

template <typename Visit>
Status ForEachHistoryRecord(std::string_view block_bytes, int64_t block, Visit&& visit) {
  const std::vector<std::pair<int64_t, size_t>> retracted = RetractionsIn(block_bytes, block);
  size_t pos = 0;
  InstanceView view;
  bool retraction = false;
  std::string error;
  while (pos < block_bytes.size()) {
    const size_t at = pos;
    if (!DecodeHistoryRecord(block_bytes, &pos, block, &view, &retraction, &error)) return Status::Internal(error);
    if (retraction) continue;
    bool hidden = false;
    for (const auto& [stamp, last] : retracted) hidden = hidden || (stamp == view.stamp_us && last > at);
    if (hidden) continue;
    if (!visit(view)) break;
  }
  return Status::Ok();
}

// "urn:ngsi-ld:Instance:<stamp>" and back (nullopt if `id` is not one of ours).
std::string InstanceIdOf(int64_t stamp_us);
std::optional<int64_t> StampOfInstanceId(std::string_view id);

// A recording time in µs, never the same twice and never backwards within this process, and
// congruent to this hub's slot modulo the slots (store::CurrentHubSlot), so unique among the
// hubs sharing a database too: stamps identify instances. With n slots a hub stamps at most
// 10⁶/n instances a second before its stamps run ahead of the clock (they come back to it as
// soon as the rate drops).
int64_t NextHistoryStamp();

}  // namespace cityhub::broker
