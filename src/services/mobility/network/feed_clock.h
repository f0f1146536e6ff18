// FeedClock: the calendar of a feed's time zone — where each service day starts in UTC, which
// local date an instant falls on, and the UTC offset to print times with. Backed by the IANA
// time zone database (/usr/share/zoneinfo, through Abseil's time library), so daylight saving
// changes are honoured. Immutable after Load; safe to share between threads.
//
// GTFS counts a service day's times from "noon minus 12 h" local time, which is midnight except
// on the days a daylight saving change happens; ServiceDayStartUtc gives that instant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <absl/time/time.h>

#include "util/status.h"

namespace cityhub::mobility::network {

class FeedClock {
 public:
  // The clock of an IANA zone name ("Asia/Seoul"); InvalidRequest naming it when unknown.
  static Result<FeedClock> Load(std::string_view zone);

  const std::string& zone() const { return zone_; }
  // Unix seconds of the start (noon − 12 h) of the local service day `yyyymmdd`.
  int64_t ServiceDayStartUtc(int32_t yyyymmdd) const;
  // The local calendar date (yyyymmdd) of an instant.
  int32_t LocalDate(int64_t unix_seconds) const;
  // Seconds east of UTC in force at an instant.
  int32_t UtcOffset(int64_t unix_seconds) const;
  // "2026-09-16T08:05:00-04:00": the instant in local time with its offset (seconds precision).
  std::string FormatLocal(int64_t unix_seconds) const;

 private:
  std::string zone_;
  absl::TimeZone tz_;
};

// Date arithmetic on yyyymmdd integers.
int32_t AddDays(int32_t yyyymmdd, int days);
// 0 Monday … 6 Sunday.
int Weekday(int32_t yyyymmdd);

}  // namespace cityhub::mobility::network
