// ContextFetcher downloads remote JSON-LD @context documents (internal to ngsild/): a small
// HTTP/1.1 GET client for http and https with a hard deadline on the whole fetch. It is the only
// place in the hub's ngsild layer that does network I/O; Beast/Asio stay inside context_fetch.cc.
// Thread-safe: any number of threads may call Fetch concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace cityhub::ngsild {

class ContextFetcher {
 public:
  ContextFetcher();
  ~ContextFetcher();
  ContextFetcher(const ContextFetcher&) = delete;
  ContextFetcher& operator=(const ContextFetcher&) = delete;

  // GETs `url` (http or https, up to 3 redirects) and returns the body of the final 2xx answer.
  // The whole fetch (name resolution, connect, TLS, request, response, redirects) ends within
  // `timeout`. Errors: LdContextNotAvailable with the reason (no connection, timeout, HTTP
  // status, bad URL); PayloadTooLarge when the body is larger than `max_bytes`.
  Result<std::string> Fetch(std::string_view url, std::chrono::milliseconds timeout,
                            size_t max_bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::ngsild
