// A boost::json::basic_parser handler that builds a value with a value_stack, like Boost's own
// parser, except that doubles are converted from their text with std::from_chars.
#include "util/json.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

namespace cityhub::util {
namespace json = boost::json;

namespace {

using boost::system::error_code;

struct ExactHandler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  std::string number;  // the parts of a number split across writes

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return true; }
  bool on_object_end(std::size_t n, error_code&) { st.push_object(n); return true; }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t n, error_code&) { st.push_array(n); return true; }
  bool on_key_part(json::string_view s, std::size_t, error_code&) { st.push_chars(s); return true; }
  bool on_key(json::string_view s, std::size_t, error_code&) { st.push_key(s); return true; }
  bool on_string_part(json::string_view s, std::size_t, error_code&) { st.push_chars(s); return true; }
  bool on_string(json::string_view s, std::size_t, error_code&) { st.push_string(s); return true; }
  bool on_number_part(json::string_view s, error_code&) { number.append(s.data(), s.size()); return true; }
  bool on_int64(std::int64_t i, json::string_view s, error_code&) {
    // "-0" is kept as the double -0.0 (which the serializer writes as "-0" again), not the
    // integer 0: so a stored -0 reads back as it was written, whichever way it is read.
    const bool minus_zero = i == 0 && (number.empty() ? !s.empty() && s.front() == '-' : number.front() == '-');
    number.clear();
    if (minus_zero) {
      st.push_double(-0.0);
    } else {
      st.push_int64(i);
    }
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, error_code&) { number.clear(); st.push_uint64(u); return true; }
  bool on_double(double d, json::string_view s, error_code& ec) {
    number.append(s.data(), s.size());
    double exact = 0;
    auto [end, err] = std::from_chars(number.data(), number.data() + number.size(), exact);
    bool whole = end == number.data() + number.size();
    number.clear();
    if (err == std::errc() && whole) {
      d = exact;
    } else if (!std::isfinite(d) || err != std::errc::result_out_of_range || std::fabs(d) >= 1) {
      ec = json::error::exponent_overflow;  // too large for a double
      return false;
    }  // else an underflow: keep Boost's (tiny or zero) value
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, error_code&) { st.push_bool(b); return true; }
  bool on_null(error_code&) { st.push_null(); return true; }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }
};

}  // namespace

namespace {

bool SameOptions(const json::parse_options& a, const json::parse_options& b) {
  return a.max_depth == b.max_depth && a.allow_comments == b.allow_comments &&
         a.allow_trailing_commas == b.allow_trailing_commas && a.allow_invalid_utf8 == b.allow_invalid_utf8;
}

// Documents up to this size reuse their thread's parser, whose stacks then need no allocation
// after the first few parses (stored entities are parsed for every query result); a larger
// one gets a parser of its own, so no thread keeps a large buffer.
constexpr std::size_t kReusedParserMaxBytes = 64 * 1024;

}  // namespace

json::value ParseJson(std::string_view text, const json::parse_options& opts, error_code& ec, json::storage_ptr storage) {
  thread_local std::optional<json::basic_parser<ExactHandler>> reused;
  thread_local json::parse_options reused_opts;
  std::optional<json::basic_parser<ExactHandler>> own;
  json::basic_parser<ExactHandler>* parser = nullptr;
  if (text.size() <= kReusedParserMaxBytes) {
    if (!reused || !SameOptions(reused_opts, opts)) {
      reused.emplace(opts);
      reused_opts = opts;
    }
    parser = &*reused;
    parser->reset();
  } else {
    parser = &own.emplace(opts);
  }
  parser->handler().st.reset(std::move(storage));
  parser->handler().number.clear();
  std::size_t used = parser->write_some(false, text.data(), text.size(), ec);
  if (!ec && used != text.size()) ec = json::error::extra_data;
  if (ec) return nullptr;
  return parser->handler().st.release();
}

namespace {

void AppendValue(std::string& out, const json::value& v);

void AppendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  // Runs of characters that need no escaping are appended whole.
  auto plain = [](char c) { return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20; };
  while (!s.empty()) {
    size_t n = 0;
    while (n < s.size() && plain(s[n])) ++n;
    out.append(s.data(), n);
    s.remove_prefix(n);
    if (s.empty()) break;
    const char c = s.front();
    s.remove_prefix(1);
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      switch (c) {
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default:
          out.append("\\u00");
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 15]);
      }
    }
  }
  out.push_back('"');
}

void AppendObject(std::string& out, const json::object& o) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, item] : o) {
    if (!first) out.push_back(',');
    first = false;
    AppendString(out, key);
    out.push_back(':');
    AppendValue(out, item);
  }
  out.push_back('}');
}

void AppendValue(std::string& out, const json::value& v) {
  char buf[32];
  switch (v.kind()) {
    case json::kind::null:
      out.append("null");
      break;
    case json::kind::bool_:
      out.append(v.get_bool() ? "true" : "false");
      break;
    case json::kind::int64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      out.append(buf, r.ptr);
      break;
    }
    case json::kind::uint64: {
      auto r = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      out.append(buf, r.ptr);
      break;
    }
    case json::kind::double_: {
      double d = v.get_double();
      if (!std::isfinite(d)) {
        out.append("null");  // JSON has no NaN or infinity; the parser never produces them
        break;
      }
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      break;
    }
    case json::kind::string:
      AppendString(out, v.get_string());
      break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        AppendValue(out, item);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object:
      AppendObject(out, v.get_object());
      break;
  }
}

}  // namespace

void AppendJson(std::string& out, const json::value& v) { AppendValue(out, v); }
void AppendJson(std::string& out, const json::object& o) { AppendObject(out, o); }
void AppendJsonString(std::string& out, std::string_view s) { AppendString(out, s); }

std::string SerializeJson(const json::value& v) {
  std::string out;
  out.reserve(256);
  AppendValue(out, v);
  return out;
}

}  // namespace cityhub::util
