// Request and Response: the HTTP messages handlers see, free of Boost.Beast so that the api
// layer compiles without it. The server (server.cc) converts to and from Beast's types.
// Plain values; a Request is read by one handler on one thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cityhub::http {

// Header names compare case-insensitively (RFC 9110 §5.1).
bool HeaderNameEquals(std::string_view a, std::string_view b);

class Headers {
 public:
  void Add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  // Returns the first value of `name`, or an empty view if absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  // Returns every value of `name` in order (repeated headers such as Link).
  std::vector<std::string_view> GetAll(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct Request {
  std::string method;  // upper-case token, e.g. "GET"
  std::string target;  // the raw request-target, e.g. "/ngsi-ld/v1/entities?type=X"
  std::string path;    // target up to '?', still percent-encoded
  // Query parameters in order, percent-decoded ('+' is a space only in the query string).
  std::vector<std::pair<std::string, std::string>> query;
  Headers headers;
  std::string body;
  std::string remote_address;  // "ip:port" of the peer, for logs and rate limits

  // Returns the value of the first query parameter `name`, or nullptr if absent.
  const std::string* Param(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
};

}  // namespace cityhub::http
