// ContextSource: one registered context source as a distributed operation sees it (GS CIM 009
// §4.3.6): where to send the request, in which mode the source was registered, and what of the
// request it holds. The registration matcher produces them from the context source
// registrations (§5.2.9) that match a request; the forwarding sends to them and merges their
// answers. Plain values: copy freely.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cityhub::broker {

// §4.3.6.2: how a registered source's data combines with the hub's own.
enum class RegistrationMode { kInclusive, kExclusive, kRedirect, kAuxiliary };

struct ContextSource {
  std::string registration_id;  // the registration's id: named in errors and in NGSILD-Warning
  std::string home_tenant;      // the hub's tenant that holds the registration ("" = default)
  // The registration's endpoint: the source's API root without "/ngsi-ld/v1"; a request is sent
  // to endpoint + "/ngsi-ld/v1/…".
  std::string endpoint;
  RegistrationMode mode = RegistrationMode::kInclusive;
  std::string tenant;  // the registration's tenant member: the tenant asked for at the source ("" = default)
  // The registration's contextSourceAlias (§5.2.9): the source's own alias, which a request's Via
  // names once the request has passed through that source (§6.3.18); "" = not given.
  std::string alias;
  // The registration's contextSourceInfo key-value pairs, in the order registered; the
  // forwarding decides which of them it sends and how (e.g. jsonldContext).
  std::vector<std::pair<std::string, std::string>> info;
  // What the matching information items cover for this request, as expanded IRIs; empty means
  // unrestricted (every type, every attribute).
  std::vector<std::string> entity_types;
  std::vector<std::string> attributes;  // propertyNames and relationshipNames together
  std::optional<std::chrono::milliseconds> timeout;   // management.timeout
  std::optional<std::chrono::milliseconds> cooldown;  // management.cooldown
};

// What a distributed operation asks of the registrations; every name expanded.
struct ContextSourceRequest {
  std::string operation;                // §4.20 operation name, e.g. "retrieveEntity", "queryEntity"
  std::vector<std::string> entity_ids;  // empty: any
  std::string id_pattern;               // "": none
  std::vector<std::string> entity_types;  // empty: any
  std::vector<std::string> attributes;    // empty: all
};

// ContextSourceDirectory: the registered sources a request is to be sent to.
// Implementations are thread-safe.
class ContextSourceDirectory {
 public:
  virtual ~ContextSourceDirectory() = default;
  // The sources of `tenant` whose registrations match `request` (§4.3.6.3, §5.12): active, not
  // expired, offering the operation, overlapping the entities and attributes asked. Empty when
  // none match or the tenant has no registrations.
  virtual std::vector<ContextSource> Match(std::string_view tenant, const ContextSourceRequest& request) const = 0;
};

}  // namespace cityhub::broker
