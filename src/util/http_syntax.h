// HTTP syntax shared by the hub's server (http/) and its clients (the @context downloader in
// ngsild/, the notification sender in broker/): header-name tokens, HttpTarget — the parts
// of an http:// or https:// URL that an HTTP/1.1 client request needs — and ClientOf, the
// client a peer address counts as for per-client limits (server, api, audit log).
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cityhub::util {

// True if `s` is an RFC 9110 §5.6.2 token: the only characters a header name may have.
bool IsHttpToken(std::string_view s);

// The client a peer address ("ip:port" or "[ip]:port", as in http::Request::remote_address)
// belongs to, for per-client limits: its IPv4 address, or for IPv6 its /64 prefix
// ("2001:db8:1:2::/64") — one host may use every address of its /64, so counting single IPv6
// addresses would let it dodge any cap. An IPv4-mapped IPv6 address is its IPv4 address. A
// string that holds no address is returned as it is.
std::string ClientOf(std::string_view remote_address);

struct HttpTarget {
  bool tls = false;       // https
  std::string host;       // for name resolution, SNI and certificate checks (no brackets)
  std::string port;       // given, else 80 / 443
  std::string authority;  // the Host header
  std::string path;       // origin-form request target (path and query), at least "/"
  // "scheme://host:port": what connections to it can be shared by.
  std::string Origin() const;
};

// Parses `url`; on failure returns nullopt with *error saying why ("not a valid URL",
// "unsupported URL scheme 'ftp'", "URL has no host").
std::optional<HttpTarget> ParseHttpTarget(std::string_view url, std::string* error);

}  // namespace cityhub::util
