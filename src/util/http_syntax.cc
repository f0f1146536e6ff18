// HTTP syntax helpers. ParseHttpTarget: Boost.URL does the parsing; this picks the parts and
// fills in defaults.
#include "util/http_syntax.h"

#include <algorithm>
#include <cctype>

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

}  // namespace cityhub::util
