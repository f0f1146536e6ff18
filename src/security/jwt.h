// JWT bearer-token verification (RFC 7519 tokens, RFC 7515 compact JWS) against the public
// keys of a JSON Web Key Set (RFC 7517) — what Keycloak or any OpenID Connect provider issues
// and publishes at its jwks_uri. Only asymmetric signatures are accepted: RS256 (RSA PKCS#1
// v1.5 with SHA-256) and ES256 (ECDSA P-256 with SHA-256). Everything else is refused before
// any key is looked at: "alg": "none", HS256 (whose "secret" could be our public key), other
// algorithms, unknown key ids.
//
// Checked, in order: size (≤ kMaxTokenBytes) and shape (three base64url parts, JSON objects);
// the header's alg and kid against the key set (a token without kid is accepted when exactly
// one key can verify its alg); the signature; then the claims — `exp` required and not past,
// `nbf` and `iat` not in the future, each with `clock_skew` of tolerance; `iss` equal to the
// configured issuer and `aud` (a string or an array) holding the configured audience, when
// those are configured. Any failure is one Unauthenticated status whose message says what was
// wrong (for the WWW-Authenticate error_description and the log) without echoing the token.
//
// Thread-safe: a KeySet is immutable once parsed and may be shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "util/status.h"

namespace cityhub::security {

inline constexpr size_t kMaxTokenBytes = 8192;

// The public keys of a JWKS document. Keys of other types or uses (e.g. "use": "enc", or
// symmetric "oct" keys) are skipped, not errors: providers publish those too.
class KeySet {
 public:
  KeySet();
  ~KeySet();
  KeySet(KeySet&&) noexcept;
  KeySet& operator=(KeySet&&) noexcept;

  // Parses {"keys": [...]}. BadRequestData if the document is not a JWKS or a usable key is
  // malformed (bad base64url, an RSA modulus under 2048 bits, a point not on P-256).
  static Result<KeySet> Parse(std::string_view jwks_json);

  // How many verification keys it holds.
  size_t size() const;

  struct Key;
  // The key for `kid` and `alg` (see above); null if there is none.
  const Key* Find(const std::optional<std::string>& kid, std::string_view alg) const;

 private:
  std::vector<std::unique_ptr<Key>> keys_;
};

struct JwtPolicy {
  std::string issuer;    // required `iss` ("" = not checked)
  std::string audience;  // required in `aud` ("" = not checked)
  std::chrono::seconds clock_skew{60};
};

struct JwtClaims {
  std::string subject;                // sub
  std::string issuer;                 // iss
  int64_t expires_at = 0;             // exp, seconds since the epoch
  boost::json::object all;            // every claim (roles, tenant, scope, …)
};

// Verifies `token` at `now_s` (seconds since the epoch). Unauthenticated with the reason.
Result<JwtClaims> VerifyJwt(std::string_view token, const KeySet& keys, const JwtPolicy& policy, int64_t now_s);

// base64url without padding (RFC 4648 §5) both ways; decoding refuses padding, whitespace and
// characters outside the alphabet. Exposed for tests and for building keys.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace cityhub::security
