// Fuzz target: JWT parsing and verification, and JWKS parsing. The input as a token against a
// fixed key set (an EC P-256 key), and as a JWKS document. Nothing may be accepted: the fuzzer
// cannot sign with the key, so an accepted token is a bug (abort).
#include <cstdint>
#include <cstdlib>

#include "fuzz_common.h"
#include "security/jwt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub;
  static const security::KeySet keys = security::KeySet::Parse(
      R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"0lyj1-faIN6P3Z9arpzqqPREmNd4zR9Gc_2aRisLTSA","y":"DAjT3VI3N7ET8LkkXFkUDaCOO8KRTD_qMa22h0Ql0m8"}]})")
                                          .value();
  const std::string_view text = fuzz::AsText(data, size);
  if (security::VerifyJwt(text, keys, {}, 1'790'000'000).ok()) std::abort();
  (void)security::KeySet::Parse(text);
  (void)security::Base64UrlDecode(text);
  return 0;
}
