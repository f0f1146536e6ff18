// Fuzz target: the GTFS-Realtime chain (services/mobility/gtfs/realtime.h, trip_changes.h,
// routing/timetable_update.h). The first byte picks binary (even) or text format (odd); the rest
// is the feed. What decodes is resolved against a small fixed feed and applied to its timetable.
// Properties: a decoded feed keeps to the limits it was decoded under; ResolveTripUpdates never
// fails with valid options; whatever it resolves for the timetable's day, ApplyTripChanges
// accepts (resolving repairs the order of times, so no realtime input can make the timetable
// refuse it); the patched timetable still answers a query.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "services/mobility/gtfs/feed.h"
#include "services/mobility/gtfs/realtime.h"
#include "services/mobility/gtfs/trip_changes.h"
#include "services/mobility/routing/raptor.h"
#include "services/mobility/routing/timetable_update.h"
#include "util/time.h"

namespace {

namespace gtfs = cityhub::mobility::gtfs;
namespace routing = cityhub::mobility::routing;

constexpr int32_t kDay = 20240515;  // a Wednesday

// Stops A–E (C is B's parent station); trips T1 (A B C D E), LOOP (A B A C), NIGHT (D E past
// midnight), FREQ (a frequency template A B); all run every day of 2024.
struct Network {
  gtfs::Feed feed;
  routing::Timetable timetable;  // TripIdx = feed trip index

  Network() {
    for (const char* id : {"A", "B", "C", "D", "E"}) {
      gtfs::Stop stop;
      stop.id = id;
      stop.lat = 35.2 + 0.01 * static_cast<double>(feed.stops.size());
      stop.lon = 128.88;
      stop.has_position = true;
      feed.stop_by_id[id] = static_cast<uint32_t>(feed.stops.size());
      feed.stops.push_back(stop);
    }
    feed.stops[1].parent_station = 2;
    gtfs::Route route;
    route.id = "R";
    feed.routes.push_back(route);
    feed.route_by_id["R"] = 0;
    gtfs::Service service;
    service.id = "ALL";
    service.has_calendar = true;
    service.weekdays = 0x7f;
    service.start_date = 20240101;
    service.end_date = 20241231;
    feed.services.push_back(service);
    feed.service_by_id["ALL"] = 0;
    Add("T1", {0, 1, 2, 3, 4}, 8 * 3600);
    Add("LOOP", {0, 1, 0, 2}, 9 * 3600);
    Add("NIGHT", {3, 4}, 23 * 3600 + 50 * 60);
    Add("FREQ", {0, 1}, 0);
    feed.frequencies.push_back({3, 6 * 3600, 9 * 3600, 600, true});

    routing::TimetableBuilder builder;
    for (const gtfs::Stop& s : feed.stops) builder.AddStop(s.lat, s.lon, 60);
    for (const gtfs::Trip& t : feed.trips) {
      std::vector<routing::TripStop> calls;
      for (uint32_t i = 0; i < t.stop_time_count; ++i) {
        const gtfs::StopTime& st = feed.stop_times[t.first_stop_time + i];
        calls.push_back({st.stop, st.arrival, st.departure});
      }
      if (!builder.AddTrip(calls, true).ok()) __builtin_trap();
    }
    auto built = builder.Build({.radius_m = 2000});
    if (!built.ok()) __builtin_trap();
    timetable = std::move(built).value();
  }

  void Add(const std::string& id, std::vector<uint32_t> stops, int32_t start) {
    const auto index = static_cast<uint32_t>(feed.trips.size());
    gtfs::Trip trip;
    trip.id = id;
    trip.route = 0;
    trip.service = 0;
    trip.first_stop_time = static_cast<uint32_t>(feed.stop_times.size());
    trip.stop_time_count = static_cast<uint32_t>(stops.size());
    for (size_t i = 0; i < stops.size(); ++i) {
      const int32_t t = start + static_cast<int32_t>(i) * 600;
      feed.stop_times.push_back({index, stops[i], t, t + 30, static_cast<uint32_t>(i + 1), 0, 0});
    }
    feed.trip_by_id[id] = index;
    feed.trips.push_back(trip);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Network net;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const gtfs::RealtimeLimits limits{.max_bytes = 1 << 16, .max_entities = 64, .max_stop_time_updates_per_trip = 32};
  auto decoded = (data[0] & 1) ? gtfs::ParseRealtimeFeedText(input, limits) : gtfs::ParseRealtimeFeed(input, limits);
  if (!decoded.ok()) return 0;
  const gtfs::RealtimeFeed& rt = *decoded;
  if (rt.trip_updates.size() + rt.vehicle_positions.size() + rt.deleted_entity_ids.size() > limits.max_entities) {
    __builtin_trap();
  }
  for (const gtfs::TripUpdate& u : rt.trip_updates) {
    if (u.stop_time_updates.size() > limits.max_stop_time_updates_per_trip) __builtin_trap();
  }

  gtfs::ValidationReport report;
  const gtfs::ResolveOptions options{kDay, [](int32_t d) {  // Korea: UTC+9
    return cityhub::util::DaysFromCivil(d / 10000, d / 100 % 100, d % 100) * 86400 - 9 * 3600;
  }};
  auto resolved = gtfs::ResolveTripUpdates(net.feed, rt, options, report);
  if (!resolved.ok()) __builtin_trap();

  std::vector<routing::TripChange> changes;
  for (const gtfs::TripRealtime& t : resolved->trips) {
    if (t.service_date != kDay || t.start_time != gtfs::kNoTime) continue;
    if (t.stop_times.size() != (t.cancelled ? 0 : net.feed.trips[t.trip].stop_time_count)) __builtin_trap();
    routing::TripChange c{t.trip, t.cancelled, {}, {}};
    for (const gtfs::RealtimeStopTime& s : t.stop_times) {
      c.times.push_back({s.arrival, s.departure});
      c.skipped.push_back(s.skipped ? 1 : 0);
    }
    changes.push_back(std::move(c));
  }
  std::vector<routing::AddedTrip> added;
  for (const gtfs::AddedTripRealtime& a : resolved->added) {
    routing::AddedTrip trip;
    for (const gtfs::AddedStopTime& s : a.stop_times) trip.stops.push_back({s.stop, s.arrival, s.departure});
    added.push_back(std::move(trip));
  }
  auto patched = routing::ApplyTripChanges(net.timetable, changes, added);
  if (!patched.ok()) __builtin_trap();
  routing::Raptor raptor(*patched);
  routing::RaptorQuery q;
  q.sources = {{0, 0}};
  q.targets = {{4, 0}};
  q.departure = 7 * 3600;
  if (!raptor.Route(q).ok()) __builtin_trap();
  return 0;
}
