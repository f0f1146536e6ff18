#include "security/authenticator.h"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/thread_name.h"

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

Result<std::unique_ptr<Authenticator>> Authenticator::Create(AuthConfig config) {
  auto keys = KeySet::Parse(config.jwks_json);
  if (!keys.ok()) return keys.status();
  if (keys->size() == 0) return Status::BadRequestData("the JWKS holds no RS256 or ES256 signature key");
  auto shared = std::make_shared<const KeySet>(std::move(*keys));
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(shared), std::move(config)));
}

Authenticator::Authenticator(std::shared_ptr<const KeySet> keys, AuthConfig config)
    : config_(std::move(config)), keys_(std::move(keys)), last_reload_(std::chrono::steady_clock::now()) {
  if (!config_.reload) return;
  refresher_ = std::thread([this] {
    util::NameThisThread("jwks-refresh");
    std::unique_lock lock(keys_mutex_);
    while (!stop_wake_.wait_for(lock, config_.refresh_interval, [this] { return stopping_; })) {
      lock.unlock();
      if (Status st = Reload(); !st.ok()) spdlog::warn("JWKS refresh failed (the keys held are kept): {}", st.message());
      lock.lock();
    }
  });
}

Authenticator::~Authenticator() {
  {
    std::lock_guard lock(keys_mutex_);
    stopping_ = true;
  }
  stop_wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

std::shared_ptr<const KeySet> Authenticator::Keys() {
  std::lock_guard lock(keys_mutex_);
  return keys_;
}

Status Authenticator::Reload() {
  if (!config_.reload) return Status::Ok();
  auto text = config_.reload();
  {
    std::lock_guard lock(keys_mutex_);
    last_reload_ = std::chrono::steady_clock::now();
  }
  if (!text.ok()) return text.status();
  auto keys = KeySet::Parse(*text);
  if (!keys.ok()) return keys.status();
  if (keys->size() == 0) return Status::BadRequestData("the JWKS holds no RS256 or ES256 signature key");
  std::lock_guard lock(keys_mutex_);
  keys_ = std::make_shared<const KeySet>(std::move(*keys));
  return Status::Ok();
}

bool Authenticator::ReloadSoon() {
  if (!config_.reload) return false;
  {
    std::lock_guard lock(keys_mutex_);
    if (std::chrono::steady_clock::now() - last_reload_ < config_.min_reload_interval) return false;
  }
  Status st = Reload();
  if (!st.ok()) spdlog::warn("JWKS reload for an unknown key id failed: {}", st.message());
  return st.ok();
}

Result<Principal> Authenticator::Authenticate(std::string_view authorization, int64_t now_s, bool verify) {
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
      if (now_s <= it->second->second.expires_at + config_.policy.clock_skew.count()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
      lru_.erase(it->second);  // expired since: verify again (and fail)
      index_.erase(it);
    }
  }
  if (!verify) return Unauthenticated("too many failed authentications from this address: only tokens verified before are accepted now");
  auto claims = VerifyJwt(token, *Keys(), config_.policy, now_s);
  if (!claims.ok() && claims.status().message().find("key id") != std::string::npos && ReloadSoon()) {
    claims = VerifyJwt(token, *Keys(), config_.policy, now_s);  // a key the provider added since
  }
  if (!claims.ok()) return claims.status();
  Principal p = PrincipalOf(*claims);
  if (config_.directory) config_.directory->Note(p);
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
