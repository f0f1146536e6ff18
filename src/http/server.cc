// Server: HTTP/1.1 on Boost.Beast, one Connection object per accepted socket.
//
// Threads. `io_threads` threads run one io_context. Every connection owns a strand, so its
// socket, timer and state are touched by one thread at a time without locks. A parsed request
// is handed to a pool of `worker_threads` threads because handlers may block on a durable store
// write (and many blocked writers are what lets RocksDB group their WAL syncs); the response is
// posted back to the connection's strand and written there. That hop costs two context
// switches per request, so a request `runs_inline` picks (and every request with
// `worker_threads = 0`) is handled on the I/O thread instead: the fastest choice for handlers that
// never block (a read served from memory, benchmarks), and a poor one for durable writes, since a
// blocked handler stalls every connection of its I/O thread.
//
// A connection serves one request at a time: wait for the first byte (idle_timeout), read the
// header and body (request_timeout, one deadline for the whole request — it is not renewed per
// byte, so a client trickling bytes is cut off), run the handler, write the response (bounded by
// idle_timeout so a client that stops reading cannot pin the connection), and go back to
// waiting. Bytes of a pipelined next request stay in the connection's flat_buffer and are
// parsed after the response. One steady_timer per connection serves all deadlines; a
// generation counter makes a timer that fired just as its phase ended harmless.
//
// Limits are enforced by Beast's parser (header_limit, body_limit — the latter checks
// Content-Length as soon as the header is complete and counts chunked bodies as they arrive) and
// answered with a small RFC 7807 body, after which the connection is closed. Closing right after
// an error would make the kernel reset the connection while the client is still sending, and a
// reset can destroy the response before the client reads it, so error closes are "lingering":
// shut down our sending side, discard what still arrives for at most kLingerTimeout, then close.
//
// Connections beyond max_connections are accepted, answered 503 and closed (with the same
// linger), which tells a client what happened instead of leaving it in the listen backlog.
// So are a client's connections beyond max_connections_per_address (a client is an IPv4
// address or an IPv6 /64, util::ClientOf): without that cap one address holding idle
// connections takes every slot and everyone else gets 503 until the idle timeout. Answering
// rather than closing at once costs little — no request is read, the response fits the socket
// buffer, the linger lasts at most kLingerTimeout — and tells a legitimate client behind a busy
// NAT gateway why it was turned away. Rejected connections are not counted against either cap.
// Over TLS, though, an answer needs a handshake first — a private-key operation the flooding
// client could make the server do per connection — so there a client's connections beyond its
// cap are closed at once, before the handshake.
//
// TLS. With a certificate and key configured every connection is TLS over the accepted socket
// (Asio SSL on OpenSSL): TLS 1.2 minimum, 1.3 when the client offers it, forward-secret AEAD
// ciphers only, no compression, no renegotiation. A Transport object hides the difference from
// the HTTP code, which reads and writes the same way over both. The handshake comes first and
// is bounded by request_timeout like a request, so a client that connects and sends nothing, a
// partial ClientHello, or plain HTTP cannot hold a connection. After a final response the
// server sends close_notify and waits for the peer's (or its close) at most kLingerTimeout,
// then closes the TCP connection as above — lingering if the peer may still be sending, on the
// raw socket, since nothing after close_notify needs decrypting. Timeouts, errors and Stop()
// close TLS connections at once, without close_notify.
//
// Shutdown. Stop() only sets a flag and wakes Run(). Run() then closes the acceptor, closes idle
// keep-alive connections, and waits until the remaining connections have written their
// responses (which are marked "Connection: close") or kDrainTimeout passes, after which it
// closes what is left, stops the io_context and joins the threads. A handler still running on
// the pool is waited for: a handler cannot be interrupted, so it must eventually return.

#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <limits>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <openssl/ssl.h>

#include "http/router.h"
#include "util/http_syntax.h"
#include "util/thread_name.h"

namespace cityhub::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr auto kForceCloseGrace = std::chrono::seconds(1);
constexpr auto kLingerTimeout = std::chrono::seconds(1);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr size_t kReadChunk = 4096;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// TLS 1.2 cipher suites: ECDHE key exchange with an AEAD cipher. TLS 1.3's suites are all such.
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

constexpr std::string_view kInvalidRequest = "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest";
constexpr std::string_view kBadRequestData = "https://uri.etsi.org/ngsi-ld/errors/BadRequestData";
constexpr std::string_view kInternalError = "https://uri.etsi.org/ngsi-ld/errors/InternalError";

// A ProblemDetails response. `title` and `detail` are server-written plain text (no quotes or
// backslashes), so they need no JSON escaping.
Response Problem(int status, std::string_view type, std::string_view title,
                 std::string_view detail) {
  Response r;
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body.reserve(96 + type.size() + title.size() + detail.size());
  r.body.append(R"({"type":")").append(type);
  r.body.append(R"(","title":")").append(title);
  r.body.append(R"(","status":)").append(std::to_string(status));
  r.body.append(R"(,"detail":")").append(detail).append(R"("})");
  return r;
}

long long Millis(std::chrono::milliseconds d) { return static_cast<long long>(d.count()); }

// Splits a query string on '&' and each item at its first '='; decodes both halves with '+' as
// space. Returns false on a malformed percent-escape.
bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string name;
    std::string value;
    if (!PercentDecode(item.substr(0, eq), true, &name)) return false;
    if (eq != std::string_view::npos && !PercentDecode(item.substr(eq + 1), true, &value)) {
      return false;
    }
    out->emplace_back(std::move(name), std::move(value));
  }
  return true;
}

bool HasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// Headers the server computes itself; a handler's values for them are ignored.
bool IsFramingHeader(std::string_view name) {
  return HeaderNameEquals(name, "Content-Length") || HeaderNameEquals(name, "Transfer-Encoding") ||
         HeaderNameEquals(name, "Connection");
}

std::string FormatEndpoint(const tcp::endpoint& ep) {
  std::string ip = ep.address().to_string();
  std::string port = std::to_string(ep.port());
  return ep.address().is_v6() ? "[" + ip + "]:" + port : ip + ":" + port;
}

Status TlsFileError(std::string_view what, const std::string& path, const std::string& why) {
  return Status::BadRequestData("TLS " + std::string(what) + " file '" + path + "' " + why);
}

// Builds the server's TLS context from the PEM files named in `o` into `out`. Returns Ok, or
// BadRequestData naming the file that is missing, unreadable, not usable PEM or not matching.
Status MakeTlsContext(const ServerOptions& o, std::optional<ssl::context>* out) {
  if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    return Status::BadRequestData(o.tls_cert_file.empty()
                                      ? "TLS key file '" + o.tls_key_file + "' given without a certificate file"
                                      : "TLS certificate file '" + o.tls_cert_file + "' given without a key file");
  }
  for (const auto& [what, path] : {std::pair{"certificate", &o.tls_cert_file}, {"key", &o.tls_key_file}}) {
    std::FILE* probe = std::fopen(path->c_str(), "rb");
    if (probe == nullptr) {
      return TlsFileError(what, *path, "cannot be read: " + std::generic_category().message(errno));
    }
    std::fclose(probe);
  }
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX* native = ctx.native_handle();
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    return Status::Internal("this OpenSSL offers none of the TLS 1.2 ciphers " + std::string(kTls12Ciphers));
  }
  // OpenSSL would prompt on the terminal for an encrypted key; refuse it instead.
  ctx.set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); });
  error_code ec;
  ctx.use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
  if (ec) return TlsFileError("key", o.tls_key_file, "holds no usable unencrypted PEM private key: " + ec.message());
  ctx.use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec) return TlsFileError("certificate", o.tls_cert_file, "holds no usable PEM certificate chain: " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return TlsFileError("key", o.tls_key_file, "does not match the certificate in '" + o.tls_cert_file + "'");
  }
  out->emplace(std::move(ctx));
  return Status::Ok();
}

using TlsLayer = ssl::stream<tcp::socket&>;

// A connection's byte stream: the accepted TCP socket, or TLS over it. An AsyncReadStream and
// AsyncWriteStream, so the HTTP code reads and writes the same way over both.
class Transport {
 public:
  using executor_type = tcp::socket::executor_type;

  Transport(tcp::socket socket, ssl::context* tls) : socket_(std::move(socket)) {
    if (tls != nullptr) tls_.emplace(socket_, *tls);
  }
  Transport(const Transport&) = delete;  // tls_ refers to socket_
  Transport& operator=(const Transport&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& socket() { return socket_; }
  // The TLS layer, or null on a plain connection.
  TlsLayer* tls() { return tls_ ? &*tls_ : nullptr; }

  template <typename MutableBuffers, typename ReadHandler>
  void async_read_some(const MutableBuffers& buffers, ReadHandler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<ReadHandler>(handler));
    } else {
      socket_.async_read_some(buffers, std::forward<ReadHandler>(handler));
    }
  }

  template <typename ConstBuffers, typename WriteHandler>
  void async_write_some(const ConstBuffers& buffers, WriteHandler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<WriteHandler>(handler));
    } else {
      socket_.async_write_some(buffers, std::forward<WriteHandler>(handler));
    }
  }

 private:
  tcp::socket socket_;
  std::optional<TlsLayer> tls_;
};

class Connection;

// A handler running on this thread (for DeferResponse): its connection, and once it deferred its
// response, whether that was given.
struct HandlerCall {
  Connection* connection;
  std::shared_ptr<std::atomic<bool>> answered;
};
thread_local HandlerCall* t_call = nullptr;

// State shared by the acceptor, the connections and Server::Run(). Declared before the
// io_context in Server::Impl, so it outlives the connections the io_context destroys.
struct Shared {
  Shared(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}

  // Calls `fn` with a strong reference to every live connection.
  template <typename Fn>
  void ForEachConnection(Fn fn);

  const ServerOptions options;
  const Handler handler;
  std::optional<ssl::context> tls;       // set by Listen() if TLS is configured
  asio::thread_pool* workers = nullptr;  // null: handlers run inline on the I/O thread
  std::atomic<bool> stopping{false};
  std::atomic<size_t> served{0};  // connections counted against max_connections

  // Counts a connection of `client` against max_connections_per_address; false (nothing
  // counted) when the client already holds that many.
  bool TakeClientSlot(const std::string& client) {
    const size_t cap = options.limits.max_connections_per_address;
    if (cap == 0) return true;
    std::lock_guard lock(clients_mu);
    size_t& held = per_client[client];
    if (held >= cap) return false;
    ++held;
    return true;
  }
  void ReleaseClientSlot(const std::string& client) {
    if (options.limits.max_connections_per_address == 0) return;
    std::lock_guard lock(clients_mu);
    auto it = per_client.find(client);
    if (it != per_client.end() && --it->second == 0) per_client.erase(it);
  }

  std::mutex clients_mu;
  std::unordered_map<std::string, size_t> per_client;  // counted connections by ClientOf; guarded by clients_mu

  std::mutex mu;
  std::condition_variable cv;          // signalled on stop request, when the last connection ends
                                       // and when the last deferred response is answered
  bool stop_requested = false;         // guarded by mu
  // Responders (DeferResponse) not yet answered or dropped, guarded by mu. Run() waits for them
  // without a time limit, as for a handler on a worker: what answers them (a commit thread)
  // refers to the connections, so they must not outlive the server.
  size_t deferred = 0;
  std::unordered_set<Connection*> connections;  // guarded by mu
};

// One accepted socket. Thread-compatible: every member function runs on the connection's strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Whether the connection is served, or rejected (answered 503) for which cap. A served
  // connection is counted in `served` and its client's slots; a rejected one in neither.
  enum class Admission { kServed, kOverTotal, kOverClient };

  Connection(Shared& shared, tcp::socket socket, std::string remote, std::string client, Admission admission)
      : shared_(shared), stream_(std::move(socket), shared.tls ? &*shared.tls : nullptr),
        timer_(stream_.get_executor()), remote_(std::move(remote)), client_(std::move(client)),
        admission_(admission) {}

  ~Connection() {
    if (admission_ == Admission::kServed) {
      shared_.served.fetch_sub(1);
      shared_.ReleaseClientSlot(client_);
    }
    std::lock_guard lock(shared_.mu);
    shared_.connections.erase(this);
    if (shared_.connections.empty()) shared_.cv.notify_all();
  }

  Transport::executor_type executor() { return stream_.get_executor(); }

  // Completes the TLS handshake if the server speaks TLS, then serves requests until the peer
  // or a limit closes the connection — or, if rejected, answers 503 and closes (over TLS, a
  // connection over its client's cap is closed before the handshake).
  void Start() {
    error_code ec;
    tcp::socket& socket = stream_.socket();
    socket.set_option(tcp::no_delay(true), ec);
    if (stream_.tls() == nullptr) return Serve();
    if (admission_ == Admission::kOverClient) return CloseNow();  // no handshake for a flooding client
    phase_ = Phase::kHandshake;
    Arm(limits().request_timeout);
    stream_.tls()->async_handshake(ssl::stream_base::server, [self = shared_from_this()](error_code handshake_ec) {
      self->Disarm();
      if (handshake_ec) return self->CloseNow();
      self->Serve();
    });
  }

  // The server is stopping: an idle keep-alive connection or one still shaking hands closes
  // now; a busy one closes after writing its response.
  void OnServerStop() {
    if (phase_ == Phase::kIdle || phase_ == Phase::kHandshake) CloseNow();
  }

  void CloseNow() {
    Disarm();
    error_code ec;
    stream_.socket().close(ec);
  }

 private:
  enum class Phase { kHandshake, kIdle, kReading, kHandling, kWriting, kClosing };

  void Serve() {
    if (admission_ == Admission::kServed) return WaitForRequest();
    // Over a cap: answer 503 without reading a request.
    unread_request_ = true;
    WriteResponse(Problem(503, kInvalidRequest, "Service Unavailable",
                          admission_ == Admission::kOverTotal
                              ? "too many open connections: the limit max_connections is " +
                                    std::to_string(limits().max_connections)
                              : "too many open connections from this address: the limit "
                                "max_connections_per_address is " +
                                    std::to_string(limits().max_connections_per_address)));
  }

  const ServerLimits& limits() const { return shared_.options.limits; }

  void WaitForRequest() {
    if (shared_.stopping) return CloseNow();
    if (buffer_.size() > 0) return BeginRequest();
    phase_ = Phase::kIdle;
    Arm(limits().idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->CloseNow();
                              self->BeginRequest();
                            });
  }

  void BeginRequest() {
    phase_ = Phase::kReading;
    timed_out_ = false;
    Arm(limits().request_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(limits().max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    // Beast checks Content-Length against the limit while parsing the header, before the path
    // is known: the largest limit applies until OnHeader picks the request's own.
    body_limit_ = std::max(limits().max_body_bytes, limits().upload_paths.empty() ? 0 : limits().max_upload_bytes);
    parser_->body_limit(body_limit_);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](error_code ec, size_t) {
                               if (ec) return self->FailRead(ec);
                               self->OnHeader();
                             });
  }

  void OnHeader() {
    const auto& msg = parser_->get();
    if (body_limit_ != limits().max_body_bytes) {
      const std::string_view target = msg.target();
      const std::string_view path = target.substr(0, target.find('?'));
      const bool upload = std::find(limits().upload_paths.begin(), limits().upload_paths.end(), path) !=
                          limits().upload_paths.end();
      if (!upload) {
        body_limit_ = limits().max_body_bytes;
        if (parser_->content_length() && *parser_->content_length() > body_limit_) {
          return FailRead(bhttp::error::body_limit);
        }
        parser_->body_limit(body_limit_);
      }
    }
    if (!parser_->is_done() && beast::iequals(msg[bhttp::field::expect], "100-continue")) {
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](error_code ec, size_t) {
                          if (ec) return self->FailRead(ec);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, size_t) {
                        if (ec) return self->FailRead(ec);
                        self->OnRequest();
                      });
  }

  void FailRead(error_code ec) {
    if (timed_out_) {
      return WriteError(408, kInvalidRequest, "Request Timeout",
                        "the request was not received within request_timeout of " +
                            std::to_string(Millis(limits().request_timeout)) + " ms");
    }
    if (ec == bhttp::error::header_limit) {
      return WriteError(431, kInvalidRequest, "Request Header Fields Too Large",
                        "request line and headers exceed max_header_bytes of " +
                            std::to_string(limits().max_header_bytes) + " bytes");
    }
    if (ec == bhttp::error::body_limit) {
      return WriteError(413, kBadRequestData, "Payload Too Large",
                        std::string("request body exceeds ") +
                            (body_limit_ == limits().max_body_bytes ? "max_body_bytes" : "max_upload_bytes") + " of " +
                            std::to_string(body_limit_) + " bytes");
    }
    bool peer_gone = ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message;
    if (!peer_gone && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return WriteError(400, kInvalidRequest, "Bad Request",
                        "malformed HTTP request: " + ec.message());
    }
    CloseNow();
  }

  void OnRequest() {
    Disarm();
    auto msg = parser_->release();
    parser_.reset();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    is_head_ = msg.method() == bhttp::verb::head;

    req_ = Request();
    req_.method = msg.method_string();
    for (char& c : req_.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    req_.target = msg.target();
    std::string_view target = req_.target;
    size_t q = target.find('?');
    req_.path = target.substr(0, q);
    if (q != std::string_view::npos && !ParseQuery(target.substr(q + 1), &req_.query)) {
      return WriteError(400, kInvalidRequest, "Bad Request",
                        "the query string has a malformed percent-escape");
    }
    for (const auto& field : msg) {
      req_.headers.Add(std::string(field.name_string()), std::string(field.value()));
    }
    req_.body = std::move(msg.body());
    req_.remote_address = remote_;
    Dispatch();
  }

  // The response of the handler running now (`call`) is deferred: the Responder answers.
  Responder Defer(HandlerCall& call) {
    call.answered = std::make_shared<std::atomic<bool>>(false);
    // Counts the Responder (all its copies) in shared_.deferred while it exists.
    struct Outstanding {
      explicit Outstanding(Shared& s) : shared(s) {
        std::lock_guard lock(shared.mu);
        ++shared.deferred;
      }
      ~Outstanding() {
        std::lock_guard lock(shared.mu);
        if (--shared.deferred == 0) shared.cv.notify_all();
      }
      Shared& shared;
    };
    auto outstanding = std::make_shared<Outstanding>(shared_);
    return [self = shared_from_this(), answered = call.answered, outstanding](Response response) {
      if (answered->exchange(true)) return;
      asio::post(self->executor(), [self, response = std::move(response)]() mutable {
        self->WriteResponse(std::move(response));
      });
    };
  }

  void Dispatch() {
    phase_ = Phase::kHandling;
    if (shared_.workers == nullptr || RunsInline()) {
      if (auto response = Invoke()) WriteResponse(std::move(*response));
      return;
    }
    asio::post(*shared_.workers, [self = shared_from_this()] {
      thread_local const bool named = (util::NameThisThread("http-worker"), true);
      (void)named;
      auto response = self->Invoke();
      if (!response) return;  // deferred
      asio::post(self->executor(), [self, response = std::move(*response)]() mutable {
        self->WriteResponse(std::move(response));
      });
    });
  }

  bool RunsInline() {
    if (!shared_.options.runs_inline) return false;
    try {
      return shared_.options.runs_inline(req_);
    } catch (...) {
      return false;  // the worker's handler will say what is wrong
    }
  }

  // Runs the handler: its response, or nullopt if it deferred it (DeferResponse).
  std::optional<Response> Invoke() {
    HandlerCall call{this, nullptr};
    HandlerCall* const outer = std::exchange(t_call, &call);
    std::optional<Response> response;
    try {
      response = shared_.handler(req_);
    } catch (...) {
      response = Problem(500, kInternalError, "Internal Server Error", "the request handler failed unexpectedly");
      // A handler that deferred and then failed may never answer: this 500 is its answer, unless
      // the Responder was called already.
      if (call.answered && !call.answered->exchange(true)) call.answered.reset();
    }
    t_call = outer;
    if (call.answered) return std::nullopt;
    return response;
  }

  static bool IsValid(const Response& r) {
    if (r.status < 200 || r.status > 599) return false;
    for (const auto& [name, value] : r.headers.items()) {
      if (!util::IsHttpToken(name) || HasControlChars(value)) return false;
    }
    return true;
  }

  void WriteError(int status, std::string_view type, std::string_view title,
                  const std::string& detail) {
    keep_alive_ = false;
    is_head_ = false;
    unread_request_ = true;
    WriteResponse(Problem(status, type, title, detail));
  }

  void WriteResponse(Response r) {
    phase_ = Phase::kWriting;
    if (!IsValid(r)) {
      r = Problem(500, kInternalError, "Internal Server Error",
                  "the request handler produced an invalid response");
    }
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<unsigned>(r.status));
    bool keep = keep_alive_ && !shared_.stopping;
    for (const auto& [name, value] : r.headers.items()) {
      if (!IsFramingHeader(name)) {
        res_.insert(name, value);
      } else if (HeaderNameEquals(name, "Connection") && beast::iequals(value, "close")) {
        keep = false;
      }
    }
    res_.keep_alive(keep);
    if (r.status != 204 && r.status != 304) {
      res_.content_length(r.body.size());
      if (!is_head_) res_.body() = std::move(r.body);
    }
    Arm(limits().idle_timeout);
    bhttp::async_write(stream_, res_, [self = shared_from_this(), keep](error_code ec, size_t) {
      if (ec) return self->CloseNow();
      if (!keep) return self->Close();
      self->res_ = {};
      self->WaitForRequest();
    });
  }

  // Closes after a final response: over TLS, sends close_notify and waits for the peer's at most
  // kLingerTimeout (the timer then closes at once), then closes the TCP connection.
  void Close() {
    phase_ = Phase::kClosing;
    if (stream_.tls() == nullptr) return CloseTcp();
    Arm(kLingerTimeout);
    stream_.tls()->async_shutdown([self = shared_from_this()](error_code) { self->CloseTcp(); });
  }

  // Lingers only if the peer may still be sending: after an error that left the request unread,
  // or when bytes of another request already arrived.
  void CloseTcp() {
    error_code ec;
    if (unread_request_ || buffer_.size() > 0 || stream_.socket().available(ec) > 0) {
      return LingeringClose();
    }
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    CloseNow();
  }

  void LingeringClose() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return CloseNow();
    Arm(kLingerTimeout);
    Discard();
  }

  // Reads and drops raw bytes (over TLS too: nothing after our close_notify needs decrypting).
  void Discard() {
    buffer_.consume(buffer_.size());
    stream_.socket().async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](error_code ec, size_t) {
                              if (ec) return self->CloseNow();
                              self->Discard();
                            });
  }

  void Arm(Clock::duration timeout) {
    unsigned generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
      if (!ec && generation == self->timer_generation_) self->OnTimeout();
    });
  }

  void Disarm() {
    ++timer_generation_;
    timer_.cancel();
  }

  void OnTimeout() {
    if (phase_ == Phase::kReading) {
      timed_out_ = true;  // the cancelled read reports it; FailRead answers 408
      error_code ec;
      stream_.socket().cancel(ec);
    } else if (phase_ != Phase::kHandling) {
      CloseNow();
    }
  }

  Shared& shared_;
  Transport stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;  // reused for every request of the connection
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  size_t body_limit_ = 0;  // of the request being read
  bhttp::response<bhttp::string_body> res_;
  Request req_;  // read by the handler thread while phase_ is kHandling
  const std::string remote_;  // "ip:port" of the peer ("" if it was gone when accepted)
  const std::string client_;  // util::ClientOf(remote_)
  Phase phase_ = Phase::kIdle;
  unsigned timer_generation_ = 0;
  unsigned version_ = 11;
  bool timed_out_ = false;
  bool keep_alive_ = false;
  bool is_head_ = false;
  bool unread_request_ = false;  // an error response was sent before the request was read
  const Admission admission_;

  friend Responder cityhub::http::DeferResponse();
};

template <typename Fn>
void Shared::ForEachConnection(Fn fn) {
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard lock(mu);
    live.reserve(connections.size());
    for (Connection* c : connections) {
      if (auto strong = c->weak_from_this().lock()) live.push_back(std::move(strong));
    }
  }
  for (auto& c : live) fn(c);
}

}  // namespace

Responder DeferResponse() {
  return t_call != nullptr ? t_call->connection->Defer(*t_call) : Responder();
}

struct Server::Impl {
  Impl(ServerOptions options, Handler handler)
      : shared(std::move(options), std::move(handler)),
        io_threads(shared.options.io_threads != 0
                       ? shared.options.io_threads
                       : std::max(1u, std::thread::hardware_concurrency())),
        ioc(static_cast<int>(io_threads)),
        strand(asio::make_strand(ioc)),
        acceptor(strand),
        accept_retry(strand) {}

  void Accept();
  void Admit(tcp::socket socket);
  void BeginShutdown();
  void WaitForDrain();

  Shared shared;
  const unsigned io_threads;
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> strand;  // acceptor, retry timer, signals
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  std::optional<asio::signal_set> signals;
  std::optional<asio::thread_pool> workers;
  unsigned short port = 0;
};

void Server::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      Admit(std::move(socket));
      return Accept();
    }
    // Out of descriptors or a similar transient failure: back off instead of spinning.
    accept_retry.expires_after(kAcceptRetryDelay);
    accept_retry.async_wait([this](error_code wait_ec) {
      if (!wait_ec) Accept();
    });
  });
}

void Server::Impl::Admit(tcp::socket socket) {
  using Admission = Connection::Admission;
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  std::string remote = ec ? std::string() : FormatEndpoint(peer);
  std::string client = util::ClientOf(remote);
  // Runs on the acceptor's strand only, so `served` cannot pass the cap between load and add.
  Admission admission = Admission::kServed;
  if (shared.served.load() >= shared.options.limits.max_connections) {
    admission = Admission::kOverTotal;
  } else if (!shared.TakeClientSlot(client)) {
    admission = Admission::kOverClient;
  } else {
    shared.served.fetch_add(1);
  }
  auto connection = std::make_shared<Connection>(shared, std::move(socket), std::move(remote), std::move(client), admission);
  {
    // Registered only once fully constructed, so ForEachConnection's weak_from_this() is valid.
    std::lock_guard lock(shared.mu);
    shared.connections.insert(connection.get());
  }
  asio::dispatch(connection->executor(), [connection] { connection->Start(); });
}

void Server::Impl::BeginShutdown() {
  shared.stopping = true;
  asio::post(strand, [this] {
    error_code ec;
    acceptor.close(ec);
    accept_retry.cancel();
    if (signals) signals->cancel(ec);
  });
  shared.ForEachConnection([](const std::shared_ptr<Connection>& c) {
    asio::post(c->executor(), [c] { c->OnServerStop(); });
  });
}

void Server::Impl::WaitForDrain() {
  std::unique_lock lock(shared.mu);
  auto drained = [this] { return shared.connections.empty(); };
  if (shared.cv.wait_for(lock, kDrainTimeout, drained)) return;
  lock.unlock();
  shared.ForEachConnection([](const std::shared_ptr<Connection>& c) {
    asio::post(c->executor(), [c] { c->CloseNow(); });
  });
  lock.lock();
  shared.cv.wait_for(lock, kForceCloseGrace, drained);
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() = default;

Status Server::Listen() {
  const ServerOptions& o = impl_->shared.options;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    CITYHUB_RETURN_IF_ERROR(MakeTlsContext(o, &impl_->shared.tls));
  }
  std::string where = (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) +
                      ":" + std::to_string(o.port);
  auto fail = [&](const error_code& ec) {
    error_code ignored;
    impl_->acceptor.close(ignored);
    return Status::Internal("cannot listen on " + where + ": " + ec.message());
  };
  error_code ec;
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(o.host, std::to_string(o.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) return fail(ec);
  if (results.empty()) return fail(asio::error::host_not_found);
  tcp::endpoint endpoint = *results.begin();
  tcp::acceptor& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ec);
  impl_->port = acceptor.local_endpoint(ec).port();
  if (ec) return fail(ec);
  return Status::Ok();
}

unsigned short Server::port() const { return impl_->port; }

void Server::Run() {
  Impl& s = *impl_;
  if (!s.acceptor.is_open()) return;
  if (s.shared.options.worker_threads > 0) {
    s.workers.emplace(s.shared.options.worker_threads);
    s.shared.workers = &*s.workers;
  }
  asio::post(s.strand, [&s] { s.Accept(); });
  auto work = asio::make_work_guard(s.ioc);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < s.io_threads; ++i) threads.emplace_back([&s] {
    util::NameThisThread("http-io");
    s.ioc.run();
  });

  {
    std::unique_lock lock(s.shared.mu);
    s.shared.cv.wait(lock, [&s] { return s.shared.stop_requested; });
  }
  s.BeginShutdown();
  s.WaitForDrain();
  {
    std::unique_lock lock(s.shared.mu);
    s.shared.cv.wait(lock, [&s] { return s.shared.deferred == 0; });
  }

  work.reset();
  s.ioc.stop();
  for (auto& t : threads) t.join();
  if (s.workers) s.workers->join();
}

void Server::Stop() {
  std::lock_guard lock(impl_->shared.mu);
  impl_->shared.stop_requested = true;
  impl_->shared.cv.notify_all();
}

void Server::StopOnSignals() {
  Impl& s = *impl_;
  if (s.signals) return;
  s.signals.emplace(s.strand, SIGINT, SIGTERM);
  s.signals->async_wait([this](error_code ec, int) {
    if (!ec) Stop();
  });
}

}  // namespace cityhub::http
