// http_ceiling: cityhub's own HTTP stack (http::Server with the same options the hub uses)
// answering two trivial endpoints, to measure the ceiling every API figure is compared with:
//   GET  /trivial  -> 200 {}                          (ceiling a)
//   POST /parse    -> parses the JSON body, discards it, 204  (ceiling b)
// Run it, then point wrk at it (bench/run_entity_bench.sh does both).
#include <iostream>

#include <boost/json.hpp>
#include <CLI/CLI.hpp>

#include "http/server.h"

int main(int argc, char** argv) {
  CLI::App app{"HTTP ceiling server for benchmarks"};
  std::string host = "127.0.0.1";
  unsigned short port = 1027;
  unsigned io_threads = 0;
  unsigned worker_threads = 32;
  app.add_option("--host", host);
  app.add_option("--port", port);
  app.add_option("--io-threads", io_threads);
  app.add_option("--worker-threads", worker_threads, "same default as cityhub serve");
  CLI11_PARSE(app, argc, argv);

  cityhub::http::ServerOptions opts;
  opts.host = host;
  opts.port = port;
  opts.io_threads = io_threads;
  opts.worker_threads = worker_threads;
  cityhub::http::Server server(opts, [](const cityhub::http::Request& req) {
    cityhub::http::Response r;
    if (req.method == "POST") {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(req.body, ec);
      r.status = ec || !v.is_object() ? 400 : 204;
      return r;
    }
    r.headers.Add("Content-Type", "application/json");
    r.body = "{}";
    return r;
  });
  if (auto st = server.Listen(); !st.ok()) {
    std::cerr << st.message() << "\n";
    return 1;
  }
  server.StopOnSignals();
  std::cerr << "http_ceiling listening on " << host << ":" << server.port() << "\n";
  server.Run();
  return 0;
}
