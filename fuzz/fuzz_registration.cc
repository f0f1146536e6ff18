// Fuzz target: what POST and PATCH /csourceRegistrations do with a body — exact JSON parsing with
// a depth limit, registration validation into the stored form, rendering, the registration as an
// entity for q/csf, and a patch of the stored form with the body. Must never crash, hang or
// leak; a valid registration, rendered and registered again, must render the same.
#include <cstdint>
#include <cstdlib>

#include <boost/json.hpp>

#include "fuzz_common.h"
#include "ngsild/csource_registration.h"
#include "util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub;
  constexpr int64_t kNow = 1'700'000'000'000;
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 64;
  boost::json::value v = util::ParseJson(fuzz::AsText(data, size), opts, ec);
  if (ec || !v.is_object()) return 0;
  const auto& ctx = fuzz::CoreContext();
  auto stored = ngsild::NormalizeRegistration(v.get_object(), ctx, "urn:ngsi-ld:ContextSourceRegistration:f", kNow);
  if (!stored.ok()) return 0;
  (void)ngsild::RegistrationAsEntity(*stored, ctx);
  const boost::json::object rendered = ngsild::RenderRegistration(*stored, ctx, false);
  auto again = ngsild::NormalizeRegistration(rendered, ctx, "urn:ngsi-ld:ContextSourceRegistration:f", kNow);
  if (!again.ok() || ngsild::RenderRegistration(*again, ctx, false) != rendered) std::abort();  // must round-trip
  boost::json::object patched = *stored;
  (void)ngsild::PatchRegistration(patched, v.get_object(), ctx, kNow + 1);
  return 0;
}
