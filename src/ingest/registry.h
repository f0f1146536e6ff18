// DeviceRegistry: the IoT agent's service groups and devices (FIWARE IoT Agent provisioning
// model, issue 7), per tenant, kept in the tenant's metadata so they survive restarts, with an
// in-memory index for the measure path.
//
// Credentials. Every device has its own key (given at provisioning as "device_key", or
// generated and returned once); the registry keeps only its SHA-256. A measure names a key and
// a device id — `?k=KEY&i=ID` over HTTP, `/<KEY>/<ID>/attrs` over MQTT — and is accepted only
// when the key is that device's. A group's `apikey` identifies the group (its devices inherit
// its entity type and attribute mappings); it is accepted as a credential for the group's
// devices only when the group sets "shared_key": true (FIWARE's behaviour, off by default).
// Unknown devices are refused.
//
// Several hubs on one database (store.h, SharedMetaObserver): the registry follows the groups and
// devices the other hubs provision, as they commit — a device provisioned through one hub
// sends its measures through any.
//
// Thread-safe: lookups share the index lock; provisioning is serialised by a lock of its own,
// held across its store write, and takes the index lock only to change the maps — so a
// change heard from another hub (which may arrive inside any entity write of this hub, store.h)
// never waits for a provisioning write that waits for that entity write.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>

#include "store/store.h"
#include "util/status.h"

namespace cityhub::ingest {

enum class Protocol { kUltralight, kJson };

// How a measure's short name becomes an NGSI-LD attribute.
struct AttributeMapping {
  std::string object_id;   // the device's name ("t")
  std::string name;        // the attribute's expanded name
  std::string type = "Property";  // Property, GeoProperty or Relationship
  std::string unit_code;   // UN/CEFACT code ("CEL"), or ""
};

struct ServiceGroup {
  std::string apikey;       // identifies the group
  std::string resource;     // "/iot/d" or "/iot/json"
  std::string entity_type;  // expanded
  std::vector<AttributeMapping> attributes;
  boost::json::object static_attributes;  // name (expanded) -> normalized attribute
  bool shared_key = false;
  bool explicit_attrs = false;
};

// What the registry has seen of a device since the hub started (not persisted).
struct DeviceStatus {
  std::atomic<uint64_t> measures{0};       // attribute values accepted
  std::atomic<uint64_t> rejected{0};       // messages refused (malformed, too large, …)
  std::atomic<int64_t> last_measure_ms{0};
  std::atomic<int64_t> last_error_ms{0};
  std::atomic<bool> urgent{false};         // its entity has carried an attribute a warning rule reads
  mutable std::mutex mutex;                // guards last_error
  std::string last_error;                  // the reason, never the payload
};

struct Device {
  std::string tenant;
  std::string device_id;
  std::string entity_name;  // the entity id
  std::string entity_type;  // expanded
  Protocol protocol = Protocol::kUltralight;
  std::string transport;    // "HTTP" or "MQTT" (informative: both are accepted)
  std::string apikey;       // its group's apikey ("" = none)
  std::string key_hash;     // hex SHA-256 of its own key
  std::vector<AttributeMapping> attributes;
  boost::json::object static_attributes;
  bool explicit_attrs = false;
  std::shared_ptr<DeviceStatus> status = std::make_shared<DeviceStatus>();

  // The mapping of `object_id`: the device's, else its group's, else nullptr.
  const AttributeMapping* MappingOf(std::string_view object_id, const ServiceGroup* group) const;
};
using DevicePtr = std::shared_ptr<const Device>;

class DeviceRegistry : public store::SharedMetaObserver {
 public:
  explicit DeviceRegistry(store::Store& store) : store_(store) {}
  ~DeviceRegistry() override;

  // Reads every tenant's groups and devices, and from then on follows other hubs' changes.
  Status Load();

  // Adds or replaces the group (apikey, resource) of `tenant`.
  Status PutGroup(std::string_view tenant, ServiceGroup group);
  // NotFound if there is none.
  Status DeleteGroup(std::string_view tenant, std::string_view apikey, std::string_view resource);
  std::vector<ServiceGroup> Groups(std::string_view tenant) const;
  // The group with `apikey` in `tenant` (any resource), or null.
  std::shared_ptr<const ServiceGroup> GroupOf(std::string_view tenant, std::string_view apikey) const;

  // Adds a device with its key (AlreadyExists if the id is taken in the tenant, or the key is
  // another device's).
  Status AddDevice(Device device, std::string_view key);
  Status DeleteDevice(std::string_view tenant, std::string_view device_id);
  std::vector<DevicePtr> Devices(std::string_view tenant) const;
  DevicePtr Find(std::string_view tenant, std::string_view device_id) const;

  // The device a measure with `key` and `device_id` comes from (`tenant`: if given, it must be
  // the device's). Unauthenticated "unknown device or wrong key" otherwise (one answer for both,
  // so that keys cannot be probed for device ids).
  Result<DevicePtr> Authenticate(std::string_view key, std::string_view device_id,
                                 std::optional<std::string_view> tenant = std::nullopt) const;

  static std::string HashKey(std::string_view key);

  // A group or device provisioned, changed or removed through another hub (store.h).
  void SharedMetaChanged(std::string_view tenant, std::string_view key, const std::optional<std::string>& value) override;

 private:
  struct TenantIndex {
    std::map<std::string, DevicePtr, std::less<>> devices;       // by device id
    std::map<std::string, std::shared_ptr<const ServiceGroup>, std::less<>> groups;  // by apikey + '\n' + resource
  };
  Status SaveDevice(const Device& d);
  Status SaveGroup(std::string_view tenant, const ServiceGroup& g);

  // The maps' changes, with mutex_ held exclusively.
  void PutDeviceLocked(DevicePtr device);
  void EraseDeviceLocked(std::string_view tenant, std::string_view device_id);

  store::Store& store_;
  bool watching_ = false;
  std::mutex provisioning_;             // one provisioning write at a time (check, then write)
  mutable std::shared_mutex mutex_;     // the maps
  std::map<std::string, TenantIndex, std::less<>> tenants_;
  std::unordered_map<std::string, DevicePtr> by_key_hash_;  // device keys are unique
};

// The stored form of groups and devices (JSON), and the provisioning API's rendering.
boost::json::object GroupJson(const ServiceGroup& g);
Result<ServiceGroup> GroupFromJson(const boost::json::object& o);
boost::json::object DeviceJson(const Device& d, bool with_secret_hash);
Result<Device> DeviceFromJson(const boost::json::object& o);

}  // namespace cityhub::ingest
