// Notification endpoint rules. receiverInfo pairs become request headers (GS CIM 009 §5.2.15
// gives them no further meaning: "optional information to the receiver"), so without a rule a
// subscriber chooses Host (reaching a virtual host the hub's network trusts), Authorization and
// Cookie (spending credentials meant for someone else, or making the hub look like their
// holder), Content-Length or Transfer-Encoding (smuggling a second request through a proxy), or
// the hub's own NGSILD-Tenant (claiming another tenant's data). Credentials and forwarding
// headers have legitimate uses with receivers the operator trusts, so they can be allowed by
// name; framing, hop-by-hop and the hub's own headers never.
#include "broker/endpoint_policy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "ngsild/members.h"
#include "util/http_syntax.h"

namespace cityhub::broker {
namespace json = boost::json;

using ngsild::OneOf;

namespace {

// Headers that frame or route the request, or that the hub sets: never from receiverInfo.
constexpr std::string_view kNeverHeaders[] = {
    "host",    "content-length", "transfer-encoding", "connection",   "keep-alive",    "te",
    "trailer", "upgrade",        "expect",            "http2-settings", "proxy-connection",
    "content-type", "link",      "ngsild-tenant"};
// Credentials and forwarding headers: only when the operator allows them by name (and every
// other Proxy-* header likewise).
constexpr std::string_view kProtectedHeaders[] = {
    "authorization", "proxy-authorization", "cookie",    "forwarded", "x-forwarded-for",
    "x-forwarded-host", "x-forwarded-proto", "x-real-ip"};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool Never(const std::string& lower) { return OneOf(lower, kNeverHeaders); }
bool Protected(const std::string& lower) { return OneOf(lower, kProtectedHeaders) || lower.starts_with("proxy-"); }

// The address a URI host stands for without a name lookup: an IP literal, or a numeric form the
// system resolver also reads as IPv4 ("127.1", "2130706433", "0x7f.1").
std::optional<net::IpAddress> NumericHost(std::string_view host) {
  if (auto a = net::IpAddress::Parse(host)) return a;
  if (host.empty() || host.size() > 64) return std::nullopt;
  in_addr v4{};
  if (::inet_aton(std::string(host).c_str(), &v4) == 0) return std::nullopt;
  std::array<uint8_t, 4> bytes{};
  std::memcpy(bytes.data(), &v4.s_addr, 4);
  return net::IpAddress::V4(bytes);
}

Status Bad(std::string_view member, std::string_view what) {
  return Status::BadRequestData(fmt::format("subscription member '{}': {}", member, what));
}

}  // namespace

EndpointPolicy::EndpointPolicy(std::shared_ptr<const net::AddressPolicy> addresses,
                               std::vector<std::string> allowed_headers)
    : addresses_(addresses ? std::move(addresses) : std::make_shared<const net::AddressPolicy>()) {
  for (const std::string& h : allowed_headers) allowed_headers_.push_back(Lower(h));
}

Result<std::vector<std::string>> EndpointPolicy::ParseAllowedHeaders(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name.empty()) continue;
    const std::string lower = Lower(name);
    if (!util::IsHttpToken(name)) {
      return Status::BadRequestData(fmt::format("'{}' is not an HTTP header name", name.substr(0, 80)));
    }
    if (Never(lower)) {
      return Status::BadRequestData(fmt::format(
          "the header '{}' frames, routes or identifies the notification itself and cannot be allowed", name));
    }
    out.emplace_back(name);
  }
  return out;
}

bool EndpointPolicy::HeaderAllowed(std::string_view key) const {
  const std::string lower = Lower(key);
  if (Never(lower)) return false;
  if (!Protected(lower)) return true;
  return std::find(allowed_headers_.begin(), allowed_headers_.end(), lower) != allowed_headers_.end();
}

Status EndpointPolicy::Check(const json::object& stored) const {
  const json::value* n = stored.if_contains("notification");
  const json::value* e = n && n->is_object() ? n->get_object().if_contains("endpoint") : nullptr;
  if (!e || !e->is_object()) return Status::Ok();
  const json::object& endpoint = e->get_object();
  if (const json::value* uri = endpoint.if_contains("uri"); uri && uri->is_string()) {
    auto parsed = boost::urls::parse_uri(uri->get_string());
    if (!parsed) return Bad("notification.endpoint.uri", "must be an absolute URI");
    const std::string host = parsed->host_address();
    if (std::optional<net::IpAddress> address = NumericHost(host); address && !addresses_->Allows(*address)) {
      const std::string_view range = net::AddressPolicy::SpecialRange(*address).value_or("special-purpose");
      return Bad("notification.endpoint.uri",
                 fmt::format("{} is a {} address, which the hub's outbound policy does not allow notifications to "
                             "(the operator may allow networks with --outbound-allow)",
                             address->ToString(), range));
    }
  }
  if (const json::value* info = endpoint.if_contains("receiverInfo"); info && info->is_array()) {
    for (const json::value& item : info->get_array()) {
      const json::value* key = item.is_object() ? item.get_object().if_contains("key") : nullptr;
      if (!key || !key->is_string() || HeaderAllowed(key->get_string())) continue;
      const std::string lower = Lower(key->get_string());
      return Bad("notification.endpoint.receiverInfo",
                 fmt::format("the key '{}' would set a request header that {}", std::string_view(key->get_string()).substr(0, 80),
                             Never(lower) ? "the hub sets or that frames the request; it cannot be given"
                                          : "carries credentials or forwarding information; the operator has not "
                                            "allowed it (--notification-allow-headers)"));
    }
  }
  return Status::Ok();
}

}  // namespace cityhub::broker
