#include "broker/visible_catalogue.h"

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
                                                const EntityView& view, bool presence_only) const {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  VisibleCatalogue out;
  Status failure;
  auto visit = [&](const store::EntityRecord& rec) {
    auto e = ngsild::DeserializeEntity(rec.document);
    if (!e.ok()) {
      failure = e.status();
      return false;
    }
    if (!view.Visible(*e)) return true;
    Add(*e, view, out);
    return !presence_only;
  };
  std::vector<std::vector<std::string>> passes;
  if (presence_only) {
    for (const auto& t : types) passes.push_back({t});
  } else {
    passes.push_back(types);
  }
  for (auto& pass : passes) {
    if (pass.empty() || (presence_only && out.types.contains(pass[0]))) continue;
    store::ScanOptions scan;
    scan.types = std::move(pass);
    CITYHUB_RETURN_IF_ERROR((*ts)->Scan(scan, visit));
    CITYHUB_RETURN_IF_ERROR(failure);
  }
  return out;
}

}  // namespace cityhub::broker
