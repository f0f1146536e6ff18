// Real loopback servers for the outbound-client tests: LoopbackServer is the hub's own
// http::Server on 127.0.0.1 (free port) answering through a handler and recording every
// request; SilentServer is a bound, listening socket that never accepts or answers (the kernel
// completes the connection, nothing ever replies: a hung peer).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/server.h"
#include "net/address_policy.h"

namespace cityhub::testing {

inline std::shared_ptr<const net::AddressPolicy> LoopbackPolicy() {
  auto policy = net::AddressPolicy::FromList("127.0.0.0/8,::1");
  EXPECT_TRUE(policy.ok());
  return std::make_shared<const net::AddressPolicy>(policy.ok() ? std::move(*policy) : net::AddressPolicy());
}

class LoopbackServer {
 public:
  using Handler = std::function<http::Response(const http::Request&)>;

  explicit LoopbackServer(Handler handler, unsigned workers = 4)
      : handler_(std::move(handler)), server_(Options(workers), [this](const http::Request& r) {
          {
            std::lock_guard lock(mutex_);
            requests_.push_back(r);
          }
          return handler_(r);
        }) {
    Status st = server_.Listen();
    EXPECT_TRUE(st.ok()) << st.message();
    thread_ = std::thread([this] { server_.Run(); });
  }
  ~LoopbackServer() {
    server_.Stop();
    thread_.join();
  }
  unsigned short port() const { return server_.port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::vector<http::Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static http::ServerOptions Options(unsigned workers) {
    http::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.io_threads = 1;
    o.worker_threads = workers;
    return o;
  }
  Handler handler_;
  std::mutex mutex_;
  std::vector<http::Request> requests_;
  http::Server server_;
  std::thread thread_;
};

class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 64), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  unsigned short port() const { return port_; }
  int fd() const { return fd_; }  // the listening socket: readable once a connection waits
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

// A loopback port nobody listens on (bound, never listening, so connections are refused).
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

}  // namespace cityhub::testing
