#include "services/mobility/network/feed_clock.h"

#include <cstdlib>

#include <fmt/format.h>

#include "util/time.h"

namespace cityhub::mobility::network {

Result<FeedClock> FeedClock::Load(std::string_view zone) {
  FeedClock clock;
  clock.zone_ = std::string(zone);
  if (zone.empty() || !absl::LoadTimeZone(clock.zone_, &clock.tz_)) {
    return Status::InvalidRequest(fmt::format(
        "time zone '{}' is not in the IANA time zone database (/usr/share/zoneinfo; package tzdata)", zone));
  }
  return clock;
}

int64_t FeedClock::ServiceDayStartUtc(int32_t yyyymmdd) const {
  const absl::CivilSecond noon(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100, 12, 0, 0);
  return absl::ToUnixSeconds(absl::FromCivil(noon, tz_)) - 12 * 3600;
}

int32_t FeedClock::LocalDate(int64_t unix_seconds) const {
  const absl::CivilSecond local = absl::ToCivilSecond(absl::FromUnixSeconds(unix_seconds), tz_);
  return static_cast<int32_t>(local.year() * 10000 + local.month() * 100 + local.day());
}

int32_t FeedClock::UtcOffset(int64_t unix_seconds) const {
  return tz_.At(absl::FromUnixSeconds(unix_seconds)).offset;
}

std::string FeedClock::FormatLocal(int64_t unix_seconds) const {
  const absl::TimeZone::CivilInfo info = tz_.At(absl::FromUnixSeconds(unix_seconds));
  const absl::CivilSecond& c = info.cs;
  const int offset = info.offset;
  const int abs_min = std::abs(offset) / 60;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}", c.year(), c.month(), c.day(), c.hour(),
                     c.minute(), c.second(), offset < 0 ? '-' : '+', abs_min / 60, abs_min % 60);
}

int32_t AddDays(int32_t yyyymmdd, int days) {
  const int64_t d = util::DaysFromCivil(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100) + days;
  const util::CivilDate c = util::CivilFromDays(d);
  return static_cast<int32_t>(c.year * 10000 + c.month * 100 + c.day);
}

int Weekday(int32_t yyyymmdd) {
  const int64_t d = util::DaysFromCivil(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100);
  // 1970-01-01 was a Thursday (3 counting from Monday = 0).
  return static_cast<int>(((d % 7) + 7 + 3) % 7);
}

}  // namespace cityhub::mobility::network
