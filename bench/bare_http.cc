// bare_http: the hardware's HTTP ceiling for issue 20 ("a minimal Beast server that parses the
// JSON body and answers"): Boost.Beast on Asio with nothing of cityhub's — no router, no worker
// pool, no thread hop — each connection read, parsed and answered on the I/O thread that owns it.
//   GET  any path  -> 200 {}
//   POST/PATCH     -> the JSON body parsed (Boost.JSON) and discarded, 204 (400 if not an object)
// Run it, then point wrk at it (docs/PERFORMANCE.md, "The write path: ceilings").
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <CLI/CLI.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One keep-alive connection: read a request, answer it, again, until the client closes.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  explicit Connection(tcp::socket socket) : stream_(std::move(socket)) {}
  void Start() { Read(); }

 private:
  void Read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->Answer();
    });
  }
  void Answer() {
    response_ = {};
    response_.version(request_.version());
    response_.keep_alive(request_.keep_alive());
    if (request_.method() == http::verb::get) {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "application/json");
      response_.body() = "{}";
    } else {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(request_.body(), ec);
      response_.result(ec || !v.is_object() ? http::status::bad_request : http::status::no_content);
    }
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->response_.keep_alive()) return;
      self->Read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

void Accept(tcp::acceptor& acceptor, asio::io_context& io) {
  acceptor.async_accept(io, [&acceptor, &io](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Connection>(std::move(socket))->Start();
    }
    Accept(acceptor, io);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bare Beast HTTP server: the hardware's ceiling for the hub's HTTP figures"};
  std::string host = "127.0.0.1";
  unsigned short port = 1028;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--host", host);
  app.add_option("--port", port);
  app.add_option("--threads", threads, "I/O threads, each with its own io_context and acceptor (SO_REUSEPORT)");
  CLI11_PARSE(app, argc, argv);

  // One io_context per thread, each accepting on its own SO_REUSEPORT socket: the kernel spreads
  // the connections, and a connection stays on one thread (no locks, no hand-off).
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  const tcp::endpoint endpoint(asio::ip::make_address(host), port);
  for (unsigned i = 0; i < threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    auto acceptor = std::make_unique<tcp::acceptor>(*contexts.back());
    acceptor->open(endpoint.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    acceptor->set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    acceptor->bind(endpoint);
    acceptor->listen(asio::socket_base::max_listen_connections);
    Accept(*acceptor, *contexts.back());
    acceptors.push_back(std::move(acceptor));
  }
  std::printf("bare_http listening on %s:%u with %u threads\n", host.c_str(), port, threads);
  std::fflush(stdout);
  std::vector<std::thread> running;
  for (unsigned i = 1; i < threads; ++i) running.emplace_back([&contexts, i] { contexts[i]->run(); });
  contexts[0]->run();
  for (auto& t : running) t.join();
}
