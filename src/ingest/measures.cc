#include "ingest/measures.h"

#include <charconv>
#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "util/time.h"

namespace cityhub::ingest {
namespace json = boost::json;

namespace {

Status TooLarge(std::string what) { return Status(Status::Code::kPayloadTooLarge, std::move(what)); }

// A number when the whole text is one (as JSON writes numbers), else the text.
json::value ScalarOf(std::string_view text) {
  if (!text.empty() && text.size() <= 32 && (text[0] == '-' || (text[0] >= '0' && text[0] <= '9'))) {
    int64_t i = 0;
    auto [end_i, ec_i] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (ec_i == std::errc() && end_i == text.data() + text.size()) return i;
    double d = 0;
    auto [end_d, ec_d] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec_d == std::errc() && end_d == text.data() + text.size() && std::isfinite(d)) return d;
  }
  return json::string(text);
}

bool ValidUtf8Text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size() || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\r' || s.front() == '\n' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\n' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool ValidObjectId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
      return false;
    }
  }
  return true;
}

Result<std::vector<MeasureGroup>> DecodeUltralight(std::string_view payload, const MeasureLimits& limits) {
  if (payload.size() > limits.max_payload_bytes) {
    return TooLarge(fmt::format("the payload has {} bytes; at most {} are accepted", payload.size(), limits.max_payload_bytes));
  }
  if (!ValidUtf8Text(payload)) return Status::BadRequestData("the UltraLight payload is not UTF-8 text");
  std::vector<MeasureGroup> out;
  size_t measures = 0;
  const auto groups = Split(Trim(payload), '#');
  if (groups.size() > limits.max_groups) {
    return TooLarge(fmt::format("{} measure groups in one message; at most {}", groups.size(), limits.max_groups));
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    if (Trim(groups[g]).empty()) return Status::BadRequestData(fmt::format("measure group {} holds no measure", g + 1));
    std::vector<std::string_view> fields = Split(Trim(groups[g]), '|');
    MeasureGroup group;
    size_t first = 0;
    if (fields.size() % 2 == 1) {  // an odd count: the first field must be the group's time
      auto t = util::ParseDateTime(Trim(fields[0]), &group.observed_fraction);
      if (!t) {
        return Status::BadRequestData(fmt::format(
            "measure group {}: '{}' is neither a key|value pair nor a leading ISO 8601 timestamp", g + 1,
            Trim(fields[0]).substr(0, 40)));
      }
      group.observed_ms = *t;
      first = 1;
    }
    for (size_t i = first; i + 1 < fields.size(); i += 2) {
      const std::string_view key = Trim(fields[i]);
      const std::string_view value = Trim(fields[i + 1]);
      if (!ValidObjectId(key)) {
        return Status::BadRequestData(fmt::format("measure group {}: '{}' is not a valid measure name", g + 1, key.substr(0, 64)));
      }
      if (value.size() > limits.max_value_bytes) {
        return TooLarge(fmt::format("measure '{}' has a value of {} bytes; at most {}", key, value.size(), limits.max_value_bytes));
      }
      if (++measures > limits.max_measures) {
        return TooLarge(fmt::format("more than {} measures in one message", limits.max_measures));
      }
      if (key == "TimeInstant") {
        auto t = util::ParseDateTime(value, &group.observed_fraction);
        if (!t) return Status::BadRequestData(fmt::format("measure group {}: TimeInstant is not an ISO 8601 date-time", g + 1));
        group.observed_ms = *t;
        continue;
      }
      group.measures.push_back({std::string(key), ScalarOf(value)});
    }
    if (group.measures.empty()) return Status::BadRequestData(fmt::format("measure group {} holds no measure", g + 1));
    out.push_back(std::move(group));
  }
  return out;
}

Result<std::vector<MeasureGroup>> DecodeJson(std::string_view payload, const MeasureLimits& limits) {
  if (payload.size() > limits.max_payload_bytes) {
    return TooLarge(fmt::format("the payload has {} bytes; at most {} are accepted", payload.size(), limits.max_payload_bytes));
  }
  json::parse_options opts;
  opts.max_depth = 32;
  boost::system::error_code ec;
  json::value doc = json::parse(payload, ec, {}, opts);
  if (ec) return Status::BadRequestData(fmt::format("the JSON payload does not parse: {}", ec.message()));
  std::vector<const json::object*> objects;
  if (doc.is_object()) {
    objects.push_back(&doc.get_object());
  } else if (doc.is_array()) {
    if (doc.get_array().size() > limits.max_groups) {
      return TooLarge(fmt::format("{} measure groups in one message; at most {}", doc.get_array().size(), limits.max_groups));
    }
    for (const auto& item : doc.get_array()) {
      if (!item.is_object()) return Status::BadRequestData("a JSON measure array must hold objects");
      objects.push_back(&item.get_object());
    }
  } else {
    return Status::BadRequestData("a JSON measure must be an object (or an array of objects)");
  }
  std::vector<MeasureGroup> out;
  size_t measures = 0;
  for (size_t g = 0; g < objects.size(); ++g) {
    MeasureGroup group;
    for (const auto& [key, value] : *objects[g]) {
      if (!ValidObjectId(key)) {
        return Status::BadRequestData(fmt::format("measure group {}: '{}' is not a valid measure name", g + 1,
                                                  std::string_view(key).substr(0, 64)));
      }
      if (++measures > limits.max_measures) {
        return TooLarge(fmt::format("more than {} measures in one message", limits.max_measures));
      }
      if (key == "TimeInstant") {
        auto t = value.is_string() ? util::ParseDateTime(value.get_string(), &group.observed_fraction) : std::nullopt;
        if (!t) return Status::BadRequestData(fmt::format("measure group {}: TimeInstant is not an ISO 8601 date-time", g + 1));
        group.observed_ms = *t;
        continue;
      }
      if (value.is_null()) {
        return Status::BadRequestData(fmt::format("measure group {}: '{}' is null", g + 1, std::string_view(key)));
      }
      group.measures.push_back({std::string(key), value});
    }
    if (group.measures.empty()) return Status::BadRequestData(fmt::format("measure group {} holds no measure", g + 1));
    out.push_back(std::move(group));
  }
  if (out.empty()) return Status::BadRequestData("the message holds no measure");
  return out;
}

Result<MeasureGroup> DecodeSingle(std::string_view object_id, std::string_view payload, const MeasureLimits& limits) {
  if (!ValidObjectId(object_id)) return Status::BadRequestData(fmt::format("'{}' is not a valid measure name", object_id.substr(0, 64)));
  const std::string_view value = Trim(payload);
  if (value.size() > limits.max_value_bytes) {
    return TooLarge(fmt::format("measure '{}' has a value of {} bytes; at most {}", object_id, value.size(), limits.max_value_bytes));
  }
  if (!ValidUtf8Text(value)) return Status::BadRequestData("the value is not UTF-8 text");
  MeasureGroup group;
  group.measures.push_back({std::string(object_id), ScalarOf(value)});
  return group;
}

}  // namespace cityhub::ingest
