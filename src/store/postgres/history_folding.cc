#include "store/postgres/history_folding.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>

#include "store/postgres/sql_arrays.h"

namespace cityhub::store::pg {
namespace {

// pg_try_advisory_lock(key1, key2) namespace of folding: key2 is the schema's oid.
constexpr int32_t kFoldLockSpace = 0x63680001;

// LZ4-HC's default level: the fold is a background job (~30 MB/s of blocks on one core), reads
// decompress at the same speed whatever the level.
constexpr int kLz4Level = LZ4HC_CLEVEL_DEFAULT;
constexpr char kLz4Tag = 'L';
constexpr size_t kLz4Header = 5;  // the tag and the block's size

// One zstd context per thread, kept: making one per call costs more than decompressing a block
// (measured: it doubled the time of a year's daily aggregates).
ZSTD_DCtx* DecompressionContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> context(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  return context.get();
}

}  // namespace

Status AppendBlockBytes(std::string_view bytes, bool compressed, std::string* out) {
  if (!compressed) {
    out->append(bytes);
    return Status::Ok();
  }
  const Status corrupt = Status::Internal("a compressed history block is corrupt");
  const size_t at = out->size();
  if (bytes.size() >= kLz4Header && bytes[0] == kLz4Tag) {
    uint32_t size = 0;
    for (int i = 4; i >= 1; --i) size = (size << 8) | static_cast<uint8_t>(bytes[i]);
    // LZ4 expands at most 255-fold: a larger size is a corrupt header, refused before the
    // allocation it would ask for.
    const size_t body = bytes.size() - kLz4Header;
    if (size > kMaxBlockBytes || size > 255 * body + 16) return corrupt;
    out->resize(at + size);
    const int n = LZ4_decompress_safe(bytes.data() + kLz4Header, out->data() + at, static_cast<int>(bytes.size() - kLz4Header),
                                      static_cast<int>(size));
    if (n < 0 || static_cast<uint32_t>(n) != size) {
      out->resize(at);
      return corrupt;
    }
    return Status::Ok();
  }
  // A zstd frame, as folds of schema versions 2 and 3 wrote.
  const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxBlockBytes) return corrupt;
  out->resize(at + size);
  const size_t n = ZSTD_decompressDCtx(DecompressionContext(), out->data() + at, size, bytes.data(), bytes.size());
  if (ZSTD_isError(n) || n != size) {
    out->resize(at);
    return corrupt;
  }
  return Status::Ok();
}

std::optional<std::string> CompressBlock(std::string_view block) {
  if (block.size() > kMaxBlockBytes) return std::nullopt;
  const int bound = LZ4_compressBound(static_cast<int>(block.size()));
  std::string out(kLz4Header + static_cast<size_t>(bound), '\0');
  out[0] = kLz4Tag;
  for (int i = 1; i <= 4; ++i) out[i] = static_cast<char>((block.size() >> (8 * (i - 1))) & 0xff);
  const int n = LZ4_compress_HC(block.data(), out.data() + kLz4Header, static_cast<int>(block.size()), bound, kLz4Level);
  if (n <= 0 || kLz4Header + static_cast<size_t>(n) >= block.size()) return std::nullopt;
  out.resize(kLz4Header + static_cast<size_t>(n));
  return out;
}

Result<FoldRound> FoldHistory(Connection& c, const std::string& quoted_schema, int64_t blocks_per_transaction) {
  const std::string s = quoted_schema;
  // A session lock, so the rounds of one hub's transactions below are not interleaved with
  // another hub's; released at the end (also when the connection dies).
  const std::string lock_key = fmt::format("{}, '{}.history'::regclass::oid::int", kFoldLockSpace, s);
  auto locked = c.Exec("folding history", fmt::format("SELECT pg_try_advisory_lock({})", lock_key).c_str());
  if (!locked.ok()) return locked.status();
  if (locked->Get(0, 0) != "t") return FoldRound{};
  FoldRound total;
  Status st = [&]() -> Status {
    auto horizon_rows = c.Exec("folding history", InSchema("SELECT horizon FROM {s}.history_fold", s).c_str());
    if (!horizon_rows.ok()) return horizon_rows.status();
    auto horizon = horizon_rows->GetInt(0, 0);
    if (!horizon.ok()) return horizon.status();
    // The largest part now committed: the next round starts above it. A part with a smaller
    // number committed later (a transaction that took its number earlier) is folded with its
    // block the next time that block is written; until then it is read as a part of its own.
    auto top_rows = c.Exec("folding history",
                           InSchema("SELECT coalesce(max(part), $1) FROM {s}.history WHERE part > $1", s).c_str(),
                           {Param::Int(*horizon)});
    if (!top_rows.ok()) return top_rows.status();
    auto top = top_rows->GetInt(0, 0);
    if (!top.ok()) return top.status();
    // The blocks written since the last round that are not one compressed row yet, taken out
    // (their rows deleted, under row locks until the commit) and put back folded; in key order,
    // each transaction going on after the last block of the previous one (a block kept raw
    // because it did not shrink is not taken again).
    const std::string take = InSchema(R"(
WITH recent AS (SELECT DISTINCT entity_id, attr, block FROM {s}.history
                WHERE part > $1 AND part <= $2 AND (entity_id, attr, block) > ($4, $5, $6)),
target AS (SELECT h.entity_id, h.attr, h.block FROM {s}.history h JOIN recent r USING (entity_id, attr, block)
           GROUP BY 1, 2, 3 HAVING count(*) > 1 OR NOT bool_and(h.compressed) ORDER BY 1, 2, 3 LIMIT $3)
DELETE FROM {s}.history h USING target t
WHERE h.entity_id = t.entity_id AND h.attr = t.attr AND h.block = t.block
RETURNING h.entity_id, h.attr, h.block, h.part, h.bytes, h.compressed)", s);
    const std::string put = InSchema(R"(
INSERT INTO {s}.history (entity_id, attr, block, part, bytes, compressed) OVERRIDING SYSTEM VALUE
SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[], $5::bytea[], $6::bool[]))", s);
    std::string after_id, after_attr;  // the last block folded: ("", "", min) before the first
    int64_t after_block = std::numeric_limits<int64_t>::min();
    for (;;) {
      FoldRound round;
      // What the transaction's last run folded (a run that failed and was retried leaves no trace).
      std::string last_id, last_attr;
      int64_t last_block = 0;
      CITYHUB_RETURN_IF_ERROR(c.Transaction("folding history", [&](Connection& t) -> Status {
        round = {};
        last_id.clear();
        last_attr.clear();
        auto rows = t.ExecPrepared("folding history", take,
                                   {Param::Int(*horizon), Param::Int(*top), Param::Int(blocks_per_transaction),
                                    Param::Bytes(after_id), Param::Bytes(after_attr), Param::Int(after_block)},
                                   Format::kBinary);
        if (!rows.ok()) return rows.status();
        round = {0, rows->size()};
        if (rows->size() == 0) return Status::Ok();
        // The parts of each block in part order.
        std::vector<size_t> order(rows->size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        auto key = [&](size_t r) {
          return std::make_tuple(rows->Get(r, 0), rows->Get(r, 1), rows->GetBigInt(r, 2), rows->GetBigInt(r, 3));
        };
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
        Column ids, attrs, blocks, parts, bytes, packed;
        for (size_t i = 0; i < order.size();) {
          const size_t first = order[i];
          std::string block;
          size_t j = i;
          for (; j < order.size() && rows->Get(order[j], 0) == rows->Get(first, 0) &&
                 rows->Get(order[j], 1) == rows->Get(first, 1) && rows->GetBigInt(order[j], 2) == rows->GetBigInt(first, 2);
               ++j) {
            CITYHUB_RETURN_IF_ERROR(AppendBlockBytes(rows->Get(order[j], 4), rows->Get(order[j], 5) == std::string_view("\1", 1), &block));
          }
          const std::optional<std::string> compressed = CompressBlock(block);
          ids.Bytes(rows->Get(first, 0));
          attrs.Bytes(rows->Get(first, 1));
          blocks.Int(rows->GetBigInt(first, 2));
          parts.Int(rows->GetBigInt(first, 3));  // the smallest: later parts still come after
          bytes.Bytes(compressed ? std::string_view(*compressed) : std::string_view(block));
          packed.Char(compressed ? 't' : 'f');
          ++round.blocks;
          last_id = rows->Get(first, 0);
          last_attr = rows->Get(first, 1);
          last_block = rows->GetBigInt(first, 2);
          i = j;
        }
        return t.ExecPrepared("folding history", put,
                              {Param::Text(ids.Literal()), Param::Text(attrs.Literal()), Param::Text(blocks.Literal()),
                               Param::Text(parts.Literal()), Param::Text(bytes.Literal()), Param::Text(packed.Literal())})
            .status();
      }));
      after_id = std::move(last_id);
      after_attr = std::move(last_attr);
      after_block = last_block;
      total.blocks += round.blocks;
      total.parts += round.parts;
      if (round.blocks < static_cast<uint64_t>(blocks_per_transaction)) break;  // none left
    }
    return c.Exec("folding history", InSchema("UPDATE {s}.history_fold SET horizon = $1", s).c_str(), {Param::Int(*top)})
        .status();
  }();
  auto unlocked = c.Exec("folding history", fmt::format("SELECT pg_advisory_unlock({})", lock_key).c_str());
  if (!st.ok()) return st;
  if (!unlocked.ok()) return unlocked.status();
  return total;
}

}  // namespace cityhub::store::pg
