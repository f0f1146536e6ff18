#include "store/postgres/history_folding.h"

#include <fmt/format.h>

namespace cityhub::store::pg {
namespace {

// pg_try_advisory_lock(key1, key2) namespace of folding: key2 is the schema's oid.
constexpr int32_t kFoldLockSpace = 0x63680001;

std::string InSchema(std::string_view sql, const std::string& schema) {
  return fmt::format(fmt::runtime(sql), fmt::arg("s", schema));
}

}  // namespace

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
    const std::string fold = InSchema(R"(
WITH recent AS (SELECT DISTINCT entity_id, attr, block FROM {s}.history WHERE part > $1 AND part <= $2),
target AS (SELECT h.entity_id, h.attr, h.block FROM {s}.history h JOIN recent r USING (entity_id, attr, block)
           GROUP BY 1, 2, 3 HAVING count(*) > 1 LIMIT $3),
gone AS (DELETE FROM {s}.history h USING target t
         WHERE h.entity_id = t.entity_id AND h.attr = t.attr AND h.block = t.block
         RETURNING h.entity_id, h.attr, h.block, h.part, h.bytes),
folded AS (INSERT INTO {s}.history (entity_id, attr, block, part, bytes) OVERRIDING SYSTEM VALUE
           SELECT entity_id, attr, block, min(part), string_agg(bytes, ''::bytea ORDER BY part)
           FROM gone GROUP BY 1, 2, 3 RETURNING 1)
SELECT (SELECT count(*) FROM folded), (SELECT count(*) FROM gone))", s);
    for (;;) {
      FoldRound round;
      CITYHUB_RETURN_IF_ERROR(c.Transaction("folding history", [&](Connection& t) -> Status {
        auto rows = t.ExecPrepared("folding history", fold,
                                   {Param::Int(*horizon), Param::Int(*top), Param::Int(blocks_per_transaction)});
        if (!rows.ok()) return rows.status();
        auto blocks = rows->GetInt(0, 0);
        auto parts = rows->GetInt(0, 1);
        if (!blocks.ok()) return blocks.status();
        if (!parts.ok()) return parts.status();
        round = {static_cast<uint64_t>(*blocks), static_cast<uint64_t>(*parts)};
        return Status::Ok();
      }));
      total.blocks += round.blocks;
      total.parts += round.parts;
      if (round.blocks < static_cast<uint64_t>(blocks_per_transaction)) break;
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
