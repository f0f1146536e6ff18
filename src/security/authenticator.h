// Authenticator: who a request comes from (issue 6). With a JWKS configured, every request but
// the health probes must carry `Authorization: Bearer <JWT>` verified by security/jwt.h against
// that key set and the configured issuer/audience; the result is the caller's Principal.
// Verified tokens are remembered until they expire (by their exact text, at most
// kCacheEntries), so a client re-using its token costs one hash lookup, not a signature check.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "security/jwt.h"
#include "util/status.h"

namespace cityhub::security {

struct Principal {
  std::string subject;             // the token's `sub`
  std::string issuer;              // `iss`
  std::vector<std::string> roles;  // realm_access.roles, then a top-level `roles` array
  int64_t expires_at = 0;          // `exp`, seconds since the epoch
};

struct AuthConfig {
  std::string jwks_json;  // the key set (a JWKS document's text)
  JwtPolicy policy;
};

class Authenticator {
 public:
  static constexpr size_t kCacheEntries = 10000;

  // BadRequestData if the key set is unusable or holds no verification key.
  static Result<std::unique_ptr<Authenticator>> Create(const AuthConfig& config);

  // The principal of an `Authorization` header value ("" when there is none) at `now_s`.
  // Unauthenticated with the reason: missing header, not Bearer, or an invalid token.
  Result<Principal> Authenticate(std::string_view authorization, int64_t now_s);

 private:
  Authenticator(KeySet keys, JwtPolicy policy) : keys_(std::move(keys)), policy_(std::move(policy)) {}

  KeySet keys_;
  JwtPolicy policy_;
  std::mutex mutex_;
  // Verified tokens, most recently used first.
  std::list<std::pair<std::string, Principal>> lru_;
  std::unordered_map<std::string_view, std::list<std::pair<std::string, Principal>>::iterator> index_;
};

}  // namespace cityhub::security
