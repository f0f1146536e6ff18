// Tests for security/jwt: tokens minted here with OpenSSL (no identity server) — valid RS256
// and ES256 tokens pass with their claims; every way a token can be wrong is refused with a
// reason: expired, not yet valid, issued in the future, wrong issuer or audience, bad
// signature, "alg": "none", HS256 keyed with the public key, unknown kid, malformed parts.
#include "security/jwt.h"
#include "security/authenticator.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <random>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cityhub::security {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'790'000'000;

struct Keypair {
  EVP_PKEY* pkey = nullptr;
  std::string kid;
  std::string jwk;  // the public JWK
  ~Keypair() { EVP_PKEY_free(pkey); }
};

std::string Bn(EVP_PKEY* p, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(p, name, &bn), 1);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return bytes;
}

std::unique_ptr<Keypair> Rsa(std::string kid, int bits = 2048) {
  auto k = std::make_unique<Keypair>();
  k->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  k->kid = std::move(kid);
  k->jwk = fmt::format(R"({{"kty":"RSA","kid":"{}","use":"sig","alg":"RS256","n":"{}","e":"{}"}})", k->kid,
                       Base64UrlEncode(Bn(k->pkey, OSSL_PKEY_PARAM_RSA_N)), Base64UrlEncode(Bn(k->pkey, OSSL_PKEY_PARAM_RSA_E)));
  return k;
}

std::unique_ptr<Keypair> Ec(std::string kid) {
  auto k = std::make_unique<Keypair>();
  k->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  k->kid = std::move(kid);
  unsigned char point[65];
  size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len), 1);
  EXPECT_EQ(len, 65u);
  const std::string x(reinterpret_cast<char*>(point) + 1, 32), y(reinterpret_cast<char*>(point) + 33, 32);
  k->jwk = fmt::format(R"({{"kty":"EC","kid":"{}","crv":"P-256","x":"{}","y":"{}"}})", k->kid, Base64UrlEncode(x),
                       Base64UrlEncode(y));
  return k;
}

std::string SignSha256(EVP_PKEY* key, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

// A token signed by `k` (alg from its type) with the given header extras and claims.
std::string Mint(const Keypair& k, const std::string& claims, const std::string& header_extra = "", bool with_kid = true) {
  const bool ec = EVP_PKEY_get_base_id(k.pkey) == EVP_PKEY_EC;
  std::string header = fmt::format(R"({{"alg":"{}","typ":"JWT"{}{}}})", ec ? "ES256" : "RS256",
                                   with_kid ? fmt::format(R"(,"kid":"{}")", k.kid) : "", header_extra);
  const std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  std::string sig = SignSha256(k.pkey, input);
  if (ec) {  // DER -> raw r || s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(s);
    sig = raw;
  }
  return input + "." + Base64UrlEncode(sig);
}

std::string Claims(int64_t exp_offset = 300, const std::string& more = "") {
  return fmt::format(R"({{"iss":"https://idp.city.example/realms/gimhae","sub":"operator-7","aud":["cityhub","account"],)"
                     R"("exp":{},"iat":{},"realm_access":{{"roles":["writer"]}}{}}})",
                     kNow + exp_offset, kNow - 10, more);
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = Rsa("rsa-1").release();
    ec_ = Ec("ec-1").release();
    other_ = Rsa("rsa-1").release();  // same kid, another key: a forger's
  }
  static void TearDownTestSuite() {
    delete rsa_;
    delete ec_;
    delete other_;
  }
  KeySet Keys() {
    auto set = KeySet::Parse(fmt::format(R"({{"keys":[{},{},{{"kty":"oct","k":"c2VjcmV0"}},)"
                                         R"({{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}}]}})",
                                         rsa_->jwk, ec_->jwk));
    EXPECT_TRUE(set.ok()) << set.status().message();
    return std::move(set).value();
  }
  JwtPolicy Policy() {
    JwtPolicy p;
    p.issuer = "https://idp.city.example/realms/gimhae";
    p.audience = "cityhub";
    return p;
  }
  void ExpectRefused(const std::string& token, std::string_view reason, JwtPolicy policy = {}) {
    if (policy.issuer.empty()) policy = Policy();
    auto r = VerifyJwt(token, Keys(), policy, kNow);
    ASSERT_FALSE(r.ok()) << "accepted: " << reason;
    EXPECT_EQ(r.status().code(), Status::Code::kUnauthenticated);
    EXPECT_THAT(r.status().message(), HasSubstr(reason));
  }

  static Keypair* rsa_;
  static Keypair* ec_;
  static Keypair* other_;
};
Keypair* JwtTest::rsa_ = nullptr;
Keypair* JwtTest::ec_ = nullptr;
Keypair* JwtTest::other_ = nullptr;

TEST_F(JwtTest, ValidRs256AndEs256TokensPassWithTheirClaims) {
  EXPECT_EQ(Keys().size(), 2u);  // the symmetric and the encryption key are skipped
  for (const Keypair* k : {rsa_, ec_}) {
    auto r = VerifyJwt(Mint(*k, Claims()), Keys(), Policy(), kNow);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->subject, "operator-7");
    EXPECT_EQ(r->expires_at, kNow + 300);
    EXPECT_EQ(r->all.at("realm_access").as_object().at("roles").as_array().at(0).as_string(), "writer");
  }
  // Audience as a plain string; a token without kid when one key fits its algorithm.
  auto r = VerifyJwt(Mint(*ec_, R"({"aud":"cityhub","iss":"https://idp.city.example/realms/gimhae","exp":)" +
                                    std::to_string(kNow + 5) + "}",
                          "", /*with_kid=*/false),
                     Keys(), Policy(), kNow);
  EXPECT_TRUE(r.ok()) << r.status().message();
  // Within the clock skew: expired 30 s ago still passes with 60 s of skew.
  EXPECT_TRUE(VerifyJwt(Mint(*rsa_, Claims(-30)), Keys(), Policy(), kNow).ok());
}

TEST_F(JwtTest, TimeIssuerAndAudienceAreChecked) {
  ExpectRefused(Mint(*rsa_, Claims(-61)), "expired");
  ExpectRefused(Mint(*rsa_, Claims(300, fmt::format(R"(,"nbf":{})", kNow + 120))), "not valid yet");
  ExpectRefused(Mint(*rsa_, R"({"iss":"https://idp.city.example/realms/gimhae","aud":"cityhub"})"), "no expiry");
  JwtPolicy other_issuer = Policy();
  other_issuer.issuer = "https://idp.city.example/realms/jeju";
  ExpectRefused(Mint(*rsa_, Claims()), "issuer", other_issuer);
  JwtPolicy other_audience = Policy();
  other_audience.audience = "dashboard";
  ExpectRefused(Mint(*rsa_, Claims()), "audience", other_audience);
  // iat in the future beyond the skew.
  ExpectRefused(Mint(*rsa_, fmt::format(R"({{"iss":"https://idp.city.example/realms/gimhae","aud":"cityhub","exp":{},"iat":{}}})",
                                        kNow + 900, kNow + 600)),
                "future");
}

TEST_F(JwtTest, ForgedAndDowngradedTokensAreRefused) {
  // Signed by another key under the same kid.
  ExpectRefused(Mint(*other_, Claims()), "signature");
  // A tampered payload under a valid signature.
  std::string token = Mint(*rsa_, Claims());
  const size_t d1 = token.find('.'), d2 = token.rfind('.');
  const std::string forged_claims = Base64UrlEncode(Claims(300, R"(,"realm_access":{"roles":["admin"]})"));
  ExpectRefused(token.substr(0, d1 + 1) + forged_claims + token.substr(d2), "signature");
  // alg none, with and without a signature part.
  const std::string none_header = Base64UrlEncode(R"({"alg":"none","typ":"JWT"})");
  ExpectRefused(none_header + "." + Base64UrlEncode(Claims()) + ".", "'none' is not accepted");
  ExpectRefused(none_header + "." + Base64UrlEncode(Claims()), "three");
  // HS256 keyed with the RSA public key's PEM (the classic confusion attack).
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, rsa_->pkey);
  char* pem = nullptr;
  const long pem_len = BIO_get_mem_data(bio, &pem);
  const std::string input = Base64UrlEncode(R"({"alg":"HS256","kid":"rsa-1"})") + "." + Base64UrlEncode(Claims());
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), pem, static_cast<int>(pem_len), reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
       &mac_len);
  BIO_free(bio);
  ExpectRefused(input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), mac_len)), "'HS256' is not accepted");
  // Unknown kid; an ES256 token claiming the RSA key's kid.
  ExpectRefused(Mint(*rsa_, Claims(), R"(,"kid":"rsa-9")", /*with_kid=*/false), "key id");
  std::string ec_as_rsa = Mint(*ec_, Claims(), R"(,"kid":"rsa-1")", /*with_kid=*/false);
  ExpectRefused(ec_as_rsa, "key id");
  // Critical headers we do not know.
  ExpectRefused(Mint(*rsa_, Claims(), R"(,"crit":["exp"])"), "critical");
}

TEST_F(JwtTest, MalformedTokensAreRefusedNeverCrash) {
  ExpectRefused("", "empty");
  ExpectRefused("abc", "three");
  ExpectRefused("a.b.c.d", "three");
  ExpectRefused("!!!.abc.def", "base64url");
  ExpectRefused(Base64UrlEncode("[1,2]") + "." + Base64UrlEncode("{}") + ".AAAA", "header");
  ExpectRefused(std::string(kMaxTokenBytes + 1, 'a'), "longer");
  // Random mutations of a valid token: refused with a reason, never accepted, never a crash.
  const std::string good = Mint(*ec_, Claims());
  std::mt19937 rng(11);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
  for (int i = 0; i < 3000; ++i) {
    std::string t = good;
    const size_t pos = rng() % t.size();
    const char c = alphabet[rng() % alphabet.size()];
    if (t[pos] == c) continue;
    t[pos] = c;
    auto r = VerifyJwt(t, Keys(), Policy(), kNow);
    if (r.ok()) {
      // Only a change that decodes to the same bytes may pass (the last char's unused bits are
      // refused, so none should).
      ADD_FAILURE() << "a mutated token was accepted at " << pos;
    }
  }
}

// The reason of a refusal goes into a WWW-Authenticate header and the audit log: it must never
// carry what the token holds in alg, kid or typ, least of all control bytes.
TEST_F(JwtTest, ReasonsNeverEchoControlBytesOfTheToken) {
  const std::string claims = Base64UrlEncode(Claims());
  // JSON-escaped control bytes (what an attacker would send), long and non-ASCII names.
  const std::vector<std::string> odd = {R"(RS256\r\nX-Evil: 1)", R"(\n)", R"(ES\u0001\u007f)", R"(a\u0000b)",
                                        R"(\u00ff\u2028)", std::string(300, 'A'), "RS256\r\n"};
  for (const std::string& value : odd) {
    SCOPED_TRACE(value);
    for (const std::string& header :
         {fmt::format(R"({{"alg":"{}","typ":"JWT"}})", value), fmt::format(R"({{"alg":"RS256","kid":"{}"}})", value),
          fmt::format(R"({{"alg":"ES256","kid":"ec-1","typ":"{}"}})", value)}) {
      auto r = VerifyJwt(Base64UrlEncode(header) + "." + claims + ".AAAA", Keys(), Policy(), kNow);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Status::Code::kUnauthenticated);
      for (char c : r.status().message()) {
        EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(static_cast<unsigned char>(c)) << " in: " << r.status().message();
      }
      EXPECT_LE(r.status().message().size(), 120u);
    }
  }
  ExpectRefused(Base64UrlEncode(R"({"alg":"RS256\r\n"})") + "." + claims + ".AAAA", "algorithm is not accepted");
  ExpectRefused("abc\r\ndef.ghi.jkl", "base64url");
}

TEST(JwksTest, BadKeySetsAreErrorsNamingTheKey) {
  EXPECT_FALSE(KeySet::Parse("not json").ok());
  EXPECT_FALSE(KeySet::Parse(R"({"keys":{}})").ok());
  auto short_rsa = Rsa("small", 1024);
  auto r = KeySet::Parse(fmt::format(R"({{"keys":[{}]}})", short_rsa->jwk));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("key 0"));
  EXPECT_THAT(r.status().message(), HasSubstr("2048"));
  auto off_curve = KeySet::Parse(
      R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]})");
  EXPECT_FALSE(off_curve.ok());
  EXPECT_FALSE(KeySet::Parse(R"({"keys":[{"kty":"RSA","n":"@@","e":"AQAB"}]})").ok());
}

TEST(Base64UrlTest, RoundTripsAndRefusesWhatIsNotCanonical) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), s);
  }
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(Base64UrlDecode("Zm9vYg==").has_value());  // padding
  EXPECT_FALSE(Base64UrlDecode("Zm9v+g").has_value());    // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());         // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());        // non-zero trailing bits
}

}  // namespace
}  // namespace cityhub::security

namespace cityhub::security {
namespace {

TEST_F(JwtTest, AnUnknownKeyIdFetchesTheKeySetAgainAtMostOncePerInterval) {
  auto next = Ec("ec-2");
  int fetches = 0;
  std::string served = fmt::format(R"({{"keys":[{}]}})", ec_->jwk);
  AuthConfig config;
  config.jwks_json = served;
  config.policy = Policy();
  config.reload = [&]() -> Result<std::string> {
    ++fetches;
    return served;
  };
  config.refresh_interval = std::chrono::hours(1);
  config.min_reload_interval = std::chrono::milliseconds(200);
  auto auth = Authenticator::Create(config);
  ASSERT_TRUE(auth.ok()) << auth.status().message();
  const std::string old_token = Mint(*ec_, Claims()), new_token = Mint(*next, Claims());
  EXPECT_TRUE((*auth)->Authenticate("Bearer " + old_token, kNow).ok());
  EXPECT_EQ((*auth)->Authenticate("Bearer " + new_token, kNow).status().code(), Status::Code::kUnauthenticated);
  EXPECT_EQ(fetches, 0);  // within the interval of the start
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  served = fmt::format(R"({{"keys":[{}]}})", next->jwk);  // the provider rotated
  EXPECT_TRUE((*auth)->Authenticate("Bearer " + new_token, kNow).ok());
  EXPECT_EQ(fetches, 1);
  // The retired key's token was cached while valid; a fresh token of the retired key is refused.
  EXPECT_FALSE((*auth)->Authenticate("Bearer " + Mint(*ec_, Claims(301)), kNow).ok());
  // Many bad kids in a row: one fetch at most per interval.
  auto stranger = Ec("ec-9");
  for (int i = 0; i < 20; ++i) EXPECT_FALSE((*auth)->Authenticate("Bearer " + Mint(*stranger, Claims(400 + i)), kNow).ok());
  EXPECT_LE(fetches, 2);
  // Headers that are not Bearer tokens.
  EXPECT_THAT((*auth)->Authenticate("", kNow).status().message(), HasSubstr("authentication required"));
  EXPECT_THAT((*auth)->Authenticate("Basic abc", kNow).status().message(), HasSubstr("Bearer"));
}

}  // namespace
}  // namespace cityhub::security
