// CsvReader: RFC 4180 parsing fed in chunks, problems reported with their line, bounded records.
#include "services/mobility/gtfs/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cityhub::mobility::gtfs {
namespace {

struct Parsed {
  std::vector<std::string> header;
  std::vector<std::pair<uint64_t, std::vector<std::string>>> records;
  std::vector<std::pair<uint64_t, std::string>> problems;
  Status status;
};

// Feeds `text` in pieces of `chunk` bytes (every split point is exercised with chunk = 1).
Parsed Parse(std::string_view text, size_t chunk = 1 << 16, CsvLimits limits = {}) {
  Parsed out;
  CsvReader reader(
      "test.txt",
      [&](const std::vector<std::string>& names) {
        out.header = names;
        return Status::Ok();
      },
      [&](const CsvRecord& record) {
        out.records.emplace_back(record.line,
                                 std::vector<std::string>(record.fields.begin(), record.fields.end()));
        return Status::Ok();
      },
      [&](uint64_t line, std::string reason) { out.problems.emplace_back(line, reason); }, limits);
  for (size_t i = 0; i < text.size() && out.status.ok(); i += chunk) {
    out.status = reader.Feed(text.substr(i, chunk));
  }
  if (out.status.ok()) out.status = reader.Finish();
  return out;
}

using Fields = std::vector<std::string>;

TEST(CsvReaderTest, QuotedFieldsWithEscapesCommasAndNewlinesInAnyChunking) {
  const std::string text = "id,name\r\n1,\"Main St, \"\"North\"\"\"\r\n2,\"two\nlines\"\r\n3,plain\r\n";
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{7}, size_t{1000}}) {
    Parsed p = Parse(text, chunk);
    ASSERT_TRUE(p.status.ok()) << p.status.message();
    EXPECT_EQ(p.header, (Fields{"id", "name"}));
    ASSERT_EQ(p.records.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(p.records[0].second, (Fields{"1", "Main St, \"North\""}));
    EXPECT_EQ(p.records[1].second, (Fields{"2", "two\nlines"}));
    EXPECT_EQ(p.records[2].second, (Fields{"3", "plain"}));
    // Lines are physical: the record after the embedded newline starts on line 5.
    EXPECT_EQ(p.records[0].first, 2u);
    EXPECT_EQ(p.records[1].first, 3u);
    EXPECT_EQ(p.records[2].first, 5u);
    EXPECT_TRUE(p.problems.empty());
  }
}

TEST(CsvReaderTest, BomIsDroppedEvenWhenSplitAcrossChunks) {
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{100}}) {
    Parsed p = Parse("\xEF\xBB\xBFstop_id,stop_name\nA,Alpha\n", chunk);
    ASSERT_TRUE(p.status.ok());
    EXPECT_EQ(p.header, (Fields{"stop_id", "stop_name"}));
    ASSERT_EQ(p.records.size(), 1u);
    EXPECT_EQ(p.records[0].second, (Fields{"A", "Alpha"}));
  }
}

TEST(CsvReaderTest, BytesThatOnlyStartLikeABomAreKept) {
  Parsed p = Parse("\xEF" "a,b\n1,2\n", 1);
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.header, (Fields{"\xEF" "a", "b"}));
}

TEST(CsvReaderTest, EmptyLinesAndMissingFinalNewlineAndTrimmedHeader) {
  Parsed p = Parse(" a , b\n\n1,2\n\r\n3,4\n\n\n5,\n6,7");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.header, (Fields{"a", "b"}));
  ASSERT_EQ(p.records.size(), 4u);
  EXPECT_EQ(p.records[1].second, (Fields{"3", "4"}));
  EXPECT_EQ(p.records[2].second, (Fields{"5", ""}));
  EXPECT_EQ(p.records[3].second, (Fields{"6", "7"}));
  EXPECT_EQ(p.records[3].first, 9u);
  EXPECT_TRUE(p.problems.empty());
}

TEST(CsvReaderTest, StrayQuoteAndWrongFieldCountAreReportedAndSkipped) {
  Parsed p = Parse("a,b\n1,x\"y\n2,\"ok\"z\n3\n4,5,6\n7,8\n");
  ASSERT_TRUE(p.status.ok());
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.records[0].second, (Fields{"7", "8"}));
  EXPECT_EQ(p.records[0].first, 6u);
  ASSERT_EQ(p.problems.size(), 4u);
  EXPECT_EQ(p.problems[0].first, 2u);
  EXPECT_NE(p.problems[0].second.find("stray quote"), std::string::npos);
  EXPECT_EQ(p.problems[1].first, 3u);
  EXPECT_NE(p.problems[1].second.find("closing quote"), std::string::npos);
  EXPECT_EQ(p.problems[2].first, 4u);
  EXPECT_NE(p.problems[2].second.find("found 1"), std::string::npos);
  EXPECT_EQ(p.problems[3].first, 5u);
  EXPECT_NE(p.problems[3].second.find("found 3"), std::string::npos);
}

TEST(CsvReaderTest, ShortRecordsArePaddedWhenAskedButLongOnesStillReported) {
  Parsed p = Parse("a,b,c\n1\n2,3,4,5\n6,7,8\n", 3, CsvLimits{.pad_short_records = true});
  ASSERT_TRUE(p.status.ok());
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0].second, (Fields{"1", "", ""}));
  EXPECT_EQ(p.records[1].second, (Fields{"6", "7", "8"}));
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].first, 3u);
  EXPECT_NE(p.problems[0].second.find("found 4"), std::string::npos);
}

TEST(CsvReaderTest, UnterminatedQuoteAtEndOfFileNamesTheLineItStartedOn) {
  Parsed p = Parse("a,b\n1,2\n3,\"open\nstill open\n");
  ASSERT_TRUE(p.status.ok());
  ASSERT_EQ(p.records.size(), 1u);
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].first, 3u);
  EXPECT_NE(p.problems[0].second.find("unterminated"), std::string::npos);
}

TEST(CsvReaderTest, OverlongRecordIsAnErrorNamingFileAndLine) {
  std::string text = "a,b\n1,2\n3," + std::string(5000, 'x') + "\n4,5\n";
  Parsed p = Parse(text, 100, CsvLimits{.max_record_bytes = 1024});
  ASSERT_FALSE(p.status.ok());
  EXPECT_EQ(p.status.code(), Status::Code::kPayloadTooLarge);
  EXPECT_NE(p.status.message().find("test.txt line 3"), std::string::npos) << p.status.message();
  EXPECT_EQ(p.records.size(), 1u);
}

TEST(CsvReaderTest, OverlongQuotedRecordAlsoStops) {
  std::string text = "a\n\"" + std::string(5000, 'x');
  Parsed p = Parse(text, 100, CsvLimits{.max_record_bytes = 1024});
  EXPECT_EQ(p.status.code(), Status::Code::kPayloadTooLarge);
}

TEST(CsvReaderTest, QuotedCarriageReturnsAreKeptAndEmptyQuotedFieldsCount) {
  Parsed p = Parse("a,b\r\n\"x\r\ny\",\"\"\r\n\"\",\r\n", 1);
  ASSERT_TRUE(p.status.ok());
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0].second, (Fields{"x\r\ny", ""}));
  EXPECT_EQ(p.records[1].second, (Fields{"", ""}));
  EXPECT_EQ(p.records[1].first, 4u);
}

TEST(CsvReaderTest, HeaderOnlyFileHasNoRecords) {
  Parsed p = Parse("\xEF\xBB\xBF" "a,b\r\n");
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.header, (Fields{"a", "b"}));
  EXPECT_TRUE(p.records.empty());
  EXPECT_TRUE(p.problems.empty());
}

TEST(CsvReaderTest, ColumnIndexLooksUpByName) {
  CsvReader reader(
      "t.txt", [](const std::vector<std::string>&) { return Status::Ok(); },
      [](const CsvRecord&) { return Status::Ok(); }, [](uint64_t, std::string) {});
  EXPECT_FALSE(reader.ColumnIndex("b").has_value());
  ASSERT_TRUE(reader.Feed("a,b,c\n").ok());
  EXPECT_EQ(reader.ColumnIndex("c"), std::optional<size_t>(2));
  EXPECT_FALSE(reader.ColumnIndex("d").has_value());
}

TEST(CsvReaderTest, CallbackErrorStopsReading) {
  int seen = 0;
  CsvReader reader(
      "t.txt", [](const std::vector<std::string>&) { return Status::Ok(); },
      [&](const CsvRecord&) {
        ++seen;
        return Status::InvalidRequest("stop");
      },
      [](uint64_t, std::string) {});
  Status status = reader.Feed("a\n1\n2\n3\n");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "stop");
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace cityhub::mobility::gtfs
