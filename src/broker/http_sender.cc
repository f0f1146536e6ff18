/* HTTP notification delivery.
 *
 * Design. Notifications go to a few endpoints over and over, so the cost that matters is the
 * connection: every send first takes an idle kept-alive connection to the endpoint's origin
 * (scheme, host, port) from its pool, and only connects when there is none and the origin has
 * fewer than max_connections_per_origin open; otherwise the send waits in the origin's queue
 * until a connection comes free (a thousand subscriptions to one receiver share a few kept-alive
 * connections instead of opening and closing one per notification). A kept-alive
 * connection the receiver has meanwhile closed fails on first use; that send is repeated once on
 * a fresh connection, which is the usual HTTP/1.1 client rule for idempotent-enough retries (a
 * receiver may see the notification twice, which at-least-once delivery allows).
 *
 * All I/O runs as C++20 coroutines on one io_context with one thread owned by the sender, so the
 * pool needs no lock: it is only touched on that thread. Callers post and return at once; the
 * outcome comes back through their callback. Every phase has a deadline: resolve, connect and
 * TLS handshake together within connect_timeout, writing the request and reading the answer
 * within response_timeout, so a black-hole receiver costs its own subscription one timeout per
 * attempt and nothing else.
 *
 * The endpoint comes from a subscriber, so the sender must not become a way into the hub's own
 * network (SSRF): the host is resolved once and only the resolved addresses the outbound policy
 * allows are connected to (no second lookup a rebinding DNS server could answer differently).
 * When it allows none the send fails with the one reason every refused address gets, without a
 * connection attempt, so a subscription's status cannot tell a closed port from an open one
 * there. Receivers are the city's own services as often as the Internet: the operator opens
 * their networks with --outbound-allow. Redirects are not followed (a 3xx is a failed
 * delivery), so an allowed receiver cannot point the hub elsewhere. receiverInfo headers the
 * EndpointPolicy does not allow are left out here too, for subscriptions stored before a rule
 * changed. https is verified against the system trust store with host name checking.
 */
#include "broker/http_sender.h"

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include "net/asio_address.h"
#include "util/http_syntax.h"
#include "util/thread_name.h"

namespace cityhub::broker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kAwaitTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxResponseBody = 64 << 10;  // answers are read and discarded

using Target = util::HttpTarget;

// A header name is an RFC 9110 token; a value has no control characters (no header injection).
bool ValidHeader(std::string_view name, std::string_view value) {
  if (!util::IsHttpToken(name)) return false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 32 && c != '\t') || u == 127) return false;
  }
  return true;
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection to an origin, plain or TLS.
struct Connection {
  std::variant<std::unique_ptr<PlainStream>, std::unique_ptr<TlsStream>> stream;
  beast::tcp_stream& lowest() {
    return stream.index() == 0 ? *std::get<0>(stream) : beast::get_lowest_layer(*std::get<1>(stream));
  }
};

http::request<http::string_body> BuildRequest(const Target& t, OutgoingNotification& n, const EndpointPolicy& rules) {
  http::request<http::string_body> req{http::verb::post, t.path, 11};
  req.set(http::field::host, t.authority);
  req.set(http::field::user_agent, "cityhub");
  req.set(http::field::content_type, n.content_type);
  if (!n.link.empty()) req.set(http::field::link, n.link);
  if (!n.tenant.empty()) req.set("NGSILD-Tenant", n.tenant);
  for (const auto& [name, value] : n.receiver_info) {
    if (ValidHeader(name, value) && rules.HeaderAllowed(name)) req.set(name, value);
  }
  req.keep_alive(true);
  req.body() = std::move(n.body);
  req.prepare_payload();
  return req;
}

// A send not started yet.
struct Job {
  OutgoingNotification n;
  std::function<void(DeliveryOutcome)> done;
};

// The connections to one scheme://host:port.
struct Origin {
  std::vector<Connection> idle;
  size_t open = 0;          // idle + in use
  std::deque<Job> waiting;  // sends waiting for a connection
};

}  // namespace

struct HttpSender::Impl {
  HttpSenderOptions options;
  ssl::context tls{ssl::context::tls_client};
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::thread thread;
  std::map<std::string, Origin> origins;  // touched on the I/O thread only
  std::set<std::string> refused_hosts;    // already logged (I/O thread only; bounded)

  // Starts the send, or queues it while its origin has no connection to spare.
  void StartOrQueue(Job job) {
    std::string error;
    std::optional<Target> target = util::ParseHttpTarget(job.n.uri, &error);
    if (!target) {
      job.done(DeliveryOutcome{false, error});
      return;
    }
    std::string key = target->Origin();
    Origin& origin = origins[key];
    if (origin.idle.empty() && origin.open >= options.max_connections_per_origin) {
      origin.waiting.push_back(std::move(job));
      return;
    }
    asio::co_spawn(io, Deliver(std::move(*target), std::move(job.n)),
                   [this, done = std::move(job.done), key = std::move(key)](std::exception_ptr failure,
                                                                            DeliveryOutcome outcome) {
                     if (failure) outcome = DeliveryOutcome{false, "internal error while sending"};
                     done(std::move(outcome));
                     Origin& o = origins[key];
                     if (!o.waiting.empty() && (!o.idle.empty() || o.open < options.max_connections_per_origin)) {
                       Job next = std::move(o.waiting.front());
                       o.waiting.pop_front();
                       StartOrQueue(std::move(next));
                     }
                   });
  }

  // An idle connection of the origin, or a fresh one (counted as open from here on); nullopt
  // with *reason when connecting failed.
  asio::awaitable<std::optional<Connection>> Acquire(const Target& t, bool* reused, std::string* reason) {
    Origin& origin = origins[t.Origin()];
    if (!origin.idle.empty()) {
      Connection c = std::move(origin.idle.back());
      origin.idle.pop_back();
      *reused = true;
      co_return c;
    }
    *reused = false;
    ++origin.open;
    std::optional<Connection> c = co_await Connect(t, reason);
    if (!c) --origins[t.Origin()].open;
    co_return c;
  }

  // Gives a connection back to its origin's pool (`keep`) or closes it.
  void Release(const std::string& key, std::optional<Connection> c, bool keep) {
    Origin& origin = origins[key];
    if (c && keep) {
      origin.idle.push_back(std::move(*c));
    } else {
      --origin.open;
    }
  }

  asio::awaitable<std::optional<Connection>> Connect(const Target& t, std::string* reason) {
    auto executor = co_await asio::this_coro::executor;
    const Clock::time_point deadline = Clock::now() + options.connect_timeout;
    auto resolver = std::make_shared<tcp::resolver>(executor);
    asio::steady_timer guard(executor, deadline);
    guard.async_wait([resolver](beast::error_code ec) {
      if (!ec) resolver->cancel();
    });
    auto [resolve_ec, endpoints] = co_await resolver->async_resolve(t.host, t.port, kAwaitTuple);
    guard.cancel();
    if (resolve_ec) {
      *reason = Clock::now() >= deadline ? "timed out resolving the host" : "host name not resolved";
      co_return std::nullopt;
    }
    std::vector<tcp::endpoint> allowed = net::AllowedEndpoints(options.endpoints->addresses(), endpoints);
    if (allowed.empty()) {
      LogRefused(t.host, endpoints);
      *reason = std::string(net::kAddressRefused);
      co_return std::nullopt;
    }
    auto plain = std::make_unique<PlainStream>(executor);
    plain->expires_at(deadline);
    auto [connect_ec, ep] = co_await plain->async_connect(allowed, kAwaitTuple);
    if (connect_ec) {
      *reason = connect_ec == beast::error::timeout ? "timed out connecting" : "connection failed";
      co_return std::nullopt;
    }
    plain->socket().set_option(tcp::no_delay(true));
    if (!t.tls) co_return Connection{std::move(plain)};
    auto secure = std::make_unique<TlsStream>(std::move(*plain), tls);
    if (!SSL_set_tlsext_host_name(secure->native_handle(), t.host.c_str())) {
      *reason = "cannot set the TLS server name";
      co_return std::nullopt;
    }
    secure->set_verify_mode(ssl::verify_peer);
    secure->set_verify_callback(ssl::host_name_verification(t.host));
    beast::get_lowest_layer(*secure).expires_at(deadline);
    auto [handshake_ec] = co_await secure->async_handshake(ssl::stream_base::client, kAwaitTuple);
    if (handshake_ec) {
      *reason = handshake_ec == beast::error::timeout ? "timed out in the TLS handshake" : "TLS handshake failed";
      co_return std::nullopt;
    }
    co_return Connection{std::move(secure)};
  }

  // Tells the operator, once per host, which address the policy refused and why (the
  // subscription's status only says that it was refused; no payload is logged).
  void LogRefused(const std::string& host, const tcp::resolver::results_type& resolved) {
    if (refused_hosts.size() >= 1024) refused_hosts.clear();
    if (!refused_hosts.insert(host).second) return;
    const net::IpAddress first = net::FromAsio(resolved.begin()->endpoint().address());
    spdlog::warn("notification to host '{}' refused: {} is a {} address, not allowed by the outbound policy "
                 "(--outbound-allow)", host.substr(0, 200), first.ToString(),
                 net::AddressPolicy::SpecialRange(first).value_or("special-purpose"));
  }

  // Writes `req` and reads the answer on `c`; the error, if any, in *ec.
  template <class Stream>
  static asio::awaitable<std::optional<http::response<http::string_body>>> Exchange(
      Stream& stream, beast::tcp_stream& lowest, const http::request<http::string_body>& req,
      Clock::time_point deadline, beast::error_code* ec) {
    lowest.expires_at(deadline);
    auto [write_ec, written] = co_await http::async_write(stream, req, kAwaitTuple);
    if (write_ec) {
      *ec = write_ec;
      co_return std::nullopt;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    lowest.expires_at(deadline);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kAwaitTuple);
    if (read_ec) {
      *ec = read_ec;
      co_return std::nullopt;
    }
    co_return parser.release();
  }

  asio::awaitable<DeliveryOutcome> Deliver(Target target, OutgoingNotification n) {
    const std::string origin = target.Origin();
    const std::chrono::milliseconds timeout = n.timeout;
    const http::request<http::string_body> req = BuildRequest(target, n, *options.endpoints);
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = false;
      std::string reason;
      std::optional<Connection> conn = co_await Acquire(target, &reused, &reason);
      if (!conn) co_return DeliveryOutcome{false, reason};
      const Clock::time_point deadline = Clock::now() + (timeout.count() > 0 ? timeout : options.response_timeout);
      beast::error_code ec;
      std::optional<http::response<http::string_body>> res;
      if (conn->stream.index() == 0) {
        res = co_await Exchange(*std::get<0>(conn->stream), conn->lowest(), req, deadline, &ec);
      } else {
        res = co_await Exchange(*std::get<1>(conn->stream), conn->lowest(), req, deadline, &ec);
      }
      if (!res) {
        Release(origin, std::move(conn), false);
        if (reused && ec != beast::error::timeout) continue;  // a stale kept-alive connection
        co_return DeliveryOutcome{false, ec == beast::error::timeout ? "timed out waiting for the answer"
                                                                     : "connection failed"};
      }
      Release(origin, std::move(conn), res->keep_alive());
      const unsigned status = res->result_int();
      if (status >= 200 && status < 300) co_return DeliveryOutcome{true, {}};
      co_return DeliveryOutcome{false, fmt::format("HTTP {}", status)};
    }
    co_return DeliveryOutcome{false, "connection failed"};
  }
};

HttpSender::HttpSender(HttpSenderOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (!impl_->options.endpoints) impl_->options.endpoints = std::make_shared<const EndpointPolicy>();
  boost::system::error_code ignored;  // without a trust store, https fails verification
  impl_->tls.set_default_verify_paths(ignored);
  if (!options.ca_file.empty()) impl_->tls.load_verify_file(options.ca_file, ignored);
  impl_->keep_running.emplace(impl_->io.get_executor());
  impl_->thread = std::thread([this] {
    util::NameThisThread("notify-http");
    impl_->io.run();
  });
}

HttpSender::~HttpSender() {
  impl_->keep_running.reset();
  impl_->io.stop();
  impl_->thread.join();
}

void HttpSender::Send(OutgoingNotification n, std::function<void(DeliveryOutcome)> done) {
  asio::post(impl_->io, [im = impl_.get(), job = Job{std::move(n), std::move(done)}]() mutable {
    im->StartOrQueue(std::move(job));
  });
}

}  // namespace cityhub::broker
