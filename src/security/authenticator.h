// Authenticator: who a request comes from (issue 6). With a JWKS configured, every request but
// the health probes must carry `Authorization: Bearer <JWT>` verified by security/jwt.h against
// that key set and the configured issuer/audience; the result is the caller's Principal, its
// roles from the claims realm_access.roles (Keycloak) and `roles`.
// Verified tokens are remembered until they expire (by their exact text, at most
// kCacheEntries), so a client re-using its token costs one hash lookup, not a signature check.
//
// Key rotation: with a `reload` source (the provider's jwks_uri), the key set is fetched again
// every `refresh_interval` by a thread of its own, and at once — at most every
// `min_reload_interval` — when a token names a key id the set does not hold (a provider publishes
// a new key before signing with it, but a hub may see its first token before its next refresh).
// A failed reload keeps the keys held and is logged.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <thread>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "security/jwt.h"
#include "security/principal.h"
#include "security/role_directory.h"
#include "util/status.h"

namespace cityhub::security {

struct AuthConfig {
  std::string jwks_json;  // the key set (a JWKS document's text)
  JwtPolicy policy;
  // Fetches the key set anew (null: the set never changes).
  std::function<Result<std::string>()> reload;
  std::chrono::seconds refresh_interval{300};
  // An unknown key id fetches the set again at most this often (no fetch storm from bad tokens).
  std::chrono::milliseconds min_reload_interval{30000};
  // Told the principal of each token verified (not of tokens answered from the cache); may be null.
  RoleDirectory* directory = nullptr;
};

class Authenticator {
 public:
  static constexpr size_t kCacheEntries = 10000;

  // BadRequestData if the key set is unusable or holds no verification key.
  static Result<std::unique_ptr<Authenticator>> Create(AuthConfig config);
  ~Authenticator();  // stops the refresh thread

  // The principal of an `Authorization` header value ("" when there is none) at `now_s`.
  // Unauthenticated with the reason: missing header, not Bearer, or an invalid token. With
  // `verify` false only a token verified before (and not expired) is accepted: no signature is
  // checked and no key set fetched — for callers that may not spend work on this request.
  Result<Principal> Authenticate(std::string_view authorization, int64_t now_s, bool verify = true);

  // Fetches and installs the key set now; the error (and the old keys kept) if that fails.
  Status Reload();

 private:
  Authenticator(std::shared_ptr<const KeySet> keys, AuthConfig config);
  std::shared_ptr<const KeySet> Keys();
  // Reload() unless one happened less than min_reload_interval ago; true if it succeeded.
  bool ReloadSoon();

  AuthConfig config_;
  std::mutex keys_mutex_;
  std::shared_ptr<const KeySet> keys_;
  std::chrono::steady_clock::time_point last_reload_;
  std::thread refresher_;
  std::condition_variable stop_wake_;
  bool stopping_ = false;

  std::mutex mutex_;  // the cache
  // Verified tokens, most recently used first.
  std::list<std::pair<std::string, Principal>> lru_;
  std::unordered_map<std::string_view, std::list<std::pair<std::string, Principal>>::iterator> index_;
};

}  // namespace cityhub::security
