// Translation lookup in two hash maps, one per form of translations.txt: a record-form row is
// keyed by (field, language, record, sub-record) with record indexes resolved once at build
// time, a field_value row by (field, language, original text). A lookup costs at most two hash
// probes per language tried, and a request tries at most a handful of tags (its fallbacks).
#include "services/mobility/gtfs/translations.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace cityhub::mobility::gtfs {
namespace {

struct FieldName {
  std::string_view table, field;
  TranslatedField id;
};

constexpr FieldName kFields[] = {
    {"agency", "agency_name", TranslatedField::kAgencyName},
    {"agency", "agency_url", TranslatedField::kAgencyUrl},
    {"stops", "stop_name", TranslatedField::kStopName},
    {"stops", "stop_desc", TranslatedField::kStopDesc},
    {"stops", "tts_stop_name", TranslatedField::kStopTtsName},
    {"routes", "route_short_name", TranslatedField::kRouteShortName},
    {"routes", "route_long_name", TranslatedField::kRouteLongName},
    {"routes", "route_desc", TranslatedField::kRouteDesc},
    {"trips", "trip_headsign", TranslatedField::kTripHeadsign},
    {"trips", "trip_short_name", TranslatedField::kTripShortName},
    {"stop_times", "stop_headsign", TranslatedField::kStopHeadsign},
    {"feed_info", "feed_publisher_name", TranslatedField::kFeedPublisherName},
    {"feed_info", "feed_publisher_url", TranslatedField::kFeedPublisherUrl},
};

std::optional<TranslatedField> FieldOf(std::string_view table, std::string_view field) {
  for (const FieldName& f : kFields) {
    if (f.table == table && f.field == field) return f.id;
  }
  return std::nullopt;
}

// The record a record-form row names: (record index, sub-record), or nullopt when unknown.
std::optional<std::pair<uint32_t, uint32_t>> RecordOf(const Feed& feed, const Translation& t) {
  auto in = [&](const util::StringMap<uint32_t>& ids) -> std::optional<std::pair<uint32_t, uint32_t>> {
    auto it = ids.find(std::string_view(t.record_id));
    if (it == ids.end()) return std::nullopt;
    return std::pair{it->second, 0u};
  };
  if (t.table_name == "agency") return in(feed.agency_by_id);
  if (t.table_name == "stops") return in(feed.stop_by_id);
  if (t.table_name == "routes") return in(feed.route_by_id);
  if (t.table_name == "trips") return in(feed.trip_by_id);
  if (t.table_name == "stop_times") {
    auto trip = in(feed.trip_by_id);
    uint32_t sequence = 0;
    const std::string& sub = t.record_sub_id;
    auto [end, ec] = std::from_chars(sub.data(), sub.data() + sub.size(), sequence);
    if (!trip || sub.empty() || ec != std::errc() || end != sub.data() + sub.size()) return std::nullopt;
    return std::pair{trip->first, sequence};
  }
  return std::nullopt;
}

// The tag with its last subtag removed (and a single-letter subtag left before it, such as the
// "x" of a private use part), or empty when nothing is left (RFC 4647 §3.4).
std::string_view Shorter(std::string_view tag) {
  size_t dash = tag.rfind('-');
  if (dash == std::string_view::npos) return {};
  tag = tag.substr(0, dash);
  if (tag.size() >= 2 && tag[tag.size() - 2] == '-') tag = tag.substr(0, tag.size() - 2);
  return tag;
}

// Whether `language` (normalized) or one of its fallbacks is `target` (normalized).
bool FallsBackTo(std::string_view language, std::string_view target) {
  if (target.empty()) return false;
  for (std::string_view tag = language; !tag.empty(); tag = Shorter(tag)) {
    if (tag == target) return true;
  }
  return false;
}

// The normalized tag of the language the feed's own texts are in, or empty when unknown ("mul":
// several languages, none of which is named).
std::string OwnTag(std::string_view feed_language) {
  std::string tag = NormalizeLanguageTag(feed_language);
  return tag == "mul" ? std::string() : tag;
}

}  // namespace

std::string NormalizeLanguageTag(std::string_view tag) {
  std::string out(tag);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_') c = '-';
  }
  return out;
}

size_t TranslationIndex::RecordKeyHash::operator()(const RecordKey& k) const noexcept {
  uint64_t h = (uint64_t{k.record} << 32) ^ (uint64_t{k.sub_record} * 0x9E3779B97F4A7C15ULL);
  h ^= (uint64_t{k.language} << 8 | static_cast<uint8_t>(k.field)) * 0xC2B2AE3D27D4EB4FULL;
  return std::hash<uint64_t>{}(h ^ (h >> 29));
}

int TranslationIndex::InternLanguage(std::string_view spelled) {
  std::string tag = NormalizeLanguageTag(spelled);
  auto it = language_by_tag_.find(std::string_view(tag));
  if (it != language_by_tag_.end()) return it->second;
  if (spelled_.size() >= kMaxLanguages) return -1;
  const auto index = static_cast<uint16_t>(spelled_.size());
  spelled_.emplace_back(spelled);
  language_by_tag_.emplace(std::move(tag), index);
  return index;
}

std::string TranslationIndex::ValueKey(TranslatedField field, uint16_t language, std::string_view original) {
  std::string key;
  key.reserve(3 + original.size());
  key.push_back(static_cast<char>(field));
  key.push_back(static_cast<char>(language >> 8));
  key.push_back(static_cast<char>(language & 0xff));
  key.append(original);
  return key;
}

TranslationIndex TranslationIndex::Build(const Feed& feed) {
  TranslationIndex index;
  if (feed.feed_info && !feed.feed_info->lang.empty()) {
    index.feed_language_ = feed.feed_info->lang;
  } else if (!feed.agencies.empty()) {
    index.feed_language_ = feed.agencies.front().lang;
  }
  index.default_language_ = feed.feed_info && !feed.feed_info->default_lang.empty()
                                ? feed.feed_info->default_lang
                                : index.feed_language_;

  for (const Translation& t : feed.translations) {
    std::optional<TranslatedField> field = FieldOf(t.table_name, t.field_name);
    int language = t.language.size() <= kMaxLanguageTagBytes && !t.language.empty()
                       ? index.InternLanguage(t.language)
                       : -1;
    if (!field || language < 0) {
      ++index.ignored_;
      continue;
    }
    const auto lang = static_cast<uint16_t>(language);
    if (t.table_name == "feed_info") {
      index.by_record_.emplace(RecordKey{0, 0, lang, *field}, t.translation);
    } else if (!t.record_id.empty()) {
      auto record = RecordOf(feed, t);
      if (!record) {
        ++index.ignored_;
        continue;
      }
      index.by_record_.emplace(RecordKey{record->first, record->second, lang, *field}, t.translation);
    } else if (!t.field_value.empty()) {
      index.by_value_.emplace(ValueKey(*field, lang, t.field_value), t.translation);
    } else {
      ++index.ignored_;
    }
  }

  const std::string feed_tag = OwnTag(index.feed_language_);
  if (!feed_tag.empty()) index.languages_.push_back(index.feed_language_);
  std::vector<std::pair<std::string, std::string>> others;  // (normalized, spelled)
  for (const auto& [tag, i] : index.language_by_tag_) {
    if (tag != feed_tag) others.emplace_back(tag, index.spelled_[i]);
  }
  std::sort(others.begin(), others.end());
  for (auto& [tag, spelled] : others) index.languages_.push_back(std::move(spelled));
  return index;
}

TranslationIndex::Match TranslationIndex::FindMatch(TranslatedField field, uint32_t record, uint32_t sub_record,
                                                    std::string_view original, std::string_view language) const {
  for (std::string_view tag = language; !tag.empty(); tag = Shorter(tag)) {
    auto lang = language_by_tag_.find(tag);
    if (lang == language_by_tag_.end()) continue;
    auto by_record = by_record_.find(RecordKey{record, sub_record, lang->second, field});
    if (by_record != by_record_.end()) return {by_record->second, spelled_[lang->second]};
    if (original.empty()) continue;
    auto by_value = by_value_.find(std::string_view(ValueKey(field, lang->second, original)));
    if (by_value != by_value_.end()) return {by_value->second, spelled_[lang->second]};
  }
  return {};
}

std::string_view TranslationIndex::Find(TranslatedField field, uint32_t record, std::string_view original,
                                        std::string_view language, uint32_t sub_record) const {
  return FindMatch(field, record, sub_record, original, NormalizeLanguageTag(language)).text;
}

LocalizedText TranslationIndex::Localize(TranslatedField field, uint32_t record, std::string_view original,
                                         std::string_view language, uint32_t sub_record) const {
  const std::string requested = NormalizeLanguageTag(language);
  if (!requested.empty()) {
    Match m = FindMatch(field, record, sub_record, original, requested);
    if (!m.text.empty()) return {m.text, m.language, true, true};
    if (FallsBackTo(requested, OwnTag(feed_language_))) {
      return {original, feed_language_, false, true};
    }
  }
  if (!default_language_.empty()) {
    const std::string fallback = NormalizeLanguageTag(default_language_);
    if (fallback != NormalizeLanguageTag(feed_language_)) {
      Match m = FindMatch(field, record, sub_record, original, fallback);
      if (!m.text.empty()) return {m.text, m.language, true, false};
    }
  }
  return {original, feed_language_, false, false};
}

std::vector<std::pair<std::string_view, std::string_view>> TranslationIndex::AllTranslations(
    TranslatedField field, uint32_t record, std::string_view original, uint32_t sub_record) const {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  for (size_t i = 0; i < spelled_.size(); ++i) {
    const auto lang = static_cast<uint16_t>(i);
    auto by_record = by_record_.find(RecordKey{record, sub_record, lang, field});
    if (by_record != by_record_.end()) {
      out.emplace_back(spelled_[i], by_record->second);
      continue;
    }
    if (original.empty()) continue;
    auto by_value = by_value_.find(std::string_view(ValueKey(field, lang, original)));
    if (by_value != by_value_.end()) out.emplace_back(spelled_[i], by_value->second);
  }
  return out;
}

LocalizedText TranslationIndex::StopName(const Feed& feed, uint32_t stop, std::string_view language) const {
  return Localize(TranslatedField::kStopName, stop, feed.stops.at(stop).name, language);
}

LocalizedText TranslationIndex::RouteShortName(const Feed& feed, uint32_t route, std::string_view language) const {
  return Localize(TranslatedField::kRouteShortName, route, feed.routes.at(route).short_name, language);
}

LocalizedText TranslationIndex::RouteLongName(const Feed& feed, uint32_t route, std::string_view language) const {
  return Localize(TranslatedField::kRouteLongName, route, feed.routes.at(route).long_name, language);
}

LocalizedText TranslationIndex::TripHeadsign(const Feed& feed, uint32_t trip, std::string_view language) const {
  return Localize(TranslatedField::kTripHeadsign, trip, feed.trips.at(trip).headsign, language);
}

LocalizedText TranslationIndex::AgencyName(const Feed& feed, uint32_t agency, std::string_view language) const {
  return Localize(TranslatedField::kAgencyName, agency, feed.agencies.at(agency).name, language);
}

bool TranslationIndex::HasLanguage(std::string_view language) const {
  const std::string requested = NormalizeLanguageTag(language);
  const std::string feed_tag = OwnTag(feed_language_);
  for (std::string_view tag = requested; !tag.empty(); tag = Shorter(tag)) {
    if (tag == feed_tag || language_by_tag_.contains(tag)) return true;
  }
  return false;
}

}  // namespace cityhub::mobility::gtfs
