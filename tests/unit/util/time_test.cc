#include "util/time.h"

#include <gtest/gtest.h>

namespace cityhub::util {
namespace {

TEST(TimeTest, FormatsEpochAsUtcMillis) {
  EXPECT_EQ(FormatDateTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatDateTime(1700000000123), "2023-11-14T22:13:20.123Z");
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
