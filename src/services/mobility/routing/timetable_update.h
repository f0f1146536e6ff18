// Real-time changes to a routing Timetable: ApplyTripChanges returns a new Timetable in which
// some trips are cancelled, run at other times or skip stops, and extra trips run. The base
// Timetable is only read (queries running on it are undisturbed); the result is a separate value
// owned by the caller, immutable and shareable like any Timetable.
//
// How. Trips keep their TripIdx; added trips get TripIdx values after the base's, in the order
// given. Only the routes holding a changed trip are rebuilt; the other routes' times are copied
// as they are. In a rebuilt route the cancelled trips are left out and the remaining trips are
// sorted and, where the new times make one overtake another, dealt into extra routes with the
// same stop sequence (routes never overtake: RAPTOR relies on it). A trip that skips stops moves
// to a route whose stop sequence leaves them out, so it can be neither boarded nor alighted from
// there, and RAPTOR needs no special case; one left with fewer than two stops cannot be ridden
// and is dropped like a cancelled one. Added trips form routes of their own. Route indexes of
// the base stay valid (a route whose trips are all cancelled stays, empty); new routes come after.
// Stops, footpaths and minimum transfer times are unchanged.
//
// Use. Keep the scheduled timetable and apply the whole current set of changes to it at each
// real-time poll. A TripChange's positions are those of the trip's stop sequence in `base`, so
// a trip already moved to a shorter route by an earlier ApplyTripChanges would need positions of
// that route; and a trip cancelled there cannot be changed again (refused, see below).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "services/mobility/routing/timetable.h"
#include "util/status.h"

namespace cityhub::mobility::routing {

inline constexpr size_t kMaxTripChanges = kMaxTrips;  // changes or added trips in one call

// A change to one scheduled trip of the base timetable.
struct TripChange {
  TripIdx trip = 0;
  bool cancelled = false;
  // The new times at each position of the trip's stop sequence (as in the base); empty when
  // cancelled. Times of skipped positions are not read.
  std::vector<StopTime> times;
  // 1 at each skipped position; empty when no stop is skipped.
  std::vector<uint8_t> skipped;
};

// A trip that runs in addition to the timetable.
struct AddedTrip {
  std::vector<TripStop> stops;
  bool accessible = false;
};

// The base timetable with `changes` and `added` applied (see the file comment). BadRequestData
// naming the change (its index in `changes` or `added`) and the position when: a trip is unknown
// or no longer in any route of `base` (cancelled by an earlier update), a trip is changed twice,
// the sizes of times or skipped differ from the trip's stop count, or the served positions' times
// break the rules of TimetableBuilder::AddTrip (within [0, kMaxTime], arrival ≤ departure, never
// going backwards); an added trip breaks those rules or a limit of timetable.h is exceeded.
Result<Timetable> ApplyTripChanges(const Timetable& base, std::span<const TripChange> changes,
                                   std::span<const AddedTrip> added);

}  // namespace cityhub::mobility::routing
