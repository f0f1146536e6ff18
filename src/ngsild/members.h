// Members several NGSI-LD data types a client writes have in common — subscriptions (§5.2.12)
// and context source registrations (§5.2.9): KeyValuePair arrays (receiverInfo, notifierInfo,
// contextSourceInfo), arrays of attribute or type names compacted for output, and the small
// helpers their readers use to check a member and quote a bad value. No I/O; thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "ngsild/context.h"

namespace cityhub::ngsild {

// True if `s` is one of `set`.
template <size_t N>
bool OneOf(std::string_view s, const std::string_view (&set)[N]) {
  return std::find(std::begin(set), std::end(set), s) != std::end(set);
}

// `s` as it may be quoted in an error: its first 80 bytes, "…" when cut.
std::string Shown(std::string_view s);

// What is wrong with `v` as an array of KeyValuePair objects ({"key": non-empty string,
// "value": string}, nothing else), at most `max_pairs` of them, keys and values at most
// `max_text_bytes` each; nullopt if nothing is.
std::optional<std::string> KeyValuePairsProblem(const boost::json::value& v, size_t max_pairs, size_t max_text_bytes);

// Compacts with `ctx` every string of the array `names` holds (expanded IRIs); anything else,
// or null, is left as it is.
void CompactNames(boost::json::value* names, const Context& ctx);

}  // namespace cityhub::ngsild
