// TranslationIndex: both forms of translations.txt on a feed built here (record form wins over
// field_value, language fallbacks, the feed's default language), and the one real feed in
// CITYHUB_SHARED that has a translations.txt (npm sample-gtfs-feed; none of the zips has one).
#include "services/mobility/gtfs/translations.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "services/mobility/gtfs/zip_writer.h"
#include "scratch.h"

namespace cityhub::mobility::gtfs {
namespace {

namespace fs = std::filesystem;

std::string SharedGtfs(const std::string& name) {
  const char* shared = std::getenv("CITYHUB_SHARED");
  return std::string(shared ? shared : "../shared") + "/data/gtfs/" + name;
}

fs::path TempDir() { return test_support::ScratchDir("cityhub_translations_test"); }

Feed Load(const std::string& path) {
  ValidationReport report;
  auto feed = LoadFeed(path, FeedOptions{}, report);
  EXPECT_TRUE(feed.ok()) << feed.status().message();
  return feed.ok() ? std::move(feed).value() : Feed{};
}

// A Korean feed whose texts are translated both by record and by field value.
std::vector<ZipFile> KoreanFeed(bool with_feed_info) {
  std::vector<ZipFile> files = {
      {"agency.txt", "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
                     "GB,김해버스,https://bus.example.kr,Asia/Seoul,ko\n"},
      {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\n"
                    "hall,시청,35.2285,128.8893\n"
                    "station,김해역,35.2361,128.8810\n"
                    "market,시장,35.2335,128.8830\n"},
      {"routes.txt", "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                     "R1,GB,1,시청-김해역,3\n"},
      {"trips.txt", "route_id,service_id,trip_id,trip_headsign\nR1,daily,T1,김해역\n"},
      {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence,stop_headsign\n"
                         "T1,08:00:00,08:00:00,hall,1,\n"
                         "T1,08:05:00,08:05:00,market,2,김해역 방면\n"
                         "T1,08:10:00,08:10:00,station,3,\n"},
      {"calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                       "daily,1,1,1,1,1,1,1,20240101,20301231\n"},
      {"translations.txt",
       "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n"
       "stops,stop_name,en,City Hall,hall,,\n"
       "stops,stop_name,zh-Hans,市政府,hall,,\n"
       "stops,stop_name,en,Gimhae Station,,,김해역\n"
       "stops,stop_name,vi,Ga Gimhae,,,김해역\n"
       "stops,stop_name,vi,Nhà ga Gimhae,station,,\n"
       "trips,trip_headsign,en,Gimhae Station,,,김해역\n"
       "routes,route_long_name,ja,市役所-金海駅,R1,,\n"
       "routes,route_short_name,en,Line 1,R1,,\n"
       "agency,agency_name,en,Gimhae Bus,GB,,\n"
       "stop_times,stop_headsign,en,towards Gimhae Station,T1,2,\n"
       "stop_times,stop_headsign,ja,金海駅方面,,,김해역 방면\n"
       "feed_info,feed_publisher_name,en,Gimhae City,,,\n"
       "stops,stop_name,en,Nowhere,no-such-stop,,\n"}};
  if (with_feed_info) {
    files.push_back({"feed_info.txt", "feed_publisher_name,feed_publisher_url,feed_lang,default_lang\n"
                                      "김해시,https://www.gimhae.go.kr,ko,en\n"});
  }
  return files;
}

class KoreanFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string path = (TempDir() / "korean.zip").string();
    ASSERT_TRUE(WriteZip(path, KoreanFeed(true)).ok());
    feed_ = Load(path);
    index_ = TranslationIndex::Build(feed_);
    hall_ = feed_.stop_by_id.at("hall");
    station_ = feed_.stop_by_id.at("station");
    market_ = feed_.stop_by_id.at("market");
  }
  Feed feed_;
  TranslationIndex index_;
  uint32_t hall_ = 0, station_ = 0, market_ = 0;
};

TEST_F(KoreanFeedTest, RecordFormTranslatesOneRecord) {
  LocalizedText name = index_.StopName(feed_, hall_, "en");
  EXPECT_EQ(name.text, "City Hall");
  EXPECT_EQ(name.language, "en");
  EXPECT_TRUE(name.translated);
  EXPECT_TRUE(name.in_requested_language);
  EXPECT_EQ(index_.RouteLongName(feed_, 0, "ja").text, "市役所-金海駅");
  EXPECT_EQ(index_.RouteShortName(feed_, 0, "en").text, "Line 1");
  EXPECT_EQ(index_.AgencyName(feed_, 0, "en").text, "Gimhae Bus");
  EXPECT_EQ(index_.Find(TranslatedField::kStopHeadsign, feed_.trip_by_id.at("T1"), "김해역 방면", "en", 2),
            "towards Gimhae Station");
  EXPECT_EQ(index_.Find(TranslatedField::kFeedPublisherName, 0, "김해시", "en"), "Gimhae City");
}

TEST_F(KoreanFeedTest, FieldValueFormTranslatesEveryRecordWithThatText) {
  EXPECT_EQ(index_.StopName(feed_, station_, "en").text, "Gimhae Station");
  EXPECT_EQ(index_.TripHeadsign(feed_, 0, "en").text, "Gimhae Station");
  // stop_headsign in the field_value form (the record form exists only for English).
  EXPECT_EQ(index_.Find(TranslatedField::kStopHeadsign, 0, "김해역 방면", "ja", 2), "金海駅方面");
  // The same text in another field is not translated by a stop_name row.
  EXPECT_EQ(index_.Find(TranslatedField::kRouteLongName, 0, "김해역", "vi"), "");
}

TEST_F(KoreanFeedTest, RecordFormWinsOverFieldValue) {
  EXPECT_EQ(index_.StopName(feed_, station_, "vi").text, "Nhà ga Gimhae");
}

TEST_F(KoreanFeedTest, LanguageTagsMatchCaseInsensitivelyAndFallBack) {
  EXPECT_EQ(index_.StopName(feed_, hall_, "EN").text, "City Hall");
  LocalizedText us = index_.StopName(feed_, hall_, "en-US");
  EXPECT_EQ(us.text, "City Hall");
  EXPECT_EQ(us.language, "en");
  EXPECT_TRUE(us.in_requested_language);
  LocalizedText zh = index_.StopName(feed_, hall_, "zh-hans");
  EXPECT_EQ(zh.text, "市政府");
  EXPECT_EQ(zh.language, "zh-Hans");  // as the feed spelled it
  EXPECT_EQ(index_.StopName(feed_, hall_, "ZH_HANS_CN").text, "市政府");
  EXPECT_EQ(index_.StopName(feed_, hall_, "zh-Hans-x-private").text, "市政府");
  // "zh" is broader than "zh-Hans": no match, so the default language (English) is shown.
  LocalizedText broader = index_.StopName(feed_, hall_, "zh");
  EXPECT_EQ(broader.text, "City Hall");
  EXPECT_FALSE(broader.in_requested_language);
}

TEST_F(KoreanFeedTest, WithoutTranslationTheDefaultLanguageThenTheOriginal) {
  // The feed's own language: the original text, in the requested language.
  LocalizedText ko = index_.StopName(feed_, hall_, "ko-KR");
  EXPECT_EQ(ko.text, "시청");
  EXPECT_EQ(ko.language, "ko");
  EXPECT_FALSE(ko.translated);
  EXPECT_TRUE(ko.in_requested_language);
  // French is not in the feed: its default language, English, instead.
  LocalizedText fr = index_.StopName(feed_, station_, "fr");
  EXPECT_EQ(fr.text, "Gimhae Station");
  EXPECT_EQ(fr.language, "en");
  EXPECT_FALSE(fr.in_requested_language);
  // No language asked: the default language too.
  EXPECT_EQ(index_.StopName(feed_, hall_, "").text, "City Hall");
  // Nothing in English for the market: the original Korean.
  LocalizedText market = index_.StopName(feed_, market_, "vi");
  EXPECT_EQ(market.text, "시장");
  EXPECT_EQ(market.language, "ko");
  EXPECT_FALSE(market.translated);
  EXPECT_FALSE(market.in_requested_language);
}

TEST_F(KoreanFeedTest, ListsLanguagesAndDefaults) {
  EXPECT_EQ(index_.FeedLanguage(), "ko");
  EXPECT_EQ(index_.DefaultLanguage(), "en");
  EXPECT_EQ(index_.Languages(), (std::vector<std::string>{"ko", "en", "ja", "vi", "zh-Hans"}));
  EXPECT_TRUE(index_.HasLanguage("EN-gb"));
  EXPECT_TRUE(index_.HasLanguage("ko"));
  EXPECT_FALSE(index_.HasLanguage("fr"));
  EXPECT_EQ(index_.ignored(), 1u);  // the row about no-such-stop
  EXPECT_EQ(index_.size(), 12u);
  auto all = index_.AllTranslations(TranslatedField::kStopName, station_, "김해역");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, "en");
  EXPECT_EQ(all[0].second, "Gimhae Station");
  EXPECT_EQ(all[1].first, "vi");
  EXPECT_EQ(all[1].second, "Nhà ga Gimhae");
}

TEST(TranslationIndex, FeedLanguageFromTheAgencyWithoutFeedInfo) {
  std::string path = (TempDir() / "no_feed_info.zip").string();
  ASSERT_TRUE(WriteZip(path, KoreanFeed(false)).ok());
  Feed feed = Load(path);
  TranslationIndex index = TranslationIndex::Build(feed);
  EXPECT_EQ(index.FeedLanguage(), "ko");
  EXPECT_EQ(index.DefaultLanguage(), "ko");
  // No default translation: a French request gets the Korean original.
  EXPECT_EQ(index.StopName(feed, feed.stop_by_id.at("station"), "fr").text, "김해역");
}

// feed_lang "mul": the originals are in several languages, so none is "the feed's"; riders whose
// language is unknown or missing get default_lang. Rows the index cannot use are counted.
TEST(TranslationIndex, MultilingualFeedAndRowsLeftOut) {
  std::vector<ZipFile> files = KoreanFeed(false);
  files.push_back({"feed_info.txt", "feed_publisher_name,feed_publisher_url,feed_lang,default_lang\n"
                                    "Gimhae,https://www.gimhae.go.kr,mul,en\n"});
  for (auto& [name, text] : files) {
    if (name != "translations.txt") continue;
    text += "stop_times,stop_headsign,en,bad sequence,T1,two,\n";             // not a stop_sequence
    text += "stops,stop_url,en,https://en.example,hall,,\n";                 // not a translated field
    text += "levels,level_name,en,Ground,L0,,\n";                            // not a translated table
    text += "stops,stop_name," + std::string(kMaxLanguageTagBytes + 1, 'x') + ",Long,hall,,\n";  // tag too long
  }
  std::string path = (TempDir() / "multilingual.zip").string();
  ASSERT_TRUE(WriteZip(path, files).ok());
  Feed feed = Load(path);
  TranslationIndex index = TranslationIndex::Build(feed);
  EXPECT_EQ(index.FeedLanguage(), "mul");
  EXPECT_EQ(index.DefaultLanguage(), "en");
  EXPECT_EQ(index.Languages(), (std::vector<std::string>{"en", "ja", "vi", "zh-Hans"}));
  EXPECT_EQ(index.ignored(), 5u);  // the four rows above and the one about no-such-stop
  EXPECT_FALSE(index.HasLanguage("mul"));
  LocalizedText unknown = index.StopName(feed, feed.stop_by_id.at("hall"), "");
  EXPECT_EQ(unknown.text, "City Hall");
  EXPECT_EQ(unknown.language, "en");
  EXPECT_FALSE(unknown.in_requested_language);
  // With no default translation either, the original, in no stated language.
  LocalizedText market = index.StopName(feed, feed.stop_by_id.at("market"), "ja");
  EXPECT_EQ(market.text, "시장");
  EXPECT_EQ(market.language, "mul");
  EXPECT_FALSE(market.translated);
}

TEST(TranslationIndex, WriteZipNamesThePathItCannotWrite) {
  Status status = WriteZip("/nonexistent-cityhub-dir/feed.zip", {{"agency.txt", "agency_name\n"}});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent-cityhub-dir/feed.zip"), std::string::npos) << status.message();
}

TEST(TranslationIndex, EmptyWithoutTranslations) {
  Feed feed = Load(SharedGtfs("caltrain_20160406.zip"));
  TranslationIndex index = TranslationIndex::Build(feed);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Languages(), (std::vector<std::string>{"en"}));  // agency_lang of Caltrain
  LocalizedText name = index.StopName(feed, 0, "ko");
  EXPECT_EQ(name.text, feed.stops[0].name);
  EXPECT_FALSE(name.translated);
}

// The npm sample-gtfs-feed ships its zip inside a tarball: unpack it with tar.
std::string SampleFeedZip() {
  fs::path dir = TempDir() / "sample-gtfs-feed";
  fs::create_directories(dir);
  std::string command = "tar -xzf '" + SharedGtfs("sample-gtfs-feed-0.13.0.tgz") + "' -C '" + dir.string() +
                        "' package/gtfs.zip";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return (dir / "package" / "gtfs.zip").string();
}

TEST(TranslationIndex, RealFeedWithTranslations) {
  Feed feed = Load(SampleFeedZip());
  ASSERT_FALSE(feed.translations.empty());
  TranslationIndex index = TranslationIndex::Build(feed);
  EXPECT_EQ(index.FeedLanguage(), "de-AT");
  EXPECT_EQ(index.DefaultLanguage(), "de");
  EXPECT_EQ(index.Languages(), (std::vector<std::string>{"de-AT", "de-DE", "es-ES"}));
  EXPECT_EQ(index.ignored(), 3u);  // the three levels.level_name rows

  const uint32_t entrance = feed.stop_by_id.at("airport-entrance");
  EXPECT_EQ(index.Find(TranslatedField::kStopName, entrance, "", "de-de"), "Eingang");
  EXPECT_EQ(index.Find(TranslatedField::kStopName, entrance, "", "es-ES"), "Entrada");
  EXPECT_EQ(index.StopName(feed, feed.stop_by_id.at("airport-1"), "de-DE").text, "Gleis 1");

  const uint32_t route_b = feed.route_by_id.at("B");
  LocalizedText long_name = index.RouteLongName(feed, route_b, "de-AT");
  EXPECT_EQ(long_name.text, "Tram-Linie Charles Babbage");  // field_value form
  EXPECT_TRUE(long_name.translated);
  EXPECT_EQ(index.Find(TranslatedField::kRouteDesc, route_b, "", "de-AT"),
            "Verbindet das Stadtzentrum mit dem Flughafen.");
  EXPECT_EQ(index.TripHeadsign(feed, feed.trip_by_id.at("b-downtown-on-weekends"), "de-DE").text,
            "Babbage (Richtung Stadt)");
  const uint32_t outbound = feed.trip_by_id.at("b-outbound-on-weekends");
  EXPECT_EQ(index.TripHeadsign(feed, outbound, "de-DE").text, "Babbage (auswärts)");
  EXPECT_EQ(index.Find(TranslatedField::kStopHeadsign, outbound, "", "de-DE", 11), "hAllo");
  EXPECT_EQ(index.Find(TranslatedField::kStopHeadsign, outbound, "", "de-DE", 13), "");
  EXPECT_EQ(index.Find(TranslatedField::kAgencyUrl, feed.agency_by_id.at("FTA"), "", "de-DE"),
            "https://fta.example.org/?locale=de-DE");
  EXPECT_EQ(index.Find(TranslatedField::kFeedPublisherUrl, 0, "", "de-DE"), "https://example.org/?locale=de-DE");
  // The feed's own language, Austrian German: the original.
  LocalizedText own = index.RouteLongName(feed, feed.route_by_id.at("A"), "de-AT");
  EXPECT_EQ(own.text, "Ada Lovelace Bus Line");
  EXPECT_TRUE(own.in_requested_language);
}

}  // namespace
}  // namespace cityhub::mobility::gtfs
