// The journey planner's HTTP resources (issue 19; docs/API.md "Journey planning"):
//   GET  /mobility/v1/plan?from=LAT,LON&to=LAT,LON[&time=ISO 8601][&arriveBy=false][&maxTransfers=4]
//        [&wheelchair=false][&maxWalkDistance=1000][&lang=TAG] — door-to-door itineraries, the
//        Pareto set of arrival (departure, with arriveBy) × transfers.
//   GET  /mobility/v1/stops/{stopId}/departures[?time=][&limit=10][&lang=] — a stop's (or a
//        station's) next departures: the smart bus shelter board.
//   GET  /mobility/v1/feed — what feed is loaded (counts, calendar, time zone).
//   POST /mobility/v1/feed — imports a GTFS zip (Content-Type application/zip; admin right):
//        replaces the tenant's feed atomically; answers its summary and validation report.
//   POST /mobility/v1/realtime — a GTFS-Realtime FeedMessage (admin right): replaces the
//        tenant's real-time data; GET tells what was last received.
// Times are ISO 8601 with the feed's UTC offset; `time` must carry an offset (or Z). Every
// error is a ProblemDetails naming the parameter; 503 while no feed is loaded.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "api/api.h"
#include "api/request.h"
#include "services/mobility/mobility_service.h"
#include "services/mobility/network/planner.h"
#include "util/geo.h"
#include "util/ids.h"
#include "util/time.h"

namespace cityhub::api {
namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;
using mobility::network::PlanLeg;

namespace {

constexpr size_t kDefaultDepartures = 10;

Status Unknown(const Request& req, std::initializer_list<std::string_view> accepted) {
  for (const auto& [name, value] : req.query) {
    if (std::find(accepted.begin(), accepted.end(), name) == accepted.end()) {
      return Status::InvalidRequest(fmt::format("unknown parameter '{}'; accepted: {}", std::string_view(name).substr(0, 64),
                                                fmt::join(accepted, ", ")));
    }
  }
  return Status::Ok();
}

// "LAT,LON" in decimal degrees.
Result<std::pair<double, double>> CoordinateParam(const Request& req, std::string_view name) {
  const std::string* text = req.Param(name);
  if (!text) return Status::BadRequestData(fmt::format("parameter '{}' is required: LAT,LON in decimal degrees", name));
  const size_t comma = text->find(',');
  auto number = [](std::string_view s, double* out) {
    if (s.empty() || s.size() > 32) return false;
    std::string copy(s);
    char* end = nullptr;
    *out = std::strtod(copy.c_str(), &end);
    return *end == '\0' && std::isfinite(*out);
  };
  double lat = 0, lon = 0;
  if (comma == std::string::npos || !number(std::string_view(*text).substr(0, comma), &lat) ||
      !number(std::string_view(*text).substr(comma + 1), &lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180) {
    return Status::BadRequestData(fmt::format(
        "parameter '{}' must be LAT,LON in decimal degrees (latitude -90..90, longitude -180..180)", name));
  }
  return std::pair{lat, lon};
}

// `time`: ISO 8601 with an offset; absent: now. Unix seconds.
Result<int64_t> TimeParam(const Request& req) {
  const std::string* text = req.Param("time");
  if (!text) return util::NowMillis() / 1000;
  auto ms = util::ParseDateTime(*text);
  if (!ms) {
    return Status::BadRequestData(
        "parameter 'time' must be an ISO 8601 date-time with a UTC offset, e.g. 2026-09-16T08:00:00+09:00");
  }
  return *ms >= 0 ? *ms / 1000 : -((-*ms + 999) / 1000);
}

// `lang`: a BCP 47 language tag (letters, digits and '-', 2–35 characters), or empty.
Result<std::string> LangParam(const Request& req) {
  const std::string* text = req.Param("lang");
  if (!text) return std::string();
  const bool ok = text->size() >= 2 && text->size() <= 35 && std::isalpha(static_cast<unsigned char>((*text)[0])) &&
                  std::all_of(text->begin(), text->end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
                  });
  if (!ok) return Status::BadRequestData("parameter 'lang' must be a BCP 47 language tag such as ko, en or zh-Hans");
  return *text;
}

// A date the feed's calendar covers (a day either side: trips cross midnight). Building a day's
// timetable costs up to a fraction of a second on a big feed, so dates no trip runs on are
// refused rather than built.
Status InServicePeriod(const mobility::network::TransitNetwork& net, int32_t date) {
  if (net.last_date() == 0 || date < mobility::network::AddDays(net.first_date(), -1) ||
      date > mobility::network::AddDays(net.last_date(), 1)) {
    return Status::BadRequestData(fmt::format("parameter 'time': the feed runs from {} to {} and has no service on {}",
                                              net.first_date(), net.last_date(), date));
  }
  return Status::Ok();
}

Result<std::shared_ptr<const mobility::LoadedFeed>> FeedOf(const ApiDeps& deps, std::string_view tenant) {
  auto feed = deps.mobility->Get(tenant);
  if (!feed) {
    return Status(Status::Code::kUnavailable,
                  tenant.empty() ? std::string("no transit feed is loaded: import a GTFS feed first (cityhub import gtfs)")
                                 : fmt::format("no transit feed is loaded for tenant '{}': import a GTFS feed first", tenant));
  }
  return feed;
}

struct TripNames {
  std::string trip_id, route, route_id, headsign;
  uint32_t route_index = mobility::gtfs::kNoIndex;
};

// Names shown to the traveller, in the requested language where the feed has it (translations.txt),
// else in the feed's default language, else as the feed writes them.
class Names {
 public:
  Names(const mobility::LoadedFeed& loaded, std::string lang)
      : feed_(loaded.network->feed()), tr_(loaded.translations), lang_(std::move(lang)) {}
  std::string Stop(uint32_t s) const { return std::string(tr_.StopName(feed_, s, lang_).text); }
  std::string RouteName(uint32_t r) const {
    auto short_name = tr_.RouteShortName(feed_, r, lang_);
    return std::string(short_name.text.empty() ? tr_.RouteLongName(feed_, r, lang_).text : short_name.text);
  }
  std::string RouteLongName(uint32_t r) const { return std::string(tr_.RouteLongName(feed_, r, lang_).text); }
  std::string Headsign(uint32_t trip) const {
    const auto& t = feed_.trips[trip];
    if (!t.headsign.empty()) return std::string(tr_.TripHeadsign(feed_, trip, lang_).text);
    return Stop(feed_.stop_times[t.first_stop_time + t.stop_time_count - 1].stop);
  }
  std::string Agency(uint32_t a) const {
    return a == mobility::gtfs::kNoIndex ? "" : std::string(tr_.AgencyName(feed_, a, lang_).text);
  }
  // The names of a scheduled trip, or of one the real-time feed added (`added`).
  TripNames Trip(uint32_t feed_trip, uint32_t added, const mobility::network::DayTimetable& day) const {
    TripNames out;
    uint32_t route = mobility::gtfs::kNoIndex;
    if (feed_trip != mobility::gtfs::kNoIndex) {
      route = feed_.trips[feed_trip].route;
      out.trip_id = feed_.trips[feed_trip].id;
      out.headsign = Headsign(feed_trip);
    } else if (day.realtime && added < day.realtime->updates.added.size()) {
      const auto& trip = day.realtime->updates.added[added];
      route = trip.route;
      out.trip_id = trip.trip_id;
      if (!trip.stop_times.empty()) out.headsign = Stop(trip.stop_times.back().stop);
    }
    if (route != mobility::gtfs::kNoIndex) {
      out.route = RouteName(route);
      out.route_id = feed_.routes[route].id;
      out.route_index = route;
    }
    return out;
  }
  // Which language the names are in: the requested one when the feed has it; else the feed's
  // default (`fallback` says the request could not be met); `available` lists the feed's.
  json::object Language() const {
    json::object out;
    out["requested"] = lang_.empty() ? json::value(nullptr) : json::value(lang_);
    const bool has = !lang_.empty() && tr_.HasLanguage(lang_);
    std::string_view used = has ? std::string_view(lang_) : tr_.DefaultLanguage();
    out["used"] = used.empty() ? json::value(nullptr) : json::value(used);
    out["fallback"] = !lang_.empty() && !has;
    json::array available;
    for (const std::string& l : tr_.Languages()) available.push_back(json::value(l));
    out["available"] = std::move(available);
    return out;
  }

 private:
  const mobility::gtfs::Feed& feed_;
  const mobility::gtfs::TranslationIndex& tr_;
  std::string lang_;
};

json::object PlaceJson(const mobility::network::Place& p, const mobility::gtfs::Feed& feed, const Names& names,
                       std::string_view coordinate_name) {
  json::object out;
  if (p.stop == mobility::gtfs::kNoIndex) {
    out["name"] = coordinate_name;
  } else {
    out["stopId"] = feed.stops[p.stop].id;
    out["name"] = names.Stop(p.stop);
    if (!feed.stops[p.stop].code.empty()) out["stopCode"] = feed.stops[p.stop].code;
  }
  out["lat"] = p.lat;
  out["lon"] = p.lon;
  return out;
}

json::object BookingRuleJson(const mobility::gtfs::BookingRule& rule) {
  json::object o;
  o["id"] = rule.id;
  switch (rule.type) {
    case mobility::gtfs::BookingType::kRealTime: o["bookingType"] = "realTime"; break;
    case mobility::gtfs::BookingType::kSameDay: o["bookingType"] = "sameDay"; break;
    case mobility::gtfs::BookingType::kPriorDays: o["bookingType"] = "priorDays"; break;
  }
  if (rule.prior_notice_duration_min >= 0) o["priorNoticeMinutesMin"] = rule.prior_notice_duration_min;
  if (rule.prior_notice_duration_max >= 0) o["priorNoticeMinutesMax"] = rule.prior_notice_duration_max;
  if (rule.prior_notice_last_day >= 0) o["priorNoticeLastDay"] = rule.prior_notice_last_day;
  if (rule.prior_notice_last_time >= 0) {
    o["priorNoticeLastTime"] = fmt::format("{:02}:{:02}", rule.prior_notice_last_time / 3600, rule.prior_notice_last_time / 60 % 60);
  }
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"message", &rule.message},
                                   {"pickupMessage", &rule.pickup_message}, {"dropOffMessage", &rule.drop_off_message},
                                   {"phone", &rule.phone_number}, {"infoUrl", &rule.info_url},
                                   {"bookingUrl", &rule.booking_url}}) {
    if (!value->empty()) o[key] = *value;
  }
  return o;
}

// An on-demand (GTFS-Flex) ride: its route and agency, the zones it runs between, the booking
// rule to call or book it by, and that its times are an estimate.
void OnDemandJson(const PlanLeg& leg, const mobility::network::TransitNetwork& net, const Names& names,
                  json::object& out) {
  const auto& feed = net.feed();
  const auto* index = net.on_demand();
  if (leg.flex_trip < feed.flex_trips.size()) {
    const auto& trip = feed.flex_trips[leg.flex_trip];
    out["tripId"] = trip.id;
    if (trip.route < feed.routes.size()) {
      out["route"] = names.RouteName(trip.route);
      out["routeId"] = feed.routes[trip.route].id;
      out["agency"] = names.Agency(feed.routes[trip.route].agency);
    }
  }
  if (index && leg.pickup_window != mobility::gtfs::kNoIndex) {
    const auto place = index->PlaceOf(leg.pickup_window);
    out["pickupArea"] = json::object{{"id", std::string(place.id)}, {"name", std::string(place.name)}};
  }
  if (index && leg.drop_off_window != mobility::gtfs::kNoIndex) {
    const auto place = index->PlaceOf(leg.drop_off_window);
    out["dropOffArea"] = json::object{{"id", std::string(place.id)}, {"name", std::string(place.name)}};
  }
  const uint32_t rule = leg.pickup_booking_rule != mobility::gtfs::kNoIndex ? leg.pickup_booking_rule
                                                                             : leg.drop_off_booking_rule;
  if (rule < feed.booking_rules.size()) out["bookingRule"] = BookingRuleJson(feed.booking_rules[rule]);
  out["estimated"] = true;  // crow-fly ride time, not a dispatch
}

json::object LegJson(const PlanLeg& leg, const mobility::network::TransitNetwork& net,
                     const mobility::network::DayTimetable& day, const Names& names) {
  const auto& feed = net.feed();
  const auto& clock = net.clock();
  json::object out;
  switch (leg.mode) {
    case PlanLeg::Mode::kWalk: out["mode"] = "walk"; break;
    case PlanLeg::Mode::kTransit: out["mode"] = "transit"; break;
    case PlanLeg::Mode::kOnDemand: out["mode"] = "onDemand"; break;
  }
  out["from"] = PlaceJson(leg.from, feed, names, "origin");
  out["to"] = PlaceJson(leg.to, feed, names, "destination");
  out["departure"] = clock.FormatLocal(leg.departure);
  out["arrival"] = clock.FormatLocal(leg.arrival);
  out["durationSeconds"] = leg.arrival - leg.departure;
  if (leg.mode == PlanLeg::Mode::kWalk) {
    out["distanceMetres"] = std::lround(util::GreatCircleMetres(leg.from.lat, leg.from.lon, leg.to.lat, leg.to.lon));
  }
  if (leg.mode == PlanLeg::Mode::kOnDemand) OnDemandJson(leg, net, names, out);
  if (leg.mode == PlanLeg::Mode::kTransit) {
    const TripNames trip = names.Trip(leg.feed_trip, leg.added_trip, day);
    out["route"] = trip.route;
    out["routeId"] = trip.route_id;
    if (trip.route_index != mobility::gtfs::kNoIndex) {
      const auto& route = feed.routes[trip.route_index];
      if (!route.long_name.empty()) out["routeLongName"] = names.RouteLongName(trip.route_index);
      out["routeType"] = route.route_type;
      if (!route.color.empty()) out["routeColor"] = route.color;
      out["agency"] = names.Agency(route.agency);
    }
    out["tripId"] = trip.trip_id;
    out["headsign"] = trip.headsign;
    out["serviceDate"] = fmt::format("{:04}-{:02}-{:02}", leg.service_date / 10000, leg.service_date / 100 % 100,
                                     leg.service_date % 100);
    out["stops"] = leg.alight_position - leg.board_position;
    out["scheduledDeparture"] = clock.FormatLocal(leg.scheduled_departure);
    out["scheduledArrival"] = clock.FormatLocal(leg.scheduled_arrival);
    out["delaySeconds"] = leg.arrival - leg.scheduled_arrival;
    out["departureDelaySeconds"] = leg.departure - leg.scheduled_departure;
    out["realtime"] = leg.realtime;
    if (leg.added_trip != mobility::gtfs::kNoIndex) out["added"] = true;
  }
  return out;
}

Response Plan(const Request& req, const ApiDeps& deps) {
  if (Status st = Unknown(req, {"from", "to", "time", "arriveBy", "maxTransfers", "wheelchair", "maxWalkDistance", "lang"});
      !st.ok()) {
    return Problem(st);
  }
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto from = CoordinateParam(req, "from");
  if (!from.ok()) return Problem(from.status());
  auto to = CoordinateParam(req, "to");
  if (!to.ok()) return Problem(to.status());
  auto time = TimeParam(req);
  if (!time.ok()) return Problem(time.status());
  auto arrive_by = BoolParam(req, "arriveBy");
  if (!arrive_by.ok()) return Problem(arrive_by.status());
  auto wheelchair = BoolParam(req, "wheelchair");
  if (!wheelchair.ok()) return Problem(wheelchair.status());
  auto max_transfers = SizeParam(req, "maxTransfers", 4);
  if (!max_transfers.ok()) return Problem(max_transfers.status());
  if (*max_transfers > mobility::routing::kMaxQueryTransfers) {
    return Problem(Status::BadRequestData(
        fmt::format("parameter 'maxTransfers' must be from 0 to {}", mobility::routing::kMaxQueryTransfers)));
  }
  auto max_walk = SizeParam(req, "maxWalkDistance", 1000);
  if (!max_walk.ok()) return Problem(max_walk.status());
  if (*max_walk < 1 || *max_walk > mobility::network::kMaxWalkMetres) {
    return Problem(Status::BadRequestData(fmt::format("parameter 'maxWalkDistance' must be from 1 to {} metres",
                                                      mobility::network::kMaxWalkMetres)));
  }
  auto lang = LangParam(req);
  if (!lang.ok()) return Problem(lang.status());
  auto loaded = FeedOf(deps, *tenant);
  if (!loaded.ok()) return Problem(loaded.status());
  const mobility::network::TransitNetwork& net = *(*loaded)->network;
  const int32_t date = net.clock().LocalDate(*time);
  if (Status st = InServicePeriod(net, date); !st.ok()) return Problem(st);
  auto day = deps.mobility->Day(*tenant, **loaded, date, util::NowMillis() / 1000);
  if (!day.ok()) return Problem(day.status());
  mobility::network::PlanRequest pr;
  pr.from_lat = from->first;
  pr.from_lon = from->second;
  pr.to_lat = to->first;
  pr.to_lon = to->second;
  pr.time = *time;
  pr.arrive_by = *arrive_by;
  pr.max_transfers = static_cast<uint32_t>(*max_transfers);
  pr.wheelchair = *wheelchair;
  pr.max_walk_m = static_cast<double>(*max_walk);
  mobility::network::Planner planner;
  auto plan = planner.Plan(net, *day, pr);
  if (!plan.ok()) {
    // No stop within walking distance is a well-formed request the feed cannot serve.
    if (plan.status().IsNotFound()) return Problem(Status::BadRequestData(plan.status().message()));
    return Problem(plan.status());
  }
  const Names names(**loaded, *lang);
  json::array itineraries;
  for (const auto& it : *plan) {
    json::object o;
    o["departure"] = net.clock().FormatLocal(it.departure);
    o["arrival"] = net.clock().FormatLocal(it.arrival);
    o["durationSeconds"] = it.arrival - it.departure;
    o["transfers"] = it.transfers;
    int64_t walk = 0;
    json::array legs;
    for (const PlanLeg& leg : it.legs) {
      if (leg.mode == PlanLeg::Mode::kWalk) walk += leg.arrival - leg.departure;
      legs.push_back(LegJson(leg, net, **day, names));
    }
    o["walkSeconds"] = walk;
    o["legs"] = std::move(legs);
    itineraries.push_back(std::move(o));
  }
  json::object body;
  body["timezone"] = net.clock().zone();
  body["language"] = names.Language();
  body["itineraries"] = std::move(itineraries);
  return PlainJson(200, body);
}

Response Departures(const Request& req, const PathParams& params, const ApiDeps& deps) {
  if (Status st = Unknown(req, {"time", "limit", "lang"}); !st.ok()) return Problem(st);
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  auto time = TimeParam(req);
  if (!time.ok()) return Problem(time.status());
  auto limit = SizeParam(req, "limit", kDefaultDepartures);
  if (!limit.ok()) return Problem(limit.status());
  if (*limit < 1 || *limit > mobility::network::kMaxDepartures) {
    return Problem(Status::BadRequestData(
        fmt::format("parameter 'limit' must be from 1 to {}", mobility::network::kMaxDepartures)));
  }
  auto lang = LangParam(req);
  if (!lang.ok()) return Problem(lang.status());
  auto loaded = FeedOf(deps, *tenant);
  if (!loaded.ok()) return Problem(loaded.status());
  const mobility::network::TransitNetwork& net = *(*loaded)->network;
  const std::string& stop_id = params.Get("stopId");
  auto found = net.feed().stop_by_id.find(stop_id);
  if (found == net.feed().stop_by_id.end()) {
    return Problem(Status::NotFound(fmt::format("no stop '{}' in the loaded feed", stop_id.substr(0, 200))));
  }
  const int32_t date = net.clock().LocalDate(*time);
  if (Status st = InServicePeriod(net, date); !st.ok()) return Problem(st);
  auto day = deps.mobility->Day(*tenant, **loaded, date, util::NowMillis() / 1000);
  if (!day.ok()) return Problem(day.status());
  auto scheduled = net.Day(date);
  if (!scheduled.ok()) return Problem(scheduled.status());
  const Names names(**loaded, *lang);
  json::array list;
  for (const auto& d : mobility::network::NextDepartures(net, **day, found->second, *time, *limit, scheduled->get())) {
    json::object o;
    const TripNames trip = names.Trip(d.feed_trip, d.added_trip, **day);
    o["route"] = trip.route;
    o["routeId"] = trip.route_id;
    o["headsign"] = trip.headsign;
    o["tripId"] = trip.trip_id;
    o["stopId"] = net.feed().stops[d.stop].id;
    if (!net.feed().stops[d.stop].platform_code.empty()) o["platform"] = net.feed().stops[d.stop].platform_code;
    o["scheduledDeparture"] = net.clock().FormatLocal(d.scheduled_departure);
    o["departure"] = net.clock().FormatLocal(d.departure);
    o["delaySeconds"] = d.departure - d.scheduled_departure;
    o["realtime"] = d.realtime;
    if (d.cancelled) o["cancelled"] = true;
    if (d.added_trip != mobility::gtfs::kNoIndex) o["added"] = true;
    list.push_back(std::move(o));
  }
  json::object body;
  const auto& stop = net.feed().stops[found->second];
  body["stop"] = {{"stopId", stop.id}, {"name", names.Stop(found->second)}, {"lat", stop.lat}, {"lon", stop.lon}};
  body["time"] = net.clock().FormatLocal(*time);
  body["timezone"] = net.clock().zone();
  body["language"] = names.Language();
  body["departures"] = std::move(list);
  return PlainJson(200, body);
}

json::object SummaryJson(const mobility::FeedSummary& s) {
  auto date = [](int32_t d) {
    return d == 0 ? json::value(nullptr)
                  : json::value(fmt::format("{:04}-{:02}-{:02}", d / 10000, d / 100 % 100, d % 100));
  };
  json::object o;
  o["publisher"] = s.publisher;
  o["timezone"] = s.timezone;
  o["agencies"] = s.agencies;
  o["stops"] = s.stops;
  o["stations"] = s.stations;
  o["routes"] = s.routes;
  o["trips"] = s.trips;
  o["stopTimes"] = s.stop_times;
  o["frequencies"] = s.frequencies;
  o["transfers"] = s.transfers;
  o["translations"] = s.translations;
  o["firstServiceDate"] = date(s.first_date);
  o["lastServiceDate"] = date(s.last_date);
  o["importedAt"] = util::FormatDateTime(s.imported_at_ms);
  o["problems"] = s.problems;
  if (!s.entities.empty()) o["entities"] = s.entities;
  return o;
}

// `text` with the server's temp file name of an upload replaced by what the client knows it as.
std::string Shown(std::string text, std::string_view temp_path) {
  if (temp_path.empty()) return text;
  for (size_t at; (at = text.find(temp_path)) != std::string::npos;) text.replace(at, temp_path.size(), "(uploaded zip)");
  return text;
}

json::object ReportJson(const mobility::gtfs::ValidationReport& report, std::string_view temp_path = {}) {
  json::array problems;
  for (const auto& p : report.problems()) {
    json::object o;
    o["file"] = Shown(p.file, temp_path);
    if (p.line > 0) o["line"] = p.line;
    if (!p.field.empty()) o["field"] = p.field;
    o["reason"] = Shown(p.reason, temp_path);
    o["severity"] = p.severity == mobility::gtfs::Problem::Severity::kFatal ? "fatal" : "skipped";
    problems.push_back(std::move(o));
  }
  json::object o;
  o["total"] = report.total();
  o["notListed"] = report.not_kept();
  o["problems"] = std::move(problems);
  return o;
}

// The media type of the request body, without parameters ("application/zip").
std::string_view BodyMediaType(const Request& req) {
  std::string_view type = req.headers.Get("Content-Type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return type;
}

// A read of a parameterless resource of the tenant's feed: the tenant and its feed.
struct FeedRead {
  std::string tenant;
  std::shared_ptr<const mobility::LoadedFeed> loaded;
};
Result<FeedRead> ReadFeedResource(const Request& req, const ApiDeps& deps) {
  CITYHUB_RETURN_IF_ERROR(Unknown(req, {}));
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return tenant.status();
  auto loaded = FeedOf(deps, *tenant);
  if (!loaded.ok()) return loaded.status();
  return FeedRead{std::move(*tenant), std::move(*loaded)};
}

Response GetFeed(const Request& req, const ApiDeps& deps) {
  auto read = ReadFeedResource(req, deps);
  if (!read.ok()) return Problem(read.status());
  return PlainJson(200, SummaryJson(read->loaded->summary));
}

Response ImportFeed(const Request& req, const ApiDeps& deps) {
  if (Status st = Unknown(req, {}); !st.ok()) return Problem(st);
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  const std::string_view type = BodyMediaType(req);
  if (type != "application/zip") {
    return Problem(Status(Status::Code::kUnsupportedMediaType, "the body must be a GTFS zip (Content-Type: application/zip)"));
  }
  if (req.body.empty()) return Problem(Status::BadRequestData("the body is empty: send the GTFS zip"));
  // libzip reads from a file: the upload goes to a private temp file removed afterwards.
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  const std::filesystem::path path = dir / fmt::format("cityhub-gtfs-{}.zip", util::RandomUuid());
  {
    std::ofstream out(path, std::ios::binary);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
    out.write(req.body.data(), static_cast<std::streamsize>(req.body.size()));
    if (!out.good()) {
      std::filesystem::remove(path, ec);
      return Problem(Status::Internal("cannot store the upload for reading"));
    }
  }
  mobility::gtfs::ValidationReport report(deps.mobility->options().feed.max_problems_kept);
  auto summary = deps.mobility->Import(*tenant, path.string(), report);
  std::filesystem::remove(path, ec);
  if (!summary.ok()) {
    json::object body = ProblemJson(Status(summary.status().code(), Shown(summary.status().message(), path.string())));
    body["report"] = ReportJson(report, path.string());
    return PlainJson(HttpStatusOf(summary.status().code()), body);
  }
  json::object body = SummaryJson(*summary);
  body["report"] = ReportJson(report, path.string());
  return PlainJson(200, body);
}

json::object RealtimeJson(const mobility::RealtimeSummary& s) {
  json::object o;
  o["updatedTrips"] = s.updated_trips;
  o["cancelledTrips"] = s.cancelled_trips;
  o["addedTrips"] = s.added_trips;
  o["vehicles"] = s.vehicles;
  o["problems"] = s.problems;
  o["feedTimestamp"] = s.feed_timestamp ? json::value(util::FormatDateTime(int64_t(s.feed_timestamp) * 1000))
                                        : json::value(nullptr);
  o["receivedAt"] = util::FormatDateTime(s.received_unix * 1000);
  if (!s.vehicle_entities.empty()) o["vehicleEntities"] = s.vehicle_entities;
  return o;
}

Response GetRealtime(const Request& req, const ApiDeps& deps) {
  auto read = ReadFeedResource(req, deps);
  if (!read.ok()) return Problem(read.status());
  auto status = deps.mobility->RealtimeStatus(read->tenant);
  if (!status) return Problem(Status::NotFound("no real-time data has been received for this feed"));
  json::object body = RealtimeJson(*status);
  body["applied"] = deps.mobility->Realtime(read->tenant, *read->loaded, util::NowMillis() / 1000) != nullptr;
  return PlainJson(200, body);
}

// POST /mobility/v1/realtime: a GTFS-Realtime FeedMessage (binary protobuf).
Response PostRealtime(const Request& req, const ApiDeps& deps) {
  if (Status st = Unknown(req, {}); !st.ok()) return Problem(st);
  auto tenant = TenantOf(req);
  if (!tenant.ok()) return Problem(tenant.status());
  const std::string_view type = BodyMediaType(req);
  if (type != "application/x-protobuf" && type != "application/octet-stream") {
    return Problem(Status(Status::Code::kUnsupportedMediaType,
                          "the body must be a GTFS-Realtime FeedMessage (Content-Type: application/x-protobuf)"));
  }
  mobility::gtfs::ValidationReport report(deps.mobility->options().feed.max_problems_kept);
  auto summary = deps.mobility->ApplyRealtime(*tenant, req.body, report, util::NowMillis() / 1000);
  if (!summary.ok()) return Problem(summary.status());
  json::object body = RealtimeJson(*summary);
  body["report"] = ReportJson(report);
  return PlainJson(200, body);
}

}  // namespace

void RegisterMobilityRoutes(http::Router& router, const ApiDeps& deps) {
  if (!deps.mobility) return;
  router.Add("GET", "/mobility/v1/plan", [&deps](const Request& r, const PathParams&) { return Plan(r, deps); });
  router.Add("GET", "/mobility/v1/stops/{stopId}/departures",
             [&deps](const Request& r, const PathParams& p) { return Departures(r, p, deps); });
  router.Add("GET", "/mobility/v1/feed", [&deps](const Request& r, const PathParams&) { return GetFeed(r, deps); });
  router.Add("POST", "/mobility/v1/feed", [&deps](const Request& r, const PathParams&) { return ImportFeed(r, deps); });
  router.Add("GET", "/mobility/v1/realtime", [&deps](const Request& r, const PathParams&) { return GetRealtime(r, deps); });
  router.Add("POST", "/mobility/v1/realtime",
             [&deps](const Request& r, const PathParams&) { return PostRealtime(r, deps); });
}

}  // namespace cityhub::api
