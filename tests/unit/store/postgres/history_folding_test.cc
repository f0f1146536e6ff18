// History folding on PostgreSQL (store/postgres/history_folding.h): a block's parts become one
// row with the same bytes in the same order; appends made while folds run are neither lost nor
// reordered; replacing a block after a fold leaves no folded row behind; reads page by whole
// blocks, so blocks of any number of parts read back whole, forwards and backwards.
#include "store/postgres/history_folding.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_store.h"
#include "test_server.h"

namespace cityhub::store {
namespace {

using namespace std::chrono_literals;
using testing::TestDatabase;
constexpr char kSchema[] = "\"tenant_default\"";

class HistoryFoldingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(database_.ok());
    PostgresStoreOptions options;
    options.conninfo = database_.uri();
    options.history_fold_interval = 0ms;  // the tests fold themselves
    auto s = OpenPostgresStore(options);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    auto t = store_->Tenant("", false);
    ASSERT_TRUE(t.ok());
    tenant_ = *t;
    direct_ = Connect();
    ASSERT_TRUE(direct_);
  }

  std::unique_ptr<pg::Connection> Connect() {
    auto c = pg::Connection::Open(database_.uri(), 5s);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(*c) : nullptr;
  }
  void Append(int64_t block, std::string bytes, std::string attr = "temperature") {
    WriteSet ws;
    ws.history.push_back({"urn:e:1", std::move(attr), block, std::move(bytes)});
    ASSERT_TRUE(tenant_->Write(ws).ok());
  }
  pg::FoldRound Fold(pg::Connection& c) {
    auto round = pg::FoldHistory(c, kSchema, 2);  // 2 blocks per transaction: several transactions
    EXPECT_TRUE(round.ok()) << round.status().message();
    return round.ok() ? *round : pg::FoldRound{};
  }
  int64_t Rows() {
    auto rows = direct_->Exec("counting", "SELECT count(*) FROM \"tenant_default\".history");
    EXPECT_TRUE(rows.ok());
    return rows.ok() ? rows->GetInt(0, 0).value() : -1;
  }
  // (block, bytes) as ScanHistory visits them.
  std::vector<std::pair<int64_t, std::string>> Blocks(bool backwards, std::string attr = "temperature") {
    std::vector<std::pair<int64_t, std::string>> out;
    EXPECT_TRUE(tenant_
                    ->ScanHistory("urn:e:1", attr, INT64_MIN, INT64_MAX, backwards,
                                  [&](int64_t block, std::string_view bytes) {
                                    out.emplace_back(block, std::string(bytes));
                                    return true;
                                  })
                    .ok());
    return out;
  }

  TestDatabase database_{"cityhub_histfold"};
  std::unique_ptr<Store> store_;
  TenantStore* tenant_ = nullptr;
  std::unique_ptr<pg::Connection> direct_;
};

TEST_F(HistoryFoldingTest, PartsBecomeOneRowPerBlockWithTheSameBytesInOrder) {
  for (int i = 1; i <= 5; ++i) Append(7, fmt::format("a{};", i));
  Append(8, "b1;");
  Append(8, "b2;");
  Append(9, "c1;");
  ASSERT_EQ(Rows(), 8);
  const auto before = Blocks(false);

  const auto round = Fold(*direct_);
  EXPECT_EQ(round.blocks, 3u);  // block 9 too: one part, but not compressed yet
  EXPECT_EQ(round.parts, 8u);
  EXPECT_EQ(Rows(), 3);
  EXPECT_EQ(Blocks(false), before);
  EXPECT_EQ(before[0].second, "a1;a2;a3;a4;a5;");

  // Appends after a fold come after the folded row; the next round folds only what changed.
  Append(7, "a6;");
  Append(9, "c2;");
  const auto again = Fold(*direct_);
  EXPECT_EQ(again.blocks, 2u);
  EXPECT_EQ(again.parts, 4u);
  EXPECT_EQ(Rows(), 3);
  EXPECT_EQ(Blocks(false)[0].second, "a1;a2;a3;a4;a5;a6;");
  EXPECT_EQ(Blocks(false)[2].second, "c1;c2;");
  EXPECT_EQ(Fold(*direct_).blocks, 0u);  // nothing written since
}

// Four writers append to one block while another connection folds again and again: every
// append is there once, and each writer's appends are in the order it made them.
TEST_F(HistoryFoldingTest, AppendsDuringFoldsAreNeitherLostNorReordered) {
  constexpr int kWriters = 4, kAppends = 150;
  std::atomic<bool> writing{true};
  std::atomic<uint64_t> folded_blocks{0};
  std::thread folder([&] {
    auto c = Connect();
    ASSERT_TRUE(c);
    while (writing) folded_blocks += Fold(*c).blocks;
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int k = 0; k < kAppends; ++k) Append(1, fmt::format("{}:{};", w, k));
    });
  }
  for (auto& t : writers) t.join();
  writing = false;
  folder.join();
  Fold(*direct_);
  EXPECT_GT(folded_blocks.load(), 0u) << "no fold ran while the writers wrote";
  EXPECT_EQ(Rows(), 1);

  const auto blocks = Blocks(false);
  ASSERT_EQ(blocks.size(), 1u);
  std::map<int, int> next;  // writer -> the append expected next
  const std::string& bytes = blocks[0].second;
  for (size_t at = 0; at < bytes.size();) {
    const size_t end = bytes.find(';', at);
    ASSERT_NE(end, std::string::npos);
    const std::string token = bytes.substr(at, end - at);
    const int w = std::stoi(token.substr(0, token.find(':')));
    const int k = std::stoi(token.substr(token.find(':') + 1));
    EXPECT_EQ(k, next[w]) << "writer " << w << "'s appends out of order or repeated at '" << token << "'";
    next[w] = k + 1;
    at = end + 1;
  }
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(next[w], kAppends) << "writer " << w << " lost appends";
}

// A folded block is stored compressed when that is smaller (a tiny one stays as it is) and reads
// back byte for byte.
TEST_F(HistoryFoldingTest, FoldedBlocksAreStoredCompressed) {
  std::string hour;
  for (int minute = 0; minute < 60; ++minute) {
    std::string reading = fmt::format("{{\"t\":{},\"v\":{}.5}};", minute * 60000, 100 + minute % 7);
    hour += reading;
    Append(3, reading);
  }
  Append(4, "z");
  Fold(*direct_);
  auto rows = direct_->Exec("reading", "SELECT block, compressed, octet_length(bytes), substr(bytes, 1, 1) = 'L' "
                                       "FROM \"tenant_default\".history ORDER BY block");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(rows->Get(0, 1), "t");
  EXPECT_EQ(rows->Get(0, 3), "t");  // LZ4
  EXPECT_LT(rows->GetInt(0, 2).value(), static_cast<int64_t>(hour.size()) / 2);
  EXPECT_EQ(rows->Get(1, 1), "f");  // one byte does not shrink
  EXPECT_EQ(Blocks(false), (std::vector<std::pair<int64_t, std::string>>{{3, hour}, {4, "z"}}));
  EXPECT_EQ(Blocks(true), (std::vector<std::pair<int64_t, std::string>>{{4, "z"}, {3, hour}}));
}

// Long scans ask for the next page before visiting this one (postgres_store.cc, ScanHistory): a
// visitor that stops anywhere — in the first pages, or with a page asked for and not read — leaves
// the connection ready for the next statement, and a full scan still visits every block once.
TEST_F(HistoryFoldingTest, ScansStoppedAnywhereLeaveTheConnectionReady) {
  constexpr int kBlocks = 300;
  for (int b = 0; b < kBlocks; ++b) Append(b, fmt::format("b{}", b));
  for (bool backwards : {false, true}) {
    for (int stop_after : {1, 9, 100, 130, 250}) {
      int visited = 0;
      ASSERT_TRUE(tenant_
                      ->ScanHistory("urn:e:1", "temperature", INT64_MIN, INT64_MAX, backwards,
                                    [&](int64_t, std::string_view) { return ++visited < stop_after; })
                      .ok());
      EXPECT_EQ(visited, stop_after);
      auto all = Blocks(backwards);
      ASSERT_EQ(all.size(), static_cast<size_t>(kBlocks)) << "after stopping at " << stop_after;
      for (int i = 0; i < kBlocks; ++i) {
        const int b = backwards ? kBlocks - 1 - i : i;
        EXPECT_EQ(all[i], std::make_pair(int64_t{b}, fmt::format("b{}", b)));
      }
    }
  }
}

// Rows that folds of schema versions 2–3 compressed with zstd read back after the migration to
// LZ4 (the frame below is zstd's, level 3, of `kOld`).
TEST_F(HistoryFoldingTest, BlocksFoldedWithZstdByAnEarlierVersionStillRead) {
  const std::string kOld = "an hour of readings, folded by an earlier version; an hour of readings";
  const std::string kFrameHex =
      "28b52ffd2046e501002403616e20686f7572206f662072656164696e67732c20666f6c64656420627920616e20656172"
      "6c6965722076657273696f6e3b02005621900b2614";
  Append(5, "placeholder");
  auto put = direct_->Exec("writing", fmt::format("UPDATE \"tenant_default\".history SET bytes = '\\x{}', compressed = true",
                                                  kFrameHex).c_str());
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_EQ(Blocks(false), (std::vector<std::pair<int64_t, std::string>>{{5, kOld}}));
}

// A compressed row that does not decompress is an error naming the cause, never bytes read past
// the row nor a crash: a wrong size, a cut LZ4 block, an unknown first byte.
TEST(HistoryBlockBytes, CorruptCompressedRowsAreRefused) {
  std::string block;
  for (int i = 0; i < 200; ++i) block += fmt::format("reading {};", i % 10);
  auto packed = pg::CompressBlock(block);
  ASSERT_TRUE(packed.has_value());
  std::string out = "kept:";
  ASSERT_TRUE(pg::AppendBlockBytes(*packed, true, &out).ok());
  EXPECT_EQ(out, "kept:" + block);
  EXPECT_FALSE(pg::CompressBlock("tiny").has_value());  // not smaller: stored raw

  std::string wrong_size = *packed;
  wrong_size[1] = static_cast<char>(wrong_size[1] + 1);
  std::string cut = packed->substr(0, packed->size() / 2);
  std::string huge = *packed;
  huge[4] = '\x7f';  // > kMaxBlockBytes
  std::string inflated = *packed;
  inflated[3] = '\x10';  // ~1 MB from a block of a few hundred bytes: more than LZ4 can expand
  for (const std::string& bad : {wrong_size, cut, huge, inflated, std::string("Xgarbage"), std::string()}) {
    std::string before = "kept:";
    Status st = pg::AppendBlockBytes(bad, true, &before);
    EXPECT_EQ(st.code(), Status::Code::kInternal);
    EXPECT_EQ(before, "kept:");  // nothing half-appended
  }
}

TEST_F(HistoryFoldingTest, ReplacingOrDeletingAFoldedBlockLeavesNothingBehind) {
  for (int i = 0; i < 3; ++i) Append(5, "x;");
  Append(6, "y;");
  Append(6, "y;");
  Fold(*direct_);
  ASSERT_TRUE(tenant_->PutHistoryBlock("urn:e:1", "temperature", 5, "new;").ok());
  EXPECT_EQ(Blocks(false), (std::vector<std::pair<int64_t, std::string>>{{5, "new;"}, {6, "y;y;"}}));
  ASSERT_TRUE(tenant_->DeleteHistory("urn:e:1", "temperature", 7).ok());
  EXPECT_TRUE(Blocks(false).empty());
  EXPECT_EQ(Rows(), 0);
}

// Reads page by whole blocks (pages of 8 to 512 rows): a block of 1,000 parts, and small
// blocks on either side of page boundaries, read back whole in both directions, folded or not.
TEST_F(HistoryFoldingTest, BlocksOfAnySizeReadWholeAcrossPages) {
  std::vector<std::pair<int64_t, std::string>> expected;
  auto add = [&](int64_t block, int parts) {
    std::string all;
    for (int i = 0; i < parts; ++i) all += fmt::format("{}.{};", block, i);
    WriteSet ws;  // one write of many parts: each append is a row
    for (int i = 0; i < parts; ++i) ws.history.push_back({"urn:e:1", "temperature", block, fmt::format("{}.{};", block, i)});
    ASSERT_TRUE(tenant_->Write(ws).ok());
    expected.emplace_back(block, all);
  };
  add(1, 300);
  add(2, 300);  // crosses the first page boundary
  add(3, 1000);  // larger than a page
  add(4, 1);
  add(5, 511);
  for (int64_t b = 6; b < 46; ++b) add(b, 3);  // pages of several blocks, the last one cut
  ASSERT_EQ(Rows(), 2232);
  EXPECT_EQ(Blocks(false), expected);
  auto reversed = expected;
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(Blocks(true), reversed);

  Fold(*direct_);
  EXPECT_EQ(Rows(), 45);
  EXPECT_EQ(Blocks(false), expected);
  EXPECT_EQ(Blocks(true), reversed);
}

}  // namespace
}  // namespace cityhub::store
