// Fuzz target: history blocks as read from the store (broker/history_codec.h): any bytes are
// decoded record by record, retractions applied, each record materialized; corrupt bytes must
// be an error, never a crash or an out-of-bounds read.
#include <cstdint>

#include "broker/history_codec.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub;
  const std::string_view bytes = fuzz::AsText(data, size);
  (void)broker::ForEachHistoryRecord(bytes, 480'000, [](const broker::InstanceView& v) {
    (void)v.Materialize();
    return true;
  });
  return 0;
}
