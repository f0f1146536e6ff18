// RoleDirectory: the roles each token subject presented last — recorded when a token is first
// verified, so once per token — so that what a subject left running (its subscriptions) follows
// the roles its identity provider gives it now, not those it held when it set them up. When two
// valid tokens of one subject carry different roles, the one verified last counts. In memory
// only: after a restart, what was stored with the subscription counts until the subject's next
// token. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "security/principal.h"

namespace cityhub::security {

class RoleDirectory {
 public:
  // Records `p`'s roles for its subject (a change moves generation()).
  void Note(const Principal& p) {
    {
      std::shared_lock read(mutex_);
      auto it = roles_.find(p.subject);
      if (it != roles_.end() && it->second == p.roles) return;
    }
    std::unique_lock write(mutex_);
    roles_[p.subject] = p.roles;
    generation_.fetch_add(1, std::memory_order_release);
  }
  // The roles `subject` presented last, or nullopt if it has presented none since the start.
  std::optional<std::vector<std::string>> RolesOf(std::string_view subject) const {
    std::shared_lock read(mutex_);
    auto it = roles_.find(subject);
    if (it == roles_.end()) return std::nullopt;
    return it->second;
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::vector<std::string>, std::less<>> roles_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace cityhub::security
