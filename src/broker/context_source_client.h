// ContextSourceClient: sends one distributed operation's request to every matching context
// source at once (GS CIM 009 §4.3.6) and collects their answers — the outbound half of
// federation. Each request carries what the source needs (§6.3.5 Link @context, §6.3.14
// NGSILD-Tenant, §6.3.18 Via with the hub's own alias, the operator's credentials for the
// source) and is bounded in time (management.timeout or the hub default), in size, and by the
// source's health (SourceHealth: concurrency limit, cooldown after a failure). A source that
// fails, times out or is skipped yields an answer saying so; the call itself never fails and
// never waits longer than the longest timeout among the sources asked.
// Thread-safe: any number of threads may call Ask concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/context_source.h"
#include "broker/source_credentials.h"
#include "broker/source_health.h"
#include "broker/source_statistics.h"
#include "net/address_policy.h"

namespace cityhub::broker {

// What to send to a source, relative to its endpoint.
struct ForwardedRequest {
  std::string method = "GET";
  // After "/ngsi-ld/v1", percent-encoded, e.g. "/entities/urn%3Angsi-ld%3ACar%3A1".
  std::string path;
  std::string query;  // without "?", percent-encoded ("" = none)
  std::string body;   // for POST / PATCH / PUT
  std::string content_type = "application/json";
  std::string accept = "application/json";
  // The caller's @context URL for the Link header ("" = none: the core context). A source whose
  // registration names a contextSourceInfo "jsonldContext" gets that one instead, unless
  // `use_registered_context` is false (answers merged as JSON must share one @context).
  // Names in `query` should be expanded IRIs, which mean the same under any @context.
  std::string link_context;
  bool use_registered_context = true;
  // The Via header of the request being served ("" when it came from a client, not a broker).
  std::string via;
  // The hub's contextSourceAlias for the request's tenant (§5.2.40: unique per tenant), which it
  // adds to Via ("" = the client's default alias).
  std::string alias;
};

// One source's answer.
struct SourceAnswer {
  enum class Outcome {
    kAnswered,  // an HTTP answer came (any status: the caller judges it)
    kFailed,    // no answer: connection, timeout, size or address policy
    kSkipped,   // not asked: the source is cooling down or busy
  };
  const ContextSource* source = nullptr;  // the source asked (points into the caller's list)
  Outcome outcome = Outcome::kFailed;
  unsigned status = 0;
  std::string body;
  std::string results_count;  // the NGSILD-Results-Count header, if any
  std::string link_context;   // the @context URL sent in Link ("" = none): the answer's terms
  std::string reason;         // for kFailed / kSkipped: why, fit for an NGSILD-Warning
};

struct ContextSourceClientOptions {
  // The hub's contextSourceAlias (§5.2.40) when a request names none: the pseudonym it adds to
  // Via and looks for there.
  std::string alias = "cityhub";
  std::chrono::milliseconds default_timeout{5000};  // when the registration has no management.timeout
  std::chrono::milliseconds connect_timeout{3000};
  size_t max_answer_bytes = 8 << 20;  // a longer answer counts as a failure of the source
  size_t max_connections_per_origin = 8;
  SourceHealth::Options health;
  SourceCredentials credentials;
  std::shared_ptr<const net::AddressPolicy> addresses;  // where sources may be (null: public only)
  std::string ca_file;                                  // extra trusted CAs for https sources
};

class ContextSourceClient {
 public:
  explicit ContextSourceClient(ContextSourceClientOptions options);
  ~ContextSourceClient();
  ContextSourceClient(const ContextSourceClient&) = delete;
  ContextSourceClient& operator=(const ContextSourceClient&) = delete;

  // Sends to each of `sources` the request `build(source)` returns, all in parallel, and returns
  // one answer per source in the same order. Returns when every source has answered or failed,
  // or at the latest when the longest of their timeouts has passed (sources still busy then are
  // reported as failed with "timed out").
  std::vector<SourceAnswer> Ask(const std::vector<ContextSource>& sources,
                                const std::function<ForwardedRequest(const ContextSource&)>& build);
  // As above, and `arrived` is called on the calling thread with each source's outcome as soon as
  // it is known (answered, or failed before the deadline), in the order they come, together with
  // how many sources are still awaited then — so that the caller can work on one answer while
  // the others are on their way. `arrived` may move from the answer; what it leaves is what the
  // returned vector holds for that source.
  using Arrival = std::function<void(SourceAnswer& answer, size_t still_awaited)>;
  std::vector<SourceAnswer> Ask(const std::vector<ContextSource>& sources,
                                const std::function<ForwardedRequest(const ContextSource&)>& build,
                                const Arrival& arrived);
  // The same request for every source.
  std::vector<SourceAnswer> Ask(const std::vector<ContextSource>& sources, const ForwardedRequest& request);

  // True when `via` (a request's Via header) already names this hub by `alias` (""= the default
  // alias): the request has been here before, and forwarding it again would loop (§6.3.18).
  bool SeenBefore(std::string_view via, std::string_view alias = {}) const;

  const SourceHealth& health() const;
  // Per registration: requests sent, failed, last success and failure (§5.2.9), for the
  // registrations API to show.
  SourceStatistics& statistics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `text` percent-encoded: RFC 3986 unreserved characters kept, every other byte as %XX.
std::string PercentEncode(std::string_view text);
// "name=value&…" with names and values percent-encoded (RFC 3986 unreserved characters kept).
std::string EncodeQuery(const std::vector<std::pair<std::string, std::string>>& params);

// The Via header value to send onward: `via` with "1.1 <alias>" appended.
std::string ViaWith(std::string_view via, std::string_view alias);
// True when one of the comma-separated entries of `via` is received by `alias`.
bool ViaNames(std::string_view via, std::string_view alias);

}  // namespace cityhub::broker
