// HTTP syntax helpers. ParseHttpTarget: Boost.URL does the parsing; this picks the parts and
// fills in defaults.
#include "util/http_syntax.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace cityhub::util {

bool IsHttpToken(std::string_view s) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kSymbols.find(c) != std::string_view::npos;
  });
}

std::string HttpTarget::Origin() const { return fmt::format("{}://{}:{}", tls ? "https" : "http", host, port); }

std::optional<HttpTarget> ParseHttpTarget(std::string_view url, std::string* error) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    *error = "not a valid URL";
    return std::nullopt;
  }
  const boost::urls::url_view& u = *parsed;
  HttpTarget t;
  if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    *error = fmt::format("unsupported URL scheme '{}'", std::string_view(u.scheme()).substr(0, 20));
    return std::nullopt;
  }
  t.host = u.host_address();
  if (t.host.empty()) {
    *error = "URL has no host";
    return std::nullopt;
  }
  t.port = u.has_port() ? std::string(u.port()) : (t.tls ? "443" : "80");
  t.authority = std::string(u.encoded_host_and_port());
  t.path = std::string(u.encoded_target());
  if (t.path.empty() || t.path.front() != '/') t.path.insert(0, "/");
  return t;
}

std::string ClientOf(std::string_view remote_address) {
  std::string_view host = remote_address;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);  // "ip:port"; a bare IPv6 address has several colons
  }
  const std::string text(host);
  char out[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return text;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return std::string(remote_address);
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], 4);
    return inet_ntop(AF_INET, &v4, out, sizeof out) ? std::string(out) : text;
  }
  std::memset(&v6.s6_addr[8], 0, 8);
  return inet_ntop(AF_INET6, &v6, out, sizeof out) ? std::string(out) + "/64" : text;
}

}  // namespace cityhub::util
