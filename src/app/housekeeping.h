// Housekeeping: the hub's periodic jobs — context source registrations that expired owe their
// subscribers a noLongerMatching notification, history past its retention is purged, transient
// entities past their expiresAt are deleted through the broker. Started by the constructor,
// stopped (each thread joined) by the destructor. Borrows the BrokerStack and the Storage;
// writes through the broker like any client, so the city services must outlive it.
#pragma once

#include "app/broker_stack.h"
#include "app/config.h"
#include "app/storage.h"
#include "broker/history_retention.h"
#include "broker/transient_purge.h"
#include "util/periodic_task.h"

namespace cityhub::app {

class Housekeeping {
 public:
  Housekeeping(const Config& config, Storage& storage, BrokerStack& broker);
  Housekeeping(const Housekeeping&) = delete;
  Housekeeping& operator=(const Housekeeping&) = delete;

 private:
  util::PeriodicTask registration_expiry_;
  broker::HistoryPurger retention_purge_;
  broker::TransientPurge transient_purge_;
};

}  // namespace cityhub::app
