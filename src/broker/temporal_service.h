// TemporalService: reads attribute history (GS CIM 009 §5.7.3 Retrieve Temporal Evolution,
// §5.7.4 Query Temporal Evolution; time rules of §4.11). History is recorded by
// HistoryRecorder; this service selects instances by time, keeps the last N or caps them, and
// answers in time order.
//
// Time: an instance is compared by the Temporal Property the query names (timeproperty):
// observedAt (default; instances without one never match), createdAt (when recorded),
// modifiedAt, deletedAt (deletion instances only). before: t < timeAt; after: t >= timeAt;
// between: timeAt <= t < endTimeAt. Blocks are filed by observedAt (deletedAt for deletions,
// else recording time), so observedAt and deletedAt queries read only the blocks of their
// range; createdAt and modifiedAt queries read every block of the attribute.
//
// Limits: at most `max_instances` instances per attribute are returned; a longer answer is
// cut — at its newest end, or at its oldest with lastN — and marked truncated (the API answers
// 206 with Content-Range). A cut never falls between instances of the same time: those at the
// time where it would fall are left out together (unless they are all the answer would hold),
// so the instances returned are all those of their time range. Thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/entity_view.h"
#include "broker/history_codec.h"
#include "broker/history_retention.h"
#include "broker/query_service.h"
#include "broker/temporal_aggregation.h"
#include "broker/write_access.h"
#include "ngsild/entity.h"
#include "store/store.h"
#include "util/status.h"

namespace cityhub::broker {

enum class TimeRel { kAny, kBefore, kAfter, kBetween };
enum class TimeProperty { kObservedAt, kCreatedAt, kModifiedAt, kDeletedAt };

struct TemporalQuery {
  TimeRel timerel = TimeRel::kAny;
  int64_t time_at_ms = 0;
  int64_t end_time_at_ms = 0;  // between
  // The fractions timeAt and endTimeAt were written with: answers that echo them show them so.
  util::TimeFraction time_at_fraction, end_time_at_fraction;
  TimeProperty timeproperty = TimeProperty::kObservedAt;
  std::optional<size_t> last_n;
  const std::set<std::string>* attrs = nullptr;  // expanded names; null = every attribute
  // datasetId (§4.5.5): only instances of these datasets ("" = the default instances) are
  // returned, counted for lastN and aggregated; null = every instance.
  const std::set<std::string>* dataset_ids = nullptr;
  size_t max_instances = 10000;                  // per attribute
  // Set by the service from the retention policy: instances filed before it are not shown.
  int64_t retention_cutoff_ms = std::numeric_limits<int64_t>::min();
  // What the caller may see (null: everything): hidden entities are not found (retrieve:
  // PermissionDenied) nor listed or counted; attributes are shown as the view shows them, and
  // aggregated only when shown in clear. Rules granting to an entity's owner do not apply to
  // histories (they do not record owners).
  const EntityView* view = nullptr;

  // The instance's time under `timeproperty`, or nullopt if it has none.
  std::optional<int64_t> TimeOf(const HistoryInstance& h) const;
  std::optional<int64_t> TimeOf(const InstanceView& v) const;
  bool InRange(int64_t t) const;
  // Whether the instance belongs to a selected dataset (always, without dataset_ids).
  bool Selects(const InstanceView& v) const;
};

struct TemporalAttribute {
  std::string name;                       // expanded
  std::vector<HistoryInstance> instances;  // ascending by time (then recording order)
  bool truncated = false;                 // more instances matched than were returned
};

struct TemporalEntity {
  std::string id;
  std::vector<std::string> types;      // expanded
  boost::json::value scope;            // the latest (null: none)
  std::optional<int64_t> deleted_ms;   // the entity was deleted then
  std::vector<TemporalAttribute> attributes;  // ascending by name; only those with instances
};

struct AggregatedEntity {
  std::string id;
  std::vector<std::string> types;
  boost::json::value scope;  // the latest (null: none)
  std::vector<AggregatedAttribute> attributes;  // ascending by name; only those with instances
};

// Which entities a temporal query is about besides time: an EntityQuery's ids, types and
// idPattern select among the entities with history; its q, geo and scope filters are
// evaluated on the entity as its instances in the query's range make it (§4.11: each
// attribute holding all of them, so a term holds if any instance in the range satisfies it —
// e.g. temperature>30 selects the sensors that were above 30 at some time in the range);
// scope is the entity's latest. Its attrs, limit, offset and count are not used (see
// TemporalQuery::attrs and the paging arguments).
using TemporalSelection = EntityQuery;

// Instances given through the temporal API (POST /temporal/entities, …/attrs), parsed.
struct TemporalAppend {
  std::string attr;  // expanded
  ngsild::Instance instance;
};

class TemporalService {
 public:
  // `retention` (may be null: keep everything) hides instances older than their retention.
  explicit TemporalService(store::Store& store, const RetentionPolicy* retention = nullptr)
      : store_(store), retention_(retention) {}

  // Writes are authorized for `w` (write_access.h) on the types the history records — or, for a
  // new history, those of the entity when it exists, else the requested ones — before anything
  // else is told: PermissionDenied, nothing written. Histories record no owner, so rules that
  // grant to an entity's owner do not grant writes to an existing history.
  //
  // Adds instances to the history of `id` (creating its history, and the tenant, when
  // `create`), adding `types` (expanded) to those it has; one durable write. Returns true if
  // the history was created. NotFound without `create` when the entity has no history.
  // `scope` (a string or an array of strings; null: unchanged) becomes the entity's scope.
  Result<bool> Append(const WriteAccess& w, std::string_view tenant, std::string_view id,
                      const std::vector<std::string>& types,
                      const std::vector<TemporalAppend>& instances, bool create,
                      const boost::json::value& scope = nullptr);
  // Removes the history of `id` (every attribute). NotFound if it has none.
  Status Delete(const WriteAccess& w, std::string_view tenant, std::string_view id);
  // Removes instances of `attr`: all of them (`all`), else those of `dataset_id` ("" = the
  // default instances, without datasetId). NotFound if the entity has no history of `attr`.
  Status DeleteAttribute(const WriteAccess& w, std::string_view tenant, std::string_view id, const std::string& attr,
                         std::string_view dataset_id, bool all);
  // Replaces the instance `stamp_us` of `attr` by `replacement` (observedAt kept when the
  // replacement has none; createdAt kept, modifiedAt now), or removes it. NotFound naming the
  // entity, attribute or instance that is unknown.
  Status ModifyInstance(const WriteAccess& w, std::string_view tenant, std::string_view id, const std::string& attr,
                        int64_t stamp_us, const ngsild::Instance& replacement);
  Status DeleteInstance(const WriteAccess& w, std::string_view tenant, std::string_view id, const std::string& attr,
                        int64_t stamp_us);

  // The entity's history within the query. NotFound if the tenant or the entity has no history.
  Result<TemporalEntity> Retrieve(std::string_view tenant, std::string_view id, const TemporalQuery& q);

  // The entities with history selected by `sel` that have an instance in the query's range,
  // ascending by id, skipping `offset` and returning at most `limit`; *total (if not null)
  // gets how many there are in all. BadRequestData for an invalid idPattern.
  Result<std::vector<TemporalEntity>> Query(std::string_view tenant, const TemporalSelection& sel,
                                            const TemporalQuery& q, size_t offset, size_t limit, size_t* total);

  // The same with every attribute aggregated (temporal_aggregation.h); lastN does not apply.
  Result<AggregatedEntity> RetrieveAggregated(std::string_view tenant, std::string_view id, const TemporalQuery& q,
                                              const AggregationRequest& a);
  Result<std::vector<AggregatedEntity>> QueryAggregated(std::string_view tenant, const TemporalSelection& sel,
                                                        const TemporalQuery& q, const AggregationRequest& a,
                                                        size_t offset, size_t limit, size_t* total);

 private:
  Result<TemporalAttribute> ReadAttribute(store::TenantStore& ts, std::string_view id, const std::string& attr,
                                          const TemporalQuery& q);
  Result<TemporalEntity> ReadEntity(store::TenantStore& ts, std::string_view tenant, std::string_view id,
                                    const std::string& header, const TemporalQuery& q);
  Result<std::optional<AggregatedAttribute>> AggregateAttribute(store::TenantStore& ts, std::string_view id,
                                                                const std::string& attr, const TemporalQuery& q,
                                                                const AggregationRequest& a);
  Result<AggregatedEntity> AggregateEntity(store::TenantStore& ts, std::string_view tenant, std::string_view id,
                                           const std::string& header, const TemporalQuery& q,
                                           const AggregationRequest& a);
  // The tenant's entities with history that `sel` selects, ascending by id: visit(id, header)
  // returns false to stop.
  Status Select(store::TenantStore& ts, const TemporalSelection& sel, const EntityView* view,
                const std::function<bool(std::string_view id, const std::string& header)>& visit);
  // The blocks holding the query's range (all blocks for createdAt / modifiedAt).
  static std::pair<int64_t, int64_t> BlockRange(const TemporalQuery& q);

  // The tenant's store and the entity's history header, after checking that `w` (if not null)
  // may write `attr` of it (null `attr`: delete it as a whole), then that `attr` (if not null)
  // has history too; NotFound naming what is missing.
  struct History {
    store::TenantStore* ts;
    std::string header;
  };
  Result<History> HistoryOf(std::string_view tenant, std::string_view id, const std::string* attr,
                            const WriteAccess* w = nullptr);
  // Where the instance `stamp_us` of (id, attr) is: its block and its current version.
  Result<std::pair<int64_t, HistoryInstance>> FindInstance(store::TenantStore& ts, std::string_view id,
                                                           const std::string& attr, int64_t stamp_us);

  // True if the entity, as its instances in the range make it, passes sel's q, geo and scope.
  static bool Passes(const TemporalSelection& sel, const TemporalEntity& e);

  // The query with the retention cutoff of an entity with `types` in `tenant`.
  TemporalQuery WithRetention(const TemporalQuery& q, std::string_view tenant, const std::vector<std::string>& types) const;

  store::Store& store_;
  const RetentionPolicy* retention_;
  std::mutex header_mutex_;  // serialises read-modify-write of history headers by Append
};

}  // namespace cityhub::broker
