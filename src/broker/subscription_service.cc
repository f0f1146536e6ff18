// SubscriptionService implementation: validation in ngsild/subscription.cc, storage in the
// tenant's metadata, one mutex around every read-modify-write (subscriptions change rarely).
#include "broker/subscription_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "broker/tenancy.h"
#include "util/ids.h"
#include "util/json.h"
#include "store/meta_keys.h"

namespace cityhub::broker {
namespace json = boost::json;

namespace {

// Where each kind of subscription is kept in the tenant's metadata, and what a message calls it.
struct KindNames {
  std::string_view prefix, noun;
};
KindNames NamesOf(ngsild::SubscriptionKind kind) {
  if (kind == ngsild::SubscriptionKind::kCsource) {
    return {store::meta::kCsourceSubscriptionPrefix, "context source registration subscription"};
  }
  return {store::meta::kSubscriptionPrefix, "subscription"};
}

// The subject of a stored subscription's owner ("" if none).
std::string OwnerOf(const json::object& stored) {
  const json::value* owner = stored.if_contains("owner");
  const json::value* subject = owner && owner->is_object() ? owner->get_object().if_contains("subject") : nullptr;
  return subject && subject->is_string() ? std::string(subject->get_string()) : std::string();
}

std::string OwnedKey(std::string_view tenant, std::string_view subject) { return fmt::format("{}\n{}", tenant, subject); }

Status Unknown(ngsild::SubscriptionKind kind, std::string_view id) {
  return Status::NotFound(fmt::format("{} '{}' does not exist", NamesOf(kind).noun, id.substr(0, 200)));
}

Result<json::object> Decode(std::string_view text) {
  boost::system::error_code ec;
  json::value v = util::ParseJson(text, ec);
  if (ec || !v.is_object()) return Status::Internal("stored subscription is corrupt");
  return std::move(v.get_object());
}

// NotFound for an unknown tenant is "no such subscription" to the client.
Result<store::TenantStore*> Tenant(store::Store& store, std::string_view tenant, ngsild::SubscriptionKind kind,
                                   std::string_view id) {
  auto ts = OpenTenant(store, tenant, false);
  if (!ts.ok() && ts.status().IsNotFound()) return Unknown(kind, id);
  return ts;
}

}  // namespace

SubscriptionService::SubscriptionService(store::Store& store, SubscriptionMatcher* matcher,
                                         ngsild::ContextResolver* contexts, ngsild::SubscriptionLimits limits,
                                         ngsild::SubscriptionKind kind)
    : store_(store), matcher_(matcher), contexts_(contexts), limits_(limits), kind_(kind) {}

SubscriptionService::~SubscriptionService() { store_.UnwatchSharedMeta(this); }

std::string SubscriptionService::Key(std::string_view id) const { return fmt::format("{}{}", NamesOf(kind_).prefix, id); }

Result<CompiledSubscriptionPtr> SubscriptionService::Compile(std::string_view tenant, const json::object& stored) const {
  if (!matcher_ || !contexts_) return CompiledSubscriptionPtr();
  return CompiledSubscription::Compile(stored, *contexts_, views_ ? views_(tenant, stored) : nullptr, tenant);
}

Status SubscriptionService::Save(std::string_view tenant, store::TenantStore& ts, const json::object& stored,
                                 bool created) {
  // The @context notifications will be compacted with must be had now, not at the first
  // notification (where it could only fall back to the core context).
  if (const json::value* jsonld_context = stored.if_contains("jsonldContext"); jsonld_context && contexts_) {
    auto ctx = contexts_->Resolve(*jsonld_context, tenant);
    if (!ctx.ok()) return Status(ctx.status().code(), "jsonldContext: " + ctx.status().message());
  }
  auto compiled = Compile(tenant, stored);  // first: a remote @context of q must be had
  if (!compiled.ok()) return compiled.status();
  const std::string id(stored.at("id").as_string());
  if (!created || !on_create_ || !*compiled) {
    CITYHUB_RETURN_IF_ERROR(ts.PutMeta(Key(id), util::SerializeJson(stored)));
    if (*compiled) matcher_->Put(tenant, std::move(*compiled));
    return Status::Ok();
  }
  // In the matcher before the hook looks at what it matches: a change racing with the creation
  // is then notified (perhaps twice: at least once) rather than missed. Out again if the write
  // fails.
  matcher_->Put(tenant, *compiled);
  store::WriteSet ws;
  ws.meta_puts.emplace_back(Key(id), util::SerializeJson(stored));
  auto then = on_create_(tenant, ts, **compiled, ws);
  Status st = then.ok() ? ts.Write(ws) : then.status();
  if (!st.ok()) {
    matcher_->Remove(tenant, id);
    return st;
  }
  if (*then) (*then)();
  return Status::Ok();
}

Result<size_t> SubscriptionService::LoadAll(
    const std::function<void(std::string_view, std::string_view, const Status&)>& on_error) {
  // Before reading: what changes after the read is then heard of.
  if (matcher_) CITYHUB_RETURN_IF_ERROR(store_.WatchSharedMeta(Key(""), this));
  size_t loaded = 0;
  for (const auto& tenant : store_.ListTenants()) {
    auto ts = OpenTenant(store_, tenant, false);
    if (!ts.ok()) return ts.status();
    std::vector<CompiledSubscriptionPtr> compiled_all;
    CITYHUB_RETURN_IF_ERROR((*ts)->ScanMeta(Key(""), [&](std::string_view key, std::string_view value) {
      const std::string_view id = key.substr(Key("").size());
      auto stored = Decode(value);
      if (stored.ok()) {
        std::lock_guard lock(write_mutex_);
        ++owned_[OwnedKey(tenant, OwnerOf(*stored))];
      }
      auto compiled = stored.ok() ? Compile(tenant, *stored) : Result<CompiledSubscriptionPtr>(stored.status());
      if (!compiled.ok()) {
        if (on_error) on_error(tenant, id, compiled.status());
        return true;
      }
      if (*compiled) compiled_all.push_back(std::move(*compiled));
      ++loaded;
      return true;
    }));
    if (matcher_ && !compiled_all.empty()) matcher_->PutAll(tenant, std::move(compiled_all));
  }
  return loaded;
}

Result<std::string> SubscriptionService::Create(std::string_view tenant, const json::object& payload,
                                                const ngsild::Context& ctx, int64_t now_ms, json::value owner) {
  std::string id;
  if (const json::value* given = payload.if_contains("id"); given && given->is_string()) {
    id = std::string(given->get_string());
  } else {
    id = "urn:ngsi-ld:Subscription:" + util::RandomUuid();
  }
  auto stored = ngsild::NormalizeSubscription(payload, ctx, id, now_ms, limits_, kind_);
  if (!stored.ok()) return stored.status();
  if (endpoints_) CITYHUB_RETURN_IF_ERROR(endpoints_->Check(*stored));
  if (!owner.is_null()) (*stored)["owner"] = std::move(owner);  // internal: never rendered
  auto ts = OpenTenant(store_, tenant, true);
  if (!ts.ok()) return ts.status();
  std::lock_guard lock(write_mutex_);
  auto existing = (*ts)->GetMeta(Key(id));
  if (existing.ok()) return Status::AlreadyExists(fmt::format("{} '{}' already exists", NamesOf(kind_).noun, id.substr(0, 200)));
  if (!existing.status().IsNotFound()) return existing.status();
  // The matcher knows how many there are without a pass over them (it may miss one that could
  // not be compiled at start-up: the cap is a guard, not an exact quota).
  auto held = matcher_ ? Result<size_t>(matcher_->Size(tenant)) : Count(**ts);
  if (!held.ok()) return held.status();
  if (*held >= limits_.max_per_tenant) {
    return Status::BadRequestData(fmt::format("the tenant already holds the maximum of {} subscriptions", limits_.max_per_tenant));
  }
  const std::string subject = OwnerOf(*stored);
  size_t& owned = owned_[OwnedKey(tenant, subject)];
  if (!subject.empty() && limits_.max_per_owner > 0 && owned >= limits_.max_per_owner) {
    return Status::PermissionDenied(fmt::format("'{}' already holds the maximum of {} subscriptions in tenant '{}'", subject,
                                                limits_.max_per_owner, tenant.empty() ? "default" : tenant));
  }
  CITYHUB_RETURN_IF_ERROR(Save(tenant, **ts, *stored, /*created=*/true));
  ++owned;
  return id;
}

Result<size_t> SubscriptionService::Count(store::TenantStore& ts) const {
  size_t n = 0;
  CITYHUB_RETURN_IF_ERROR(ts.ScanMeta(Key(""), [&](std::string_view, std::string_view) {
    ++n;
    return true;
  }));
  return n;
}

Result<json::object> SubscriptionService::Get(std::string_view tenant, std::string_view id) {
  auto ts = Tenant(store_, tenant, kind_, id);
  if (!ts.ok()) return ts.status();
  auto text = (*ts)->GetMeta(Key(id));
  if (!text.ok()) return text.status().IsNotFound() ? Unknown(kind_, id) : text.status();
  return Decode(*text);
}

Result<SubscriptionPage> SubscriptionService::List(std::string_view tenant, size_t offset, size_t limit) {
  SubscriptionPage page;
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status().IsNotFound() ? Result<SubscriptionPage>(std::move(page)) : ts.status();
  Status failure;
  Status st = (*ts)->ScanMeta(Key(""), [&](std::string_view, std::string_view value) {
    if (page.total++ >= offset && page.items.size() < limit) {
      auto s = Decode(value);
      if (!s.ok()) {
        failure = s.status();
        return false;
      }
      page.items.push_back(std::move(*s));
    }
    return true;
  });
  CITYHUB_RETURN_IF_ERROR(failure);
  CITYHUB_RETURN_IF_ERROR(st);
  return page;
}

Status SubscriptionService::Update(std::string_view tenant, std::string_view id, const json::object& fragment,
                                   const ngsild::Context& ctx, int64_t now_ms) {
  auto ts = Tenant(store_, tenant, kind_, id);
  if (!ts.ok()) return ts.status();
  std::lock_guard lock(write_mutex_);
  auto text = (*ts)->GetMeta(Key(id));
  if (!text.ok()) return text.status().IsNotFound() ? Unknown(kind_, id) : text.status();
  auto stored = Decode(*text);
  if (!stored.ok()) return stored.status();
  CITYHUB_RETURN_IF_ERROR(ngsild::PatchSubscription(*stored, fragment, ctx, now_ms, limits_, kind_));
  if (endpoints_) CITYHUB_RETURN_IF_ERROR(endpoints_->Check(*stored));
  return Save(tenant, **ts, *stored, /*created=*/false);
}

Status SubscriptionService::Delete(std::string_view tenant, std::string_view id) {
  auto ts = Tenant(store_, tenant, kind_, id);
  if (!ts.ok()) return ts.status();
  std::lock_guard lock(write_mutex_);
  auto text = (*ts)->GetMeta(Key(id));
  if (!text.ok()) return text.status().IsNotFound() ? Unknown(kind_, id) : text.status();
  CITYHUB_RETURN_IF_ERROR((*ts)->DeleteMeta(Key(id)));
  if (auto stored = Decode(*text); stored.ok()) {
    auto owned = owned_.find(OwnedKey(tenant, OwnerOf(*stored)));
    if (owned != owned_.end() && owned->second > 0) --owned->second;
  }
  if (matcher_) matcher_->Remove(tenant, id);
  if (on_delete_) on_delete_(tenant, id);
  return Status::Ok();
}

void SubscriptionService::SharedMetaChanged(std::string_view tenant, std::string_view key,
                                            const std::optional<std::string>& value) {
  const std::string_view id = key.substr(Key("").size());
  if (!value) {
    if (!matcher_->Find(tenant, id)) return;
    matcher_->Remove(tenant, id);
    if (on_delete_) on_delete_(tenant, id);
    return;
  }
  auto stored = Decode(*value);
  auto compiled = stored.ok() ? Compile(tenant, *stored) : Result<CompiledSubscriptionPtr>(stored.status());
  if (!compiled.ok()) {
    spdlog::warn("{} '{}' of tenant '{}' changed on another hub and cannot be used here: {}", NamesOf(kind_).noun,
                 id.substr(0, 200), tenant, compiled.status().message());
    return;
  }
  if (*compiled) matcher_->Put(tenant, std::move(*compiled));
}

namespace {
std::string StatusKey(std::string_view id, bool csource) {
  return fmt::format("{}{}", csource ? store::meta::kCsourceSubscriptionStatusPrefix : store::meta::kSubscriptionStatusPrefix, id);
}
constexpr char kLegacyCsourceMark = '\x1e';
}  // namespace

Status SubscriptionService::SaveDeliveryStatus(std::string_view tenant, std::string_view id, bool csource,
                                               std::string_view text) {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  return (*ts)->PutMeta(StatusKey(id, csource), text);
}

Status SubscriptionService::DeleteDeliveryStatus(std::string_view tenant, std::string_view id, bool csource) {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  return (*ts)->DeleteMeta(StatusKey(id, csource));
}

Result<std::string> SubscriptionService::LoadDeliveryStatus(std::string_view tenant, std::string_view id, bool csource) {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  return (*ts)->GetMeta(StatusKey(id, csource));
}

Status SubscriptionService::ScanDeliveryStatuses(
    std::string_view tenant, const std::function<void(std::string_view id, bool csource, std::string_view text)>& visit) {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  if (auto legacy = (*ts)->GetMeta(store::meta::kSubscriptionStatuses); legacy.ok()) {
    boost::system::error_code ec;
    json::value doc = util::ParseJson(*legacy, ec);
    if (!ec && doc.is_object()) {
      for (const auto& [key, status] : doc.get_object()) {
        const bool csource = !key.empty() && key[0] == kLegacyCsourceMark;
        const std::string k = StatusKey(std::string_view(key).substr(csource ? 1 : 0), csource);
        if ((*ts)->GetMeta(k).status().IsNotFound()) CITYHUB_RETURN_IF_ERROR((*ts)->PutMeta(k, util::SerializeJson(status)));
      }
    }
    CITYHUB_RETURN_IF_ERROR((*ts)->DeleteMeta(store::meta::kSubscriptionStatuses));
  }
  for (const bool csource : {false, true}) {
    const std::string_view prefix =
        csource ? store::meta::kCsourceSubscriptionStatusPrefix : store::meta::kSubscriptionStatusPrefix;
    CITYHUB_RETURN_IF_ERROR((*ts)->ScanMeta(prefix, [&](std::string_view key, std::string_view text) {
      visit(key.substr(prefix.size()), csource, text);
      return true;
    }));
  }
  return Status::Ok();
}

}  // namespace cityhub::broker
