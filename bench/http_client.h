// A blocking HTTP/1.1 keep-alive client for one connection to the hub, for the benchmarks:
// plain sockets, so the client's own cost stays small and predictable. Not thread-safe: one
// per thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace cityhub::bench {

// A blocking HTTP/1.1 keep-alive client for one connection to the hub.
class Client {
 public:
  Client(std::string host, unsigned short port) : host_(std::move(host)), port_(port) {}
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& body() const { return body_; }

  // Sends the request and returns the status (-1 on a transport error); body() then holds
  // the answer's body.
  int Send(std::string_view method, std::string_view path, std::string_view body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !Connect()) return -1;
      std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                    method, path, host_, body.size());
      req.append(body);
      if (WriteAll(req) && ReadResponse()) return status_;
      Close();
    }
    return -1;
  }

 private:
  bool Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Close();
      return false;
    }
    buf_.clear();
    return true;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool WriteAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool Fill() {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  bool ReadResponse() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    if (buf_.size() < 12) return false;
    status_ = std::atoi(buf_.c_str() + 9);
    size_t length = 0;
    std::string head = buf_.substr(0, end);
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    if (size_t p = head.find("content-length:"); p != std::string::npos) length = std::strtoul(head.c_str() + p + 15, nullptr, 10);
    while (buf_.size() < end + 4 + length) {
      if (!Fill()) return false;
    }
    body_.assign(buf_, end + 4, length);
    buf_.erase(0, end + 4 + length);
    return true;
  }

  std::string host_;
  unsigned short port_;
  int fd_ = -1;
  std::string buf_;
  int status_ = 0;
  std::string body_;
};

}  // namespace cityhub::bench
