// Loopback sockets for the sender tests: a TCP socket bound to 127.0.0.1 on a free port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string_view>

#include <gtest/gtest.h>

#include "broker/endpoint_policy.h"

namespace cityhub::broker {

// The senders' rules with loopback allowed: the tests' receivers and brokers are on 127.0.0.1,
// which the default outbound policy refuses.
inline std::shared_ptr<const net::AddressPolicy> Allowing(std::string_view networks) {
  auto policy = net::AddressPolicy::FromList(networks);
  EXPECT_TRUE(policy.ok()) << policy.status().message();
  return std::make_shared<const net::AddressPolicy>(policy.ok() ? std::move(*policy) : net::AddressPolicy());
}

inline std::shared_ptr<const EndpointPolicy> LoopbackAllowed() {
  return std::make_shared<const EndpointPolicy>(Allowing("127.0.0.0/8,::1"));
}

// Sender options (HttpSenderOptions, MqttSenderOptions) with loopback allowed.
template <class Options>
Options WithLoopback() {
  Options o;
  o.endpoints = LoopbackAllowed();
  return o;
}

// Binds a TCP socket to 127.0.0.1 on a free port (SO_REUSEADDR) and listens with `backlog`
// (0: only bound). Returns the descriptor; the port in *port.
inline int BindLoopback(unsigned short* port, int backlog) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  if (backlog > 0) {
    EXPECT_EQ(::listen(fd, backlog), 0);
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// A port nothing listens on (bound, then released).
inline unsigned short UnusedPort() {
  unsigned short port = 0;
  ::close(BindLoopback(&port, 0));
  return port;
}

}  // namespace cityhub::broker
