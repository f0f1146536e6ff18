// notify_bench: notification latency and update throughput against a running hub
// (docs/PERFORMANCE.md, issue 4). It is its own subscriber: an HTTP receiver on cityhub's HTTP
// stack (or an MQTT subscriber through a broker) records when each notified state arrives.
//
//   latency:    N entities, S subscriptions (subscription i on entity i % N, keyValues, only
//               the "seq" attribute), PATCHes at a fixed rate over C connections, each carrying
//               a unique seq; latency = arrival of seq at the subscriber - arrival of the PATCH's
//               204 at the client (0 when the notification came first).
//   throughput: closed-loop PATCHes over C connections for T seconds with no subscriptions,
//               then again after S subscriptions were created; prints both rates. With --q
//               the subscriptions carry a filter (e.g. seq<0: evaluated on every update, never
//               true), which measures matching apart from delivery.
// The hub must run with an empty data dir (bench/run_notify_bench.sh starts everything).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <map>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <pthread.h>
#include <vector>

#include <boost/json.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <mqtt/async_client.h>

#include "http_client.h"
#include "http/server.h"

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using cityhub::bench::Client;

int64_t NowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

// Arrival times of notified seq values (0 = not yet).
class Arrivals {
 public:
  explicit Arrivals(size_t capacity) : at_(capacity) {}
  // Throughput runs only count what arrives (a subscriber elsewhere would parse it; this one
  // shares the hub's two cores).
  void Count(std::string_view body) {
    uint64_t n = 0;
    for (size_t p = body.find("\"seq\""); p != std::string_view::npos; p = body.find("\"seq\"", p + 5)) ++n;
    received_ += n;
  }
  void Record(std::string_view body) {
    const int64_t now = NowNs();
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return;
    json::value* data = v.get_object().if_contains("body");  // MQTT: {"metadata", "body"}
    json::object& notification = data && data->is_object() ? data->get_object() : v.get_object();
    json::value* items = notification.if_contains("data");
    if (!items || !items->is_array()) return;
    for (auto& e : items->get_array()) {
      json::value* seq = e.is_object() ? e.get_object().if_contains("seq") : nullptr;
      if (!seq || !seq->is_int64()) continue;
      const auto s = static_cast<size_t>(seq->get_int64());
      int64_t expected = 0;
      if (s < at_.size()) at_[s].compare_exchange_strong(expected, now);
      ++received_;
    }
  }
  int64_t At(size_t seq) const { return at_[seq].load(); }
  uint64_t received() const { return received_.load(); }

 private:
  std::vector<std::atomic<int64_t>> at_;
  std::atomic<uint64_t> received_{0};
};

// A minimal HTTP/1.1 subscriber: one thread, epoll, requests parsed just enough to find the
// body (Content-Length), every one answered 200 with an empty body. It stands for a subscriber
// on another machine, costing the shared cores as little as a real receiver can.
class LeanReceiver {
 public:
  explicit LeanReceiver(std::function<void(std::string_view body)> on_body) : on_body_(std::move(on_body)) {}
  ~LeanReceiver() { Stop(); }

  bool Listen(unsigned short port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 128) != 0) return false;
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    epoll_fd_ = ::epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "lean-receiver");  // per-thread CPU in top -H / perf
      Loop();
    });
    return true;
  }
  unsigned short port() const { return port_; }
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    for (auto& [fd, buf] : buffers_) ::close(fd);
    ::close(epoll_fd_);
    ::close(listen_fd_);
  }

 private:
  void Loop() {
    epoll_event events[64];
    while (!stop_) {
      const int n = ::epoll_wait(epoll_fd_, events, 64, 100);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          int c;
          while ((c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
            int one = 1;
            ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = c;
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c, &ev);
            buffers_[c];
          }
        } else {
          Read(fd);
        }
      }
    }
  }
  void Read(int fd) {
    std::string& buf = buffers_[fd];
    char tmp[65536];
    ssize_t n;
    while ((n = ::recv(fd, tmp, sizeof tmp, 0)) > 0) buf.append(tmp, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      ::close(fd);
      buffers_.erase(fd);
      return;
    }
    std::string answers;
    for (;;) {
      const size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) break;
      size_t length = 0;
      for (size_t p = 0; p < end;) {
        const size_t eol = buf.find("\r\n", p);
        if (eol - p > 15 && strncasecmp(buf.data() + p, "content-length:", 15) == 0) {
          length = std::strtoul(buf.c_str() + p + 15, nullptr, 10);
        }
        p = eol + 2;
      }
      if (buf.size() < end + 4 + length) break;
      on_body_(std::string_view(buf).substr(end + 4, length));
      buf.erase(0, end + 4 + length);
      answers += "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    }
    if (!answers.empty()) ::send(fd, answers.data(), answers.size(), MSG_NOSIGNAL);
  }

  std::function<void(std::string_view)> on_body_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::map<int, std::string> buffers_;
};

struct Options {
  std::string hub_host = "127.0.0.1";
  unsigned short hub_port = 1026;
  unsigned short receiver_port = 0;
  std::string mqtt;  // host:port of a broker: subscribe there instead of over HTTP
  size_t entities = 1000;
  size_t subscriptions = 1000;
  double rate = 5000;
  double seconds = 10;
  unsigned conns = 16;
  std::string mode = "latency";
  std::string qos = "0";
  std::string q;  // a q filter on every subscription ("" = none)
  std::string receiver = "hub";  // "hub": cityhub's HTTP stack; "lean": LeanReceiver
};

std::string EntityId(size_t i) { return fmt::format("urn:ngsi-ld:Sensor:bench-{}", i); }

bool CreateEntities(Client& c, size_t n) {
  for (size_t start = 0; start < n; start += 1000) {
    json::array batch;
    for (size_t i = start; i < std::min(n, start + 1000); ++i) {
      batch.push_back(json::object{{"id", EntityId(i)}, {"type", "Sensor"}, {"seq", json::object{{"type", "Property"}, {"value", 0}}}});
    }
    if (c.Send("POST", "/ngsi-ld/v1/entityOperations/upsert", json::serialize(batch)) / 100 != 2) return false;
  }
  return true;
}

bool CreateSubscriptions(Client& c, const Options& o, const std::string& endpoint) {
  for (size_t i = 0; i < o.subscriptions; ++i) {
    json::object ep{{"uri", endpoint}};
    if (!o.mqtt.empty()) ep["notifierInfo"] = json::array{json::object{{"key", "MQTT-QoS"}, {"value", o.qos}}};
    json::object sub{{"id", fmt::format("urn:ngsi-ld:Subscription:bench-{}", i)},
                     {"type", "Subscription"},
                     {"entities", json::array{json::object{{"id", EntityId(i % o.entities)}, {"type", "Sensor"}}}},
                     {"notification", json::object{{"format", "keyValues"}, {"attributes", json::array{"seq"}}, {"endpoint", ep}}}};
    if (!o.q.empty()) sub["q"] = o.q;
    if (c.Send("POST", "/ngsi-ld/v1/subscriptions", json::serialize(sub)) != 201) return false;
  }
  return true;
}

std::string PatchBody(size_t seq) { return fmt::format(R"({{"seq":{{"type":"Property","value":{}}}}})", seq); }

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int Latency(const Options& o, Arrivals& arrivals, std::vector<int64_t>& acked_at) {
  const size_t total = acked_at.size();
  std::vector<int64_t> round_trip(total, 0);  // the PATCH's own send -> 204 time
  std::atomic<size_t> next{1};
  std::atomic<uint64_t> errors{0};
  const auto start = Clock::now();
  const double per_conn_interval_s = o.conns / o.rate;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < o.conns; ++t) {
    threads.emplace_back([&, t] {
      Client c(o.hub_host, o.hub_port);
      for (size_t k = 0;; ++k) {
        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>((static_cast<double>(k) + t / double(o.conns)) * per_conn_interval_s));
        std::this_thread::sleep_until(due);
        const size_t seq = next.fetch_add(1);
        if (seq >= total) return;
        const std::string path = fmt::format("/ngsi-ld/v1/entities/{}/attrs", EntityId(seq % o.entities));
        const int64_t sent = NowNs();
        if (c.Send("PATCH", path, PatchBody(seq)) == 204) {
          acked_at[seq] = NowNs();
          round_trip[seq] = acked_at[seq] - sent;
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  // Let stragglers arrive.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  auto missing = [&] {
    size_t m = 0;
    for (size_t s = 1; s < total; ++s) m += acked_at[s] && !arrivals.At(s);
    return m;
  };
  while (missing() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::vector<double> ms;
  size_t acked = 0, early = 0;
  const size_t warmup = static_cast<size_t>(o.rate);  // the first second is not counted
  for (size_t s = 1; s < total; ++s) {
    if (!acked_at[s]) continue;
    ++acked;
    if (s <= warmup || !arrivals.At(s)) continue;
    const int64_t d = arrivals.At(s) - acked_at[s];
    early += d < 0;
    ms.push_back(std::max<int64_t>(0, d) / 1e6);
  }
  const size_t counted = ms.size();
  std::vector<double> rt;
  for (size_t s = warmup + 1; s < total; ++s) {
    if (acked_at[s]) rt.push_back(round_trip[s] / 1e6);
  }
  std::cout << fmt::format("updates: {} acknowledged in {:.1f} s = {:.0f}/s (target {:.0f}/s), {} errors; "
                           "PATCH round trip p50 {:.2f} ms  p99 {:.2f} ms\n",
                           acked, elapsed, static_cast<double>(acked) / elapsed, o.rate, errors.load(),
                           Percentile(rt, 0.5), Percentile(rt, 0.99));
  if (o.subscriptions == 0) return 0;
  std::cout << fmt::format("notified: {} entity states received, {} acknowledged updates never notified\n",
                           arrivals.received(), missing());
  std::cout << fmt::format("latency ack -> subscriber over {} updates (first second skipped; {} arrived before the ack): "
                           "p50 {:.2f} ms  p90 {:.2f} ms  p99 {:.2f} ms  p99.9 {:.2f} ms  max {:.2f} ms\n",
                           counted, early, Percentile(ms, 0.5), Percentile(ms, 0.9), Percentile(ms, 0.99),
                           Percentile(ms, 0.999), Percentile(ms, 1.0));
  return 0;
}

double Throughput(const Options& o) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::atomic<size_t> next{1};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < o.conns; ++t) {
    threads.emplace_back([&] {
      Client c(o.hub_host, o.hub_port);
      while (!stop) {
        const size_t seq = next.fetch_add(1);
        const std::string path = fmt::format("/ngsi-ld/v1/entities/{}/attrs", EntityId(seq % o.entities));
        if (c.Send("PATCH", path, PatchBody(seq)) == 204) ++done;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  return static_cast<double>(done.load()) / o.seconds;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Notification latency and throughput benchmark"};
  Options o;
  app.add_option("--mode", o.mode, "latency or throughput")->check(CLI::IsMember({"latency", "throughput"}));
  app.add_option("--hub-port", o.hub_port);
  app.add_option("--receiver-port", o.receiver_port, "HTTP receiver port (0 = any)");
  app.add_option("--mqtt", o.mqtt, "HOST:PORT of an MQTT broker to be notified through instead of HTTP");
  app.add_option("--qos", o.qos, "MQTT-QoS of the subscriptions");
  app.add_option("--receiver", o.receiver, "hub (cityhub's HTTP stack) or lean (one epoll thread)")
      ->check(CLI::IsMember({"hub", "lean"}));
  app.add_option("--q", o.q, "q filter of every subscription (e.g. seq<0: evaluated on every update, never fires)");
  app.add_option("--entities", o.entities);
  app.add_option("--subscriptions", o.subscriptions);
  app.add_option("--rate", o.rate, "PATCHes per second (latency mode)");
  app.add_option("--seconds", o.seconds);
  app.add_option("--conns", o.conns);
  CLI11_PARSE(app, argc, argv);

  const size_t capacity = static_cast<size_t>(o.rate * o.seconds) + 2;
  Arrivals arrivals(o.mode == "latency" ? capacity : 1 << 24);
  const bool count_only = o.mode == "throughput";
  auto on_body = [&arrivals, count_only](std::string_view body) {
    if (count_only) {
      arrivals.Count(body);
    } else {
      arrivals.Record(body);
    }
  };
  cityhub::http::ServerOptions ro;
  ro.host = "127.0.0.1";
  ro.port = o.receiver_port;
  ro.io_threads = 1;
  ro.worker_threads = 2;
  cityhub::http::Server hub_receiver(ro, [&on_body](const cityhub::http::Request& req) {
    on_body(req.body);
    cityhub::http::Response r;
    r.status = 200;
    return r;
  });
  LeanReceiver lean_receiver(on_body);
  std::thread receiver_thread;
  unsigned short receiver_port = 0;
  if (o.receiver == "lean") {
    if (!lean_receiver.Listen(o.receiver_port)) {
      std::cerr << "cannot listen\n";
      return 1;
    }
    receiver_port = lean_receiver.port();
  } else {
    if (auto st = hub_receiver.Listen(); !st.ok()) {
      std::cerr << st.message() << "\n";
      return 1;
    }
    receiver_port = hub_receiver.port();
    receiver_thread = std::thread([&hub_receiver] { hub_receiver.Run(); });
  }
  std::unique_ptr<mqtt::async_client> mqtt_client;
  std::string endpoint = fmt::format("http://127.0.0.1:{}/notify", receiver_port);
  if (!o.mqtt.empty()) {
    mqtt_client = std::make_unique<mqtt::async_client>("tcp://" + o.mqtt, "notify-bench");
    mqtt_client->set_message_callback([&arrivals](mqtt::const_message_ptr m) { arrivals.Record(m->get_payload_str()); });
    mqtt_client->connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    mqtt_client->subscribe("bench/notify", 1)->wait();
    endpoint = fmt::format("mqtt://{}/bench/notify", o.mqtt);
  }

  Client setup(o.hub_host, o.hub_port);
  if (!CreateEntities(setup, o.entities)) {
    std::cerr << "cannot create the entities\n";
    return 1;
  }
  int rc = 0;
  if (o.mode == "latency") {
    const auto t0 = Clock::now();
    if (!CreateSubscriptions(setup, o, endpoint)) {
      std::cerr << "cannot create the subscriptions\n";
      return 1;
    }
    std::cout << fmt::format("{} entities, {} subscriptions (created in {:.1f} s), notified over {}\n", o.entities,
                             o.subscriptions, std::chrono::duration<double>(Clock::now() - t0).count(),
                             o.mqtt.empty() ? "HTTP" : "MQTT QoS " + o.qos);
    std::vector<int64_t> acked_at(capacity, 0);
    rc = Latency(o, arrivals, acked_at);
  } else {
    const double without = Throughput(o);
    const auto t0 = Clock::now();
    if (!CreateSubscriptions(setup, o, endpoint)) {
      std::cerr << "cannot create the subscriptions\n";
      return 1;
    }
    const double created_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const uint64_t before = arrivals.received();
    const double with = Throughput(o);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    std::cout << fmt::format("PATCH throughput, {} conns, {} entities: {:.0f}/s without subscriptions, {:.0f}/s with {}{} "
                             "(created in {:.1f} s; {} states notified to the {} receiver) = {:.0f} %\n",
                             o.conns, o.entities, without, with, o.subscriptions, o.q.empty() ? "" : " (q=" + o.q + ")",
                             created_s, arrivals.received() - before, o.receiver, 100 * with / without);
  }
  if (mqtt_client) mqtt_client->disconnect()->wait();
  lean_receiver.Stop();
  hub_receiver.Stop();
  if (receiver_thread.joinable()) receiver_thread.join();
  return rc;
}
