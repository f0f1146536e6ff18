#include "security/authenticator.h"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace cityhub::security {
namespace json = boost::json;

namespace {

Status Unauthenticated(std::string reason) { return Status(Status::Code::kUnauthenticated, std::move(reason)); }

void AddRoles(const json::value* roles, std::vector<std::string>* out) {
  if (!roles || !roles->is_array()) return;
  for (const auto& r : roles->get_array()) {
    if (r.is_string()) out->emplace_back(r.get_string());
  }
}

Principal PrincipalOf(const JwtClaims& claims) {
  Principal p;
  p.subject = claims.subject;
  p.issuer = claims.issuer;
  p.expires_at = claims.expires_at;
  if (const json::value* realm = claims.all.if_contains("realm_access"); realm && realm->is_object()) {
    AddRoles(realm->get_object().if_contains("roles"), &p.roles);  // Keycloak
  }
  AddRoles(claims.all.if_contains("roles"), &p.roles);
  return p;
}

}  // namespace

Result<std::unique_ptr<Authenticator>> Authenticator::Create(const AuthConfig& config) {
  auto keys = KeySet::Parse(config.jwks_json);
  if (!keys.ok()) return keys.status();
  if (keys->size() == 0) return Status::BadRequestData("the JWKS holds no RS256 or ES256 signature key");
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(*keys), config.policy));
}

Result<Principal> Authenticator::Authenticate(std::string_view authorization, int64_t now_s) {
  if (authorization.empty()) return Unauthenticated("authentication required: send Authorization: Bearer <token>");
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), authorization.begin(),
                  [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
    return Unauthenticated("the Authorization header must be 'Bearer <token>'");
  }
  std::string_view token = authorization.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  {
    std::lock_guard lock(mutex_);
    auto it = index_.find(token);
    if (it != index_.end()) {
      if (now_s <= it->second->second.expires_at + policy_.clock_skew.count()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
      lru_.erase(it->second);  // expired since: verify again (and fail)
      index_.erase(it);
    }
  }
  auto claims = VerifyJwt(token, keys_, policy_, now_s);
  if (!claims.ok()) return claims.status();
  Principal p = PrincipalOf(*claims);
  std::lock_guard lock(mutex_);
  if (!index_.count(token)) {
    lru_.emplace_front(std::string(token), p);
    index_[lru_.front().first] = lru_.begin();
    if (lru_.size() > kCacheEntries) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return p;
}

}  // namespace cityhub::security
