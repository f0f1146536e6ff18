/* Distributed reads: forwarding, judging the answers, merging.
 *
 * Every operation has the same shape: build the source request (the caller's parameters with
 * expanded names, so they mean the same under whatever @context a source is sent), ask all
 * sources at once through the ContextSourceClient, turn each answer into a contribution or a
 * warning, merge (ngsild/distributed_merge.h). An answer is used only when it is a 2xx with a
 * body of the expected JSON shape whose entities parse as NGSI-LD; otherwise the whole answer of
 * that source is left out and named in a warning — a source that sends one bad entity is not
 * trusted for the rest of its page. A 404 to a retrieve is a source without that entity, not a
 * failure.
 *
 * Counting across sources (query with count=true) is exact only when every party returned all
 * of its matches; otherwise it is the sum of the parties' counts less the duplicates seen in
 * the returned pages (overlaps beyond them are invisible to the hub).
 */
#include "broker/distributed_read.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <set>

#include <boost/json/monotonic_resource.hpp>
#include <fmt/format.h>

#include "util/json.h"

namespace cityhub::broker {
namespace json = boost::json;
namespace {

ngsild::ContributionRole RoleOf(RegistrationMode mode) {
  switch (mode) {
    case RegistrationMode::kExclusive: return ngsild::ContributionRole::kExclusive;
    case RegistrationMode::kRedirect: return ngsild::ContributionRole::kRedirect;
    case RegistrationMode::kAuxiliary: return ngsild::ContributionRole::kAuxiliary;
    case RegistrationMode::kInclusive: break;
  }
  return ngsild::ContributionRole::kInclusive;
}

SourceWarning Warn(const ContextSource& s, std::string reason) {
  return SourceWarning{s.registration_id, s.endpoint, std::move(reason)};
}

std::string WithParams(const std::string& query, const std::vector<std::pair<std::string, std::string>>& more) {
  std::string extra = EncodeQuery(more);
  if (query.empty()) return extra;
  if (extra.empty()) return query;
  return query + "&" + extra;
}

// The answer's body as JSON when it is a 2xx; otherwise a warning in *why. `storage`: where the
// JSON is kept (an entity answer is parsed into an arena, since every value is copied out of it
// into the hub's entity model). Numbers are read exactly (util::ParseJson), so a value crosses
// the federation unchanged.
std::optional<json::value> Body(const SourceAnswer& a, std::string* why, json::storage_ptr storage = {}) {
  if (a.status < 200 || a.status >= 300) {
    *why = fmt::format("answered HTTP {}", a.status);
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = util::ParseJson(a.body, json::parse_options{}, ec, std::move(storage));
  if (ec) {
    *why = "answered with a body that is not JSON";
    return std::nullopt;
  }
  return v;
}

// The entities of an answer (an object for a retrieve, an array for a query), parsed with the
// @context the source was sent; nullopt with *why when any of them is not valid.
std::optional<std::vector<ngsild::Entity>> Entities(const SourceAnswer& a, const json::value& body,
                                                    const DistributedCall& call, std::string* why) {
  std::vector<const json::object*> items;
  if (body.is_object()) items.push_back(&body.get_object());
  if (body.is_array()) {
    for (const auto& v : body.get_array()) {
      if (!v.is_object()) {
        *why = "answered a list holding something other than entities";
        return std::nullopt;
      }
      items.push_back(&v.get_object());
    }
  }
  if (!body.is_object() && !body.is_array()) {
    *why = "answered something other than entities";
    return std::nullopt;
  }
  Result<ngsild::ContextPtr> ctx = call.resolve_context(a.link_context);
  if (!ctx.ok()) {
    *why = fmt::format("its @context is not available: {}", ctx.status().message());
    return std::nullopt;
  }
  std::vector<ngsild::Entity> out;
  for (const json::object* item : items) {
    Result<ngsild::Entity> e = ngsild::ParseRenderedEntity(*item, **ctx, call.limits);
    if (!e.ok()) {
      *why = fmt::format("answered an invalid entity: {}", e.status().message());
      return std::nullopt;
    }
    out.push_back(std::move(*e));
  }
  return out;
}

// A request whose answers are merged as JSON (discovery, temporal): every source gets the
// caller's @context, so that all answers name things alike.
ForwardedRequest MergedAsJson(const std::string& path, std::string query) {
  ForwardedRequest req;
  req.path = path;
  req.query = std::move(query);
  req.use_registered_context = false;
  return req;
}

// The list a discovery answer holds: the detailed array, or the names of a *List object.
std::optional<json::array> DiscoveryItems(const json::value& body, bool details) {
  if (details) {
    if (body.is_array()) return body.get_array();
    return std::nullopt;
  }
  if (!body.is_object()) return std::nullopt;
  for (std::string_view member : {"typeList", "attributeList"}) {
    const json::value* list = body.get_object().if_contains(member);
    if (list && list->is_array()) return list->get_array();
  }
  return std::nullopt;
}

// An NGSILD-Results-Count header's number; 0 when absent or not a number.
uint64_t CountOf(std::string_view header) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), n);
  return ec == std::errc() && end == header.data() + header.size() ? n : 0;
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

// What a source is asked for of a list of names (types or attributes): those the request asks
// that the registration names; all the request asks if the registration names none; all the
// registration names if the request asks none. (A source registered for ParkingSpot and Person
// is asked for ParkingSpot alone when that is what the client asked.)
std::vector<std::string> Narrowed(const std::vector<std::string>& registered, const std::vector<std::string>& asked) {
  if (registered.empty()) return asked;
  if (asked.empty()) return registered;
  std::vector<std::string> out;
  for (const std::string& name : asked) {
    if (std::find(registered.begin(), registered.end(), name) != registered.end()) out.push_back(name);
  }
  return out;
}

// The sources the request has not passed through yet: those whose registration's
// contextSourceAlias the Via header does not name (§6.3.18).
std::vector<ContextSource> NotYetVisited(const std::vector<ContextSource>& sources, std::string_view via) {
  std::vector<ContextSource> out;
  for (const ContextSource& s : sources) {
    if (s.alias.empty() || !ViaNames(via, s.alias)) out.push_back(s);
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> SourceQueryParams(const ContextSourceRequest& selection,
                                                                   const ContextSource& source, bool with_ids) {
  std::vector<std::pair<std::string, std::string>> out;
  if (with_ids && !selection.entity_ids.empty()) out.emplace_back("id", Joined(selection.entity_ids));
  if (with_ids && !selection.id_pattern.empty()) out.emplace_back("idPattern", selection.id_pattern);
  const std::vector<std::string> types = Narrowed(source.entity_types, selection.entity_types);
  if (!types.empty()) out.emplace_back("type", Joined(types));
  const std::vector<std::string> attrs = Narrowed(source.attributes, selection.attributes);
  if (!attrs.empty()) out.emplace_back("attrs", Joined(attrs));
  return out;
}

std::string SourceWarning::HeaderValue() const {
  std::string text = reason;
  std::replace(text.begin(), text.end(), '"', '\'');
  std::replace_if(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 32; }, ' ');
  return fmt::format("199 {} \"{}\"", registration_id, text);
}

std::vector<SourceAnswer> DistributedRead::AskAll(const std::vector<ContextSource>& sources,
                                                  ForwardedRequest request, const DistributedCall& call, bool with_ids,
                                                  std::vector<SourceWarning>* warnings) {
  std::vector<SourceAnswer> usable;
  AskEach(sources, std::move(request), call, with_ids, warnings,
          [&](SourceAnswer&& a, size_t) { usable.push_back(std::move(a)); });
  // In the sources' order, as the merges expect (they arrive in any).
  std::sort(usable.begin(), usable.end(), [](const SourceAnswer& a, const SourceAnswer& b) { return a.source < b.source; });
  return usable;
}

void DistributedRead::AskEach(const std::vector<ContextSource>& sources, ForwardedRequest request,
                              const DistributedCall& call, bool with_ids, std::vector<SourceWarning>* warnings,
                              const std::function<void(SourceAnswer&&, size_t)>& answered) {
  if (sources.empty() || client_.SeenBefore(call.via, call.alias)) return;
  request.link_context = call.link_context;
  request.via = call.via;
  request.alias = call.alias;
  if (call.query_has_terms) request.use_registered_context = false;
  const std::vector<SourceAnswer> rest = client_.Ask(
      sources,
      [&](const ContextSource& s) {
        if (!call.selection) return request;
        ForwardedRequest narrowed = request;
        std::string selection = EncodeQuery(SourceQueryParams(*call.selection, s, with_ids));
        if (!selection.empty()) narrowed.query = request.query.empty() ? selection : selection + "&" + request.query;
        return narrowed;
      },
      [&](SourceAnswer& a, size_t still_awaited) {
        if (a.outcome == SourceAnswer::Outcome::kAnswered) answered(std::move(a), still_awaited);
      });
  // Every answer was handed over as it landed (Ask takes each landed outcome before it returns);
  // what is left are the sources that failed or were not asked.
  for (const SourceAnswer& a : rest) {
    if (a.outcome == SourceAnswer::Outcome::kAnswered) continue;
    warnings->push_back(Warn(*a.source, a.outcome == SourceAnswer::Outcome::kSkipped ? "not asked: " + a.reason : a.reason));
  }
}

DistributedRead::EntityAnswer DistributedRead::RetrieveEntity(std::optional<ngsild::Entity> local,
                                                              const std::string& entity_id, const std::string& query,
                                                              const std::vector<ContextSource>& sources,
                                                              const DistributedCall& call) {
  EntityAnswer out;
  const std::vector<ContextSource> asked = NotYetVisited(sources, call.via);
  ForwardedRequest req;
  req.path = "/entities/" + PercentEncode(entity_id);
  req.query = query;
  std::vector<ngsild::Contribution> parts;
  if (local) parts.push_back(ngsild::Contribution{ngsild::ContributionRole::kLocal, {}, {std::move(*local)}});
  for (const SourceAnswer& a : AskAll(asked, std::move(req), call, false, &out.warnings)) {
    if (a.status == 404) continue;
    std::string why;
    json::monotonic_resource arena;
    std::optional<json::value> body = Body(a, &why, &arena);
    std::optional<std::vector<ngsild::Entity>> entities;
    if (body) entities = Entities(a, *body, call, &why);
    if (!entities) {
      out.warnings.push_back(Warn(*a.source, std::move(why)));
      continue;
    }
    parts.push_back(ngsild::Contribution{RoleOf(a.source->mode), a.source->attributes, std::move(*entities)});
  }
  out.entity = ngsild::MergeEntity(entity_id, std::move(parts));
  return out;
}

struct DistributedRead::ListedAnswer {
  SourceAnswer answer;
  // The parsed answer lives in `arena`; `items` point into it: each entity's id and object.
  std::unique_ptr<json::monotonic_resource> arena;
  std::optional<json::value> body;
  ngsild::ContextPtr ctx;
  std::vector<std::pair<std::string_view, const json::object*>> items;
  // Items decoded ahead of need (DecodeAhead), by position in `items`; an entry is moved out
  // when its entity is decoded for the page.
  std::vector<std::optional<Result<ngsild::Entity>>> ahead;
  std::vector<ngsild::Entity> decoded;  // the items of the page (Decode)
  bool failed = false;  // an entity of the page was not valid: the answer is not used

  ListedAnswer() = default;
  ListedAnswer(ListedAnswer&&) = default;
  // Not assignable: `body` would be copied into the other answer's arena after that was freed.
  ListedAnswer& operator=(ListedAnswer&&) = delete;

  // Decodes every item, while the hub waits for other sources anyway: which of them the page
  // will hold is known only once all have answered. Errors are kept until an item is needed.
  void DecodeAhead(const ngsild::ParseLimits& limits) {
    ahead.resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) ahead[i] = ngsild::ParseRenderedEntity(*items[i].second, *ctx, limits);
  }

  // Decodes the items whose id `page` holds; false with *why when one of them is not valid.
  bool Decode(const std::set<std::string_view>& page, const ngsild::ParseLimits& limits, std::string* why) {
    decoded.clear();
    for (size_t i = 0; i < items.size(); ++i) {
      if (!page.contains(items[i].first)) continue;
      Result<ngsild::Entity> e = i < ahead.size() && ahead[i] ? std::move(*ahead[i])
                                                               : ngsild::ParseRenderedEntity(*items[i].second, *ctx, limits);
      if (!e.ok()) {
        *why = fmt::format("answered an invalid entity: {}", e.status().message());
        return false;
      }
      decoded.push_back(std::move(*e));
    }
    ahead.clear();  // what is left was not needed
    return true;
  }
};

std::optional<DistributedRead::ListedAnswer> DistributedRead::Listed(SourceAnswer a, const DistributedCall& call,
                                                                     std::string* why) {
  ListedAnswer l;
  l.answer = std::move(a);
  l.arena = std::make_unique<json::monotonic_resource>();
  l.body = Body(l.answer, why, l.arena.get());  // constructs in place: the value stays in the arena
  if (!l.body) return std::nullopt;
  if (!l.body->is_array()) {
    *why = "answered something other than a list of entities";
    return std::nullopt;
  }
  for (const json::value& v : l.body->get_array()) {
    const json::object* o = v.if_object();
    const json::value* id = o ? o->if_contains("id") : nullptr;
    if (o && !id) id = o->if_contains("@id");
    if (!id || !id->is_string()) {
      *why = "answered a list holding something other than entities";
      return std::nullopt;
    }
    l.items.emplace_back(id->get_string(), o);
  }
  Result<ngsild::ContextPtr> ctx = call.resolve_context(l.answer.link_context);
  if (!ctx.ok()) {
    *why = fmt::format("its @context is not available: {}", ctx.status().message());
    return std::nullopt;
  }
  l.ctx = std::move(*ctx);
  l.answer.body.clear();  // parsed: the text is not needed any more
  return l;
}

void DistributedRead::RefetchWithTimes(std::vector<ListedAnswer>* listed, const std::vector<ngsild::Entity>& local,
                                       const std::string& query, const DistributedCall& call) {
  if (!call.selection) return;
  std::map<std::string_view, std::vector<const ngsild::Entity*>> by_id;
  for (const ngsild::Entity& e : local) by_id[e.id].push_back(&e);
  for (const ListedAnswer& l : *listed) {
    if (l.failed) continue;
    for (const ngsild::Entity& e : l.decoded) by_id[e.id].push_back(&e);
  }
  std::set<std::string> ids;
  for (const auto& [id, parts] : by_id) {
    if (parts.size() > 1 && ngsild::NeedsTimes(parts)) ids.emplace(id);
  }
  if (ids.empty()) return;
  std::vector<ContextSource> again;
  std::vector<size_t> which;  // again[i] answered (*listed)[which[i]]
  for (size_t i = 0; i < listed->size(); ++i) {
    const auto& decoded = (*listed)[i].decoded;
    if (!(*listed)[i].failed && std::any_of(decoded.begin(), decoded.end(), [&](const ngsild::Entity& e) { return ids.contains(e.id); })) {
      again.push_back(*(*listed)[i].answer.source);
      which.push_back(i);
    }
  }
  ContextSourceRequest selection = *call.selection;
  selection.entity_ids.assign(ids.begin(), ids.end());
  selection.id_pattern.clear();
  DistributedCall timed = call;
  timed.selection = &selection;
  ForwardedRequest req;
  req.path = "/entities";
  req.query = WithParams(query, {{"options", "sysAttrs"}, {"limit", std::to_string(std::min(ids.size(), kMaxSourcePage))}});
  std::vector<SourceWarning> unused;  // a source failing now keeps its first answer
  const std::set<std::string_view> wanted(ids.begin(), ids.end());
  for (SourceAnswer& a : AskAll(again, std::move(req), timed, true, &unused)) {
    std::string why;
    ListedAnswer& first = (*listed)[which[static_cast<size_t>(a.source - again.data())]];
    std::optional<ListedAnswer> with_times = Listed(std::move(a), timed, &why);
    if (!with_times || !with_times->Decode(wanted, call.limits, &why)) continue;
    for (ngsild::Entity& e : with_times->decoded) {
      auto it = std::find_if(first.decoded.begin(), first.decoded.end(),
                             [&](const ngsild::Entity& d) { return d.id == e.id; });
      if (it != first.decoded.end()) *it = std::move(e);
    }
  }
}

DistributedRead::QueryAnswer DistributedRead::QueryEntities(std::vector<ngsild::Entity> local,
                                                            std::optional<uint64_t> local_total,
                                                            const std::string& query, size_t offset, size_t limit,
                                                            bool count, const std::vector<ContextSource>& sources,
                                                            const DistributedCall& call) {
  QueryAnswer out;
  const size_t local_returned = local.size();
  const std::vector<ContextSource> asked = NotYetVisited(sources, call.via);
  const size_t wanted = std::min(offset + limit, kMaxSourcePage);
  ForwardedRequest req;
  req.path = "/entities";
  std::vector<std::pair<std::string, std::string>> page{{"offset", "0"}, {"limit", std::to_string(wanted)}};
  if (count) page.emplace_back("count", "true");
  req.query = WithParams(query, page);

  // Each answer is read as it comes; while other sources are still awaited, its entities are
  // decoded too (the page is chosen once all are in, and waiting costs nothing).
  std::vector<std::optional<ListedAnswer>> by_source(asked.size());
  AskEach(asked, req, call, true, &out.warnings, [&](SourceAnswer&& a, size_t still_awaited) {
    const ContextSource* source = a.source;
    std::string why;
    std::optional<ListedAnswer> l = Listed(std::move(a), call, &why);
    if (!l) {
      out.warnings.push_back(Warn(*source, std::move(why)));
      return;
    }
    if (still_awaited > 0) l->DecodeAhead(call.limits);
    by_source[static_cast<size_t>(source - asked.data())].emplace(std::move(*l));
  });
  std::vector<ListedAnswer> listed;  // in the sources' order, as the merge expects
  listed.reserve(asked.size());
  for (std::optional<ListedAnswer>& l : by_source) {
    if (l) listed.push_back(std::move(*l));
  }

  // The ids of the page, and each of its entities decoded; a source that answered an entity of
  // the page that is not valid NGSI-LD is left out as a whole, and the page chosen again.
  std::vector<std::string_view> ids;
  for (;;) {
    ids.clear();
    for (const ngsild::Entity& e : local) ids.push_back(e.id);
    for (const ListedAnswer& l : listed) {
      if (l.failed) continue;
      for (const auto& [id, item] : l.items) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const size_t first = std::min(offset, ids.size());
    const std::set<std::string_view> in_page(ids.begin() + first, ids.begin() + std::min(ids.size(), offset + limit));
    bool redo = false;
    for (ListedAnswer& l : listed) {
      if (l.failed) continue;
      std::string why;
      if (!l.Decode(in_page, call.limits, &why)) {
        l.failed = true;
        out.warnings.push_back(Warn(*l.answer.source, std::move(why)));
        redo = true;
      }
    }
    if (!redo) {
      // (Judged before erasing: the views in `in_page` may point into `local`'s ids.)
      std::vector<bool> kept(local.size());
      for (size_t i = 0; i < local.size(); ++i) kept[i] = in_page.contains(local[i].id);
      size_t next = 0;
      std::erase_if(local, [&](const ngsild::Entity&) { return !kept[next++]; });
      break;
    }
  }
  const size_t distinct = ids.size();  // (only the count: the views may now dangle)
  RefetchWithTimes(&listed, local, query, call);

  // Counting (see the top of this file).
  const uint64_t local_count = std::max<uint64_t>(local_total.value_or(0), local_returned);
  bool complete = local_returned < offset + limit && local_count == local_returned;
  uint64_t summed = local_count;
  size_t returned = local_returned;
  for (const ListedAnswer& l : listed) {
    if (l.failed) continue;
    const size_t n = l.items.size();
    const uint64_t their_count = std::max<uint64_t>(n, CountOf(l.answer.results_count));
    complete = complete && n < wanted && their_count <= n;
    summed += their_count;
    returned += n;
  }
  if (count) out.total = complete ? distinct : summed - (returned - distinct);

  std::vector<ngsild::Contribution> parts;
  parts.push_back(ngsild::Contribution{ngsild::ContributionRole::kLocal, {}, std::move(local)});
  for (ListedAnswer& l : listed) {
    if (l.failed) continue;
    parts.push_back(ngsild::Contribution{RoleOf(l.answer.source->mode), l.answer.source->attributes, std::move(l.decoded)});
  }
  out.entities = ngsild::MergeEntities(std::move(parts));
  return out;
}

DistributedRead::JsonAnswer DistributedRead::Discovery(json::array local, const std::string& path,
                                                       const std::string& query, bool details,
                                                       const std::vector<ContextSource>& sources,
                                                       const DistributedCall& call) {
  JsonAnswer out;
  const std::vector<ContextSource> asked = NotYetVisited(sources, call.via);
  ForwardedRequest req = MergedAsJson(
      path, WithParams(query, details ? std::vector<std::pair<std::string, std::string>>{{"details", "true"}}
                                      : std::vector<std::pair<std::string, std::string>>{}));
  std::vector<json::array> lists{std::move(local)};
  for (const SourceAnswer& a : AskAll(asked, std::move(req), call, false, &out.warnings)) {
    std::string why;
    std::optional<json::value> body = Body(a, &why);
    std::optional<json::array> items;
    if (body) {
      items = DiscoveryItems(*body, details);
      if (!items) why = "answered something other than a discovery list";
    }
    if (!items) {
      out.warnings.push_back(Warn(*a.source, std::move(why)));
      continue;
    }
    lists.push_back(std::move(*items));
  }
  if (!details) {
    out.items = ngsild::MergeNameLists(lists);
  } else if (path == "/types") {
    out.items = ngsild::MergeTypeDetails(lists);
  } else {
    out.items = ngsild::MergeAttributeDetails(lists);
  }
  return out;
}

DistributedRead::InfoAnswer DistributedRead::DiscoveryInfo(std::optional<json::object> local, const std::string& path,
                                                           const std::vector<ContextSource>& sources,
                                                           const DistributedCall& call) {
  InfoAnswer out;
  const std::vector<ContextSource> asked = NotYetVisited(sources, call.via);
  ForwardedRequest req = MergedAsJson(path, "");
  std::vector<json::object> parts;
  if (local) parts.push_back(std::move(*local));
  for (const SourceAnswer& a : AskAll(asked, std::move(req), call, false, &out.warnings)) {
    if (a.status == 404) continue;
    std::string why;
    std::optional<json::value> body = Body(a, &why);
    const json::object* info = body ? body->if_object() : nullptr;
    const json::value* id = info ? info->if_contains("id") : nullptr;
    if (!id || !id->is_string()) {
      if (body) why = "answered something other than the details asked for";
      out.warnings.push_back(Warn(*a.source, std::move(why)));
      continue;
    }
    parts.push_back(*info);
  }
  if (parts.empty()) return out;
  out.info = path.starts_with("/types/") ? ngsild::MergeTypeInfo(parts) : ngsild::MergeAttributeInfo(parts);
  return out;
}

DistributedRead::JsonAnswer DistributedRead::Temporal(std::vector<json::object> local, const std::string& path,
                                                      const std::string& query,
                                                      const std::vector<ContextSource>& sources,
                                                      const DistributedCall& call) {
  JsonAnswer out;
  const std::vector<ContextSource> asked = NotYetVisited(sources, call.via);
  ForwardedRequest req = MergedAsJson(path, query);
  std::vector<std::vector<json::object>> parts{std::move(local)};
  for (const SourceAnswer& a : AskAll(asked, std::move(req), call, path == "/temporal/entities", &out.warnings)) {
    if (a.status == 404) continue;
    std::string why;
    std::optional<json::value> body = Body(a, &why);
    std::optional<std::vector<json::object>> entities;
    if (body && body->is_object()) entities = std::vector<json::object>{body->get_object()};
    if (body && body->is_array()) {
      entities.emplace();
      for (const auto& v : body->get_array()) {
        if (v.is_object()) entities->push_back(v.get_object());
      }
    }
    if (!entities) {
      if (body) why = "answered something other than temporal entities";
      out.warnings.push_back(Warn(*a.source, std::move(why)));
      continue;
    }
    parts.push_back(std::move(*entities));
  }
  for (json::object& e : ngsild::MergeTemporalEntities(parts)) out.items.push_back(std::move(e));
  return out;
}

}  // namespace cityhub::broker
