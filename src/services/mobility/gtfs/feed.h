// Feed: one GTFS feed read from a zip into plain structs, plus the ValidationReport of what was
// wrong with it. LoadFeed is the only producer; a Feed is an immutable value afterwards and owns
// all its data (safe to share read-only between threads).
//
// Ids. Agencies, stops, routes, trips and services are interned to dense uint32 indexes in file
// order; references between records use indexes (kNoIndex for none), and the *_by_id maps give
// the way back from a feed's string id. stop_times are grouped by trip in stop_sequence order
// (trips in file order, or by trip index when the file had to be sorted) and each Trip owns the
// range [first_stop_time, first_stop_time + stop_time_count).
//
// Times. A stop time is seconds since "noon minus 12h" of its service day, as GTFS defines it:
// "25:10:00" is 90600, a trip running past midnight keeps counting up. kNoTime marks a time left
// empty (allowed for stops between timepoints).
//
// Validation. Fatal problems make the feed unusable and LoadFeed fails: a required file missing
// (agency, stops, routes, trips, stop_times, and calendar or calendar_dates), a required column
// of a required file missing, a file over a limit, no service at all, no trip (regular or
// flex). Everything else is a row
// left out and reported with file, line and reason (severity kSkipped): unknown references,
// bad times, dates or coordinates, duplicate ids, stop times out of sequence, trips left with
// fewer than two stop times. An optional file (frequencies, transfers, translations, feed_info)
// missing a required column is skipped whole. The report keeps at most
// FeedOptions::max_problems_kept problems and counts the rest.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "services/mobility/gtfs/csv.h"
#include "services/mobility/gtfs/flex.h"
#include "services/mobility/gtfs/zip_reader.h"
#include "util/status.h"
#include "util/string_map.h"

namespace cityhub::mobility::gtfs {

inline constexpr uint32_t kNoIndex = std::numeric_limits<uint32_t>::max();
inline constexpr int32_t kNoTime = std::numeric_limits<int32_t>::min();
inline constexpr size_t kDefaultMaxProblemsKept = 1000;
// Rows of one file. Sized for stop_times: a stop time costs about 32 bytes while loading (24 kept,
// 8 for its line until validated), so the limit bounds that at about 1.3 GB; the largest feed
// here (NYC subway and bus) has 8 M.
inline constexpr uint64_t kDefaultMaxRowsPerFile = 40'000'000;
inline constexpr int kMaxStopTimeHours = 168;  // a week: later "HH:MM:SS" values are refused

struct FeedOptions {
  ZipLimits zip;
  CsvLimits csv{.pad_short_records = true};  // trailing empty fields may be omitted
  size_t max_problems_kept = kDefaultMaxProblemsKept;
  uint64_t max_rows_per_file = kDefaultMaxRowsPerFile;  // over it: fatal, the feed is refused
  FlexLimits flex;  // locations.geojson (flex.h)
};

struct Problem {
  enum class Severity { kFatal, kSkipped };
  std::string file;   // "stops.txt", or the zip's path for problems with the archive itself
  uint64_t line = 0;  // 1-based; 0 when the problem is about the whole file
  std::string field;  // the column concerned, empty when none
  std::string reason;
  Severity severity = Severity::kSkipped;
};

class ValidationReport {
 public:
  explicit ValidationReport(size_t max_kept = kDefaultMaxProblemsKept) : max_kept_(max_kept) {}
  // Keeps the problem while fewer than max_kept are kept (fatal ones always), else counts it.
  void Add(Problem problem);
  const std::vector<Problem>& problems() const { return problems_; }
  uint64_t not_kept() const { return not_kept_; }
  uint64_t total() const { return problems_.size() + not_kept_; }
  bool has_fatal() const { return fatal_count_ > 0; }
  // The first fatal problem as "file line N: reason", or empty.
  std::string FirstFatal() const;

 private:
  size_t max_kept_;
  std::vector<Problem> problems_;
  uint64_t not_kept_ = 0;
  uint64_t fatal_count_ = 0;
};

struct Agency {
  std::string id;  // may be empty in a single-agency feed
  std::string name, url, timezone, lang, phone;
};

enum class LocationType : uint8_t {
  kStop = 0, kStation = 1, kEntrance = 2, kGenericNode = 3, kBoardingArea = 4
};

struct Stop {
  std::string id, code, name, zone_id, platform_code;
  double lat = 0, lon = 0;
  bool has_position = false;  // stop_lat/stop_lon given (optional for nodes and boarding areas)
  LocationType location_type = LocationType::kStop;
  uint32_t parent_station = kNoIndex;
  uint8_t wheelchair_boarding = 0;  // 0 unknown/inherit, 1 accessible, 2 not
};

struct Route {
  std::string id, short_name, long_name, color, text_color;
  uint32_t agency = kNoIndex;
  int route_type = 3;
};

struct Trip {
  std::string id, headsign, short_name, block_id;
  uint32_t route = kNoIndex;
  uint32_t service = kNoIndex;
  int8_t direction_id = -1;          // -1 when not given
  uint8_t wheelchair_accessible = 0;  // 0 unknown, 1 accessible, 2 not
  uint32_t first_stop_time = 0;
  uint32_t stop_time_count = 0;
};

struct StopTime {
  uint32_t trip = kNoIndex;
  uint32_t stop = kNoIndex;
  int32_t arrival = kNoTime;
  int32_t departure = kNoTime;
  uint32_t stop_sequence = 0;
  uint8_t pickup_type = 0;
  uint8_t drop_off_type = 0;
};

// A service_id with its calendar.txt row (if any) and calendar_dates.txt exceptions.
struct Service {
  std::string id;
  bool has_calendar = false;
  uint8_t weekdays = 0;  // bit 0 Monday … bit 6 Sunday
  int32_t start_date = 0, end_date = 0;  // yyyymmdd, inclusive
  std::vector<std::pair<int32_t, bool>> exceptions;  // (yyyymmdd, added?) sorted by date
};

struct Frequency {
  uint32_t trip = kNoIndex;
  int32_t start_time = 0, end_time = 0;
  int32_t headway_secs = 0;
  bool exact_times = false;
};

struct Transfer {
  uint32_t from_stop = kNoIndex, to_stop = kNoIndex;
  int transfer_type = 0;
  int32_t min_transfer_time = -1;  // seconds, -1 when not given
};

struct Translation {
  std::string table_name, field_name, language, translation;
  std::string record_id, record_sub_id, field_value;  // record_id form or field_value form
};

struct FeedInfo {
  std::string publisher_name, publisher_url, lang, default_lang, version;
  int32_t start_date = 0, end_date = 0;  // yyyymmdd, 0 when not given
};

struct Feed {
  std::vector<Agency> agencies;
  std::vector<Stop> stops;
  std::vector<Route> routes;
  std::vector<Trip> trips;
  std::vector<StopTime> stop_times;
  std::vector<Service> services;
  std::vector<Frequency> frequencies;
  std::vector<Transfer> transfers;
  std::vector<Translation> translations;
  std::optional<FeedInfo> feed_info;
  std::string timezone;  // the agencies' agency_timezone (GTFS requires them equal)

  // GTFS-Flex (flex.h); empty for a feed without on-demand service.
  std::vector<FlexZone> zones;
  std::vector<LocationGroup> location_groups;
  std::vector<BookingRule> booking_rules;
  std::vector<Trip> flex_trips;          // trips.txt records of trips with flex stop times
  std::vector<FlexWindow> flex_windows;  // by (flex trip, stop_sequence)

  util::StringMap<uint32_t> agency_by_id, stop_by_id, route_by_id, trip_by_id, service_by_id;
  util::StringMap<uint32_t> zone_by_id, location_group_by_id, booking_rule_by_id, flex_trip_by_id;

  // Whether service `service_index` runs on `yyyymmdd`: a calendar_dates exception for that date
  // decides; else the calendar row (weekday within start..end); else false.
  bool ServiceRunsOn(uint32_t service_index, int32_t yyyymmdd) const;
};

// "HH:MM:SS" or "H:MM:SS" (hours may pass 24) → seconds; nullopt when malformed.
std::optional<int32_t> ParseGtfsTime(std::string_view text);
// "YYYYMMDD" → the same as an integer; nullopt when not a real calendar date.
std::optional<int32_t> ParseGtfsDate(std::string_view text);

// Reads the feed at `path` (a zip). Fills `report` with every problem found. Returns the Feed
// when no problem was fatal; else InvalidRequest (PayloadTooLarge for a limit) naming the first
// fatal problem's file, line and reason.
Result<Feed> LoadFeed(const std::string& path, const FeedOptions& options,
                      ValidationReport& report);

}  // namespace cityhub::mobility::gtfs
