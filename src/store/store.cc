// Backend-neutral parts of the Store interface.
//
// A tenant name becomes a directory name (RocksDB) or a schema name (PostgreSQL), so the
// accepted alphabet is deliberately tiny: ASCII letters, digits, '_' and '-', 1..64 bytes, not
// starting with '-' (which a shell or CLI would read as an option). Nothing in it can form
// "..", a path separator, a NUL or a character whose meaning depends on an encoding, so no
// tenant name can ever reach outside its own directory. The empty name (the default tenant)
// is not a valid *name*: callers map it to the default tenant before asking.

#include "store/store.h"

namespace cityhub::store {

namespace {

constexpr size_t kMaxTenantNameLength = 64;

bool IsTenantNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

}  // namespace

bool ValidTenantName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTenantNameLength || name.front() == '-') return false;
  for (char c : name) {
    if (!IsTenantNameChar(c)) return false;
  }
  return true;
}

}  // namespace cityhub::store
