#include "util/time.h"

#include <cstdio>
#include <ctime>

#include <gtest/gtest.h>

namespace cityhub::util {
namespace {

TEST(TimeTest, FormatsEpochAsUtcMillis) {
  EXPECT_EQ(FormatDateTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatDateTime(1700000000123), "2023-11-14T22:13:20.123Z");
}

// FormatDateTime writes the date digit by digit; gmtime_r is the reference it must agree with,
// every day from 1600 to 2400 at a varying time of day.
TEST(TimeTest, FormatAgreesWithGmtimeOverCenturies) {
  const int64_t first_day = -135140;  // 1600-01-01
  const int64_t last_day = 157054;    // 2400-01-01
  for (int64_t day = first_day; day <= last_day; ++day) {
    const int64_t ms = day * 86'400'000 + (day * 7'919'993) % 86'400'000;
    const int64_t ms_of_day = ((ms % 86'400'000) + 86'400'000) % 86'400'000;
    std::time_t secs = static_cast<std::time_t>((ms - ms_of_day) / 1000 + ms_of_day / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char expected[64];
    std::snprintf(expected, sizeof expected, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms_of_day % 1000));
    ASSERT_EQ(FormatDateTime(ms), expected) << "day " << day;
  }
}

TEST(TimeTest, ParsesZuluAndOffsets) {
  EXPECT_EQ(ParseDateTime("2023-11-14T22:13:20.123Z"), 1700000000123);
  EXPECT_EQ(ParseDateTime("2023-11-15T07:13:20.123+09:00"), 1700000000123);
  EXPECT_EQ(ParseDateTime("2023-11-14T21:13:20-01:00"), 1700000000000);
  EXPECT_EQ(ParseDateTime("1969-12-31T23:59:59.500Z"), -500);
}

TEST(TimeTest, RejectsMalformed) {
  EXPECT_FALSE(ParseDateTime("2023-11-14"));
  EXPECT_FALSE(ParseDateTime("2023-11-14T22:13:20"));  // no zone
  EXPECT_FALSE(ParseDateTime("2023-13-14T22:13:20Z"));
  EXPECT_FALSE(ParseDateTime("2023-11-14T22:13:20Zjunk"));
  EXPECT_FALSE(ParseDateTime("2023-11-14T22:13:20.Z"));
  EXPECT_FALSE(ParseDateTime("2023-02-29T00:00:00Z"));  // not a leap year
  EXPECT_FALSE(ParseDateTime("1900-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseDateTime("2023-04-31T00:00:00Z"));
  EXPECT_TRUE(ParseDateTime("2024-02-29T00:00:00Z"));
  EXPECT_TRUE(ParseDateTime("2000-02-29T00:00:00Z"));
}

TEST(TimeTest, RoundTrips) {
  for (int64_t t : {0LL, 1LL, 999LL, 1700000000123LL, 4102444800000LL}) {
    EXPECT_EQ(ParseDateTime(FormatDateTime(t)), t);
  }
}

TEST(TimeTest, ParseReportsTheFractionAsWritten) {
  TimeFraction f;
  EXPECT_EQ(ParseDateTime("2020-08-01T12:03:00Z", &f), 1596283380000);
  EXPECT_EQ(f, (TimeFraction{0, 0}));
  EXPECT_EQ(ParseDateTime("2020-08-01T12:03:00.5Z", &f), 1596283380500);
  EXPECT_EQ(f, (TimeFraction{1, 0}));
  EXPECT_EQ(ParseDateTime("2020-08-01T12:03:00.123456789Z", &f), 1596283380123);
  EXPECT_EQ(f, (TimeFraction{9, 456789}));
  EXPECT_EQ(ParseDateTime("1969-12-31T23:59:59.9999Z", &f), -1);
  EXPECT_EQ(f, (TimeFraction{4, 900000}));
  EXPECT_FALSE(ParseDateTime("2020-08-01T12:03:00.1234567890Z", &f));  // ten digits
}

TEST(TimeTest, FormatsWithTheFractionAsWritten) {
  EXPECT_EQ(FormatDateTime(1596283380000, {0, 0}), "2020-08-01T12:03:00Z");
  EXPECT_EQ(FormatDateTime(1596283380500, {1, 0}), "2020-08-01T12:03:00.5Z");
  EXPECT_EQ(FormatDateTime(1596283380500, {6, 0}), "2020-08-01T12:03:00.500000Z");
  EXPECT_EQ(FormatDateTime(1596283380123, {9, 456789}), "2020-08-01T12:03:00.123456789Z");
  EXPECT_EQ(FormatDateTime(-1, {4, 900000}), "1969-12-31T23:59:59.9999Z");
}

TEST(TimeTest, WrittenTextRoundTrips) {
  for (const char* text : {"2020-08-01T12:03:00Z", "2020-08-01T12:03:00.0Z", "2020-08-01T12:03:00.50Z",
                           "2020-08-01T12:03:00.000Z", "2020-08-01T12:03:00.000001Z", "2020-08-01T12:03:00.987654321Z",
                           "1950-01-01T00:00:00.25Z"}) {
    TimeFraction f;
    auto ms = ParseDateTime(text, &f);
    ASSERT_TRUE(ms) << text;
    EXPECT_EQ(FormatDateTime(*ms, f), text);
  }
}

TEST(TimeTest, DateTimeInUtcConvertsTheOffsetAndKeepsTheFraction) {
  EXPECT_EQ(DateTimeInUtc("2024-05-01T10:00:00+09:00"), "2024-05-01T01:00:00Z");
  EXPECT_EQ(DateTimeInUtc("2024-05-01T05:00:00.5+02:00"), "2024-05-01T03:00:00.5Z");
  EXPECT_EQ(DateTimeInUtc("2024-05-01T00:30:00.123456-01:00"), "2024-05-01T01:30:00.123456Z");
  EXPECT_EQ(DateTimeInUtc("2024-05-01T01:00:00.10Z"), "2024-05-01T01:00:00.10Z");
  EXPECT_FALSE(DateTimeInUtc("2024-05-01T01:00:00"));
}

}  // namespace
}  // namespace cityhub::util
