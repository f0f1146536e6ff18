#include "store/postgres/outbox_claims.h"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <random>
#include <set>

#include <fmt/format.h>

#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_listener.h"
#include "util/periodic_task.h"

namespace cityhub::store::pg {

bool ParseOutboxNotice(std::string_view payload, uint32_t* partition, std::vector<uint64_t>* sequences,
                       std::string* tenant) {
  const size_t first = payload.find(' ');
  const size_t second = first == std::string_view::npos ? first : payload.find(' ', first + 1);
  if (second == std::string_view::npos) return false;
  const auto [end, ec] = std::from_chars(payload.data(), payload.data() + first, *partition);
  if (ec != std::errc() || end != payload.data() + first) return false;
  sequences->clear();
  std::string_view list = payload.substr(first + 1, second - first - 1);
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    uint64_t n = 0;
    const auto [e, c] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (c != std::errc() || e != item.data() + item.size()) return false;
    sequences->push_back(n);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  *tenant = std::string(payload.substr(second + 1));
  return true;
}

struct OutboxClaims::State {
  OutboxClaimsOptions options;
  OutboxOwner* owner = nullptr;
  std::unique_ptr<Connection> conn;  // holds the locks; the claims' thread only
  std::unique_ptr<Listener> listener;
  std::mt19937 rng{std::random_device{}()};

  mutable std::mutex mutex;       // guards the two below (the listener reads `owned`)
  std::set<uint32_t> owned;       // delivered by this hub
  std::set<uint32_t> releasing;   // given up, still locked until the owner sends none of them

  std::unique_ptr<util::PeriodicTask> task;

  // The threads that call in go first, whatever the path (a Start that failed half way too):
  // members are destroyed in reverse order, and the listener reads `owned` under `mutex`.
  ~State() {
    task.reset();      // no round runs once this returns
    listener.reset();  // nor a notification
    conn.reset();      // the session ends: every partition is free for the other hubs
  }

  bool Owns(uint32_t partition) const {
    std::lock_guard lock(mutex);
    return owned.contains(partition);
  }

  std::string Sql(std::string_view body) const { return fmt::format(fmt::runtime(body), kOutboxLockClass); }

  // Opens the connection and joins the hubs present; false if the database cannot be reached.
  bool Connect() {
    auto opened = Connection::Open(options.conninfo, options.connect_timeout);
    if (!opened.ok()) return false;
    auto present = (*opened)->Exec("joining the hubs delivering the outbox",
                                   Sql("SELECT pg_advisory_lock_shared({}, $1::int)").c_str(),
                                   {Param::Int(options.partitions)});
    if (!present.ok()) return false;
    conn = std::move(*opened);
    return true;
  }

  // The connection (and with it every lock) is gone: the owner stops first.
  void LoseAll() {
    std::set<uint32_t> lost;
    {
      std::lock_guard lock(mutex);
      lost.swap(owned);
      releasing.clear();
    }
    for (uint32_t p : lost) owner->PartitionLost(p);
    conn.reset();
  }

  // Unlocks the partitions given up whose records are no longer being sent.
  bool FinishReleases() {
    std::vector<uint32_t> done;
    {
      std::lock_guard lock(mutex);
      for (uint32_t p : releasing) {
        if (owner->Sending(p) == 0) done.push_back(p);
      }
    }
    for (uint32_t p : done) {
      auto r = conn->Exec("giving an outbox partition up", Sql("SELECT pg_advisory_unlock({}, $1::int)").c_str(),
                          {Param::Int(p)});
      if (!r.ok()) return false;
      std::lock_guard lock(mutex);
      releasing.erase(p);
    }
    return true;
  }

  // One round: who is alive and holds what; give up above the fair share, take up to it.
  void Round() {
    if (!conn || !conn->Healthy()) {
      LoseAll();
      if (!Connect()) return;
    }
    auto rows = conn->Exec(
        "reading who delivers the outbox",
        Sql("SELECT objid::bigint, pid = pg_backend_pid() FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = {}::oid AND objsubid = 2").c_str());
    if (!rows.ok()) return LoseAll();
    std::set<uint32_t> taken;
    uint32_t live = 0;
    for (size_t r = 0; r < rows->size(); ++r) {
      auto key = rows->GetInt(r, 0);
      if (!key.ok()) continue;
      if (*key == options.partitions) {
        ++live;
      } else {
        taken.insert(static_cast<uint32_t>(*key));
      }
    }
    const uint32_t share = (options.partitions + std::max(live, 1u) - 1) / std::max(live, 1u);
    // Those given up in an earlier round (the owner has long stopped starting sends of them).
    if (!FinishReleases()) return LoseAll();
    std::vector<uint32_t> giving_up;
    size_t held = 0;
    {
      std::lock_guard lock(mutex);
      while (owned.size() > share) {
        const uint32_t p = *owned.rbegin();
        owned.erase(p);
        releasing.insert(p);
        giving_up.push_back(p);
      }
      held = owned.size();
    }
    for (uint32_t p : giving_up) owner->PartitionLost(p);
    if (held >= share) return;
    std::vector<uint32_t> free;
    for (uint32_t p = 0; p < options.partitions; ++p) {
      if (!taken.contains(p)) free.push_back(p);
    }
    if (free.empty()) return;
    std::rotate(free.begin(), free.begin() + static_cast<std::ptrdiff_t>(rng() % free.size()), free.end());
    for (uint32_t p : free) {
      if (held >= share) break;
      auto got = conn->Exec("taking an outbox partition", Sql("SELECT pg_try_advisory_lock({}, $1::int)").c_str(),
                            {Param::Int(p)});
      if (!got.ok()) return LoseAll();
      if (got->Get(0, 0) != "t") continue;
      {
        std::lock_guard lock(mutex);
        owned.insert(p);
      }
      ++held;
      owner->PartitionGained(p);
    }
  }

  void Notified(std::string_view payload) {
    uint32_t partition = 0;
    std::vector<uint64_t> sequences;
    std::string tenant;
    if (!ParseOutboxNotice(payload, &partition, &sequences, &tenant) || !Owns(partition)) return;
    owner->OutboxWritten(tenant, partition, std::move(sequences));
  }

  // The listener was away: anything may have been written meanwhile.
  void Resumed() {
    std::set<uint32_t> partitions;
    {
      std::lock_guard lock(mutex);
      partitions = owned;
    }
    if (partitions.empty()) return;
    for (const std::string& tenant : options.tenants()) {
      for (uint32_t p : partitions) owner->OutboxWritten(tenant, p, {});
    }
  }
};

Result<std::unique_ptr<OutboxClaims>> OutboxClaims::Start(OutboxClaimsOptions options, OutboxOwner* owner) {
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  state->owner = owner;
  State* s = state.get();
  ListenerOptions listen;
  listen.conninfo = s->options.conninfo;
  listen.connect_timeout = s->options.connect_timeout;
  listen.channels = {std::string(kOutboxChannel)};
  listen.on_notify = [s](std::string_view, std::string_view payload) { s->Notified(payload); };
  listen.on_resumed = [s] { s->Resumed(); };
  // Listening first: a record written after a partition is taken (and its records read) is heard of.
  auto listener = Listener::Start(std::move(listen));
  if (!listener.ok()) return listener.status();
  s->listener = std::move(*listener);
  if (!s->Connect()) {
    return Status(Status::Code::kUnavailable,
                  fmt::format("PostgreSQL: cannot connect to {} to deliver the outbox", RedactedConninfo(s->options.conninfo)));
  }
  s->Round();
  s->task = std::make_unique<util::PeriodicTask>("pg-outbox-claims", s->options.interval, [s] { s->Round(); });
  s->task->Start();
  return std::unique_ptr<OutboxClaims>(new OutboxClaims(std::move(state)));
}

OutboxClaims::OutboxClaims(std::unique_ptr<State> state) : state_(std::move(state)) {}

OutboxClaims::~OutboxClaims() = default;  // State's destructor stops the threads first

}  // namespace cityhub::store::pg
