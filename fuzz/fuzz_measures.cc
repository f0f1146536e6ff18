// Fuzz target: the IoT agent's payload decoders (ingest/measures.h) — UltraLight 2.0, JSON and
// single values, as devices send them over HTTP and MQTT. The first byte picks the decoder; a
// decoded message must respect the limits it was decoded under.
#include <cstdint>

#include "fuzz_common.h"
#include "ingest/measures.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub::ingest;
  if (size == 0) return 0;
  const std::string_view text = cityhub::fuzz::AsText(data + 1, size - 1);
  MeasureLimits limits;
  limits.max_measures = 64;
  limits.max_groups = 8;
  limits.max_value_bytes = 256;
  cityhub::Result<std::vector<MeasureGroup>> r = cityhub::Status::Internal("not decoded");
  switch (data[0] % 3) {
    case 0:
      r = DecodeUltralight(text, limits);
      break;
    case 1:
      r = DecodeJson(text, limits);
      break;
    default: {
      const size_t cut = text.find('\n');
      auto one = DecodeSingle(text.substr(0, cut), cut == std::string_view::npos ? "" : text.substr(cut + 1), limits);
      if (one.ok() && one->measures.size() != 1) __builtin_trap();
      return 0;
    }
  }
  if (r.ok()) {
    size_t measures = 0;
    if (r->size() > limits.max_groups) __builtin_trap();
    for (const auto& g : *r) {
      if (g.measures.empty()) __builtin_trap();
      measures += g.measures.size();
      for (const auto& m : g.measures) {
        if (!ValidObjectId(m.object_id)) __builtin_trap();
      }
    }
    if (measures > limits.max_measures) __builtin_trap();
  }
  return 0;
}
