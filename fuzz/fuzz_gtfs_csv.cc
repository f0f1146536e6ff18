// Fuzz target: the streaming GTFS CSV reader (services/mobility/gtfs/csv.h). The first byte picks
// how the text is cut into chunks and whether short records are padded; the rest is the file.
// Properties: the records, problems and outcome do not depend on where the chunks are cut (the
// whole text at once is the reference), a record never holds more fields than the header, nor
// (padding off) fewer, and a record's bytes stay within the limit.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "services/mobility/gtfs/csv.h"

namespace {

using cityhub::mobility::gtfs::CsvLimits;
using cityhub::mobility::gtfs::CsvReader;
using cityhub::mobility::gtfs::CsvRecord;

struct Outcome {
  std::vector<std::string> header;
  std::vector<std::string> events;  // records and problems, in order, with their lines
  std::string status;

  bool operator==(const Outcome&) const = default;
};

Outcome Read(std::string_view text, size_t chunk, const CsvLimits& limits) {
  Outcome out;
  CsvReader reader(
      "fuzz.txt",
      [&](const std::vector<std::string>& names) {
        out.header = names;
        return cityhub::Status::Ok();
      },
      [&](const CsvRecord& r) {
        if (r.fields.size() > out.header.size()) __builtin_trap();
        if (!limits.pad_short_records && r.fields.size() != out.header.size()) __builtin_trap();
        std::string e = "R" + std::to_string(r.line);
        size_t bytes = 0;
        for (auto f : r.fields) {
          e += '|';
          e += f;
          bytes += f.size();
        }
        if (bytes > limits.max_record_bytes) __builtin_trap();
        out.events.push_back(std::move(e));
        return cityhub::Status::Ok();
      },
      [&](uint64_t line, std::string reason) { out.events.push_back("P" + std::to_string(line) + ":" + reason); },
      limits);
  cityhub::Status st = cityhub::Status::Ok();
  for (size_t at = 0; at < text.size() && st.ok(); at += chunk) st = reader.Feed(text.substr(at, chunk));
  if (st.ok()) st = reader.Finish();
  out.status = st.ok() ? "ok" : st.message();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text = cityhub::fuzz::AsText(data + 1, size - 1);
  CsvLimits limits;
  limits.max_record_bytes = 256;
  limits.pad_short_records = (data[0] & 0x80) != 0;
  const size_t chunk = 1 + (data[0] & 0x1f);
  const Outcome whole = Read(text, text.size() + 1, limits);
  const Outcome cut = Read(text, chunk, limits);
  if (!(whole == cut)) __builtin_trap();
  return 0;
}
