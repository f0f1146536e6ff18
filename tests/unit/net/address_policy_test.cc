#include "net/address_policy.h"

#include <gtest/gtest.h>

namespace cityhub::net {
namespace {

IpAddress Ip(std::string_view text) {
  std::optional<IpAddress> a = IpAddress::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress());
}

AddressPolicy Policy(std::string_view list) {
  auto p = AddressPolicy::FromList(list);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : AddressPolicy();
}

TEST(IpAddress, ParsesStrictLiteralsOnly) {
  EXPECT_TRUE(IpAddress::Parse("192.0.2.1")->is_v4());
  EXPECT_FALSE(IpAddress::Parse("2001:db8::1")->is_v4());
  EXPECT_EQ(IpAddress::Parse("[::1]")->ToString(), "::1");
  for (std::string_view bad : {"", "localhost", "127.1", "0x7f000001", "2130706433", "1.2.3.4.5", "fe80::1%eth0",
                               "[::1", "::1]", "256.0.0.1"}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << bad;
  }
}

TEST(IpAddress, UnwrapsMappedAndNat64) {
  EXPECT_EQ(Ip("::ffff:10.1.2.3").Unwrapped().ToString(), "10.1.2.3");
  EXPECT_EQ(Ip("64:ff9b::a9fe:a9fe").Unwrapped().ToString(), "169.254.169.254");
  EXPECT_EQ(Ip("2001:db8::1").Unwrapped().ToString(), "2001:db8::1");
}

TEST(AddressPolicy, RefusesEverySpecialIpv4Range) {
  const AddressPolicy policy;
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"0.0.0.0", "unspecified (this network)"},
      {"0.1.2.3", "unspecified (this network)"},
      {"10.0.0.1", "private"},
      {"10.255.255.255", "private"},
      {"100.64.0.1", "carrier-grade NAT"},
      {"100.127.255.254", "carrier-grade NAT"},
      {"127.0.0.1", "loopback"},
      {"127.255.0.9", "loopback"},
      {"169.254.169.254", "link-local"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"192.0.0.170", "IETF protocol assignments"},
      {"192.0.2.10", "documentation"},
      {"192.168.1.1", "private"},
      {"198.18.0.1", "benchmarking"},
      {"198.19.255.255", "benchmarking"},
      {"198.51.100.7", "documentation"},
      {"203.0.113.9", "documentation"},
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"240.0.0.1", "reserved"},
      {"255.255.255.255", "broadcast"},
  };
  for (const auto& [text, range] : cases) {
    EXPECT_EQ(AddressPolicy::SpecialRange(Ip(text)).value_or("public"), range) << text;
    EXPECT_FALSE(policy.Allows(Ip(text))) << text;
  }
}

TEST(AddressPolicy, AllowsPublicAddressesAtTheRangeEdges) {
  const AddressPolicy policy;
  for (std::string_view text : {"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
                                "126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255",
                                "172.32.0.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
                                "223.255.255.255", "2001:4860:4860::8888", "2a00:1450::1"}) {
    EXPECT_FALSE(AddressPolicy::SpecialRange(Ip(text)).has_value()) << text;
    EXPECT_TRUE(policy.Allows(Ip(text))) << text;
  }
}

TEST(AddressPolicy, RefusesEverySpecialIpv6Range) {
  const AddressPolicy policy;
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"::a00:1", "IPv4-compatible (deprecated)"},
      {"fe80::1", "link-local"},
      {"febf:ffff::1", "link-local"},
      {"fec0::1", "site-local (deprecated)"},
      {"fc00::1", "private (unique local)"},
      {"fd12:3456::1", "private (unique local)"},
      {"ff02::1", "multicast"},
      {"100::1", "discard-only"},
      {"2001:db8::1", "documentation"},
      {"2001:0:4136:e378::1", "Teredo"},
      {"2002:a9fe:a9fe::1", "6to4"},
      {"64:ff9b:1::1", "NAT64 local use"},
  };
  for (const auto& [text, range] : cases) {
    EXPECT_EQ(AddressPolicy::SpecialRange(Ip(text)).value_or("public"), range) << text;
    EXPECT_FALSE(policy.Allows(Ip(text))) << text;
  }
}

TEST(AddressPolicy, JudgesIpv4InIpv6ByTheIpv4Address) {
  const AddressPolicy policy;
  EXPECT_EQ(AddressPolicy::SpecialRange(Ip("::ffff:169.254.169.254")).value_or("public"), "link-local");
  EXPECT_EQ(AddressPolicy::SpecialRange(Ip("::ffff:127.0.0.1")).value_or("public"), "loopback");
  EXPECT_EQ(AddressPolicy::SpecialRange(Ip("::ffff:10.0.0.1")).value_or("public"), "private");
  EXPECT_EQ(AddressPolicy::SpecialRange(Ip("::ffff:255.255.255.255")).value_or("public"), "broadcast");
  EXPECT_EQ(AddressPolicy::SpecialRange(Ip("64:ff9b::7f00:1")).value_or("public"), "loopback");
  EXPECT_FALSE(policy.Allows(Ip("::ffff:192.168.0.1")));
  EXPECT_TRUE(policy.Allows(Ip("::ffff:8.8.8.8")));
  EXPECT_TRUE(policy.Allows(Ip("64:ff9b::808:808")));
}

TEST(AddressPolicy, AllowListOpensOnlyItsNetworks) {
  const AddressPolicy policy = Policy(" 127.0.0.0/8, ::1 ,10.20.0.0/16");
  EXPECT_TRUE(policy.Allows(Ip("127.0.0.1")));
  EXPECT_TRUE(policy.Allows(Ip("127.9.9.9")));
  EXPECT_TRUE(policy.Allows(Ip("::1")));
  EXPECT_TRUE(policy.Allows(Ip("::ffff:127.0.0.1")));  // the IPv4 address it carries is allowed
  EXPECT_TRUE(policy.Allows(Ip("10.20.3.4")));
  EXPECT_FALSE(policy.Allows(Ip("10.21.0.1")));
  EXPECT_FALSE(policy.Allows(Ip("169.254.169.254")));
  EXPECT_FALSE(policy.Allows(Ip("fe80::1")));
  EXPECT_FALSE(policy.Allows(Ip("::2")));
  EXPECT_EQ(policy.Describe(), "public addresses and 127.0.0.0/8, ::1/128, 10.20.0.0/16");
  EXPECT_EQ(AddressPolicy().Describe(), "public addresses only");
}

TEST(AddressPolicy, AllowListPrefixesOfOddLengths) {
  const AddressPolicy policy = Policy("172.16.0.0/13,fd00:ab::/33");
  EXPECT_TRUE(policy.Allows(Ip("172.23.255.255")));
  EXPECT_FALSE(policy.Allows(Ip("172.24.0.0")));
  EXPECT_TRUE(policy.Allows(Ip("fd00:ab:7fff::1")));
  EXPECT_FALSE(policy.Allows(Ip("fd00:ab:8000::1")));
  EXPECT_TRUE(Policy("0.0.0.0/0").Allows(Ip("169.254.169.254")));
  EXPECT_FALSE(Policy("0.0.0.0/0").Allows(Ip("fe80::1")));  // an IPv4 network holds no IPv6 address
  EXPECT_TRUE(Policy("::/0").Allows(Ip("fe80::1")));
}

TEST(AddressPolicy, EmptyListIsTheDefault) {
  EXPECT_TRUE(Policy("").allowed().empty());
  EXPECT_TRUE(Policy(" , ,").allowed().empty());
}

TEST(Cidr, RejectsMalformedNetworksNamingThem) {
  for (std::string_view bad : {"localhost", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0/8",
                               "::1/129", "[::1]/128", "10.0.0.0/ 8", "/8", "fe80::1%eth0/64", "10.0.0.0/08a"}) {
    auto c = Cidr::Parse(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), Status::Code::kBadRequestData);
    EXPECT_NE(c.status().message().find(std::string(bad)), std::string::npos) << c.status().message();
  }
  auto p = AddressPolicy::FromList("127.0.0.0/8,10.0.0.0/99");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("10.0.0.0/99"), std::string::npos);
  EXPECT_NE(p.status().message().find("0 to 32"), std::string::npos);
}

TEST(Cidr, SingleAddressIsAFullPrefix) {
  auto c = Cidr::Parse("192.0.2.7");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ToString(), "192.0.2.7/32");
  EXPECT_TRUE(c->Contains(Ip("192.0.2.7")));
  EXPECT_FALSE(c->Contains(Ip("192.0.2.8")));
}

}  // namespace
}  // namespace cityhub::net
