// ContextFetcher downloads remote JSON-LD @context documents (internal to ngsild/): GET over
// http and https, following redirects, with a hard deadline on the whole fetch. It is the only
// place in the hub's ngsild layer that does network I/O, through the hub's outbound client
// (net/http_client.h). It connects only to addresses the outbound AddressPolicy allows
// (net/address_policy.h), so that clients cannot use it to reach the hub's own network.
// Thread-safe: any number of threads may call Fetch concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "net/address_policy.h"
#include "util/status.h"

namespace cityhub::ngsild {

class ContextFetcher {
 public:
  // `addresses`: where it may connect (null: public addresses only).
  explicit ContextFetcher(std::shared_ptr<const net::AddressPolicy> addresses = nullptr);
  ~ContextFetcher();
  ContextFetcher(const ContextFetcher&) = delete;
  ContextFetcher& operator=(const ContextFetcher&) = delete;

  // GETs `url` (http or https, up to 3 redirects) and returns the body of the final 2xx answer.
  // The whole fetch (name resolution, connect, TLS, request, response, redirects) ends within
  // `timeout`, and every hop connects only to addresses the check allows. Errors:
  // LdContextNotAvailable with a coarse reason fit for clients ("timed out", "address not
  // allowed by the outbound policy", "connection failed", "the server answered with an error"…; never the remote
  // status, body or socket error); PayloadTooLarge when the body is larger than `max_bytes`.
  Result<std::string> Fetch(std::string_view url, std::chrono::milliseconds timeout,
                            size_t max_bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::ngsild
