// Fuzz target: request JSON and NGSI-LD validation — what POST /entities does with a body:
// exact JSON parsing with a depth limit, entity parsing/validation, serialization to the
// stored form and back, and rendering in every format. Must never crash, hang or leak; a
// valid entity must survive the store round trip unchanged, and its rendering from the stored
// text (stored_render.h) must be the DOM rendering's text exactly. The input is also read as
// if it were a stored document (StoredEntity::Read, RenderStored): never a crash or overread.
#include <cstdint>
#include <cstdlib>

#include <boost/json.hpp>

#include "fuzz_common.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "ngsild/stored_render.h"
#include "util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub;
  if (auto raw = ngsild::StoredEntity::Read(std::string(fuzz::AsText(data, size))); raw.ok()) {
    std::string out;
    (void)ngsild::RenderStored(*raw, fuzz::CoreContext(), ngsild::RenderOptions{}, &out);
    (void)raw->Decode();
  }
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
    const std::string dom = util::SerializeJson(ngsild::RenderEntity(*e, ctx, r));
    auto read = ngsild::StoredEntity::Read(stored);
    if (!read.ok()) std::abort();
    std::string text;
    if (!ngsild::RenderStored(*read, ctx, r, &text).ok() || text != dom) std::abort();  // the two paths agree
  }
  return 0;
}
