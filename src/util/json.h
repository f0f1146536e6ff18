// Exact JSON parsing. Boost.JSON 1.81's parser may round a decimal number to a neighbouring
// double (it is not correctly rounded), so 43.462879859445884 could come back as
// 43.46287985944589 and every store/load cycle could drift further. ParseJson builds the same
// DOM as boost::json::parse but converts every floating-point number with std::from_chars,
// which is correctly rounded; Boost's serializer writes the shortest text that round-trips, so
// parse -> serialize -> parse is the identity on numbers. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

namespace cityhub::util {

// Parses one JSON text. On error returns null and sets `ec`: a Boost.JSON syntax error,
// boost::json::error::too_deep beyond opts.max_depth, or boost::json::error::exponent_overflow
// for a number too large for a double (e.g. 1e400, which would otherwise become infinity and
// make the document unserializable as JSON). `storage`: where the document is kept (default: the
// default resource).
boost::json::value ParseJson(std::string_view text, const boost::json::parse_options& opts,
                             boost::system::error_code& ec, boost::json::storage_ptr storage = {});
inline boost::json::value ParseJson(std::string_view text, boost::system::error_code& ec) {
  return ParseJson(text, boost::json::parse_options{}, ec);
}

// Serializes `v` as compact JSON. Numbers use the shortest text that parses back to the same
// double (std::to_chars), written the way people write them ("43.46296641666926", "1e+300"),
// not Boost 1.81's mantissa-exponent form ("4.346296641666926E1").
std::string SerializeJson(const boost::json::value& v);

// Append the same text to `out`, for writers that stream a document without building it.
void AppendJson(std::string& out, const boost::json::value& v);
void AppendJson(std::string& out, const boost::json::object& o);
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace cityhub::util
