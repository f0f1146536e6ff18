#include "app/broker_stack.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/start_failure.h"

namespace cityhub::app {

namespace {

// A periodic subscription's entities: those of its selectors' types that it selects, read a
// page at a time through the query service.
broker::PeriodicSource PeriodicEntities(const broker::QueryService& queries) {
  return [&queries](std::string_view tenant, const broker::CompiledSubscription& sub,
                    size_t limit) -> Result<std::vector<ngsild::Entity>> {
    constexpr size_t kPage = 1000;
    std::vector<ngsild::Entity> out;
    std::set<std::string> seen;  // an entity of two selected types is listed once
    for (const std::string& type : sub.types()) {
      broker::EntityQuery q;
      q.types = {type};
      q.limit = kPage;
      for (q.offset = 0; out.size() < limit; q.offset += kPage) {
        auto page = queries.Query(tenant, q);
        if (!page.ok()) return page.status().IsNotFound() ? Result<std::vector<ngsild::Entity>>(std::move(out)) : page.status();
        for (auto& e : page->entities) {
          if (out.size() < limit && sub.Selects(e) && seen.insert(e.id).second) out.push_back(std::move(e));
        }
        if (page->entities.size() < kPage) break;
      }
    }
    return out;
  };
}

broker::EntityMapLimits EntityMapLimitsOf(const Config& config) {
  broker::EntityMapLimits limits;
  limits.ttl = std::chrono::seconds(std::clamp(config.entity_map_ttl_s, 1u, 86400u));
  return limits;
}

ngsild::SubscriptionLimits SubscriptionLimitsOf(const Config& config) {
  ngsild::SubscriptionLimits limits;
  limits.max_per_owner = config.max_subscriptions_per_principal;
  return limits;
}

broker::HttpSenderOptions HttpSenderOptionsOf(const Config& config, const Outbound& outbound) {
  broker::HttpSenderOptions o;
  o.response_timeout = std::chrono::milliseconds(config.notify_timeout_ms);
  o.ca_file = config.notify_ca_file;
  o.endpoints = outbound.endpoints;
  return o;
}

broker::MqttSenderOptions MqttSenderOptionsOf(const Config& config, const Outbound& outbound) {
  broker::MqttSenderOptions o;
  o.ca_file = config.notify_ca_file;
  o.endpoints = outbound.endpoints;
  return o;
}

broker::NotifierOptions NotifierOptionsOf(const Config& config) {
  broker::NotifierOptions o;
  o.retry_initial = std::chrono::milliseconds(config.notify_retry_initial_ms);
  o.retry_max = std::chrono::milliseconds(config.notify_retry_max_ms);
  o.retry_budget = std::chrono::seconds(config.notify_retry_budget_s);
  o.max_queue = std::max<size_t>(1, config.notify_queue);
  return o;
}

}  // namespace

BrokerStack::BrokerStack(const Config& config, const Outbound& outbound, Storage& storage,
                         const SecuritySetup& security, api::Metrics& metrics, broker::RetentionPolicy retention)
    : entities_(storage.store()),
      queries_(storage.store(), query_limits_),
      catalogue_(storage.store()),
      entity_maps_(EntityMapLimitsOf(config)),
      subscriptions_(storage.store(), &matcher_, &storage.contexts(), SubscriptionLimitsOf(config)),
      registrations_(storage.store()),
      csource_subscriptions_(storage.store(), &csource_matcher_, &storage.contexts(), SubscriptionLimitsOf(config),
                             ngsild::SubscriptionKind::kCsource),
      source_client_(outbound.federation),
      distributed_reads_(source_client_),
      distributed_writes_(source_client_),
      http_sender_(HttpSenderOptionsOf(config, outbound)),
      mqtt_sender_(MqttSenderOptionsOf(config, outbound)),
      notifier_(storage.store(), matcher_, storage.contexts(), http_sender_, &mqtt_sender_, &subscriptions_,
                NotifierOptionsOf(config)),
      outbox_(matcher_, [this](std::string_view tenant, std::vector<broker::OutboxEntry> entries) {
        notifier_.Committed(tenant, std::move(entries));
      }),
      history_(config.history),
      retention_(std::move(retention)),
      temporal_(storage.store(), &retention_) {
  entities_.SetCommitObserver([&metrics](double seconds) { metrics.ObserveCommit(seconds); });
  // A subscription notifies what its owner may read, and only endpoints the policy allows.
  const api::SecurityDeps security_deps = security.Deps();
  subscriptions_.SetViewFactory(SubscriptionViews(security_deps));
  subscriptions_.SetEndpointPolicy(outbound.endpoints);
  csource_subscriptions_.SetViewFactory(SubscriptionViews(security_deps, security::Operation::kRegister));
  csource_subscriptions_.SetEndpointPolicy(outbound.endpoints);
  registrations_.SetLocalEntityProbe(
      [this](std::string_view tenant, std::string_view id) -> std::optional<std::vector<std::string>> {
        auto e = entities_.Get(tenant, id);
        if (!e.ok()) return std::nullopt;
        std::vector<std::string> attrs;
        for (const auto& [name, instances] : e->attrs) attrs.push_back(name);
        return attrs;
      });

  // Notifications: entity and registration writes add what they owe to the outbox in their own
  // transaction; once durable, the records go to the notifier.
  entities_.AddChangeObserver(&outbox_);
  outbox_.SetCsourceMatcher(&csource_matcher_);
  notifier_.SetCsourceMatcher(&csource_matcher_);
  registrations_.SetWriteHook([this](std::string_view tenant, store::TenantStore& ts, const boost::json::object* before,
                                     const boost::json::object* after, int64_t before_at_ms, store::WriteSet& ws) {
    return outbox_.AddRegistrationChange(tenant, ts, before, after, before_at_ms, ws);
  });
  csource_subscriptions_.SetCreateHook([this](std::string_view tenant, store::TenantStore& ts,
                                              const broker::CompiledSubscription& created, store::WriteSet& ws) {
    return outbox_.AddFirstNotification(tenant, ts, created, registrations_.All(tenant), ws);
  });
  subscriptions_.SetDeletionObserver([this](std::string_view tenant, std::string_view id) { notifier_.Forget(tenant, id); });
  csource_subscriptions_.SetDeletionObserver(
      [this](std::string_view tenant, std::string_view id) { notifier_.Forget(tenant, id, /*csource=*/true); });
  notifier_.SetPeriodicSource(PeriodicEntities(queries_));

  // History: attribute instances in the same transaction as the change.
  entities_.AddChangeObserver(&history_);
}

Result<std::unique_ptr<BrokerStack>> BrokerStack::Start(const Config& config, const Outbound& outbound,
                                                        Storage& storage, const SecuritySetup& security,
                                                        api::Metrics& metrics) {
  auto retention = broker::RetentionPolicy::Parse(RetentionRules(config, security));
  if (!retention.ok()) return StartFailure(fmt::format("--retention: {}", retention.status().message()));
  std::unique_ptr<BrokerStack> broker(
      new BrokerStack(config, outbound, storage, security, metrics, std::move(*retention)));
  CITYHUB_RETURN_IF_ERROR(broker->Load(storage));
  return broker;
}

Status BrokerStack::Load(Storage& storage) {
  Status indexed = entities_.EnsureIndexed([](std::string_view tenant, uint64_t n) {
    spdlog::info("rebuilt the query indexes of tenant '{}': {} entities", tenant, n);
  });
  if (!indexed.ok()) return StartFailure(fmt::format("cannot build the query indexes: {}", indexed.message()));
  auto loaded = subscriptions_.LoadAll([](std::string_view tenant, std::string_view id, const Status& st) {
    spdlog::warn("subscription '{}' of tenant '{}' is not active: {}", id, tenant, st.message());
  });
  if (!loaded.ok()) return StartFailure(fmt::format("cannot load the subscriptions: {}", loaded.status().message()));
  auto registered = registrations_.LoadAll([](std::string_view tenant, std::string_view id, const Status& st) {
    spdlog::warn("context source registration '{}' of tenant '{}' is not active: {}", id, tenant, st.message());
  });
  if (!registered.ok()) {
    return StartFailure(fmt::format("cannot load the context source registrations: {}", registered.status().message()));
  }
  auto csource_loaded = csource_subscriptions_.LoadAll([](std::string_view tenant, std::string_view id, const Status& st) {
    spdlog::warn("context source registration subscription '{}' of tenant '{}' is not active: {}", id, tenant,
                 st.message());
  });
  if (!csource_loaded.ok()) {
    return StartFailure(
        fmt::format("cannot load the context source registration subscriptions: {}", csource_loaded.status().message()));
  }
  if (Status st = history_.Prepare(storage.store()); !st.ok()) {
    return StartFailure(fmt::format("cannot prepare the history of existing entities: {}", st.message()));
  }
  if (Status st = notifier_.Start(); !st.ok()) {
    return StartFailure(fmt::format("cannot read the notification outbox: {}", st.message()));
  }
  return Status::Ok();
}

void BrokerStack::Lend(api::ApiDeps* deps) {
  deps->entities = &entities_;
  deps->queries = &queries_;
  deps->entity_maps = &entity_maps_;
  deps->catalogue = &catalogue_;
  deps->subscriptions = &subscriptions_;
  deps->csource_subscriptions = &csource_subscriptions_;
  deps->registrations = &registrations_;
  deps->distributed_reads = &distributed_reads_;
  deps->distributed_writes = &distributed_writes_;
  deps->source_statistics = &source_client_.statistics();
  deps->temporal = &temporal_;
  deps->notifier = &notifier_;
  deps->query_slot_wait = query_limits_.max_query_time;
}

}  // namespace cityhub::app
