// The tenant metadata key space (TenantStore::GetMeta/PutMeta/ScanMeta): every key and key
// prefix the hub stores metadata under, in one list, with the part of the hub that owns it. A
// new kind of metadata gets its key here, so no two parts can write the same keys and a scan of
// one prefix never visits another part's records (meta_keys_test checks that no prefix starts
// another key).
#pragma once

#include <array>
#include <string_view>

namespace cityhub::store::meta {

// @contexts the hub hosts (/jsonldContexts), one per id — app/storage.cc.
inline constexpr std::string_view kContextPrefix = "ctx/";
// Which version of the index terms the tenant's entities carry — broker::EntityService.
inline constexpr std::string_view kIndexVersion = "broker/index_version";
// The hub's own context source id (default tenant only) — broker::EntityService.
inline constexpr std::string_view kSourceId = "broker/source_id";
// Set once every entity with history has its history header — broker::HistoryRecorder.
inline constexpr std::string_view kHistoryHeadersDone = "broker/history_headers";
// Entity subscriptions and their delivery statuses, one key per subscription (written by the hub
// delivering it) — broker::SubscriptionService. The statuses key: every status in one document,
// as older hubs kept them; moved to the per-subscription keys when read.
inline constexpr std::string_view kSubscriptionPrefix = "subscription/";
inline constexpr std::string_view kSubscriptionStatusPrefix = "subscription-status/";
inline constexpr std::string_view kSubscriptionStatuses = "subscription-statuses";
// Context source registration subscriptions and their statuses — broker::SubscriptionService.
inline constexpr std::string_view kCsourceSubscriptionPrefix = "csourceSubscription/";
inline constexpr std::string_view kCsourceSubscriptionStatusPrefix = "csourceSubscription-status/";
// Context source registrations, and when expired ones were last swept — broker::RegistrationService.
inline constexpr std::string_view kRegistrationPrefix = "registration/";
inline constexpr std::string_view kRegistrationExpirySwept = "registration-expiry-swept";
// IoT service groups and devices — ingest::Registry.
inline constexpr std::string_view kIotGroupPrefix = "iot/group/";
inline constexpr std::string_view kIotDevicePrefix = "iot/device/";

// Every key and prefix above (prefixes end with '/').
inline constexpr std::array kAll = {
    kContextPrefix,         kIndexVersion,        kSourceId,
    kHistoryHeadersDone,    kSubscriptionPrefix,  kSubscriptionStatusPrefix, kSubscriptionStatuses,
    kCsourceSubscriptionPrefix, kCsourceSubscriptionStatusPrefix, kRegistrationPrefix,
    kRegistrationExpirySwept, kIotGroupPrefix,    kIotDevicePrefix,
};

}  // namespace cityhub::store::meta
