#include "broker/write_access.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace cityhub::broker {

namespace {

class Anyone final : public WriteAccess {
 public:
  std::string_view subject() const override { return {}; }
  bool Unrestricted() const override { return true; }
  bool MayWrite(const Target&) const override { return true; }
  bool MayWriteAttribute(const Target&, std::string_view) const override { return true; }
  bool MayDelete(const Target&) const override { return true; }
};

bool Contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string_view TenantName(std::string_view tenant) { return tenant.empty() ? "default" : tenant; }

// The types in `a` that `b` lacks.
std::vector<std::string> Missing(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (const auto& t : a) {
    if (!Contains(b, t)) out.push_back(t);
  }
  return out;
}

// The attributes the write touches: those named, and those whose instances it changed.
std::set<std::string_view> Touched(const ngsild::Entity& before, const ngsild::Entity& after,
                                   const std::vector<std::string>& named) {
  std::set<std::string_view> out(named.begin(), named.end());
  if (&before == &after) return out;  // judging a request before its change: only what it names
  auto b = before.attrs.begin();
  auto a = after.attrs.begin();
  while (b != before.attrs.end() || a != after.attrs.end()) {
    if (a == after.attrs.end() || (b != before.attrs.end() && b->first < a->first)) {
      out.insert((b++)->first);
    } else if (b == before.attrs.end() || a->first < b->first) {
      out.insert((a++)->first);
    } else {
      if (b->second != a->second) out.insert(a->first);
      ++a;
      ++b;
    }
  }
  return out;
}

}  // namespace

const WriteAccess& AnyoneMayWrite() {
  static const Anyone kAnyone;
  return kAnyone;
}

Status AuthorizeWrite(const WriteAccess& w, std::string_view tenant, const ngsild::Entity* before,
                      const ngsild::Entity* after, const std::vector<std::string>& named) {
  if (w.Unrestricted() || (!before && !after)) return Status::Ok();
  const ngsild::Entity& e = before ? *before : *after;
  auto denied = [&](std::string_view what) {
    return Status::PermissionDenied(
        fmt::format("'{}' may not {} entity '{}' in tenant '{}'", w.subject(), what, e.id, TenantName(tenant)));
  };
  if (!after) {
    return w.MayDelete({before->id, before->types, before->owner}) ? Status::Ok() : denied("delete");
  }
  if (!before) {
    const WriteAccess::Target target{after->id, after->types, w.subject()};
    if (!w.MayWrite(target)) return denied("create");
    for (const auto& [attr, instances] : after->attrs) {
      if (!w.MayWriteAttribute(target, attr)) return denied(fmt::format("write attribute '{}' of new", attr));
    }
    return Status::Ok();
  }
  // An existing entity: judged on what is stored, never on what the request claims.
  const WriteAccess::Target stored{before->id, before->types, before->owner};
  if (!w.MayWrite(stored)) return denied("write");
  std::vector<std::string> changed_types = Missing(after->types, before->types);
  for (auto& t : Missing(before->types, after->types)) changed_types.push_back(std::move(t));
  for (const auto& t : changed_types) {
    const std::vector<std::string> one{t};
    if (!w.MayWrite({before->id, one, before->owner})) return denied(fmt::format("add or remove type '{}' of", t));
  }
  const WriteAccess::Target next{after->id, after->types, before->owner};
  for (std::string_view attr : Touched(*before, *after, named)) {
    if (!w.MayWriteAttribute(stored, attr) || (!changed_types.empty() && !w.MayWriteAttribute(next, attr))) {
      return denied(fmt::format("write attribute '{}' of", attr));
    }
  }
  return Status::Ok();
}

bool SystemWriteAccess::MayWrite(const Target& t) const {
  return std::any_of(t.types.begin(), t.types.end(), [&](const std::string& type) { return Contains(types_, type); });
}

bool SystemWriteAccess::MayWriteAttribute(const Target& t, std::string_view attr) const {
  return MayWrite(t) && (attrs_.empty() || Contains(attrs_, attr));
}

}  // namespace cityhub::broker
