// HttpClient: the hub's outbound HTTP/1.1 client for http:// and https:// (notifications,
// federation forwarding): any method, kept-alive connections pooled per origin, a deadline on
// every phase, and connections only to resolved addresses the outbound AddressPolicy allows.
// Redirects are never followed (a 3xx is returned as it is). Beast/Asio stay inside
// http_client.cc. Thread-safe: any thread may call Send; outcomes arrive on the client's own
// I/O thread, so callbacks must be short and must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/address_policy.h"

namespace cityhub::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{3000};  // name resolution + connect + TLS handshake
  // Connections per scheme://host:port, kept alive between requests; requests beyond them wait
  // for one to come free (a busy server is not flooded with new connections).
  size_t max_connections_per_origin = 32;
  // PEM file of certificate authorities trusted for https besides the system's ("" = none).
  std::string ca_file;
  std::shared_ptr<const AddressPolicy> addresses;  // where it may connect (null: public only)
  std::string thread_name = "http-client";         // the I/O thread's name (at most 15 bytes)
  // What the requests are, for the one log line per host the address policy refuses
  // ("notification to host 'x' refused: …").
  std::string purpose = "request";
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, PUT, PATCH, DELETE, …
  std::string url;             // http:// or https://
  // Sent as given (Host, Content-Length and Connection are the client's); a header whose name
  // is not a token or whose value holds control characters is left out (no header injection).
  HeaderList headers;
  std::string body;  // sent when non-empty or the method is POST, PUT or PATCH
  // Writing the request and reading the answer, once a connection is held.
  std::chrono::milliseconds timeout{10000};
  // An absolute end for the whole request — waiting for a connection, connecting, exchanging —
  // whatever the per-phase timeouts; nullopt = only those.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  size_t max_response_bytes = 64 << 10;  // a longer body fails the request
  // A kept-alive connection the server closed meanwhile fails on first use; the request is then
  // repeated once on a fresh connection (the server may see it twice).
  bool retry_stale_connection = true;
};

struct HttpResponse {
  unsigned status = 0;
  HeaderList headers;  // as received, in order
  std::string body;
  // The first value of header `name` (any case), or "".
  std::string_view Header(std::string_view name) const;
};

struct HttpOutcome {
  // False when no complete answer came: then `error` says why, fit for clients and logs
  // ("connection failed", "timed out waiting for the answer", "timed out connecting",
  // kAddressRefused for every refused address, "answer larger than N bytes", …) and never holds
  // remote data. True with any status code, 3xx and 5xx included.
  bool ok = false;
  std::string error;
  bool timed_out = false;  // the failure was a deadline
  bool too_large = false;  // the failure was an answer longer than max_response_bytes
  HttpResponse response;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();  // stops the I/O thread; requests in progress are abandoned without a callback
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` and calls `done` exactly once with the outcome (on the I/O thread), within
  // the request's deadlines.
  void Send(HttpRequest request, std::function<void(HttpOutcome)> done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::net
