// Backend-neutral parts of the Store interface.
//
// A tenant name becomes a directory name (RocksDB) or a schema name (PostgreSQL), so the
// accepted alphabet is deliberately tiny: ASCII letters, digits, '_' and '-', 1..64 bytes, not
// starting with '-' (which a shell or CLI would read as an option). Nothing in it can form
// "..", a path separator, a NUL or a character whose meaning depends on an encoding, so no
// tenant name can ever reach outside its own directory. The empty name (the default tenant)
// is not a valid *name*: callers map it to the default tenant before asking.

#include "store/store.h"

#include <algorithm>

#include <fmt/format.h>

namespace cityhub::store {

namespace {

constexpr size_t kMaxTenantNameLength = 64;

bool IsTenantNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

Status ValidateName(std::string_view what, std::string_view id, std::string_view name) {
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    return Status::BadRequestData(
        fmt::format("entity '{}': {} name must be non-empty and contain no NUL", id, what));
  }
  return Status::Ok();
}

}  // namespace

bool ValidTenantName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTenantNameLength || name.front() == '-') return false;
  for (char c : name) {
    if (!IsTenantNameChar(c)) return false;
  }
  return true;
}

Status ValidateWriteSet(const WriteSet& ws) {
  for (const auto& record : ws.puts) {
    if (record.id.empty()) return Status::BadRequestData("entity id must be non-empty");
    if (record.id.size() > kMaxIdBytes) {
      return Status::BadRequestData(fmt::format("entity id is longer than {} bytes", kMaxIdBytes));
    }
    std::vector<std::string_view> keys;
    for (const auto& term : record.terms) {
      if (term.key.empty() || term.key.size() > kMaxTermBytes || term.payload.size() > kMaxTermPayloadBytes) {
        return Status::Internal(fmt::format("entity '{}': index term of {} bytes with a payload of {} bytes",
                                            record.id, term.key.size(), term.payload.size()));
      }
      keys.push_back(term.key);
    }
    std::sort(keys.begin(), keys.end());
    if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) {
      return Status::Internal(fmt::format("entity '{}': duplicate index term", record.id));
    }
    for (const auto& type : record.types) {
      CITYHUB_RETURN_IF_ERROR(ValidateName("type", record.id, type));
    }
    for (const auto& attr : record.attributes) {
      CITYHUB_RETURN_IF_ERROR(ValidateName("attribute", record.id, attr));
    }
  }
  for (const auto& append : ws.history) {
    if (append.entity_id.empty() || append.entity_id.find('\0') != std::string::npos) {
      return Status::BadRequestData("history of an entity id that is empty or holds NUL");
    }
    CITYHUB_RETURN_IF_ERROR(ValidateName("attribute", append.entity_id, append.attr));
  }
  for (const auto& header : ws.history_entities) {
    if (header.entity_id.empty()) return Status::BadRequestData("history header of an empty entity id");
  }
  return Status::Ok();
}

}  // namespace cityhub::store
