// Principal: who a request comes from, as established by a verified JWT (authenticator.h) or an
// API key (api_keys.h), and the roles it holds per tenant. Plain value.
//
// A role entry reads "<role>" (held in the default tenant), "<tenant>:<role>" (held in that
// tenant) or "*:<role>" (held in every tenant). The built-in roles are reader, writer and admin
// (policy.h); any other name is a custom role that has only what the policy's rules grant it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cityhub::security {

struct Principal {
  std::string subject;             // the token's `sub`, or "apikey:<name>"
  std::string issuer;              // the token's `iss` ("" for API keys)
  std::vector<std::string> roles;  // role entries as above
  int64_t expires_at = 0;          // seconds since the epoch; 0 = does not expire

  // True if the principal holds `role` in `tenant` ("" = the default tenant).
  bool HasRole(std::string_view tenant, std::string_view role) const {
    for (std::string_view entry : roles) {
      size_t colon = entry.rfind(':');
      std::string_view scope = colon == std::string_view::npos ? std::string_view() : entry.substr(0, colon);
      std::string_view name = colon == std::string_view::npos ? entry : entry.substr(colon + 1);
      if (name == role && (scope == "*" || scope == tenant)) return true;
    }
    return false;
  }
  // The role names held in `tenant`.
  std::vector<std::string_view> RolesIn(std::string_view tenant) const {
    std::vector<std::string_view> out;
    for (std::string_view entry : roles) {
      size_t colon = entry.rfind(':');
      std::string_view scope = colon == std::string_view::npos ? std::string_view() : entry.substr(0, colon);
      if (scope == "*" || scope == tenant) out.push_back(colon == std::string_view::npos ? entry : entry.substr(colon + 1));
    }
    return out;
  }
};

}  // namespace cityhub::security
