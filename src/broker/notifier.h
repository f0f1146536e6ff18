// Notifier: delivers what the notification outbox holds (DESIGN §1; GS CIM 009 §5.8.6) — the
// worker that makes subscriptions at-least-once. It delivers the outbox partitions the store
// gives this hub (store.h, OutboxOwner: all of them with one hub; a fair share of them with
// several on one database). Records reach it three ways: handed over right after the write
// that made them committed (the fast path; dropped for a partition another hub owns), read
// from a partition when this hub takes it (what a previous owner left), and, with several
// partitions, as the store tells of each record written by any hub — in commit order, which is
// the order they are queued in (a record this hub handed over waits for that news, and is then
// taken from memory instead of read). A record already held is not queued twice. Each record's notifications are queued per
// subscription; a subscription's queue is sent in order, one request at a time, several entities
// per notification when they have piled up. A failed attempt is repeated after a bounded
// exponential backoff; a notification still failing once it is older than the retry budget is
// given up, counted in the subscription's status and in Stats(), never dropped silently. A
// record leaves the outbox when every notification it owes is delivered or given up.
//
// Records of registration changes (notification_outbox.h) go the same way to context source
// registration subscriptions, as CsourceNotifications (§5.3.2), one record per notification.
//
// Periodic subscriptions (timeInterval) are checked every periodic_tick on a thread of their
// own: when one is due, its entities are read (PeriodicSource) and queued as one notification
// on its queue — not through the outbox: a period missed while the hub was down is not owed.
//
// Isolation: every subscription has its own bounded queue; one that overflows gives up its
// oldest waiting notification (counted), so a dead endpoint costs memory up to its bound and
// nothing else — writes never wait for the notifier.
//
// Thread-safe. Delivery runs on one thread owned by the notifier; senders call back on theirs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/notification_outbox.h"
#include "broker/notification_sender.h"
#include "broker/subscription_matcher.h"
#include "ngsild/context.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

class SubscriptionService;

struct NotifierOptions {
  std::chrono::milliseconds retry_initial{250};  // wait after the first failed attempt
  std::chrono::milliseconds retry_max{10000};    // longest wait between two attempts
  std::chrono::seconds retry_budget{600};        // a notification failing past this age is given up
  size_t max_queue = 20000;                      // notifications waiting per subscription
  size_t max_batch = 100;                        // entities in one notification
  std::chrono::milliseconds status_flush{5000};  // how often changed delivery statuses are stored
  std::chrono::milliseconds periodic_tick{100};  // how often periodic subscriptions are checked
  size_t max_periodic_entities = 10000;          // entities in one periodic notification
};

// The entities a periodic subscription is about now (CompiledSubscription::Selects), at most
// `limit`; the hub answers it with the query service.
using PeriodicSource = std::function<Result<std::vector<ngsild::Entity>>(
    std::string_view tenant, const CompiledSubscription& subscription, size_t limit)>;

// A subscription's delivery status (GS CIM 009 NotificationParams), kept by the notifier.
struct DeliveryStatus {
  uint64_t times_sent = 0;    // notifications delivered
  uint64_t times_failed = 0;  // attempts that failed
  uint64_t given_up = 0;      // entity notifications abandoned (retry budget or full queue)
  int64_t last_notification_ms = 0;
  int64_t last_success_ms = 0;
  int64_t last_failure_ms = 0;
  std::string last_failure_reason;  // the sender's coarse reason for the last failed attempt
  bool failing = false;       // the last attempt failed
};

// Totals since start, for /metrics.
struct NotifierStats {
  uint64_t sent = 0;                // notifications delivered
  uint64_t failed = 0;              // attempts that failed
  uint64_t given_up_retries = 0;    // entity notifications given up after the retry budget
  uint64_t given_up_overflow = 0;   // entity notifications given up because a queue was full
  uint64_t queued = 0;              // entity notifications waiting now
  uint64_t outbox_records = 0;      // records held (delivered ones leave the outbox)
};

class Notifier {
 public:
  // `http` delivers http(s) endpoints, `mqtt` (optional) mqtt(s) ones; `statuses` (optional)
  // keeps delivery statuses across restarts.
  Notifier(store::Store& store, const SubscriptionMatcher& matcher, ngsild::ContextResolver& contexts,
           NotificationSender& http, NotificationSender* mqtt, SubscriptionService* statuses,
           NotifierOptions options = {});
  ~Notifier();  // Stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // The context source registration subscriptions (a matcher of their own, ids of their own)
  // the outbox's registration records are for; set before Start. Without one such records are
  // owed to no one.
  void SetCsourceMatcher(const SubscriptionMatcher* csource);

  // Periodic subscriptions (timeInterval) are served only with a source; set before Start.
  void SetPeriodicSource(PeriodicSource source);

  // Starts delivering: asks the store for outbox partitions, whose records (left by a previous
  // run or another hub) are queued as each is gained. Call once, before any write is accepted.
  // Fails as the store's DeliverOutbox does.
  Status Start();
  // Stops delivering (its partitions go to the other hubs) and stores the delivery statuses;
  // what is pending stays in the outbox.
  void Stop();

  // Hands over records of `tenant` whose write has just committed (OutboxWriter).
  void Committed(std::string_view tenant, std::vector<OutboxEntry> entries);

  // The subscription was deleted: its queue is dropped (nothing is owed any more) and its
  // status forgotten, so that one created again with the same id starts afresh.
  // `csource`: a context source registration subscription.
  void Forget(std::string_view tenant, std::string_view id, bool csource = false);

  // The subscription's delivery status (zeros if nothing was ever sent): this hub's own when it
  // delivers the subscription, else the one its delivering hub stored last (every
  // NotifierOptions::status_flush).
  DeliveryStatus StatusOf(std::string_view tenant, std::string_view id, bool csource = false) const;
  NotifierStats Stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::broker
