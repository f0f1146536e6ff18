#include "store/postgres/history_folding.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <zstd.h>

#include "store/postgres/sql_arrays.h"

namespace cityhub::store::pg {
namespace {

// pg_try_advisory_lock(key1, key2) namespace of folding: key2 is the schema's oid.
constexpr int32_t kFoldLockSpace = 0x63680001;

// Level 3, zstd's default: the fold is a background job, but it shares the cores with the hub.
constexpr int kZstdLevel = 3;

// One zstd context per thread, kept: making one per call costs more than decompressing a block
// (measured: it doubled the time of a year's daily aggregates).
ZSTD_CCtx* CompressionContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> context(ZSTD_createCCtx(), &ZSTD_freeCCtx);
  return context.get();
}
ZSTD_DCtx* DecompressionContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> context(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  return context.get();
}

}  // namespace

Status AppendBlockBytes(std::string_view bytes, bool zstd, std::string* out) {
  if (!zstd) {
    out->append(bytes);
    return Status::Ok();
  }
  const unsigned long long size = ZSTD_getFrameContentSize(bytes.data(), bytes.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxBlockBytes) {
    return Status::Internal("a compressed history block is corrupt");
  }
  const size_t at = out->size();
  out->resize(at + size);
  const size_t n = ZSTD_decompressDCtx(DecompressionContext(), out->data() + at, size, bytes.data(), bytes.size());
  if (ZSTD_isError(n) || n != size) {
    out->resize(at);
    return Status::Internal("a compressed history block is corrupt");
  }
  return Status::Ok();
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
           GROUP BY 1, 2, 3 HAVING count(*) > 1 OR NOT bool_and(h.zstd) ORDER BY 1, 2, 3 LIMIT $3)
DELETE FROM {s}.history h USING target t
WHERE h.entity_id = t.entity_id AND h.attr = t.attr AND h.block = t.block
RETURNING h.entity_id, h.attr, h.block, h.part, h.bytes, h.zstd)", s);
    const std::string put = InSchema(R"(
INSERT INTO {s}.history (entity_id, attr, block, part, bytes, zstd) OVERRIDING SYSTEM VALUE
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
          std::string compressed(ZSTD_compressBound(block.size()), '\0');
          const size_t n = ZSTD_compressCCtx(CompressionContext(), compressed.data(), compressed.size(), block.data(),
                                             block.size(), kZstdLevel);
          const bool use = !ZSTD_isError(n) && n < block.size();
          ids.Bytes(rows->Get(first, 0));
          attrs.Bytes(rows->Get(first, 1));
          blocks.Int(rows->GetBigInt(first, 2));
          parts.Int(rows->GetBigInt(first, 3));  // the smallest: later parts still come after
          bytes.Bytes(use ? std::string_view(compressed.data(), n) : std::string_view(block));
          packed.Char(use ? 't' : 'f');
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
