// EntityView: what one caller may see of a tenant's entities — the access rules and privacy
// treatment of the principal a request or a subscription acts for (implemented by the api
// layer from security/policy.h and security/privacy.h). The broker applies it wherever
// entities leave it: queries decide visibility and evaluate q, geo-queries, scopeQ and `attrs`
// on the redacted entity, so that neither the page nor the count nor a filter reveals what the
// caller may not read; temporal reads show each instance as its attribute is shown.
// Implementations are immutable and thread-safe.
#pragma once

#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "ngsild/entity.h"

namespace cityhub::broker {

class EntityView {
 public:
  enum class Shown { kClear, kPseudonym, kHidden };

  virtual ~EntityView() = default;
  // Whether the caller may see the entity at all (`owner` "" when unknown).
  virtual bool Visible(std::string_view id, const std::vector<std::string>& types, std::string_view owner) const = 0;
  // How an attribute of a visible entity is shown.
  virtual Shown AttributeShown(std::string_view id, const std::vector<std::string>& types, std::string_view owner,
                               std::string_view attr) const = 0;
  // Replaces the value of an instance by its pseudonym (stable per tenant and value); false if
  // the instance cannot be pseudonymised (a geometry) and must be left out.
  virtual bool Pseudonymise(ngsild::Instance& instance) const = 0;
  // True if some values may be shown as pseudonyms: then an index of the stored values cannot
  // narrow a query's candidates (a filter must see what the caller sees). Hiding attributes or
  // entities needs no such care: it only removes matches.
  virtual bool ChangesValues() const = 0;
  // True if every attribute is shown in clear (nothing to redact).
  virtual bool ShowsEverything(std::string_view id, const std::vector<std::string>& types,
                               std::string_view owner) const = 0;

  bool Visible(const ngsild::Entity& e) const { return Visible(e.id, e.types, e.owner); }
  // Removes or pseudonymises what the caller may not read of a visible entity.
  void Redact(ngsild::Entity& e) const {
    if (ShowsEverything(e.id, e.types, e.owner)) return;
    for (auto it = e.attrs.begin(); it != e.attrs.end();) {
      switch (AttributeShown(e.id, e.types, e.owner, it->first)) {
        case Shown::kClear:
          ++it;
          break;
        case Shown::kPseudonym: {
          bool kept = true;
          for (auto& inst : it->second) kept = kept && Pseudonymise(inst);
          it = kept ? std::next(it) : e.attrs.erase(it);
          break;
        }
        case Shown::kHidden:
          it = e.attrs.erase(it);
          break;
      }
    }
  }
};

}  // namespace cityhub::broker
