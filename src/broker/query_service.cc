// QueryService implementation: plan, gather candidates, decide, page.
//
// Planning is "cheapest source within a budget": the type index's counters give the cost of a
// type scan for free (or the entity count when no type is named); then each index the query
// could use — the value index for every q conjunct QFilter::IndexTerms() offers, the spatial
// index for a geo-query with a CandidateBox() — gathers its candidate ids while their number
// stays below the best cost so far, and is abandoned as soon as it exceeds it. So a selective
// index is used, an unselective one costs at most what the scan it loses to would, and no
// statistics need maintaining. Listed ids (`id=`) are a source of their own.
//
// Deciding: candidates are visited in ascending id order (pages are stable and `offset` means
// the same thing whatever index served them). Each one is checked against every filter by the
// ngsild/ evaluators, on the entity read from the store — except when the only filters are the
// geo-query, types and idPattern and the spatial index holds the entity's geometry (a point's
// position, a small shape's GeoJSON): then GeoQuery decides on that copy, and only the entities
// on the page are read (a count over 10,000 points and street segments reads none). An index can therefore change only the speed of a query, never its answer.
//
// orderBy: the matches are gathered as above (at most max_ordered), each one's order values
// computed once, sorted (ties by id, so pages stay stable) and paged; see OrderAndPage.
//
// Transient entities: those whose expiresAt has passed are no match from that moment, before the
// purge has deleted them — their ids come from the expiry index at the start of each query.
//
// Time: every 256 candidates the elapsed time is checked against max_query_time, so a query
// that would take too long ends with TooComplexQuery rather than holding a worker.
#include "broker/query_service.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <iterator>
#include <memory>
#include <system_error>
#include <thread>
#include <unordered_set>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <re2/re2.h>

#include "broker/index_terms.h"
#include "broker/tenancy.h"
#include "ngsild/stored_render.h"
#include "util/time.h"

namespace cityhub::broker {
namespace {

using Clock = std::chrono::steady_clock;

// What the index said about one candidate: its geometry held by the index satisfied the
// geo-query (kMatched), or some key of it could not be decided from the index (kNeedsEntity).
// A candidate whose index geometries were all decided as not matching is not kept at all.
enum CandidateFlags : uint8_t { kMatched = 1, kNeedsEntity = 2 };
struct Candidate {
  std::string id;
  uint8_t flags = 0;
};

// Candidates are gathered into a flat vector and put in id order (duplicates merged) once.
struct Gathered {
  std::vector<Candidate> candidates;
  bool from_spatial_index = false;

  void Finish() {
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
    size_t out = 0;
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (out > 0 && candidates[out - 1].id == candidates[i].id) {
        candidates[out - 1].flags |= candidates[i].flags;
      } else {
        if (out != i) candidates[out] = std::move(candidates[i]);
        ++out;
      }
    }
    candidates.resize(out);
  }
};

// What a look at idPattern's text tells before any id is matched (conservative: when unsure,
// nothing):
//   - starts_anchored: every match starts at the start of the id — the pattern begins with '^'
//     and has no '|' outside parentheses and classes (`^a|b` also matches "xb");
//   - literal: a string every matching id contains — the longest run of literal characters
//     outside parentheses, classes and quantified atoms, in a pattern without a top-level '|'
//     or "(?" flags (which could make it case-insensitive). An id without it needs no regex.
// \Q…\E quoting, or an unterminated class, gives neither.
struct PatternFacts {
  bool starts_anchored = false;
  std::string literal;
};

PatternFacts AnalyzePattern(std::string_view pattern) {
  PatternFacts none;
  if (pattern.find("\\Q") != std::string_view::npos) return none;
  const bool flags = pattern.find("(?") != std::string_view::npos;
  std::string run, best;
  bool last_literal = false;  // the last atom at depth 0 is the last character of `run`
  auto end_run = [&] {
    if (run.size() > best.size()) best = run;
    run.clear();
    last_literal = false;
  };
  auto drop_last_character = [&] {  // a whole UTF-8 sequence
    while (!run.empty() && (static_cast<unsigned char>(run.back()) & 0xc0) == 0x80) run.pop_back();
    if (!run.empty()) run.pop_back();
  };
  int depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      if (i + 1 >= pattern.size()) return none;
      const char escaped = pattern[++i];
      const bool punctuation = std::ispunct(static_cast<unsigned char>(escaped)) != 0;
      if (depth == 0 && punctuation) {
        run.push_back(escaped);
        last_literal = true;
      } else if (depth == 0) {
        end_run();  // \d, \w, \b, \x41, \pN …: not taken as literals
      }
    } else if (c == '[') {
      // A class: a ']' right after '[' or '[^' is literal; escapes may hide ']'.
      size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '^') ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;
      for (; j < pattern.size() && pattern[j] != ']'; ++j) {
        if (pattern[j] == '\\') {
          ++j;
        } else if (pattern[j] == '[' && j + 1 < pattern.size() && pattern[j + 1] == ':') {
          const size_t close = pattern.find(":]", j + 2);  // [:alpha:]
          if (close == std::string_view::npos) return none;
          j = close + 1;
        }
      }
      if (j >= pattern.size()) return none;
      i = j;
      if (depth == 0) end_run();
    } else if (c == '(') {
      if (depth++ == 0) end_run();
    } else if (c == ')') {
      if (--depth < 0) return none;
    } else if (depth > 0) {
      if (c == '|') continue;  // alternation inside a group: the group is not a literal anyway
    } else if (c == '|') {
      return none;
    } else if (c == '*' || c == '?' || c == '{') {
      if (last_literal) drop_last_character();  // the quantified atom may be absent
      end_run();
      if (c == '{') {  // skip a repetition's {n}, {n,}, {n,m} (else '{' is a literal: skipped too)
        const size_t close = pattern.find('}', i);
        if (close != std::string_view::npos &&
            pattern.substr(i + 1, close - i - 1).find_first_not_of("0123456789,") == std::string_view::npos) {
          i = close;
        }
      }
    } else if (c == '+') {
      end_run();  // the atom is there at least once; what follows need not be adjacent
    } else if (c == '.' || c == '^' || c == '$') {
      end_run();
    } else {
      run.push_back(c);
      last_literal = true;
    }
  }
  if (depth != 0) return none;
  end_run();
  PatternFacts facts;
  facts.starts_anchored = !pattern.empty() && pattern[0] == '^';  // no top-level '|' got here
  if (!flags) facts.literal = std::move(best);
  return facts;
}

bool Intersects(const std::vector<std::string>& sorted, const std::vector<std::string>& values) {
  return std::any_of(values.begin(), values.end(),
                     [&](const std::string& v) { return std::binary_search(sorted.begin(), sorted.end(), v); });
}

// Runs one query against one tenant.
class QueryRun {
 public:
  QueryRun(store::TenantStore& ts, const EntityQuery& q, const QueryServiceLimits& limits, const re2::RE2* pattern)
      : ts_(ts), q_(q), limits_(limits), pattern_(pattern), start_(Clock::now()) {
    if (pattern_) pattern_facts_ = AnalyzePattern(pattern_->pattern());
    types_ = q.types;
    std::sort(types_.begin(), types_.end());
    types_.erase(std::unique(types_.begin(), types_.end()), types_.end());
    if (q.q) filter_attrs_ = q.q->Attributes();
    if (q.geo) filter_attrs_.push_back(q.geo->geoproperty());
  }

  Result<QueryResult> Run() {
    CITYHUB_RETURN_IF_ERROR(LoadExpired());
    if (!q_.ids.empty()) return FromIds();
    uint64_t best = 0;
    if (types_.empty()) {
      best = ts_.ApproximateEntityCount();
    } else {
      for (const auto& t : types_) {
        auto n = ts_.CountType(t);
        if (!n.ok()) return n.status();
        best += *n;
      }
    }
    typed_entities_ = best;
    std::optional<Gathered> chosen;
    if (q_.q || q_.geo) {
      auto indexed_types = IndexedTypes();
      if (!indexed_types.ok()) return indexed_types.status();
      if (q_.q && !(q_.view && q_.view->ChangesValues())) {
        for (const auto& term : q_.q->IndexTerms()) {
          auto g = GatherValues(*indexed_types, term, best);
          if (!g.ok()) return g.status();
          if (*g && (*g)->candidates.size() < best) {
            best = (*g)->candidates.size();
            chosen = std::move(**g);
          }
        }
      }
      if (q_.geo) {
        auto g = GatherSpatial(*indexed_types, best);
        if (!g.ok()) return g.status();
        if (*g && (*g)->candidates.size() < best) chosen = std::move(**g);
      }
    }
    if (chosen) return FromCandidates(*chosen);
    return FromTypeScan();
  }

 private:
  // The types whose index keys a query reads: those asked for, or every type present.
  Result<std::vector<std::string>> IndexedTypes() {
    if (!types_.empty()) return types_;
    return ts_.ListTypes();
  }

  // Collects the candidates of `ranges` into `out`; false once there are more than `budget`
  // (counted with duplicates, which Gathered::Finish merges: an upper bound of the distinct).
  // With a geo-query, the positions and shapes the keys carry decide right here: a key whose
  // geometry does not satisfy it adds nothing.
  Result<bool> Collect(const std::vector<store::TermRange>& ranges, uint64_t budget, Gathered* out,
                       bool area = false) {
    bool within = true;
    // An area geometry has up to 8 covering keys with the same payload: decide it once.
    std::unordered_set<std::string> decided;
    std::string memo_key;
    Status st = ts_.ScanTerms(ranges, [&](std::string_view, std::string_view id, std::string_view payload) {
      uint8_t flags = kNeedsEntity;
      if (q_.geo && area && !payload.empty()) {
        memo_key.assign(id).push_back('\0');
        memo_key.append(payload);
        if (!decided.insert(memo_key).second) return true;  // its candidate, if any, is in already
        std::optional<bool> match = q_.geo->MatchesEncoded(payload);
        if (match) flags = *match ? kMatched : 0;
      } else if (q_.geo && !area) {
        double lon = 0, lat = 0;
        if (DecodePoint(payload, &lon, &lat)) flags = q_.geo->MatchesPoint(lon, lat) ? kMatched : 0;
      }
      if (flags == 0) return true;
      out->candidates.push_back({std::string(id), flags});
      if (out->candidates.size() > budget) {
        within = false;
        return false;
      }
      return true;
    });
    CITYHUB_RETURN_IF_ERROR(st);
    return within;
  }

  Result<bool> HasAny(const store::TermRange& range) {
    bool any = false;
    CITYHUB_RETURN_IF_ERROR(ts_.ScanTerms({range}, [&](auto, auto, auto) {
      any = true;
      return false;
    }));
    return any;
  }

  // Candidates from the value index for one q conjunct; nullopt if it cannot serve or loses.
  Result<std::optional<Gathered>> GatherValues(const std::vector<std::string>& types,
                                               const ngsild::QIndexTerm& term, uint64_t budget) {
    Gathered g;
    for (const auto& type : types) {
      auto scan = ValueScanFor(type, term);
      if (!scan) return std::optional<Gathered>();
      auto overflow = HasAny(scan->overflow);
      if (!overflow.ok()) return overflow.status();
      if (*overflow) return std::optional<Gathered>();
      auto within = Collect(scan->ranges, budget, &g);
      if (!within.ok()) return within.status();
      if (!*within) return std::optional<Gathered>();
    }
    g.Finish();
    return std::optional<Gathered>(std::move(g));
  }

  // Candidates from the spatial index; nullopt if the geo-query cannot narrow or it loses.
  Result<std::optional<Gathered>> GatherSpatial(const std::vector<std::string>& types, uint64_t budget) {
    auto box = q_.geo->CandidateBox();
    if (!box) return std::optional<Gathered>();
    Gathered g;
    g.from_spatial_index = true;
    for (const auto& type : types) {
      SpatialScan scan = SpatialScanFor(type, q_.geo->geoproperty(), *box);
      auto within = Collect(scan.points, budget, &g);
      if (!within.ok()) return within.status();
      if (!*within) return std::optional<Gathered>();
      auto areas = HasAny(scan.any_area);
      if (!areas.ok()) return areas.status();
      if (!*areas) continue;
      within = Collect(scan.area_ranges, budget, &g, /*area=*/true);
      if (!within.ok()) return within.status();
      if (!*within) return std::optional<Gathered>();
    }
    g.Finish();
    return std::optional<Gathered>(std::move(g));
  }

  // True if the geometries the index holds may decide matches: nothing but the geo-query, the
  // types (the keys are per type) and idPattern (checked on the id) filters.
  bool PointsDecide() const { return !q_.q && !q_.scope && q_.attrs.empty() && !q_.view && !q_.type_selection; }

  // The transient entities that have expired but are still stored (the purge deletes them
  // within its interval, so these are few): no match from now on, whatever index serves.
  Status LoadExpired() {
    return ts_.ScanTerms({ExpiredRange(util::NowMillis())}, [&](std::string_view, std::string_view id, std::string_view) {
      expired_.emplace(id);
      return true;
    });
  }

  bool IdMatches(std::string_view id) const {
    if (!expired_.empty() && expired_.count(std::string(id))) return false;
    if (!pattern_) return true;
    // Cheap first: most ids lack the pattern's required literal (memchr/memcmp, no regex).
    if (!pattern_facts_.literal.empty() && id.find(pattern_facts_.literal) == std::string_view::npos) return false;
    return re2::RE2::PartialMatch(re2::StringPiece(id.data(), id.size()), *pattern_);
  }

  // Full check of a record; deserializes only if a filter needs the entity. `entity` receives
  // it when deserialized.
  Result<bool> RecordMatches(const store::EntityRecord& rec, std::optional<ngsild::Entity>* entity) {
    if (!IdMatches(rec.id)) return false;
    if (!types_.empty()) {
      std::vector<std::string> types = rec.types;
      std::sort(types.begin(), types.end());
      if (!Intersects(types, types_)) return false;
    }
    if (q_.type_selection && !q_.type_selection->Matches(rec.types)) return false;
    if (!q_.attrs.empty() && !Intersects(rec.attributes, q_.attrs)) return false;
    if (!q_.q && !q_.geo && !q_.scope && !q_.view) return true;
    if (!q_.view) {
      // The filters read only the attributes they name (and the scope): only those are parsed.
      // The page's entities are read whole later (Accept), when they are needed as entities.
      auto stored = ngsild::StoredEntity::Read(rec.document);
      if (!stored.ok()) return stored.status();
      auto part = stored->Decode(&filter_attrs_);
      if (!part.ok()) return part.status();
      return (!q_.q || q_.q->Matches(*part)) && (!q_.geo || q_.geo->Matches(*part)) &&
             (!q_.scope || q_.scope->Matches(*part));
    }
    auto e = ngsild::DeserializeEntity(rec.document);
    if (!e.ok()) return e.status();
    redacted_ = false;
    if (q_.view) {
      // Every filter sees only what the caller may read (nor may the count reveal more).
      if (!q_.view->Visible(*e)) return false;
      redacted_ = !q_.view->ShowsEverything(e->id, e->types, e->owner);
      q_.view->Redact(*e);
      if (!q_.attrs.empty() && !Intersects(e->AttributeNames(), q_.attrs)) return false;
    }
    bool match = (!q_.q || q_.q->Matches(*e)) && (!q_.geo || q_.geo->Matches(*e)) &&
                 (!q_.scope || q_.scope->Matches(*e));
    *entity = std::move(*e);
    return match;
  }

  // Every 256 steps counted in `steps`, whether the query has run out of time.
  Status CheckTime(uint64_t& steps) const {
    if ((++steps & 0xff) == 0 && Clock::now() - start_ > limits_.max_query_time) return TooLong();
    return Status::Ok();
  }
  Status CheckTime() { return CheckTime(visited_); }

  // Counts a match; keeps it if it falls on the page (`entity`, or read later with the rest of
  // the page when the index decided it). False when nothing more is needed.
  Result<bool> Accept(std::optional<ngsild::Entity> entity, const store::EntityRecord* rec, std::string_view id) {
    if (seen_++ >= q_.offset && page_.size() < q_.limit) {
      if (q_.as_text) {
        // What the caller sees: the stored text unless the view changed the entity; read in
        // Finish when the index decided the match.
        std::string doc;
        if (entity && redacted_) {
          doc = ngsild::SerializeEntity(*entity);
        } else if (rec) {
          doc = rec->document;
        }
        page_docs_.push_back(std::move(doc));
        page_.push_back(std::nullopt);
        page_ids_.emplace_back(id);
        return q_.count || page_.size() < q_.limit;
      }
      if (!entity && rec) {
        auto e = ngsild::DeserializeEntity(rec->document);
        if (!e.ok()) return e.status();
        entity = std::move(*e);
      }
      page_.push_back(std::move(entity));
      page_ids_.emplace_back(id);
    }
    return q_.count || page_.size() < q_.limit;
  }

  // Visits one record; false when the query is done.
  Result<bool> Visit(const store::EntityRecord& rec) {
    CITYHUB_RETURN_IF_ERROR(CheckTime());
    std::optional<ngsild::Entity> entity;
    auto match = RecordMatches(rec, &entity);
    if (!match.ok()) return match.status();
    if (!*match) return true;
    return Accept(std::move(entity), &rec, rec.id);
  }

  // Reads the page's entities that the index decided (one batched read), and hands the page
  // over. An entity deleted since the index was read is left out.
  Result<QueryResult> Finish() {
    // Not yet read: an entity (or, with as_text, a document) the index decided.
    auto pending = [&](size_t i) { return q_.as_text ? page_docs_[i].empty() : !page_[i]; };
    std::vector<std::string_view> ids;
    for (size_t i = 0; i < page_.size(); ++i) {
      if (pending(i)) ids.push_back(page_ids_[i]);
    }
    std::vector<Result<store::EntityRecord>> records;
    if (!ids.empty()) records = ts_.GetMany(ids);
    size_t next = 0;
    for (size_t i = 0; i < page_.size(); ++i) {
      if (pending(i)) {
        auto& rec = records[next++];
        if (!rec.ok()) {
          if (rec.status().IsNotFound()) continue;
          return rec.status();
        }
        if (q_.as_text) {
          page_docs_[i] = std::move(rec->document);
        } else {
          auto e = ngsild::DeserializeEntity(rec->document);
          if (!e.ok()) return e.status();
          page_[i] = std::move(*e);
        }
      }
      if (q_.as_text) {
        out_.documents.push_back(std::move(page_docs_[i]));
      } else {
        out_.entities.push_back(std::move(*page_[i]));
      }
    }
    if (q_.count) out_.total = seen_;
    return std::move(out_);
  }

  // How many records to read in one batch when the next candidates need reading: all the
  // page still needs if every one of them matches, at most kReadBatch.
  static constexpr size_t kReadBatch = 64;
  size_t ReadBatchSize() const {
    if (q_.count) return kReadBatch;
    const size_t wanted = q_.offset + q_.limit;
    return std::clamp<size_t>(seen_ < wanted ? wanted - seen_ : 1, 1, kReadBatch);
  }

  Result<QueryResult> FromIds() {
    std::vector<std::string> ids = q_.ids;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (size_t i = 0; i < ids.size();) {
      std::vector<std::string_view> batch;
      for (; i < ids.size() && batch.size() < ReadBatchSize(); ++i) batch.push_back(ids[i]);
      for (auto& rec : ts_.GetMany(batch)) {
        if (!rec.ok()) {
          if (rec.status().IsNotFound()) continue;
          return rec.status();
        }
        auto more = Visit(*rec);
        if (!more.ok()) return more.status();
        if (!*more) return Finish();
      }
    }
    return Finish();
  }

  Result<QueryResult> FromCandidates(const Gathered& g) {
    const bool points_decide = g.from_spatial_index && PointsDecide();
    const auto& candidates = g.candidates;
    auto decided = [&](const Candidate& c) { return points_decide && (c.flags & kMatched); };
    // The records of the next candidates that need reading (those the index did not decide),
    // read in batches: batch[k] is the record of the k-th of them from where the batch began.
    std::vector<Result<store::EntityRecord>> batch;
    size_t k = 0;
    for (size_t i = 0; i < candidates.size(); ++i) {
      const auto& [id, flags] = candidates[i];
      if (decided(candidates[i])) {
        CITYHUB_RETURN_IF_ERROR(CheckTime());
        if (!IdMatches(id)) continue;
        auto more = Accept(std::nullopt, nullptr, id);
        if (!more.ok()) return more.status();
        if (!*more) break;
        continue;
      }
      if (k == batch.size()) {
        std::vector<std::string_view> ids;
        const size_t size = ReadBatchSize();
        for (size_t j = i; j < candidates.size() && ids.size() < size; ++j) {
          if (!decided(candidates[j])) ids.push_back(candidates[j].id);
        }
        batch = ts_.GetMany(ids);
        k = 0;
      }
      auto& rec = batch[k++];
      if (!rec.ok()) {
        if (rec.status().IsNotFound()) continue;  // deleted since the index was read
        return rec.status();
      }
      auto more = Visit(*rec);
      if (!more.ok()) return more.status();
      if (!*more) break;
    }
    return Finish();
  }

  Result<QueryResult> FromTypeScan() {
    store::ScanOptions scan;
    if (!q_.q && !q_.geo && !q_.scope && q_.attrs.empty() && !q_.view && !q_.type_selection) {
      scan.types = types_;
      return FromIdScan(scan);
    }
    // Reading records in key order is cheaper than a point read per id from the type index;
    // when the types cover most entities, read them all and let RecordMatches drop the rest.
    if (typed_entities_ * 2 <= ts_.ApproximateEntityCount()) scan.types = types_;
    Status failure;
    Status st = ts_.Scan(scan, [&](const store::EntityRecord& rec) {
      auto more = Visit(rec);
      if (!more.ok()) {
        failure = more.status();
        return false;
      }
      return *more;
    });
    CITYHUB_RETURN_IF_ERROR(failure);
    CITYHUB_RETURN_IF_ERROR(st);
    return Finish();
  }

  // Only ids, types and idPattern: walk the type index's keys and read the page's entities.
  Result<QueryResult> FromIdScan(store::ScanOptions scan) {
    if (scan.types.empty()) {
      auto all = ts_.ListTypes();
      if (!all.ok()) return all.status();
      scan.types = std::move(*all);
      if (scan.types.empty()) return Finish();
    }
    scan.id_prefix = PatternPrefix();
    if (pattern_ && scan.types.size() > 1 && std::thread::hardware_concurrency() > 1) {
      auto matches = PatternMatchesInParallel(scan);
      if (!matches.ok()) return matches.status();
      if (*matches) {
        for (const auto& id : **matches) {
          auto more = Accept(std::nullopt, nullptr, id);
          if (!more.ok()) return more.status();
          if (!*more) break;
        }
        return Finish();
      }
    }
    Status failure;
    Status st = ts_.ScanIds(scan, [&](std::string_view id) {
      if (Status t = CheckTime(); !t.ok()) {
        failure = t;
        return false;
      }
      if (!IdMatches(id)) return true;
      auto more = Accept(std::nullopt, nullptr, id);
      if (!more.ok()) {
        failure = more.status();
        return false;
      }
      return *more;
    });
    CITYHUB_RETURN_IF_ERROR(failure);
    CITYHUB_RETURN_IF_ERROR(st);
    return Finish();
  }

  // The literal prefix every id matching idPattern starts with ("" if none): the common prefix
  // of RE2's bounds on the strings the pattern matches from their start, when every match
  // must start there.
  std::string PatternPrefix() const {
    std::string min, max;
    if (!pattern_ || !pattern_facts_.starts_anchored || !pattern_->PossibleMatchRange(&min, &max, 256)) return "";
    size_t n = 0;
    while (n < min.size() && n < max.size() && min[n] == max[n]) ++n;
    return min.substr(0, n);
  }

  // idPattern over several types: each type's ids are walked on its own thread (up to one per
  // core; the regex match is most of the cost), and the matches merged into id order without
  // duplicates (an entity has a key per type). nullopt when the matches exceed
  // kMaxParallelMatches: then the caller walks the merged cursors, holding only a page.
  static constexpr size_t kMaxParallelMatches = 100'000;
  Result<std::optional<std::vector<std::string>>> PatternMatchesInParallel(const store::ScanOptions& scan) {
    const size_t needed = q_.count ? kMaxParallelMatches + 1
                                   : std::min(kMaxParallelMatches + 1, q_.offset + q_.limit);
    std::vector<std::vector<std::string>> per_type(scan.types.size());
    std::vector<Status> failures(scan.types.size());
    // Largest types first, so that the threads finish together.
    std::vector<std::pair<uint64_t, size_t>> order;
    for (size_t i = 0; i < scan.types.size(); ++i) {
      auto n = ts_.CountType(scan.types[i]);
      order.emplace_back(n.ok() ? *n : 0, i);
    }
    std::sort(order.rbegin(), order.rend());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t k; (k = next.fetch_add(1)) < order.size();) {
        const size_t i = order[k].second;
        store::ScanOptions one = scan;
        one.types = {scan.types[i]};
        uint64_t steps = 0;  // this thread's own count
        Status late;
        Status st = ts_.ScanIds(one, [&](std::string_view id) {
          late = CheckTime(steps);
          if (!late.ok()) return false;
          if (IdMatches(id)) per_type[i].emplace_back(id);
          return per_type[i].size() < needed;
        });
        failures[i] = st.ok() ? late : st;
      }
    };
    const size_t threads = std::min<size_t>(scan.types.size(), std::thread::hardware_concurrency());
    std::vector<std::thread> helpers;
    try {
      for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
    } catch (const std::system_error&) {
      // No thread to be had: the ones started, and this one, do all the work.
    }
    work();
    for (auto& h : helpers) h.join();
    for (const auto& f : failures) CITYHUB_RETURN_IF_ERROR(f);
    size_t total = 0;
    for (const auto& ids : per_type) {
      if (ids.size() >= needed && (q_.count || ids.size() > kMaxParallelMatches)) return std::optional<std::vector<std::string>>();
      total += ids.size();
    }
    std::vector<std::string> merged;
    merged.reserve(total);
    for (auto& ids : per_type) std::move(ids.begin(), ids.end(), std::back_inserter(merged));
    std::sort(merged.begin(), merged.end());
    merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
    return std::optional<std::vector<std::string>>(std::move(merged));
  }

  Status TooLong() const {
    return Status::TooComplexQuery(fmt::format(
        "the query took longer than {} ms; narrow it with type, q or a geo-query", limits_.max_query_time.count()));
  }

  store::TenantStore& ts_;
  const EntityQuery& q_;
  const QueryServiceLimits& limits_;
  const re2::RE2* pattern_;
  PatternFacts pattern_facts_;
  const Clock::time_point start_;
  std::vector<std::string> types_;  // sorted, distinct
  uint64_t typed_entities_ = 0;     // entities of types_ (all entities if none)
  std::unordered_set<std::string> expired_;  // ids of expired transient entities
  QueryResult out_;
  std::vector<std::optional<ngsild::Entity>> page_;  // nullopt: decided by the index, read in Finish
  std::vector<std::string> page_docs_;               // with as_text: "" until read in Finish
  bool redacted_ = false;  // the entity RecordMatches last deserialized was changed by the view
  std::vector<std::string> filter_attrs_;  // the attributes q and the geo-query read
  std::vector<std::string> page_ids_;
  uint64_t seen_ = 0;
  uint64_t visited_ = 0;
};

// ---- orderBy --------------------------------------------------------------------------------

// An entity's value for one OrderKey. Kinds order before values: numbers, strings, booleans,
// other JSON (by its text), and entities without a value last in either direction.
struct SortValue {
  enum Rank : uint8_t { kNumber, kString, kBoolean, kOther, kAbsent } rank = kAbsent;
  double number = 0;
  std::string text;
};

// The instance orderBy reads: the default instance, else the first.
const ngsild::Instance* OrderedInstance(const ngsild::Instances& instances) {
  for (const auto& inst : instances) {
    if (ngsild::DatasetIdOf(inst).empty()) return &inst;
  }
  return instances.empty() ? nullptr : &instances.front();
}

SortValue SortValueOf(const boost::json::value& v) {
  SortValue out;
  if (v.is_number()) {
    out.rank = SortValue::kNumber;
    out.number = v.to_number<double>();
  } else if (v.is_string()) {
    out.rank = SortValue::kString;
    out.text = v.get_string();
  } else if (v.is_bool()) {
    out.rank = SortValue::kBoolean;
    out.number = v.get_bool() ? 1 : 0;
  } else if (v.is_array()) {
    if (!v.get_array().empty()) out = SortValueOf(v.get_array().front());
  } else if (v.is_object()) {
    const boost::json::object& o = v.get_object();
    if (const auto* typed = o.if_contains("@value")) return SortValueOf(*typed);  // DateTime, Date, Time
    out.rank = SortValue::kOther;
    out.text = boost::json::serialize(o);
  }
  return out;
}

SortValue SortValueOf(const ngsild::Entity& e, const OrderKey& key, const ngsild::GeoQuery* geo) {
  SortValue out;
  if (key.ByDistance()) {
    if (auto d = geo ? geo->DistanceMetres(e, key.attr) : std::nullopt) {
      out.rank = SortValue::kNumber;
      out.number = *d;
    }
    return out;
  }
  auto it = e.attrs.find(key.attr);
  const ngsild::Instance* inst = it == e.attrs.end() ? nullptr : OrderedInstance(it->second);
  if (!inst) return out;
  const ngsild::AttrType type = ngsild::AttrTypeOf(*inst);
  const boost::json::value* v = inst->if_contains(ngsild::AttrValueMember(type));
  if (!v) return out;
  if (type == ngsild::AttrType::kLanguageProperty && v->is_object() && !v->get_object().empty()) {
    const boost::json::object& map = v->get_object();
    const boost::json::value* none = map.if_contains("@none");
    return SortValueOf(none ? *none : map.begin()->value());
  }
  return SortValueOf(*v);
}

// <0, 0, >0 as `a` orders before, with, after `b` under `direction`.
int Compare(const SortValue& a, const SortValue& b, OrderKey::Direction direction) {
  if (a.rank == SortValue::kAbsent || b.rank == SortValue::kAbsent) {
    return (a.rank == SortValue::kAbsent) - (b.rank == SortValue::kAbsent);  // absent last, either way
  }
  int c = a.rank != b.rank ? (a.rank < b.rank ? -1 : 1) : 0;
  if (c == 0 && (a.rank == SortValue::kNumber || a.rank == SortValue::kBoolean)) c = (a.number > b.number) - (a.number < b.number);
  if (c == 0) c = a.text.compare(b.text) < 0 ? -1 : a.text.compare(b.text) > 0 ? 1 : 0;
  const bool descending = direction == OrderKey::Direction::kDesc || direction == OrderKey::Direction::kDistanceDesc;
  return descending ? -c : c;
}

// Orders every match of `q` (ties by id) and returns q's page of them.
QueryResult OrderAndPage(std::vector<ngsild::Entity> matches, const EntityQuery& q) {
  const size_t n = matches.size();
  std::vector<std::vector<SortValue>> values(n);
  const ngsild::GeoQuery* geo = q.geo ? &*q.geo : nullptr;
  for (size_t i = 0; i < n; ++i) {
    values[i].reserve(q.order_by.size());
    for (const auto& key : q.order_by) values[i].push_back(SortValueOf(matches[i], key, geo));
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    for (size_t k = 0; k < q.order_by.size(); ++k) {
      if (int c = Compare(values[a][k], values[b][k], q.order_by[k].direction)) return c < 0;
    }
    return matches[a].id < matches[b].id;
  });
  QueryResult out;
  if (q.count) out.total = n;
  for (size_t i = q.offset; i < n && out.entities.size() < q.limit; ++i) out.entities.push_back(std::move(matches[order[i]]));
  return out;
}

}  // namespace

QueryService::QueryService(store::Store& store, QueryServiceLimits limits) : store_(store), limits_(limits) {}

Result<QueryResult> QueryService::Query(std::string_view tenant, const EntityQuery& q) const {
  auto ts = OpenTenant(store_, tenant, false);
  if (!ts.ok()) return ts.status();
  std::unique_ptr<re2::RE2> pattern;
  if (!q.id_pattern.empty()) {
    if (q.id_pattern.size() > limits_.max_id_pattern_bytes) {
      return Status::BadRequestData(fmt::format("idPattern is longer than {} bytes", limits_.max_id_pattern_bytes));
    }
    re2::RE2::Options opts;
    opts.set_max_mem(limits_.max_regex_memory_bytes);
    opts.set_log_errors(false);
    pattern = std::make_unique<re2::RE2>(q.id_pattern, opts);
    if (!pattern->ok()) {
      return Status::BadRequestData(fmt::format("idPattern is not a valid regular expression: {}", pattern->error()));
    }
  }
  if (q.order_by.empty()) {
    QueryRun run(**ts, q, limits_, pattern.get());
    return run.Run();
  }
  // orderBy: every match is needed before the first page is known, so at most max_ordered
  // are gathered (one more tells there are too many), then ordered and paged.
  EntityQuery all = q;
  all.offset = 0;
  all.limit = limits_.max_ordered + 1;
  all.count = false;
  all.as_text = false;
  QueryRun run(**ts, all, limits_, pattern.get());
  auto matches = run.Run();
  if (!matches.ok()) return matches.status();
  if (matches->entities.size() > limits_.max_ordered) {
    return Status::TooManyResults(fmt::format("orderBy sorts at most {} matching entities and this query matches more; "
                                              "narrow it with type, q or a geo-query",
                                              limits_.max_ordered));
  }
  return OrderAndPage(std::move(matches->entities), q);
}

}  // namespace cityhub::broker
