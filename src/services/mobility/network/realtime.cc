#include "services/mobility/network/realtime.h"

#include <algorithm>

#include <fmt/format.h>

#include "services/mobility/routing/timetable_update.h"

namespace cityhub::mobility::network {

uint32_t RealtimeSnapshot::Find(uint32_t feed_trip, int32_t service_date, int32_t start_time) const {
  auto it = by_run_.find(Key{feed_trip, service_date, start_time});
  return it == by_run_.end() ? kNoRealtime : it->second;
}

void RealtimeSnapshot::Index() {
  by_run_.clear();
  for (uint32_t i = 0; i < updates.trips.size(); ++i) {
    const gtfs::TripRealtime& t = updates.trips[i];
    by_run_.emplace(Key{t.trip, t.service_date, t.start_time}, i);
  }
}

Result<std::shared_ptr<const RealtimeSnapshot>> ResolveRealtime(const TransitNetwork& network,
                                                                const gtfs::RealtimeFeed& feed, int64_t now_unix,
                                                                gtfs::ValidationReport& report) {
  gtfs::ResolveOptions options;
  // Updates naming no start date are about the day the producer wrote the feed.
  options.today = network.clock().LocalDate(feed.timestamp > 0 ? static_cast<int64_t>(feed.timestamp) : now_unix);
  options.service_day_start = [&network](int32_t date) { return network.clock().ServiceDayStartUtc(date); };
  auto resolved = gtfs::ResolveTripUpdates(network.feed(), feed, options, report);
  if (!resolved.ok()) return resolved.status();
  auto snapshot = std::make_shared<RealtimeSnapshot>();
  snapshot->received_unix = now_unix;
  snapshot->feed_timestamp = feed.timestamp;
  snapshot->updates = std::move(*resolved);
  snapshot->vehicles = feed.vehicle_positions;
  snapshot->problems = report.total();
  snapshot->Index();
  return std::shared_ptr<const RealtimeSnapshot>(std::move(snapshot));
}

namespace {

// The change of one run: real-time times where given, else the schedule (the day timetable's
// times) moved by the last delay seen; then made consistent.
routing::TripChange ChangeOf(const gtfs::TripRealtime& update, routing::TripIdx trip, int64_t day_offset,
                             std::span<const routing::StopTime> scheduled) {
  routing::TripChange change;
  change.trip = trip;
  if (update.cancelled) {
    change.cancelled = true;
    return change;
  }
  const size_t n = scheduled.size();
  change.times.resize(n);
  int64_t delay = 0;
  bool any_skipped = false;
  for (size_t p = 0; p < n && p < update.stop_times.size(); ++p) {
    const gtfs::RealtimeStopTime& rt = update.stop_times[p];
    int64_t arrival = scheduled[p].arrival + delay, departure = scheduled[p].departure + delay;
    if (rt.arrival != gtfs::kNoTime) {
      arrival = rt.arrival + day_offset;
      delay = arrival - scheduled[p].arrival;
    }
    if (rt.departure != gtfs::kNoTime) {
      departure = rt.departure + day_offset;
      delay = departure - scheduled[p].departure;
    } else if (rt.arrival != gtfs::kNoTime) {
      departure = scheduled[p].departure + delay;
    }
    change.times[p] = {static_cast<routing::Seconds>(std::clamp<int64_t>(arrival, 0, routing::kMaxTime)),
                       static_cast<routing::Seconds>(std::clamp<int64_t>(departure, 0, routing::kMaxTime))};
    if (rt.skipped) any_skipped = true;
  }
  if (any_skipped) {
    change.skipped.resize(n, 0);
    for (size_t p = 0; p < n && p < update.stop_times.size(); ++p) change.skipped[p] = update.stop_times[p].skipped;
  }
  // Non-decreasing over the served stops.
  routing::Seconds last = 0;
  for (size_t p = 0; p < n; ++p) {
    if (!change.skipped.empty() && change.skipped[p]) continue;
    routing::StopTime& t = change.times[p];
    t.arrival = std::max(t.arrival, last);
    t.departure = std::max(t.departure, t.arrival);
    last = t.departure;
  }
  return change;
}

}  // namespace

Result<std::shared_ptr<const DayTimetable>> WithRealtime(const TransitNetwork& network, const DayTimetable& base,
                                                         std::shared_ptr<const RealtimeSnapshot> realtime) {
  const routing::Timetable& tt = base.timetable;
  auto day = std::make_shared<DayTimetable>();
  day->date = base.date;
  day->epoch_utc = base.epoch_utc;
  day->runs = base.runs;
  day->skipped_runs = base.skipped_runs;
  std::vector<routing::TripChange> changes;
  if (!realtime->updates.trips.empty()) {
    for (routing::RouteIdx r = 0; r < tt.RouteCount(); ++r) {
      for (uint32_t t = 0; t < tt.Route(r).trip_count; ++t) {
        const routing::TripIdx trip = tt.TripOf(r, t);
        TripRun& run = day->runs[trip];
        const uint32_t u = realtime->Find(run.feed_trip, run.service_date, network.RunStart(run.feed_trip, run.shift));
        if (u == kNoRealtime) continue;
        run.update = u;
        const int64_t day_offset = network.clock().ServiceDayStartUtc(run.service_date) - base.epoch_utc;
        changes.push_back(ChangeOf(realtime->updates.trips[u], trip, day_offset, tt.TripTimes(r, t)));
      }
    }
  }
  std::vector<routing::AddedTrip> added;
  for (uint32_t a = 0; a < realtime->updates.added.size(); ++a) {
    const gtfs::AddedTripRealtime& trip = realtime->updates.added[a];
    if (trip.service_date < AddDays(base.date, -1) || trip.service_date > AddDays(base.date, 1)) continue;
    const int64_t day_offset = network.clock().ServiceDayStartUtc(trip.service_date) - base.epoch_utc;
    routing::AddedTrip at;
    for (const gtfs::AddedStopTime& st : trip.stop_times) {
      at.stops.push_back({st.stop, static_cast<routing::Seconds>(std::clamp<int64_t>(st.arrival + day_offset, 0, routing::kMaxTime)),
                          static_cast<routing::Seconds>(std::clamp<int64_t>(st.departure + day_offset, 0, routing::kMaxTime))});
    }
    added.push_back(std::move(at));
    TripRun run;
    run.feed_trip = gtfs::kNoIndex;
    run.service_date = trip.service_date;
    run.added = a;
    day->runs.push_back(run);
  }
  auto applied = routing::ApplyTripChanges(tt, changes, added);
  if (!applied.ok()) return applied.status();
  day->timetable = std::move(*applied);
  day->realtime = std::move(realtime);
  return std::shared_ptr<const DayTimetable>(std::move(day));
}

uint32_t FeedPosition(const DayTimetable& day, const TripRun& run, uint32_t route_position) {
  if (!day.realtime || run.update == kNoRealtime) return route_position;
  const auto& stops = day.realtime->updates.trips[run.update].stop_times;
  uint32_t served = 0;
  for (uint32_t p = 0; p < stops.size(); ++p) {
    if (stops[p].skipped) continue;
    if (served++ == route_position) return p;
  }
  return route_position;
}

}  // namespace cityhub::mobility::network
