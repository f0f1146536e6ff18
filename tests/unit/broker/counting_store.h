// CountingStore: a Store decorator for the broker tests that counts, per tenant, the entity
// records read and the writes handed to the real store it wraps — for tests that an operation
// reads each entity once — and can make Update run its function more than once, as a backend
// retrying a transaction may. The counts are of calls through the interface. Declare it after
// the store it wraps; not thread-safe against concurrent Tenant() calls.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "store/store.h"

namespace cityhub::broker {

class CountingTenantStore final : public store::TenantStore {
 public:
  explicit CountingTenantStore(store::TenantStore& inner) : inner_(inner) {}
  // Entity records read (one per id of a Get, a GetMany or an Update); writes handed to the
  // store (Write calls, and Updates whose function returned a WriteSet).
  std::atomic<int> gets{0}, writes{0};
  // How often Update runs its function (as a backend retrying the transaction would); only the
  // last run's WriteSet is written.
  int runs_per_update = 1;
  // Run before each DeleteOutbox reaches the store (may block: a commit queue that is busy).
  std::function<void(const std::vector<uint64_t>& sequences)> before_delete_outbox;

  Result<store::EntityRecord> Get(std::string_view id) override {
    ++gets;
    return inner_.Get(id);
  }
  std::vector<Result<store::EntityRecord>> GetMany(const std::vector<std::string_view>& ids) override {
    gets += static_cast<int>(ids.size());
    return inner_.GetMany(ids);
  }
  Status Write(const store::WriteSet& ws) override {
    ++writes;
    return inner_.Write(ws);
  }
  Status Update(const std::vector<std::string_view>& ids, const store::UpdateFn& fn) override {
    gets += static_cast<int>(ids.size());
    return inner_.Update(ids, [&](const store::CurrentRecords& current) {
      for (int run = 1; run < runs_per_update; ++run) (void)fn(current);
      auto ws = fn(current);
      if (ws.ok()) ++writes;
      return ws;
    });
  }
  Status ScanIds(const store::ScanOptions& o, const store::IdVisitor& v) override { return inner_.ScanIds(o, v); }
  Status Scan(const store::ScanOptions& o, const store::EntityVisitor& v) override { return inner_.Scan(o, v); }
  Status ScanTerms(const std::vector<store::TermRange>& r, const store::TermVisitor& v) override {
    return inner_.ScanTerms(r, v);
  }
  Status CompactTerms() override { return inner_.CompactTerms(); }
  Status ScanOutbox(uint64_t from, const std::function<bool(uint64_t, std::string_view)>& v) override {
    return inner_.ScanOutbox(from, v);
  }
  Status DeleteOutbox(const std::vector<uint64_t>& s) override {
    if (before_delete_outbox) before_delete_outbox(s);
    return inner_.DeleteOutbox(s);
  }
  Result<uint64_t> LastOutboxSequence() override { return inner_.LastOutboxSequence(); }
  bool NumbersOutbox() const override { return inner_.NumbersOutbox(); }
  uint32_t OutboxPartitions() const override { return inner_.OutboxPartitions(); }
  Status ScanOutboxPartition(uint32_t p, const std::function<bool(uint64_t, std::string_view)>& v) override {
    return inner_.ScanOutboxPartition(p, v);
  }
  Status ReadOutbox(std::vector<uint64_t> s, const std::function<bool(uint64_t, std::string_view)>& v) override {
    return inner_.ReadOutbox(std::move(s), v);
  }
  Status ScanHistory(std::string_view id, std::string_view attr, int64_t first, int64_t last, bool backwards,
                     const store::HistoryBlockVisitor& v) override {
    return inner_.ScanHistory(id, attr, first, last, backwards, v);
  }
  Result<std::vector<std::string>> HistoryAttributes(std::string_view id) override { return inner_.HistoryAttributes(id); }
  Status PutHistoryBlock(std::string_view id, std::string_view attr, int64_t block, std::string_view bytes) override {
    return inner_.PutHistoryBlock(id, attr, block, bytes);
  }
  Status DeleteHistory(std::string_view id, std::string_view attr, int64_t before) override {
    return inner_.DeleteHistory(id, attr, before);
  }
  Result<std::string> GetHistoryEntity(std::string_view id) override { return inner_.GetHistoryEntity(id); }
  Status ScanHistoryEntities(const std::function<bool(std::string_view, std::string_view)>& v) override {
    return inner_.ScanHistoryEntities(v);
  }
  Result<std::vector<std::string>> ListTypes() override { return inner_.ListTypes(); }
  Result<std::vector<std::string>> AttributesOfType(std::string_view t) override { return inner_.AttributesOfType(t); }
  Result<std::vector<std::string>> ListAttributes() override { return inner_.ListAttributes(); }
  Result<std::vector<std::string>> TypesWithAttribute(std::string_view a) override { return inner_.TypesWithAttribute(a); }
  Result<uint64_t> CountType(std::string_view t) override { return inner_.CountType(t); }
  Result<uint64_t> CountAttribute(std::string_view a) override { return inner_.CountAttribute(a); }
  uint64_t ApproximateEntityCount() override { return inner_.ApproximateEntityCount(); }
  Result<std::string> GetMeta(std::string_view k) override { return inner_.GetMeta(k); }
  Status PutMeta(std::string_view k, std::string_view v) override { return inner_.PutMeta(k, v); }
  Status DeleteMeta(std::string_view k) override { return inner_.DeleteMeta(k); }
  Status ScanMeta(std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& v) override {
    return inner_.ScanMeta(prefix, v);
  }

 private:
  store::TenantStore& inner_;
};

class CountingStore final : public store::Store {
 public:
  explicit CountingStore(store::Store& inner) : inner_(inner) {}
  Result<store::TenantStore*> Tenant(std::string_view name, bool create) override {
    auto ts = inner_.Tenant(name, create);
    if (!ts.ok()) return ts;
    auto& counting = tenants_[std::string(name)];
    if (!counting) counting = std::make_unique<CountingTenantStore>(**ts);
    return counting.get();
  }
  std::vector<std::string> ListTenants() override { return inner_.ListTenants(); }
  uint32_t OutboxPartitions() const override { return inner_.OutboxPartitions(); }
  Status DeliverOutbox(store::OutboxOwner* owner) override {
    outbox_owner = owner;
    return inner_.DeliverOutbox(owner);
  }
  store::OutboxOwner* outbox_owner = nullptr;  // the last DeliverOutbox's
  void StopDeliveringOutbox() override { inner_.StopDeliveringOutbox(); }
  Status CatchUpSharedMeta(std::string_view tenant) override { return inner_.CatchUpSharedMeta(tenant); }
  Status Backup(const std::string& dir) override { return inner_.Backup(dir); }
  void Close() override { inner_.Close(); }
  CountingTenantStore& Of(const std::string& tenant) { return *tenants_.at(tenant); }

 private:
  store::Store& inner_;
  std::map<std::string, std::unique_ptr<CountingTenantStore>> tenants_;
};

}  // namespace cityhub::broker
