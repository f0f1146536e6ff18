// Server: the HTTP/1.1 server (Boost.Beast/Asio) that reads requests within explicit limits and
// hands each to one Handler, over plain TCP or, when a certificate and key are configured, only
// over TLS (HTTPS). Only server.cc includes Beast, Asio and OpenSSL.
//
// Threading: `io_threads` threads run the Asio io_context (socket I/O only); handlers run on a
// separate pool of `worker_threads` threads because they may block on a durable store write —
// many concurrent writers let the store share one WAL sync (group commit). A request for which
// `runs_inline` answers true is handled on the I/O thread that read it instead (no thread hop),
// and with `worker_threads = 0` every request is (only for handlers that never block). Run() blocks until Stop() has drained in-flight requests.
// Thread-safe: Stop() may be called from any thread, including a handler; StopOnSignals() lets
// SIGINT/SIGTERM call it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/message.h"
#include "util/status.h"

namespace cityhub::http {

struct ServerLimits {
  size_t max_body_bytes = 1 << 20;         // 1 MiB; larger bodies get 413
  // Uploads: requests to one of these paths (exact, before '?') may carry bodies up to
  // max_upload_bytes instead (a GTFS zip is tens of MB).
  std::vector<std::string> upload_paths;
  size_t max_upload_bytes = 0;
  size_t max_header_bytes = 16 << 10;      // request line + headers; larger get 431
  std::chrono::milliseconds request_timeout{30000};  // whole request must arrive within this (408)
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive connection idle limit
  size_t max_connections = 10000;          // further connections are accepted and closed (503)
  // Open connections one client (util::ClientOf its address: an IPv4 address or an IPv6 /64)
  // may hold; its further connections are answered 503 and closed like those over
  // max_connections, so one address cannot take every slot. 0 = no per-client cap.
  size_t max_connections_per_address = 256;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 1026;          // 0 picks a free port; see Server::port()
  unsigned io_threads = 0;             // 0 = one per core
  unsigned worker_threads = 32;        // handler pool size; 0 = run handlers on the I/O threads
  // Requests the handler answers without blocking — no disk sync, no network, no wait on a lock
  // held across either — and within microseconds: those are handled on the I/O thread, saving
  // the two thread switches of the hop to a worker. Called on the I/O thread for every request,
  // so it must be cheap itself; null: every request goes to a worker.
  std::function<bool(const Request&)> runs_inline;
  ServerLimits limits;
  // HTTPS: with both set, every connection must speak TLS (1.2 or 1.3); with neither, plain HTTP.
  std::string tls_cert_file;           // PEM certificate chain, the server's certificate first
  std::string tls_key_file;            // PEM private key of that certificate, unencrypted
};

using Handler = std::function<Response(const Request&)>;

// Deferred responses: a handler that waits for something without holding its thread (a write's
// disk sync, through a commit queue) calls DeferResponse() and returns; what it returns is then
// dropped, and the connection answers when the Responder is called — from any thread, once
// (later calls are ignored). The Request stays valid until then. Until it is called the
// connection reads nothing more and no timeout closes it, so it must always be called. Returns
// null when the calling thread is not running a Server's handler (then answer by returning).
using Responder = std::function<void(Response)>;
Responder DeferResponse();

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate and key if configured, binds (SO_REUSEADDR) and listens. Returns
  // Ok; BadRequestData naming the file if only one of the TLS files is given or a file cannot be
  // read, holds no usable PEM, or the key does not match the certificate; or Internal "cannot
  // listen on HOST:PORT: why".
  Status Listen();
  // The bound port (useful with port 0). Valid after Listen() succeeded.
  unsigned short port() const;
  // Serves until Stop(); then stops accepting, closes idle connections, lets in-flight requests
  // finish and their responses be written (at most 10 s), closes the rest and returns. Returns at
  // once if Listen() has not succeeded. Call at most once.
  void Run();
  // Requests a graceful stop. Safe from any thread.
  void Stop();
  // Runs Stop() when SIGINT or SIGTERM arrives (installs Asio signal handling). Call before Run().
  void StopOnSignals();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::http
