// HttpTarget: the parts of an http:// or https:// URL that an HTTP/1.1 client request needs —
// shared by the @context downloader (ngsild/) and the notification sender (broker/).
// Pure function; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cityhub::util {

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
