#include "broker/endpoint_policy.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace cityhub::broker {
namespace {

namespace json = boost::json;

json::object Stored(std::string_view uri, json::array receiver_info = {}) {
  json::object endpoint{{"uri", uri}};
  if (!receiver_info.empty()) endpoint["receiverInfo"] = std::move(receiver_info);
  return json::object{{"type", "Subscription"}, {"notification", json::object{{"endpoint", std::move(endpoint)}}}};
}

json::array Header(std::string_view key) { return json::array{json::object{{"key", key}, {"value", "v"}}}; }

TEST(EndpointPolicyTest, LiteralRefusedAddressesNameTheMemberAndRange) {
  const EndpointPolicy policy;
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
      {"http://10.0.0.1/", "10.0.0.1 is a private address"},
      {"http://127.0.0.1:1026/admin/backup", "127.0.0.1 is a loopback address"},
      {"http://2130706433/", "127.0.0.1 is a loopback address"},
      {"http://0x7f.1/", "127.0.0.1 is a loopback address"},
      {"http://[::1]/", "::1 is a loopback address"},
      {"https://[::ffff:a9fe:a9fe]/", "is a link-local address"},
      {"mqtt://192.168.0.7:1883/t", "192.168.0.7 is a private address"},
  };
  for (const auto& [uri, why] : cases) {
    Status st = policy.Check(Stored(uri));
    EXPECT_EQ(st.code(), Status::Code::kBadRequestData) << uri;
    EXPECT_NE(st.message().find("'notification.endpoint.uri'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
  }
}

TEST(EndpointPolicyTest, NamesAndAllowedAddressesPass) {
  EXPECT_TRUE(EndpointPolicy().Check(Stored("http://localhost:8080/n")).ok());  // checked when sending
  EXPECT_TRUE(EndpointPolicy().Check(Stored("http://8.8.8.8/n")).ok());
  EXPECT_TRUE(EndpointPolicy().Check(Stored("mqtt://broker.example.com/t")).ok());
  auto ten = net::AddressPolicy::FromList("10.0.0.0/8");
  ASSERT_TRUE(ten.ok());
  const EndpointPolicy lan(std::make_shared<const net::AddressPolicy>(std::move(*ten)));
  EXPECT_TRUE(lan.Check(Stored("http://10.1.2.3:9000/n")).ok());
  EXPECT_FALSE(lan.Check(Stored("http://127.0.0.1/n")).ok());
}

TEST(EndpointPolicyTest, ProtectedHeadersAreRefusedUnlessAllowed) {
  const EndpointPolicy strict;
  for (std::string_view key : {"Host", "host", "Authorization", "Proxy-Authorization", "Proxy-Whatever", "Cookie",
                               "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "TE", "Trailer",
                               "Upgrade", "Expect", "Content-Type", "Link", "NGSILD-Tenant", "X-Forwarded-For"}) {
    Status st = strict.Check(Stored("http://r.example/n", Header(key)));
    EXPECT_EQ(st.code(), Status::Code::kBadRequestData) << key;
    EXPECT_NE(st.message().find("'notification.endpoint.receiverInfo'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(std::string(key)), std::string::npos) << st.message();
    EXPECT_FALSE(strict.HeaderAllowed(key)) << key;
  }
  EXPECT_TRUE(strict.Check(Stored("http://r.example/n", Header("X-Api-Key"))).ok());
  EXPECT_TRUE(strict.HeaderAllowed("Prefer"));

  const EndpointPolicy lenient(nullptr, {"authorization", "Cookie"});
  EXPECT_TRUE(lenient.Check(Stored("http://r.example/n", Header("Authorization"))).ok());
  EXPECT_TRUE(lenient.HeaderAllowed("COOKIE"));
  EXPECT_FALSE(lenient.HeaderAllowed("Proxy-Authorization"));
  EXPECT_FALSE(lenient.HeaderAllowed("Host"));
}

TEST(EndpointPolicyTest, FramingHeadersCannotBeAllowed) {
  auto ok = EndpointPolicy::ParseAllowedHeaders(" Authorization, Cookie ,");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(*ok, (std::vector<std::string>{"Authorization", "Cookie"}));
  for (std::string_view bad : {"Host", "content-length", "Transfer-Encoding", "NGSILD-Tenant", "Bad Name"}) {
    auto parsed = EndpointPolicy::ParseAllowedHeaders(std::string("Authorization,") + std::string(bad));
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find(std::string(bad)), std::string::npos) << parsed.status().message();
  }
}

}  // namespace
}  // namespace cityhub::broker
