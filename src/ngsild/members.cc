#include "ngsild/members.h"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace cityhub::ngsild {
namespace json = boost::json;

std::string Shown(std::string_view s) { return s.size() <= 80 ? std::string(s) : std::string(s.substr(0, 80)) + "…"; }

std::optional<std::string> KeyValuePairsProblem(const json::value& v, size_t max_pairs, size_t max_text_bytes) {
  const json::array* a = v.if_array();
  if (!a) return "must be an array of {\"key\": …, \"value\": …} objects";
  if (a->size() > max_pairs) return fmt::format("has more than {} pairs", max_pairs);
  for (const auto& item : *a) {
    const json::object* kv = item.if_object();
    const json::value* key = kv ? kv->if_contains("key") : nullptr;
    const json::value* value = kv ? kv->if_contains("value") : nullptr;
    if (!kv || kv->size() != 2 || !key || !key->is_string() || key->get_string().empty() || !value ||
        !value->is_string()) {
      return "each item must be {\"key\": \"non-empty string\", \"value\": \"string\"}";
    }
    if (key->get_string().size() > max_text_bytes || value->get_string().size() > max_text_bytes) {
      return fmt::format("a key or value is longer than {} bytes", max_text_bytes);
    }
  }
  return std::nullopt;
}

void CompactNames(json::value* names, const Context& ctx) {
  if (!names || !names->is_array()) return;
  for (auto& n : names->get_array()) {
    if (n.is_string()) n = ctx.CompactIri(n.get_string());
  }
}

}  // namespace cityhub::ngsild
