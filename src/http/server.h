// Server: the HTTP/1.1 server (Boost.Beast/Asio) that reads requests within explicit limits and
// hands each to one Handler. Only server.cc includes Beast.
//
// Threading: `io_threads` threads run the Asio io_context (socket I/O only); handlers run on a
// separate pool of `worker_threads` threads because they may block on a durable store write —
// many concurrent writers let the store share one WAL sync (group commit). Run() blocks until
// Stop() (async-signal-safe to request via RequestStop from a signal watcher) has drained
// in-flight requests. Thread-safe: Stop() may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "http/message.h"
#include "util/status.h"

namespace cityhub::http {

struct ServerLimits {
  size_t max_body_bytes = 1 << 20;         // 1 MiB; larger bodies get 413
  size_t max_header_bytes = 16 << 10;      // request line + headers; larger get 431
  std::chrono::milliseconds request_timeout{30000};  // whole request must arrive within this (408)
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive connection idle limit
  size_t max_connections = 10000;          // further connections are accepted and closed (503)
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 1026;          // 0 picks a free port; see Server::port()
  unsigned io_threads = 0;             // 0 = one per core
  unsigned worker_threads = 32;        // handler pool size
  ServerLimits limits;
};

using Handler = std::function<Response(const Request&)>;

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Returns an error if the address cannot be bound.
  Status Listen();
  // The bound port (useful with port 0). Valid after Listen() succeeded.
  unsigned short port() const;
  // Serves until Stop(); then stops accepting, lets in-flight requests finish (at most
  // `drain_timeout`), closes connections and returns.
  void Run();
  // Requests a graceful stop. Safe from any thread.
  void Stop();
  // Runs Stop() when SIGINT or SIGTERM arrives (installs Asio signal handling).
  void StopOnSignals();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::http
