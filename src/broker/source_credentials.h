// SourceCredentials: the credentials the hub presents to the context sources it forwards to,
// configured by the operator per endpoint origin (scheme://host:port) — never taken from a
// client's request or from a registration, so registering a source cannot make the hub send
// its secrets anywhere else. One header per origin: an API key or a bearer token, read once
// from a file at start-up so secrets stay out of the configuration and the process list.
// Immutable after Load; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "util/status.h"

namespace cityhub::broker {

class SourceCredentials {
 public:
  SourceCredentials() = default;

  // From "ENTRY[;ENTRY…]" ("" = none), each entry one of
  //   ORIGIN=bearer:FILE          -> Authorization: Bearer <file content>
  //   ORIGIN=header:NAME:FILE     -> NAME: <file content> (e.g. X-API-Key)
  // where ORIGIN is an http(s) URL whose scheme, host and port are used (e.g.
  // "https://hub-b.city.kr"), and the file's content is trimmed of surrounding whitespace.
  // BadRequestData naming the entry when it does not parse, names an unreadable or empty file, or
  // repeats an origin.
  static Result<SourceCredentials> Load(std::string_view spec);

  // The header to send to `endpoint` (any URL of the origin), or nullopt.
  std::optional<std::pair<std::string, std::string>> For(std::string_view endpoint) const;

  size_t size() const { return by_origin_.size(); }

 private:
  std::map<std::string, std::pair<std::string, std::string>> by_origin_;  // origin -> header
};

}  // namespace cityhub::broker
