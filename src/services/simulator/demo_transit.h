// The demo transit feed: a small GTFS feed of Gimhae-like city buses that the project makes
// itself, so that the journey planner and departure boards work out of the box beside the demo
// city (demo_script.h: its car parks, the Haeban stream). Made in C++ (no script, no download),
// the same bytes every time; the caller owns the files it returns or the zip it writes.
//
// The network (every stop within about 3 km of the demo city's car parks):
//   16 stops and 1 station (the bus terminal, with two bays as its child stops) near the city
//   hall, the station, Dongsang market, the Haeban stream, King Suro's tomb and the
//   neighbourhoods around them;
//   4 routes, each run in both directions (stop_times follow the crow-fly distance × 1.3 at
//   18 km/h, whole minutes, at least one):
//     "1"  해반천선 Haeban Stream Line — frequency-based (frequencies.txt, exact_times 0):
//          weekdays every 10 min 06:00–23:00, weekends every 15 min 07:00–22:00;
//     "2"  시청선 City Hall Line — weekdays every 20 min 06:00–22:40, weekends every 30 min
//          07:00–22:00;
//     "3"  시장선 Market Line — weekdays every 15 min 06:10–22:55, weekends every 30 min
//          07:10–22:10;
//     "N"  심야선 Night Line — weekday nights at 23:30, 24:10 and 24:50 (past midnight, on the
//          service day they started);
//   calendars "weekday" (Mon–Fri) and "weekend" (Sat–Sun), 2024-01-01 to 2030-12-31, with New
//   Year's Day run as a weekend day (calendar_dates.txt);
//   transfers between the terminal's bays (2 min) and between the stream's north stop and
//   Dongsang-dong (3 min);
//   stop, route and agency names and headsigns translated from Korean into en, zh, ja and vi
//   (record form for names, field_value form for headsigns); feed_info with feed_lang "ko" and
//   default_lang "en"; agency_timezone Asia/Seoul.
#pragma once

#include <map>
#include <string>

#include "util/status.h"

namespace cityhub::services {

// The feed's files: name (e.g. "stops.txt") → CSV text with a header row.
std::map<std::string, std::string> MakeDemoTransitFeed();

// Writes MakeDemoTransitFeed() as a GTFS zip at `path` (replacing any file there). Returns ok
// once written; InvalidRequest naming the path when it cannot be.
Status WriteDemoTransitFeed(const std::string& path);

}  // namespace cityhub::services
