// Metrics on prometheus-cpp. Label values are bounded: routes are patterns (never raw paths
// with ids), methods are the standard ones (any other is "other"), statuses a small set, tenants are limited by their name rules and
// by what operators create. Latency buckets span 50 µs to 5 s, covering a cached read and a
// slow fsync alike.
#include "api/metrics.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace cityhub::api {

namespace {
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter().Name("cityhub_http_requests_total").Help("HTTP requests answered, by route, method and status").Register(*registry);
  prometheus::Family<prometheus::Histogram>& latency =
      prometheus::BuildHistogram().Name("cityhub_http_request_duration_seconds").Help("Time to answer a request, by route").Register(*registry);
  prometheus::Family<prometheus::Histogram>& commits =
      prometheus::BuildHistogram().Name("cityhub_store_commit_duration_seconds").Help("Durable store write latency").Register(*registry);
  prometheus::Histogram& commit = commits.Add({}, kLatencyBuckets);
  prometheus::Family<prometheus::Gauge>& entities =
      prometheus::BuildGauge().Name("cityhub_entities").Help("Entities stored, per tenant (approximate)").Register(*registry);

  prometheus::Family<prometheus::Counter>& notifications =
      prometheus::BuildCounter().Name("cityhub_notifications_total").Help("Notification attempts, by outcome (sent, failed)").Register(*registry);
  prometheus::Family<prometheus::Counter>& given_up =
      prometheus::BuildCounter().Name("cityhub_notifications_given_up_total").Help("Entity notifications given up, by reason (retry_budget, queue_full)").Register(*registry);
  prometheus::Family<prometheus::Gauge>& waiting =
      prometheus::BuildGauge().Name("cityhub_notifications_waiting").Help("Entity notifications queued for delivery").Register(*registry);
  prometheus::Family<prometheus::Gauge>& outbox =
      prometheus::BuildGauge().Name("cityhub_outbox_records").Help("Outbox records not yet delivered to every subscription").Register(*registry);
  broker::NotifierStats last_notifications;  // what the counters were advanced to
  prometheus::Family<prometheus::Counter>& iot_messages =
      prometheus::BuildCounter().Name("cityhub_iot_messages_total").Help("Device messages, by result (accepted, rejected, unauthenticated)").Register(*registry);
  prometheus::Family<prometheus::Counter>& iot_measures =
      prometheus::BuildCounter().Name("cityhub_iot_measures_total").Help("Attribute values accepted from devices").Register(*registry);
  prometheus::Family<prometheus::Counter>& iot_transactions =
      prometheus::BuildCounter().Name("cityhub_iot_transactions_total").Help("Store transactions writing device measures").Register(*registry);
  prometheus::Family<prometheus::Counter>& iot_write_failures =
      prometheus::BuildCounter().Name("cityhub_iot_write_failures_total").Help("Accepted device messages the store refused").Register(*registry);
  prometheus::Family<prometheus::Counter>& iot_priority =
      prometheus::BuildCounter().Name("cityhub_iot_priority_messages_total").Help("Device messages taken by the priority lane (they feed a warning rule)").Register(*registry);
  prometheus::Family<prometheus::Gauge>& iot_waiting =
      prometheus::BuildGauge().Name("cityhub_iot_waiting_messages").Help("Device messages waiting now, by queue (decode: MQTT messages for the decode thread; bulk, priority: the lanes)").Register(*registry);
  prometheus::Family<prometheus::Gauge>& iot_waiting_bytes =
      prometheus::BuildGauge().Name("cityhub_iot_decode_queue_bytes").Help("Bytes of MQTT messages waiting for the decode thread (bounded at 64 MiB)").Register(*registry);
  prometheus::Family<prometheus::Histogram>& iot_stages =
      prometheus::BuildHistogram().Name("cityhub_iot_stage_duration_seconds").Help("Time a device message spends per stage (admit, queued, commit), by lane").Register(*registry);
  std::map<std::pair<ingest::Lane, ingest::IngestStage>, prometheus::Histogram*> iot_stage_cache;
  prometheus::Family<prometheus::Histogram>& warning_stages =
      prometheus::BuildHistogram().Name("cityhub_warning_stage_duration_seconds").Help("Early warning: a reading's wait for the rules (queued), an alert's write (alert_write)").Register(*registry);
  ingest::IngestStats last_iot;

  // Family::Add takes a lock and hashes labels; cache the children per label set.
  std::mutex mu;
  std::map<std::string, prometheus::Counter*, std::less<>> counter_cache;
  std::map<std::string, prometheus::Histogram*, std::less<>> latency_cache;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::ObserveRequest(std::string_view route, std::string_view method, int status, double seconds) {
  // The method is client input: only the standard ones become label values.
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) method = "other";
  std::string status_text = std::to_string(status);
  std::string key;
  key.reserve(route.size() + method.size() + 5);
  key.append(route).append(" ").append(method).append(" ").append(status_text);
  prometheus::Counter* counter;
  prometheus::Histogram* hist;
  {
    std::lock_guard lock(impl_->mu);
    auto c = impl_->counter_cache.find(key);
    if (c == impl_->counter_cache.end()) {
      auto& child = impl_->requests.Add({{"route", std::string(route)}, {"method", std::string(method)}, {"status", status_text}});
      c = impl_->counter_cache.emplace(key, &child).first;
    }
    counter = c->second;
    auto h = impl_->latency_cache.find(route);
    if (h == impl_->latency_cache.end()) {
      auto& child = impl_->latency.Add({{"route", std::string(route)}}, kLatencyBuckets);
      h = impl_->latency_cache.emplace(std::string(route), &child).first;
    }
    hist = h->second;
  }
  counter->Increment();
  hist->Observe(seconds);
}

void Metrics::ObserveCommit(double seconds) { impl_->commit.Observe(seconds); }

void Metrics::ObserveIngest(ingest::Lane lane, ingest::IngestStage stage, double seconds) {
  prometheus::Histogram* hist;
  {
    std::lock_guard lock(impl_->mu);
    auto [it, added] = impl_->iot_stage_cache.try_emplace({lane, stage}, nullptr);
    if (added) {
      it->second = &impl_->iot_stages.Add({{"lane", std::string(ingest::LaneName(lane))},
                                           {"stage", std::string(ingest::IngestStageName(stage))}},
                                          kLatencyBuckets);
    }
    hist = it->second;
  }
  hist->Observe(seconds);
}

void Metrics::ObserveWarning(std::string_view stage, double seconds) {
  impl_->warning_stages.Add({{"stage", std::string(stage)}}, kLatencyBuckets).Observe(seconds);
}

std::string Metrics::Render(const std::vector<std::pair<std::string, uint64_t>>& entity_counts,
                            const broker::NotifierStats* notifications, const ingest::IngestStats* iot) {
  for (const auto& [tenant, count] : entity_counts) {
    impl_->entities.Add({{"tenant", tenant.empty() ? "default" : tenant}}).Set(static_cast<double>(count));
  }
  if (notifications) {
    std::lock_guard lock(impl_->mu);
    broker::NotifierStats& last = impl_->last_notifications;
    auto advance = [](prometheus::Counter& c, uint64_t now, uint64_t& before) {
      if (now > before) c.Increment(static_cast<double>(now - before));
      before = now;
    };
    advance(impl_->notifications.Add({{"outcome", "sent"}}), notifications->sent, last.sent);
    advance(impl_->notifications.Add({{"outcome", "failed"}}), notifications->failed, last.failed);
    advance(impl_->given_up.Add({{"reason", "retry_budget"}}), notifications->given_up_retries, last.given_up_retries);
    advance(impl_->given_up.Add({{"reason", "queue_full"}}), notifications->given_up_overflow, last.given_up_overflow);
    impl_->waiting.Add({}).Set(static_cast<double>(notifications->queued));
    impl_->outbox.Add({}).Set(static_cast<double>(notifications->outbox_records));
  }
  if (iot) {
    std::lock_guard lock(impl_->mu);
    ingest::IngestStats& last = impl_->last_iot;
    auto advance = [](prometheus::Counter& c, uint64_t now, uint64_t& before) {
      if (now > before) c.Increment(static_cast<double>(now - before));
      before = now;
    };
    advance(impl_->iot_messages.Add({{"result", "accepted"}}), iot->messages, last.messages);
    advance(impl_->iot_messages.Add({{"result", "rejected"}}), iot->rejected, last.rejected);
    advance(impl_->iot_messages.Add({{"result", "unauthenticated"}}), iot->unauthenticated, last.unauthenticated);
    advance(impl_->iot_measures.Add({}), iot->measures, last.measures);
    advance(impl_->iot_transactions.Add({}), iot->transactions, last.transactions);
    advance(impl_->iot_priority.Add({}), iot->priority_messages, last.priority_messages);
    advance(impl_->iot_write_failures.Add({}), iot->write_failures, last.write_failures);
    impl_->iot_waiting.Add({{"queue", "decode"}}).Set(static_cast<double>(iot->waiting_decode));
    impl_->iot_waiting.Add({{"queue", "bulk"}}).Set(static_cast<double>(iot->waiting_bulk));
    impl_->iot_waiting.Add({{"queue", "priority"}}).Set(static_cast<double>(iot->waiting_priority));
    impl_->iot_waiting_bytes.Add({}).Set(static_cast<double>(iot->waiting_decode_bytes));
  }
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace cityhub::api
