/* Remote @context download: a deadline-bound GET with redirects over the hub's outbound client.
 *
 * Design. A request that names an unknown @context URL has to wait for it, so the one property
 * that matters is that the wait is bounded: a dead, slow or trickling server must cost at most
 * the configured timeout, whatever phase it stalls in. Each fetch therefore gets one absolute
 * deadline that every hop (name resolution, connect, TLS handshake, write, read — the client
 * enforces it in each) and every redirect is measured against, instead of a per-operation
 * timeout that a server could restart by sending a byte at a time.
 *
 * The I/O runs on net::HttpClient's own thread (started on first use); the calling thread only
 * waits on a future, again bounded by the deadline. That split is deliberate: Asio resolves host
 * names with a blocking getaddrinfo on a helper thread that cannot be interrupted, so a caller
 * running its own io_context would be held hostage by a slow DNS server. Here the caller gives
 * up at the deadline and the stuck lookup finishes in the background.
 *
 * Scope: GET only, the body read whole into memory with a hard size limit (reported apart as
 * PayloadTooLarge so the caller can say which limit was hit), up to three redirects (relative
 * Location resolved against the current URL), https verified against the system trust store
 * with host name checking and SNI. Documents are fetched rarely and then cached by the caller.
 *
 * The URL comes from a client, so the fetcher must not become a way into the hub's own network
 * (SSRF): the client connects only where the hub's outbound AddressPolicy allows, for the first
 * request and every redirect hop alike, on the addresses it resolved (no second lookup a
 * rebinding DNS server could answer differently). Errors are guarded too: the reasons are coarse
 * ("connection failed", "timed out", "the server answered with an error") and never carry the
 * remote status, body or socket error, which would tell a client what listens where.
 */
#include "ngsild/context_fetch.h"

#include <future>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <fmt/format.h>

#include "net/http_client.h"

namespace cityhub::ngsild {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxRedirects = 3;
// How long the caller waits past the deadline for the I/O thread to report its own timeout.
constexpr auto kReportGrace = std::chrono::milliseconds(50);

Status Failure(std::string reason) { return Status::LdContextNotAvailable(std::move(reason)); }

Status TimedOut(std::chrono::milliseconds budget) {
  return Failure(fmt::format("timed out after {} ms", budget.count()));
}

bool IsRedirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Resolves a Location header value against the URL that returned it.
std::optional<std::string> RedirectTarget(const std::string& current, std::string_view location) {
  auto base = boost::urls::parse_uri(current);
  auto ref = boost::urls::parse_uri_reference(location);
  if (!base || !ref) return std::nullopt;
  boost::urls::url dest;
  if (!boost::urls::resolve(*base, *ref, dest)) return std::nullopt;
  dest.remove_fragment();
  return std::string(dest.buffer());
}

}  // namespace

struct ContextFetcher::Impl {
  std::shared_ptr<const net::AddressPolicy> addresses;
  std::once_flag started;
  std::unique_ptr<net::HttpClient> client;

  net::HttpClient& Client() {
    std::call_once(started, [this] {
      net::HttpClientOptions o;
      o.addresses = addresses;
      o.thread_name = "context-fetch";
      o.purpose = "download";
      o.max_connections_per_origin = 4;
      client = std::make_unique<net::HttpClient>(std::move(o));
    });
    return *client;
  }

  // One GET of `url`, waited for until the deadline.
  Result<net::HttpResponse> Hop(const std::string& url, Clock::time_point deadline, std::chrono::milliseconds budget,
                                size_t max_bytes) {
    net::HttpRequest req;
    req.url = url;
    req.headers = {{"Accept", "application/ld+json, application/json;q=0.9, */*;q=0.1"}};
    req.timeout = budget;
    req.deadline = deadline;
    req.max_response_bytes = max_bytes;
    auto promise = std::make_shared<std::promise<net::HttpOutcome>>();
    std::future<net::HttpOutcome> done = promise->get_future();
    Client().Send(std::move(req), [promise](net::HttpOutcome outcome) { promise->set_value(std::move(outcome)); });
    if (done.wait_until(deadline + kReportGrace) != std::future_status::ready) return TimedOut(budget);
    net::HttpOutcome outcome = done.get();
    if (outcome.ok) return std::move(outcome.response);
    if (outcome.too_large) {
      return Status(Status::Code::kPayloadTooLarge, fmt::format("document is larger than {} bytes", max_bytes));
    }
    if (outcome.timed_out || Clock::now() >= deadline) return TimedOut(budget);
    return Failure(std::move(outcome.error));
  }
};

ContextFetcher::ContextFetcher(std::shared_ptr<const net::AddressPolicy> addresses)
    : impl_(std::make_unique<Impl>()) {
  impl_->addresses = addresses ? std::move(addresses) : std::make_shared<const net::AddressPolicy>();
}
ContextFetcher::~ContextFetcher() = default;

Result<std::string> ContextFetcher::Fetch(std::string_view url, std::chrono::milliseconds timeout,
                                          size_t max_bytes) {
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string current(url);
  for (int redirects = 0;; ++redirects) {
    Result<net::HttpResponse> hop = impl_->Hop(current, deadline, timeout, max_bytes);
    if (!hop.ok()) return hop.status();
    if (IsRedirect(hop->status)) {
      if (redirects == kMaxRedirects) return Failure(fmt::format("more than {} redirects", kMaxRedirects));
      std::optional<std::string> next = RedirectTarget(current, hop->Header("Location"));
      if (!next) return Failure("bad redirect");
      current = std::move(*next);
      continue;
    }
    if (hop->status < 200 || hop->status >= 300) return Failure("the server answered with an error");
    return std::move(hop->body);
  }
}

}  // namespace cityhub::ngsild
