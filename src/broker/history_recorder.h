// HistoryRecorder: records every attribute change as an attribute instance (temporal API,
// GS CIM 009 §4.5.7) in the same atomic, durable store write as the change itself (DESIGN §1),
// so the history never misses an acknowledged change and never holds one that was not made.
//
// What is recorded, per entity a write changes:
//   - each instance (attribute, datasetId) the change created or rewrote — any rewrite, even
//     to the same value, since modifiedAt moves; unchanged instances are not recorded again;
//   - each instance the change removed (attribute deleted, merge-patched to null, entity
//     deleted): a deletion instance whose value is "urn:ngsi-ld:null" and which has deletedAt;
//   - the entity's header (types, scope; deletedAt once deleted) when the entity is created, its
//     types or scope change or it is deleted — so its history can be found by type and scope
//     even once it is gone.
// Instances keep observedAt, unitCode, datasetId and sub-attributes; createdAt is the moment of
// recording. Encoding and blocks: history_codec.h.
//
// Thread-safe (no state of its own besides the switch).
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "broker/entity_service.h"
#include "broker/history_codec.h"

namespace cityhub::broker {

class HistoryRecorder : public ChangeObserver {
 public:
  explicit HistoryRecorder(bool enabled = true) : enabled_(enabled) {}

  // Run before serving. Enabled: gives every entity without a history header one (entities
  // written before history existed, or while it was switched off), once per tenant — without
  // it their history would be recorded but never found. Disabled: forgets that this was done,
  // so that switching history back on checks again.
  Status Prepare(store::Store& store) const;

  bool Watching(std::string_view) const override { return enabled_; }
  Status AddTo(std::string_view tenant, store::TenantStore& ts, const std::vector<EntityChange>& changes,
               store::WriteSet& ws, std::unique_ptr<PendingChanges>* pending) override;
  void Committed(std::string_view, std::unique_ptr<PendingChanges>) override {}

 private:
  const bool enabled_;
};

// The history header of an entity: {"types": [...]} (expanded), its "scope" when it has one,
// and "deletedAt" (epoch ms) once it is deleted; and back.
struct HistoryHeader {
  std::vector<std::string> types;
  boost::json::value scope;  // null: none
  std::optional<int64_t> deleted_ms;
};
std::string EncodeHistoryHeader(const HistoryHeader& h);
Result<HistoryHeader> DecodeHistoryHeader(std::string_view text);

// The instances one write appends to an entity's history, grouped by (attribute, block): one
// merge per block, however many instances fall in it.
class HistoryAppends {
 public:
  void Add(const std::string& attr, const HistoryInstance& h);
  // Moves them into `ws` as appends to entity `id`.
  void MoveTo(std::string_view id, store::WriteSet* ws);

 private:
  std::map<std::pair<std::string, int64_t>, std::string> blocks_;
};

// A normalized instance (as an Entity holds it) as history keeps it, recorded at `stamp_us`.
HistoryInstance ToHistoryInstance(const ngsild::Instance& inst, int64_t stamp_us);
// The deletion instance of `removed` (same type and datasetId) at `deleted_ms`.
HistoryInstance DeletionInstance(const ngsild::Instance& removed, int64_t deleted_ms, int64_t stamp_us);

}  // namespace cityhub::broker
