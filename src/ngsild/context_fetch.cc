/* Remote @context download: a deadline-bound HTTP/1.1 GET client.
 *
 * Design. A request that names an unknown @context URL has to wait for it, so the one property
 * that matters is that the wait is bounded: a dead, slow or trickling server must cost at most
 * the configured timeout, whatever phase it stalls in. Each fetch therefore gets one absolute
 * deadline that every phase (name resolution, connect, TLS handshake, write, read, and every
 * redirect hop) is measured against, instead of a per-operation timeout that a server could
 * restart by sending a byte at a time.
 *
 * The I/O runs as a C++20 coroutine on one io_context with one background thread owned by the
 * fetcher, started on first use. The calling thread only waits on a future, again bounded by the
 * deadline. That split is deliberate: Asio resolves host names with a blocking getaddrinfo on a
 * helper thread that cannot be interrupted, so a caller running its own io_context would be held
 * hostage by a slow DNS server. Here the caller gives up at the deadline and the stuck lookup
 * finishes in the background. The cost is one idle thread per fetcher, which is cheap because
 * the hub owns one resolver.
 *
 * Scope: GET only, "Connection: close", body read whole into memory with a hard size limit
 * (reported apart as PayloadTooLarge so the caller can say which limit was hit), up to three
 * redirects (relative Location resolved against the current URL), https verified against the
 * system trust store with host name checking and SNI. No keep-alive or connection reuse: context
 * documents are fetched rarely and then cached by the caller.
 *
 * The URL comes from a client, so the fetcher must not become a way into the hub's own network
 * (SSRF): it connects only where the hub's outbound AddressPolicy allows. The check sits after name resolution, on the addresses actually connected to, for the
 * first request and every redirect hop alike: a public host name that resolves to 127.0.0.1 or
 * 10.x is refused just like the literal address, and since the connection uses exactly the
 * checked list, there is no second lookup a rebinding DNS server could answer differently. Of a
 * mixed answer only the allowed addresses are tried. Errors are equally guarded: the reasons are
 * coarse ("connection failed", "timed out", "the server answered with an error") and never carry
 * the remote status, body or socket error, which would tell a client what listens where.
 */
#include "ngsild/context_fetch.h"

#include <algorithm>
#include <cstdint>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <fmt/format.h>

#include "net/asio_address.h"
#include "util/http_syntax.h"
#include "util/thread_name.h"

namespace cityhub::ngsild {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr int kMaxRedirects = 3;
constexpr auto kAwaitTuple = asio::as_tuple(asio::use_awaitable);
// How long the caller waits past the deadline for the I/O thread to report its own timeout.
constexpr auto kReportGrace = std::chrono::milliseconds(50);

struct Deadline {
  Clock::time_point at;
  std::chrono::milliseconds budget;
};

// What every hop of one fetch needs besides its URL.
struct FetchJob {
  size_t max_bytes = 0;
  Deadline dl;
  const net::AddressPolicy* addresses = nullptr;  // where it may connect
  ssl::context* tls = nullptr;
};

using Target = util::HttpTarget;

// What one fetch or one hop produced; default-constructible as co_spawn requires.
struct Outcome {
  Status status;
  unsigned http_status = 0;
  std::string location;
  std::string body;
};

Outcome WithStatus(Status status) {
  Outcome out;
  out.status = std::move(status);
  return out;
}

Outcome Failure(std::string reason) {
  return WithStatus(Status::LdContextNotAvailable(std::move(reason)));
}

// Reports an I/O error as `reason`, or as a timeout once the deadline has passed (Beast reports
// a timeout on its stream, cancelled name resolution reports "operation aborted").
Outcome IoFailure(std::string_view reason, const beast::error_code& ec, const Deadline& dl) {
  if (ec == beast::error::timeout || Clock::now() >= dl.at) {
    return Failure(fmt::format("timed out after {} ms", dl.budget.count()));
  }
  return Failure(std::string(reason));
}

// Sends the GET over a connected (and, for https, handshaken) stream and reads the answer.
template <class Stream>
asio::awaitable<Outcome> Exchange(Stream& stream, const Target& t, const FetchJob& job) {
  const size_t max_bytes = job.max_bytes;
  const Deadline& dl = job.dl;
  http::request<http::empty_body> req{http::verb::get, t.path, 11};
  req.set(http::field::host, t.authority);
  req.set(http::field::accept, "application/ld+json, application/json;q=0.9, */*;q=0.1");
  req.set(http::field::user_agent, "cityhub");
  req.set(http::field::connection, "close");

  beast::get_lowest_layer(stream).expires_at(dl.at);
  auto [write_ec, written] = co_await http::async_write(stream, req, kAwaitTuple);
  if (write_ec) co_return IoFailure("connection failed", write_ec, dl);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_bytes);
  beast::get_lowest_layer(stream).expires_at(dl.at);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kAwaitTuple);
  if (read_ec == http::error::body_limit) {
    co_return WithStatus(Status(Status::Code::kPayloadTooLarge,
                                fmt::format("document is larger than {} bytes", max_bytes)));
  }
  if (read_ec) co_return IoFailure("connection failed", read_ec, dl);

  auto& res = parser.get();
  Outcome out;
  out.http_status = res.result_int();
  out.location = std::string(res[http::field::location]);
  out.body = std::move(res.body());
  co_return out;
}

// One request/response to `t`, on a fresh connection to an allowed address.
asio::awaitable<Outcome> Hop(Target t, const FetchJob& job) {
  auto executor = co_await asio::this_coro::executor;
  const Deadline& dl = job.dl;

  // The guard's handler may run after this frame is gone, so it shares the resolver.
  auto resolver = std::make_shared<tcp::resolver>(executor);
  asio::steady_timer resolve_guard(executor, dl.at);
  resolve_guard.async_wait([resolver](beast::error_code ec) {
    if (!ec) resolver->cancel();
  });
  auto [resolve_ec, endpoints] = co_await resolver->async_resolve(t.host, t.port, kAwaitTuple);
  resolve_guard.cancel();
  if (resolve_ec) co_return IoFailure("host name not resolved", resolve_ec, dl);
  std::vector<tcp::endpoint> allowed = net::AllowedEndpoints(*job.addresses, endpoints);
  if (allowed.empty()) co_return Failure(std::string(net::kAddressRefused));

  beast::tcp_stream tcp_stream(executor);
  tcp_stream.expires_at(dl.at);
  auto [connect_ec, endpoint] = co_await tcp_stream.async_connect(allowed, kAwaitTuple);
  if (connect_ec) co_return IoFailure("connection failed", connect_ec, dl);

  if (!t.tls) co_return co_await Exchange(tcp_stream, t, job);

  beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(tcp_stream), *job.tls);
  if (!SSL_set_tlsext_host_name(tls_stream.native_handle(), t.host.c_str())) {
    co_return Failure("cannot set TLS server name");
  }
  tls_stream.set_verify_mode(ssl::verify_peer);
  tls_stream.set_verify_callback(ssl::host_name_verification(t.host));
  beast::get_lowest_layer(tls_stream).expires_at(dl.at);
  auto [handshake_ec] = co_await tls_stream.async_handshake(ssl::stream_base::client, kAwaitTuple);
  if (handshake_ec) co_return IoFailure("TLS handshake failed", handshake_ec, dl);
  co_return co_await Exchange(tls_stream, t, job);
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

asio::awaitable<Outcome> FetchWithRedirects(std::string url, FetchJob job) {
  for (int redirects = 0;; ++redirects) {
    std::string error;
    std::optional<Target> target = util::ParseHttpTarget(url, &error);
    if (!target) co_return Failure(error);
    Outcome hop = co_await Hop(std::move(*target), job);
    if (!hop.status.ok()) co_return hop;
    if (IsRedirect(hop.http_status)) {
      if (redirects == kMaxRedirects) {
        co_return Failure(fmt::format("more than {} redirects", kMaxRedirects));
      }
      std::optional<std::string> next = RedirectTarget(url, hop.location);
      if (!next) co_return Failure("bad redirect");
      url = std::move(*next);
      continue;
    }
    if (hop.http_status < 200 || hop.http_status >= 300) {
      co_return Failure("the server answered with an error");
    }
    co_return hop;
  }
}

}  // namespace

struct ContextFetcher::Impl {
  std::shared_ptr<const net::AddressPolicy> addresses;
  ssl::context tls{ssl::context::tls_client};  // outlives io: pending fetches refer to it
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::thread thread;
  std::once_flag started;

  void StartOnce() {
    std::call_once(started, [this] {
      boost::system::error_code ignored;  // without a trust store, https fails verification
      tls.set_default_verify_paths(ignored);
      keep_running.emplace(io.get_executor());
      thread = std::thread([this] {
        util::NameThisThread("context-fetch");
        io.run();
      });
    });
  }

  ~Impl() {
    if (!thread.joinable()) return;
    keep_running.reset();
    io.stop();
    thread.join();
  }
};

ContextFetcher::ContextFetcher(std::shared_ptr<const net::AddressPolicy> addresses)
    : impl_(std::make_unique<Impl>()) {
  impl_->addresses = addresses ? std::move(addresses) : std::make_shared<const net::AddressPolicy>();
}
ContextFetcher::~ContextFetcher() = default;

Result<std::string> ContextFetcher::Fetch(std::string_view url, std::chrono::milliseconds timeout,
                                          size_t max_bytes) {
  impl_->StartOnce();
  const Deadline dl{Clock::now() + timeout, timeout};
  auto promise = std::make_shared<std::promise<Outcome>>();
  std::future<Outcome> done = promise->get_future();
  const FetchJob job{max_bytes, dl, impl_->addresses.get(), &impl_->tls};
  asio::co_spawn(impl_->io, FetchWithRedirects(std::string(url), job),
                 [promise](std::exception_ptr failure, Outcome outcome) {
                   if (failure) outcome = Failure("internal error while fetching");
                   promise->set_value(std::move(outcome));
                 });
  if (done.wait_until(dl.at + kReportGrace) != std::future_status::ready) {
    return Status::LdContextNotAvailable(fmt::format("timed out after {} ms", timeout.count()));
  }
  Outcome outcome = done.get();
  if (!outcome.status.ok()) return outcome.status;
  return std::move(outcome.body);
}

}  // namespace cityhub::ngsild
