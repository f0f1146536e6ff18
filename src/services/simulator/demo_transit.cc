// The demo feed is generated from three small tables — stops, lines, names in five languages —
// so that a stop or a line is added in one place and every file that mentions it (stops,
// stop_times, trips, translations) follows. Times come from the distances between stops rather
// than from a hand-written timetable: moving a stop keeps the timetable plausible.
#include "services/simulator/demo_transit.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "services/mobility/gtfs/zip_writer.h"
#include "util/geo.h"
#include "util/time.h"

namespace cityhub::services {
namespace {

constexpr int kFirstYear = 2024, kLastYear = 2030;
constexpr double kDetourFactor = 1.3;
constexpr double kBusSpeedMps = 18.0 / 3.6;
constexpr std::string_view kLanguages[] = {"en", "zh", "ja", "vi"};  // besides Korean

// A name in Korean (the feed's language) and in kLanguages, in that order.
struct Names {
  std::string_view ko, en, zh, ja, vi;
  std::string_view In(size_t language) const {
    const std::string_view all[] = {en, zh, ja, vi};
    return all[language];
  }
};

struct DemoStop {
  std::string_view id;
  double lat, lon;
  Names name;
  int location_type = 0;
  std::string_view parent = {};
  int wheelchair = 1;
};

const std::vector<DemoStop>& Stops() {
  static const std::vector<DemoStop> stops = {
      {"city-hall", 35.2288, 128.8890,
       {"김해시청", "Gimhae City Hall", "金海市政府", "金海市役所", "Tòa thị chính Gimhae"}},
      {"station", 35.2358, 128.8813,
       {"김해역", "Gimhae Station", "金海站", "金海駅", "Ga Gimhae"}},
      {"market", 35.2332, 128.8834,
       {"동상시장", "Dongsang Market", "东上市场", "東上市場", "Chợ Dongsang"}},
      {"haeban-south", 35.2256, 128.8703,
       {"해반천 남단", "Haeban Stream South", "海畔川南端", "海畔川南端", "Nam suối Haeban"}},
      {"haeban-park", 35.2298, 128.8778,
       {"해반천 공원", "Haeban Stream Park", "海畔川公园", "海畔川公園", "Công viên suối Haeban"}},
      {"haeban-north", 35.2343, 128.8858,
       {"해반천 북단", "Haeban Stream North", "海畔川北端", "海畔川北端", "Bắc suối Haeban"}},
      {"underpass", 35.2293, 128.8819,
       {"시청 지하차도", "City Hall Underpass", "市政府地下车道", "市役所地下車道", "Hầm chui Tòa thị chính"},
       0, {}, 2},  // the underpass stop has steps
      {"suro-tomb", 35.2311, 128.8772,
       {"수로왕릉", "King Suro's Tomb", "首露王陵", "首露王陵", "Lăng vua Suro"}},
      {"terminal", 35.2392, 128.8722,
       {"김해여객터미널", "Gimhae Bus Terminal", "金海客运站", "金海バスターミナル", "Bến xe Gimhae"}, 1},
      {"terminal-1", 35.2393, 128.8720,
       {"김해여객터미널 1번 승강장", "Gimhae Bus Terminal Bay 1", "金海客运站1号站台", "金海バスターミナル1番乗り場",
        "Bến xe Gimhae - bến 1"},
       0, "terminal"},
      {"terminal-2", 35.2391, 128.8725,
       {"김해여객터미널 2번 승강장", "Gimhae Bus Terminal Bay 2", "金海客运站2号站台", "金海バスターミナル2番乗り場",
        "Bến xe Gimhae - bến 2"},
       0, "terminal"},
      {"yeonji-park", 35.2385, 128.8680,
       {"연지공원", "Yeonji Park", "莲池公园", "蓮池公園", "Công viên Yeonji"}},
      {"naeoe-dong", 35.2410, 128.8640,
       {"내외동", "Naeoe-dong", "内外洞", "内外洞", "Phường Naeoe"}},
      {"samgye-dong", 35.2570, 128.8720,
       {"삼계동", "Samgye-dong", "三溪洞", "三渓洞", "Phường Samgye"}},
      {"buwon-dong", 35.2250, 128.8880,
       {"부원동", "Buwon-dong", "府院洞", "府院洞", "Phường Buwon"}},
      {"dongsang-dong", 35.2340, 128.8862,
       {"동상동", "Dongsang-dong", "东上洞", "東上洞", "Phường Dongsang"}},
      {"bonghwang-dong", 35.2278, 128.8745,
       {"봉황동", "Bonghwang-dong", "凤凰洞", "鳳凰洞", "Phường Bonghwang"}},
  };
  return stops;
}

// Departures of one line on one service: every `headway` minutes from `first` to `last`
// (minutes after midnight, inclusive), or the listed `times`.
struct Schedule {
  std::string_view service;
  int first = 0, last = 0, headway = 0;
  std::vector<int> times = {};
};

struct DemoLine {
  std::string_view id, short_name;
  Names name;
  std::string_view color;
  std::vector<std::string_view> stops;
  std::vector<Schedule> schedules;
  bool frequency_based = false;
  int wheelchair = 1;  // 1 every trip accessible, 2 none, 0 every other trip
};

constexpr int Hm(int h, int m) { return h * 60 + m; }

const std::vector<DemoLine>& Lines() {
  static const std::vector<DemoLine> lines = {
      {"1", "1", {"해반천선", "Haeban Stream Line", "海畔川线", "海畔川線", "Tuyến suối Haeban"}, "0072BC",
       {"haeban-south", "bonghwang-dong", "haeban-park", "suro-tomb", "haeban-north", "station"},
       {{"weekday", Hm(6, 0), Hm(23, 0), 10}, {"weekend", Hm(7, 0), Hm(22, 0), 15}}, true},
      {"2", "2", {"시청선", "City Hall Line", "市政府线", "市役所線", "Tuyến Tòa thị chính"}, "00A651",
       {"terminal-1", "yeonji-park", "suro-tomb", "underpass", "city-hall", "buwon-dong"},
       {{"weekday", Hm(6, 0), Hm(22, 40), 20}, {"weekend", Hm(7, 0), Hm(22, 0), 30}}},
      {"3", "3", {"시장선", "Market Line", "市场线", "市場線", "Tuyến Chợ"}, "F7941D",
       {"samgye-dong", "naeoe-dong", "terminal-2", "station", "market", "dongsang-dong", "city-hall"},
       {{"weekday", Hm(6, 10), Hm(22, 55), 15}, {"weekend", Hm(7, 10), Hm(22, 10), 30}}, false, 0},
      {"N", "N", {"심야선", "Night Line", "夜间线", "深夜線", "Tuyến đêm"}, "662D91",
       {"city-hall", "market", "station", "terminal-1", "naeoe-dong", "samgye-dong"},
       {{"weekday", 0, 0, 0, {Hm(23, 30), Hm(24, 10), Hm(24, 50)}}}, false, 2},
  };
  return lines;
}

const DemoStop& StopById(std::string_view id) {
  for (const DemoStop& s : Stops()) {
    if (s.id == id) return s;
  }
  return Stops().front();  // unreachable: the tables above name only their own stops
}

double DistanceMeters(const DemoStop& a, const DemoStop& b) { return util::GreatCircleMetres(a.lat, a.lon, b.lat, b.lon); }

// Minutes from the first stop to each stop of `stops`.
std::vector<int> Offsets(const std::vector<std::string_view>& stops) {
  std::vector<int> offsets{0};
  for (size_t i = 1; i < stops.size(); ++i) {
    const double seconds = DistanceMeters(StopById(stops[i - 1]), StopById(stops[i])) * kDetourFactor / kBusSpeedMps;
    offsets.push_back(offsets.back() + std::max(1, static_cast<int>(std::ceil(seconds / 60))));
  }
  return offsets;
}

std::string Time(int minutes) { return fmt::format("{:02}:{:02}:00", minutes / 60, minutes % 60); }

// A headsign: the last stop's station if it has one, else the stop.
const Names& HeadsignOf(std::string_view last_stop) {
  const DemoStop& stop = StopById(last_stop);
  return stop.parent.empty() ? stop.name : StopById(stop.parent).name;
}

void AddTrips(const DemoLine& line, std::string& trips, std::string& stop_times, std::string& frequencies,
              std::vector<const Names*>& headsigns) {
  for (int direction = 0; direction < 2; ++direction) {
    std::vector<std::string_view> stops = line.stops;
    if (direction == 1) std::reverse(stops.begin(), stops.end());
    const std::vector<int> offsets = Offsets(stops);
    const Names& headsign = HeadsignOf(stops.back());
    if (std::find(headsigns.begin(), headsigns.end(), &headsign) == headsigns.end()) headsigns.push_back(&headsign);
    for (const Schedule& schedule : line.schedules) {
      std::vector<int> departures = schedule.times;
      if (line.frequency_based) {
        departures = {schedule.first};
      } else if (departures.empty()) {
        for (int t = schedule.first; t <= schedule.last; t += schedule.headway) departures.push_back(t);
      }
      for (size_t k = 0; k < departures.size(); ++k) {
        const std::string trip = fmt::format("{}-{}-{}-{:04}", line.id, direction, schedule.service,
                                             departures[k] / 60 * 100 + departures[k] % 60);
        const int wheelchair = line.wheelchair != 0 ? line.wheelchair : (k % 2 == 0 ? 1 : 2);
        trips += fmt::format("{},{},{},{},{},{}\n", line.id, schedule.service, trip, headsign.ko, direction,
                             wheelchair);
        for (size_t i = 0; i < stops.size(); ++i) {
          const std::string at = Time(departures[k] + offsets[i]);
          stop_times += fmt::format("{},{},{},{},{}\n", trip, at, at, stops[i], i + 1);
        }
        if (line.frequency_based) {
          frequencies += fmt::format("{},{},{},{},0\n", trip, Time(schedule.first), Time(schedule.last),
                                     schedule.headway * 60);
        }
      }
    }
  }
}

// Translation rows for `names` in record form (record_id given) or field_value form.
std::string TranslationRows(std::string_view table, std::string_view field, const Names& names,
                            std::string_view record_id) {
  std::string rows;
  for (size_t l = 0; l < std::size(kLanguages); ++l) {
    if (record_id.empty()) {
      rows += fmt::format("{},{},{},{},,,{}\n", table, field, kLanguages[l], names.In(l), names.ko);
    } else {
      rows += fmt::format("{},{},{},{},{},,\n", table, field, kLanguages[l], names.In(l), record_id);
    }
  }
  return rows;
}

// New Year's Day runs the weekend timetable: on a weekday, it swaps the two services.
std::string NewYearExceptions() {
  std::string rows;
  for (int year = kFirstYear; year <= kLastYear; ++year) {
    const int64_t days = util::DaysFromCivil(year, 1, 1);  // 1970-01-01 was a Thursday
    const int64_t monday_based = ((days + 3) % 7 + 7) % 7;  // 0 Monday … 6 Sunday
    if (monday_based >= 5) continue;
    rows += fmt::format("weekday,{}0101,2\nweekend,{}0101,1\n", year, year);
  }
  return rows;
}

const Names kAgencyName{"김해시내버스", "Gimhae City Bus", "金海市内巴士", "金海市内バス", "Xe buýt nội thành Gimhae"};

}  // namespace

std::map<std::string, std::string> MakeDemoTransitFeed() {
  std::map<std::string, std::string> files;
  files["agency.txt"] = fmt::format(
      "agency_id,agency_name,agency_url,agency_timezone,agency_lang,agency_phone\n"
      "gimhae-bus,{},https://bus.gimhae.example,Asia/Seoul,ko,055-000-0000\n",
      kAgencyName.ko);
  files["feed_info.txt"] = fmt::format(
      "feed_publisher_name,feed_publisher_url,feed_lang,default_lang,feed_start_date,feed_end_date,feed_version\n"
      "cityhub demo,https://cityhub.example/demo,ko,en,{}0101,{}1231,demo-1\n",
      kFirstYear, kLastYear);
  files["calendar.txt"] = fmt::format(
      "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
      "weekday,1,1,1,1,1,0,0,{0}0101,{1}1231\nweekend,0,0,0,0,0,1,1,{0}0101,{1}1231\n",
      kFirstYear, kLastYear);
  files["calendar_dates.txt"] = "service_id,date,exception_type\n" + NewYearExceptions();

  std::string translations = "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n";
  translations += TranslationRows("agency", "agency_name", kAgencyName, "gimhae-bus");
  std::string stops = "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station,wheelchair_boarding\n";
  for (const DemoStop& s : Stops()) {
    stops += fmt::format("{},{},{:.4f},{:.4f},{},{},{}\n", s.id, s.name.ko, s.lat, s.lon, s.location_type, s.parent,
                         s.wheelchair);
    translations += TranslationRows("stops", "stop_name", s.name, s.id);
  }
  files["stops.txt"] = std::move(stops);

  std::string routes = "route_id,agency_id,route_short_name,route_long_name,route_type,route_color,route_text_color\n";
  std::string trips = "route_id,service_id,trip_id,trip_headsign,direction_id,wheelchair_accessible\n";
  std::string stop_times = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n";
  std::string frequencies = "trip_id,start_time,end_time,headway_secs,exact_times\n";
  std::vector<const Names*> headsigns;  // in order of first use
  for (const DemoLine& line : Lines()) {
    routes += fmt::format("{},gimhae-bus,{},{},3,{},FFFFFF\n", line.id, line.short_name, line.name.ko, line.color);
    translations += TranslationRows("routes", "route_long_name", line.name, line.id);
    AddTrips(line, trips, stop_times, frequencies, headsigns);
  }
  for (const Names* headsign : headsigns) translations += TranslationRows("trips", "trip_headsign", *headsign, "");
  files["routes.txt"] = std::move(routes);
  files["trips.txt"] = std::move(trips);
  files["stop_times.txt"] = std::move(stop_times);
  files["frequencies.txt"] = std::move(frequencies);
  files["translations.txt"] = std::move(translations);
  files["transfers.txt"] =
      "from_stop_id,to_stop_id,transfer_type,min_transfer_time\n"
      "terminal-1,terminal-2,2,120\nterminal-2,terminal-1,2,120\n"
      "haeban-north,dongsang-dong,2,180\ndongsang-dong,haeban-north,2,180\n";
  return files;
}

Status WriteDemoTransitFeed(const std::string& path) {
  std::vector<mobility::gtfs::ZipFile> files;
  for (auto& [name, text] : MakeDemoTransitFeed()) files.emplace_back(name, std::move(text));
  return mobility::gtfs::WriteZip(path, files);
}

}  // namespace cityhub::services
