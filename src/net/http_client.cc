/* Outbound HTTP/1.1 requests.
 *
 * Design. The hub talks to a few servers over and over — a subscriber's receiver, a federated
 * hub — so the cost that matters is the connection: every request first takes an idle
 * kept-alive connection to its origin (scheme, host, port) from the origin's pool, and only
 * connects when there is none and the origin has fewer than max_connections_per_origin open;
 * otherwise it waits in the origin's queue until one comes free. A kept-alive connection the
 * server has meanwhile closed fails on first use; such a request is repeated once on a fresh
 * connection (the usual HTTP/1.1 client rule), unless the caller turned that off.
 *
 * All I/O runs as C++20 coroutines on one io_context with one thread owned by the client, so
 * the pools need no lock: they are only touched on that thread. Callers post and return at
 * once; the outcome comes back through their callback. Every phase has a deadline: resolve,
 * connect and TLS handshake together within connect_timeout, writing the request and reading
 * the answer within the request's timeout, and all of it, queueing included, within the
 * request's absolute deadline when it has one. A black-hole server costs its own requests one
 * timeout each and nothing else.
 *
 * The URL may come from a client of the hub (a subscription's endpoint, a registration's), so
 * the client must not become a way into the hub's own network (SSRF): the host is resolved once
 * and only the resolved addresses the outbound policy allows are connected to (no second lookup
 * a rebinding DNS server could answer differently). When it allows none the request fails with
 * the one reason every refused address gets, without a connection attempt. Redirects are not
 * followed, so an allowed server cannot point the hub elsewhere. https is verified against the
 * system trust store (and the operator's CA file) with host name checking and SNI.
 */
#include "net/http_client.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
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

namespace cityhub::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Target = util::HttpTarget;

constexpr auto kAwaitTuple = asio::as_tuple(asio::use_awaitable);
// Room for each read of an answer (see WriteRead).
constexpr size_t kReadBufferBytes = 64 * 1024;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// A header name is an RFC 9110 token; a value has no control characters (no header injection).
bool ValidHeader(std::string_view name, std::string_view value) {
  if (!util::IsHttpToken(name)) return false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 32 && c != '\t') || u == 127) return false;
  }
  return true;
}

bool ClientOwned(std::string_view name) {
  return EqualsIgnoreCase(name, "host") || EqualsIgnoreCase(name, "content-length") ||
         EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "transfer-encoding");
}

HttpOutcome Failure(std::string error, bool timed_out = false) {
  HttpOutcome out;
  out.error = std::move(error);
  out.timed_out = timed_out;
  return out;
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

using Message = http::request<http::string_body>;

// The request as it goes on the wire; nullopt with *error for an unknown method.
std::optional<Message> BuildMessage(const Target& t, HttpRequest& r, std::string* error) {
  const http::verb verb = http::string_to_verb(r.method);
  if (verb == http::verb::unknown) {
    *error = fmt::format("unsupported HTTP method '{}'", r.method.substr(0, 32));
    return std::nullopt;
  }
  Message req{verb, t.path, 11};
  req.set(http::field::host, t.authority);
  req.set(http::field::user_agent, "cityhub");
  for (const auto& [name, value] : r.headers) {
    if (ValidHeader(name, value) && !ClientOwned(name)) req.set(name, value);
  }
  req.keep_alive(true);
  const bool has_body = !r.body.empty() || verb == http::verb::post || verb == http::verb::put ||
                        verb == http::verb::patch;
  req.body() = std::move(r.body);
  if (has_body) req.prepare_payload();
  return req;
}

// A request not started yet.
struct Job {
  HttpRequest request;
  std::function<void(HttpOutcome)> done;
};

// The connections to one scheme://host:port.
struct Origin {
  std::vector<Connection> idle;
  size_t open = 0;          // idle + in use
  std::deque<Job> waiting;  // requests waiting for a connection
};

Clock::time_point Earliest(Clock::time_point a, const std::optional<Clock::time_point>& b) {
  return b && *b < a ? *b : a;
}

}  // namespace

std::string_view HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

struct HttpClient::Impl {
  HttpClientOptions options;
  ssl::context tls{ssl::context::tls_client};
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::thread thread;
  std::map<std::string, Origin> origins;  // touched on the I/O thread only
  std::set<std::string> refused_hosts;    // already logged (I/O thread only; bounded)

  // Starts the request, or queues it while its origin has no connection to spare.
  void StartOrQueue(Job job) {
    if (job.request.deadline && Clock::now() >= *job.request.deadline) {
      job.done(Failure("timed out waiting for a connection", true));
      return;
    }
    std::string error;
    std::optional<Target> target = util::ParseHttpTarget(job.request.url, &error);
    if (!target) {
      job.done(Failure(error));
      return;
    }
    std::string key = target->Origin();
    Origin& origin = origins[key];
    if (origin.idle.empty() && origin.open >= options.max_connections_per_origin) {
      origin.waiting.push_back(std::move(job));
      return;
    }
    asio::co_spawn(io, Exchange(std::move(*target), std::move(job.request)),
                   [this, done = std::move(job.done), key = std::move(key)](std::exception_ptr failure,
                                                                            HttpOutcome outcome) {
                     if (failure) outcome = Failure("internal error while sending");
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
  asio::awaitable<std::optional<Connection>> Acquire(const Target& t, Clock::time_point deadline, bool* reused,
                                                     std::string* reason, bool* timed_out) {
    Origin& origin = origins[t.Origin()];
    if (!origin.idle.empty()) {
      Connection c = std::move(origin.idle.back());
      origin.idle.pop_back();
      *reused = true;
      co_return c;
    }
    *reused = false;
    ++origin.open;
    std::optional<Connection> c = co_await Connect(t, deadline, reason, timed_out);
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

  asio::awaitable<std::optional<Connection>> Connect(const Target& t, Clock::time_point deadline, std::string* reason,
                                                     bool* timed_out) {
    auto executor = co_await asio::this_coro::executor;
    auto resolver = std::make_shared<tcp::resolver>(executor);
    asio::steady_timer guard(executor, deadline);
    guard.async_wait([resolver](beast::error_code ec) {
      if (!ec) resolver->cancel();
    });
    auto [resolve_ec, endpoints] = co_await resolver->async_resolve(t.host, t.port, kAwaitTuple);
    guard.cancel();
    if (resolve_ec) {
      *timed_out = Clock::now() >= deadline;
      *reason = *timed_out ? "timed out resolving the host" : "host name not resolved";
      co_return std::nullopt;
    }
    std::vector<tcp::endpoint> allowed = AllowedEndpoints(*options.addresses, endpoints);
    if (allowed.empty()) {
      LogRefused(t.host, endpoints);
      *reason = std::string(kAddressRefused);
      co_return std::nullopt;
    }
    auto plain = std::make_unique<PlainStream>(executor);
    plain->expires_at(deadline);
    auto [connect_ec, ep] = co_await plain->async_connect(allowed, kAwaitTuple);
    if (connect_ec) {
      *timed_out = connect_ec == beast::error::timeout;
      *reason = *timed_out ? "timed out connecting" : "connection failed";
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
      *timed_out = handshake_ec == beast::error::timeout;
      *reason = *timed_out ? "timed out in the TLS handshake" : "TLS handshake failed";
      co_return std::nullopt;
    }
    co_return Connection{std::move(secure)};
  }

  // Tells the operator, once per host, which address the policy refused and why (the caller
  // only learns that it was refused; no payload is logged).
  void LogRefused(const std::string& host, const tcp::resolver::results_type& resolved) {
    if (refused_hosts.size() >= 1024) refused_hosts.clear();
    if (!refused_hosts.insert(host).second) return;
    const IpAddress first = FromAsio(resolved.begin()->endpoint().address());
    spdlog::warn("{} to host '{}' refused: {} is a {} address, not allowed by the outbound policy "
                 "(--outbound-allow)", options.purpose, host.substr(0, 200), first.ToString(),
                 AddressPolicy::SpecialRange(first).value_or("special-purpose"));
  }

  // Writes `req` and reads the answer on `stream`; the error, if any, in *ec.
  template <class Stream>
  static asio::awaitable<std::optional<http::response<http::string_body>>> WriteRead(
      Stream& stream, beast::tcp_stream& lowest, const Message& req, Clock::time_point deadline,
      size_t max_bytes, beast::error_code* ec) {
    lowest.expires_at(deadline);
    auto [write_ec, written] = co_await http::async_write(stream, req, kAwaitTuple);
    if (write_ec) {
      *ec = write_ec;
      co_return std::nullopt;
    }
    // Beast reads at most what the buffer has room for, and the body parser empties it after
    // each read: a buffer left at its initial 512 bytes would take hundreds of reads (and as many
    // wake-ups) for a 100 KB answer.
    beast::flat_buffer buffer;
    buffer.reserve(kReadBufferBytes);
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_bytes);
    lowest.expires_at(deadline);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kAwaitTuple);
    if (read_ec) {
      *ec = read_ec;
      co_return std::nullopt;
    }
    co_return parser.release();
  }

  static HttpResponse ToResponse(http::response<http::string_body>&& res) {
    HttpResponse out;
    out.status = res.result_int();
    for (const auto& field : res) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = std::move(res.body());
    return out;
  }

  asio::awaitable<HttpOutcome> Exchange(Target target, HttpRequest request) {
    const std::string origin = target.Origin();
    const size_t max_bytes = request.max_response_bytes;
    const auto timeout = request.timeout;
    const auto overall = request.deadline;
    const bool retry = request.retry_stale_connection;
    std::string error;
    const std::optional<Message> req = BuildMessage(target, request, &error);
    if (!req) co_return Failure(error);
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = false;
      bool timed_out = false;
      std::optional<Connection> conn =
          co_await Acquire(target, Earliest(Clock::now() + options.connect_timeout, overall), &reused, &error, &timed_out);
      if (!conn) co_return Failure(error, timed_out);
      const Clock::time_point deadline = Earliest(Clock::now() + timeout, overall);
      beast::error_code ec;
      std::optional<http::response<http::string_body>> res;
      if (conn->stream.index() == 0) {
        res = co_await WriteRead(*std::get<0>(conn->stream), conn->lowest(), *req, deadline, max_bytes, &ec);
      } else {
        res = co_await WriteRead(*std::get<1>(conn->stream), conn->lowest(), *req, deadline, max_bytes, &ec);
      }
      if (!res) {
        Release(origin, std::move(conn), false);
        if (ec == http::error::body_limit) {
          HttpOutcome out = Failure(fmt::format("answer larger than {} bytes", max_bytes));
          out.too_large = true;
          co_return out;
        }
        if (ec == beast::error::timeout) co_return Failure("timed out waiting for the answer", true);
        if (reused && retry) continue;  // a stale kept-alive connection
        co_return Failure("connection failed");
      }
      Release(origin, std::move(conn), res->keep_alive());
      HttpOutcome out;
      out.ok = true;
      out.response = ToResponse(std::move(*res));
      co_return out;
    }
    co_return Failure("connection failed");
  }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (!impl_->options.addresses) impl_->options.addresses = std::make_shared<const AddressPolicy>();
  boost::system::error_code ignored;  // without a trust store, https fails verification
  impl_->tls.set_default_verify_paths(ignored);
  if (!impl_->options.ca_file.empty()) impl_->tls.load_verify_file(impl_->options.ca_file, ignored);
  impl_->keep_running.emplace(impl_->io.get_executor());
  impl_->thread = std::thread([im = impl_.get()] {
    util::NameThisThread(im->options.thread_name);
    im->io.run();
  });
}

HttpClient::~HttpClient() {
  impl_->keep_running.reset();
  impl_->io.stop();
  impl_->thread.join();
}

void HttpClient::Send(HttpRequest request, std::function<void(HttpOutcome)> done) {
  asio::post(impl_->io, [im = impl_.get(), job = Job{std::move(request), std::move(done)}]() mutable {
    im->StartOrQueue(std::move(job));
  });
}

}  // namespace cityhub::net
