// Glue between AddressPolicy and Asio for the clients built on Asio (@context and JWKS
// downloads, HTTP notifications): converts addresses and picks, from a name's resolved
// endpoints, those the policy allows — the only ones such a client may connect to.
// Header-only; included by those clients' .cc files only, to keep Asio out of other units.
#pragma once

#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "net/address_policy.h"

namespace cityhub::net {

inline IpAddress FromAsio(const boost::asio::ip::address& a) {
  if (a.is_v4()) return IpAddress::V4(a.to_v4().to_bytes());
  return IpAddress::V6(a.to_v6().to_bytes());
}

// The endpoints of `resolved` (any range of entries with endpoint()) the policy allows, in the
// resolver's order. Empty when it allows none: the caller then fails with kAddressRefused
// without connecting anywhere.
template <class ResolverResults>
std::vector<boost::asio::ip::tcp::endpoint> AllowedEndpoints(const AddressPolicy& policy,
                                                            const ResolverResults& resolved) {
  std::vector<boost::asio::ip::tcp::endpoint> out;
  for (const auto& entry : resolved) {
    if (policy.Allows(FromAsio(entry.endpoint().address()))) out.push_back(entry.endpoint());
  }
  return out;
}

}  // namespace cityhub::net
