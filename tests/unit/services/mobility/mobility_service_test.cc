// Tests for the mobility service's persistence: feed snapshots round-trip every field and refuse
// damaged, truncated, foreign or other-version files with a reason; the service imports a feed,
// keeps the previous one when an import fails, and a new service reads the saved feeds back.
#include "services/mobility/mobility_service.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "services/mobility/gtfs/feed_snapshot.h"
#include "scratch.h"

namespace cityhub::mobility {
namespace {
namespace fs = std::filesystem;

std::string SharedGtfs(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/gtfs/" + name;
}

// A fresh directory for one test (inside this process's scratch dir, removed at the end).
fs::path TempDir(const std::string& name) {
  fs::path dir = test_support::ScratchDir("cityhub_mobility_service_test") / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

gtfs::Feed LoadZip(const std::string& name) {
  gtfs::ValidationReport report;
  auto feed = gtfs::LoadFeed(SharedGtfs(name), gtfs::FeedOptions{}, report);
  EXPECT_TRUE(feed.ok()) << feed.status().message();
  return feed.ok() ? std::move(*feed) : gtfs::Feed{};
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(FeedSnapshot, RoundTripsEveryField) {
  for (const char* zip : {"caltrain_20160406.zip", "google_sample-feed-1.zip", "bart_2016.zip"}) {
    const gtfs::Feed feed = LoadZip(zip);
    const fs::path file = TempDir("roundtrip") / "feed.snapshot";
    ASSERT_TRUE(gtfs::WriteFeedSnapshot(feed, file.string()).ok());
    auto back = gtfs::ReadFeedSnapshot(file.string());
    ASSERT_TRUE(back.ok()) << back.status().message();
    ASSERT_EQ(back->stops.size(), feed.stops.size()) << zip;
    for (size_t i = 0; i < feed.stops.size(); ++i) {
      EXPECT_EQ(back->stops[i].id, feed.stops[i].id);
      EXPECT_EQ(back->stops[i].name, feed.stops[i].name);
      EXPECT_EQ(back->stops[i].lat, feed.stops[i].lat);
      EXPECT_EQ(back->stops[i].parent_station, feed.stops[i].parent_station);
      EXPECT_EQ(back->stops[i].location_type, feed.stops[i].location_type);
    }
    ASSERT_EQ(back->trips.size(), feed.trips.size());
    for (size_t i = 0; i < feed.trips.size(); ++i) {
      EXPECT_EQ(back->trips[i].id, feed.trips[i].id);
      EXPECT_EQ(back->trips[i].headsign, feed.trips[i].headsign);
      EXPECT_EQ(back->trips[i].first_stop_time, feed.trips[i].first_stop_time);
      EXPECT_EQ(back->trips[i].service, feed.trips[i].service);
    }
    ASSERT_EQ(back->stop_times.size(), feed.stop_times.size());
    for (size_t i = 0; i < feed.stop_times.size(); ++i) {
      EXPECT_EQ(back->stop_times[i].arrival, feed.stop_times[i].arrival);
      EXPECT_EQ(back->stop_times[i].stop, feed.stop_times[i].stop);
    }
    ASSERT_EQ(back->services.size(), feed.services.size());
    for (size_t i = 0; i < feed.services.size(); ++i) {
      EXPECT_EQ(back->services[i].exceptions, feed.services[i].exceptions);
      EXPECT_EQ(back->services[i].weekdays, feed.services[i].weekdays);
    }
    EXPECT_EQ(back->routes.size(), feed.routes.size());
    EXPECT_EQ(back->frequencies.size(), feed.frequencies.size());
    EXPECT_EQ(back->transfers.size(), feed.transfers.size());
    EXPECT_EQ(back->timezone, feed.timezone);
    EXPECT_EQ(back->feed_info.has_value(), feed.feed_info.has_value());
    // The id maps are rebuilt.
    for (const auto& [id, index] : feed.stop_by_id) EXPECT_EQ(back->stop_by_id.at(id), index);
    for (const auto& [id, index] : feed.trip_by_id) EXPECT_EQ(back->trip_by_id.at(id), index);
  }
}

TEST(FeedSnapshot, RefusesDamagedTruncatedForeignAndOtherVersions) {
  const gtfs::Feed feed = LoadZip("caltrain_20160406.zip");
  const fs::path dir = TempDir("damaged");
  const fs::path file = dir / "feed.snapshot";
  ASSERT_TRUE(gtfs::WriteFeedSnapshot(feed, file.string()).ok());
  const std::string good = ReadFile(file);
  EXPECT_FALSE(fs::exists(dir / "feed.snapshot.tmp"));

  auto expect_refused = [&](const std::string& bytes, std::string_view why) {
    WriteFile(file, bytes);
    auto r = gtfs::ReadFeedSnapshot(file.string());
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
  };
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  expect_refused(flipped, "checksum");
  expect_refused(good.substr(0, good.size() - 10), "payload bytes");
  expect_refused(good.substr(0, 10), "not a feed snapshot");
  expect_refused("PK\x03\x04 a zip, not a snapshot at all.........", "not a feed snapshot");
  std::string other = good;
  other[6] = 99;  // the version field
  expect_refused(other, "format version 99");
  EXPECT_TRUE(gtfs::ReadFeedSnapshot((dir / "absent").string()).status().IsNotFound());
}

TEST(MobilityService, ImportsKeepsThePreviousFeedOnFailureAndReloadsSavedFeeds) {
  const fs::path dir = TempDir("service");
  MobilityOptions options;
  options.state_dir = dir.string();
  {
    MobilityService service(options);
    EXPECT_EQ(service.Get(""), nullptr);
    gtfs::ValidationReport report;
    auto imported = service.Import("", SharedGtfs("caltrain_20160406.zip"), report);
    ASSERT_TRUE(imported.ok()) << imported.status().message();
    EXPECT_EQ(imported->stations, 31u);
    EXPECT_EQ(imported->trips, 218u);
    EXPECT_EQ(imported->timezone, "America/Los_Angeles");
    auto before = service.Get("");
    ASSERT_NE(before, nullptr);

    // A zip that is not a feed: refused, and the Caltrain feed stays.
    const fs::path bad = dir / "bad.zip";
    WriteFile(bad, "not a zip");
    gtfs::ValidationReport bad_report;
    auto refused = service.Import("", bad.string(), bad_report);
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(bad_report.has_fatal());
    EXPECT_EQ(service.Get(""), before);

    // Another tenant gets its own feed; a request holding the old network keeps it.
    gtfs::ValidationReport r2;
    ASSERT_TRUE(service.Import("city2", SharedGtfs("google_sample-feed-1.zip"), r2).ok());
    gtfs::ValidationReport r3;
    ASSERT_TRUE(service.Import("", SharedGtfs("google_sample-feed-1.zip"), r3).ok());
    EXPECT_NE(service.Get(""), before);
    EXPECT_EQ(before->network->feed().trips.size(), 218u);  // still whole for whoever holds it
  }
  EXPECT_TRUE(fs::exists(dir / "default" / "feed.snapshot"));
  EXPECT_TRUE(fs::exists(dir / "t-6369747932" / "feed.snapshot"));  // "city2" in hex
  MobilityService restarted(options);
  EXPECT_EQ(restarted.LoadSaved(), 2u);
  ASSERT_NE(restarted.Get(""), nullptr);
  EXPECT_EQ(restarted.Get("")->summary.trips, 11u);
  ASSERT_NE(restarted.Get("city2"), nullptr);
  EXPECT_EQ(restarted.Get("city2")->summary.publisher, "Demo Transit Authority");
  EXPECT_GT(restarted.Get("")->summary.imported_at_ms, 0);
  EXPECT_EQ(restarted.Get("city3"), nullptr);
}

}  // namespace
}  // namespace cityhub::mobility
