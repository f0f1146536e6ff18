// The NGSI-LD core @context as a built-in table (internal to ngsild/): every term the core
// context defines, with the namespace its IRI lives in. context.cc builds its lookup maps from
// it once; nothing here allocates or does I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace cityhub::ngsild::core {

// Where a core term's IRI lives. kKeyword marks a keyword alias ("id" -> "@id").
enum class Namespace : uint8_t { kKeyword, kNgsiLd, kGeoJson, kDcTerms, kRdf };

// One core term: its IRI is NamespaceIri(ns) + name. The prefix terms themselves ("ngsi-ld",
// "geojson") have an empty name.
struct CoreTerm {
  std::string_view term;
  Namespace ns;
  std::string_view name;
};

// The IRI every name in `ns` is appended to ("@" for keywords).
std::string_view NamespaceIri(Namespace ns);

// All core terms, in no particular order; each term appears once.
std::span<const CoreTerm> CoreTerms();

// The full IRI (or keyword) a core term stands for.
inline std::string TermIri(const CoreTerm& t) {
  std::string iri(NamespaceIri(t.ns));
  iri += t.name;
  return iri;
}

}  // namespace cityhub::ngsild::core
