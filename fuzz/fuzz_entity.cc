// Fuzz target: request JSON and NGSI-LD validation — what POST /entities does with a body:
// exact JSON parsing with a depth limit, entity parsing/validation, serialization to the
// stored form and back, and rendering in every format. Must never crash, hang or leak; a
// valid entity must survive the store round trip unchanged.
#include <cstdint>
#include <cstdlib>

#include <boost/json.hpp>

#include "fuzz_common.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub;
  boost::system::error_code ec;
  boost::json::parse_options opts;
  opts.max_depth = 64;
  boost::json::value v = util::ParseJson(fuzz::AsText(data, size), opts, ec);
  if (ec || !v.is_object()) return 0;
  const auto& ctx = fuzz::CoreContext();
  auto e = ngsild::ParseEntity(v.get_object(), ctx, 1'700'000'000'000, ngsild::ParseLimits{});
  (void)ngsild::ParseAttributes(v.get_object(), ctx, 1'700'000'000'000, ngsild::ParseLimits{}, true);
  if (!e.ok()) return 0;
  const std::string stored = ngsild::SerializeEntity(*e);
  auto back = ngsild::DeserializeEntity(stored);
  if (!back.ok() || ngsild::SerializeEntity(*back) != stored) std::abort();  // the store must round-trip
  for (auto format : {ngsild::Format::kNormalized, ngsild::Format::kConcise, ngsild::Format::kKeyValues}) {
    ngsild::RenderOptions r;
    r.format = format;
    r.sys_attrs = true;
    (void)util::SerializeJson(ngsild::RenderEntity(*e, ctx, r));
  }
  return 0;
}
