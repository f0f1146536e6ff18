// BrokerStack: the hub's broker — the entity, query and temporal services, subscriptions and
// context source registrations (each compiled into its matcher), the distributed operations on
// the registered sources, and the notification path: every write adds what it owes to the
// outbox in its own transaction, and once durable the records go to the notifier and its HTTP
// and MQTT senders. Start() loads the subscriptions and registrations, rebuilds missing query
// indexes and hands the notifier what a previous run left in the outbox; the destructor stops
// the notifier, whose undelivered records stay in the outbox for the next start.
// Built on a Storage that must outlive it; the city services, the IoT agent, the periodic jobs
// and the API borrow its parts and must be gone before it is.
#pragma once

#include <memory>

#include "api/api.h"
#include "api/metrics.h"
#include "app/config.h"
#include "app/outbound.h"
#include "app/security_setup.h"
#include "app/storage.h"
#include "broker/context_source_client.h"
#include "broker/distributed_read.h"
#include "broker/distributed_write.h"
#include "broker/entity_map_store.h"
#include "broker/entity_service.h"
#include "broker/history_recorder.h"
#include "broker/history_retention.h"
#include "broker/http_sender.h"
#include "broker/mqtt_sender.h"
#include "broker/notification_outbox.h"
#include "broker/notifier.h"
#include "broker/query_service.h"
#include "broker/registration_service.h"
#include "broker/subscription_service.h"
#include "broker/temporal_service.h"
#include "broker/visible_catalogue.h"
#include "util/status.h"

namespace cityhub::app {

class BrokerStack {
 public:
  // Builds and loads the broker. `metrics` records commit durations; `security` decides what a
  // subscription's owner may see in its notifications. StartFailure naming what could not be
  // loaded (the retention rules included) otherwise, with nothing left running.
  static Result<std::unique_ptr<BrokerStack>> Start(const Config& config, const Outbound& outbound, Storage& storage,
                                                    const SecuritySetup& security, api::Metrics& metrics);
  BrokerStack(const BrokerStack&) = delete;
  BrokerStack& operator=(const BrokerStack&) = delete;

  broker::EntityService& entities() { return entities_; }
  const broker::QueryService& queries() const { return queries_; }
  broker::RegistrationService& registrations() { return registrations_; }
  const broker::RetentionPolicy& retention() const { return retention_; }

  // Points `deps` at the broker's services (they live as long as this stack).
  void Lend(api::ApiDeps* deps);

 private:
  BrokerStack(const Config& config, const Outbound& outbound, Storage& storage, const SecuritySetup& security,
              api::Metrics& metrics, broker::RetentionPolicy retention);
  Status Load(Storage& storage);

  broker::EntityService entities_;
  const broker::QueryServiceLimits query_limits_{};
  broker::QueryService queries_;
  broker::CatalogueScanner catalogue_;
  broker::EntityMapStore entity_maps_;
  // Subscriptions: compiled into the matcher (a subscription that cannot be compiled is refused
  // when created, and reported at start-up).
  broker::SubscriptionMatcher matcher_;
  broker::SubscriptionService subscriptions_;
  // Context source registrations: indexed in memory for the distributed operations; an
  // exclusive or redirect registration may not claim an entity held here.
  broker::RegistrationService registrations_;
  // Context source registration subscriptions: the same data type, stored apart, compiled into
  // a matcher of their own that registration changes are matched against.
  broker::SubscriptionMatcher csource_matcher_;
  broker::SubscriptionService csource_subscriptions_;
  // Distributed operations: the sources the registrations name are asked alongside the hub's
  // data, and take the writes of exclusive and redirect registrations.
  broker::ContextSourceClient source_client_;
  broker::DistributedRead distributed_reads_;
  broker::DistributedWrite distributed_writes_;
  broker::HttpSender http_sender_;
  broker::MqttSender mqtt_sender_;
  broker::Notifier notifier_;
  broker::OutboxWriter outbox_;
  broker::HistoryRecorder history_;
  const broker::RetentionPolicy retention_;
  broker::TemporalService temporal_;
};

}  // namespace cityhub::app
