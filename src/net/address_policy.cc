/* The outbound address policy.
 *
 * Design. The hub connects to addresses its clients name: a subscription's endpoint, an
 * @context URL, a redirect. Without a rule, a writer could make it reach what only the hub can
 * reach — the cloud metadata service on 169.254.169.254, private services, the hub's own
 * loopback port — and read the answers' timing and errors as a port scanner. The rule is a
 * deny-list of the special-purpose ranges (RFC 6890 and its IPv6 counterparts) with an
 * operator allow-list on top, rather than an allow-list of "public" space, because the public
 * space is everything else and changes; the ranges below are fixed by the IETF.
 *
 * IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96) reach
 * that IPv4 address, so they are judged by it; the deprecated IPv4-compatible ::/96 and 6to4
 * 2002::/16 are refused outright rather than decoded. An allow-list entry matches an address as
 * written or as the IPv4 address it carries, so "127.0.0.0/8" also admits ::ffff:127.0.0.1.
 *
 * The policy only judges addresses. Applying it after name resolution, to the very addresses
 * then connected to (so that no second lookup can answer differently), and on every redirect
 * hop is the clients' duty; net/asio_address.h helps the Asio-based ones.
 */
#include "net/address_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace cityhub::net {
namespace {

struct Range {
  std::array<uint8_t, 16> prefix;
  int bits;
  std::string_view name;
};

// IPv4 special-purpose ranges (prefix in the first 4 bytes).
constexpr Range kV4Ranges[] = {
    {{0, 0, 0, 0}, 8, "unspecified (this network)"},
    {{10, 0, 0, 0}, 8, "private"},
    {{100, 64, 0, 0}, 10, "carrier-grade NAT"},
    {{127, 0, 0, 0}, 8, "loopback"},
    {{169, 254, 0, 0}, 16, "link-local"},
    {{172, 16, 0, 0}, 12, "private"},
    {{192, 0, 0, 0}, 24, "IETF protocol assignments"},
    {{192, 0, 2, 0}, 24, "documentation"},
    {{192, 88, 99, 0}, 24, "6to4 relay anycast"},
    {{192, 168, 0, 0}, 16, "private"},
    {{198, 18, 0, 0}, 15, "benchmarking"},
    {{198, 51, 100, 0}, 24, "documentation"},
    {{203, 0, 113, 0}, 24, "documentation"},
    {{224, 0, 0, 0}, 4, "multicast"},
    {{255, 255, 255, 255}, 32, "broadcast"},
    {{240, 0, 0, 0}, 4, "reserved"},
};

// IPv6 special-purpose ranges; IPv4-mapped and NAT64 are unwrapped before these are looked at.
constexpr Range kV6Ranges[] = {
    {{}, 128, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    {{}, 96, "IPv4-compatible (deprecated)"},
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, "NAT64 local use"},
    {{0x01, 0x00}, 64, "discard-only"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo"},
    {{0x20, 0x02}, 16, "6to4"},
    {{0xfc}, 7, "private (unique local)"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local (deprecated)"},
    {{0xff}, 8, "multicast"},
};

// True when the first `bits` bits of `a` and `prefix` agree.
bool PrefixMatches(const uint8_t* a, const uint8_t* prefix, int bits) {
  const int whole = bits / 8;
  if (std::memcmp(a, prefix, whole) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (prefix[whole] & mask);
}

constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

}  // namespace

IpAddress IpAddress::V4(const std::array<uint8_t, 4>& bytes) {
  IpAddress a;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  a.v4_ = true;
  return a;
}

IpAddress IpAddress::V6(const std::array<uint8_t, 16>& bytes) {
  IpAddress a;
  a.bytes_ = bytes;
  a.v4_ = false;
  return a;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  std::array<uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET, s.c_str(), bytes.data()) == 1) return V4({bytes[0], bytes[1], bytes[2], bytes[3]});
  if (::inet_pton(AF_INET6, s.c_str(), bytes.data()) == 1) return V6(bytes);
  return std::nullopt;
}

IpAddress IpAddress::Unwrapped() const {
  if (v4_) return *this;
  if (std::memcmp(bytes_.data(), kMapped, 12) == 0 || std::memcmp(bytes_.data(), kNat64, 12) == 0) {
    return V4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
  }
  return *this;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v4_ ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

Result<Cidr> Cidr::Parse(std::string_view text) {
  auto bad = [text](std::string_view why) {
    return Status::BadRequestData(fmt::format("'{}' is not a network in CIDR notation: {}", text.substr(0, 80), why));
  };
  const size_t slash = text.find('/');
  std::optional<IpAddress> address = IpAddress::Parse(text.substr(0, slash));
  if (!address || text.substr(0, 1) == "[") return bad("expected an IP address such as 10.0.0.0/8 or fd00::/8");
  const int max_bits = address->is_v4() ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits < 0 || bits > max_bits) {
      return bad(fmt::format("the prefix length must be a number from 0 to {}", max_bits));
    }
  }
  Cidr c;
  c.network_ = *address;
  c.prefix_bits_ = bits;
  return c;
}

bool Cidr::Contains(const IpAddress& a) const {
  return a.is_v4() == network_.is_v4() && PrefixMatches(a.data(), network_.data(), prefix_bits_);
}

std::string Cidr::ToString() const {
  return fmt::format("{}/{}", network_.ToString(), prefix_bits_);
}

Result<AddressPolicy> AddressPolicy::FromList(std::string_view list) {
  std::vector<Cidr> allowed;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) entry.remove_prefix(1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
    if (entry.empty()) continue;
    auto cidr = Cidr::Parse(entry);
    if (!cidr.ok()) return cidr.status();
    allowed.push_back(*cidr);
  }
  return AddressPolicy(std::move(allowed));
}

std::optional<std::string_view> AddressPolicy::SpecialRange(const IpAddress& address) {
  const IpAddress a = address.Unwrapped();
  if (a.is_v4()) {
    for (const Range& r : kV4Ranges) {
      if (PrefixMatches(a.data(), r.prefix.data(), r.bits)) return r.name;
    }
    return std::nullopt;
  }
  for (const Range& r : kV6Ranges) {
    if (PrefixMatches(a.data(), r.prefix.data(), r.bits)) return r.name;
  }
  return std::nullopt;
}

bool AddressPolicy::Allows(const IpAddress& a) const {
  if (!SpecialRange(a)) return true;
  const IpAddress inner = a.Unwrapped();
  return std::any_of(allowed_.begin(), allowed_.end(),
                     [&](const Cidr& c) { return c.Contains(a) || c.Contains(inner); });
}

std::string AddressPolicy::Describe() const {
  if (allowed_.empty()) return "public addresses only";
  std::string out = "public addresses and ";
  for (size_t i = 0; i < allowed_.size(); ++i) {
    if (i > 0) out += ", ";
    out += allowed_[i].ToString();
  }
  return out;
}

}  // namespace cityhub::net
