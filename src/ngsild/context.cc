/* JSON-LD @context resolution and term expansion/compaction for NGSI-LD.
 *
 * Every NGSI-LD request carries a context (or implies the core one), so resolution sits on the
 * hot path. The design keeps the common cases to one hash lookup:
 *
 *  - A request without a context gets the shared core Context; nothing is parsed or copied.
 *  - Any other @context value is serialized and looked up in an LRU cache of resolved Contexts,
 *    so a client sending the same Link header or inline context again costs one serialization
 *    and one lookup. An entry remembers which stored documents it was built from
 *    (to count their hits) and when the earliest downloaded one expires (to be rebuilt then).
 *    Removing or reloading a stored document clears the cache: that is rare, resolving is not.
 *
 * A resolved Context keeps only the user's terms. The core terms live in one static index built
 * from core_context.cc and are consulted first, which is exactly "the core context is applied
 * last and wins" (GS CIM 009 §5.5.7) without copying ~200 core terms into every Context. The
 * core @vocab wins too, so a user "@vocab" has no effect: unknown terms always expand under
 * kDefaultVocab, as every conformant broker appending the core context does.
 *
 * Term definitions follow the JSON-LD 1.1 rules that matter for NGSI-LD: string or expanded
 * ({"@id"}) definitions, null to undefine, keyword aliases, compact IRIs whose prefix is defined
 * in the same or an earlier context (or is a core prefix such as "ngsi-ld:"), vocabulary-relative
 * values, and cycle detection while a local context is being defined. Everything about values
 * (@type coercion, @container) is ignored here: the entity model applies NGSI-LD's own rules.
 * "@import" is rejected rather than silently ignored, since ignoring it would change meanings.
 *
 * URLs are looked up in a fixed order: core (built in), hosted (/jsonldContexts), the preload
 * folder, downloaded documents still within their TTL, then a fetch through ContextFetcher.
 * Concurrent resolutions of the same uncached URL share one fetch; a failed fetch is remembered
 * briefly so a dead server costs one timeout, not one per request; an expired document whose
 * refresh fails keeps being served. Per resolution at most kMaxUrls URLs are followed (nested
 * ones included) and nesting is bounded, so a context cannot make the hub fetch without end.
 *
 * Everything here is driven by clients, so every structure that grows with what they send is
 * bounded, and in bytes where the entries can be large:
 *
 *  - A URL must be http(s) and at most kMaxContextUrlBytes long; this is checked before any
 *    lookup, so a rejected URL costs neither cache space nor a fetch. Other schemes (urn:…) are
 *    well-formed but cannot be retrieved, hence LdContextNotAvailable; a relative, malformed or
 *    overlong one is BadRequestData.
 *  - An inline or array @context may serialize to at most max_inline_context_bytes. Kept
 *    ImplicitlyCreated documents and resolved Contexts each have a byte budget (and a count
 *    cap), oldest / least recently used evicted first. A document's charge is twice its text (the
 *    text plus its parsed tree), a resolution's its key plus its term maps. To keep one copy of
 *    each, an ImplicitlyCreated document is indexed by a view into its own text, and shares its
 *    parsed tree with the Context that echoes it.
 *  - Remembered failures are at most kMaxRememberedFailures; expired ones go first, then the
 *    oldest.
 *  - A fetch blocks its caller's thread (the request handler) for up to fetch_timeout, so at most
 *    max_concurrent_fetches distinct downloads run, and at most twice as many callers wait on
 *    downloads at all; beyond that a resolution fails at once with LdContextNotAvailable instead
 *    of taking another handler thread away from everything else. Such a refusal says nothing
 *    about the URL and is not remembered.
 *
 * ImplicitlyCreated documents belong to the tenant whose request made them (context.h), so the
 * resolution cache is keyed by tenant and text: a tenant's resolution may link to or use its own
 * ImplicitlyCreated documents, which no other tenant's may. The price is one cached resolution
 * per tenant of a URL several tenants use — a hub has few tenants.
 */
#include "ngsild/context.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <fstream>
#include <future>
#include <list>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <unordered_map>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "ngsild/context_fetch.h"
#include "ngsild/core_context.h"
#include "util/string_map.h"
#include "util/time.h"

namespace cityhub::ngsild {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxUrls = 32;
constexpr int kMaxNestingDepth = 8;
constexpr size_t kResolvedCacheCapacity = 1024;
constexpr auto kFailedFetchRetryAfter = std::chrono::seconds(5);
constexpr size_t kMaxRememberedFailures = 1000;
constexpr std::string_view kHostedPath = "/ngsi-ld/v1/jsonldContexts/";
// An ImplicitlyCreated document's text is `{"@context":` + the serialized context + `}`.
constexpr std::string_view kDocumentPrefix = R"({"@context":)";
// Charged per term definition on top of its text: map nodes and string headers, twice (the term
// map and its reverse index).
constexpr size_t kTermOverheadBytes = 128;

using util::StringMap;
using TermMap = StringMap<std::string>;

bool IsKeyword(std::string_view iri) { return iri.starts_with('@'); }

// The JSON-LD keywords a term may alias.
bool IsAliasableKeyword(std::string_view s) {
  static constexpr std::string_view kKeywords[] = {
      "@id",    "@type",  "@value", "@language", "@list",     "@set",     "@graph",
      "@index", "@json",  "@none",  "@nest",     "@included", "@reverse", "@direction",
      "@vocab"};
  return std::find(std::begin(kKeywords), std::end(kKeywords), s) != std::end(kKeywords);
}

// Among terms mapping to one IRI, the shorter one is preferred, then the lexicographically least.
bool PreferredTerm(std::string_view a, std::string_view b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

// A term may stand for a prefix on output when its IRI ends with a URI gen-delim character.
bool IsPrefixIri(std::string_view iri) {
  return !iri.empty() && std::string_view(":/?#[]@").find(iri.back()) != std::string_view::npos;
}

// One layer of term definitions with the reverse indexes compaction needs.
struct TermIndex {
  TermMap terms;                                          // term -> IRI
  TermMap preferred;                                      // IRI -> preferred term
  std::vector<std::pair<std::string, std::string>> prefixes;  // (IRI, term), longest IRI first

  explicit TermIndex(TermMap t) : terms(std::move(t)) {
    for (const auto& [term, iri] : terms) {
      auto [it, inserted] = preferred.try_emplace(iri, term);
      if (!inserted && PreferredTerm(term, it->second)) it->second = term;
      if (IsPrefixIri(iri) && !IsKeyword(iri) && term.find(':') == std::string::npos) {
        prefixes.emplace_back(iri, term);
      }
    }
    std::sort(prefixes.begin(), prefixes.end(), [](const auto& a, const auto& b) {
      if (a.first.size() != b.first.size()) return a.first.size() > b.first.size();
      return PreferredTerm(a.second, b.second);
    });
  }

  const std::string* Find(std::string_view term) const {
    auto it = terms.find(term);
    return it == terms.end() ? nullptr : &it->second;
  }
};

const TermIndex& CoreIndex() {
  static const TermIndex index([] {
    TermMap terms;
    for (const core::CoreTerm& t : core::CoreTerms()) terms.emplace(t.term, core::TermIri(t));
    return terms;
  }());
  return index;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Context

struct Context::Impl {
  TermIndex user;  // the user's terms; core terms are never in here
  std::shared_ptr<const json::value> echo;  // shared with an ImplicitlyCreated document
  std::string link_url;

  Impl(TermMap user_terms, std::shared_ptr<const json::value> as_given, std::string link)
      : user(std::move(user_terms)), echo(std::move(as_given)), link_url(std::move(link)) {}

  const std::string* Find(std::string_view term) const {
    if (const std::string* iri = CoreIndex().Find(term)) return iri;
    return user.Find(term);
  }
};

Context::Context(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

std::string Context::ExpandTerm(std::string_view term) const {
  if (const std::string* iri = impl_->Find(term)) return *iri;
  if (IsKeyword(term)) return std::string(term);
  size_t colon = term.find(':');
  if (colon == std::string_view::npos) return fmt::format("{}{}", kDefaultVocab, term);
  std::string_view suffix = term.substr(colon + 1);
  if (!suffix.starts_with("//")) {
    const std::string* base = impl_->Find(term.substr(0, colon));
    if (base && !IsKeyword(*base)) return *base + std::string(suffix);
  }
  return std::string(term);
}

std::string Context::CompactIri(std::string_view iri) const {
  for (const TermIndex* layer : {&CoreIndex(), &impl_->user}) {
    auto it = layer->preferred.find(iri);
    if (it != layer->preferred.end()) return it->second;
  }
  if (iri.starts_with(kDefaultVocab)) {
    std::string_view suffix = iri.substr(kDefaultVocab.size());
    if (!suffix.empty() && ExpandTerm(suffix) == iri) return std::string(suffix);
  }
  const std::pair<std::string, std::string>* best = nullptr;
  for (const TermIndex* layer : {&CoreIndex(), &impl_->user}) {
    for (const auto& prefix : layer->prefixes) {
      if (prefix.first.size() >= iri.size() || !iri.starts_with(prefix.first)) continue;
      if (!best || prefix.first.size() > best->first.size()) best = &prefix;
      break;  // prefixes are sorted longest first
    }
  }
  if (best) {
    std::string compact = fmt::format("{}:{}", best->second, iri.substr(best->first.size()));
    if (ExpandTerm(compact) == iri) return compact;
  }
  return std::string(iri);
}

const boost::json::value& Context::AsJson() const { return *impl_->echo; }
const std::string& Context::LinkUrl() const { return impl_->link_url; }

namespace {

// Checks a @context URL before anything looks it up (see the top comment).
Status CheckContextUrl(std::string_view url) {
  if (url.empty()) return Status::InvalidRequest("@context URL is empty");
  if (url.size() > ContextResolver::kMaxContextUrlBytes) {
    return Status::BadRequestData(fmt::format("@context URL is longer than {} bytes",
                                              ContextResolver::kMaxContextUrlBytes));
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    return Status::BadRequestData(fmt::format("@context '{}' is not an absolute URL", url));
  }
  if (parsed->scheme_id() != boost::urls::scheme::http &&
      parsed->scheme_id() != boost::urls::scheme::https) {
    return Status::LdContextNotAvailable(fmt::format(
        "cannot retrieve @context '{}': only http and https URLs can be retrieved", url));
  }
  if (parsed->encoded_host().empty()) {
    return Status::BadRequestData(fmt::format("@context '{}' has no host", url));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// ContextBuilder: turns an @context value into the user's term map.

// Returns the "@context" value of the document at a URL.
using DocumentLoader =
    std::function<Result<std::shared_ptr<const json::value>>(std::string_view url)>;

class ContextBuilder {
 public:
  explicit ContextBuilder(DocumentLoader load) : load_(std::move(load)) {}

  // Applies `context` (URL, object, array or null) on top of what was processed so far.
  Status Process(const json::value& context, int depth) {
    if (depth > kMaxNestingDepth) {
      return Status::InvalidRequest(
          fmt::format("@context is nested more than {} levels deep", kMaxNestingDepth));
    }
    switch (context.kind()) {
      case json::kind::null:
        terms_.clear();
        return Status::Ok();
      case json::kind::string:
        return ProcessUrl(context.get_string(), depth);
      case json::kind::object:
        return ProcessLocal(context.get_object(), depth);
      case json::kind::array:
        for (const json::value& item : context.get_array()) {
          CITYHUB_RETURN_IF_ERROR(Process(item, depth + 1));
        }
        return Status::Ok();
      default:
        return Status::InvalidRequest(
            "@context must be a URL, an object or an array of URLs and objects");
    }
  }

  // The user's terms, minus those the core context defines (the core applies last and wins).
  TermMap TakeTerms() && {
    for (const core::CoreTerm& t : core::CoreTerms()) {
      auto it = terms_.find(t.term);
      if (it != terms_.end()) terms_.erase(it);
    }
    return std::move(terms_);
  }

 private:
  // One local context object being defined, with JSON-LD's "defined" map: false while a term's
  // definition is in progress (seeing it again is a cycle), true once done.
  struct Local {
    const json::object& definitions;
    std::unordered_map<std::string_view, bool> defined;
  };

  Status ProcessUrl(std::string_view url, int depth) {
    CITYHUB_RETURN_IF_ERROR(CheckContextUrl(url));
    if (IsCoreContextUrl(url)) return Status::Ok();
    if (++urls_ > kMaxUrls) {
      return Status::InvalidRequest(
          fmt::format("@context refers to more than {} URLs (nested ones included)", kMaxUrls));
    }
    if (std::find(open_urls_.begin(), open_urls_.end(), url) != open_urls_.end()) {
      return Status::InvalidRequest(fmt::format("@context '{}' includes itself", url));
    }
    Result<std::shared_ptr<const json::value>> document = load_(url);
    if (!document.ok()) return document.status();
    open_urls_.emplace_back(url);
    Status status = Process(**document, depth + 1);
    open_urls_.pop_back();
    if (status.ok() || status.code() == Status::Code::kLdContextNotAvailable) return status;
    return Status(status.code(), fmt::format("in @context '{}': {}", url, status.message()));
  }

  Status ProcessLocal(const json::object& object, int depth) {
    if (const json::value* nested = object.if_contains("@context")) {
      return Process(*nested, depth + 1);
    }
    if (object.contains("@import")) {
      return Status::InvalidRequest("@context: '@import' is not supported");
    }
    Local local{object, {}};
    for (const auto& member : object) {
      // @version, @protected, @propagated, @vocab, @base, @language…: nothing to map here.
      if (IsKeyword(member.key())) continue;
      CITYHUB_RETURN_IF_ERROR(Define(local, member.key()));
    }
    return Status::Ok();
  }

  Status Define(Local& local, std::string_view term) {
    if (term.empty()) return Status::InvalidRequest("@context defines an empty term");
    auto [it, first_visit] = local.defined.try_emplace(term, false);
    bool& done = it->second;  // element references survive rehashing
    if (!first_visit) {
      if (done) return Status::Ok();
      return Status::InvalidRequest(fmt::format("@context term '{}': cyclic IRI mapping", term));
    }
    Result<std::string> iri = DefinitionIri(local, term, local.definitions.at(term));
    if (!iri.ok()) return iri.status();
    if (iri->empty()) {
      auto existing = terms_.find(term);
      if (existing != terms_.end()) terms_.erase(existing);
    } else {
      terms_.insert_or_assign(std::string(term), std::move(*iri));
    }
    done = true;
    return Status::Ok();
  }

  // The IRI (or keyword) a definition maps its term to; "" for a null mapping.
  Result<std::string> DefinitionIri(Local& local, std::string_view term,
                                    const json::value& definition) {
    if (definition.is_null()) return std::string();
    if (definition.is_string()) return ExpandIri(local, term, definition.get_string());
    if (!definition.is_object()) {
      return Status::InvalidRequest(fmt::format(
          "@context term '{}': definition must be a string, an object or null", term));
    }
    const json::object& expanded = definition.get_object();
    for (std::string_view key : {"@id", "@reverse"}) {
      const json::value* id = expanded.if_contains(key);
      if (!id) continue;
      if (id->is_null()) return std::string();
      if (!id->is_string()) {
        return Status::InvalidRequest(
            fmt::format("@context term '{}': '{}' must be a string", term, key));
      }
      return ExpandIri(local, term, id->get_string());
    }
    if (term.find(':') != std::string_view::npos) return ExpandIri(local, term, term);
    return fmt::format("{}{}", kDefaultVocab, term);
  }

  // Expands the IRI of `term`'s definition: keyword alias, compact IRI, absolute IRI, or a
  // vocabulary-relative name (another term, else under the default vocabulary).
  Result<std::string> ExpandIri(Local& local, std::string_view term, std::string_view value) {
    if (value.empty()) {
      return Status::InvalidRequest(fmt::format("@context term '{}': empty IRI", term));
    }
    if (IsKeyword(value)) {
      if (IsAliasableKeyword(value)) return std::string(value);
      return Status::InvalidRequest(
          fmt::format("@context term '{}': '{}' is not a JSON-LD keyword", term, value));
    }
    size_t colon = value.find(':');
    if (colon == std::string_view::npos) {
      if (value == term) return fmt::format("{}{}", kDefaultVocab, value);
      if (local.definitions.contains(value)) CITYHUB_RETURN_IF_ERROR(Define(local, value));
      if (const std::string* iri = FindTerm(value)) return *iri;
      return fmt::format("{}{}", kDefaultVocab, value);
    }
    std::string_view prefix = value.substr(0, colon);
    std::string_view suffix = value.substr(colon + 1);
    if (prefix == "_" || suffix.starts_with("//")) return std::string(value);
    if (prefix != term && local.definitions.contains(prefix)) {
      CITYHUB_RETURN_IF_ERROR(Define(local, prefix));
    }
    const std::string* base = FindTerm(prefix);
    if (base && !IsKeyword(*base)) return *base + std::string(suffix);
    return std::string(value);
  }

  // A term defined so far, else a core term (so "ngsi-ld:" and "geojson:" always work).
  const std::string* FindTerm(std::string_view term) const {
    auto it = terms_.find(term);
    if (it != terms_.end()) return &it->second;
    return CoreIndex().Find(term);
  }

  DocumentLoader load_;
  TermMap terms_;
  size_t urls_ = 0;
  std::vector<std::string> open_urls_;  // documents being processed, to detect self-inclusion
};

// Parses a context document ({"@context": …}) and returns its "@context" value.
Result<std::shared_ptr<const json::value>> ParseContextDocument(std::string_view text) {
  boost::system::error_code ec;
  json::value document = json::parse(text, ec);
  if (ec) return Status::InvalidRequest(fmt::format("not valid JSON ({})", ec.message()));
  const json::object* object = document.if_object();
  const json::value* context = object ? object->if_contains("@context") : nullptr;
  if (!context) {
    return Status::InvalidRequest("not a JSON object with an '@context' member");
  }
  return std::make_shared<const json::value>(*context);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Internal(fmt::format("cannot open '{}'", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::Internal(fmt::format("cannot read '{}'", path));
  return text.str();
}

// 128 random bits as 32 hex digits: unguessable ids for stored contexts.
std::string NewContextId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  return fmt::format("{:016x}{:016x}", random(), random());
}

// A stored context document (hosted or downloaded) with its parsed "@context" value.
// Usage counters are atomics so that resolutions can count hits without a lock.
struct StoredDocument {
  StoredContext info;  // info.last_used_ms and info.number_of_hits are kept in the atomics
  std::shared_ptr<const json::value> context;
  Clock::time_point expires = Clock::time_point::max();  // downloaded documents only
  std::atomic<int64_t> last_used_ms{0};
  std::atomic<uint64_t> hits{0};

  void Touch(int64_t now_ms) {
    hits.fetch_add(1, std::memory_order_relaxed);
    last_used_ms.store(now_ms, std::memory_order_relaxed);
  }
  StoredContext Snapshot() const {
    StoredContext copy = info;
    copy.last_used_ms = last_used_ms.load(std::memory_order_relaxed);
    copy.number_of_hits = hits.load(std::memory_order_relaxed);
    return copy;
  }
};
using DocumentPtr = std::shared_ptr<StoredDocument>;

void TouchAll(const std::vector<DocumentPtr>& documents) {
  if (documents.empty()) return;
  int64_t now = util::NowMillis();
  for (const DocumentPtr& d : documents) d->Touch(now);
}

// A cached resolution: the Context and what it was built from.
struct Resolution {
  ContextPtr context;
  std::vector<DocumentPtr> documents;                    // stored documents used, for hit counts
  Clock::time_point expires = Clock::time_point::max();  // earliest expiry among them
  size_t bytes = 0;                                      // charge against the cache's budget
};

size_t TermBytes(const TermMap& terms) {
  size_t bytes = 0;
  for (const auto& [term, iri] : terms) {
    bytes += 2 * (term.size() + iri.size()) + kTermOverheadBytes;
  }
  return bytes;
}

// The serialized @context an ImplicitlyCreated document was kept for: a view into its text.
std::string_view ImplicitKey(const StoredDocument& d) {
  std::string_view text = d.info.document;
  return text.substr(kDocumentPrefix.size(), text.size() - kDocumentPrefix.size() - 1);
}

size_t ImplicitCharge(const StoredDocument& d) { return 2 * d.info.document.size(); }

// Whether a resolution or a /jsonldContexts request in `tenant` may see `d`: what a tenant
// registered, sent or caused to be downloaded is seen only in that tenant.
bool SeenIn(const StoredDocument& d, std::string_view tenant) { return d.info.tenant == tenant; }

// The resolution cache's key: the tenant and the serialized @context (tenant names hold no
// newline).
std::string ResolutionKey(std::string_view tenant, std::string_view text) {
  std::string key;
  key.reserve(tenant.size() + 1 + text.size());
  key.append(tenant).append(1, '\n').append(text);
  return key;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ContextResolver

struct ContextResolver::Impl {
  ContextResolverOptions options;
  ContextPersistence persistence;
  ContextFetcher fetcher;

  mutable std::shared_mutex documents_mu;
  StringMap<DocumentPtr> hosted_by_id;
  StringMap<DocumentPtr> hosted_by_url;
  // Downloads, shared by every tenant: the bytes and parsed value behind each tenant's Cached
  // record below, so one tenant's use costs another no second download. Never listed.
  StringMap<DocumentPtr> downloaded_by_url;
  // Each tenant's Cached contexts by URL: its own id, hit count and deletion.
  StringMap<StringMap<DocumentPtr>> cached_by_tenant;
  StringMap<std::shared_ptr<const json::value>> preloaded_by_url;
  // ImplicitlyCreated documents (also in hosted_by_*) by tenant and ImplicitKey, oldest first.
  StringMap<std::unordered_map<std::string_view, DocumentPtr>> implicit_by_tenant;
  std::deque<DocumentPtr> implicit_order;
  size_t implicit_bytes = 0;  // sum of their ImplicitCharge

  std::mutex fetch_mu;
  StringMap<std::shared_future<Result<DocumentPtr>>> fetches_in_flight;
  size_t fetch_waiters = 0;  // callers blocked on fetches_in_flight, the fetching ones included
  StringMap<std::pair<Clock::time_point, Status>> recent_failures;

  std::mutex resolved_mu;
  std::list<std::pair<std::string, Resolution>> resolved_lru;  // most recently used first
  std::unordered_map<std::string_view, decltype(resolved_lru)::iterator> resolved_index;
  size_t resolved_bytes = 0;  // sum of key sizes and Resolution::bytes

  Impl(ContextResolverOptions o, ContextPersistence p)
      : options(std::move(o)),
        persistence(std::move(p)),
        fetcher(options.outbound) {}

  // --- resolution cache ---

  ContextPtr FindResolved(const std::string& key) {
    std::lock_guard lock(resolved_mu);
    auto it = resolved_index.find(key);
    if (it == resolved_index.end()) return nullptr;
    Resolution& r = it->second->second;
    if (r.expires != Clock::time_point::max() && r.expires <= Clock::now()) {
      EraseResolvedLocked(it->second);
      return nullptr;
    }
    resolved_lru.splice(resolved_lru.begin(), resolved_lru, it->second);
    TouchAll(r.documents);
    return r.context;
  }

  void EraseResolvedLocked(decltype(resolved_lru)::iterator entry) {
    resolved_bytes -= entry->first.size() + entry->second.bytes;
    resolved_index.erase(entry->first);
    resolved_lru.erase(entry);
  }

  void ForgetResolved(std::string_view key) {
    std::lock_guard lock(resolved_mu);
    auto it = resolved_index.find(key);
    if (it != resolved_index.end()) EraseResolvedLocked(it->second);
  }

  // Caches a resolution, evicting the least recently used beyond the count or byte budget (the
  // newest entry stays even if it alone exceeds the budget).
  void StoreResolved(std::string key, Resolution r) {
    std::lock_guard lock(resolved_mu);
    if (resolved_index.contains(key)) return;
    resolved_bytes += key.size() + r.bytes;
    resolved_lru.emplace_front(std::move(key), std::move(r));
    resolved_index.emplace(resolved_lru.front().first, resolved_lru.begin());
    while (resolved_lru.size() > 1 && (resolved_lru.size() > kResolvedCacheCapacity ||
                                       resolved_bytes > options.max_resolved_cache_bytes)) {
      EraseResolvedLocked(std::prev(resolved_lru.end()));
    }
  }

  void ClearResolved() {
    std::lock_guard lock(resolved_mu);
    resolved_index.clear();
    resolved_lru.clear();
    resolved_bytes = 0;
  }

  // --- documents ---

  // A hosted document seen in `tenant` by its URL, or by the id at the end of any
  // ".../jsonldContexts/{id}" URL (clients may reach the hub under another host name than
  // public_base_url).
  DocumentPtr FindHostedLocked(std::string_view url, std::string_view tenant) const {
    DocumentPtr d;
    if (auto it = hosted_by_url.find(url); it != hosted_by_url.end()) {
      d = it->second;
    } else if (size_t at = url.rfind(kHostedPath); at != std::string_view::npos) {
      auto by_id = hosted_by_id.find(url.substr(at + kHostedPath.size()));
      if (by_id != hosted_by_id.end()) d = by_id->second;
    }
    return d && SeenIn(*d, tenant) ? d : nullptr;
  }

  DocumentPtr FindByIdLocked(std::string_view id, std::string_view tenant) const {
    if (auto it = hosted_by_id.find(id); it != hosted_by_id.end()) {
      return SeenIn(*it->second, tenant) ? it->second : nullptr;
    }
    auto mine = cached_by_tenant.find(tenant);
    if (mine == cached_by_tenant.end()) return nullptr;
    if (auto by_url = mine->second.find(id); by_url != mine->second.end()) return by_url->second;
    for (const auto& [url, doc] : mine->second) {
      if (doc->info.id == id) return doc;
    }
    return nullptr;
  }

  DocumentPtr CachedInLocked(std::string_view tenant, std::string_view url) const {
    auto mine = cached_by_tenant.find(tenant);
    if (mine == cached_by_tenant.end()) return nullptr;
    auto it = mine->second.find(url);
    return it == mine->second.end() ? nullptr : it->second;
  }

  // `tenant`'s Cached record of `download`: the one it has if it holds the same copy, else a new
  // record (keeping the id of the tenant's earlier copy, so /jsonldContexts/{id} stays stable
  // across refreshes) sharing the downloaded text and parsed value.
  DocumentPtr AdoptDownload(std::string_view tenant, const DocumentPtr& download) {
    std::unique_lock lock(documents_mu);
    auto& mine = cached_by_tenant[std::string(tenant)];
    auto [it, inserted] = mine.try_emplace(download->info.url, nullptr);
    if (!inserted && it->second->context == download->context) return it->second;
    auto copy = std::make_shared<StoredDocument>();
    copy->info = download->info;
    copy->info.id = inserted ? NewContextId() : it->second->info.id;
    copy->info.tenant = std::string(tenant);
    copy->info.created_at_ms = util::NowMillis();
    copy->context = download->context;
    copy->expires = download->expires;
    it->second = copy;
    return copy;
  }

  // The "@context" value behind `url` for a resolution in `tenant`, recording stored documents
  // used in `r`.
  Result<std::shared_ptr<const json::value>> Load(std::string_view url, std::string_view tenant, Resolution& r) {
    DocumentPtr stale, download;
    {
      std::shared_lock lock(documents_mu);
      if (DocumentPtr hosted = FindHostedLocked(url, tenant)) {
        r.documents.push_back(hosted);
        return hosted->context;
      }
      if (auto it = preloaded_by_url.find(url); it != preloaded_by_url.end()) return it->second;
      if (DocumentPtr mine = CachedInLocked(tenant, url)) {
        if (mine->expires > Clock::now()) return Use(mine, r);
        stale = mine;
      }
      if (auto it = downloaded_by_url.find(url); it != downloaded_by_url.end()) {
        if (it->second->expires > Clock::now()) {
          download = it->second;
        } else if (!stale) {
          stale = it->second;
        }
      }
    }
    if (download) return Use(AdoptDownload(tenant, download), r);
    // The hub's own /jsonldContexts URL of a context this tenant does not hold: another
    // tenant's, never fetched back from the hub itself.
    if (url.substr(0, options.public_base_url.size()) == options.public_base_url &&
        url.substr(options.public_base_url.size(), kHostedPath.size()) == kHostedPath) {
      return Status::LdContextNotAvailable(fmt::format("@context '{}' is not held in this tenant", url.substr(0, 200)));
    }
    Result<DocumentPtr> fresh = Download(url);
    if (fresh.ok()) return Use(AdoptDownload(tenant, *fresh), r);
    if (stale && fresh.status().code() == Status::Code::kLdContextNotAvailable) {
      // Better an old copy than failing every request using it.
      return Use(stale->info.tenant == tenant ? stale : AdoptDownload(tenant, stale), r);
    }
    return fresh.status();
  }

  static std::shared_ptr<const json::value> Use(const DocumentPtr& d, Resolution& r) {
    r.documents.push_back(d);
    r.expires = std::min(r.expires, d->expires);
    return d->context;
  }

  // Fetches `url` once for all concurrent callers; remembers a failure for a few seconds. Fails
  // at once when the fetch or wait limits (see the top comment) are reached.
  Result<DocumentPtr> Download(std::string_view url) {
    if (!options.allow_remote_fetch) {
      return Status::LdContextNotAvailable(fmt::format(
          "cannot retrieve @context '{}': not hosted or preloaded, and remote fetching is off",
          url));
    }
    const Status busy = Status::LdContextNotAvailable(fmt::format(
        "cannot retrieve @context '{}': too many @context downloads in progress", url));
    std::promise<Result<DocumentPtr>> promise;
    std::shared_future<Result<DocumentPtr>> pending;
    {
      std::lock_guard lock(fetch_mu);
      if (auto it = recent_failures.find(url); it != recent_failures.end()) {
        if (it->second.first > Clock::now()) return it->second.second;
        recent_failures.erase(it);
      }
      if (fetch_waiters >= 2 * options.max_concurrent_fetches) return busy;
      if (auto it = fetches_in_flight.find(url); it != fetches_in_flight.end()) {
        pending = it->second;
      } else if (fetches_in_flight.size() >= options.max_concurrent_fetches) {
        return busy;
      } else {
        fetches_in_flight.emplace(url, promise.get_future().share());
      }
      ++fetch_waiters;
    }
    if (pending.valid()) {
      Result<DocumentPtr> shared = pending.get();
      std::lock_guard lock(fetch_mu);
      --fetch_waiters;
      return shared;
    }

    Result<DocumentPtr> result = FetchAndStore(url);
    promise.set_value(result);
    std::lock_guard lock(fetch_mu);
    --fetch_waiters;
    fetches_in_flight.erase(fetches_in_flight.find(url));
    if (!result.ok()) RememberFailureLocked(url, result.status());
    return result;
  }

  void RememberFailureLocked(std::string_view url, const Status& status) {
    const Clock::time_point now = Clock::now();
    if (recent_failures.size() >= kMaxRememberedFailures) {
      std::erase_if(recent_failures, [now](const auto& f) { return f.second.first <= now; });
    }
    if (recent_failures.size() >= kMaxRememberedFailures && !recent_failures.contains(url)) {
      recent_failures.erase(std::min_element(
          recent_failures.begin(), recent_failures.end(),
          [](const auto& a, const auto& b) { return a.second.first < b.second.first; }));
    }
    recent_failures.insert_or_assign(std::string(url),
                                     std::make_pair(now + kFailedFetchRetryAfter, status));
  }

  // Fetches and parses `url` and stores it as a downloaded document (keeping the id of an
  // earlier copy, so /jsonldContexts/{id} stays stable across refreshes).
  Result<DocumentPtr> FetchAndStore(std::string_view url) {
    Result<std::string> body =
        fetcher.Fetch(url, options.fetch_timeout, options.max_document_bytes);
    if (!body.ok() && body.status().code() == Status::Code::kPayloadTooLarge) {
      return Status::InvalidRequest(fmt::format("@context '{}' is larger than {} bytes", url,
                                                options.max_document_bytes));
    }
    if (!body.ok()) {
      return Status::LdContextNotAvailable(
          fmt::format("cannot retrieve @context '{}': {}", url, body.status().message()));
    }
    Result<std::shared_ptr<const json::value>> context = ParseContextDocument(*body);
    if (!context.ok()) {
      return Status::LdContextNotAvailable(
          fmt::format("cannot retrieve @context '{}': not a JSON-LD context document", url));
    }
    auto document = std::make_shared<StoredDocument>();
    document->info.url = std::string(url);
    document->info.kind = StoredContext::Kind::kCached;
    document->info.document = std::move(*body);
    document->info.created_at_ms = util::NowMillis();
    document->context = std::move(*context);
    document->expires = Clock::now() + options.cache_ttl;

    std::unique_lock lock(documents_mu);
    auto [it, inserted] = downloaded_by_url.try_emplace(document->info.url, document);
    document->info.id = inserted ? NewContextId() : it->second->info.id;
    it->second = document;
    return document;
  }

  // --- start-up ---

  Status LoadPreloadFolder() {
    if (options.preload_dir.empty()) return Status::Ok();
    std::string index_path = options.preload_dir + "/index.json";
    Result<std::string> index_text = ReadFile(index_path);
    if (!index_text.ok()) return index_text.status();
    boost::system::error_code ec;
    json::value index = json::parse(*index_text, ec);
    if (ec || !index.is_object()) {
      return Status::InvalidRequest(
          fmt::format("'{}': not a JSON object mapping URLs to file names", index_path));
    }
    StringMap<std::shared_ptr<const json::value>> loaded;
    for (const auto& [url, file] : index.get_object()) {
      if (Status valid = CheckContextUrl(url); !valid.ok()) {
        return Status::InvalidRequest(fmt::format("'{}': {}", index_path, valid.message()));
      }
      if (!file.is_string() || file.get_string().empty() ||
          file.get_string().find('/') != json::string::npos) {
        return Status::InvalidRequest(fmt::format(
            "'{}': entry '{}' must name a file in the same folder", index_path, url));
      }
      std::string path = fmt::format("{}/{}", options.preload_dir, file.get_string());
      Result<std::string> text = ReadFile(path);
      if (!text.ok()) return text.status();
      Result<std::shared_ptr<const json::value>> context = ParseContextDocument(*text);
      if (!context.ok()) {
        return Status::InvalidRequest(fmt::format("'{}': {}", path, context.status().message()));
      }
      loaded.insert_or_assign(std::string(url), std::move(*context));
    }
    std::unique_lock lock(documents_mu);
    preloaded_by_url = std::move(loaded);
    return Status::Ok();
  }

  Status LoadPersistedHosted() {
    if (!persistence.load_all) return Status::Ok();
    Status first_error;
    std::vector<DocumentPtr> loaded;
    Status status = persistence.load_all([&](StoredContext stored) {
      Result<std::shared_ptr<const json::value>> context = ParseContextDocument(stored.document);
      if (!context.ok()) {
        if (first_error.ok()) {
          first_error = Status::Internal(fmt::format("stored @context '{}': {}", stored.id,
                                                     context.status().message()));
        }
        return;
      }
      auto document = std::make_shared<StoredDocument>();
      document->last_used_ms = stored.last_used_ms;
      document->hits = stored.number_of_hits;
      document->info = std::move(stored);
      document->info.kind = StoredContext::Kind::kHosted;
      document->context = std::move(*context);
      loaded.push_back(std::move(document));
    });
    CITYHUB_RETURN_IF_ERROR(status);
    CITYHUB_RETURN_IF_ERROR(first_error);
    std::unique_lock lock(documents_mu);
    for (DocumentPtr& d : loaded) AddHostedLocked(std::move(d));
    return Status::Ok();
  }

  void AddHostedLocked(DocumentPtr d) {
    hosted_by_url.insert_or_assign(d->info.url, d);
    hosted_by_id.insert_or_assign(d->info.id, std::move(d));
  }

  // Keeps an inline or array @context (serialized as `key`) as an ImplicitlyCreated document of
  // `tenant`, one per tenant and distinct text, and returns its URL. Served and listed like
  // hosted ones in that tenant, never persisted; the oldest are dropped beyond
  // kMaxImplicitContexts or max_implicit_bytes. `context` is the parsed value; it is replaced by
  // the kept one if there is one already.
  std::string KeepImplicit(std::string_view tenant, std::string_view key, std::shared_ptr<const json::value>& context) {
    std::unique_lock lock(documents_mu);
    auto& kept = implicit_by_tenant[std::string(tenant)];
    if (auto it = kept.find(key); it != kept.end()) {
      context = it->second->context;
      return it->second->info.url;
    }
    auto d = std::make_shared<StoredDocument>();
    d->info.id = NewContextId();
    d->info.url = fmt::format("{}{}{}", options.public_base_url, kHostedPath, d->info.id);
    d->info.kind = StoredContext::Kind::kImplicitlyCreated;
    d->info.tenant = std::string(tenant);
    d->info.document = fmt::format("{}{}}}", kDocumentPrefix, key);
    d->info.created_at_ms = util::NowMillis();
    d->context = context;
    kept.emplace(ImplicitKey(*d), d);
    implicit_order.push_back(d);
    implicit_bytes += ImplicitCharge(*d);
    AddHostedLocked(d);
    while (implicit_order.size() > 1 && (implicit_order.size() > kMaxImplicitContexts ||
                                         implicit_bytes > options.max_implicit_bytes)) {
      DropImplicitLocked(implicit_order.front());
    }
    return d->info.url;
  }

  void DropImplicitLocked(DocumentPtr d) {
    std::string_view key = ImplicitKey(*d);  // stays valid: `d` holds the text
    auto kept = implicit_by_tenant.find(d->info.tenant);
    if (kept == implicit_by_tenant.end()) return;
    auto it = kept->second.find(key);
    if (it == kept->second.end() || it->second != d) return;
    hosted_by_id.erase(d->info.id);
    hosted_by_url.erase(d->info.url);
    kept->second.erase(it);
    if (kept->second.empty()) implicit_by_tenant.erase(kept);
    implicit_order.erase(std::find(implicit_order.begin(), implicit_order.end(), d));
    implicit_bytes -= ImplicitCharge(*d);
    ForgetResolved(ResolutionKey(d->info.tenant, key));  // its cached resolution would link to the dropped URL
  }
};

ContextResolver::ContextResolver(ContextResolverOptions options, ContextPersistence persistence)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(persistence))) {}

ContextResolver::~ContextResolver() = default;

Status ContextResolver::Init() {
  CITYHUB_RETURN_IF_ERROR(impl_->LoadPersistedHosted());
  return impl_->LoadPreloadFolder();
}

ContextPtr ContextResolver::Core() const {
  static const ContextPtr core = std::make_shared<const Context>(std::make_shared<const Context::Impl>(
      TermMap{}, std::make_shared<const json::value>(kCoreContextUrl),
      std::string(kCoreContextUrl)));
  return core;
}

Result<ContextPtr> ContextResolver::Resolve(const boost::json::value& context, std::string_view tenant) {
  if (context.is_null()) return Core();
  if (context.is_string()) CITYHUB_RETURN_IF_ERROR(CheckContextUrl(context.get_string()));
  const std::string text = json::serialize(context);
  const size_t max_inline = impl_->options.max_inline_context_bytes;
  if (!context.is_string() && text.size() > max_inline) {
    return Status::BadRequestData(fmt::format(
        "an inline @context may be at most {} bytes long (this one has {})", max_inline,
        text.size()));
  }
  std::string key = ResolutionKey(tenant, text);
  if (ContextPtr cached = impl_->FindResolved(key)) return cached;

  Resolution resolution;
  ContextBuilder builder(
      [&](std::string_view url) { return impl_->Load(url, tenant, resolution); });
  CITYHUB_RETURN_IF_ERROR(builder.Process(context, 0));
  auto given = std::make_shared<const json::value>(context);
  std::string link_url = context.is_string() ? std::string(context.get_string())
                                             : impl_->KeepImplicit(tenant, text, given);
  TermMap terms = std::move(builder).TakeTerms();
  resolution.bytes = TermBytes(terms) + link_url.size();
  resolution.context = std::make_shared<const Context>(std::make_shared<const Context::Impl>(
      std::move(terms), std::move(given), std::move(link_url)));
  TouchAll(resolution.documents);
  ContextPtr result = resolution.context;
  impl_->StoreResolved(std::move(key), std::move(resolution));
  return result;
}

Result<ContextPtr> ContextResolver::ResolveUrl(std::string_view url, std::string_view tenant) {
  return Resolve(json::value(json::string(url)), tenant);
}

bool ContextResolver::ResolvedWithoutFetch(std::string_view url, std::string_view tenant) {
  return impl_->FindResolved(ResolutionKey(tenant, json::serialize(json::value(json::string(url))))) != nullptr;
}

Result<StoredContext> ContextResolver::AddHosted(const boost::json::value& document, std::string_view tenant) {
  const json::object* object = document.if_object();
  const json::value* context = object ? object->if_contains("@context") : nullptr;
  if (!context) {
    return Status::BadRequestData(
        "a JSON-LD context document must be a JSON object with an '@context' member");
  }
  std::string text = json::serialize(document);
  if (text.size() > impl_->options.max_document_bytes) {
    return Status::BadRequestData(fmt::format("@context document is larger than {} bytes",
                                              impl_->options.max_document_bytes));
  }
  // Check the definitions now; URLs it refers to are resolved when the context is used.
  static const auto kUnresolved = std::make_shared<const json::value>(json::object());
  ContextBuilder check([](std::string_view) { return kUnresolved; });
  Status valid = check.Process(*context, 0);
  if (!valid.ok()) return Status::BadRequestData(valid.message());

  auto hosted = std::make_shared<StoredDocument>();
  hosted->info.id = NewContextId();
  hosted->info.url =
      fmt::format("{}{}{}", impl_->options.public_base_url, kHostedPath, hosted->info.id);
  hosted->info.kind = StoredContext::Kind::kHosted;
  hosted->info.tenant = std::string(tenant);
  hosted->info.document = std::move(text);
  hosted->info.created_at_ms = util::NowMillis();
  hosted->context = std::make_shared<const json::value>(*context);
  if (impl_->persistence.save) CITYHUB_RETURN_IF_ERROR(impl_->persistence.save(hosted->info));

  StoredContext result = hosted->Snapshot();
  std::unique_lock lock(impl_->documents_mu);
  impl_->AddHostedLocked(std::move(hosted));
  return result;
}

std::vector<StoredContext> ContextResolver::List(std::optional<StoredContext::Kind> kind,
                                                std::string_view tenant) const {
  std::vector<StoredContext> out;
  {
    std::shared_lock lock(impl_->documents_mu);
    const StringMap<DocumentPtr> none;
    auto cached = impl_->cached_by_tenant.find(tenant);
    const StringMap<DocumentPtr>* mine = cached == impl_->cached_by_tenant.end() ? &none : &cached->second;
    const StringMap<DocumentPtr>* hosted = &impl_->hosted_by_id;
    for (const StringMap<DocumentPtr>* documents : {hosted, mine}) {
      for (const auto& [key, d] : *documents) {
        if ((!kind || d->info.kind == *kind) && SeenIn(*d, tenant)) out.push_back(d->Snapshot());
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const StoredContext& a, const StoredContext& b) { return a.url < b.url; });
  return out;
}

Result<StoredContext> ContextResolver::Get(std::string_view id, std::string_view tenant) const {
  std::shared_lock lock(impl_->documents_mu);
  DocumentPtr d = impl_->FindByIdLocked(id, tenant);
  if (!d) return Status::NotFound(fmt::format("@context '{}' not found", id));
  return d->Snapshot();
}

Status ContextResolver::Remove(std::string_view id, bool reload, std::string_view tenant) {
  DocumentPtr d;
  {
    std::shared_lock lock(impl_->documents_mu);
    d = impl_->FindByIdLocked(id, tenant);
  }
  if (!d) return Status::NotFound(fmt::format("@context '{}' not found", id));

  if (d->info.kind != StoredContext::Kind::kCached && reload) {
    return Status::BadRequestData(fmt::format(
        "@context '{}' is held by this broker: only downloaded ones can be reloaded", id));
  }
  if (d->info.kind == StoredContext::Kind::kHosted) {
    if (impl_->persistence.remove) CITYHUB_RETURN_IF_ERROR(impl_->persistence.remove(id));
    std::unique_lock lock(impl_->documents_mu);
    impl_->hosted_by_id.erase(d->info.id);
    impl_->hosted_by_url.erase(d->info.url);
  } else if (d->info.kind == StoredContext::Kind::kImplicitlyCreated) {
    std::unique_lock lock(impl_->documents_mu);
    impl_->DropImplicitLocked(d);
  } else if (reload) {
    {
      std::lock_guard lock(impl_->fetch_mu);
      impl_->recent_failures.erase(d->info.url);
    }
    Result<DocumentPtr> fresh = impl_->Download(d->info.url);
    if (!fresh.ok()) return fresh.status();
    impl_->AdoptDownload(tenant, *fresh);
  } else {
    // The tenant's record goes; so does the shared download if it is the same copy, so that
    // the tenant's next use downloads it again. Other tenants keep their records.
    std::unique_lock lock(impl_->documents_mu);
    auto mine = impl_->cached_by_tenant.find(tenant);
    if (mine != impl_->cached_by_tenant.end()) mine->second.erase(d->info.url);
    auto it = impl_->downloaded_by_url.find(d->info.url);
    if (it != impl_->downloaded_by_url.end() && it->second->context == d->context) {
      impl_->downloaded_by_url.erase(it);
    }
  }
  impl_->ClearResolved();
  return Status::Ok();
}

}  // namespace cityhub::ngsild
