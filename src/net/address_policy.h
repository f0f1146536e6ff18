// AddressPolicy: which IP addresses the hub may open outbound connections to — the one rule
// behind @context downloads, JWKS fetches and HTTP and MQTT notifications. Public unicast
// addresses are allowed; loopback, private, link-local, carrier-grade NAT, unspecified,
// multicast, broadcast and the other special-purpose ranges (also written as IPv4-mapped or
// NAT64 IPv6) are refused unless the operator's allow-list of networks covers them.
// Clients apply it to the addresses a name resolved to and connect only to those it allows.
// Immutable after construction; thread-safe. No Asio here (net/asio_address.h converts).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace cityhub::net {

// What a client reports for every refused address, whatever its range: a subscriber or a
// client of the hub learns nothing about which internal address exists or listens.
inline constexpr std::string_view kAddressRefused = "address not allowed by the outbound policy";

// An IPv4 or IPv6 address as bytes in network order. A plain value.
class IpAddress {
 public:
  static IpAddress V4(const std::array<uint8_t, 4>& bytes);
  static IpAddress V6(const std::array<uint8_t, 16>& bytes);
  // The address written as a strict literal: "192.0.2.1", "2001:db8::1" or "[2001:db8::1]".
  // nullopt for anything else (host names, "127.1", zone ids).
  static std::optional<IpAddress> Parse(std::string_view text);

  bool is_v4() const { return v4_; }
  // 4 bytes for IPv4, 16 for IPv6.
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return v4_ ? 4 : 16; }
  // The IPv4 address an IPv6 one stands for — IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d
  // — or the address itself.
  IpAddress Unwrapped() const;
  std::string ToString() const;

 private:
  std::array<uint8_t, 16> bytes_{};
  bool v4_ = true;
};

// An IP network: "10.0.0.0/8", "fd00::/8", or one address ("192.0.2.7" = /32, "::1" = /128).
class Cidr {
 public:
  // BadRequestData naming the text when it is not a literal address with an optional prefix
  // length within 0–32 (IPv4) or 0–128 (IPv6).
  static Result<Cidr> Parse(std::string_view text);
  // True when `a` is in the network (an IPv4 network never contains an IPv6 address; callers
  // unwrap mapped addresses first).
  bool Contains(const IpAddress& a) const;
  std::string ToString() const;

 private:
  IpAddress network_;
  int prefix_bits_ = 0;
};

class AddressPolicy {
 public:
  // Public addresses only.
  AddressPolicy() = default;
  // Public addresses and those inside `allowed`.
  explicit AddressPolicy(std::vector<Cidr> allowed) : allowed_(std::move(allowed)) {}
  // From "CIDR[,CIDR…]" (blanks around entries ignored; "" = none). BadRequestData naming the
  // entry that does not parse.
  static Result<AddressPolicy> FromList(std::string_view list);

  // The special-purpose range `a` belongs to ("loopback", "private", "link-local", …; an
  // IPv4-mapped or NAT64 address is judged by the IPv4 address it carries), or nullopt for a
  // public address.
  static std::optional<std::string_view> SpecialRange(const IpAddress& a);

  // True when the hub may connect to `a`: it is public, or inside an allowed network (as
  // written or, for IPv4-mapped and NAT64 addresses, as the IPv4 address it carries).
  bool Allows(const IpAddress& a) const;

  const std::vector<Cidr>& allowed() const { return allowed_; }
  // "public addresses only" or "public addresses and 127.0.0.0/8, ::1" (for the start-up log).
  std::string Describe() const;

 private:
  std::vector<Cidr> allowed_;
};

}  // namespace cityhub::net
