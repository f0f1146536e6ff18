#include "services/parking/parking_service.h"

#include <algorithm>
#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ngsild/geo.h"
#include "ngsild/parse.h"
#include "ngsild/qlang.h"
#include "util/geo.h"
#include "util/thread_name.h"
#include "util/time.h"

namespace cityhub::services {
namespace json = boost::json;

struct ParkingService::Vocabulary {
  std::string spot_type;
  std::vector<std::string> site_types;
  std::string ref_site, available, occupied, total, occupancy;
  std::string status = "https://uri.etsi.org/ngsi-ld/status";
  std::string location = "https://uri.etsi.org/ngsi-ld/location";
  ngsild::ContextPtr ctx;  // expands this vocabulary's terms (for q)
};

namespace {

constexpr size_t kPage = 1000;

bool HasType(const ngsild::Entity& e, std::string_view type) {
  return std::find(e.types.begin(), e.types.end(), type) != e.types.end();
}

// The first instance's value (or object) of `attr`, or null.
const json::value* ValueOf(const ngsild::Entity* e, const std::string& attr) {
  if (!e) return nullptr;
  auto it = e->attrs.find(attr);
  if (it == e->attrs.end() || it->second.empty()) return nullptr;
  const json::object& inst = it->second.front();
  if (const json::value* v = inst.if_contains("value")) return v;
  return inst.if_contains("object");
}

std::string StringOf(const json::value* v) { return v && v->is_string() ? std::string(v->get_string()) : std::string(); }

// A count as a whole number: integers, and finite reals within ±2^53 rounded (a stored 80.0 or
// 80.5 is not worth a failed request); nullopt for anything else.
std::optional<int64_t> CountOf(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return v->get_uint64() <= 9'007'199'254'740'992ULL ? std::optional<int64_t>(v->get_uint64()) : std::nullopt;
  if (v->is_double() && std::isfinite(v->get_double()) && std::abs(v->get_double()) <= 9'007'199'254'740'992.0) {
    return std::llround(v->get_double());
  }
  return std::nullopt;
}

struct SitesPending : broker::PendingChanges {
  std::set<std::string> sites;
};

}  // namespace

namespace {
ngsild::ContextResolverOptions Offline() {
  ngsild::ContextResolverOptions o;
  o.allow_remote_fetch = false;
  return o;
}
}  // namespace

ParkingService::ParkingService(broker::EntityService& entities, const broker::QueryService& queries)
    : entities_(entities), queries_(queries), own_contexts_(Offline(), {}) {
  for (const std::string base : {"https://smartdatamodels.org/dataModel.Parking/", "https://uri.etsi.org/ngsi-ld/default-context/"}) {
    auto v = std::make_shared<Vocabulary>();
    v->spot_type = base + "ParkingSpot";
    v->site_types = {base + "OffStreetParking", base + "OnStreetParking"};
    v->ref_site = base + "refParkingSite";
    v->available = base + "availableSpotNumber";
    v->occupied = base + "occupiedSpotNumber";
    v->total = base + "totalSpotNumber";
    v->occupancy = base + "occupancy";
    json::object terms{{"refParkingSite", v->ref_site}, {"availableSpotNumber", v->available}};
    auto ctx = own_contexts_.Resolve(json::value(std::move(terms)));
    v->ctx = ctx.ok() ? *ctx : own_contexts_.Core();
    vocabularies_.push_back(std::move(v));
  }
  std::vector<std::string> site_types, counts;
  for (const auto& v : vocabularies_) {
    site_types.insert(site_types.end(), v->site_types.begin(), v->site_types.end());
    for (const std::string* a : {&v->available, &v->occupied, &v->total, &v->occupancy, &v->status}) counts.push_back(*a);
  }
  writes_ = std::make_unique<broker::SystemWriteAccess>("system:parking", std::move(site_types), std::move(counts));
}

ParkingService::~ParkingService() { Stop(); }

void ParkingService::Start() {
  std::lock_guard lock(mutex_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { Run(); });
}

void ParkingService::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

size_t ParkingService::Pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size() + running_;
}

bool ParkingService::Watching(std::string_view) const { return true; }

Status ParkingService::AddTo(std::string_view, store::TenantStore&, const std::vector<broker::EntityChange>& changes,
                             store::WriteSet&, std::unique_ptr<broker::PendingChanges>* pending) {
  auto sites = std::make_unique<SitesPending>();
  for (const auto& c : changes) {
    const ngsild::Entity* e = c.after ? c.after : c.before;
    for (const auto& v : vocabularies_) {
      if (HasType(*e, v->spot_type)) {
        const std::string before_site = StringOf(ValueOf(c.before, v->ref_site));
        const std::string after_site = StringOf(ValueOf(c.after, v->ref_site));
        const json::value* before_status = ValueOf(c.before, v->status);
        const json::value* after_status = ValueOf(c.after, v->status);
        const bool same_status = before_status && after_status ? *before_status == *after_status : before_status == after_status;
        const bool status_changed = !c.before || !c.after || !same_status;
        if (status_changed || before_site != after_site) {
          if (!before_site.empty()) sites->sites.insert(before_site);
          if (!after_site.empty()) sites->sites.insert(after_site);
        }
      }
      if (!c.before && c.after && std::any_of(v->site_types.begin(), v->site_types.end(), [&](const auto& t) { return HasType(*c.after, t); })) {
        sites->sites.insert(c.after->id);  // a new site: count what already points to it
      }
    }
  }
  if (!sites->sites.empty()) *pending = std::move(sites);
  return Status::Ok();
}

void ParkingService::Committed(std::string_view tenant, std::unique_ptr<broker::PendingChanges> pending) {
  auto* sites = static_cast<SitesPending*>(pending.get());
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : sites->sites) pending_.emplace(std::string(tenant), s);
  }
  wake_.notify_one();
}

void ParkingService::Run() {
  util::NameThisThread("parking");
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    auto [tenant, site] = *pending_.begin();
    pending_.erase(pending_.begin());
    ++running_;
    lock.unlock();
    if (Status st = Recount(tenant, site); !st.ok()) {
      spdlog::warn("parking: cannot recount site '{}' of tenant '{}': {}", site, tenant, st.message());
    }
    lock.lock();
    --running_;
  }
}

const ParkingService::Vocabulary* ParkingService::VocabularyOf(const ngsild::Entity& site) const {
  for (const auto& v : vocabularies_) {
    for (const auto& t : v->site_types) {
      if (HasType(site, t)) return v.get();
    }
  }
  return nullptr;
}

Status ParkingService::Recount(std::string_view tenant, std::string_view site_id) {
  auto site = entities_.Get(tenant, site_id);
  if (!site.ok()) return site.status().IsNotFound() ? Status::Ok() : site.status();
  const Vocabulary* v = VocabularyOf(*site);
  if (!v) return Status::Ok();  // not a parking site (a spot points at something else)
  auto q = ngsild::QFilter::Parse(fmt::format("refParkingSite==\"{}\"", site_id), *v->ctx);
  if (!q.ok()) return q.status();
  broker::EntityQuery query;
  query.types = {v->spot_type};
  query.q = std::move(*q);
  query.limit = kPage;
  int64_t total = 0, free = 0, occupied = 0;
  for (query.offset = 0;; query.offset += kPage) {
    auto page = queries_.Query(tenant, query);
    if (!page.ok()) return page.status();
    for (const auto& spot : page->entities) {
      ++total;
      const std::string status = StringOf(ValueOf(&spot, v->status));
      if (status == "free") ++free;
      if (status == "occupied") ++occupied;
    }
    if (page->entities.size() < kPage) break;
  }
  if (total == 0) return Status::Ok();  // no spots of its own: its counts are not ours to set
  const double occupancy = free + occupied > 0 ? static_cast<double>(occupied) / static_cast<double>(free + occupied) : 0.0;
  json::array status;
  const json::value* current_status = ValueOf(&*site, v->status);
  const bool closed = current_status && json::serialize(*current_status).find("closed") != std::string::npos;
  if (closed) {
    status = current_status->is_array() ? current_status->get_array() : json::array{*current_status};
  } else if (total > 0 && free == 0) {
    status.emplace_back("full");
  } else if (total > 0 && free <= std::max<int64_t>(1, total / 10)) {
    status.emplace_back("almostFull");
  } else {
    status.emplace_back("open");
  }
  const std::vector<std::pair<std::string, json::value>> wanted = {
      {v->available, json::value(free)}, {v->occupied, json::value(occupied)}, {v->total, json::value(total)},
      {v->occupancy, json::value(std::round(occupancy * 10000) / 10000)}, {v->status, json::value(std::move(status))}};
  const int64_t now = util::NowMillis();
  ngsild::AttrMap changes;
  for (const auto& [name, value] : wanted) {
    const json::value* have = ValueOf(&*site, name);
    // Numbers compare by value: a stored 0 and a computed 0.0 are the same occupancy.
    if (have && (*have == value || (have->is_number() && value.is_number() &&
                                    have->to_number<double>() == value.to_number<double>()))) {
      continue;
    }
    ngsild::Instance inst{{"type", "Property"}, {"value", value}, {"observedAt", util::FormatDateTime(now)},
                          {"createdAt", now}, {"modifiedAt", now}};
    changes[name] = {std::move(inst)};
  }
  if (changes.empty()) return Status::Ok();
  return entities_.Merge(*writes_, tenant, site_id, std::move(changes), {}, now);
}

Status ParkingService::RecountAll(std::string_view tenant) {
  std::vector<std::string> sites;
  for (const auto& v : vocabularies_) {
    broker::EntityQuery q;
    q.types = v->site_types;
    q.limit = kPage;
    for (q.offset = 0;; q.offset += kPage) {
      auto page = queries_.Query(tenant, q);
      if (!page.ok()) return page.status().IsNotFound() ? Status::Ok() : page.status();
      for (const auto& e : page->entities) sites.push_back(e.id);
      if (page->entities.size() < kPage) break;
    }
  }
  {
    std::lock_guard lock(mutex_);
    for (auto& s : sites) pending_.emplace(std::string(tenant), std::move(s));
  }
  wake_.notify_one();
  return Status::Ok();
}

Result<std::vector<NearbyParking>> ParkingService::Nearest(std::string_view tenant, double lat, double lon,
                                                           int64_t min_free, double max_distance_m, size_t limit,
                                                           const broker::EntityView* view) const {
  std::vector<NearbyParking> out;
  for (const auto& v : vocabularies_) {
    auto geo = ngsild::GeoQuery::Parse(fmt::format("near;maxDistance=={}", max_distance_m), "Point",
                                       fmt::format("[{},{}]", lon, lat), v->location);
    if (!geo.ok()) return geo.status();
    auto q = ngsild::QFilter::Parse(fmt::format("availableSpotNumber>={}", min_free), *v->ctx);
    if (!q.ok()) return q.status();
    broker::EntityQuery query;
    query.types = v->site_types;
    query.geo = std::move(*geo);
    query.q = std::move(*q);
    query.limit = kPage;
    query.view = view;  // the geo-query and q see what the caller sees
    auto page = queries_.Query(tenant, query);
    if (!page.ok()) {
      if (page.status().IsNotFound()) continue;
      return page.status();
    }
    for (auto& e : page->entities) {
      auto clear = [&](const std::string& attr) {
        return !view || view->AttributeShown(e.id, e.types, e.owner, attr) == broker::EntityView::Shown::kClear;
      };
      if (!clear(v->location) || !clear(v->available)) continue;
      const json::value* where = ValueOf(&e, v->location);
      const json::value* coords = where && where->is_object() ? where->get_object().if_contains("coordinates") : nullptr;
      if (!coords || !coords->is_array() || coords->get_array().size() < 2) continue;  // not a point: skipped
      NearbyParking p;
      p.id = e.id;
      p.distance_m = util::GreatCircleMetres(lat, lon, coords->get_array()[1].to_number<double>(), coords->get_array()[0].to_number<double>());
      p.available = CountOf(ValueOf(&e, v->available)).value_or(0);
      out.push_back(std::move(p));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.distance_m < b.distance_m; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<SiteForecast> ParkingService::Forecast(std::string_view tenant, std::string_view site_id,
                                              broker::TemporalService& temporal, const broker::EntityView* view,
                                              int64_t now_ms) const {
  constexpr int64_t kHistoryMs = 56LL * 24 * 3600 * 1000;  // eight weeks
  const std::string_view name = site_id.substr(0, 200);  // for messages
  auto site = entities_.Get(tenant, site_id);
  if (!site.ok()) return site.status();
  if (view && !view->Visible(*site)) return Status::PermissionDenied(fmt::format("entity '{}' may not be read", name));
  const Vocabulary* v = VocabularyOf(*site);
  if (!v) return Status::BadRequestData(fmt::format("'{}' is not a parking site (OffStreetParking or OnStreetParking)", name));
  auto shown = [&](const std::string& attr) {
    return !view || view->AttributeShown(site->id, site->types, site->owner, attr) == broker::EntityView::Shown::kClear;
  };
  if (!shown(v->occupancy)) return Status::PermissionDenied(fmt::format("the occupancy of '{}' may not be read", name));
  SiteForecast f;
  f.origin_ms = now_ms - now_ms % kForecastStepMs;
  const int64_t start = f.origin_ms - kHistoryMs;
  // The history as minute averages, folded into 15-minute slots, the current partial slot last.
  broker::TemporalQuery q;
  const std::set<std::string> attrs{v->occupancy};
  q.timerel = broker::TimeRel::kBetween;
  q.time_at_ms = start;
  q.end_time_at_ms = now_ms + 1;
  q.attrs = &attrs;
  q.view = view;
  broker::AggregationRequest a;
  a.methods = {broker::AggrMethod::kAvg};
  a.period.ms = 60'000;  // minutes, time-weighted into slots by Resample
  std::vector<std::pair<int64_t, double>> averages;
  auto history = temporal.RetrieveAggregated(tenant, site_id, q, a);
  if (!history.ok() && !history.status().IsNotFound()) return history.status();
  if (history.ok()) {
    for (const auto& attr : history->attributes) {
      for (const auto& [method, periods] : attr.results) {
        for (const auto& p : periods) {
          if (p.value.is_number()) averages.emplace_back(p.start_ms, p.value.to_number<double>());
        }
      }
    }
  }
  const OccupancySeries series = Resample(std::move(averages), a.period.ms, start,
                                           static_cast<size_t>(kHistoryMs / kForecastStepMs) + 1);
  const json::value* current = ValueOf(&*site, v->occupancy);
  if (current && current->is_number()) {
    f.occupancy = std::clamp(current->to_number<double>(), 0.0, 1.0);
  } else if (!std::isnan(series.values.back())) {
    f.occupancy = series.values.back();
  } else {
    return Status::NotFound(fmt::format("parking site '{}' has neither an occupancy nor its history to forecast from", name));
  }
  if (shown(v->total)) f.total = CountOf(ValueOf(&*site, v->total));  // spots only when the caller may read the total
  f.model = Fit(series);
  for (int k = 1; k <= kForecastHorizonSteps; ++k) {
    f.points.emplace_back(f.origin_ms + k * kForecastStepMs, f.model.Predict(f.origin_ms, f.occupancy, k));
  }
  f.error = Backtest(series);
  return f;
}

}  // namespace cityhub::services
