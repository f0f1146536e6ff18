// Measures: the payloads devices send, decoded without any I/O — UltraLight 2.0 text
// ("t|23.5|h|45", groups joined by '#', an optional leading ISO 8601 timestamp per group) and
// JSON ({"t": 23.5, "h": 45}, or an array of such objects; a "TimeInstant" member gives the
// group's time). Following the FIWARE IoT Agent conventions, so existing devices work.
// Every limit is explicit (MeasureLimits); a payload beyond one is refused whole with the
// reason, never truncated silently. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "util/status.h"
#include "util/time.h"

namespace cityhub::ingest {

struct MeasureLimits {
  size_t max_payload_bytes = 1 << 20;  // one message / request body (413 beyond)
  size_t max_measures = 1000;          // attribute values in one message, all groups together
  size_t max_groups = 100;             // measure groups ('#'-separated, or array items)
  size_t max_value_bytes = 4096;       // one UltraLight value
};

struct Measure {
  std::string object_id;     // the device's short name of the attribute
  boost::json::value value;  // UltraLight: a number when the text is one, else a string
};

// Measures sent together, with the time the device gives them (nullopt: the hub's receive
// time applies).
struct MeasureGroup {
  std::optional<int64_t> observed_ms;
  util::TimeFraction observed_fraction;  // the fraction the device wrote the time with
  std::vector<Measure> measures;
};

// BadRequestData naming the position and what is wrong; PayloadTooLarge past a limit.
Result<std::vector<MeasureGroup>> DecodeUltralight(std::string_view payload, const MeasureLimits& limits);
Result<std::vector<MeasureGroup>> DecodeJson(std::string_view payload, const MeasureLimits& limits);

// A single attribute's raw value (MQTT topic .../attrs/<object_id>): as DecodeUltralight reads
// one value.
Result<MeasureGroup> DecodeSingle(std::string_view object_id, std::string_view payload, const MeasureLimits& limits);

// True for an object_id devices may use: 1–64 characters of letters, digits, '_', '-', '.'.
bool ValidObjectId(std::string_view id);

}  // namespace cityhub::ingest
