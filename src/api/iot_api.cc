// The IoT agent's HTTP side (issue 7), after the FIWARE IoT Agent API so that existing devices
// and provisioning tools work:
//   POST/GET/DELETE /iot/groups (alias /iot/services) — service groups: an apikey naming the
//       group, the entity type and attribute mappings its devices share;
//   POST/GET /iot/devices, GET/DELETE /iot/devices/{id} — devices, each with its own key
//       (given as device_key or generated and returned once) and its live status;
//   POST /iot/d?k=KEY&i=ID[&t=TIME] (UltraLight 2.0, text/plain), POST /iot/json?k=KEY&i=ID
//       (JSON) — measures, answered 200 once durable.
// Provisioning is an admin operation of the tenant (Fiware-Service or NGSILD-Tenant header);
// measures authenticate with the device's key instead of the hub's credentials. Names in
// provisioning payloads are expanded with the request's @context (Link header).
#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/rand.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/request.h"
#include "ingest/ingestor.h"
#include "ingest/registry.h"
#include "security/jwt.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

std::string_view StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

Status Bad(std::string_view what, size_t index, std::string_view why) {
  return Status::BadRequestData(fmt::format("{} {}: {}", what, index, why));
}

std::string NewDeviceKey() {
  unsigned char bytes[24];
  RAND_bytes(bytes, sizeof bytes);
  return "dk_" + security::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

// NGSI-LD attribute kind of a FIWARE attribute type.
std::string KindOf(std::string_view fiware_type) {
  if (fiware_type == "geo:point" || fiware_type == "geo:json" || fiware_type == "GeoProperty") return "GeoProperty";
  if (fiware_type == "Relationship") return "Relationship";
  return "Property";
}

Result<std::vector<ingest::AttributeMapping>> ReadMappings(const json::object& o, const ngsild::Context& ctx) {
  std::vector<ingest::AttributeMapping> out;
  const json::value* a = o.if_contains("attributes");
  if (!a) return out;
  if (!a->is_array()) return Status::BadRequestData("'attributes' must be an array");
  for (const auto& item : a->get_array()) {
    if (!item.is_object()) return Status::BadRequestData("an attribute mapping must be an object");
    const json::object& m = item.get_object();
    ingest::AttributeMapping mapping;
    mapping.object_id = std::string(StringAt(m, "object_id"));
    std::string_view name = StringAt(m, "name");
    if (mapping.object_id.empty()) mapping.object_id = std::string(name);
    if (!ingest::ValidObjectId(mapping.object_id) || name.empty() || !ngsild::IsValidName(name)) {
      return Status::BadRequestData("an attribute mapping needs a valid 'name' (and 'object_id': 1-64 letters, digits, '_', '-', '.')");
    }
    mapping.name = ctx.ExpandTerm(name);
    mapping.type = KindOf(StringAt(m, "type"));
    mapping.unit_code = std::string(StringAt(m, "unitCode"));
    if (const json::value* md = m.if_contains("metadata"); md && md->is_object()) {  // FIWARE: metadata.unitCode.value
      if (const json::value* uc = md->get_object().if_contains("unitCode"); uc && uc->is_object()) {
        mapping.unit_code = std::string(StringAt(uc->get_object(), "value"));
      }
    }
    out.push_back(std::move(mapping));
  }
  return out;
}

// FIWARE static_attributes [{name, type, value}] as normalized NGSI-LD attributes.
Result<json::object> ReadStatic(const json::object& o, const ngsild::Context& ctx, const ApiLimits& limits) {
  json::object out;
  const json::value* a = o.if_contains("static_attributes");
  if (!a) return out;
  if (!a->is_array()) return Status::BadRequestData("'static_attributes' must be an array");
  for (const auto& item : a->get_array()) {
    const json::object* s = item.if_object();
    std::string_view name = s ? StringAt(*s, "name") : std::string_view();
    if (!s || name.empty() || !ngsild::IsValidName(name) || !s->contains("value")) {
      return Status::BadRequestData("a static attribute needs a 'name' and a 'value'");
    }
    const std::string kind = KindOf(StringAt(*s, "type"));
    json::object attr{{"type", kind}};
    attr[kind == "Relationship" ? "object" : "value"] = s->at("value");
    auto parsed = ngsild::ParseAttribute(name, attr, ctx, util::NowMillis(), limits.parse);
    if (!parsed.ok()) return Status::BadRequestData(fmt::format("static attribute '{}': {}", name, parsed.status().message()));
    out[ctx.ExpandTerm(name)] = attr;
  }
  return out;
}

// The items of a provisioning body: {"<plural>": [...]} (or {"services": [...]} for groups).
Result<const json::array*> ItemsOf(const json::value& body, std::initializer_list<std::string_view> names) {
  if (body.is_object()) {
    for (auto n : names) {
      if (const json::value* v = body.get_object().if_contains(n); v && v->is_array()) return &v->get_array();
    }
  }
  return Status::BadRequestData(fmt::format("the body must be an object with a '{}' array", *names.begin()));
}

struct Provisioning {
  std::string tenant;
  json::value body;
  ngsild::ContextPtr ctx;
};

Result<Provisioning> ReadProvisioning(const Request& req, const ApiDeps& deps) {
  Provisioning p;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return tenant.status();
  p.tenant = std::move(*tenant);
  auto body = ParseJsonBody(req, deps.limits);
  if (!body.ok()) return body.status();
  p.body = std::move(body->value);
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return ctx.status();
  p.ctx = std::move(*ctx);
  return p;
}

json::array MappingsOut(const std::vector<ingest::AttributeMapping>& mappings, const ngsild::Context& ctx) {
  json::array out;
  for (const auto& m : mappings) {
    json::object o{{"object_id", m.object_id}, {"name", ctx.CompactIri(m.name)}, {"type", m.type}};
    if (!m.unit_code.empty()) o["unitCode"] = m.unit_code;
    out.push_back(std::move(o));
  }
  return out;
}

json::array StaticOut(const json::object& attrs, const ngsild::Context& ctx) {
  json::array out;
  for (const auto& [name, attr] : attrs) {
    json::object o = attr.as_object();
    o["name"] = ctx.CompactIri(name);
    out.push_back(std::move(o));
  }
  return out;
}

// --- groups -------------------------------------------------------------------------------

Response CreateGroups(const Request& req, const ApiDeps& deps) {
  auto p = ReadProvisioning(req, deps);
  if (!p.ok()) return Problem(p.status());
  auto items = ItemsOf(p->body, {"groups", "services"});
  if (!items.ok()) return Problem(items.status());
  std::vector<ingest::ServiceGroup> groups;
  for (size_t i = 0; i < (*items)->size(); ++i) {
    const json::object* o = (**items)[i].if_object();
    if (!o) return Problem(Bad("group", i, "must be an object"));
    ingest::ServiceGroup g;
    g.apikey = std::string(StringAt(*o, "apikey"));
    g.resource = std::string(StringAt(*o, "resource"));
    if (g.resource.empty()) g.resource = "/iot/d";
    std::string_view type = StringAt(*o, "entity_type");
    if (g.apikey.empty() || g.apikey.size() > 256) return Problem(Bad("group", i, "needs an 'apikey' (at most 256 characters)"));
    if (g.resource != "/iot/d" && g.resource != "/iot/json") return Problem(Bad("group", i, "'resource' must be /iot/d or /iot/json"));
    if (type.empty() || !ngsild::IsValidName(type)) return Problem(Bad("group", i, "needs an 'entity_type'"));
    g.entity_type = p->ctx->ExpandTerm(type);
    auto mappings = ReadMappings(*o, *p->ctx);
    if (!mappings.ok()) return Problem(Bad("group", i, mappings.status().message()));
    g.attributes = std::move(*mappings);
    auto statics = ReadStatic(*o, *p->ctx, deps.limits);
    if (!statics.ok()) return Problem(Bad("group", i, statics.status().message()));
    g.static_attributes = std::move(*statics);
    if (const json::value* v = o->if_contains("shared_key"); v && v->is_bool()) g.shared_key = v->get_bool();
    if (const json::value* v = o->if_contains("explicitAttrs"); v && v->is_bool()) g.explicit_attrs = v->get_bool();
    groups.push_back(std::move(g));
  }
  for (auto& g : groups) {
    if (Status st = deps.devices->PutGroup(p->tenant, std::move(g)); !st.ok()) return Problem(st);
  }
  Response r;
  r.status = 201;
  return r;
}

Response ListGroups(const Request& req, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return Problem(ctx.status());
  json::array out;
  for (const auto& g : deps.devices->Groups(*tenant)) {
    out.push_back(json::object{{"apikey", g.apikey},
                               {"resource", g.resource},
                               {"entity_type", (*ctx)->CompactIri(g.entity_type)},
                               {"attributes", MappingsOut(g.attributes, **ctx)},
                               {"static_attributes", StaticOut(g.static_attributes, **ctx)},
                               {"shared_key", g.shared_key},
                               {"explicitAttrs", g.explicit_attrs}});
  }
  const size_t n = out.size();
  return PlainJson(200, json::object{{"count", n}, {"groups", std::move(out)}});
}

Response DeleteGroup(const Request& req, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  const std::string* apikey = req.Param("apikey");
  const std::string* resource = req.Param("resource");
  if (!apikey) return Problem(Status::BadRequestData("parameter 'apikey' is required"));
  Status st = deps.devices->DeleteGroup(*tenant, *apikey, resource ? *resource : "/iot/d");
  return st.ok() ? NoContent() : Problem(st);
}

// --- devices ------------------------------------------------------------------------------

// Ok if the caller may bind device `d` to its entity: write that entity (as stored, else a new
// one of the device's type), give it the device's type, and write each attribute the device may
// write. A caller whose write rights are limited must list those attributes (explicitAttrs).
// The entity is read here; the write of its static attributes is authorized again, under the
// entity's lock, by the upsert that follows.
Status CheckBinding(const ApiDeps& deps, const PolicyWriteAccess& writes, const ingest::Device& d,
                    const ingest::ServiceGroup* group) {
  if (writes.Unrestricted()) return Status::Ok();
  if (!d.explicit_attrs && !(group && group->explicit_attrs)) {
    return Status::PermissionDenied(fmt::format(
        "'{}' may write only some entities or attributes: device '{}' must be provisioned with \"explicitAttrs\": true "
        "so that every attribute it may write is known",
        writes.subject(), d.device_id));
  }
  std::vector<std::string> named;
  for (const auto* mappings : {&d.attributes, group ? &group->attributes : nullptr}) {
    if (!mappings) continue;
    for (const auto& m : *mappings) named.push_back(m.name);
  }
  for (const auto& [name, value] : d.static_attributes) named.emplace_back(name);
  auto stored = deps.entities->Get(d.tenant, d.entity_name);
  if (!stored.ok() && !stored.status().IsNotFound()) return stored.status();
  ngsild::Entity after;
  if (stored.ok()) after = *stored;
  after.id = d.entity_name;
  after.AddTypes({d.entity_type});
  for (const auto& name : named) after.attrs[name];
  return broker::AuthorizeWrite(writes, d.tenant, stored.ok() ? &*stored : nullptr, &after, named);
}

Response CreateDevices(const Request& req, const ApiDeps& deps) {
  auto p = ReadProvisioning(req, deps);
  if (!p.ok()) return Problem(p.status());
  auto items = ItemsOf(p->body, {"devices"});
  if (!items.ok()) return Problem(items.status());
  struct New {
    ingest::Device device;
    std::string key;
    bool generated = false;
  };
  std::vector<New> news;
  const PolicyWriteAccess writes = CurrentCaller().Writes(p->tenant);
  for (size_t i = 0; i < (*items)->size(); ++i) {
    const json::object* o = (**items)[i].if_object();
    if (!o) return Problem(Bad("device", i, "must be an object"));
    New n;
    ingest::Device& d = n.device;
    d.tenant = p->tenant;
    d.device_id = std::string(StringAt(*o, "device_id"));
    if (!ingest::ValidObjectId(d.device_id) && !(d.device_id.size() <= 256 && ngsild::IsValidName(d.device_id))) {
      return Problem(Bad("device", i, "needs a 'device_id' (at most 256 characters, no spaces or quotes)"));
    }
    d.apikey = std::string(StringAt(*o, "apikey"));
    const std::shared_ptr<const ingest::ServiceGroup> group = deps.devices->GroupOf(p->tenant, d.apikey);
    std::string_view type = StringAt(*o, "entity_type");
    if (!type.empty()) {
      if (!ngsild::IsValidName(type)) return Problem(Bad("device", i, "'entity_type' is not a valid name"));
      d.entity_type = p->ctx->ExpandTerm(type);
    } else if (group) {
      d.entity_type = group->entity_type;
    } else {
      return Problem(Bad("device", i, "needs an 'entity_type' (or an 'apikey' of a service group)"));
    }
    d.entity_name = std::string(StringAt(*o, "entity_name"));
    if (d.entity_name.empty()) d.entity_name = fmt::format("urn:ngsi-ld:{}:{}", p->ctx->CompactIri(d.entity_type), d.device_id);
    if (!ngsild::IsUri(d.entity_name)) return Problem(Bad("device", i, "'entity_name' must be a URI"));
    const std::string_view protocol = StringAt(*o, "protocol");
    const bool json_protocol = protocol == "IoTA-JSON" || protocol == "JSON" || (group && group->resource == "/iot/json" && protocol.empty());
    d.protocol = json_protocol ? ingest::Protocol::kJson : ingest::Protocol::kUltralight;
    d.transport = std::string(StringAt(*o, "transport"));
    if (d.transport.empty()) d.transport = "HTTP";
    if (d.transport != "HTTP" && d.transport != "MQTT") return Problem(Bad("device", i, "'transport' must be HTTP or MQTT"));
    auto mappings = ReadMappings(*o, *p->ctx);
    if (!mappings.ok()) return Problem(Bad("device", i, mappings.status().message()));
    d.attributes = std::move(*mappings);
    auto statics = ReadStatic(*o, *p->ctx, deps.limits);
    if (!statics.ok()) return Problem(Bad("device", i, statics.status().message()));
    d.static_attributes = group ? group->static_attributes : json::object();
    for (auto& [k, v] : *statics) d.static_attributes[k] = v;
    if (const json::value* v = o->if_contains("explicitAttrs"); v && v->is_bool()) d.explicit_attrs = v->get_bool();
    if (Status st = CheckBinding(deps, writes, d, group.get()); !st.ok()) return Problem(st);
    n.key = std::string(StringAt(*o, "device_key"));
    if (n.key.empty()) {
      n.key = NewDeviceKey();
      n.generated = true;
    } else if (n.key.size() < 16 || n.key.size() > 256) {
      return Problem(Bad("device", i, "'device_key' must be 16 to 256 characters"));
    }
    news.push_back(std::move(n));
  }
  json::array out;
  for (auto& n : news) {
    // The device's entity, with its static attributes (kept if it exists).
    ngsild::Entity e;
    e.id = n.device.entity_name;
    e.types = {n.device.entity_type};
    e.created_at = e.modified_at = util::NowMillis();
    auto attrs = ngsild::ParseAttributes(n.device.static_attributes, *deps.contexts->Core(), e.created_at, deps.limits.parse);
    if (!attrs.ok()) return Problem(attrs.status());
    e.attrs = std::move(*attrs);
    const std::string id = n.device.device_id;
    if (Status st = deps.devices->AddDevice(std::move(n.device), n.key); !st.ok()) return Problem(st);
    broker::BatchResult r = deps.entities->BatchUpsert(writes, p->tenant, {std::move(e)}, /*replace=*/false);
    if (!r.errors.empty()) {
      // The device is not kept bound to an entity its provisioning could not write.
      (void)deps.devices->DeleteDevice(p->tenant, id);
      return Problem(r.errors.front().status);
    }
    json::object item{{"device_id", id}};
    if (n.generated) item["device_key"] = n.key;  // shown this once: only its hash is kept
    out.push_back(std::move(item));
  }
  return PlainJson(201, json::object{{"devices", std::move(out)}});
}

json::object DeviceOut(const ingest::Device& d, const ngsild::Context& ctx) {
  json::object o{{"device_id", d.device_id},
                 {"entity_name", d.entity_name},
                 {"entity_type", ctx.CompactIri(d.entity_type)},
                 {"protocol", d.protocol == ingest::Protocol::kJson ? "IoTA-JSON" : "IoTA-UL"},
                 {"transport", d.transport},
                 {"attributes", MappingsOut(d.attributes, ctx)},
                 {"static_attributes", StaticOut(d.static_attributes, ctx)},
                 {"explicitAttrs", d.explicit_attrs}};
  if (!d.apikey.empty()) o["apikey"] = d.apikey;
  const ingest::DeviceStatus& s = *d.status;
  json::object status{{"measures", s.measures.load()}, {"rejected", s.rejected.load()}};
  if (int64_t t = s.last_measure_ms.load(); t > 0) status["lastMeasure"] = util::FormatDateTime(t);
  if (int64_t t = s.last_error_ms.load(); t > 0) {
    status["lastErrorAt"] = util::FormatDateTime(t);
    std::lock_guard lock(s.mutex);
    status["lastError"] = s.last_error;
  }
  o["status"] = std::move(status);
  return o;
}

Response ListDevices(const Request& req, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return Problem(ctx.status());
  json::array out;
  for (const auto& d : deps.devices->Devices(*tenant)) out.push_back(DeviceOut(*d, **ctx));
  const size_t n = out.size();
  return PlainJson(200, json::object{{"count", n}, {"devices", std::move(out)}});
}

Response GetDevice(const Request& req, const PathParams& params, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto ctx = ContextOf(req, deps, nullptr, false);
  if (!ctx.ok()) return Problem(ctx.status());
  const std::string& id = params.Get("deviceId");
  ingest::DevicePtr d = deps.devices->Find(*tenant, id);
  if (!d) return Problem(Status::NotFound(fmt::format("no device '{}'", id.substr(0, 100))));
  return PlainJson(200, DeviceOut(*d, **ctx));
}

Response DeleteDevice(const Request& req, const PathParams& params, const ApiDeps& deps) {
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  Status st = deps.devices->DeleteDevice(*tenant, params.Get("deviceId"));
  return st.ok() ? NoContent() : Problem(st);
}

// --- measures -----------------------------------------------------------------------------

Response Measure(const Request& req, const ApiDeps& deps, ingest::MeasureFormat format) {
  ingest::DeviceMessage m;
  const std::string* k = req.Param("k");
  const std::string* i = req.Param("i");
  if (!k || !i) return Problem(Status::BadRequestData("parameters 'k' (the device's key) and 'i' (its id) are required"));
  m.key = *k;
  m.device_id = *i;
  m.format = format;
  m.payload = req.body;
  if (req.headers.Has("NGSILD-Tenant") || req.headers.Has("Fiware-Service")) {
    auto tenant = TenantOf(req);
    if (!tenant.ok()) return Problem(tenant.status());
    m.tenant = std::move(*tenant);
  }
  if (const std::string* t = req.Param("t")) {
    m.observed_ms = util::ParseDateTime(*t, &m.observed_fraction);
    if (!m.observed_ms) return Problem(Status::BadRequestData("parameter 't' must be an ISO 8601 date-time"));
  }
  Status st = deps.ingestor->Ingest(m, /*wait=*/true);
  if (!st.ok()) {
    Response r = Problem(st);
    if (st.code() == Status::Code::kUnauthenticated) r.headers.Add("WWW-Authenticate", "DeviceKey realm=\"cityhub-iot\"");
    return r;
  }
  Response r;
  r.status = 200;
  return r;
}

}  // namespace

void RegisterIotRoutes(http::Router& router, const ApiDeps& deps) {
  if (!deps.devices || !deps.ingestor) return;
  for (const char* base : {"/iot/groups", "/iot/services"}) {
    router.Add("POST", base, [&deps](const Request& r, const PathParams&) { return CreateGroups(r, deps); });
    router.Add("GET", base, [&deps](const Request& r, const PathParams&) { return ListGroups(r, deps); });
    router.Add("DELETE", base, [&deps](const Request& r, const PathParams&) { return DeleteGroup(r, deps); });
  }
  router.Add("POST", "/iot/devices", [&deps](const Request& r, const PathParams&) { return CreateDevices(r, deps); });
  router.Add("GET", "/iot/devices", [&deps](const Request& r, const PathParams&) { return ListDevices(r, deps); });
  router.Add("GET", "/iot/devices/{deviceId}", [&deps](const Request& r, const PathParams& p) { return GetDevice(r, p, deps); });
  router.Add("DELETE", "/iot/devices/{deviceId}", [&deps](const Request& r, const PathParams& p) { return DeleteDevice(r, p, deps); });
  router.Add("POST", "/iot/d", [&deps](const Request& r, const PathParams&) { return Measure(r, deps, ingest::MeasureFormat::kUltralight); });
  router.Add("POST", "/iot/json", [&deps](const Request& r, const PathParams&) { return Measure(r, deps, ingest::MeasureFormat::kJson); });
}

}  // namespace cityhub::api
