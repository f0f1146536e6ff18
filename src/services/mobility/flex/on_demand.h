// OnDemandIndex: answers where a GTFS-Flex (on-demand, DRT) vehicle can take a traveller — which
// flex services pick up or drop off at a point on a day, and the on-demand legs from a point to
// the feed's stops (access), from stops to a point (egress) or between two points (a journey made
// entirely on demand). Built once from a gtfs::Feed, then immutable: safe to share read-only
// between threads. It keeps a reference to the Feed, which must outlive it; legs name the feed's
// records by index (trip, windows, stop, booking rules).
//
// Model. A flex trip is a list of windows (Feed::flex_windows rows, by stop_sequence), each a
// place — a zone, a location group (its stops, and in the draft form its zones) or a stop — where
// the vehicle may pick up and/or drop off during [window_start, window_end]. A leg boards in a
// window that allows pickup and alights in a later window of the same trip that allows drop-off
// (GTFS-Flex writes "anywhere in zone Z" as a pickup row and a drop-off row for Z). Its vehicle
// must leave within the pickup window and arrive within the drop-off window, so the leg may leave
// during [max(pickup start, drop-off start − ride), min(pickup end, drop-off end − ride)],
// intersected with the query's departure window. The trip's service must run on the query's
// service date. Times are seconds on that service day (noon minus 12 h, as stop times): a
// caller looking past midnight asks again for the previous service date with times + 24 h.
//
// Ride time is an estimate, not a dispatch: crow-fly (great-circle) distance × detour factor /
// vehicle speed, rounded up to a second (OnDemandOptions). Stops reached are regular stops of the
// feed (location_type 0 or 4) in the alighting place: inside a zone's polygons, listed in a
// location group (or inside its zones), or the stop a window names. Booking rules are returned,
// not enforced: whether the traveller can still book (prior notice) depends on when they ask,
// which is the caller's to decide.
//
// Geometry. Inside is decided with the even-odd rule on the lon/lat plane, per polygon over all
// its rings (so holes are outside, and ring orientation does not matter); a MultiPolygon
// contains what any of its polygons contains. A point exactly on an edge may fall either way.
// Zones are prefiltered by bounding box. Planar in degrees: right for city-sized zones, not for
// zones crossing the antimeridian. Written here rather than with Boost.Geometry because the rule
// needs no ring orientation, closure or validity, which published zones do not always have
// (the tests check it agrees with Boost.Geometry on valid ones).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "services/mobility/gtfs/feed.h"
#include "util/status.h"

namespace cityhub::mobility::flex {

using gtfs::LatLon;

inline constexpr double kDefaultDetourFactor = 1.3;           // road / crow-fly distance
inline constexpr double kDefaultVehicleSpeed = 25.0 / 3.6;    // m/s: 25 km/h, stops included
inline constexpr size_t kMaxOnDemandLegs = 10'000;            // legs one query returns at most
// Option bounds: with them the longest ride on Earth (≈ 20,000 km × 5 / 0.5 m/s = 2·10^8 s)
// stays far inside int32 seconds.
inline constexpr double kMaxDetourFactor = 5.0;
inline constexpr double kMinVehicleSpeed = 0.5;  // m/s

struct OnDemandOptions {
  double detour_factor = kDefaultDetourFactor;  // in [1, kMaxDetourFactor]
  double speed_m_per_s = kDefaultVehicleSpeed;  // >= kMinVehicleSpeed
};

// Seconds on the service day, both ends included; empty (matches nothing) when reversed.
struct TimeWindow {
  int32_t earliest = 0;
  int32_t latest = 0;
};

// A flex window that serves a point: it allows the pickup (or drop-off) asked for, its place
// contains the point, its trip runs that day and its window meets the query's.
struct FlexService {
  uint32_t window = 0;     // Feed::flex_windows index
  uint32_t flex_trip = 0;  // Feed::flex_trips index
};

// One on-demand ride. Arrival = departure + ride_seconds for any departure in
// [earliest_departure, latest_departure].
struct OnDemandLeg {
  uint32_t flex_trip = 0;        // Feed::flex_trips index
  uint32_t pickup_window = 0;    // Feed::flex_windows index where the traveller boards
  uint32_t drop_off_window = 0;  // … and alights
  uint32_t stop = gtfs::kNoIndex;  // access: the stop it ends at; egress: the stop it starts
                                   // from; kNoIndex for a point-to-point leg
  int32_t ride_seconds = 0;
  int32_t earliest_departure = 0, latest_departure = 0;
  uint32_t pickup_booking_rule = gtfs::kNoIndex;    // Feed::booking_rules index or kNoIndex
  uint32_t drop_off_booking_rule = gtfs::kNoIndex;

  int32_t earliest_arrival() const { return earliest_departure + ride_seconds; }
};

// A flex window's place by id and name, for showing a leg.
struct PlaceLabel {
  gtfs::FlexPlaceKind kind = gtfs::FlexPlaceKind::kZone;
  std::string_view id, name;
};

class OnDemandIndex {
 public:
  // Indexes `feed`'s flex windows and the stops inside their places. Returns BadRequestData when
  // the options are out of their bounds.
  static Result<OnDemandIndex> Build(const gtfs::Feed& feed, OnDemandOptions options = {});

  // The flex windows allowing a pickup (drop-off) at `point` on service date `yyyymmdd` whose
  // window overlaps `when`; in Feed::flex_windows order. Empty when none.
  std::vector<FlexService> PickupServicesAt(LatLon point, int32_t yyyymmdd, TimeWindow when) const;
  std::vector<FlexService> DropOffServicesAt(LatLon point, int32_t yyyymmdd, TimeWindow when) const;

  // On-demand legs from `origin` to stops, leaving within `departure`: for each (stop, trip) the
  // leg arriving first (then leaving latest), sorted by stop then earliest arrival; at most
  // kMaxOnDemandLegs, those arriving first. Empty when no service fits.
  std::vector<OnDemandLeg> AccessLegs(LatLon origin, int32_t yyyymmdd, TimeWindow departure) const;
  // On-demand legs from stops to `destination`, leaving their stop within `departure`; as above.
  std::vector<OnDemandLeg> EgressLegs(LatLon destination, int32_t yyyymmdd,
                                      TimeWindow departure) const;
  // Point-to-point legs, one per trip that can carry a traveller from `from` to `to` leaving
  // within `departure` (empty: the journey cannot be made on demand alone).
  std::vector<OnDemandLeg> DirectLegs(LatLon from, LatLon to, int32_t yyyymmdd,
                                      TimeWindow departure) const;

  // Estimated ride seconds between two points (see "Ride time").
  int32_t RideSeconds(LatLon a, LatLon b) const;
  // Whether `zone` contains `point` (see "Geometry").
  static bool ZoneContains(const gtfs::FlexZone& zone, LatLon point);
  // The place of flex window `window`.
  PlaceLabel PlaceOf(uint32_t window) const;
  // Stops inside the place of flex window `window` (Feed::stops indexes, ascending).
  std::span<const uint32_t> StopsOf(uint32_t window) const;

  const gtfs::Feed& feed() const { return *feed_; }

 private:
  OnDemandIndex(const gtfs::Feed& feed, OnDemandOptions options) : feed_(&feed), options_(options) {}
  void IndexStopsInZones();
  void IndexWindows();
  // Marks in `inside` (one flag per window) the windows whose place contains `point`.
  std::vector<bool> WindowsContaining(LatLon point) const;
  bool RunsOn(uint32_t flex_trip, int32_t yyyymmdd) const;
  std::vector<FlexService> ServicesAt(LatLon point, int32_t yyyymmdd, TimeWindow when,
                                      bool pickup) const;
  // The leg boarding in `pickup` and alighting in `drop_off` with `ride` seconds, when its
  // departure range within `departure` is not empty.
  std::optional<OnDemandLeg> Fit(uint32_t pickup, uint32_t drop_off, int32_t ride,
                                 TimeWindow departure) const;
  // Access (from_point: point → stops) or egress (stops → point) legs.
  std::vector<OnDemandLeg> StopLegs(LatLon point, int32_t yyyymmdd, TimeWindow departure,
                                    bool from_point) const;

  const gtfs::Feed* feed_;
  OnDemandOptions options_;
  // Stops inside each zone, and inside each window's place: CSR (begin offsets, size + 1).
  std::vector<uint32_t> zone_stop_begin_, zone_stops_;
  std::vector<uint32_t> window_stop_begin_, window_stops_;
  // The windows whose place includes each zone (directly or through a group): CSR.
  std::vector<uint32_t> zone_window_begin_, zone_windows_;
  // Each flex trip's windows: [trip_window_begin_[t], trip_window_begin_[t + 1]).
  std::vector<uint32_t> trip_window_begin_;
};

}  // namespace cityhub::mobility::flex
