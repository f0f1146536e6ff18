// Listener: one dedicated PostgreSQL connection that LISTENs on channels and hands every
// notification (channel, payload) to a callback, on the listener's own thread. PostgreSQL
// delivers a NOTIFY only once its transaction commits, and the notifications of one session in
// commit order, so a listener never hears of a change it could not read yet.
//
// A lost connection (server restart, failover, pg_terminate_backend) is retried every
// `retry_delay` until it is back; what was notified meanwhile is lost, so once LISTENing again
// the listener calls `on_resumed`: the caller re-reads whatever it follows. The listener owns its
// connection and thread; the destructor stops both (callbacks never run after it returns).
// Thread-safety: the callbacks run on the listener's thread, one at a time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace cityhub::store::pg {

struct ListenerOptions {
  std::string conninfo;                           // as for Connection::Open
  std::vector<std::string> channels;              // LISTENed to (any identifier)
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds retry_delay{500};     // between reconnection attempts
  std::function<void(std::string_view channel, std::string_view payload)> on_notify;
  std::function<void()> on_resumed;               // LISTENing again after a lost connection
};

class Listener {
 public:
  // Connects, LISTENs on every channel and starts the thread: a NOTIFY committed after Start
  // returns reaches `on_notify`. Unavailable when the server cannot be reached now.
  static Result<std::unique_ptr<Listener>> Start(ListenerOptions options);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

 private:
  struct State;
  explicit Listener(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace cityhub::store::pg
