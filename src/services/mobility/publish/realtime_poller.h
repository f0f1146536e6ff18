// RealtimePoller: fetches a GTFS-Realtime feed from a URL every `interval` and applies it to a
// tenant's transit feed (MobilityService::ApplyRealtime), so journeys and departure boards reflect
// it within one poll. Connections follow the hub's outbound address policy (--outbound-allow).
// A failed fetch or a refused message is logged (once per kind of failure in a row) and the
// previous data stays until it is too old to apply (MobilityOptions::max_realtime_age_s).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "net/address_policy.h"
#include "net/http_client.h"
#include "services/mobility/mobility_service.h"
#include "util/periodic_task.h"

namespace cityhub::services {

inline constexpr size_t kMaxRealtimeDownloadBytes = 64 << 20;

struct RealtimePollerOptions {
  std::string url;     // http:// or https://
  std::string tenant;  // whose feed it updates
  std::chrono::seconds interval{30};
  std::chrono::seconds timeout{20};
  std::shared_ptr<const net::AddressPolicy> addresses;
  std::string ca_file;
};

class RealtimePoller {
 public:
  RealtimePoller(mobility::MobilityService& mobility, RealtimePollerOptions options);
  void Start() { task_.Start(); }
  void Stop() { task_.Stop(); }

 private:
  void PollOnce();

  mobility::MobilityService& mobility_;
  RealtimePollerOptions options_;
  net::HttpClient client_;
  std::string last_error_;  // the last failure logged (repeats are not)
  util::PeriodicTask task_;
};

}  // namespace cityhub::services
