// SourceHealth: what the hub knows about each registered context source's recent behaviour, to
// protect both sides of a distributed operation (GS CIM 009 §5.2.34 management.cooldown): at
// most `max_in_flight` requests to one source at a time, and after a failed request the source
// is left alone for its cooldown — requests meanwhile are skipped and reported as skipped, not
// sent. Sources are keyed by their endpoint.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cityhub::broker {

class SourceHealth {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    size_t max_in_flight = 8;                    // concurrent requests per source
    std::chrono::milliseconds cooldown{10000};   // after a failure, when the registration names none
    size_t max_sources = 10000;                  // sources remembered; healthy idle ones are forgotten first
  };

  // A permission to send one request; give it back with Release().
  struct Admission {
    bool admitted = false;
    std::string reason;  // why not: "cooling down after a failure (N ms left)", "too many requests in flight (N)"
  };

  explicit SourceHealth(Options options);
  SourceHealth() : SourceHealth(Options{}) {}

  // Admits one request to `source` at `now` unless the source is cooling down or has
  // max_in_flight requests open. An admitted request must be Released exactly once.
  Admission TryAcquire(std::string_view source, Clock::time_point now = Clock::now());

  // Ends an admitted request. A failure starts the source's cooldown: `cooldown` (the
  // registration's management.cooldown) or the default; a zero cooldown starts none.
  void Release(std::string_view source, bool succeeded, std::optional<std::chrono::milliseconds> cooldown,
               Clock::time_point now = Clock::now());

  // Requests open to `source` now (for tests and metrics).
  size_t InFlight(std::string_view source) const;

 private:
  struct State {
    size_t in_flight = 0;
    Clock::time_point cool_until{};
  };
  void ForgetIdle(Clock::time_point now);

  const Options options_;
  mutable std::mutex mutex_;
  std::map<std::string, State, std::less<>> sources_;
};

}  // namespace cityhub::broker
