#include "util/json.h"

#include <gtest/gtest.h>

#include <cmath>

#include <boost/json.hpp>

namespace cityhub::util {
namespace {

namespace json = boost::json;

TEST(ParseJson, DoublesAreCorrectlyRoundedAndRoundTrip) {
  boost::system::error_code ec;
  json::value v = ParseJson("[43.462879859445884, 0.1, -3.80356167695194, 1e-400, 5, 18446744073709551615]", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(v.at(0).as_double(), 43.462879859445884);
  EXPECT_EQ(v.at(1).as_double(), 0.1);
  EXPECT_EQ(v.at(2).as_double(), -3.80356167695194);
  EXPECT_EQ(v.at(3).as_double(), 0.0);
  EXPECT_EQ(v.at(4).as_int64(), 5);
  EXPECT_EQ(v.at(5).as_uint64(), 18446744073709551615ull);
  json::value again = ParseJson(json::serialize(v), ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(again, v);
}

TEST(ParseJson, MinusZeroStaysMinusZeroThroughSerializing) {
  // A stored -0 is read back as it was written: the entity's stored text is copied to clients
  // as it is (ngsild/stored_render.h), so parsing and re-serializing must agree with it.
  boost::system::error_code ec;
  json::value v = ParseJson("[-0, 0, -0.0, -1, -00]", ec);
  EXPECT_TRUE(ec);  // "-00" is not JSON
  v = ParseJson("[-0, 0, -0.0, -1]", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(v.at(0).is_double());
  EXPECT_TRUE(std::signbit(v.at(0).as_double()));
  EXPECT_EQ(v.at(1).as_int64(), 0);
  EXPECT_TRUE(std::signbit(v.at(2).as_double()));
  EXPECT_EQ(v.at(3).as_int64(), -1);
  EXPECT_EQ(SerializeJson(v), "[-0,0,-0,-1]");
  EXPECT_EQ(SerializeJson(ParseJson(SerializeJson(v), ec)), "[-0,0,-0,-1]");
}

TEST(ParseJson, RejectsOverflowTrailingDataAndDepth) {
  boost::system::error_code ec;
  ParseJson(R"({"x": 1e400})", ec);
  EXPECT_EQ(ec, json::error::exponent_overflow);
  ParseJson("{} x", ec);
  EXPECT_TRUE(ec);
  ParseJson("{\"a\": ", ec);
  EXPECT_TRUE(ec);
  json::parse_options opts;
  opts.max_depth = 3;
  ParseJson("[[[[1]]]]", opts, ec);
  EXPECT_EQ(ec, json::error::too_deep);
  json::value ok = ParseJson(R"( {"a": {"b": "c"}, "n": null, "t": true} )", ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(ok, json::parse(R"({"a": {"b": "c"}, "n": null, "t": true})"));
}

}  // namespace
}  // namespace cityhub::util

namespace cityhub::util {
namespace {

TEST(SerializeJson, WritesNumbersAsPeopleDoAndRoundTrips) {
  boost::system::error_code ec;
  boost::json::value v = ParseJson(
      R"({"lon":-3.80356167695194,"lat":43.46296641666926,"big":1e300,"i":-5,"u":18446744073709551615,"t":true,"n":null})", ec);
  ASSERT_FALSE(ec);
  std::string text = SerializeJson(v);
  EXPECT_EQ(text,
            R"({"lon":-3.80356167695194,"lat":43.46296641666926,"big":1e+300,"i":-5,"u":18446744073709551615,"t":true,"n":null})");
  EXPECT_EQ(ParseJson(text, ec), v);
}

TEST(SerializeJson, EscapesStringsAndKeys) {
  boost::json::value v = boost::json::object{{"a\"b", "line\nbreak\t\\ \x01 é"}};
  std::string text = SerializeJson(v);
  EXPECT_EQ(text, "{\"a\\\"b\":\"line\\nbreak\\t\\\\ \\u0001 é\"}");
  boost::system::error_code ec;
  EXPECT_EQ(ParseJson(text, ec), v);
  EXPECT_FALSE(ec);
}

TEST(SerializeJson, NestedContainers) {
  boost::json::value v = boost::json::parse(R"([[],{},[1,[2,{"x":[3.5]}]]])");
  EXPECT_EQ(SerializeJson(v), R"([[],{},[1,[2,{"x":[3.5]}]]])");
}

}  // namespace
}  // namespace cityhub::util
