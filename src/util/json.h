// Exact JSON parsing. Boost.JSON 1.81's parser may round a decimal number to a neighbouring
// double (it is not correctly rounded), so 43.462879859445884 could come back as
// 43.46287985944589 and every store/load cycle could drift further. ParseJson builds the same
// DOM as boost::json::parse but converts every floating-point number with std::from_chars,
// which is correctly rounded; Boost's serializer writes the shortest text that round-trips, so
// parse -> serialize -> parse is the identity on numbers. Stateless; thread-safe.
#pragma once

#include <string_view>

#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

namespace cityhub::util {

// Parses one JSON text. On error returns null and sets `ec`: a Boost.JSON syntax error,
// boost::json::error::too_deep beyond opts.max_depth, or boost::json::error::exponent_overflow
// for a number too large for a double (e.g. 1e400, which would otherwise become infinity and
// make the document unserializable as JSON).
boost::json::value ParseJson(std::string_view text, const boost::json::parse_options& opts,
                             boost::system::error_code& ec);
inline boost::json::value ParseJson(std::string_view text, boost::system::error_code& ec) {
  return ParseJson(text, boost::json::parse_options{}, ec);
}

}  // namespace cityhub::util
