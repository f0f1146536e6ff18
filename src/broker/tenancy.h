// Tenancy: how the broker's use cases reach a tenant's store (the NGSILD-Tenant header, §6.3.14).
// "" is the default tenant; other names are validated here so no use case can skip it.
// Thread-safe.
#pragma once

#include <string_view>

#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

// The tenant's store. With `create`, makes an unknown tenant; without, NotFound naming it.
// BadRequestData for an invalid name.
Result<store::TenantStore*> OpenTenant(store::Store& store, std::string_view tenant, bool create);

}  // namespace cityhub::broker
