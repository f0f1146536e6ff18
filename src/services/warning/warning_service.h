// WarningService: flood and earthquake early warning on the broker (issue 7). It watches every
// committed change for readings the WarningEngine's rules cover (a watched attribute of a
// watched type whose value changed), feeds them to the engine on its own thread ("warning"),
// and writes each alert change as a Smart Data Model `Alert` entity through EntityService —
// category naturalDisaster, subCategory flood/earthquake, severity (low … critical; informational
// once cleared), description in Korean and English, alertSource, location, dateIssued,
// validFrom, validTo (when cleared) and warningStage — so subscribers are notified like for any
// write. GET /cityhub/v1/alerts/{id}/cap serves an alert as CAP 1.2 (api/services_api.cc).
// Time is the readings' (observedAt), per tenant: between readings it advances with the wall
// clock from the tenant's newest one, so an earthquake alert clears clear_ms after the last
// shake by the sensors' clock. Readings stamped more than a day ahead of the hub's clock are
// ignored by the rules (a device clock gone wrong must not clear or raise anything).
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "broker/entity_service.h"
#include "services/warning/warning_engine.h"

namespace cityhub::services {

// The Alert entity's attribute IRIs (Smart Data Models dataModel.Alert).
struct AlertVocabulary {
  static constexpr const char* kType = "https://smartdatamodels.org/dataModel.Alert/Alert";
  static constexpr const char* kCategory = "https://smartdatamodels.org/dataModel.Alert/category";
  static constexpr const char* kSubCategory = "https://smartdatamodels.org/dataModel.Alert/subCategory";
  static constexpr const char* kSeverity = "https://smartdatamodels.org/dataModel.Alert/severity";
  static constexpr const char* kDescription = "http://purl.org/dc/terms/description";
  static constexpr const char* kAlertSource = "https://smartdatamodels.org/dataModel.Alert/alertSource";
  static constexpr const char* kDateIssued = "https://smartdatamodels.org/dataModel.Alert/dateIssued";
  static constexpr const char* kValidFrom = "https://smartdatamodels.org/validFrom";
  static constexpr const char* kValidTo = "https://smartdatamodels.org/dataModel.Alert/validTo";
  static constexpr const char* kLocation = "https://uri.etsi.org/ngsi-ld/location";
  static constexpr const char* kStage = "https://uri.etsi.org/ngsi-ld/default-context/warningStage";
};

class WarningService : public broker::ChangeObserver {
 public:
  WarningService(broker::EntityService& entities, WarningRules rules);
  ~WarningService() override;  // Stop()
  void Start();
  void Stop();
  // Readings queued or being evaluated (0: settled).
  size_t Pending() const;
  // True if a rule reads `attribute` of an entity of `types` (expanded names). Thread-safe.
  bool Watches(const std::vector<std::string>& types, std::string_view attribute) const {
    return engine_.Watches(types, attribute);
  }
  // Told, in seconds, each reading's wait for the rules ("queued": from its commit to its
  // evaluation) and each alert's write ("alert_write"); set before Start.
  void SetLatencyObserver(std::function<void(std::string_view stage, double seconds)> observer) {
    observe_ = std::move(observer);
  }
  static constexpr int64_t kMaxAheadMs = 24LL * 3600 * 1000;

  // ChangeObserver
  bool Watching(std::string_view tenant) const override { return true; }
  Status AddTo(std::string_view tenant, store::TenantStore& ts, const std::vector<broker::EntityChange>& changes,
               store::WriteSet& ws, std::unique_ptr<broker::PendingChanges>* pending) override;
  void Committed(std::string_view tenant, std::unique_ptr<broker::PendingChanges> pending) override;

 private:
  void Run();
  void Write(const AlertChange& c);

  broker::EntityService& entities_;
  // Its rights as system principal "system:warning": Alert entities only.
  const broker::SystemWriteAccess writes_{"system:warning", {AlertVocabulary::kType}, {}};
  WarningEngine engine_;  // used by the worker; Watches() (const) by writers
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  struct QueuedReading {
    Reading reading;
    std::chrono::steady_clock::time_point committed_at;
  };
  std::deque<QueuedReading> queue_;
  std::function<void(std::string_view, double)> observe_;
  size_t running_ = 0;
  bool stopping_ = false;
  uint64_t ignored_future_ = 0;  // readings stamped too far ahead (worker thread only)
  std::thread worker_;
};

}  // namespace cityhub::services
