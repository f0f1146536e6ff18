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

}  // namespace
}  // namespace cityhub::util
