/* Notifier implementation.
 *
 * One worker thread owns every queue, so the delivery state needs no locks: hand-overs,
 * senders' outcomes and Start's backlog all arrive as closures in an inbox the worker drains,
 * and timers (backoff, throttling) are kept in a time-ordered map the worker sleeps on. Only
 * the delivery statuses, read by API threads, sit behind their own mutex.
 *
 * A record is parsed once; its subscriptions' queues share it and count it down as each
 * delivers or gives up; at zero its sequence joins the tenant's removal batch, written after
 * each round of the worker. A subscription's queue sends its head — up to max_batch records of
 * distinct entities, so one notification never carries two states of an entity — and nothing
 * else of that subscription is sent until the outcome is back: that keeps the order per
 * subscription and entity through retries. Success (a 2xx answer, a publish accepted) pops
 * the batch; failure waits max(cooldown, backoff) and, if the head has outlived the retry
 * budget, gives up everything that old first.
 *
 * The subscription is looked up afresh at every send (the matcher holds the current stored
 * form), so a PATCH applies to what is still queued, and the queue of a deleted subscription is
 * dropped: those notifications are no longer owed to anyone.
 */
#include "broker/notifier.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_set>
#include <utility>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/linked_entities.h"
#include "broker/subscription_service.h"
#include "ngsild/csource_registration.h"
#include "ngsild/notification.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/string_map.h"
#include "util/thread_name.h"
#include "util/time.h"

namespace cityhub::broker {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// One outbox record, parsed.
struct Record {
  std::string tenant;
  uint64_t sequence = 0;
  int64_t at_ms = 0;
  bool deleted = false;
  ngsild::Entity entity;
  std::optional<ngsild::Entity> previous;
  size_t pending = 0;  // subscriptions still owed a notification of it
  // A periodic notification's entities (then `entity` is unused and nothing is in the outbox).
  std::vector<ngsild::Entity> periodic;
  bool in_outbox = true;
  uint32_t partition = 0;  // its delivery partition (store.h, OutboxOwner)
  bool abandoned = false;  // its partition was lost: the partition's next owner delivers it
  // Registrations for context source registration subscriptions (then `entity` is unused):
  // their stored forms and the triggerReason.
  std::vector<json::object> registrations;
  std::string reason;
};
using RecordPtr = std::shared_ptr<Record>;

// A subscription's delivery queue.
struct Channel {
  std::string tenant;
  std::string id;
  bool csource = false;  // a context source registration subscription's
  std::deque<RecordPtr> queue;
  size_t in_flight = 0;          // records at the head being sent (0: none)
  unsigned failures = 0;         // consecutive failed attempts
  Clock::time_point not_before;  // backoff or throttling
  bool timer_armed = false;
  uint64_t generation = 0;       // raised when the subscription is deleted (Forget)
};

// Context source registration subscriptions have ids of their own (one may equal an entity
// subscription's): their keys, and their entries in the stored statuses, are marked.
constexpr char kCsourceMark = '\x1e';
// How long Stop waits for the sends under way to end, and then for the delivered records'
// removal, before it gives the partitions up (a black-hole endpoint does not hold a stop longer).
constexpr std::chrono::seconds kStopDrain{5};
// How long after a failed read of an outbox partition (or catch-up) it is read again.
constexpr std::chrono::seconds kRereadAfter{1};

std::string ChannelKey(std::string_view tenant, std::string_view id, bool csource = false) {
  std::string key(tenant);
  key.push_back('\x1f');
  if (csource) key.push_back(kCsourceMark);
  key.append(id);
  return key;
}

const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

std::string StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

double NumberAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<double>() : 0.0;
}

KeyValues PairsAt(const json::object& o, std::string_view key) {
  KeyValues out;
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_array()) return out;
  for (const auto& item : v->get_array()) {
    const json::object* kv = item.if_object();
    if (kv) out.emplace_back(StringAt(*kv, "key"), StringAt(*kv, "value"));
  }
  return out;
}

bool IsMqtt(std::string_view uri) {
  return uri.size() >= 5 && (uri.substr(0, 5) == "mqtt:" || uri.substr(0, 5) == "MQTT:" ||
                             (uri.size() >= 6 && (uri.substr(0, 6) == "mqtts:" || uri.substr(0, 6) == "MQTTS:")));
}

json::object EncodeStatus(const DeliveryStatus& s) {
  return json::object{{"timesSent", s.times_sent},        {"timesFailed", s.times_failed},
                      {"givenUp", s.given_up},            {"lastNotification", s.last_notification_ms},
                      {"lastSuccess", s.last_success_ms}, {"lastFailure", s.last_failure_ms},
                      {"lastFailureReason", s.last_failure_reason}, {"failing", s.failing}};
}

DeliveryStatus DecodeStatus(const json::object& o) {
  auto u = [&o](std::string_view k) -> uint64_t {
    const json::value* v = o.if_contains(k);
    return v && v->is_number() ? v->to_number<uint64_t>() : 0;
  };
  auto i = [&o](std::string_view k) -> int64_t {
    const json::value* v = o.if_contains(k);
    return v && v->is_number() ? v->to_number<int64_t>() : 0;
  };
  DeliveryStatus s;
  s.times_sent = u("timesSent");
  s.times_failed = u("timesFailed");
  s.given_up = u("givenUp");
  s.last_notification_ms = i("lastNotification");
  s.last_success_ms = i("lastSuccess");
  s.last_failure_ms = i("lastFailure");
  if (const json::value* r = o.if_contains("lastFailureReason"); r && r->is_string()) {
    s.last_failure_reason = std::string(r->get_string());
  }
  const json::value* f = o.if_contains("failing");
  s.failing = f && f->is_bool() && f->get_bool();
  return s;
}

}  // namespace

// Closures for the worker; shared with senders' callbacks, which may outlive the notifier.
struct Inbox {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> items;
  bool closed = false;

  void Post(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex);
      if (closed) return;
      items.push_back(std::move(fn));
    }
    wake.notify_one();
  }
};

struct Notifier::Impl : store::OutboxOwner {
  store::Store& store;
  const SubscriptionMatcher& matcher;
  const SubscriptionMatcher* csource_matcher = nullptr;
  ngsild::ContextResolver& contexts;
  NotificationSender& http;
  NotificationSender* mqtt;
  SubscriptionService* statuses;
  const NotifierOptions options;

  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::thread worker;
  bool started = false;
  // The worker's store writes (delivered records' removal, delivery statuses) run on a thread of
  // their own ("notify-store"): a write joins the store's commit queue — behind a bulk
  // transaction, tens of milliseconds on a busy hub — and the worker must not wait there, or an
  // Alert committed meanwhile waits with it.
  std::shared_ptr<Inbox> writes = std::make_shared<Inbox>();
  std::thread writer;

  // Worker-only state.
  util::StringMap<Channel> channels;  // by ChannelKey; elements never move
  std::multimap<Clock::time_point, std::string> timers;
  // Worker-only: partitions of a tenant to read again, because reading them (or catching up with
  // the subscriptions their records name) failed — their records stay in the outbox until then.
  std::map<std::pair<std::string, uint32_t>, Clock::time_point> rereads;
  std::map<std::string, std::vector<uint64_t>> removals;  // tenant -> delivered records
  // The partitions of the delivered records in `removals`, once each: each is counted in
  // `sending` until its removal lands, so that a partition is not handed to another hub — which
  // would send those records again, an older state after a newer one — before that.
  std::vector<uint32_t> removal_holds;
  // Handed to the writer thread, under write_mutex: removals merged (a slow store gets one
  // write per tenant, however many flushes waited), and whether a write of each kind is queued.
  std::mutex write_mutex;
  std::map<std::string, std::vector<uint64_t>> to_remove;
  std::vector<uint32_t> to_remove_holds;
  bool removal_queued = false;
  bool statuses_queued = false;
  Clock::time_point next_status_flush;
  Clock::time_point next_removal_flush;
  static constexpr size_t kRemovalBatch = 1000;
  static constexpr std::chrono::milliseconds kRemovalInterval{20};

  size_t PendingRemovals() const {
    size_t n = 0;
    for (const auto& [tenant, sequences] : removals) n += sequences.size();
    return n;
  }

  // Shared with API threads.
  mutable std::mutex status_mutex;
  std::mutex status_flush_mutex;  // held across a FlushStatuses
  util::StringMap<DeliveryStatus> status;  // by ChannelKey
  std::set<std::string, std::less<>> dirty;  // ChannelKeys whose status changed (or went) since stored

  // The periodic thread.
  PeriodicSource periodic_source;
  std::thread periodic_thread;
  std::mutex periodic_mutex;
  std::condition_variable periodic_wake;
  bool periodic_stop = false;

  std::atomic<uint64_t> sent{0}, failed{0}, given_up_retries{0}, given_up_overflow{0}, queued{0}, records{0};

  // Delivery partitions (store.h, OutboxOwner): which this hub owns (written by the worker, read
  // by the periodic thread too) and how many records of each are being sent (read by the store).
  const uint32_t partitions;
  std::vector<std::atomic<bool>> owned;
  std::vector<std::atomic<size_t>> sending;
  // Each gain or loss of a partition (and Stop) advances its generation, under claim_mutex; a
  // queued Gained step takes the partition only if none came after it — a partition given up
  // while its Gained step waited in the inbox is not taken back by it.
  std::mutex claim_mutex;
  std::vector<uint64_t> generation;
  // Worker-only: per tenant, the records queued, being sent or delivered but not yet removed
  // from the outbox — a record read again (the partition re-read, a NOTIFY after the hand-over)
  // is not queued twice.
  std::map<std::string, std::unordered_set<uint64_t>, std::less<>> held;
  // Worker-only, with several partitions: this hub's own records handed over, by tenant and
  // number, waiting for the store's news of them (OutboxWritten), which comes in commit order
  // with other hubs' records — queueing them at once could put a record of this hub before an
  // earlier one of the same entity written through another hub.
  std::map<std::string, std::map<uint64_t, OutboxEntry>, std::less<>> handed_over;

  Impl(store::Store& s, const SubscriptionMatcher& m, ngsild::ContextResolver& c, NotificationSender& h,
       NotificationSender* q, SubscriptionService* st, NotifierOptions o)
      : store(s), matcher(m), contexts(c), http(h), mqtt(q), statuses(st), options(o),
        partitions(std::max<uint32_t>(1, s.OutboxPartitions())), owned(partitions), sending(partitions),
        generation(partitions) {}

  // --- store::OutboxOwner (store threads: queued for the worker) -------------------------------

  void PartitionGained(uint32_t partition) override {
    if (partition >= partitions) return;
    std::lock_guard lock(claim_mutex);
    const uint64_t g = ++generation[partition];
    inbox->Post([this, partition, g] { Gained(partition, g); });
  }
  void PartitionLost(uint32_t partition) override {
    if (partition >= partitions) return;
    Disown(partition);  // no send starts from now on, and the periodic thread stops at once
    inbox->Post([this, partition] { Lost(partition); });
  }
  void Disown(uint32_t partition) {
    std::lock_guard lock(claim_mutex);
    ++generation[partition];
    owned[partition] = false;
  }
  // Owns `partition` if nothing gained or lost it since generation `g`.
  bool Claim(uint32_t partition, uint64_t g) {
    std::lock_guard lock(claim_mutex);
    if (generation[partition] != g) return false;
    owned[partition] = true;
    return true;
  }
  void OutboxWritten(std::string_view tenant, uint32_t partition, std::vector<uint64_t> sequences) override {
    if (partition >= partitions) return;
    inbox->Post([this, tenant = std::string(tenant), partition, sequences = std::move(sequences)]() mutable {
      Written(tenant, partition, std::move(sequences));
    });
  }
  size_t Sending(uint32_t partition) const override { return partition < partitions ? sending[partition].load() : 0; }

  // --- records in ---------------------------------------------------------------------------

  // The subscription `id` as held now (null if deleted), of the kind `csource` says.
  CompiledSubscriptionPtr Find(std::string_view tenant, std::string_view id, bool csource) const {
    if (!csource) return matcher.Find(tenant, id);
    return csource_matcher ? csource_matcher->Find(tenant, id) : nullptr;
  }
  CompiledSubscriptionPtr Find(const Channel& c) const { return Find(c.tenant, c.id, c.csource); }

  // Queues the record's notifications (unless it is held already) and sends what it can.
  void Accept(const std::string& tenant, OutboxEntry entry) {
    // A partition to be read again takes its records then, in order (they are in the outbox).
    if (rereads.contains({tenant, entry.partition})) return;
    if (!held[tenant].insert(entry.sequence).second) return;
    const bool csource = !entry.registrations.empty();
    auto record = std::make_shared<Record>();
    record->partition = entry.partition;
    record->registrations = std::move(entry.registrations);
    record->reason = std::move(entry.reason);
    record->tenant = tenant;
    record->sequence = entry.sequence;
    record->at_ms = entry.at_ms;
    record->deleted = entry.deleted;
    record->entity = std::move(entry.entity);
    record->previous = std::move(entry.previous);
    ++records;
    std::vector<Channel*> owed;
    bool caught_up = false;
    for (const std::string& id : entry.subscriptions) {
      if (Find(tenant, id, csource) || caught_up) continue;
      caught_up = true;
      if (!CaughtUp(tenant)) {
        // Unknown here and not known to be deleted: the record stays in the outbox and its
        // partition is read again later, not dropped.
        held[tenant].erase(record->sequence);
        --records;
        RereadLater(tenant, record->partition);
        return;
      }
    }
    for (const std::string& id : entry.subscriptions) {
      if (!Find(tenant, id, csource)) continue;  // deleted since: nothing owed
      Channel& c = ChannelFor(tenant, id, csource);
      if (c.queue.size() - c.in_flight >= options.max_queue) Overflow(c);
      c.queue.push_back(record);
      ++record->pending;
      ++queued;
      owed.push_back(&c);
    }
    if (record->pending == 0) Done(*record);
    // Only once every subscription holds it: a send that ends at once must not release the
    // record while others still owe it.
    for (Channel* c : owed) Pump(*c);
  }

  // A subscription this hub does not hold may have been made on another hub a moment ago (the
  // record's write saw it; this hub's listener has not heard of it yet): the shared metadata is
  // caught up before the record is dropped for it. True when that was done.
  bool CaughtUp(const std::string& tenant) {
    Status st = store.CatchUpSharedMeta(tenant);
    if (!st.ok()) spdlog::warn("tenant '{}': cannot catch up with subscriptions made on other hubs: {}", tenant, st.message());
    return st.ok();
  }

  void RereadLater(const std::string& tenant, uint32_t partition) {
    rereads.try_emplace({tenant, partition}, Clock::now() + kRereadAfter);
  }
  void RunDueRereads() {
    const Clock::time_point now = Clock::now();
    for (auto it = rereads.begin(); it != rereads.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      auto [tenant, partition] = it->first;
      it = rereads.erase(it);
      if (owned[partition]) ReadPartition(tenant, partition, {});
    }
  }

  // Reads `partition`'s records of `tenant` (all of them, or those numbered `sequences`) and
  // queues those not held yet, in sequence order.
  // (A record handed over is taken from there instead of read; after reading the whole
  // partition, those handed over are dropped: the read found every one still in the outbox.)
  void ReadPartition(const std::string& tenant, uint32_t partition, std::vector<uint64_t> sequences) {
    auto& mine = handed_over[tenant];
    std::map<uint64_t, OutboxEntry> found;
    std::vector<uint64_t> to_read;
    for (uint64_t seq : sequences) {
      auto it = mine.find(seq);
      if (it == mine.end()) {
        to_read.push_back(seq);
      } else {
        found.emplace(seq, std::move(it->second));
        mine.erase(it);
      }
    }
    auto ts = store.Tenant(tenant, false);
    if (!ts.ok()) {
      for (auto& [seq, entry] : found) mine.emplace(seq, std::move(entry));  // kept for the next read
      RereadLater(tenant, partition);
      return;
    }
    auto read = [&](uint64_t sequence, std::string_view value) {
      if (held[tenant].contains(sequence)) return true;
      auto entry = ParseOutboxRecord(sequence, value);
      if (entry.ok()) {
        entry->partition = partition;
        found.emplace(sequence, std::move(*entry));
      } else {
        spdlog::error("outbox record {} of tenant '{}' is unreadable; removed", sequence, tenant);
        held[tenant].insert(sequence);
        removals[tenant].push_back(sequence);
      }
      return true;
    };
    Status st = Status::Ok();
    if (sequences.empty()) {
      st = (*ts)->ScanOutboxPartition(partition, read);
      // Read whole: every record handed over was found in the outbox (or delivered already).
      if (st.ok()) std::erase_if(mine, [&](const auto& e) { return e.second.partition == partition; });
    } else if (!to_read.empty()) {
      st = (*ts)->ReadOutbox(std::move(to_read), read);
    }
    if (!st.ok()) {
      spdlog::warn("cannot read the outbox of tenant '{}' (partition {}): {}; read again in {} s", tenant, partition,
                   st.message(), kRereadAfter.count());
      RereadLater(tenant, partition);
    }
    for (auto& [seq, entry] : found) Accept(tenant, std::move(entry));  // in sequence order
  }

  void Gained(uint32_t partition, uint64_t g) {
    if (!Claim(partition, g)) return;  // lost again before this step ran
    size_t before = records;
    for (const std::string& tenant : store.ListTenants()) {
      LoadStatuses(tenant, partition);
      ReadPartition(tenant, partition, {});
    }
    if (records > before) spdlog::info("outbox partition {} taken: {} notification records to deliver", partition, records - before);
  }

  // Records of the partition waiting here are left to its next owner (those being sent finish),
  // and the statuses are stored now, for the next owner to go on from (it reads them when it
  // takes the partition, which a partition given up waits for).
  void Lost(uint32_t partition) {
    owned[partition] = false;
    FlushStatuses();
    for (auto& [tenant, mine] : handed_over) {
      std::erase_if(mine, [&](const auto& e) { return e.second.partition == partition; });
    }
    for (auto& [key, c] : channels) {
      auto keep = [&](const RecordPtr& r) { return !r->in_outbox || r->partition != partition; };
      auto first = c.queue.begin() + static_cast<std::ptrdiff_t>(c.in_flight);
      auto gone = std::stable_partition(first, c.queue.end(), keep);
      for (auto it = gone; it != c.queue.end(); ++it) Abandon(**it);
      queued -= static_cast<uint64_t>(c.queue.end() - gone);
      c.queue.erase(gone, c.queue.end());
    }
  }
  void Abandon(Record& r) {
    --r.pending;
    if (r.abandoned) return;
    r.abandoned = true;
    --records;
    held[r.tenant].erase(r.sequence);
  }

  void Written(const std::string& tenant, uint32_t partition, std::vector<uint64_t> sequences) {
    if (!owned[partition]) return;
    if (!sequences.empty()) {
      const auto& mine = held[tenant];
      std::erase_if(sequences, [&](uint64_t s) { return mine.contains(s); });
      if (sequences.empty()) return;  // handed over already
    }
    ReadPartition(tenant, partition, std::move(sequences));
  }

  Channel& ChannelFor(const std::string& tenant, std::string_view id, bool csource = false) {
    auto [it, inserted] = channels.try_emplace(ChannelKey(tenant, id, csource));
    if (inserted) {
      it->second.tenant = tenant;
      it->second.id = std::string(id);
      it->second.csource = csource;
    }
    return it->second;
  }

  // Releases the first `n` records of the queue without delivering them.
  void DropQueue(Channel& c, size_t n) {
    for (size_t i = 0; i < n && !c.queue.empty(); ++i) {
      Release(*c.queue.front());
      c.queue.pop_front();
      --queued;
    }
  }

  // The subscription is gone: what it had queued (but what is being sent) is dropped now, the
  // rest when the send reports.
  void Forget(const std::string& key) {
    {
      std::lock_guard lock(status_mutex);  // again: a report may have come in meanwhile
      status.erase(key);
      dirty.insert(key);
    }
    auto it = channels.find(key);
    if (it == channels.end()) return;
    Channel& c = it->second;
    ++c.generation;
    std::deque<RecordPtr> waiting(c.queue.begin() + static_cast<std::ptrdiff_t>(c.in_flight), c.queue.end());
    c.queue.resize(c.in_flight);
    for (auto& r : waiting) Release(*r);
    queued -= waiting.size();
    c.failures = 0;
    c.not_before = {};
  }

  // The queue is full: the oldest waiting record is given up for this subscription.
  void Overflow(Channel& c) {
    auto oldest = c.queue.begin() + static_cast<std::ptrdiff_t>(c.in_flight);
    RecordPtr r = std::move(*oldest);
    c.queue.erase(oldest);
    --queued;
    ++given_up_overflow;
    Touch(c, [](DeliveryStatus& s) { ++s.given_up; });
    Release(*r);
  }

  // One subscription less owes `r` a notification.
  void Release(Record& r) {
    if (--r.pending == 0) Done(r);
  }
  void Done(Record& r) {
    if (!r.in_outbox || r.abandoned) return;
    removals[r.tenant].push_back(r.sequence);
    ++sending[r.partition];  // until its removal lands
    removal_holds.push_back(r.partition);
    --records;
  }

  // A periodic subscription's entities of this period, as one notification on its queue.
  void AcceptPeriodic(const std::string& tenant, const std::string& id, std::vector<ngsild::Entity> entities) {
    auto record = std::make_shared<Record>();
    record->tenant = tenant;
    record->at_ms = util::NowMillis();
    record->periodic = std::move(entities);
    record->in_outbox = false;
    Channel& c = ChannelFor(tenant, id);
    if (c.queue.size() - c.in_flight >= options.max_queue) Overflow(c);
    c.queue.push_back(record);
    record->pending = 1;
    ++queued;
    Pump(c);
  }

  template <typename Fn>
  void Touch(const Channel& c, Fn&& change) {
    std::lock_guard lock(status_mutex);
    const std::string key = ChannelKey(c.tenant, c.id, c.csource);
    change(status[key]);
    dirty.insert(key);
  }

  // --- sending ------------------------------------------------------------------------------

  void Pump(Channel& c) {
    if (c.in_flight) return;
    // A record of a partition this hub gave up or lost (one that was being sent then, and failed)
    // is its next owner's to send.
    while (!c.queue.empty() && c.queue.front()->in_outbox && !owned[c.queue.front()->partition]) {
      Abandon(*c.queue.front());
      c.queue.pop_front();
      --queued;
    }
    if (c.queue.empty()) return;
    const Clock::time_point now = Clock::now();
    if (now < c.not_before) {
      Arm(c);
      return;
    }
    CompiledSubscriptionPtr sub = Find(c);
    if (!sub) {  // deleted: nothing it had queued is owed any more
      DropQueue(c, c.queue.size());
      return;
    }
    // A notification carries one state per entity, except under throttling: there the states
    // that piled up go together, in order, or an entity changing faster than the throttle
    // would fall ever further behind.
    const bool throttled = NumberAt(sub->stored(), "throttling") > 0;
    size_t n = 0;
    std::set<std::string_view> ids;
    if (c.csource) {
      n = 1;  // a registration change goes alone: the notification has one triggerReason
    } else if (c.queue.front()->in_outbox) {
      while (n < c.queue.size() && n < options.max_batch && c.queue[n]->in_outbox &&
             (ids.insert(c.queue[n]->entity.id).second || throttled)) {
        ++n;
      }
    } else {
      n = 1;  // a periodic notification goes alone
    }
    // The owner's rights are judged again now (they follow the owner: a revoked key sees
    // nothing): what it may no longer see is not owed to it.
    const EntityView* view = sub->view();
    if (view && std::none_of(c.queue.begin(), c.queue.begin() + n, [&](const RecordPtr& r) { return Shows(view, *r); })) {
      DropQueue(c, n);
      Pump(c);
      return;
    }
    OutgoingNotification out = Render(*sub, c, n);
    c.in_flight = n;
    for (size_t i = 0; i < n; ++i) {
      if (c.queue[i]->in_outbox) ++sending[c.queue[i]->partition];
    }
    NotificationSender* sender = IsMqtt(out.uri) ? mqtt : &http;
    const std::string key = ChannelKey(c.tenant, c.id, c.csource);
    if (!sender) {
      Delivered(key, c.generation, DeliveryOutcome{false, "MQTT delivery is not configured"});
      return;
    }
    std::weak_ptr<Inbox> inbox_ref = inbox;
    const uint64_t generation = c.generation;
    sender->Send(std::move(out), [this, inbox_ref, key, generation](DeliveryOutcome outcome) {
      if (auto box = inbox_ref.lock()) {
        box->Post([this, key, generation, o = std::move(outcome)]() mutable { Delivered(key, generation, std::move(o)); });
      }
    });
  }

  // The context to compact with: jsonldContext, else the one the subscription was created with
  // (an inline one is the subscription's tenant's).
  ngsild::ContextPtr ContextOf(const json::object& stored, std::string_view tenant) {
    const json::value* chosen = stored.if_contains("jsonldContext");
    if (!chosen) chosen = stored.if_contains("context");
    if (chosen) {
      auto ctx = contexts.Resolve(*chosen, tenant);
      if (ctx.ok()) return *ctx;
      spdlog::warn("subscription '{}': its @context is not available ({}); notifying with the core context",
                   StringAt(stored, "id"), ctx.status().message());
    }
    return contexts.Core();
  }

  // Whether `view` may see some entity of `r`.
  static bool Shows(const EntityView* view, const Record& r) {
    if (r.in_outbox) return view->Visible(r.entity);
    return std::any_of(r.periodic.begin(), r.periodic.end(), [&](const ngsild::Entity& e) { return view->Visible(e); });
  }

  // The CsourceNotification (§5.3.2) of the record at the head of `c`: the registrations
  // compacted with the subscription's @context, sysAttrs as notification.sysAttrs.
  json::object RenderCsource(const json::object& stored, const Channel& c, const ngsild::Context& ctx) {
    const Record& r = *c.queue.front();
    const json::object* notification = ObjectAt(stored, "notification");
    const json::value* sys_attrs = notification ? notification->if_contains("sysAttrs") : nullptr;
    json::array data;
    for (const auto& registration : r.registrations) {
      data.emplace_back(ngsild::RenderRegistration(registration, ctx, sys_attrs && *sys_attrs == true));
    }
    return json::object{{"id", fmt::format("urn:ngsi-ld:Notification:{}", util::FastUuid())},
                        {"type", "CsourceNotification"},
                        {"subscriptionId", c.id},
                        {"notifiedAt", util::FormatDateTime(util::NowMillis())},
                        {"data", std::move(data)},
                        {"triggerReason", r.reason}};
  }

  OutgoingNotification Render(const CompiledSubscription& sub, const Channel& c, size_t n) {
    const json::object& stored = sub.stored();
    static const json::object kNone;
    const json::object* notification = ObjectAt(stored, "notification");
    const json::object* endpoint = notification ? ObjectAt(*notification, "endpoint") : nullptr;
    const json::object& ep = endpoint ? *endpoint : kNone;
    ngsild::ContextPtr ctx = ContextOf(stored, c.tenant);
    json::object body = c.csource ? RenderCsource(stored, c, *ctx) : RenderEntities(sub, c, n, *ctx);
    return Outgoing(c, ep, *ctx, std::move(body));
  }

  // The Notification (§5.3.1) of the first `n` records of `c`.
  json::object RenderEntities(const CompiledSubscription& sub, const Channel& c, size_t n, const ngsild::Context& ctx) {
    const json::object& stored = sub.stored();
    const json::object* notification = ObjectAt(stored, "notification");
    std::vector<ngsild::NotifiedEntity> items;
    items.reserve(n);
    const bool join = notification && WantsJoin(*notification);
    // With an owner's view, entities go out redacted (previous states too, in `redacted`).
    const EntityView* view = sub.view();
    std::deque<ngsild::Entity> redacted;
    for (size_t i = 0; i < n; ++i) {
      const Record& r = *c.queue[i];
      for (const auto& e : r.periodic) {
        if (view && !view->Visible(e)) continue;
        items.push_back(ngsild::NotifiedEntity{e});
        if (view) view->Redact(items.back().entity);
      }
      if (!r.in_outbox || (view && !view->Visible(r.entity))) continue;
      ngsild::NotifiedEntity item;
      item.entity = r.entity;
      item.previous = r.previous ? &*r.previous : nullptr;
      if (view) {
        view->Redact(item.entity);
        if (item.previous) {
          view->Redact(redacted.emplace_back(*item.previous));
          item.previous = &redacted.back();
        }
      }
      item.deleted = r.deleted;
      item.deleted_at_ms = r.at_ms;
      items.push_back(std::move(item));
    }
    // The entities as notified, for following their links (rendering consumes them).
    std::deque<ngsild::Entity> linking;
    std::vector<const ngsild::Entity*> linking_of;
    if (join) {
      for (const auto& item : items) linking_of.push_back(item.deleted ? nullptr : &linking.emplace_back(item.entity));
    }
    const int64_t now_ms = util::NowMillis();
    json::object body = ngsild::RenderNotification(
        stored, std::move(items), ctx, fmt::format("urn:ngsi-ld:Notification:{}", util::FastUuid()), now_ms);
    if (join) {
      Status st = JoinNotification(body, *notification, linking_of, ctx, QueryService(store), c.tenant, view);
      if (!st.ok()) spdlog::warn("subscription '{}': linked entities left out: {}", c.id, st.message());
    }
    return body;
  }

  // The request that delivers `body` to the endpoint `ep`.
  static OutgoingNotification Outgoing(const Channel& c, const json::object& ep, const ngsild::Context& ctx,
                                       json::object body) {
    OutgoingNotification out;
    out.subscription = c.id;
    out.uri = StringAt(ep, "uri");
    out.content_type = StringAt(ep, "accept");
    if (out.content_type != "application/ld+json" && out.content_type != "application/geo+json") {
      out.content_type = "application/json";
    }
    if (out.content_type == "application/ld+json") {
      body["@context"] = ctx.AsJson();
    } else {
      out.link = fmt::format("<{}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"",
                             ctx.LinkUrl());
    }
    out.tenant = c.tenant;
    out.receiver_info = PairsAt(ep, "receiverInfo");
    out.notifier_info = PairsAt(ep, "notifierInfo");
    out.timeout = std::chrono::milliseconds(static_cast<int64_t>(NumberAt(ep, "timeout")));
    out.body = util::SerializeJson(body);
    return out;
  }

  void Delivered(const std::string& key, uint64_t generation, DeliveryOutcome outcome) {
    auto it = channels.find(key);
    if (it == channels.end()) return;
    Channel& c = it->second;
    const size_t n = c.in_flight;
    c.in_flight = 0;
    for (size_t i = 0; i < n && i < c.queue.size(); ++i) {
      if (c.queue[i]->in_outbox) --sending[c.queue[i]->partition];
    }
    if (generation != c.generation) {  // sent for a subscription deleted since: not owed
      DropQueue(c, n);
      Pump(c);
      return;
    }
    const int64_t now_ms = util::NowMillis();
    Touch(c, [&](DeliveryStatus& s) {
      ++s.times_sent;
      s.last_notification_ms = now_ms;
      s.failing = !outcome.ok;
      if (outcome.ok) {
        s.last_success_ms = now_ms;
      } else {
        ++s.times_failed;
        s.last_failure_ms = now_ms;
        s.last_failure_reason = outcome.reason;
      }
    });
    CompiledSubscriptionPtr sub = Find(c);
    if (outcome.ok) {
      ++sent;
      for (size_t i = 0; i < n && !c.queue.empty(); ++i) {
        Release(*c.queue.front());
        c.queue.pop_front();
        --queued;
      }
      if (c.failures > 0) spdlog::info("subscription '{}': notifications delivered again", c.id);
      c.failures = 0;
      const double throttling = sub ? NumberAt(sub->stored(), "throttling") : 0;
      c.not_before = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(throttling * 1000));
    } else {
      ++failed;
      if (c.failures == 0) spdlog::warn("subscription '{}': notification failed ({}); retrying", c.id, outcome.reason);
      ++c.failures;
      c.not_before = Clock::now() + Backoff(c, sub.get());
      GiveUpExpired(c, now_ms);
    }
    Pump(c);
  }

  // The wait after the channel's latest failure: doubling from retry_initial up to
  // retry_max, never shorter than the endpoint's cooldown.
  std::chrono::milliseconds Backoff(const Channel& c, const CompiledSubscription* sub) const {
    const unsigned shift = std::min(c.failures - 1, 20u);
    auto wait = std::min(options.retry_initial * (int64_t{1} << shift), options.retry_max);
    if (sub) {
      const json::object* n = ObjectAt(sub->stored(), "notification");
      const json::object* ep = n ? ObjectAt(*n, "endpoint") : nullptr;
      const auto cooldown = std::chrono::milliseconds(static_cast<int64_t>(ep ? NumberAt(*ep, "cooldown") : 0));
      wait = std::max(wait, cooldown);
    }
    return wait;
  }

  void GiveUpExpired(Channel& c, int64_t now_ms) {
    const int64_t budget_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options.retry_budget).count();
    uint64_t dropped = 0;
    while (!c.queue.empty() && now_ms - c.queue.front()->at_ms > budget_ms) {
      Release(*c.queue.front());
      c.queue.pop_front();
      --queued;
      ++dropped;
    }
    if (dropped == 0) return;
    given_up_retries += dropped;
    Touch(c, [dropped](DeliveryStatus& s) { s.given_up += dropped; });
    spdlog::warn("subscription '{}': gave up {} notifications older than the retry budget of {} s", c.id, dropped,
                 options.retry_budget.count());
  }

  void Arm(Channel& c) {
    if (c.timer_armed) return;
    c.timer_armed = true;
    timers.emplace(c.not_before, ChannelKey(c.tenant, c.id));
  }

  void RunDueTimers() {
    const Clock::time_point now = Clock::now();
    while (!timers.empty() && timers.begin()->first <= now) {
      std::string key = std::move(timers.begin()->second);
      timers.erase(timers.begin());
      auto it = channels.find(key);
      if (it == channels.end()) continue;
      it->second.timer_armed = false;
      Pump(it->second);
    }
  }

  // --- persistence --------------------------------------------------------------------------

  // Worker: hands the delivered records to the writer thread for removal; they stay held (not
  // queued again if read again) until it is done.
  void FlushRemovals() {
    if (PendingRemovals() == 0) return;
    if (MergeRemovals()) writes->Post([this] { WriteRemovals(); });
  }
  // Moves `removals` to the writer's share; true if no removal write is queued yet.
  bool MergeRemovals() {
    std::lock_guard lock(write_mutex);
    for (auto& [tenant, sequences] : removals) {
      auto& to = to_remove[tenant];
      to.insert(to.end(), sequences.begin(), sequences.end());
    }
    removals.clear();
    to_remove_holds.insert(to_remove_holds.end(), removal_holds.begin(), removal_holds.end());
    removal_holds.clear();
    return !std::exchange(removal_queued, true);
  }
  // Writer thread: removes what was merged, then lets the partitions and the records go.
  void WriteRemovals() {
    std::map<std::string, std::vector<uint64_t>> batch;
    std::vector<uint32_t> holds;
    {
      std::lock_guard lock(write_mutex);
      batch.swap(to_remove);
      holds.swap(to_remove_holds);
      removal_queued = false;
    }
    RemoveFromOutbox(batch);
    for (uint32_t p : holds) --sending[p];
    inbox->Post([this, batch = std::move(batch)] { Unhold(batch); });
  }
  void RemoveFromOutbox(const std::map<std::string, std::vector<uint64_t>>& batch) {
    for (const auto& [tenant, sequences] : batch) {
      if (sequences.empty()) continue;
      auto ts = store.Tenant(tenant, false);
      Status st = ts.ok() ? (*ts)->DeleteOutbox(sequences) : ts.status();
      if (!st.ok()) spdlog::warn("cannot remove delivered records from the outbox of '{}': {}", tenant, st.message());
    }
  }
  // Gone from the outbox (or, if the removal failed, to be delivered again when read again).
  void Unhold(const std::map<std::string, std::vector<uint64_t>>& batch) {
    for (const auto& [tenant, sequences] : batch) {
      auto& mine = held[tenant];
      for (uint64_t s : sequences) mine.erase(s);
    }
  }
  void RunWrites() {
    for (;;) {
      std::deque<std::function<void()>> batch;
      {
        std::unique_lock lock(writes->mutex);
        writes->wake.wait(lock, [&] { return writes->closed || !writes->items.empty(); });
        if (writes->items.empty()) return;  // closed, and every write posted is done
        batch.swap(writes->items);
      }
      for (auto& fn : batch) fn();
    }
  }

  // Stores the changed statuses, one key per subscription: only the hub delivering a
  // subscription changes its status, so hubs never overwrite each other's.
  void FlushStatuses() {
    if (!statuses) return;
    // The writer thread and the worker (Lost) both flush: one at a time, or an older status
    // taken first could be stored after a newer one.
    std::lock_guard flushing(status_flush_mutex);
    std::vector<std::pair<std::string, std::optional<DeliveryStatus>>> changed;
    {
      std::lock_guard lock(status_mutex);
      for (const auto& key : dirty) {
        auto it = status.find(key);
        changed.emplace_back(key, it == status.end() ? std::nullopt : std::optional<DeliveryStatus>(it->second));
      }
      dirty.clear();
    }
    for (const auto& [key, s] : changed) {
      const size_t sep = key.find('\x1f');
      const std::string_view tenant = std::string_view(key).substr(0, sep);
      std::string_view id = std::string_view(key).substr(sep + 1);
      const bool csource = !id.empty() && id[0] == kCsourceMark;
      if (csource) id.remove_prefix(1);
      Status st = s ? statuses->SaveDeliveryStatus(tenant, id, csource, util::SerializeJson(EncodeStatus(*s)))
                    : statuses->DeleteDeliveryStatus(tenant, id, csource);
      if (!st.ok()) spdlog::warn("cannot store the delivery status of subscription '{}': {}", id, st.message());
    }
  }

  // Reads the stored statuses of the tenant's subscriptions (of `partition` only, when given:
  // taken from another hub, which kept them until now); a changed one not stored yet is kept.
  void LoadStatuses(const std::string& tenant, std::optional<uint32_t> partition = std::nullopt) {
    if (!statuses) return;
    // Not while a flush is between taking the dirty statuses and storing them: the older stored
    // one would be read over the newer one, no longer dirty.
    std::lock_guard flushing(status_flush_mutex);
    std::lock_guard lock(status_mutex);
    Status st = statuses->ScanDeliveryStatuses(tenant, [&](std::string_view id, bool csource, std::string_view text) {
      if (partition && OutboxPartitionOf(id, partitions) != *partition) return;
      const std::string key = ChannelKey(tenant, id, csource);
      if (dirty.contains(key) || !Find(tenant, id, csource)) return;  // (deleted after the last flush: not brought back)
      boost::system::error_code ec;
      json::value v = util::ParseJson(text, ec);
      if (!ec && v.is_object()) status[key] = DecodeStatus(v.get_object());
    });
    if (!st.ok()) spdlog::warn("cannot read the delivery statuses of tenant '{}': {}", tenant, st.message());
  }

  // The status of a subscription as its delivering hub stored it last (zeros if none).
  DeliveryStatus StoredStatus(std::string_view tenant, std::string_view id, bool csource) const {
    if (!statuses) return {};
    auto text = statuses->LoadDeliveryStatus(tenant, id, csource);
    if (!text.ok()) return {};
    boost::system::error_code ec;
    json::value v = util::ParseJson(*text, ec);
    return !ec && v.is_object() ? DecodeStatus(v.get_object()) : DeliveryStatus{};
  }

  // --- periodic subscriptions ---------------------------------------------------------------

  void RunPeriodic() {
    std::map<std::string, Clock::time_point> due;  // by ChannelKey
    for (;;) {
      {
        std::unique_lock lock(periodic_mutex);
        if (periodic_wake.wait_for(lock, options.periodic_tick, [&] { return periodic_stop; })) return;
      }
      const Clock::time_point now = Clock::now();
      const int64_t now_ms = util::NowMillis();
      std::map<std::string, Clock::time_point> still;
      for (const auto& [tenant, sub] : matcher.Periodic()) {
        if (!owned[OutboxPartitionOf(sub->id(), partitions)]) continue;  // another hub's to send
        const std::string key = ChannelKey(tenant, sub->id());
        auto it = due.find(key);
        Clock::time_point next = it == due.end() ? now : it->second;
        if (sub->ActiveAt(now_ms) && now >= next) {
          next = now + std::chrono::milliseconds(static_cast<int64_t>(sub->Period().value_or(1) * 1000));
          Poll(tenant, *sub);
        }
        still.emplace(key, next);
      }
      due = std::move(still);
    }
  }

  void Poll(const std::string& tenant, const CompiledSubscription& sub) {
    auto entities = periodic_source(tenant, sub, options.max_periodic_entities);
    if (!entities.ok()) {
      spdlog::warn("periodic subscription '{}': cannot read its entities: {}", sub.id(), entities.status().message());
      return;
    }
    if (entities->empty()) return;  // nothing matches: no notification (§5.8.6)
    inbox->Post([this, tenant, id = sub.id(), list = std::move(*entities)]() mutable {
      AcceptPeriodic(tenant, id, std::move(list));
    });
  }

  // --- the worker ---------------------------------------------------------------------------

  void Run() {
    next_status_flush = Clock::now() + options.status_flush;
    for (;;) {
      std::deque<std::function<void()>> batch;
      {
        std::unique_lock lock(inbox->mutex);
        Clock::time_point wake = std::min(next_status_flush, next_removal_flush);
        if (!timers.empty()) wake = std::min(wake, timers.begin()->first);
        for (const auto& [key, at] : rereads) wake = std::min(wake, at);
        inbox->wake.wait_until(lock, wake, [&] { return inbox->closed || !inbox->items.empty(); });
        if (inbox->closed) return;
        batch.swap(inbox->items);
      }
      for (auto& fn : batch) fn();
      RunDueTimers();
      RunDueRereads();
      // Removals are batched (they only need to reach the disk before the next start, and
      // every store write joins the foreground writers' commit queue).
      if (Clock::now() >= next_removal_flush || PendingRemovals() >= kRemovalBatch) {
        FlushRemovals();
        next_removal_flush = Clock::now() + kRemovalInterval;
      }
      if (Clock::now() >= next_status_flush) {
        bool post = false;
        {
          std::lock_guard lock(write_mutex);
          post = !std::exchange(statuses_queued, true);
        }
        if (post) {
          writes->Post([this] {
            {
              std::lock_guard lock(write_mutex);
              statuses_queued = false;
            }
            FlushStatuses();
          });
        }
        next_status_flush = Clock::now() + options.status_flush;
      }
    }
  }
};

Notifier::Notifier(store::Store& store, const SubscriptionMatcher& matcher, ngsild::ContextResolver& contexts,
                   NotificationSender& http, NotificationSender* mqtt, SubscriptionService* statuses,
                   NotifierOptions options)
    : impl_(std::make_unique<Impl>(store, matcher, contexts, http, mqtt, statuses, options)) {}

Notifier::~Notifier() { Stop(); }

Status Notifier::Start() {
  Impl& im = *impl_;
  for (const std::string& tenant : im.store.ListTenants()) im.LoadStatuses(tenant);
  // The partitions this hub delivers: their records are read by the worker as each is gained.
  CITYHUB_RETURN_IF_ERROR(im.store.DeliverOutbox(&im));
  im.started = true;
  im.worker = std::thread([&im] {
    util::NameThisThread("notifier");
    im.Run();
  });
  im.writer = std::thread([&im] {
    util::NameThisThread("notify-store");
    im.RunWrites();
  });
  if (im.periodic_source) im.periodic_thread = std::thread([&im] {
      util::NameThisThread("notify-periodic");
      im.RunPeriodic();
    });
  return Status::Ok();
}

void Notifier::SetPeriodicSource(PeriodicSource source) { impl_->periodic_source = std::move(source); }

void Notifier::Stop() {
  Impl& im = *impl_;
  if (!im.started) return;
  im.started = false;
  if (im.partitions > 1) {
    // Before the partitions go to other hubs: no send starts any more, those under way finish
    // (for at most kStopDrain) and the records delivered are removed — a next owner would send
    // them again, an older state after a newer one.
    for (uint32_t p = 0; p < im.partitions; ++p) im.Disown(p);
    const auto deadline = Clock::now() + kStopDrain;
    auto busy = [&] {
      for (uint32_t p = 0; p < im.partitions; ++p) {
        if (im.sending[p].load()) return true;
      }
      return false;
    };
    while (busy() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto flushed = std::make_shared<std::promise<void>>();  // the step may outlive a wait that timed out
    auto done = flushed->get_future();
    im.inbox->Post([&im, flushed] {
      im.FlushRemovals();
      im.writes->Post([flushed] { flushed->set_value(); });  // after the removal
    });
    done.wait_for(kStopDrain);
  }
  im.store.StopDeliveringOutbox();  // no partition news once it returns
  if (im.periodic_thread.joinable()) {
    {
      std::lock_guard lock(im.periodic_mutex);
      im.periodic_stop = true;
    }
    im.periodic_wake.notify_one();
    im.periodic_thread.join();
  }
  {
    std::lock_guard lock(im.inbox->mutex);
    im.inbox->closed = true;
  }
  im.inbox->wake.notify_one();
  im.worker.join();
  {
    std::lock_guard lock(im.writes->mutex);
    im.writes->closed = true;  // RunWrites finishes what was posted, then returns
  }
  im.writes->wake.notify_one();
  im.writer.join();
  im.MergeRemovals();
  im.WriteRemovals();  // what the worker delivered last (its Unhold goes nowhere: stopped)
  im.FlushStatuses();
}

void Notifier::Committed(std::string_view tenant, std::vector<OutboxEntry> entries) {
  impl_->inbox->Post([im = impl_.get(), tenant = std::string(tenant), entries = std::move(entries)]() mutable {
    for (auto& e : entries) {
      // A partition another hub owns is its to deliver (it hears of the record from the store).
      if (e.partition >= im->partitions || !im->owned[e.partition]) continue;
      if (im->partitions == 1) {
        im->Accept(tenant, std::move(e));
      } else if (!im->held[tenant].contains(e.sequence)) {  // (else its news came first: read already)
        const uint64_t sequence = e.sequence;
        im->handed_over[tenant].emplace(sequence, std::move(e));
      }
    }
  });
}

void Notifier::SetCsourceMatcher(const SubscriptionMatcher* csource) { impl_->csource_matcher = csource; }

void Notifier::Forget(std::string_view tenant, std::string_view id, bool csource) {
  const std::string key = ChannelKey(tenant, id, csource);
  {
    std::lock_guard lock(impl_->status_mutex);
    impl_->status.erase(key);
    impl_->dirty.insert(key);
  }
  impl_->inbox->Post([im = impl_.get(), key] { im->Forget(key); });
}

DeliveryStatus Notifier::StatusOf(std::string_view tenant, std::string_view id, bool csource) const {
  // Another hub delivers it: its status is what that hub stored last.
  if (!impl_->owned[OutboxPartitionOf(id, impl_->partitions)]) return impl_->StoredStatus(tenant, id, csource);
  std::lock_guard lock(impl_->status_mutex);
  auto it = impl_->status.find(ChannelKey(tenant, id, csource));
  return it == impl_->status.end() ? DeliveryStatus{} : it->second;
}

NotifierStats Notifier::Stats() const {
  const Impl& im = *impl_;
  return NotifierStats{im.sent, im.failed, im.given_up_retries, im.given_up_overflow, im.queued, im.records};
}

}  // namespace cityhub::broker
