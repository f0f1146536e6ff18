// TranslationIndex: answers "this text of that record, in language L" from a feed's
// translations.txt, so that stops, routes, headsigns and agencies can be shown in the
// traveller's language. Built once from a Feed, then immutable: it owns copies of the
// translations and language tags it needs (not the feed), so it may outlive the Feed and be
// shared read-only between threads.
//
// Both forms of translations.txt are indexed:
//  - record form: record_id (and record_sub_id for stop_times: the stop_sequence) names one
//    record; the translation applies to that record only;
//  - field_value form: the translation applies to every record whose field holds that text.
// A record-form translation wins over a field_value one for the same record. feed_info rows
// name neither (the file has one record). Rows naming unknown records, unsupported tables or
// fields are counted (ignored()) and otherwise left out: the loader already reported bad rows.
//
// Languages. Tags are BCP 47 and compared case-insensitively ("zh-Hans" = "zh-hans"; "_" is
// read as "-"). A request falls back by removing subtags from the end (RFC 4647 "lookup":
// "zh-Hans-CN" → "zh-Hans" → "zh"), so "en-US" finds "en" when the feed has no "en-US".
// The feed's own texts are in FeedLanguage() (feed_info.feed_lang, else the first agency's
// agency_lang; "mul" or nothing when unknown): a request for that language gets the original.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "services/mobility/gtfs/feed.h"
#include "util/string_map.h"

namespace cityhub::mobility::gtfs {

// The translatable fields (table and column of translations.txt).
enum class TranslatedField : uint8_t {
  kAgencyName,         // agency.agency_name
  kAgencyUrl,          // agency.agency_url
  kStopName,           // stops.stop_name
  kStopDesc,           // stops.stop_desc
  kStopTtsName,        // stops.tts_stop_name
  kRouteShortName,     // routes.route_short_name
  kRouteLongName,      // routes.route_long_name
  kRouteDesc,          // routes.route_desc
  kTripHeadsign,       // trips.trip_headsign
  kTripShortName,      // trips.trip_short_name
  kStopHeadsign,       // stop_times.stop_headsign (record: trip + stop_sequence)
  kFeedPublisherName,  // feed_info.feed_publisher_name
  kFeedPublisherUrl,   // feed_info.feed_publisher_url
};

// Longest language tag kept (RFC 5646 §4.4.1 asks for at least 35; longer tags are ignored).
inline constexpr size_t kMaxLanguageTagBytes = 64;
// Distinct languages indexed; rows in further languages are ignored.
inline constexpr size_t kMaxLanguages = 1024;

// A text as shown to a traveller: a translation, or the feed's original when there is none.
// `text` points into the index or into the `original` passed in; `language` into the index
// (for an original: FeedLanguage(), so "mul" or empty when the feed does not say which).
struct LocalizedText {
  std::string_view text;
  std::string_view language;
  bool translated = false;  // true: a translation.txt entry; false: the original text
  bool in_requested_language = false;  // the text is in the language asked for (or a fallback of it)
};

class TranslationIndex {
 public:
  TranslationIndex() = default;
  // Indexes `feed.translations` against the feed's records.
  static TranslationIndex Build(const Feed& feed);

  // The translation of `field` of record `record` (a stop, route, trip or agency index; for
  // kStopHeadsign the trip index with `sub_record` the stop_sequence; 0 for feed_info) whose
  // original text is `original` (used for the field_value form; may be empty when unknown —
  // the Feed keeps no stop_desc, route_desc or tts_stop_name, so for those only record-form
  // rows apply unless the caller has the text), in `language` or its fallbacks. Empty when
  // there is none.
  std::string_view Find(TranslatedField field, uint32_t record, std::string_view original,
                        std::string_view language, uint32_t sub_record = 0) const;

  // The text to show for `language`: its translation if any; else, when `language` is empty or
  // has no translation, the translation into DefaultLanguage() if any; else `original`.
  LocalizedText Localize(TranslatedField field, uint32_t record, std::string_view original,
                         std::string_view language, uint32_t sub_record = 0) const;

  // Every translation of `field` of `record` (the record form, else the field_value form for
  // `original`), one per language, as (language as spelled in the feed, text), languages in the
  // order the feed first used them. No fallbacks: exactly the feed's entries.
  std::vector<std::pair<std::string_view, std::string_view>> AllTranslations(
      TranslatedField field, uint32_t record, std::string_view original, uint32_t sub_record = 0) const;

  // Shorthands for Localize on a feed's records (the feed must be the one indexed).
  LocalizedText StopName(const Feed& feed, uint32_t stop, std::string_view language) const;
  LocalizedText RouteShortName(const Feed& feed, uint32_t route, std::string_view language) const;
  LocalizedText RouteLongName(const Feed& feed, uint32_t route, std::string_view language) const;
  LocalizedText TripHeadsign(const Feed& feed, uint32_t trip, std::string_view language) const;
  LocalizedText AgencyName(const Feed& feed, uint32_t agency, std::string_view language) const;

  // The language of the feed's own texts (see the file comment); empty when unknown.
  std::string_view FeedLanguage() const { return feed_language_; }
  // The language to show a traveller whose language is unknown: feed_info.default_lang, else
  // FeedLanguage().
  std::string_view DefaultLanguage() const { return default_language_; }
  // Every language the feed has texts in: FeedLanguage() (unless unknown or "mul") first, then
  // the translations' languages in ascending order, each once, spelled as the feed first did.
  const std::vector<std::string>& Languages() const { return languages_; }
  // Whether the feed has texts in `language` or one of its fallbacks.
  bool HasLanguage(std::string_view language) const;

  size_t size() const { return by_record_.size() + by_value_.size(); }
  // Rows left out: unknown table, field or record, or an over-long language tag.
  size_t ignored() const { return ignored_; }

 private:
  struct RecordKey {
    uint32_t record;
    uint32_t sub_record;
    uint16_t language;
    TranslatedField field;
    bool operator==(const RecordKey&) const = default;
  };
  struct RecordKeyHash {
    size_t operator()(const RecordKey& k) const noexcept;
  };

  struct Match {
    std::string_view text;
    std::string_view language;  // as spelled in the feed
  };

  // Adds a language (as spelled in the feed) and returns its index; -1 past kMaxLanguages.
  int InternLanguage(std::string_view spelled);
  static std::string ValueKey(TranslatedField field, uint16_t language, std::string_view original);
  // The translation into `language` (a normalized tag) or its fallbacks; empty text when none.
  Match FindMatch(TranslatedField field, uint32_t record, uint32_t sub_record,
                  std::string_view original, std::string_view language) const;

  std::vector<std::string> spelled_;     // by language index: as the feed spelled it
  util::StringMap<uint16_t> language_by_tag_;  // normalized tag -> index
  std::unordered_map<RecordKey, std::string, RecordKeyHash> by_record_;
  util::StringMap<std::string> by_value_;  // ValueKey -> translation
  std::string feed_language_, default_language_;
  std::vector<std::string> languages_;
  size_t ignored_ = 0;
};

// `tag` lower-cased with "_" read as "-" (the form tags are compared in).
std::string NormalizeLanguageTag(std::string_view tag);

}  // namespace cityhub::mobility::gtfs
