// JSON-LD @context handling for NGSI-LD (GS CIM 009 §5.5.7, §6.3.5; JSON-LD 1.1 term rules the
// spec relies on): a Context maps short terms to IRIs for expanding type and attribute names
// on input and compacting them on output. The NGSI-LD core context is built in (core_context.cc,
// written from the spec's term list) and always applies last, so its terms cannot be redefined.
//
// ContextResolver turns a request's @context (inline object, URL, or array of both; from the
// body or the Link header) into a Context: URLs are looked up in the registry of hosted
// contexts (/jsonldContexts), then the preload folder, then a cache of downloaded contexts,
// and only then fetched with a short timeout (public addresses only, a few at a time).
// Resolved contexts are cached by their JSON text.
//
// Tenants. An inline or array @context is kept as an ImplicitlyCreated document of the tenant
// whose request sent it: resolutions in that tenant use it and /jsonldContexts shows it there,
// while for every other tenant it does not exist (its terms and use are that tenant's business;
// GS CIM 009 takes the NGSILD-Tenant header on every @context operation). So are Hosted and
// Cached ones (a download is shared internally, its record is not); preloaded and core: all.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "net/address_policy.h"
#include "util/status.h"

namespace cityhub::ngsild {

// The canonical core context URL this hub announces (v1.8), and the default vocabulary that
// expands terms no context defines.
inline constexpr std::string_view kCoreContextUrl =
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld";
inline constexpr std::string_view kDefaultVocab = "https://uri.etsi.org/ngsi-ld/default-context/";

// True for any published core context URL (versioned or not, e.g. ngsi-ld-core-context.jsonld,
// ngsi-ld-core-context-v1.3.jsonld … -v1.9.jsonld), which all resolve to the built-in one.
bool IsCoreContextUrl(std::string_view url);

// An immutable, resolved context. Cheap to share between threads.
class Context {
 public:
  // Expands a type or attribute name: a defined term -> its IRI; "prefix:suffix" with a defined
  // prefix -> prefix IRI + suffix; an absolute IRI ("scheme:…" not a defined prefix) -> itself;
  // any other term -> @vocab + term. The core context applies last (§5.5.7), so core terms win
  // over user definitions and @vocab is always the core one, kDefaultVocab.
  std::string ExpandTerm(std::string_view term) const;
  // Compacts an IRI: the term mapping to it if any (a core term first; else the shortest, then
  // lexicographically least, for determinism); else the name relative to kDefaultVocab if that
  // expands back to it; else a compact IRI with a defined prefix; else the IRI unchanged.
  // CompactIri(ExpandTerm(t)) == t for every term t defined in the context.
  std::string CompactIri(std::string_view iri) const;
  // Expands a value of a VocabularyProperty (terms that the context defines; else unchanged
  // if absolute, else @vocab + value).
  std::string ExpandVocabValue(std::string_view value) const { return ExpandTerm(value); }

  // The @context value to send back to clients for this context (a URL string, or an array of
  // URLs/objects as the client gave it, core context URL included).
  const boost::json::value& AsJson() const;
  // The one URL a Link header can carry for this context: the URL the client gave, or for an
  // inline object or an array, the URL of the ImplicitlyCreated copy the resolver keeps.
  const std::string& LinkUrl() const;

  struct Impl;
  explicit Context(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};
using ContextPtr = std::shared_ptr<const Context>;

// A context document kept by the hub, as listed by GET /jsonldContexts?details=true.
struct StoredContext {
  enum class Kind { kHosted, kCached, kImplicitlyCreated };
  std::string id;          // local identifier (used in /jsonldContexts/{id})
  std::string url;         // the URL clients use for it
  Kind kind = Kind::kHosted;
  std::string document;    // the JSON text of the context document ({"@context": …})
  int64_t created_at_ms = 0;
  int64_t last_used_ms = 0;
  uint64_t number_of_hits = 0;
  // The tenant whose request registered, sent or (Cached) caused the download of it ("" =
  // default), the only one it is seen in; each tenant has its own record of a Cached URL.
  std::string tenant;
};

// Where hosted contexts persist across restarts (the app backs it by store metadata).
struct ContextPersistence {
  std::function<Status(const StoredContext&)> save;
  std::function<Status(std::string_view id)> remove;
  std::function<Status(const std::function<void(StoredContext)>&)> load_all;
};

struct ContextResolverOptions {
  std::string preload_dir;             // folder with index.json mapping URL -> file ("" = none)
  std::chrono::milliseconds fetch_timeout{2000};  // whole remote fetch (connect + read)
  size_t max_document_bytes = 1 << 20;
  std::chrono::seconds cache_ttl{3600};           // downloaded contexts are refreshed after this
  bool allow_remote_fetch = true;
  // Where downloads may connect (null: public addresses only), so that clients cannot make the
  // hub reach into its own network (SSRF).
  std::shared_ptr<const net::AddressPolicy> outbound;
  // Distinct downloads at a time (and twice as many requests waiting on downloads); beyond
  // that a resolution fails at once with LdContextNotAvailable, keeping handler threads free.
  size_t max_concurrent_fetches = 4;
  // Largest serialized inline or array @context (BadRequestData beyond). Downloaded and hosted
  // documents are bounded by max_document_bytes instead.
  size_t max_inline_context_bytes = 64 << 10;
  // Memory budgets: ImplicitlyCreated documents kept, and resolved contexts cached (estimated
  // from their text and terms); the oldest / least recently used are evicted beyond them.
  size_t max_implicit_bytes = 64 << 20;
  size_t max_resolved_cache_bytes = 64 << 20;
  // The base URL under which hosted contexts are served, e.g. "http://127.0.0.1:1026".
  std::string public_base_url = "http://127.0.0.1:1026";
};

class ContextResolver {
 public:
  static constexpr size_t kMaxImplicitContexts = 1000;
  // Longest @context URL accepted (BadRequestData beyond).
  static constexpr size_t kMaxContextUrlBytes = 2048;

  ContextResolver(ContextResolverOptions options, ContextPersistence persistence);
  ~ContextResolver();

  // Loads persisted hosted contexts and the preload folder. Errors name the bad file.
  Status Init();

  // The built-in core context alone.
  ContextPtr Core() const;
  // Resolves an @context value (string, object or array). Returns LdContextNotAvailable when a
  // URL cannot be had (naming it: a non-http(s) scheme, remote fetching off, the fetch failed or
  // too many are in progress), InvalidRequest/BadRequestData when the context is malformed, a
  // URL is not absolute or longer than kMaxContextUrlBytes, or an inline @context is larger than
  // max_inline_context_bytes. An object or array is kept as an ImplicitlyCreated context of
  // `tenant` (in memory, the most recent kMaxImplicitContexts within max_implicit_bytes), served
  // at its own URL so responses can link to it. A URL of another tenant's ImplicitlyCreated
  // context is not found here (so it is downloaded, like any URL the hub does not hold).
  Result<ContextPtr> Resolve(const boost::json::value& context, std::string_view tenant = {});
  // Resolves the URL of a Link header's rel="http://www.w3.org/ns/json-ld#context".
  Result<ContextPtr> ResolveUrl(std::string_view url, std::string_view tenant = {});
  // True when ResolveUrl(url, tenant) would answer from the resolutions held in memory, without a
  // download: for callers that must not wait on the network.
  bool ResolvedWithoutFetch(std::string_view url, std::string_view tenant = {});

  // /jsonldContexts management (GS CIM 009 §5.13). Add stores a hosted context document
  // (object with "@context") of `tenant` and returns it with its id and URL; InvalidRequest if
  // malformed.
  Result<StoredContext> AddHosted(const boost::json::value& document, std::string_view tenant = {});
  // Each of these sees the Hosted, ImplicitlyCreated and Cached contexts of `tenant` ("" = the
  // default tenant); a Cached one is found by its id or by its URL.
  // Lists stored contexts, optionally filtered by kind.
  std::vector<StoredContext> List(std::optional<StoredContext::Kind> kind, std::string_view tenant = {}) const;
  // Returns NotFound if absent.
  Result<StoredContext> Get(std::string_view id, std::string_view tenant = {}) const;
  // Deletes a stored context (reload=true re-fetches a cached one instead).
  // NotFound if absent; BadRequestData when asked to reload one that is not downloaded.
  Status Remove(std::string_view id, bool reload, std::string_view tenant = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityhub::ngsild
