// GTFS reading: real feeds from CITYHUB_SHARED load with the right contents, and bad feeds built
// here with libzip are reported (file, line, reason) or refused — never crash or over-inflate.
#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/zip_reader.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "scratch.h"

namespace cityhub::mobility::gtfs {
namespace {

namespace fs = std::filesystem;
using test_support::Files;

std::string SharedGtfs(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/gtfs/" + name;
}

// Writes `files` into a fresh zip under the test's temp dir and returns its path.
std::string WriteZip(const std::string& name, const Files& files) {
  return test_support::WriteTestZip(test_support::ScratchDir("cityhub_gtfs_test"), name, files);
}

// Reads one member of a zip whole (test helper, independent of ZipArchive).
std::string ReadWhole(const std::string& zip_path, const std::string& member) {
  int error = 0;
  zip_t* z = zip_open(zip_path.c_str(), ZIP_RDONLY, &error);
  if (z == nullptr) return {};
  std::string out;
  if (zip_file_t* f = zip_fopen(z, member.c_str(), 0)) {
    char buf[4096];
    for (zip_int64_t n; (n = zip_fread(f, buf, sizeof buf)) > 0;) out.append(buf, n);
    zip_fclose(f);
  }
  zip_discard(z);
  return out;
}

// Data rows of a simple CSV (no quoted newlines): non-empty lines after the header.
size_t CountDataRows(const std::string& text) {
  std::istringstream in(text);
  size_t rows = 0;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (header) {
      header = false;
      continue;
    }
    ++rows;
  }
  return rows;
}

// A small valid feed; tests change one file to break it.
Files MinimalFeed() {
  return {
      {"agency.txt", "agency_id,agency_name,agency_url,agency_timezone\nA,Gimhae Bus,http://x,Asia/Seoul\n"},
      {"stops.txt",
       "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
       "ST,Station,35.23,128.88,1,\nS1,One,35.231,128.881,0,ST\nS2,Two,35.24,128.89,0,\n"
       "S3,Three,35.25,128.90,,\n"},
      {"routes.txt", "route_id,agency_id,route_short_name,route_type\nR1,A,1,3\n"},
      {"calendar.txt",
       "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
       "WK,1,1,1,1,1,0,0,20260101,20261231\n"},
      {"trips.txt", "route_id,service_id,trip_id,trip_headsign\nR1,WK,T1,Three\nR1,WK,T2,One\n"},
      {"stop_times.txt",
       "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
       "T1,08:00:00,08:00:00,S1,1\nT1,08:10:00,08:11:00,S2,2\nT1,08:20:00,08:20:00,S3,3\n"
       "T2,23:50:00,23:50:00,S3,1\nT2,24:05:00,24:05:00,S2,2\nT2,25:10:00,25:10:00,S1,3\n"},
  };
}

struct Loaded {
  Result<Feed> feed;
  ValidationReport report;
};

Loaded Load(const std::string& path, FeedOptions options = {}) {
  ValidationReport report;
  Result<Feed> feed = LoadFeed(path, options, report);
  return {std::move(feed), std::move(report)};
}

bool HasProblem(const ValidationReport& report, std::string_view file, uint64_t line,
                std::string_view reason_part, Problem::Severity severity) {
  for (const Problem& p : report.problems()) {
    if (p.file == file && p.line == line && p.severity == severity &&
        p.reason.find(reason_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string Describe(const ValidationReport& report) {
  std::string out;
  for (const Problem& p : report.problems()) {
    out += p.file + ":" + std::to_string(p.line) + " " + p.reason + "\n";
  }
  return out;
}

const StopTime& StopTimeOf(const Feed& feed, std::string_view trip_id, size_t k) {
  const Trip& trip = feed.trips[feed.trip_by_id.at(std::string(trip_id))];
  return feed.stop_times[trip.first_stop_time + k];
}

TEST(GtfsTimeTest, ParsesTimesPastMidnightAndRejectsBadOnes) {
  EXPECT_EQ(ParseGtfsTime("25:10:00"), std::optional<int32_t>(90600));
  EXPECT_EQ(ParseGtfsTime("6:05:07"), std::optional<int32_t>(6 * 3600 + 5 * 60 + 7));
  EXPECT_EQ(ParseGtfsTime(" 00:00:00 "), std::optional<int32_t>(0));
  for (std::string_view bad : {"25:61:00", "10:00:60", "10:00", "ab:00:00", "-1:00:00",
                               "10:0:00", "", "169:00:00", "10:00:00x"}) {
    EXPECT_FALSE(ParseGtfsTime(bad).has_value()) << bad;
  }
  EXPECT_EQ(ParseGtfsDate("20240229"), std::optional<int32_t>(20240229));
  EXPECT_FALSE(ParseGtfsDate("20230229").has_value());
  EXPECT_FALSE(ParseGtfsDate("20241301").has_value());
  EXPECT_FALSE(ParseGtfsDate("2024-01-01").has_value());
}

TEST(GtfsFeedTest, GoogleSampleFeedCountsMatchTheFiles) {
  const std::string path = SharedGtfs("google_sample-feed-1.zip");
  Loaded loaded = Load(path);
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  // Counted independently: every data line of these small files is a valid record.
  EXPECT_EQ(feed.stops.size(), CountDataRows(ReadWhole(path, "stops.txt")));
  EXPECT_EQ(feed.routes.size(), CountDataRows(ReadWhole(path, "routes.txt")));
  EXPECT_EQ(feed.trips.size(), CountDataRows(ReadWhole(path, "trips.txt")));
  EXPECT_EQ(feed.stop_times.size(), CountDataRows(ReadWhole(path, "stop_times.txt")));
  EXPECT_EQ(feed.frequencies.size(), CountDataRows(ReadWhole(path, "frequencies.txt")));
  EXPECT_EQ(feed.stops.size(), 9u);  // as listed in stops.txt by hand
  EXPECT_EQ(feed.timezone, "America/Los_Angeles");
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);

  // Trip AB1 (read in trips.txt/stop_times.txt): BEATTY_AIRPORT 8:00 then BULLFROG 8:10-8:15.
  const StopTime& first = StopTimeOf(feed, "AB1", 0);
  EXPECT_EQ(feed.stops[first.stop].id, "BEATTY_AIRPORT");
  EXPECT_EQ(first.departure, 8 * 3600);
  const StopTime& second = StopTimeOf(feed, "AB1", 1);
  EXPECT_EQ(feed.stops[second.stop].id, "BULLFROG");
  EXPECT_EQ(second.arrival, 8 * 3600 + 10 * 60);
  EXPECT_EQ(second.departure, 8 * 3600 + 15 * 60);

  // FULLW runs daily except the removal on 2007-06-04; WE only on weekends.
  uint32_t fullw = feed.service_by_id.at("FULLW");
  uint32_t we = feed.service_by_id.at("WE");
  EXPECT_FALSE(feed.ServiceRunsOn(fullw, 20070604));
  EXPECT_TRUE(feed.ServiceRunsOn(fullw, 20070605));
  EXPECT_TRUE(feed.ServiceRunsOn(we, 20070609));    // a Saturday
  EXPECT_FALSE(feed.ServiceRunsOn(we, 20070608));   // a Friday
  EXPECT_FALSE(feed.ServiceRunsOn(fullw, 20110101));  // after end_date
}

TEST(GtfsFeedTest, CaltrainTimesPastMidnightAndHolidayExceptions) {
  Loaded loaded = Load(SharedGtfs("caltrain_20160406.zip"));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  // stop_times.txt: trip 451a ends "451a,24:08:00,24:08:00,70011,24".
  const Trip& trip = feed.trips[feed.trip_by_id.at("451a")];
  const StopTime& last = feed.stop_times[trip.first_stop_time + trip.stop_time_count - 1];
  EXPECT_EQ(last.stop_sequence, 24u);
  EXPECT_EQ(feed.stops[last.stop].id, "70011");
  EXPECT_EQ(last.arrival, 24 * 3600 + 8 * 60);
  // Stop times of every trip are in sequence order and never go back in time.
  for (const Trip& t : feed.trips) {
    for (uint32_t k = 1; k < t.stop_time_count; ++k) {
      const StopTime& a = feed.stop_times[t.first_stop_time + k - 1];
      const StopTime& b = feed.stop_times[t.first_stop_time + k];
      ASSERT_LT(a.stop_sequence, b.stop_sequence) << t.id;
      ASSERT_LE(a.departure, b.arrival) << t.id;
    }
  }
  // calendar_dates.txt: Memorial Day (Monday 2016-05-30) runs the Sunday service instead.
  uint32_t weekday = feed.service_by_id.at("CT-16APR-Caltrain-Weekday-01");
  uint32_t sunday = feed.service_by_id.at("CT-16APR-Caltrain-Sunday-02");
  EXPECT_FALSE(feed.ServiceRunsOn(weekday, 20160530));
  EXPECT_TRUE(feed.ServiceRunsOn(sunday, 20160530));
  EXPECT_TRUE(feed.ServiceRunsOn(weekday, 20160531));
  EXPECT_FALSE(feed.ServiceRunsOn(sunday, 20160531));
  EXPECT_TRUE(feed.ServiceRunsOn(sunday, 20160605));  // an ordinary Sunday
}

TEST(GtfsFeedTest, BartAndHeidelbergLoadWithoutFatalProblems) {
  for (const char* name : {"bart_2016.zip", "HD_GTFS.zip"}) {
    Loaded loaded = Load(SharedGtfs(name));
    ASSERT_TRUE(loaded.feed.ok()) << name << ": " << loaded.feed.status().message();
    EXPECT_FALSE(loaded.report.has_fatal());
    const Feed& feed = loaded.feed.value();
    EXPECT_GT(feed.trips.size(), 100u) << name;
    EXPECT_GT(feed.stop_times.size(), 10'000u) << name;
    // Every stop time row of these feeds is valid (checked: no stop_times problem is reported),
    // so the model holds exactly the file's data rows.
    EXPECT_EQ(feed.stop_times.size(), CountDataRows(ReadWhole(SharedGtfs(name), "stop_times.txt")))
        << name;
    // What was skipped is visible in the test log.
    std::cout << name << ": " << feed.stops.size() << " stops, " << feed.trips.size()
              << " trips, " << feed.stop_times.size() << " stop times, " << feed.transfers.size()
              << " transfers; " << loaded.report.total() << " problems\n"
              << Describe(loaded.report).substr(0, 2000);
  }
}

TEST(GtfsFeedTest, MinimalFeedResolvesReferences) {
  Loaded loaded = Load(WriteZip("minimal.zip", MinimalFeed()));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);
  EXPECT_EQ(feed.stops[feed.stop_by_id.at("S1")].parent_station, feed.stop_by_id.at("ST"));
  EXPECT_EQ(feed.stops[feed.stop_by_id.at("ST")].location_type, LocationType::kStation);
  EXPECT_EQ(StopTimeOf(feed, "T2", 1).arrival, 24 * 3600 + 5 * 60);
  EXPECT_EQ(StopTimeOf(feed, "T2", 2).arrival, 90600);
  EXPECT_EQ(feed.timezone, "Asia/Seoul");
}

TEST(GtfsFeedTest, MembersInASubFolderAreFound) {
  Files files;
  for (const auto& [name, content] : MinimalFeed()) files["feed/" + name] = content;
  Loaded loaded = Load(WriteZip("subfolder.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  EXPECT_EQ(loaded.feed->trips.size(), 2u);
}

TEST(GtfsFeedTest, MissingStopsIsFatalAndNamed) {
  Files files = MinimalFeed();
  files.erase("stops.txt");
  Loaded loaded = Load(WriteZip("nostops.zip", files));
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_NE(loaded.feed.status().message().find("stops.txt"), std::string::npos);
  EXPECT_TRUE(HasProblem(loaded.report, "stops.txt", 0, "missing", Problem::Severity::kFatal));
}

TEST(GtfsFeedTest, MissingRequiredColumnIsFatalNamingFileAndColumn) {
  Files files = MinimalFeed();
  files["trips.txt"] = "route_id,trip_id\nR1,T1\n";
  Loaded loaded = Load(WriteZip("nocolumn.zip", files));
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_NE(loaded.feed.status().message().find("service_id"), std::string::npos);
  EXPECT_NE(loaded.feed.status().message().find("trips.txt"), std::string::npos);
}

TEST(GtfsFeedTest, BrokenQuotingIsReportedWithItsLine) {
  Files files = MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,One,35.231,128.881\nS2,\"Two\"x,35.24,128.89\nS3,Th\"ree,35.25,128.90\n";
  Loaded loaded = Load(WriteZip("quoting.zip", files));
  // S2 and S3 are gone, so their stop times are skipped too, and both trips lose too much.
  EXPECT_TRUE(HasProblem(loaded.report, "stops.txt", 3, "closing quote", Problem::Severity::kSkipped))
      << Describe(loaded.report);
  EXPECT_TRUE(HasProblem(loaded.report, "stops.txt", 4, "stray quote", Problem::Severity::kSkipped));
  EXPECT_TRUE(HasProblem(loaded.report, "stop_times.txt", 3, "unknown stop_id 'S2'",
                         Problem::Severity::kSkipped));
}

TEST(GtfsFeedTest, BomAndCrlfAreHandled) {
  Files files = MinimalFeed();
  std::string stops = "\xEF\xBB\xBF" + files["stops.txt"];
  std::string crlf;
  for (char c : stops) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  files["stops.txt"] = crlf;
  Loaded loaded = Load(WriteZip("bom.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  EXPECT_EQ(loaded.report.total(), 0u) << Describe(loaded.report);
  EXPECT_TRUE(loaded.feed->stop_by_id.contains("ST"));
  EXPECT_EQ(loaded.feed->stops[loaded.feed->stop_by_id.at("S3")].name, "Three");
}

TEST(GtfsFeedTest, BadRowsAreSkippedAndReported) {
  Files files = MinimalFeed();
  files["stops.txt"] += "S4,Bad,95.0,128.0,,\nS1,Duplicate,35.0,128.0,,\n";
  files["stop_times.txt"] +=
      "T1,08:30:00,08:30:00,NOPE,4\n"      // line 8: unknown stop
      "T1,25:61:00,25:61:00,S1,5\n"        // line 9: bad time
      "T9,08:00:00,08:00:00,S1,1\n"        // line 10: unknown trip
      "T1,08:05:00,08:05:00,S2,6\n";       // line 11: earlier than stop 3 of T1
  Loaded loaded = Load(WriteZip("badrows.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  using S = Problem::Severity;
  const ValidationReport& r = loaded.report;
  EXPECT_TRUE(HasProblem(r, "stops.txt", 6, "bad coordinates", S::kSkipped)) << Describe(r);
  EXPECT_TRUE(HasProblem(r, "stops.txt", 7, "duplicate stop_id 'S1'", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "stop_times.txt", 8, "unknown stop_id 'NOPE'", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "stop_times.txt", 9, "bad time '25:61:00'", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "stop_times.txt", 10, "unknown trip_id 'T9'", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "stop_times.txt", 11, "out of sequence", S::kSkipped));
  EXPECT_EQ(loaded.feed->stops.size(), 4u);
  EXPECT_EQ(loaded.feed->trips[loaded.feed->trip_by_id.at("T1")].stop_time_count, 3u);
  EXPECT_EQ(loaded.feed->stops[loaded.feed->stop_by_id.at("S1")].name, "One");
}

TEST(GtfsFeedTest, TripWithTooFewStopTimesIsLeftOutAndIndexesStayConsistent) {
  Files files = MinimalFeed();
  files["trips.txt"] = "route_id,service_id,trip_id\nR1,WK,T0\nR1,WK,T1\nR1,WK,T2\n";
  files["stop_times.txt"] += "T0,07:00:00,07:00:00,S1,1\n";
  Loaded loaded = Load(WriteZip("shorttrip.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  EXPECT_TRUE(HasProblem(loaded.report, "trips.txt", 0, "trip 'T0'", Problem::Severity::kSkipped));
  ASSERT_EQ(feed.trips.size(), 2u);
  EXPECT_FALSE(feed.trip_by_id.contains("T0"));
  for (uint32_t t = 0; t < feed.trips.size(); ++t) {
    EXPECT_EQ(feed.trip_by_id.at(feed.trips[t].id), t);
    for (uint32_t k = 0; k < feed.trips[t].stop_time_count; ++k) {
      EXPECT_EQ(feed.stop_times[feed.trips[t].first_stop_time + k].trip, t);
    }
  }
}

TEST(GtfsFeedTest, EmptyCalendarWithoutCalendarDatesIsNoService) {
  Files files = MinimalFeed();
  files["calendar.txt"] =
      "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n";
  Loaded loaded = Load(WriteZip("noservice.zip", files));
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_NE(loaded.feed.status().message().find("no service"), std::string::npos)
      << loaded.feed.status().message();
  EXPECT_TRUE(loaded.report.has_fatal());
}

TEST(GtfsFeedTest, CalendarDatesAloneAreEnough) {
  Files files = MinimalFeed();
  files.erase("calendar.txt");
  files["calendar_dates.txt"] = "service_id,date,exception_type\nWK,20260907,1\n";
  Loaded loaded = Load(WriteZip("datesonly.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  uint32_t wk = loaded.feed->service_by_id.at("WK");
  EXPECT_TRUE(loaded.feed->ServiceRunsOn(wk, 20260907));
  EXPECT_FALSE(loaded.feed->ServiceRunsOn(wk, 20260908));
}

TEST(GtfsFeedTest, OptionalFilesAreRead) {
  Files files = MinimalFeed();
  files["transfers.txt"] =
      "from_stop_id,to_stop_id,transfer_type,min_transfer_time\nS1,S2,2,180\nS1,ZZ,2,60\n";
  files["translations.txt"] =
      "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n"
      "stops,stop_name,ko,하나,S1,,\nstops,stop_name,en,One,,,One\nbogus,x,ko,y,S1,,\n";
  files["feed_info.txt"] =
      "feed_publisher_name,feed_publisher_url,feed_lang,default_lang,feed_start_date\n"
      "Gimhae,http://x,ko,ko,20260101\n";
  files["frequencies.txt"] = "trip_id,start_time,end_time,headway_secs\nT1,06:00:00,09:00:00,600\n";
  Loaded loaded = Load(WriteZip("optional.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  ASSERT_EQ(feed.transfers.size(), 1u);
  EXPECT_EQ(feed.transfers[0].min_transfer_time, 180);
  EXPECT_TRUE(HasProblem(loaded.report, "transfers.txt", 3, "unknown stop_id 'ZZ'",
                         Problem::Severity::kSkipped));
  ASSERT_EQ(feed.translations.size(), 2u);
  EXPECT_EQ(feed.translations[0].translation, "하나");
  EXPECT_EQ(feed.translations[0].record_id, "S1");
  EXPECT_EQ(feed.translations[1].field_value, "One");
  EXPECT_TRUE(HasProblem(loaded.report, "translations.txt", 4, "unknown table_name",
                         Problem::Severity::kSkipped));
  ASSERT_TRUE(feed.feed_info.has_value());
  EXPECT_EQ(feed.feed_info->default_lang, "ko");
  EXPECT_EQ(feed.feed_info->start_date, 20260101);
  ASSERT_EQ(feed.frequencies.size(), 1u);
  EXPECT_EQ(feed.frequencies[0].headway_secs, 600);
  EXPECT_EQ(feed.frequencies[0].trip, feed.trip_by_id.at("T1"));
}

TEST(GtfsFeedTest, OptionalFileWithoutItsRequiredColumnIsSkippedWhole) {
  Files files = MinimalFeed();
  files["translations.txt"] = "trans_id,lang,translation\nx,ko,y\n";  // the legacy format
  Loaded loaded = Load(WriteZip("legacy.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  EXPECT_TRUE(loaded.feed->translations.empty());
  EXPECT_TRUE(HasProblem(loaded.report, "translations.txt", 1, "table_name",
                         Problem::Severity::kSkipped));
}

TEST(GtfsFeedTest, ProblemsBeyondTheCapAreCountedNotKept) {
  Files files = MinimalFeed();
  for (int i = 0; i < 50; ++i) files["stop_times.txt"] += "T1,08:30:00,08:30:00,NOPE,9" + std::to_string(i) + "\n";
  FeedOptions options;
  options.max_problems_kept = 10;
  Loaded loaded = Load(WriteZip("manyproblems.zip", files), options);
  ASSERT_TRUE(loaded.feed.ok());
  EXPECT_EQ(loaded.report.problems().size(), 10u);
  EXPECT_EQ(loaded.report.total(), 50u);
}

TEST(ZipArchiveTest, ZipBombIsRefusedByTheRatioGuardBeforeInflating) {
  const std::string zeros(8 << 20, '\0');
  std::string path = WriteZip("bomb.zip", {{"stop_times.txt", zeros}});
  Result<ZipArchive> zip = ZipArchive::Open(path);
  ASSERT_TRUE(zip.ok());
  std::optional<ZipMember> member = zip->FindMember("stop_times.txt");
  ASSERT_TRUE(member.has_value());
  ASSERT_LT(member->compressed_size * 200, zeros.size());  // it really is that compressible
  uint64_t delivered = 0;
  Status status = zip->ReadMember(*member, [&](std::string_view chunk) {
    delivered += chunk.size();
    return Status::Ok();
  });
  EXPECT_EQ(status.code(), Status::Code::kPayloadTooLarge);
  EXPECT_NE(status.message().find("zip bomb"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("stop_times.txt"), std::string::npos);
  EXPECT_EQ(delivered, 0u);
}

TEST(ZipArchiveTest, MemberLimitAlsoStopsWhileStreaming) {
  // The declared sizes pass (a generous ratio), the produced bytes are checked chunk by chunk:
  // with the member limit below the member's size, reading stops after the first chunk over it.
  const std::string text(1 << 20, 'a');
  std::string path = WriteZip("stream.zip", {{"stops.txt", text}});
  ZipLimits limits;
  limits.max_member_bytes = 3 * kZipChunkBytes / 2;
  Result<ZipArchive> zip = ZipArchive::Open(path, limits);
  ASSERT_TRUE(zip.ok());
  ZipMember member = *zip->FindMember("stops.txt");
  member.declared_size = 0;  // as a lying central directory would say
  uint64_t delivered = 0;
  Status status = zip->ReadMember(member, [&](std::string_view chunk) {
    delivered += chunk.size();
    return Status::Ok();
  });
  EXPECT_EQ(status.code(), Status::Code::kPayloadTooLarge);
  EXPECT_LE(delivered, limits.max_member_bytes);
  EXPECT_LE(zip->bytes_read(), limits.max_member_bytes + kZipChunkBytes);
}

TEST(ZipArchiveTest, RatioGuardStopsWhileStreamingWhenTheDeclaredSizeLies) {
  const std::string zeros(8 << 20, '\0');
  std::string path = WriteZip("bomb_streaming.zip", {{"stop_times.txt", zeros}});
  Result<ZipArchive> zip = ZipArchive::Open(path);
  ASSERT_TRUE(zip.ok());
  ZipMember member = *zip->FindMember("stop_times.txt");
  member.declared_size = 0;  // the upfront check passes; only the bytes produced can tell
  uint64_t delivered = 0;
  Status status = zip->ReadMember(member, [&](std::string_view chunk) {
    delivered += chunk.size();
    return Status::Ok();
  });
  EXPECT_EQ(status.code(), Status::Code::kPayloadTooLarge);
  EXPECT_NE(status.message().find("zip bomb"), std::string::npos) << status.message();
  const uint64_t allowed = member.compressed_size * kDefaultMaxCompressionRatio +
                           kDefaultRatioSlackBytes;
  EXPECT_LE(delivered, allowed);
  EXPECT_LT(zip->bytes_read(), allowed + kZipChunkBytes + 1);
  EXPECT_LT(zip->bytes_read(), zeros.size());
}

TEST(ZipArchiveTest, RootMemberIsPreferredOverASubFolderOne) {
  std::string path = WriteZip("both.zip", {{"old/stops.txt", "old"}, {"stops.txt", "root"},
                                           {"__MACOSX/agency.txt", "fork"}});
  Result<ZipArchive> zip = ZipArchive::Open(path);
  ASSERT_TRUE(zip.ok());
  EXPECT_EQ(zip->FindMember("stops.txt")->name, "stops.txt");
  EXPECT_FALSE(zip->FindMember("agency.txt").has_value());
  EXPECT_FALSE(zip->FindMember("trips.txt").has_value());
}

TEST(GtfsFeedTest, EmptyRequiredFileIsFatal) {
  Files files = MinimalFeed();
  files["routes.txt"] = "";
  Loaded loaded = Load(WriteZip("emptyroutes.zip", files));
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_NE(loaded.feed.status().message().find("routes.txt is empty"), std::string::npos)
      << loaded.feed.status().message();
}

TEST(GtfsFeedTest, RowLimitRefusesTheFeedNamingTheFile) {
  FeedOptions options;
  options.max_rows_per_file = 5;  // stop_times.txt of the minimal feed has 6 rows
  Loaded loaded = Load(WriteZip("rowlimit.zip", MinimalFeed()), options);
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_TRUE(HasProblem(loaded.report, "stop_times.txt", 7, "more than 5 rows",
                         Problem::Severity::kFatal))
      << Describe(loaded.report);
}

TEST(GtfsFeedTest, BadReferencesInTripsAndStopsAreReported) {
  Files files = MinimalFeed();
  files["trips.txt"] += "RX,WK,T3,x\nR1,XX,T4,x\nR1,WK,T1,again\n";
  files["stops.txt"] += "S5,Five,35.2,128.8,0,NOWHERE\n";
  files["agency.txt"] += "B,Other,http://y,Europe/Berlin\n";
  Loaded loaded = Load(WriteZip("badrefs.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  using S = Problem::Severity;
  const ValidationReport& r = loaded.report;
  EXPECT_TRUE(HasProblem(r, "trips.txt", 4, "unknown route_id 'RX'", S::kSkipped)) << Describe(r);
  EXPECT_TRUE(HasProblem(r, "trips.txt", 5, "unknown service_id 'XX'", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "trips.txt", 6, "duplicate trip_id 'T1'", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "stops.txt", 6, "unknown parent_station 'NOWHERE'", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "agency.txt", 3, "differs", S::kSkipped));
  const Feed& feed = loaded.feed.value();
  EXPECT_EQ(feed.timezone, "Asia/Seoul");
  EXPECT_EQ(feed.stops[feed.stop_by_id.at("S5")].parent_station, kNoIndex);
  EXPECT_EQ(feed.trips[feed.trip_by_id.at("T1")].headsign, "Three");
}

TEST(GtfsFeedTest, UntimedStopsBetweenTimepointsAreKeptButNotAtTheEnds) {
  Files files = MinimalFeed();
  files["trips.txt"] += "R1,WK,T3,x\n";
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T1,08:00:00,08:00:00,S1,1\nT1,,,S2,2\nT1,08:20:00,08:20:00,S3,3\n"
      "T2,,,S3,1\nT2,24:05:00,24:05:00,S2,2\nT2,25:10:00,25:10:00,S1,3\n"
      "T3,09:00:00,09:00:00,S1,1\nT3,09:05:00,09:05:00,ST,2\nT3,09:10:00,09:10:00,S2,3\n";
  Loaded loaded = Load(WriteZip("untimed.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  const Feed& feed = loaded.feed.value();
  using S = Problem::Severity;
  EXPECT_EQ(StopTimeOf(feed, "T1", 1).arrival, kNoTime);
  EXPECT_EQ(StopTimeOf(feed, "T1", 2).arrival, 8 * 3600 + 20 * 60);
  EXPECT_FALSE(feed.trip_by_id.contains("T2"));
  EXPECT_TRUE(HasProblem(loaded.report, "trips.txt", 0, "no time at its first or last stop",
                         S::kSkipped))
      << Describe(loaded.report);
  // A station cannot be served: the row is skipped and T3 keeps its two stops.
  EXPECT_TRUE(HasProblem(loaded.report, "stop_times.txt", 9, "not a stop", S::kSkipped));
  EXPECT_EQ(feed.trips[feed.trip_by_id.at("T3")].stop_time_count, 2u);
  EXPECT_FALSE(feed.ServiceRunsOn(static_cast<uint32_t>(feed.services.size()), 20260907));
}

TEST(GtfsFeedTest, DuplicateStopSequenceKeepsTheFirstRowInBothOrders) {
  for (bool shuffled : {false, true}) {
    Files files = MinimalFeed();
    std::string rows =
        "T1,08:00:00,08:00:00,S1,1\nT1,08:10:00,08:11:00,S2,2\nT1,08:12:00,08:12:00,S3,2\n"
        "T1,08:20:00,08:20:00,S3,3\nT2,23:50:00,23:50:00,S3,1\nT2,24:05:00,24:05:00,S2,2\n";
    if (shuffled) {
      rows = "T2,24:05:00,24:05:00,S2,2\nT1,08:20:00,08:20:00,S3,3\nT1,08:10:00,08:11:00,S2,2\n"
             "T2,23:50:00,23:50:00,S3,1\nT1,08:12:00,08:12:00,S3,2\nT1,08:00:00,08:00:00,S1,1\n";
    }
    files["stop_times.txt"] = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + rows;
    Loaded loaded = Load(WriteZip("dupseq.zip", files));
    ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
    const Feed& feed = loaded.feed.value();
    EXPECT_TRUE(HasProblem(loaded.report, "stop_times.txt", shuffled ? 6 : 4,
                           "duplicate stop_sequence 2", Problem::Severity::kSkipped))
        << Describe(loaded.report);
    ASSERT_EQ(feed.trips[feed.trip_by_id.at("T1")].stop_time_count, 3u);
    EXPECT_EQ(feed.stops[StopTimeOf(feed, "T1", 1).stop].id, "S2");
    EXPECT_EQ(StopTimeOf(feed, "T2", 0).arrival, 23 * 3600 + 50 * 60);
    EXPECT_EQ(StopTimeOf(feed, "T2", 1).arrival, 24 * 3600 + 5 * 60);
  }
}

TEST(GtfsFeedTest, BadOptionalRowsAreSkippedWithTheirField) {
  Files files = MinimalFeed();
  files["frequencies.txt"] =
      "trip_id,start_time,end_time,headway_secs,exact_times\n"
      "T1,06:00:00,09:00:00,0,0\nT1,09:00:00,06:00:00,600,0\nT1,06:00:00,09:00:00,600,2\n"
      "T1,06:00:00,09:00:00,600,1\n";
  files["transfers.txt"] = "from_stop_id,to_stop_id,transfer_type,min_transfer_time\n"
                           "S1,S2,9,\nS1,S2,2,-5\nS1,S2,,\n";
  Loaded loaded = Load(WriteZip("badoptional.zip", files));
  ASSERT_TRUE(loaded.feed.ok()) << loaded.feed.status().message();
  using S = Problem::Severity;
  const ValidationReport& r = loaded.report;
  EXPECT_TRUE(HasProblem(r, "frequencies.txt", 2, "bad headway_secs", S::kSkipped)) << Describe(r);
  EXPECT_TRUE(HasProblem(r, "frequencies.txt", 3, "bad end_time", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "frequencies.txt", 4, "bad exact_times", S::kSkipped));
  ASSERT_EQ(loaded.feed->frequencies.size(), 1u);
  EXPECT_TRUE(loaded.feed->frequencies[0].exact_times);
  EXPECT_TRUE(HasProblem(r, "transfers.txt", 2, "bad transfer_type", S::kSkipped));
  EXPECT_TRUE(HasProblem(r, "transfers.txt", 3, "bad min_transfer_time", S::kSkipped));
  ASSERT_EQ(loaded.feed->transfers.size(), 1u);  // an empty transfer_type means 0
  EXPECT_EQ(loaded.feed->transfers[0].transfer_type, 0);
  EXPECT_EQ(loaded.feed->transfers[0].min_transfer_time, -1);
}

TEST(GtfsFeedTest, AgencyWithoutTimezoneColumnIsFatal) {
  Files files = MinimalFeed();
  files["agency.txt"] = "agency_id,agency_name,agency_url\nA,Gimhae Bus,http://x\n";
  Loaded loaded = Load(WriteZip("notz.zip", files));
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_TRUE(HasProblem(loaded.report, "agency.txt", 1, "agency_timezone",
                         Problem::Severity::kFatal))
      << Describe(loaded.report);
}

TEST(GtfsFeedTest, MemberOverTheLimitIsRefusedEarlyAndNamed) {
  Files files = MinimalFeed();
  std::string& stop_times = files["stop_times.txt"];
  for (int i = 0; i < 4000; ++i) stop_times += "T1,08:30:00,08:30:00,S1," + std::to_string(100 + i) + "\n";
  FeedOptions options;
  options.zip.max_member_bytes = 64 << 10;
  Loaded loaded = Load(WriteZip("big.zip", files), options);
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_EQ(loaded.feed.status().code(), Status::Code::kPayloadTooLarge);
  EXPECT_NE(loaded.feed.status().message().find("stop_times.txt"), std::string::npos);
  EXPECT_TRUE(loaded.report.has_fatal());
}

TEST(GtfsFeedTest, FeedLimitCountsAllMembers) {
  FeedOptions options;
  options.zip.max_feed_bytes = 600;  // the minimal feed is about 900 bytes in all
  Loaded loaded = Load(WriteZip("feedlimit.zip", MinimalFeed()), options);
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_NE(loaded.feed.status().message().find("feed over its limit"), std::string::npos)
      << loaded.feed.status().message();
}

TEST(GtfsFeedTest, NotAZipIsAClearError) {
  fs::path path = test_support::ScratchDir("cityhub_gtfs_test") / "not_a_zip.zip";
  fs::create_directories(path.parent_path());
  { std::ofstream(path) << "hello"; }
  Loaded loaded = Load(path.string());
  ASSERT_FALSE(loaded.feed.ok());
  EXPECT_NE(loaded.feed.status().message().find("not_a_zip.zip"), std::string::npos);
}

}  // namespace
}  // namespace cityhub::mobility::gtfs
