// Router: maps (method, path pattern) to a route handler and extracts path parameters.
// Patterns are literal segments and "{name}" placeholders that match exactly one non-empty
// segment, e.g. "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}". Literal segments win over
// placeholders. Built once at start-up, then read-only: Match() is thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"

namespace cityhub::http {

// Path parameters in pattern order, percent-decoded.
class PathParams {
 public:
  void Add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  // Returns the value of `name`, or an empty string if the pattern has no such placeholder.
  const std::string& Get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

using RouteHandler = std::function<Response(const Request&, const PathParams&)>;

class Router {
 public:
  enum class MatchKind { kFound, kPathNotFound, kMethodNotAllowed, kBadPath, kEmptySegment };
  struct Match {
    MatchKind kind = MatchKind::kPathNotFound;
    const RouteHandler* handler = nullptr;  // set when kFound
    PathParams params;                      // set when kFound
    std::vector<std::string> allowed;       // methods for the path when kMethodNotAllowed
    std::string pattern;                    // the matched pattern (for metrics labels)
  };

  void Add(std::string method, std::string pattern, RouteHandler handler);
  // Finds the route for `method` and the percent-encoded `path`; a trailing slash is ignored
  // ("/entities/" is "/entities", as GS CIM 009 writes its resources). kBadPath when the path has
  // an invalid percent-escape or a decoded segment contains a NUL; kEmptySegment when a segment
  // other than the last is empty ("/entities//attrs").
  Match Find(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

// Percent-decodes `in` ("%2F" -> "/"); with `plus_is_space`, '+' becomes ' ' (query strings).
// Returns false on a malformed escape.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out);

}  // namespace cityhub::http
