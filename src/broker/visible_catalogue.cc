#include "broker/visible_catalogue.h"

#include <algorithm>

#include "broker/tenancy.h"
#include "ngsild/entity.h"

namespace cityhub::broker {
namespace {

// Adds a visible entity, as `view` shows it, to `out`.
void Add(ngsild::Entity& e, const EntityView& view, VisibleCatalogue& out) {
  view.Redact(e);  // hidden attributes and unpseudonymisable instances go
  for (const auto& type : e.types) ++out.types[type].entities;
  for (const auto& [name, instances] : e.attrs) {
    VisibleAttribute& attr = out.attributes[name];
    ++attr.entities;
    attr.types.insert(e.types.begin(), e.types.end());
    for (const auto& inst : instances) {
      const std::string kind(ngsild::AttrTypeName(ngsild::AttrTypeOf(inst)));
      attr.attr_types.insert(kind);
      for (const auto& type : e.types) out.types[type].attributes[name].insert(kind);
    }
  }
}

}  // namespace

Result<VisibleCatalogue> CatalogueScanner::Scan(std::string_view tenant, const std::vector<std::string>& types,
                                                const EntityView& view, bool presence_only,
                                                std::string_view carrying) const {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  VisibleCatalogue out;
  if (types.empty()) return out;
  auto has = [](const std::vector<std::string>& list, std::string_view t) {
    return std::find(list.begin(), list.end(), t) != list.end();
  };
  Status failure;
  auto visit = [&](const store::EntityRecord& rec) {
    if (!carrying.empty() && !has(rec.types, carrying)) return true;
    if (presence_only &&
        std::all_of(rec.types.begin(), rec.types.end(), [&](const std::string& t) { return out.types.contains(t); })) {
      return true;  // nothing new to learn from it: not even read
    }
    auto e = ngsild::DeserializeEntity(rec.document);
    if (!e.ok()) {
      failure = e.status();
      return false;
    }
    if (view.Visible(*e)) Add(*e, view, out);
    return true;
  };
  store::ScanOptions scan;
  scan.types = types;
  CITYHUB_RETURN_IF_ERROR((*ts)->Scan(scan, visit));
  CITYHUB_RETURN_IF_ERROR(failure);
  return out;
}

}  // namespace cityhub::broker
