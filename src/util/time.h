// Time helpers shared by layers: the wall clock as NGSI-LD DateTime text and its parsing.
// Times the hub generates (createdAt, modifiedAt, notifiedAt, …) are UTC with millisecond
// precision ("…T..:..:..mmmZ"). A DateTime a client wrote keeps the fraction it was written
// with (none, ".5", ".123456"): parsing returns it as a TimeFraction beside the epoch
// milliseconds, and formatting with it gives the same text back, in UTC.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cityhub::util {

// The fractional seconds of a DateTime as written: how many digits (0–9) and the nanoseconds
// below the millisecond they hold (0–999,999). The default is the hub's own precision.
struct TimeFraction {
  uint8_t digits = 3;
  uint32_t sub_ms_ns = 0;

  bool operator==(const TimeFraction&) const = default;
};

// Milliseconds since the Unix epoch, from the system clock.
int64_t NowMillis();

// A date of the proleptic Gregorian calendar.
struct CivilDate {
  int64_t year;
  unsigned month;  // 1-12
  unsigned day;    // 1-31
};
// Days since 1970-01-01 of a civil date (month 1-12, day 1-31), and back (H. Hinnant's
// algorithms); exact for any year.
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);
CivilDate CivilFromDays(int64_t days);

// Formats epoch milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string FormatDateTime(int64_t epoch_ms);
// Formats epoch milliseconds plus `fraction` in UTC with fraction.digits fractional digits
// ("YYYY-MM-DDTHH:MM:SSZ" for none). Digits beyond what the time holds are zeros; a time
// holding more than the digits show is cut, so `fraction` should come from ParseDateTime.
std::string FormatDateTime(int64_t epoch_ms, TimeFraction fraction);

// Parses an ISO 8601 date-time with a time zone ("Z" or "+hh:mm"/"-hh:mm"), optional fraction
// of 1–9 digits. Returns epoch milliseconds (rounded down), or nullopt if the text is not such
// a date-time; sets *fraction (when given) to the fraction as written.
std::optional<int64_t> ParseDateTime(std::string_view text, TimeFraction* fraction = nullptr);

// The date-time `text` in UTC with the fraction it was written with ("2024-05-01T10:00:00.5+09:00"
// -> "2024-05-01T01:00:00.5Z"), or nullopt if the text is not a date-time with a time zone.
std::optional<std::string> DateTimeInUtc(std::string_view text);

}  // namespace cityhub::util
