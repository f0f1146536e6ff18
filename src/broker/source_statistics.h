// SourceStatistics: the distributed-operation figures of each context source registration that
// GS CIM 009 §5.2.9 makes part of a registration as read back — status ("ok" when the last
// distributed operation succeeded, "failed" when it failed), timesSent, timesFailed,
// lastSuccess, lastFailure — kept in memory by the forwarding, read by the registrations API.
// A request counts when it was sent; one that failed is one that got no answer or an answer
// other than 2xx (§5.2.9: "for instance, in the HTTP binding, an HTTP response code other than
// 2xx"). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cityhub::broker {

struct RegistrationFigures {
  uint64_t times_sent = 0;
  uint64_t times_failed = 0;
  int64_t last_success_ms = 0;  // epoch ms; 0 = never
  int64_t last_failure_ms = 0;  // epoch ms; 0 = never
  bool last_failed = false;     // status: "failed" when true, else "ok"
};

class SourceStatistics {
 public:
  // Registrations remembered; beyond it the figures of the least recently used one are dropped
  // (a deleted registration's figures are never asked for again).
  static constexpr size_t kMaxRegistrations = 100'000;

  // Registrations are named by the hub tenant that holds them and their id (a client may give
  // two tenants' registrations the same id).
  // Counts one request sent for the registration at `now_ms` and its outcome.
  void Record(std::string_view tenant, std::string_view registration_id, bool succeeded, int64_t now_ms);
  // The figures of the registration, or nullopt when no request was sent for it.
  std::optional<RegistrationFigures> Of(std::string_view tenant, std::string_view registration_id) const;
  // Drops the figures of a registration (deleted, or its endpoint changed).
  void Forget(std::string_view tenant, std::string_view registration_id);

 private:
  struct Entry {
    RegistrationFigures figures;
    uint64_t touched = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> by_id_;  // by Key(tenant, id)
  uint64_t clock_ = 0;
};

}  // namespace cityhub::broker
