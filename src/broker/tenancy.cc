#include "broker/tenancy.h"

#include <fmt/format.h>

namespace cityhub::broker {

Result<store::TenantStore*> OpenTenant(store::Store& store, std::string_view tenant, bool create) {
  if (!tenant.empty() && !store::ValidTenantName(tenant)) {
    return Status::BadRequestData(
        "tenant name must be 1-64 characters of letters, digits, '_' and '-', not starting with '-'");
  }
  auto ts = store.Tenant(tenant, create);
  if (!ts.ok() && ts.status().IsNotFound()) {
    return Status::NotFound(fmt::format("tenant '{}' does not exist", tenant));
  }
  return ts;
}

}  // namespace cityhub::broker
