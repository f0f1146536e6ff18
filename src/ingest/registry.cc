#include "ingest/registry.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/tenancy.h"
#include "util/json.h"
#include "store/meta_keys.h"

namespace cityhub::ingest {
namespace json = boost::json;

namespace {

std::string GroupKey(std::string_view apikey, std::string_view resource) {
  return fmt::format("{}\n{}", apikey, resource);
}

std::string_view StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

json::array MappingsJson(const std::vector<AttributeMapping>& mappings) {
  json::array out;
  for (const auto& m : mappings) {
    json::object o{{"object_id", m.object_id}, {"name", m.name}, {"type", m.type}};
    if (!m.unit_code.empty()) o["unitCode"] = m.unit_code;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<AttributeMapping> MappingsFrom(const json::object& o) {
  std::vector<AttributeMapping> out;
  const json::value* a = o.if_contains("attributes");
  if (!a || !a->is_array()) return out;
  for (const auto& item : a->get_array()) {
    if (!item.is_object()) continue;
    const json::object& m = item.get_object();
    out.push_back({std::string(StringAt(m, "object_id")), std::string(StringAt(m, "name")),
                   std::string(StringAt(m, "type")), std::string(StringAt(m, "unitCode"))});
  }
  return out;
}

bool BoolAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

json::object ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? v->get_object() : json::object();
}

}  // namespace

const AttributeMapping* Device::MappingOf(std::string_view object_id, const ServiceGroup* group) const {
  for (const auto& m : attributes) {
    if (m.object_id == object_id) return &m;
  }
  if (group) {
    for (const auto& m : group->attributes) {
      if (m.object_id == object_id) return &m;
    }
  }
  return nullptr;
}

std::string DeviceRegistry::HashKey(std::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

json::object GroupJson(const ServiceGroup& g) {
  return json::object{{"apikey", g.apikey},
                      {"resource", g.resource},
                      {"entity_type", g.entity_type},
                      {"attributes", MappingsJson(g.attributes)},
                      {"static_attributes", g.static_attributes},
                      {"shared_key", g.shared_key},
                      {"explicitAttrs", g.explicit_attrs}};
}

Result<ServiceGroup> GroupFromJson(const json::object& o) {
  ServiceGroup g;
  g.apikey = std::string(StringAt(o, "apikey"));
  g.resource = std::string(StringAt(o, "resource"));
  g.entity_type = std::string(StringAt(o, "entity_type"));
  if (g.apikey.empty()) return Status::Internal("stored service group has no apikey");
  g.attributes = MappingsFrom(o);
  g.static_attributes = ObjectAt(o, "static_attributes");
  g.shared_key = BoolAt(o, "shared_key");
  g.explicit_attrs = BoolAt(o, "explicitAttrs");
  return g;
}

json::object DeviceJson(const Device& d, bool with_secret_hash) {
  json::object o{{"device_id", d.device_id},
                 {"entity_name", d.entity_name},
                 {"entity_type", d.entity_type},
                 {"protocol", d.protocol == Protocol::kJson ? "IoTA-JSON" : "IoTA-UL"},
                 {"transport", d.transport},
                 {"attributes", MappingsJson(d.attributes)},
                 {"static_attributes", d.static_attributes},
                 {"explicitAttrs", d.explicit_attrs}};
  if (!d.apikey.empty()) o["apikey"] = d.apikey;
  if (with_secret_hash) {
    o["tenant"] = d.tenant;
    o["key_sha256"] = d.key_hash;
  }
  return o;
}

Result<Device> DeviceFromJson(const json::object& o) {
  Device d;
  d.tenant = std::string(StringAt(o, "tenant"));
  d.device_id = std::string(StringAt(o, "device_id"));
  d.entity_name = std::string(StringAt(o, "entity_name"));
  d.entity_type = std::string(StringAt(o, "entity_type"));
  d.protocol = StringAt(o, "protocol") == "IoTA-JSON" ? Protocol::kJson : Protocol::kUltralight;
  d.transport = std::string(StringAt(o, "transport"));
  d.apikey = std::string(StringAt(o, "apikey"));
  d.key_hash = std::string(StringAt(o, "key_sha256"));
  d.attributes = MappingsFrom(o);
  d.static_attributes = ObjectAt(o, "static_attributes");
  d.explicit_attrs = BoolAt(o, "explicitAttrs");
  if (d.device_id.empty() || d.entity_name.empty() || d.key_hash.size() != 64) {
    return Status::Internal("stored device lacks its id, entity or key");
  }
  return d;
}

namespace {

// A group or device as the registry stores it (JSON); Internal if it is not one.
Result<ServiceGroup> StoredGroup(std::string_view value) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(value, ec);
  return !ec && v.is_object() ? GroupFromJson(v.get_object()) : Result<ServiceGroup>(Status::Internal("corrupt service group"));
}
Result<Device> StoredDevice(std::string_view value) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(value, ec);
  return !ec && v.is_object() ? DeviceFromJson(v.get_object()) : Result<Device>(Status::Internal("corrupt device"));
}

}  // namespace

DeviceRegistry::~DeviceRegistry() {
  if (watching_) store_.UnwatchSharedMeta(this);
}

Status DeviceRegistry::Load() {
  if (!watching_) {
    // Before reading: a change committed while the registry reads is then heard, not missed.
    CITYHUB_RETURN_IF_ERROR(store_.WatchSharedMeta(std::string(store::meta::kIotGroupPrefix), this));
    watching_ = true;  // (the destructor unwatches, should the second watch fail)
    CITYHUB_RETURN_IF_ERROR(store_.WatchSharedMeta(std::string(store::meta::kIotDevicePrefix), this));
  }
  std::lock_guard provisioning(provisioning_);
  std::unique_lock lock(mutex_);
  tenants_.clear();
  by_key_hash_.clear();
  for (const auto& tenant : store_.ListTenants()) {
    auto ts = broker::OpenTenant(store_, tenant, false);
    if (!ts.ok()) return ts.status();
    TenantIndex& index = tenants_[tenant];
    Status failure;
    CITYHUB_RETURN_IF_ERROR((*ts)->ScanMeta(store::meta::kIotGroupPrefix, [&](std::string_view, std::string_view value) {
      auto g = StoredGroup(value);
      if (!g.ok()) {
        failure = g.status();
        return false;
      }
      const std::string key = GroupKey(g->apikey, g->resource);
      index.groups[key] = std::make_shared<const ServiceGroup>(std::move(*g));
      return true;
    }));
    CITYHUB_RETURN_IF_ERROR(failure);
    CITYHUB_RETURN_IF_ERROR((*ts)->ScanMeta(store::meta::kIotDevicePrefix, [&](std::string_view, std::string_view value) {
      auto d = StoredDevice(value);
      if (!d.ok()) {
        failure = d.status();
        return false;
      }
      d->tenant = tenant;
      PutDeviceLocked(std::make_shared<const Device>(std::move(*d)));
      return true;
    }));
    CITYHUB_RETURN_IF_ERROR(failure);
  }
  return Status::Ok();
}

Status DeviceRegistry::SaveGroup(std::string_view tenant, const ServiceGroup& g) {
  auto ts = broker::OpenTenant(store_, tenant, true);
  if (!ts.ok()) return ts.status();
  return (*ts)->PutMeta(fmt::format("{}{}", store::meta::kIotGroupPrefix, GroupKey(g.apikey, g.resource)), json::serialize(GroupJson(g)));
}

Status DeviceRegistry::SaveDevice(const Device& d) {
  auto ts = broker::OpenTenant(store_, d.tenant, true);
  if (!ts.ok()) return ts.status();
  return (*ts)->PutMeta(fmt::format("{}{}", store::meta::kIotDevicePrefix, d.device_id), json::serialize(DeviceJson(d, true)));
}

Status DeviceRegistry::PutGroup(std::string_view tenant, ServiceGroup group) {
  std::lock_guard provisioning(provisioning_);
  CITYHUB_RETURN_IF_ERROR(SaveGroup(tenant, group));
  const std::string key = GroupKey(group.apikey, group.resource);  // before `group` is moved
  std::unique_lock lock(mutex_);
  tenants_[std::string(tenant)].groups[key] = std::make_shared<const ServiceGroup>(std::move(group));
  return Status::Ok();
}

Status DeviceRegistry::DeleteGroup(std::string_view tenant, std::string_view apikey, std::string_view resource) {
  std::lock_guard provisioning(provisioning_);
  const std::string key = GroupKey(apikey, resource);
  {
    std::shared_lock lock(mutex_);
    auto t = tenants_.find(tenant);
    if (t == tenants_.end() || !t->second.groups.count(key)) {
      return Status::NotFound(fmt::format("no service group with apikey '{}' and resource '{}'", apikey.substr(0, 64), resource.substr(0, 64)));
    }
  }
  auto ts = broker::OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  CITYHUB_RETURN_IF_ERROR((*ts)->DeleteMeta(fmt::format("{}{}", store::meta::kIotGroupPrefix, key)));
  std::unique_lock lock(mutex_);
  if (auto t = tenants_.find(tenant); t != tenants_.end()) t->second.groups.erase(key);
  return Status::Ok();
}

std::vector<ServiceGroup> DeviceRegistry::Groups(std::string_view tenant) const {
  std::shared_lock lock(mutex_);
  std::vector<ServiceGroup> out;
  if (auto t = tenants_.find(tenant); t != tenants_.end()) {
    for (const auto& [k, g] : t->second.groups) out.push_back(*g);
  }
  return out;
}

std::shared_ptr<const ServiceGroup> DeviceRegistry::GroupOf(std::string_view tenant, std::string_view apikey) const {
  if (apikey.empty()) return nullptr;
  std::shared_lock lock(mutex_);
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) return nullptr;
  auto it = t->second.groups.lower_bound(fmt::format("{}\n", apikey));
  if (it == t->second.groups.end() || it->second->apikey != apikey) return nullptr;
  return it->second;
}

Status DeviceRegistry::AddDevice(Device device, std::string_view key) {
  device.key_hash = HashKey(key);
  std::lock_guard provisioning(provisioning_);
  {
    std::shared_lock lock(mutex_);
    auto t = tenants_.find(device.tenant);
    if (t != tenants_.end() && t->second.devices.count(device.device_id)) {
      return Status::AlreadyExists(fmt::format("device '{}' is already provisioned", device.device_id));
    }
    if (by_key_hash_.count(device.key_hash)) {
      return Status::AlreadyExists("that device_key is another device's: every device needs a key of its own");
    }
  }
  CITYHUB_RETURN_IF_ERROR(SaveDevice(device));
  std::unique_lock lock(mutex_);
  PutDeviceLocked(std::make_shared<const Device>(std::move(device)));
  return Status::Ok();
}

Status DeviceRegistry::DeleteDevice(std::string_view tenant, std::string_view device_id) {
  std::lock_guard provisioning(provisioning_);
  {
    std::shared_lock lock(mutex_);
    auto t = tenants_.find(tenant);
    if (t == tenants_.end() || !t->second.devices.count(device_id)) {
      return Status::NotFound(fmt::format("no device '{}'", device_id.substr(0, 100)));
    }
  }
  auto ts = broker::OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  CITYHUB_RETURN_IF_ERROR((*ts)->DeleteMeta(fmt::format("{}{}", store::meta::kIotDevicePrefix, device_id)));
  std::unique_lock lock(mutex_);
  EraseDeviceLocked(tenant, device_id);
  return Status::Ok();
}

void DeviceRegistry::PutDeviceLocked(DevicePtr device) {
  TenantIndex& index = tenants_[device->tenant];
  auto& slot = index.devices[device->device_id];
  if (slot) by_key_hash_.erase(slot->key_hash);  // a device replaced: its old key goes
  by_key_hash_[device->key_hash] = device;
  slot = std::move(device);
}

void DeviceRegistry::EraseDeviceLocked(std::string_view tenant, std::string_view device_id) {
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) return;
  auto it = t->second.devices.find(device_id);
  if (it == t->second.devices.end()) return;
  if (auto k = by_key_hash_.find(it->second->key_hash); k != by_key_hash_.end() && k->second == it->second) by_key_hash_.erase(k);
  t->second.devices.erase(it);
}

void DeviceRegistry::SharedMetaChanged(std::string_view tenant, std::string_view key, const std::optional<std::string>& value) {
  const bool group = key.starts_with(store::meta::kIotGroupPrefix);
  const std::string_view name = key.substr(group ? store::meta::kIotGroupPrefix.size() : store::meta::kIotDevicePrefix.size());
  if (!value) {
    std::unique_lock lock(mutex_);
    if (!group) {
      EraseDeviceLocked(tenant, name);
    } else if (auto t = tenants_.find(tenant); t != tenants_.end()) {
      t->second.groups.erase(std::string(name));
    }
    return;
  }
  if (group) {
    auto g = StoredGroup(*value);
    if (!g.ok()) {
      spdlog::warn("an IoT service group of tenant '{}' changed on another hub and cannot be used here: {}", tenant, g.status().message());
      return;
    }
    std::unique_lock lock(mutex_);
    tenants_[std::string(tenant)].groups[std::string(name)] = std::make_shared<const ServiceGroup>(std::move(*g));
    return;
  }
  auto d = StoredDevice(*value);
  if (!d.ok()) {
    spdlog::warn("an IoT device of tenant '{}' changed on another hub and cannot be used here: {}", tenant, d.status().message());
    return;
  }
  d->tenant = std::string(tenant);
  std::unique_lock lock(mutex_);
  PutDeviceLocked(std::make_shared<const Device>(std::move(*d)));
}

std::vector<DevicePtr> DeviceRegistry::Devices(std::string_view tenant) const {
  std::shared_lock lock(mutex_);
  std::vector<DevicePtr> out;
  if (auto t = tenants_.find(tenant); t != tenants_.end()) {
    for (const auto& [id, d] : t->second.devices) out.push_back(d);
  }
  return out;
}

DevicePtr DeviceRegistry::Find(std::string_view tenant, std::string_view device_id) const {
  std::shared_lock lock(mutex_);
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) return nullptr;
  auto it = t->second.devices.find(device_id);
  return it == t->second.devices.end() ? nullptr : it->second;
}

Result<DevicePtr> DeviceRegistry::Authenticate(std::string_view key, std::string_view device_id,
                                               std::optional<std::string_view> tenant) const {
  const Status refused(Status::Code::kUnauthenticated, "unknown device or wrong key");
  if (key.empty() || device_id.empty() || key.size() > 256) return refused;
  const std::string hash = HashKey(key);
  std::shared_lock lock(mutex_);
  if (auto it = by_key_hash_.find(hash); it != by_key_hash_.end()) {
    const DevicePtr& d = it->second;
    if (d->device_id == device_id && (!tenant || *tenant == d->tenant)) return d;
    return refused;
  }
  // A group key, where the group shares it with its devices.
  for (const auto& [name, index] : tenants_) {
    if (tenant && *tenant != name) continue;
    auto dev = index.devices.find(device_id);
    if (dev == index.devices.end() || dev->second->apikey.empty()) continue;
    for (const auto& [k, g] : index.groups) {
      if (g->shared_key && g->apikey == dev->second->apikey && g->apikey.size() == key.size() &&
          CRYPTO_memcmp(g->apikey.data(), key.data(), key.size()) == 0) {
        return dev->second;
      }
    }
  }
  return refused;
}

}  // namespace cityhub::ingest
