#include "net/hub_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <openssl/ssl.h>

namespace cityhub::net {
namespace {

bool HeaderSafe(std::string_view v) { return v.find_first_of("\r\n") == std::string_view::npos; }

// A connected socket, TLS or not; closes itself.
class Connection {
 public:
  ~Connection() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool Open(const std::string& host, unsigned short port, bool tls) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) != 1) return false;
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    if (!tls) return true;
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = ctx_ ? SSL_new(ctx_) : nullptr;
    return ssl_ && SSL_set_fd(ssl_, fd_) == 1 && SSL_connect(ssl_) == 1;
  }
  bool WriteAll(std::string_view data) {
    while (!data.empty()) {
      const int chunk = static_cast<int>(std::min<size_t>(data.size(), 1 << 20));
      const long n = ssl_ ? SSL_write(ssl_, data.data(), chunk) : ::send(fd_, data.data(), static_cast<size_t>(chunk), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  std::string ReadAll() {
    std::string out;
    char buf[16384];
    for (;;) {
      const long n = ssl_ ? SSL_read(ssl_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace

Result<HubReply> SendToHub(const std::string& host, unsigned short port, bool tls, std::string_view method,
                           std::string_view path, std::string_view content_type, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
  Connection conn;
  if (!conn.Open(host, port, tls)) {
    return Status::Internal(fmt::format("cannot reach the hub at {}:{}{}", host, port, tls ? " over TLS" : ""));
  }
  std::string head = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n", method,
                                 path, host, body.size());
  if (!content_type.empty()) head += fmt::format("Content-Type: {}\r\n", content_type);
  for (const auto& [name, value] : headers) {
    if (HeaderSafe(name) && HeaderSafe(value)) head += fmt::format("{}: {}\r\n", name, value);
  }
  head += "\r\n";
  if (!conn.WriteAll(head) || !conn.WriteAll(body)) {
    return Status::Internal(fmt::format("the hub at {}:{} closed the connection while the request was sent", host, port));
  }
  const std::string resp = conn.ReadAll();
  if (resp.rfind("HTTP/1.1 ", 0) != 0 || resp.size() < 12) {
    return Status::Internal(fmt::format("the hub at {}:{} gave no HTTP answer", host, port));
  }
  HubReply reply;
  reply.status = std::atoi(resp.substr(9, 3).c_str());
  const size_t split = resp.find("\r\n\r\n");
  if (split != std::string::npos) reply.body = resp.substr(split + 4);
  return reply;
}

}  // namespace cityhub::net
