#include "util/time.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace cityhub::util {
namespace {

constexpr int64_t kMillisPerDay = 86'400'000;

// 28-31; Gregorian leap years.
int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

bool ReadDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day) {
  // Signed arithmetic throughout, so that an out-of-range day or month (0, 32, 13) still counts
  // days from the month's start rather than wrapping around.
  const int64_t m = month, d = day;
  const int64_t y = year - (m <= 2);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilDate{static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

int64_t NowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string FormatDateTime(int64_t epoch_ms) { return FormatDateTime(epoch_ms, TimeFraction{}); }

std::string FormatDateTime(int64_t epoch_ms, TimeFraction fraction) {
  // Written digit by digit: answers with system attributes format two of these per attribute,
  // and gmtime_r plus a format string cost ten times as much.
  int64_t days = epoch_ms / kMillisPerDay;
  int64_t ms_of_day = epoch_ms % kMillisPerDay;
  if (ms_of_day < 0) {
    ms_of_day += kMillisPerDay;
    days -= 1;
  }
  const CivilDate date = CivilFromDays(days);
  const int64_t secs = ms_of_day / 1000;
  const int64_t ms = ms_of_day % 1000;
  char text[40];
  char* p = text;
  auto put = [&p](int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
    p += width;
  };
  if (date.year < 0 || date.year > 9999) {
    const std::string year = fmt::format("{:04}", date.year);
    std::copy(year.begin(), year.end(), p);
    p += year.size();
  } else {
    put(date.year, 4);
  }
  *p++ = '-';
  put(date.month, 2);
  *p++ = '-';
  put(date.day, 2);
  *p++ = 'T';
  put(secs / 3600, 2);
  *p++ = ':';
  put(secs / 60 % 60, 2);
  *p++ = ':';
  put(secs % 60, 2);
  const unsigned digits = std::min<unsigned>(fraction.digits, 9);
  if (digits > 0) {
    char nanos[9];
    int64_t n = ms * 1'000'000 + std::min<uint32_t>(fraction.sub_ms_ns, 999'999);
    for (int i = 8; i >= 0; --i, n /= 10) nanos[i] = static_cast<char>('0' + n % 10);
    *p++ = '.';
    p = std::copy(nanos, nanos + digits, p);
  }
  *p++ = 'Z';
  return std::string(text, p);
}

std::optional<int64_t> ParseDateTime(std::string_view s, TimeFraction* fraction) {
  int y, mo, d, h, mi, sec;
  if (!ReadDigits(s, 0, 4, &y) || s.size() < 19 || s[4] != '-' || !ReadDigits(s, 5, 2, &mo) ||
      s[7] != '-' || !ReadDigits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !ReadDigits(s, 11, 2, &h) || s[13] != ':' || !ReadDigits(s, 14, 2, &mi) || s[16] != ':' ||
      !ReadDigits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  int64_t frac_ns = 0;
  size_t frac_digits = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    int64_t scale = 100'000'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_ns += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    frac_digits = pos - start;
    if (frac_digits == 0 || frac_digits > 9) return std::nullopt;
  }
  int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!ReadDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ReadDigits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t total_s = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  if (fraction) {
    fraction->digits = static_cast<uint8_t>(frac_digits);
    fraction->sub_ms_ns = static_cast<uint32_t>(frac_ns % 1'000'000);
  }
  return total_s * 1000 + frac_ns / 1'000'000;
}

std::optional<std::string> DateTimeInUtc(std::string_view text) {
  TimeFraction fraction;
  const std::optional<int64_t> ms = ParseDateTime(text, &fraction);
  if (!ms) return std::nullopt;
  return FormatDateTime(*ms, fraction);
}

}  // namespace cityhub::util
