#include "app/hub_client.h"

#include <cstdlib>

namespace cityhub::app {
namespace {

// Set, and fit for a header (no CR or LF).
bool Usable(const char* value) {
  return value && *value && std::string_view(value).find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace

Result<HubReply> SendToHub(const std::string& host, unsigned short port, bool tls, std::string_view method,
                           std::string_view path, std::string_view content_type, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> with_credentials;
  // A hub with authentication needs an admin's credentials.
  if (const char* key = std::getenv("CITYHUB_API_KEY"); Usable(key)) {
    with_credentials.emplace_back("X-API-Key", key);
  } else if (const char* token = std::getenv("CITYHUB_TOKEN"); Usable(token)) {
    with_credentials.emplace_back("Authorization", std::string("Bearer ") + token);
  }
  with_credentials.insert(with_credentials.end(), headers.begin(), headers.end());
  return net::SendToHub(host, port, tls, method, path, content_type, body, with_credentials);
}

}  // namespace cityhub::app
