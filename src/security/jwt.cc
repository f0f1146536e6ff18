#include "security/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "util/json.h"

namespace cityhub::security {
namespace json = boost::json;

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr int kMinRsaBits = 2048;

Status Unauthenticated(std::string reason) { return Status(Status::Code::kUnauthenticated, std::move(reason)); }

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A public key from OpenSSL parameters (RSA n/e or an EC point), or null.
Pkey FromParams(const char* type, const std::function<bool(OSSL_PARAM_BLD*)>& fill) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (!bld) return nullptr;
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* pkey = nullptr;
  if (fill(bld) && (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr &&
      (ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr)) != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  return Pkey(pkey);
}

Result<Pkey> RsaKey(const json::object& jwk) {
  auto n = Base64UrlDecode(StringAt(jwk, "n"));
  auto e = Base64UrlDecode(StringAt(jwk, "e"));
  if (!n || !e || n->empty() || e->empty()) return Status::BadRequestData("RSA key without a valid 'n' and 'e'");
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr);
  Pkey key = FromParams("RSA", [&](OSSL_PARAM_BLD* bld) {
    return bn_n && bn_e && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
           OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1;
  });
  BN_free(bn_n);
  BN_free(bn_e);
  if (!key) return Status::BadRequestData("RSA key that OpenSSL cannot use");
  if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
    return Status::BadRequestData(fmt::format("RSA key of {} bits: at least {} are required", EVP_PKEY_get_bits(key.get()), kMinRsaBits));
  }
  return key;
}

Result<Pkey> EcKey(const json::object& jwk) {
  if (StringAt(jwk, "crv") != "P-256") return Status::BadRequestData("EC key on a curve other than P-256");
  auto x = Base64UrlDecode(StringAt(jwk, "x"));
  auto y = Base64UrlDecode(StringAt(jwk, "y"));
  if (!x || !y || x->size() != 32 || y->size() != 32) return Status::BadRequestData("EC key without 32-byte 'x' and 'y'");
  std::string point = "\x04" + *x + *y;  // uncompressed point
  Pkey key = FromParams("EC", [&](OSSL_PARAM_BLD* bld) {
    return OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
           OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1;
  });
  if (!key) return Status::BadRequestData("EC key whose point is not on P-256");
  return key;
}

// The raw r || s of a JWS ES256 signature as the DER an OpenSSL verifier takes.
std::optional<std::string> EcdsaDer(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool VerifySha256(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                   reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::optional<json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  json::value v = util::ParseJson(text, opts, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

std::optional<int64_t> NumericDate(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v->get_uint64(), INT64_MAX));
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return std::nullopt;
}

}  // namespace

struct KeySet::Key {
  std::string kid;
  std::string alg;  // "RS256" or "ES256"
  Pkey pkey;
};

KeySet::KeySet() = default;
KeySet::~KeySet() = default;
KeySet::KeySet(KeySet&&) noexcept = default;
KeySet& KeySet::operator=(KeySet&&) noexcept = default;

size_t KeySet::size() const { return keys_.size(); }

Result<KeySet> KeySet::Parse(std::string_view jwks_json) {
  auto doc = ParseObject(jwks_json);
  const json::value* keys = doc ? doc->if_contains("keys") : nullptr;
  if (!keys || !keys->is_array()) return Status::BadRequestData("a JWKS must be a JSON object with a 'keys' array");
  KeySet set;
  size_t index = 0;
  for (const auto& item : keys->get_array()) {
    const std::string where = fmt::format("JWKS key {}", index++);
    if (!item.is_object()) return Status::BadRequestData(where + ": not an object");
    const json::object& jwk = item.get_object();
    const std::string kty = StringAt(jwk, "kty"), use = StringAt(jwk, "use"), alg = StringAt(jwk, "alg");
    if (!use.empty() && use != "sig") continue;  // encryption keys
    auto key = std::make_unique<Key>();
    key->kid = StringAt(jwk, "kid");
    if (kty == "RSA" && (alg.empty() || alg == "RS256")) {
      auto pkey = RsaKey(jwk);
      if (!pkey.ok()) return Status::BadRequestData(fmt::format("{}: {}", where, pkey.status().message()));
      key->alg = "RS256";
      key->pkey = std::move(*pkey);
    } else if (kty == "EC" && (alg.empty() || alg == "ES256")) {
      auto pkey = EcKey(jwk);
      if (!pkey.ok()) return Status::BadRequestData(fmt::format("{}: {}", where, pkey.status().message()));
      key->alg = "ES256";
      key->pkey = std::move(*pkey);
    } else {
      continue;  // symmetric ("oct") keys and algorithms we never accept
    }
    set.keys_.push_back(std::move(key));
  }
  return set;
}

const KeySet::Key* KeySet::Find(const std::optional<std::string>& kid, std::string_view alg) const {
  const Key* found = nullptr;
  for (const auto& k : keys_) {
    if (k->alg != alg) continue;
    if (kid) {
      if (k->kid == *kid) return k.get();
    } else {
      if (found) return nullptr;  // ambiguous without a kid
      found = k.get();
    }
  }
  return found;
}

Result<JwtClaims> VerifyJwt(std::string_view token, const KeySet& keys, const JwtPolicy& policy, int64_t now_s) {
  if (token.empty()) return Unauthenticated("empty bearer token");
  if (token.size() > kMaxTokenBytes) return Unauthenticated(fmt::format("token longer than {} bytes", kMaxTokenBytes));
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthenticated("not a JWT (expected three base64url parts)");
  }
  auto header_text = Base64UrlDecode(token.substr(0, dot1));
  auto payload_text = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = Base64UrlDecode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return Unauthenticated("malformed base64url in the token");
  auto header = ParseObject(*header_text);
  if (!header) return Unauthenticated("the token header is not a JSON object");
  const std::string alg = StringAt(*header, "alg");
  if (alg != "RS256" && alg != "ES256") {
    // The name is echoed only when it looks like one: the reason ends up in a response header.
    const bool plain = !alg.empty() && alg.size() <= 16 && std::all_of(alg.begin(), alg.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '+' || c == '.';
    });
    return Unauthenticated(alg.empty() ? std::string("the token names no algorithm")
                           : plain     ? fmt::format("algorithm '{}' is not accepted (RS256, ES256)", alg)
                                       : std::string("the token's algorithm is not accepted (RS256, ES256)"));
  }
  if (header->contains("crit")) return Unauthenticated("the token has critical header parameters this hub does not know");
  std::optional<std::string> kid;
  if (const json::value* k = header->if_contains("kid")) {
    if (!k->is_string()) return Unauthenticated("the token's 'kid' is not a string");
    kid = std::string(k->get_string());
  }
  const KeySet::Key* key = keys.Find(kid, alg);
  if (!key) return Unauthenticated(kid ? "the token's key id is not in the key set" : "the token names no key id");
  const std::string_view signing_input = token.substr(0, dot2);
  bool valid = false;
  if (alg == "RS256") {
    valid = VerifySha256(key->pkey.get(), signing_input, *signature);
  } else if (auto der = EcdsaDer(*signature)) {
    valid = VerifySha256(key->pkey.get(), signing_input, *der);
  }
  if (!valid) return Unauthenticated("invalid token signature");

  auto claims = ParseObject(*payload_text);
  if (!claims) return Unauthenticated("the token's claims are not a JSON object");
  const int64_t skew = policy.clock_skew.count();
  auto exp = NumericDate(*claims, "exp");
  if (!exp) return Unauthenticated("the token has no expiry ('exp')");
  if (now_s > *exp + skew) return Unauthenticated("the token has expired");
  if (auto nbf = NumericDate(*claims, "nbf"); nbf && now_s + skew < *nbf) return Unauthenticated("the token is not valid yet ('nbf')");
  if (auto iat = NumericDate(*claims, "iat"); iat && now_s + skew < *iat) return Unauthenticated("the token was issued in the future ('iat')");
  JwtClaims out;
  out.issuer = StringAt(*claims, "iss");
  out.subject = StringAt(*claims, "sub");
  out.expires_at = *exp;
  if (!policy.issuer.empty() && out.issuer != policy.issuer) return Unauthenticated("the token's issuer is not the one configured");
  if (!policy.audience.empty()) {
    bool ok = false;
    if (const json::value* aud = claims->if_contains("aud")) {
      if (aud->is_string()) ok = aud->get_string() == policy.audience;
      if (aud->is_array()) {
        for (const auto& a : aud->get_array()) ok = ok || (a.is_string() && a.get_string() == policy.audience);
      }
    }
    if (!ok) return Unauthenticated("the token is not meant for this audience");
  }
  out.all = std::move(*claims);
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (size_t i = 0; i < kAlphabet.size(); ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (text.size() % 4 == 1) return std::nullopt;  // no whole byte can end there
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : text) {
    const int v = kValue[c];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

}  // namespace cityhub::security
