// History folding on PostgreSQL: a write appends a history block's new instances as a row of
// their own (a "part": no read, no row lock), so a block written one PATCH at a time becomes
// many small rows — ~100 bytes of row and index overhead each. A background job folds the parts
// of each block into one row: their bytes concatenated in part order and compressed with LZ4-HC
// (column `compressed` true; kept raw when that is not smaller), the row keeping the smallest
// part number. PostgreSQL compresses only values of 2 kB and more, and a block of an hour of
// minute readings is about 1.2 kB — hence the hub's own compression. LZ4-HC, not zstd (which
// folds of schema version 2 and 3 wrote, and which is still read): zstd made blocks ~25 %
// smaller but its decompression was ~35 % of the hub's CPU for a year's daily aggregates,
// LZ4's a few per cent (docs/PERFORMANCE.md "History on PostgreSQL"). Layout and the reasons:
// docs/ARCHITECTURE.md "Storage backends".
//
// A compressed row is either a zstd frame (it starts with zstd's magic number) or 'L', the
// block's size (4 bytes, little endian) and an LZ4 block.
//
// Order. A block's bytes are its parts in part order. Parts of one entity are numbered in the
// order of its writes (they are inserted under the entity's row lock), and the folded row takes
// the smallest number of the parts it replaces, so a part committed after the fold (a larger
// number) still comes after them. Replacing or deleting blocks (PutHistoryBlock, DeleteHistory)
// runs at REPEATABLE READ, so one that overlaps a fold fails with a serialization error and is
// run again instead of missing the folded row.
//
// Which blocks: those with a part above the tenant's fold horizon (the largest part number seen
// by the previous round, kept in history_fold), found through a BRIN index on `part`, so a
// round costs the blocks written since the last one, not the table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/postgres/pg_connection.h"
#include "util/status.h"

namespace cityhub::store::pg {

struct FoldRound {
  uint64_t blocks = 0;  // blocks folded into one row
  uint64_t parts = 0;   // rows those blocks had before
};

// Appends a history row's block bytes to `out`: `bytes` as stored, decompressed when
// `compressed`. Internal if a compressed row is corrupt or would decompress to more than
// kMaxBlockBytes.
inline constexpr size_t kMaxBlockBytes = 256 << 20;
Status AppendBlockBytes(std::string_view bytes, bool compressed, std::string* out);

// `block` compressed as folds store it ('L', size, LZ4-HC block); nullopt when that is not
// smaller than the block.
std::optional<std::string> CompressBlock(std::string_view block);

// Folds the blocks of `quoted_schema` (a tenant schema) written since the last round, in
// transactions of at most `blocks_per_transaction` blocks, and moves the horizon on. Several
// hubs may call it at once: one folds, the others return at once (an advisory lock per schema).
Result<FoldRound> FoldHistory(Connection& c, const std::string& quoted_schema, int64_t blocks_per_transaction = 2000);

}  // namespace cityhub::store::pg
