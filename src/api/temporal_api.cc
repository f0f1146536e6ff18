// /ngsi-ld/v1/temporal/…: the temporal evolution of entities (GS CIM 009 §5.6.11–5.6.16,
// §5.7.3, §5.7.4; HTTP binding §6.18–6.24). History is recorded by the broker on every write
// (broker/history_recorder.h) and read through broker::TemporalService; this file parses the
// temporal query (timerel, timeAt, endTimeAt, timeproperty, lastN, attrs, format/options) and
// renders the three representations:
//   normalized       each attribute an array of instances, oldest first, each with its
//                    instanceId (and createdAt/modifiedAt with sysAttrs; deletedAt on a
//                    deletion instance);
//   temporalValues   {"type": …, "values"|"objects"|…: [[value, time], …]} per attribute (one
//                    such object per datasetId when there are several);
//   aggregatedValues {"type": …, "<method>": [[value, start, end], …]} per attribute.
// Every representation carries the entity's scope; `lang` (§4.15) narrows LanguageProperties
// to one language. A history longer than the per-attribute cap (TemporalQuery::max_instances)
// is answered with 206 Partial Content and Content-Range: date-time <start>-<end>/<lastN or *>,
// the answer cut to that one time range for all of its attributes (CutToCommonRange).
#include <algorithm>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "api/api.h"
#include "api/caller.h"
#include "api/distributed.h"
#include "api/entity_read.h"
#include "api/query_spec.h"
#include "api/request.h"
#include "broker/temporal_aggregation.h"
#include "broker/temporal_service.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kTemporalPath = "/ngsi-ld/v1/temporal/entities";

enum class TemporalFormat { kNormalized, kTemporalValues, kAggregatedValues };

// Everything a temporal read asks for.
struct TemporalRead {
  ResourceRead in;
  broker::TemporalQuery query;
  std::optional<std::set<std::string>> attrs;
  std::optional<std::set<std::string>> datasets;  // datasetId (§4.5.5); "" = the default instances
  std::optional<ngsild::Projection> projection;  // pick / omit, applied to each rendered entity
  TemporalFormat format = TemporalFormat::kNormalized;
  bool sys_attrs = false;
  std::optional<std::vector<std::string>> lang;  // preferred language tags (§4.15)
  broker::AggregationRequest aggregation;
  // What context sources are sent besides the selection (api/distributed.h): the time query,
  // lang, datasetId, pick/omit and sysAttrs as the caller asked them.
  std::vector<std::pair<std::string, std::string>> forwarded;
};

// Where the temporal query's parameters come from: the URL, or for POST
// /temporal/entityOperations/query the body's temporalQ (whose members win over the URL's).
class ParamSource {
 public:
  explicit ParamSource(const Request& req) : req_(req) {}

  // Takes the members of a temporalQ object (strings; lastN may be a number, aggrMethods an
  // array). BadRequestData naming a member of another kind.
  Status AddTemporalQ(const json::object& tq) {
    for (const auto& [key, v] : tq) {
      std::string k(key);
      if (v.is_string()) {
        body_[k] = std::string(v.get_string());
      } else if (v.is_int64() || v.is_uint64()) {
        body_[k] = json::serialize(v);
      } else if (v.is_array() && k == "aggrMethods") {
        std::string joined;
        for (const auto& m : v.get_array()) {
          if (!m.is_string()) return Status::BadRequestData("temporalQ: 'aggrMethods' must hold strings");
          if (!joined.empty()) joined.push_back(',');
          joined.append(m.get_string());
        }
        body_[k] = std::move(joined);
      } else {
        return Status::BadRequestData(fmt::format("temporalQ: '{}' must be a string", k.substr(0, 64)));
      }
    }
    return Status::Ok();
  }
  // Sets a member the Query body has besides its temporalQ (lang).
  void Set(std::string name, std::string value) { body_[std::move(name)] = std::move(value); }
  const std::string* Get(std::string_view name) const {
    auto it = body_.find(name);
    return it != body_.end() ? &it->second : req_.Param(name);
  }

 private:
  const Request& req_;
  std::map<std::string, std::string, std::less<>> body_;
};

Result<int64_t> DateTimeParam(const ParamSource& req, std::string_view name, util::TimeFraction* fraction) {
  const std::string* v = req.Get(name);
  if (!v) return Status::BadRequestData(fmt::format("parameter '{}' is missing", name));
  auto ms = util::ParseDateTime(*v, fraction);
  if (!ms) {
    return Status::BadRequestData(
        fmt::format("parameter '{}' must be an ISO 8601 DateTime with a time zone (e.g. 2026-01-31T12:00:00Z)", name));
  }
  return *ms;
}

// timerel, timeAt, endTimeAt, timeproperty, lastN; `required`: the query operation needs a
// temporal query, retrieval does not.
Status ReadTimeQuery(const ParamSource& req, bool required, broker::TemporalQuery* q) {
  const std::string* timerel = req.Get("timerel");
  if (!timerel) {
    if (required) return Status::BadRequestData("parameter 'timerel' is missing: a temporal query needs timerel and timeAt");
    if (req.Get("timeAt")) return Status::BadRequestData("parameter 'timeAt' needs 'timerel' (before, after or between)");
    if (req.Get("endTimeAt")) return Status::BadRequestData("parameter 'endTimeAt' needs timerel=between");
  } else {
    if (*timerel == "before") {
      q->timerel = broker::TimeRel::kBefore;
    } else if (*timerel == "after") {
      q->timerel = broker::TimeRel::kAfter;
    } else if (*timerel == "between") {
      q->timerel = broker::TimeRel::kBetween;
    } else {
      return Status::BadRequestData("parameter 'timerel' must be before, after or between");
    }
    auto at = DateTimeParam(req, "timeAt", &q->time_at_fraction);
    if (!at.ok()) return at.status();
    q->time_at_ms = *at;
    if (q->timerel == broker::TimeRel::kBetween) {
      auto end = DateTimeParam(req, "endTimeAt", &q->end_time_at_fraction);
      if (!end.ok()) return end.status();
      if (*end <= *at) return Status::BadRequestData("parameter 'endTimeAt' must be later than 'timeAt'");
      q->end_time_at_ms = *end;
    } else if (req.Get("endTimeAt")) {
      return Status::BadRequestData("parameter 'endTimeAt' is only allowed with timerel=between");
    }
  }
  if (const std::string* p = req.Get("timeproperty")) {
    if (*p == "observedAt") {
      q->timeproperty = broker::TimeProperty::kObservedAt;
    } else if (*p == "createdAt") {
      q->timeproperty = broker::TimeProperty::kCreatedAt;
    } else if (*p == "modifiedAt") {
      q->timeproperty = broker::TimeProperty::kModifiedAt;
    } else if (*p == "deletedAt") {
      q->timeproperty = broker::TimeProperty::kDeletedAt;
    } else {
      return Status::BadRequestData("parameter 'timeproperty' must be observedAt, createdAt, modifiedAt or deletedAt");
    }
  }
  if (const std::string* n = req.Get("lastN")) {
    if (n->empty() || n->size() > 9 || n->find_first_not_of("0123456789") != std::string::npos || std::stoul(*n) == 0) {
      return Status::BadRequestData("parameter 'lastN' must be a positive integer");
    }
    q->last_n = std::stoul(*n);
  }
  return Status::Ok();
}

// format / options: temporalValues, aggregatedValues (with aggrMethods, aggrPeriodDuration),
// sysAttrs.
Status ReadRepresentation(const ParamSource& req, TemporalRead* out) {
  std::optional<TemporalFormat> chosen;
  auto choose = [&](std::string_view f, std::string_view param) -> Status {
    TemporalFormat next;
    if (f == "temporalValues") {
      next = TemporalFormat::kTemporalValues;
    } else if (f == "aggregatedValues") {
      next = TemporalFormat::kAggregatedValues;
    } else if (f == "normalized") {
      next = TemporalFormat::kNormalized;
    } else {
      return Status::BadRequestData(
          fmt::format("parameter '{}': '{}' is not a temporal representation (normalized, temporalValues, "
                      "aggregatedValues)", param, f.substr(0, 64)));
    }
    if (chosen && *chosen != next && param == "options") {
      return Status::BadRequestData("parameter 'options' may name only one of temporalValues and aggregatedValues");
    }
    chosen = next;
    return Status::Ok();
  };
  if (const std::string* options = req.Get("options")) {
    auto items = SplitList(*options, "options");
    if (!items.ok()) return items.status();
    for (const auto& item : *items) {
      if (item == "sysAttrs") {
        out->sys_attrs = true;
      } else {
        CITYHUB_RETURN_IF_ERROR(choose(item, "options"));
      }
    }
  }
  if (const std::string* format = req.Get("format")) {  // takes precedence over options
    chosen.reset();
    CITYHUB_RETURN_IF_ERROR(choose(*format, "format"));
  }
  out->format = chosen.value_or(TemporalFormat::kNormalized);
  if (out->format == TemporalFormat::kAggregatedValues) {
    const std::string* methods = req.Get("aggrMethods");
    if (!methods) return Status::BadRequestData("parameter 'aggrMethods' is required for aggregatedValues");
    auto parsed = broker::ParseAggregationMethods(*methods);
    if (!parsed.ok()) return parsed.status();
    out->aggregation.methods = *parsed;
    if (const std::string* period = req.Get("aggrPeriodDuration")) {
      auto d = broker::ParseIsoDuration(*period);
      if (!d.ok()) return d.status();
      out->aggregation.period = *d;
    }
  }
  return Status::Ok();
}

// The temporal query and representation of a request whose tenant, media type and @context
// are read already (`in`).
Result<TemporalRead> ReadTemporalRequest(const Request& req, const ApiDeps& deps, bool query, ResourceRead in,
                                         const ParamSource& params) {
  TemporalRead out;
  out.in = std::move(in);
  CITYHUB_RETURN_IF_ERROR(ReadTimeQuery(params, query, &out.query));
  CITYHUB_RETURN_IF_ERROR(ReadRepresentation(params, &out));
  auto attrs = AttrsParam(req, *out.in.ctx);
  if (!attrs.ok()) return attrs.status();
  out.attrs = std::move(*attrs);
  auto lang = LangOf(params.Get("lang"));
  if (!lang.ok()) return lang.status();
  out.lang = std::move(*lang);
  if (const std::string* d = params.Get("datasetId")) {
    auto items = SplitList(*d, "datasetId");
    if (!items.ok()) return items.status();
    auto datasets = ngsild::ParseDatasetSelection(*items, "parameter 'datasetId'");
    if (!datasets.ok()) return datasets.status();
    out.datasets = std::move(*datasets);
  }
  auto projection = ProjectionOf(req, *out.in.ctx);
  if (!projection.ok()) return projection.status();
  out.projection = std::move(*projection);
  out.query.max_instances = deps.limits.max_temporal_instances;
  for (const char* name : {"timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "lang", "datasetId"}) {
    if (const std::string* v = params.Get(name)) out.forwarded.emplace_back(name, *v);
  }
  for (const char* name : {"pick", "omit"}) {
    if (const std::string* v = req.Param(name)) out.forwarded.emplace_back(name, *v);
  }
  if (out.sys_attrs) out.forwarded.emplace_back("options", "sysAttrs");
  return out;
}

Result<TemporalRead> ReadTemporalRequest(const Request& req, const ApiDeps& deps, bool query) {
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return in.status();
  return ReadTemporalRequest(req, deps, query, std::move(*in), ParamSource(req));
}

// Sets out["type"]: the compact type, or an array of them.
void PutTypes(const std::vector<std::string>& types, const ngsild::Context& ctx, json::object* out) {
  if (types.size() == 1) {
    (*out)["type"] = ctx.CompactIri(types.front());
  } else {
    json::array t;
    for (const auto& type : types) t.emplace_back(ctx.CompactIri(type));
    (*out)["type"] = std::move(t);
  }
}

// The instance as the normalized representation shows it (times as the render expects).
ngsild::Instance ShownInstance(const broker::HistoryInstance& h) {
  ngsild::Instance inst = h.instance;
  if (h.observed_ms) inst["observedAt"] = util::FormatDateTime(*h.observed_ms, h.observed_fraction);
  inst["instanceId"] = broker::InstanceIdOf(h.stamp_us);
  inst["createdAt"] = h.stamp_us / 1000;
  inst["modifiedAt"] = h.modified_us / 1000;
  if (h.deleted_ms) inst["deletedAt"] = util::FormatDateTime(*h.deleted_ms);
  return inst;
}

// The member holding the [value, time] pairs of an attribute type (§4.5.9).
std::string_view SimplifiedKey(ngsild::AttrType t) {
  switch (t) {
    case ngsild::AttrType::kRelationship: return "objects";
    case ngsild::AttrType::kLanguageProperty: return "languageMaps";
    case ngsild::AttrType::kVocabProperty: return "vocabs";
    case ngsild::AttrType::kJsonProperty: return "jsons";
    case ngsild::AttrType::kListProperty: return "valueLists";
    case ngsild::AttrType::kListRelationship: return "objectLists";
    default: return "values";
  }
}

// The attribute type an instance is shown as: with `lang`, a LanguageProperty is a Property
// holding the string of the preferred language (§4.15).
ngsild::AttrType ShownType(const ngsild::Instance& inst, const std::vector<std::string>* lang) {
  const ngsild::AttrType type = ngsild::AttrTypeOf(inst);
  return lang && type == ngsild::AttrType::kLanguageProperty ? ngsild::AttrType::kProperty : type;
}

// The first element of a temporalValues pair (§4.5.9 table).
json::value SimplifiedValue(const ngsild::Instance& inst, const ngsild::Context& ctx,
                            const std::vector<std::string>* lang) {
  ngsild::RenderOptions opts;
  opts.format = ngsild::Format::kKeyValues;
  opts.lang = lang;
  json::value v = ngsild::RenderAttribute({inst}, ctx, opts);
  switch (ShownType(inst, lang)) {
    case ngsild::AttrType::kLanguageProperty: return json::object{{"languageMap", std::move(v)}};
    case ngsild::AttrType::kVocabProperty: return json::object{{"vocab", std::move(v)}};
    case ngsild::AttrType::kJsonProperty: return json::object{{"json", std::move(v)}};
    default: return v;
  }
}

// A time as an answer shows it: epoch ms and the fraction to write it with.
struct ShownTime {
  int64_t ms = 0;
  util::TimeFraction fraction;

  std::string Text() const { return util::FormatDateTime(ms, fraction); }
};

// The time of `h` the answer shows: the timeproperty's, observedAt as it was written (an
// instance without the timeproperty: the time it is filed under).
ShownTime InstanceTime(const broker::HistoryInstance& h, const broker::TemporalQuery& q) {
  const std::optional<int64_t> t = q.TimeOf(h);
  const bool observed = t ? q.timeproperty == broker::TimeProperty::kObservedAt : h.observed_ms.has_value();
  return {t.value_or(h.TimeMs()), observed ? h.observed_fraction : util::TimeFraction{}};
}

// timeAt / endTimeAt as the client wrote them.
ShownTime TimeAt(const broker::TemporalQuery& q) { return {q.time_at_ms, q.time_at_fraction}; }
ShownTime EndTimeAt(const broker::TemporalQuery& q) { return {q.end_time_at_ms, q.end_time_at_fraction}; }

json::value RenderTemporalValues(const broker::TemporalAttribute& a, const broker::TemporalQuery& q,
                                 const ngsild::Context& ctx, const std::vector<std::string>* lang) {
  // One object per datasetId, in order of first appearance.
  std::vector<std::pair<std::string, json::object>> by_dataset;
  for (const auto& h : a.instances) {
    const std::string dataset(ngsild::DatasetIdOf(h.instance));
    auto it = std::find_if(by_dataset.begin(), by_dataset.end(), [&](const auto& d) { return d.first == dataset; });
    const ngsild::AttrType type = ShownType(h.instance, lang);
    if (it == by_dataset.end()) {
      json::object o;
      o["type"] = ngsild::AttrTypeName(type);
      if (!dataset.empty()) o["datasetId"] = dataset;
      o[SimplifiedKey(type)] = json::array();
      by_dataset.emplace_back(dataset, std::move(o));
      it = std::prev(by_dataset.end());
    }
    json::array pair{SimplifiedValue(h.instance, ctx, lang), InstanceTime(h, q).Text()};
    it->second[SimplifiedKey(type)].get_array().push_back(std::move(pair));
  }
  if (by_dataset.size() == 1) return std::move(by_dataset.front().second);
  json::array all;
  for (auto& [dataset, o] : by_dataset) all.push_back(std::move(o));
  return all;
}

json::object RenderTemporalEntity(const broker::TemporalEntity& e, const TemporalRead& r, const ApiDeps& deps) {
  const ngsild::Context& ctx = *r.in.ctx;
  json::object out;
  out["id"] = e.id;
  PutTypes(e.types, ctx, &out);
  if (!e.scope.is_null()) out["scope"] = e.scope;
  if (r.sys_attrs) {
    // §6.3.11 (options sysAttrs): "the system generated attributes createdAt, modifiedAt are
    // included [...] In the case of temporal representations, also the system generated
    // attribute deletedAt is included, if the NGSI-LD Element has been deleted." The entity's
    // own are those of the entity as it is now; a deleted entity has only its deletedAt.
    if (auto now = deps.entities->Get(r.in.tenant, e.id); now.ok()) {
      out["createdAt"] = util::FormatDateTime(now->created_at);
      out["modifiedAt"] = util::FormatDateTime(now->modified_at);
    } else if (e.deleted_ms) {
      out["deletedAt"] = util::FormatDateTime(*e.deleted_ms);
    }
  }
  const std::vector<std::string>* lang = r.lang ? &*r.lang : nullptr;
  ngsild::RenderOptions opts;
  opts.format = ngsild::Format::kNormalized;
  opts.sys_attrs = r.sys_attrs;
  opts.lang = lang;
  for (const auto& a : e.attributes) {
    std::string name = ctx.CompactIri(a.name);
    if (r.format == TemporalFormat::kTemporalValues) {
      out[name] = RenderTemporalValues(a, r.query, ctx, lang);
      continue;
    }
    ngsild::Instances shown;
    shown.reserve(a.instances.size());
    for (const auto& h : a.instances) shown.push_back(ShownInstance(h));
    json::value v = ngsild::RenderAttribute(shown, ctx, opts);
    if (v.is_object()) v = json::array{std::move(v)};
    out[name] = std::move(v);
  }
  if (r.projection) r.projection->Apply(out);
  return out;
}

// A period bound of aggregatedValues: timeAt or endTimeAt as the client wrote them, any other
// bound with timeAt's digits when they show it exactly, else (and without timeAt) with
// milliseconds.
std::string PeriodBound(int64_t ms, const broker::TemporalQuery& q) {
  if (q.timerel == broker::TimeRel::kAny) return util::FormatDateTime(ms);
  if (ms == q.time_at_ms) return TimeAt(q).Text();
  if (q.timerel == broker::TimeRel::kBetween && ms == q.end_time_at_ms) return EndTimeAt(q).Text();
  util::TimeFraction digits{q.time_at_fraction.digits, 0};
  int64_t unit = 1;
  for (int d = digits.digits; d < 3; ++d) unit *= 10;
  if (ms % unit != 0) digits = {};
  return util::FormatDateTime(ms, digits);
}

json::object RenderAggregatedEntity(const broker::AggregatedEntity& e, const TemporalRead& r) {
  const ngsild::Context& ctx = *r.in.ctx;
  json::object out;
  out["id"] = e.id;
  PutTypes(e.types, ctx, &out);
  if (!e.scope.is_null()) out["scope"] = e.scope;
  for (const auto& a : e.attributes) {
    json::object attr;
    attr["type"] = a.type;
    for (const auto& [method, periods] : a.results) {
      json::array rows;
      for (const auto& p : periods) {
        rows.push_back(json::array{p.value, PeriodBound(p.start_ms, r.query), PeriodBound(p.end_ms, r.query)});
      }
      attr[broker::AggregationMethodName(method)] = std::move(rows);
    }
    out[ctx.CompactIri(a.name)] = std::move(attr);
  }
  if (r.projection) r.projection->Apply(out);
  return out;
}

// The time of `h` under the query's timeproperty (its filing time when it has none).
int64_t TimeOf(const broker::HistoryInstance& h, const broker::TemporalQuery& q) {
  return q.TimeOf(h).value_or(h.TimeMs());
}

// §6.3.10: an answer whose attributes were cut at the per-attribute cap covers one time range
// for all of its attributes and entities: forwards it ends where the shortest cut attribute
// ends, backwards (lastN) where the latest-starting one starts, and instances of the other
// attributes beyond that are left out too — so a client going on from the range's end misses
// none and gets none twice. Returns the Content-Range (date-time <start>-<end>/<lastN or *>,
// times as the answer shows them), or nullopt when nothing was cut.
std::optional<std::string> CutToCommonRange(std::vector<broker::TemporalEntity>* entities,
                                            const broker::TemporalQuery& q) {
  std::optional<ShownTime> oldest, newest, cut;
  auto earlier = [](const std::optional<ShownTime>& a, const ShownTime& b) { return a && a->ms <= b.ms ? *a : b; };
  auto later = [](const std::optional<ShownTime>& a, const ShownTime& b) { return a && a->ms >= b.ms ? *a : b; };
  for (const auto& e : *entities) {
    for (const auto& a : e.attributes) {
      if (a.instances.empty()) continue;
      const ShownTime first = InstanceTime(a.instances.front(), q);
      const ShownTime last = InstanceTime(a.instances.back(), q);
      oldest = earlier(oldest, first);
      newest = later(newest, last);
      if (a.truncated) cut = q.last_n ? later(cut, first) : earlier(cut, last);
    }
  }
  if (!cut) return std::nullopt;
  for (auto& e : *entities) {
    for (auto& a : e.attributes) {
      std::erase_if(a.instances, [&](const broker::HistoryInstance& h) {
        return q.last_n ? TimeOf(h, q) < cut->ms : TimeOf(h, q) > cut->ms;
      });
    }
    std::erase_if(e.attributes, [](const broker::TemporalAttribute& a) { return a.instances.empty(); });
  }
  ShownTime start;
  if (q.last_n) {
    start = q.timerel == broker::TimeRel::kBefore    ? TimeAt(q)
            : q.timerel == broker::TimeRel::kBetween ? EndTimeAt(q)
                                                     : *newest;
  } else {
    start = (q.timerel == broker::TimeRel::kAfter || q.timerel == broker::TimeRel::kBetween) ? TimeAt(q) : *oldest;
  }
  return fmt::format("date-time {}-{}/{}", start.Text(), cut->Text(),
                     q.last_n ? std::to_string(*q.last_n) : std::string("*"));
}

// The answer: 206 with the Content-Range when `range` is set, else 200.
Response Answer(json::value body, const TemporalRead& r, const std::optional<std::string>& range) {
  Response resp = JsonResponse(range ? 206 : 200, std::move(body), r.in.media, *r.in.ctx);
  if (range) resp.headers.Add("Content-Range", *range);
  return resp;
}

Status CheckEntityId(const std::string& id) {
  if (!ngsild::IsUri(id)) return Status::BadRequestData(fmt::format("entity id '{}' in the path is not a URI", id.substr(0, 100)));
  return Status::Ok();
}

// Retrieve temporal (§5.7.3) with the matching context sources (§4.3.6): the hub's rendered
// history, when it holds the entity, merged with the sources' (ngsild::MergeTemporalEntities);
// 404 when nobody holds it. Each source that could not contribute is named in an NGSILD-Warning.
Response RetrieveTemporalDistributed(const ApiDeps& deps, const TemporalRead& r, const std::string& id,
                                     const Distribution& plan) {
  std::vector<json::object> local;
  std::optional<std::string> range;
  auto e = deps.temporal->Retrieve(r.in.tenant, id, r.query);
  if (!e.ok() && e.status().code() != Status::Code::kNotFound) return Problem(e.status());
  if (e.ok()) {
    std::vector<broker::TemporalEntity> read;
    read.push_back(std::move(*e));
    range = CutToCommonRange(&read, r.query);
    local.push_back(RenderTemporalEntity(read.front(), r, deps));
  }
  auto answer = deps.distributed_reads->Temporal(std::move(local), "/temporal/entities/" + broker::PercentEncode(id),
                                                 plan.query, plan.sources, plan.call);
  Response resp = answer.items.empty()
                      ? Problem(Status::NotFound(fmt::format(
                            "entity '{}' has no history here nor at a context source that answered", id.substr(0, 200))))
                      : Answer(std::move(answer.items.front()), r, range);
  AddSourceWarnings(answer.warnings, &resp);
  return resp;
}

// Query temporal (§5.7.4) with the matching context sources (§4.3.6): the hub's first offset +
// limit matches and each source's, merged by id (ngsild::MergeTemporalEntities), ordered by id and
// paged. The count is the number of distinct entities among what the parties returned plus the
// hub's own matches past them (a source's further matches are not seen).
Response QueryTemporalDistributed(const Request& req, const ApiDeps& deps, const TemporalRead& r,
                                  const broker::EntityQuery& sel, const Paging& page, const Distribution& plan) {
  const size_t wanted = std::min(page.offset + page.limit, broker::DistributedRead::kMaxSourcePage);
  size_t total = 0;
  auto entities = deps.temporal->Query(r.in.tenant, sel, r.query, 0, page.offset + page.limit, &total);
  if (!entities.ok()) return Problem(entities.status());
  const size_t local_returned = entities->size();
  const std::optional<std::string> range = CutToCommonRange(&*entities, r.query);
  std::vector<json::object> local;
  for (const auto& e : *entities) local.push_back(RenderTemporalEntity(e, r, deps));
  std::string query = plan.query;
  query += fmt::format("{}offset=0&limit={}", query.empty() ? "" : "&", wanted);
  auto answer = deps.distributed_reads->Temporal(std::move(local), "/temporal/entities", query, plan.sources, plan.call);
  std::vector<json::value> merged(answer.items.begin(), answer.items.end());
  auto id_of = [](const json::value& v) {
    const json::value* id = v.get_object().if_contains("id");
    return id && id->is_string() ? std::string_view(id->get_string()) : std::string_view();
  };
  std::stable_sort(merged.begin(), merged.end(),
                   [&](const json::value& a, const json::value& b) { return id_of(a) < id_of(b); });
  const size_t counted = merged.size() + (total - std::min<size_t>(total, local_returned));
  json::array body;
  for (size_t i = page.offset; i < merged.size() && i < page.offset + page.limit; ++i) {
    body.push_back(std::move(merged[i]));
  }
  Response resp = Answer(std::move(body), r, range);
  if (page.count) resp.headers.Add("NGSILD-Results-Count", std::to_string(counted));
  AddPageLinks(req, page, page.offset + page.limit < counted, &resp);
  AddSourceWarnings(answer.warnings, &resp);
  return resp;
}

Response RetrieveTemporal(const Request& req, const ApiDeps& deps, const std::string& id) {
  if (Status st = CheckEntityId(id); !st.ok()) return Problem(st);
  auto r = ReadTemporalRequest(req, deps, false);
  if (!r.ok()) return Problem(r.status());
  r->query.attrs = r->attrs ? &*r->attrs : nullptr;
  r->query.dataset_ids = r->datasets ? &*r->datasets : nullptr;
  std::unique_ptr<broker::EntityView> view = CurrentCaller().ReadView(r->in.tenant);
  r->query.view = view.get();
  if (r->format == TemporalFormat::kAggregatedValues) {
    auto e = deps.temporal->RetrieveAggregated(r->in.tenant, id, r->query, r->aggregation);
    if (!e.ok()) return Problem(e.status());
    return JsonResponse(200, RenderAggregatedEntity(*e, *r), r->in.media, *r->in.ctx);
  }
  if (r->format == TemporalFormat::kNormalized) {
    DistributionRequest asked;
    asked.operation = "retrieveTemporal";
    asked.match.entity_ids = {id};
    asked.params = r->forwarded;
    // The temporal retrieve takes attrs but no type parameter: the selection is sent by hand.
    asked.forward_selection = false;
    if (r->attrs) {
      asked.match.attributes.assign(r->attrs->begin(), r->attrs->end());
      asked.params.emplace_back("attrs", fmt::format("{}", fmt::join(asked.match.attributes, ",")));
    }
    asked.params_have_terms = r->projection.has_value();
    asked.merged_as_json = true;
    auto plan = PlanDistribution(req, deps, r->in.tenant, *r->in.ctx, std::move(asked));
    if (!plan.ok()) return Problem(plan.status());
    if (*plan) return RetrieveTemporalDistributed(deps, *r, id, **plan);
  }
  auto e = deps.temporal->Retrieve(r->in.tenant, id, r->query);
  if (!e.ok()) return Problem(e.status());
  std::vector<broker::TemporalEntity> read;
  read.push_back(std::move(*e));
  const std::optional<std::string> range = CutToCommonRange(&read, r->query);
  return Answer(RenderTemporalEntity(read.front(), *r, deps), *r, range);
}

// Runs a temporal query (GET /temporal/entities, POST /temporal/entityOperations/query). Only the
// normalized representation is merged with context sources; temporalValues and aggregatedValues
// answer the hub's own history.
Response RunTemporalQuery(const Request& req, const ApiDeps& deps, TemporalRead& r, const QuerySpec& spec) {
  r.query.attrs = r.attrs ? &*r.attrs : nullptr;
  r.query.dataset_ids = r.datasets ? &*r.datasets : nullptr;
  std::unique_ptr<broker::EntityView> view = CurrentCaller().ReadView(r.in.tenant);
  r.query.view = view.get();
  if (req.Param("csf")) return Problem(Status::NotSupported("parameter 'csf' is not supported (no context source registrations)"));
  auto sel = CompileQuery(spec, *r.in.ctx, r.attrs, deps.limits, /*require_selector=*/false);
  if (!sel.ok()) return Problem(sel.status());
  // §5.7.4.4: too wide without type, attrs, q or a geo-query.
  if (spec.types.empty() && !r.attrs && !sel->q && !sel->geo) {
    return Problem(Status::BadRequestData("a temporal query needs a type, attrs, q or a geo-query (too wide otherwise)"));
  }
  auto page = PagingOf(req, deps.limits);
  if (!page.ok()) return Problem(page.status());
  if (r.format == TemporalFormat::kNormalized) {
    DistributionRequest asked = QueryDistribution("queryTemporal", spec, *sel);
    asked.params.insert(asked.params.end(), r.forwarded.begin(), r.forwarded.end());
    asked.params_have_terms = asked.params_have_terms || r.projection.has_value();
    asked.merged_as_json = true;
    auto plan = PlanDistribution(req, deps, r.in.tenant, *r.in.ctx, std::move(asked));
    if (!plan.ok()) return Problem(plan.status());
    if (*plan) return QueryTemporalDistributed(req, deps, r, *sel, *page, **plan);
  }

  size_t total = 0;
  json::array body;
  std::optional<std::string> range;
  if (r.format == TemporalFormat::kAggregatedValues) {
    auto entities = deps.temporal->QueryAggregated(r.in.tenant, *sel, r.query, r.aggregation, page->offset, page->limit, &total);
    if (!entities.ok()) return Problem(entities.status());
    for (const auto& e : *entities) body.push_back(RenderAggregatedEntity(e, r));
  } else {
    auto entities = deps.temporal->Query(r.in.tenant, *sel, r.query, page->offset, page->limit, &total);
    if (!entities.ok()) return Problem(entities.status());
    range = CutToCommonRange(&*entities, r.query);
    for (const auto& e : *entities) body.push_back(RenderTemporalEntity(e, r, deps));
  }
  Response resp = Answer(std::move(body), r, range);
  if (page->count) resp.headers.Add("NGSILD-Results-Count", std::to_string(total));
  AddPageLinks(req, *page, page->offset + page->limit < total, &resp);
  return resp;
}

Response QueryTemporal(const Request& req, const ApiDeps& deps) {
  auto r = ReadTemporalRequest(req, deps, true);
  if (!r.ok()) return Problem(r.status());
  auto spec = QuerySpecFromParams(req);
  if (!spec.ok()) return Problem(spec.status());
  return RunTemporalQuery(req, deps, *r, *spec);
}

// POST /temporal/entityOperations/query: a Query body with a temporalQ (§5.2.21: timerel,
// timeAt, endTimeAt, timeproperty, lastN, aggrMethods, aggrPeriodDuration); the
// representation, paging and count from the URL.
Response PostTemporalQuery(const Request& req, const ApiDeps& deps) {
  auto body = ParseJsonBody(req, deps.limits);
  if (!body.ok()) return Problem(body.status());
  if (!body->value.is_object()) return Problem(Status::InvalidRequest("the body must be a Query object"));
  const json::object& object = body->value.get_object();
  ResourceRead in;
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  in.tenant = std::move(*tenant);
  auto media = AcceptOf(req, /*geojson=*/false);
  if (!media.ok()) return Problem(media.status());
  in.media = *media;
  auto ctx = ContextOf(req, deps, &object, body->ld_json);
  if (!ctx.ok()) return Problem(ctx.status());
  in.ctx = std::move(*ctx);
  // The Query's `lang` (§5.2.23) is the temporal answer's; the rest is the entity query's.
  json::object query = object;
  std::optional<std::string> lang;
  if (const json::value* l = query.if_contains("lang")) {
    if (!l->is_string()) return Problem(Status::BadRequestData("'lang' must be a string of language tags"));
    lang = std::string(l->get_string());
    query.erase("lang");
  }
  QuerySpec spec;
  std::optional<std::vector<std::string>> attrs;
  const json::object* temporal_q = nullptr;
  if (Status st = ReadQueryBody(query, &spec, &attrs, &temporal_q); !st.ok()) return Problem(st);
  if (!temporal_q) return Problem(Status::BadRequestData("a temporal query needs 'temporalQ' (timerel and timeAt)"));
  ParamSource params(req);
  if (Status st = params.AddTemporalQ(*temporal_q); !st.ok()) return Problem(st);
  if (lang) params.Set("lang", std::move(*lang));
  auto r = ReadTemporalRequest(req, deps, true, std::move(in), params);
  if (!r.ok()) return Problem(r.status());
  if (attrs && r->projection) {
    return Problem(Status::BadRequestData("'attrs' cannot be combined with the parameters pick or omit"));
  }
  if (attrs) {
    auto expanded = ExpandAttrs(*attrs, *r->in.ctx);
    if (!expanded.ok()) return Problem(expanded.status());
    r->attrs = std::move(*expanded);
  }
  auto datasets = DatasetSelectionOf(spec);
  if (!datasets.ok()) return Problem(datasets.status());
  if (*datasets) r->datasets = std::move(*datasets);
  return RunTemporalQuery(req, deps, *r, spec);
}

// The attributes of an EntityTemporal body: each an instance or an array of instances.
Result<std::vector<broker::TemporalAppend>> ParseTemporalAttributes(const json::object& body, const ngsild::Context& ctx,
                                                                    const ApiLimits& limits) {
  std::vector<broker::TemporalAppend> out;
  const int64_t now_ms = util::NowMillis();
  for (const auto& [key, val] : body) {
    if (ngsild::IsEntityKeyword(key) || key == "@context") continue;
    auto one = [&](const json::value& v) -> Status {
      json::object fragment;
      fragment[key] = v;
      auto parsed = ngsild::ParseAttributes(fragment, ctx, now_ms, limits.parse);
      if (!parsed.ok()) return parsed.status();
      for (auto& [name, instances] : *parsed) {
        for (auto& inst : instances) out.push_back({name, std::move(inst)});
      }
      return Status::Ok();
    };
    if (val.is_array()) {
      for (const auto& item : val.get_array()) CITYHUB_RETURN_IF_ERROR(one(item));
    } else {
      CITYHUB_RETURN_IF_ERROR(one(val));
    }
    if (out.size() > limits.max_temporal_instances_per_request) {
      return Status::BadRequestData(fmt::format("more than {} attribute instances in one request",
                                                limits.max_temporal_instances_per_request));
    }
  }
  return out;
}

Result<std::vector<std::string>> BodyTypes(const json::object& body, const ngsild::Context& ctx, bool required) {
  std::vector<std::string> types;
  const json::value* t = body.if_contains("type");
  if (!t) {
    if (required) return Status::BadRequestData("the entity's 'type' is missing");
    return types;
  }
  auto add = [&](const json::value& v) -> Status {
    if (!v.is_string() || !ngsild::IsValidName(v.get_string())) return Status::BadRequestData("'type' must be a type name or an array of them");
    types.push_back(ctx.ExpandTerm(v.get_string()));
    return Status::Ok();
  };
  if (t->is_array()) {
    for (const auto& item : t->get_array()) CITYHUB_RETURN_IF_ERROR(add(item));
    if (types.empty()) return Status::BadRequestData("'type' must not be an empty array");
  } else {
    CITYHUB_RETURN_IF_ERROR(add(*t));
  }
  return types;
}

// The body's scope (§4.18: a scope path or an array of them), null when absent.
Result<json::value> BodyScope(const json::object& body) {
  const json::value* scope = body.if_contains("scope");
  if (!scope) return json::value(nullptr);
  auto valid = [](const json::value& v) { return v.is_string() && v.get_string().starts_with("/"); };
  bool ok = valid(*scope);
  if (scope->is_array()) {
    ok = !scope->get_array().empty();
    for (const auto& s : scope->get_array()) ok = ok && valid(s);
  }
  if (!ok) return Status::BadRequestData("'scope' must be a scope path such as /Gimhae/River, or an array of them");
  return *scope;
}

Response CreateTemporal(const Request& req, const ApiDeps& deps) {
  auto in = ReadObjectRequest(req, deps, false, "an EntityTemporal");
  if (!in.ok()) return Problem(in.status());
  const json::value* id = in->object().if_contains("id");
  if (!id || !id->is_string() || !ngsild::IsUri(id->get_string())) {
    return Problem(Status::BadRequestData("the entity's 'id' must be given and be a URI"));
  }
  auto types = BodyTypes(in->object(), *in->ctx, true);
  if (!types.ok()) return Problem(types.status());
  auto instances = ParseTemporalAttributes(in->object(), *in->ctx, deps.limits);
  if (!instances.ok()) return Problem(instances.status());
  const std::string entity_id(id->get_string());
  auto scope = BodyScope(in->object());
  if (!scope.ok()) return Problem(scope.status());
  auto created = deps.temporal->Append(CurrentCaller().Writes(in->tenant), in->tenant, entity_id, *types, *instances,
                                       true, *scope);
  if (!created.ok()) return Problem(created.status());
  if (!*created) return NoContent();
  Response r = NoContent();
  r.status = 201;
  r.headers.Add("Location", fmt::format("{}/{}", kTemporalPath, PathSegment(entity_id)));
  return r;
}

Response AppendTemporal(const Request& req, const ApiDeps& deps, const std::string& id) {
  if (Status st = CheckEntityId(id); !st.ok()) return Problem(st);
  auto in = ReadObjectRequest(req, deps, false, "an EntityTemporal fragment");
  if (!in.ok()) return Problem(in.status());
  auto types = BodyTypes(in->object(), *in->ctx, false);
  if (!types.ok()) return Problem(types.status());
  auto instances = ParseTemporalAttributes(in->object(), *in->ctx, deps.limits);
  if (!instances.ok()) return Problem(instances.status());
  auto scope = BodyScope(in->object());
  if (!scope.ok()) return Problem(scope.status());
  auto created = deps.temporal->Append(CurrentCaller().Writes(in->tenant), in->tenant, id, *types, *instances, false,
                                       *scope);
  if (!created.ok()) return Problem(created.status());
  return NoContent();
}

Response DeleteTemporal(const Request& req, const ApiDeps& deps, const std::string& id) {
  if (Status st = CheckEntityId(id); !st.ok()) return Problem(st);
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  Status st = deps.temporal->Delete(CurrentCaller().Writes(in->tenant), in->tenant, id);
  return st.ok() ? NoContent() : Problem(st);
}

// The attribute named in the path, expanded; BadRequestData if it is no valid name.
Result<std::string> PathAttribute(const std::string& attr, const ngsild::Context& ctx) {
  if (!ngsild::IsValidName(attr)) return Status::BadRequestData(fmt::format("'{}' in the path is not a valid attribute name", attr.substr(0, 64)));
  return ctx.ExpandTerm(attr);
}

Response DeleteTemporalAttribute(const Request& req, const ApiDeps& deps, const std::string& id, const std::string& attr) {
  if (Status st = CheckEntityId(id); !st.ok()) return Problem(st);
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto name = PathAttribute(attr, *in->ctx);
  if (!name.ok()) return Problem(name.status());
  auto all = BoolParam(req, "deleteAll");
  if (!all.ok()) return Problem(all.status());
  std::string dataset;
  if (const std::string* d = req.Param("datasetId")) {
    if (!ngsild::IsUri(*d)) return Problem(Status::BadRequestData("parameter 'datasetId' must be a URI"));
    dataset = *d;
  }
  Status st = deps.temporal->DeleteAttribute(CurrentCaller().Writes(in->tenant), in->tenant, id, *name, dataset, *all);
  return st.ok() ? NoContent() : Problem(st);
}

Result<int64_t> PathInstance(const std::string& instance_id) {
  if (!ngsild::IsUri(instance_id)) return Status::BadRequestData("the instanceId in the path is not a URI");
  auto stamp = broker::StampOfInstanceId(instance_id);
  if (!stamp) return Status::NotFound(fmt::format("no attribute instance '{}'", instance_id.substr(0, 100)));
  return *stamp;
}

// The EntityTemporal fragment of PATCH …/attrs/{attrId}/{instanceId} (§5.6.14) may repeat
// what the path names — as a client copying an instance from a temporal answer sends it — but
// not contradict it: an "id" other than the entity's, or an instance whose "instanceId" is not
// the one in the path, is BadRequestData. (Its createdAt/modifiedAt are the system's and are
// not taken.)
Status CheckInstanceFragment(const json::object& body, const std::string& id, const std::string& attr,
                             const std::string& instance_id) {
  if (const json::value* given = body.if_contains("id"); given && !(given->is_string() && given->get_string() == id)) {
    return Status::BadRequestData(fmt::format("the body's 'id' is not the entity '{}' of the path", id.substr(0, 100)));
  }
  for (const auto& [key, val] : body) {
    if (ngsild::IsEntityKeyword(key) || key == "@context") continue;
    const json::array* many = val.if_array();
    const json::value* one = many && many->size() == 1 ? &many->front() : (many ? nullptr : &val);
    const json::object* inst = one ? one->if_object() : nullptr;
    const json::value* given = inst ? inst->if_contains("instanceId") : nullptr;
    if (given && !(given->is_string() && given->get_string() == instance_id)) {
      return Status::BadRequestData(fmt::format("attribute '{}': 'instanceId' is not the instance '{}' of the path",
                                                attr.substr(0, 64), instance_id.substr(0, 100)));
    }
  }
  return Status::Ok();
}

Response ModifyInstance(const Request& req, const ApiDeps& deps, const std::string& id, const std::string& attr,
                        const std::string& instance_id) {
  if (Status st = CheckEntityId(id); !st.ok()) return Problem(st);
  auto stamp = PathInstance(instance_id);
  if (!stamp.ok()) return Problem(stamp.status());
  auto in = ReadObjectRequest(req, deps, false, "an EntityTemporal fragment");
  if (!in.ok()) return Problem(in.status());
  auto name = PathAttribute(attr, *in->ctx);
  if (!name.ok()) return Problem(name.status());
  if (Status st = CheckInstanceFragment(in->object(), id, attr, instance_id); !st.ok()) return Problem(st);
  auto instances = ParseTemporalAttributes(in->object(), *in->ctx, deps.limits);
  if (!instances.ok()) return Problem(instances.status());
  if (instances->size() != 1 || (*instances)[0].attr != *name) {
    return Problem(Status::BadRequestData(
        fmt::format("the body must hold exactly one instance of attribute '{}' (the one in the path)", attr.substr(0, 64))));
  }
  Status st = deps.temporal->ModifyInstance(CurrentCaller().Writes(in->tenant), in->tenant, id, *name, *stamp,
                                            (*instances)[0].instance);
  return st.ok() ? NoContent() : Problem(st);
}

Response DeleteInstance(const Request& req, const ApiDeps& deps, const std::string& id, const std::string& attr,
                        const std::string& instance_id) {
  if (Status st = CheckEntityId(id); !st.ok()) return Problem(st);
  auto stamp = PathInstance(instance_id);
  if (!stamp.ok()) return Problem(stamp.status());
  auto in = ReadResourceRequest(req, deps);
  if (!in.ok()) return Problem(in.status());
  auto name = PathAttribute(attr, *in->ctx);
  if (!name.ok()) return Problem(name.status());
  Status st = deps.temporal->DeleteInstance(CurrentCaller().Writes(in->tenant), in->tenant, id, *name, *stamp);
  return st.ok() ? NoContent() : Problem(st);
}

}  // namespace

void RegisterTemporalRoutes(http::Router& router, const ApiDeps& deps) {
  if (!deps.temporal) return;
  router.Add("GET", "/ngsi-ld/v1/temporal/entities",
             [&deps](const Request& r, const PathParams&) { return QueryTemporal(r, deps); });
  router.Add("POST", "/ngsi-ld/v1/temporal/entityOperations/query",
             [&deps](const Request& r, const PathParams&) { return PostTemporalQuery(r, deps); });
  router.Add("POST", "/ngsi-ld/v1/temporal/entities",
             [&deps](const Request& r, const PathParams&) { return CreateTemporal(r, deps); });
  router.Add("GET", "/ngsi-ld/v1/temporal/entities/{entityId}",
             [&deps](const Request& r, const PathParams& p) { return RetrieveTemporal(r, deps, p.Get("entityId")); });
  router.Add("DELETE", "/ngsi-ld/v1/temporal/entities/{entityId}",
             [&deps](const Request& r, const PathParams& p) { return DeleteTemporal(r, deps, p.Get("entityId")); });
  router.Add("POST", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs",
             [&deps](const Request& r, const PathParams& p) { return AppendTemporal(r, deps, p.Get("entityId")); });
  router.Add("DELETE", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}",
             [&deps](const Request& r, const PathParams& p) {
               return DeleteTemporalAttribute(r, deps, p.Get("entityId"), p.Get("attrId"));
             });
  router.Add("PATCH", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}/{instanceId}",
             [&deps](const Request& r, const PathParams& p) {
               return ModifyInstance(r, deps, p.Get("entityId"), p.Get("attrId"), p.Get("instanceId"));
             });
  router.Add("DELETE", "/ngsi-ld/v1/temporal/entities/{entityId}/attrs/{attrId}/{instanceId}",
             [&deps](const Request& r, const PathParams& p) {
               return DeleteInstance(r, deps, p.Get("entityId"), p.Get("attrId"), p.Get("instanceId"));
             });
}

}  // namespace cityhub::api
