// OutboxClaims: which delivery partitions of the outbox (store.h, OutboxOwner) this hub owns
// among the hubs sharing one PostgreSQL database, and the news of records written to them.
//
// A partition is owned while this hub holds its session-level advisory lock on a connection of
// the claims' own: a hub that dies, or loses that connection, ends its session and so frees its
// partitions at once, with no timeout to wait for and no row to clean up. Every hub also holds a
// shared "present" lock there, so pg_locks tells how many hubs are alive and who holds what. Every
// `interval` the claims read that, and (1) give up the partitions above this hub's fair share,
// ceil(partitions / live hubs), highest first — the owner is told at once, the lock let go at a
// later round once the owner sends none of the partition's records — and
// (2) take free partitions up to that share, starting at a random one so that hubs starting
// together do not all try the same. A lost connection loses every partition (the owner is told
// first) and is opened again at the next round.
//
// News of records: every write that adds outbox records sends, inside its transaction (so at
// commit), a NOTIFY per partition naming the tenant and the records' numbers (or none: too many
// to name). A listener of the claims' own hands those of owned partitions to the owner, and after
// a lost listener connection tells it to read every owned partition again.
//
// Thread-safety: the owner is called from the claims' thread (gained, lost) and the listener's
// (written); the destructor stops both and ends the session, and no call runs after it returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"
#include "util/status.h"

namespace cityhub::store::pg {

// How many delivery partitions the outbox has. Every hub on one database must agree: changing it
// needs every hub stopped (a record keeps the partition it was written with).
inline constexpr uint32_t kOutboxPartitions = 32;
// The channel outbox writes NOTIFY on: payload "<partition> <n,n,…> <tenant>" (the list may be
// empty: read the partition).
inline constexpr std::string_view kOutboxChannel = "cityhub_outbox";
// The first key of the partitions' advisory locks ("cout"); the second is the partition, or the
// partition count for the "present" lock.
inline constexpr int32_t kOutboxLockClass = 0x636f7574;

struct OutboxClaimsOptions {
  std::string conninfo;
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds interval{500};  // between two rounds of claiming
  uint32_t partitions = 32;
  std::function<std::vector<std::string>()> tenants;  // every tenant now (for a full re-read)
};

// The payload of one partition's NOTIFY, parsed; false if it is not one.
bool ParseOutboxNotice(std::string_view payload, uint32_t* partition, std::vector<uint64_t>* sequences,
                       std::string* tenant);

class OutboxClaims {
 public:
  // Listens, joins the hubs present, takes this hub's first share (the owner hears of it before
  // this returns) and goes on every `interval`. Unavailable when the database cannot be reached.
  static Result<std::unique_ptr<OutboxClaims>> Start(OutboxClaimsOptions options, OutboxOwner* owner);
  ~OutboxClaims();
  OutboxClaims(const OutboxClaims&) = delete;
  OutboxClaims& operator=(const OutboxClaims&) = delete;

  struct State;

 private:
  explicit OutboxClaims(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace cityhub::store::pg
