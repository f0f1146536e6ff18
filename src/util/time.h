// Time helpers shared by layers: the wall clock as NGSI-LD DateTime text and its parsing.
// Every NGSI-LD DateTime the hub writes is UTC with millisecond precision ("...T..:..:...mmmZ").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cityhub::util {

// Milliseconds since the Unix epoch, from the system clock.
int64_t NowMillis();

// Formats epoch milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string FormatDateTime(int64_t epoch_ms);

// Parses an ISO 8601 date-time with a time zone ("Z" or "+hh:mm"/"-hh:mm"), optional fraction.
// Returns epoch milliseconds, or nullopt if the text is not such a date-time.
std::optional<int64_t> ParseDateTime(std::string_view text);

}  // namespace cityhub::util
