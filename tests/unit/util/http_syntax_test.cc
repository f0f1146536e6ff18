// Tests for util/http_syntax's ClientOf: which peers count as one client for per-client limits.
#include "util/http_syntax.h"

#include <gtest/gtest.h>

namespace cityhub::util {
namespace {

TEST(ClientOfTest, IsTheIpv4AddressOrTheIpv6Slash64) {
  EXPECT_EQ(ClientOf("192.0.2.7:40123"), "192.0.2.7");
  EXPECT_EQ(ClientOf("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(ClientOf("127.0.0.2:1"), "127.0.0.2");
  EXPECT_EQ(ClientOf("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientOf("[2001:db8:1:2::9]:1"), ClientOf("[2001:db8:1:2:ffff::1]:2"));  // one /64, one client
  EXPECT_NE(ClientOf("[2001:db8:1:2::9]:1"), ClientOf("[2001:db8:1:3::9]:1"));
  EXPECT_EQ(ClientOf("2001:db8:1:2::9"), "2001:db8:1:2::/64");  // bare, without a port
  EXPECT_EQ(ClientOf("[::ffff:198.51.100.4]:80"), "198.51.100.4");  // IPv4-mapped
  EXPECT_EQ(ClientOf("[::1]:80"), "::/64");
  EXPECT_EQ(ClientOf(""), "");
  EXPECT_EQ(ClientOf("not-an-address:80"), "not-an-address:80");
}

}  // namespace
}  // namespace cityhub::util
