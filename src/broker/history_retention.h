// History retention (issue 5; docs/OPERATIONS.md "History retention"): how long attribute
// instances are kept, per tenant and entity type, and the background purge that enforces it.
//
// Rules are written `[tenant/]type=duration`, comma-separated, e.g.
//   *=P2Y,CctvEvent=P30D,gimhae/ParkingSpot=P90D
// `type` is an entity type's full IRI, or its short name (the IRI's last path segment, so
// "ParkingSpot" matches https://smartdatamodels.org/dataModel.Parking/ParkingSpot), or `*`;
// `tenant` is a tenant name ("default" for the default tenant) or `*` (the default when left
// out). The most specific rule applies: tenant and type, then type, then tenant, then `*/*`.
// An entity with several types gets the shortest retention its types are given (personal
// data is kept no longer than any of its rules allows). Without a matching rule, history is
// kept for ever.
//
// Enforcement has two parts: reads never show an instance older than its retention (the
// cutoff is applied when history is read), and a purger thread removes whole blocks that are
// entirely older than it, every `interval`, with one range deletion per entity — never taking
// the locks writers use, so writes are never blocked. A deleted entity whose history is all
// gone loses its header too.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "broker/temporal_aggregation.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

class RetentionPolicy {
 public:
  // Parses the rules; BadRequestData naming the rule that is wrong.
  static Result<RetentionPolicy> Parse(std::string_view rules);

  // The oldest time (epoch ms) an instance of an entity with `types` (expanded) in `tenant`
  // may have at `now_ms`; nullopt: kept for ever.
  std::optional<int64_t> CutoffMs(std::string_view tenant, const std::vector<std::string>& types, int64_t now_ms) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::string tenant;  // "*" = any
    std::string type;    // "*" = any; an IRI or a short name
    IsoDuration keep;
  };
  std::vector<Rule> rules_;
};

struct PurgeStats {
  uint64_t entities = 0;         // entities whose history was trimmed
  uint64_t headers_removed = 0;  // deleted entities whose history is all gone
};

class HistoryPurger {
 public:
  HistoryPurger(store::Store& store, const RetentionPolicy& policy, std::chrono::milliseconds interval);
  ~HistoryPurger();  // stops the thread
  HistoryPurger(const HistoryPurger&) = delete;
  HistoryPurger& operator=(const HistoryPurger&) = delete;

  // Starts the purge thread (nothing to do for an empty policy).
  void Start();
  void Stop();
  // One purge of every tenant now (the thread calls this every interval).
  Result<PurgeStats> PurgeOnce(int64_t now_ms);

 private:
  store::Store& store_;
  const RetentionPolicy& policy_;
  const std::chrono::milliseconds interval_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
};

}  // namespace cityhub::broker
