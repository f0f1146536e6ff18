#include "services/mobility/mobility_service.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "services/mobility/gtfs/feed_snapshot.h"
#include "util/time.h"

namespace cityhub::mobility {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kSnapshotFile = "feed.snapshot";

std::string HexName(std::string_view tenant) {
  std::string out = "t-";
  for (unsigned char c : tenant) out += fmt::format("{:02x}", c);
  return out;
}

// The tenant a directory name stands for, or nullopt when it is not one of ours.
std::optional<std::string> TenantOfDir(std::string_view name) {
  if (name == "default") return std::string();
  if (name.size() < 4 || name.substr(0, 2) != "t-" || name.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 2; i < name.size(); i += 2) {
    unsigned v = 0;
    for (char c : name.substr(i, 2)) {
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else return std::nullopt;
    }
    out += static_cast<char>(v);
  }
  return out;
}

int32_t Today(const network::TransitNetwork& net) { return net.clock().LocalDate(util::NowMillis() / 1000); }

}  // namespace

FeedSummary Summarise(const gtfs::Feed& feed, const network::TransitNetwork& network) {
  FeedSummary s;
  s.agencies = feed.agencies.size();
  for (const gtfs::Stop& stop : feed.stops) {
    if (stop.location_type == gtfs::LocationType::kStation) ++s.stations;
    else if (stop.location_type == gtfs::LocationType::kStop) ++s.stops;
  }
  s.routes = feed.routes.size();
  s.trips = feed.trips.size();
  s.stop_times = feed.stop_times.size();
  s.frequencies = feed.frequencies.size();
  s.transfers = feed.transfers.size();
  s.translations = feed.translations.size();
  s.first_date = network.first_date();
  s.last_date = network.last_date();
  s.timezone = feed.timezone;
  if (feed.feed_info && !feed.feed_info->publisher_name.empty()) {
    s.publisher = feed.feed_info->publisher_name;
  } else if (!feed.agencies.empty()) {
    s.publisher = feed.agencies.front().name;
  }
  return s;
}

MobilityService::MobilityService(MobilityOptions options) : options_(std::move(options)) {}

std::string MobilityService::TenantDir(std::string_view tenant) const {
  return (fs::path(options_.state_dir) / (tenant.empty() ? std::string("default") : HexName(tenant))).string();
}

void MobilityService::Install(std::string_view tenant, std::shared_ptr<const LoadedFeed> loaded) {
  std::unique_lock lock(mu_);
  auto it = feeds_.find(tenant);
  if (it == feeds_.end()) {
    feeds_.emplace(std::string(tenant), std::move(loaded));
  } else {
    it->second = std::move(loaded);  // the previous one lives on while requests hold it
  }
}

std::shared_ptr<const LoadedFeed> MobilityService::Get(std::string_view tenant) const {
  std::shared_lock lock(mu_);
  auto it = feeds_.find(tenant);
  return it == feeds_.end() ? nullptr : it->second;
}

size_t MobilityService::LoadSaved() {
  if (options_.state_dir.empty()) return 0;
  std::error_code ec;
  size_t loaded = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(options_.state_dir, ec)) {
    const auto tenant = TenantOfDir(entry.path().filename().string());
    if (!tenant || !entry.is_directory()) continue;
    const auto started = std::chrono::steady_clock::now();
    const fs::path file = entry.path() / kSnapshotFile;
    auto feed = gtfs::ReadFeedSnapshot(file.string());
    if (!feed.ok()) {
      if (!feed.status().IsNotFound()) spdlog::error("mobility: {}", feed.status().message());
      continue;
    }
    auto net = network::TransitNetwork::Create(std::move(*feed), options_.network);
    if (!net.ok()) {
      spdlog::error("mobility: saved feed of tenant '{}': {}", *tenant, net.status().message());
      continue;
    }
    auto out = std::make_shared<LoadedFeed>();
    out->summary = Summarise((*net)->feed(), **net);
    const auto written = fs::last_write_time(file, ec);
    if (!ec) {
      out->summary.imported_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::file_clock::to_sys(written).time_since_epoch())
                                        .count();
    }
    if (auto day = (*net)->Day(Today(**net)); !day.ok()) {
      spdlog::warn("mobility: today's timetable of tenant '{}': {}", *tenant, day.status().message());
    }
    out->translations = gtfs::TranslationIndex::Build((*net)->feed());
    out->network = std::move(*net);
    Install(*tenant, std::move(out));
    ++loaded;
    spdlog::info("mobility: feed of tenant '{}' loaded from its snapshot in {} ms", *tenant,
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                     .count());
  }
  return loaded;
}

Result<FeedSummary> MobilityService::Import(std::string_view tenant, const std::string& zip_path,
                                            gtfs::ValidationReport& report) {
  std::lock_guard import_lock(import_mu_);
  auto feed = gtfs::LoadFeed(zip_path, options_.feed, report);
  if (!feed.ok()) return feed.status();
  auto net = network::TransitNetwork::Create(std::move(*feed), options_.network);
  if (!net.ok()) return net.status();
  // Today's timetable is built before the swap, so the first journeys after it are not slowed.
  if (auto day = (*net)->Day(Today(**net)); !day.ok()) return day.status();
  if (!options_.state_dir.empty()) {
    const std::string dir = TenantDir(tenant);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::Internal(fmt::format("cannot create '{}': {}", dir, ec.message()));
    CITYHUB_RETURN_IF_ERROR(gtfs::WriteFeedSnapshot((*net)->feed(), (fs::path(dir) / kSnapshotFile).string()));
  }
  auto loaded = std::make_shared<LoadedFeed>();
  loaded->summary = Summarise((*net)->feed(), **net);
  loaded->summary.imported_at_ms = util::NowMillis();
  loaded->summary.problems = report.total();
  loaded->translations = gtfs::TranslationIndex::Build((*net)->feed());
  loaded->network = std::move(*net);
  const std::shared_ptr<const LoadedFeed> previous = Get(tenant);
  if (publisher_) {
    Status st = publisher_(tenant, loaded->network->feed(), previous ? &previous->network->feed() : nullptr);
    loaded->summary.entities = st.ok() ? "published" : fmt::format("not published: {}", st.message());
    if (!st.ok()) spdlog::warn("mobility: entities of tenant '{}' {}", tenant, loaded->summary.entities);
  }
  FeedSummary summary = loaded->summary;
  Install(tenant, std::move(loaded));
  return summary;
}

Result<RealtimeSummary> MobilityService::ApplyRealtime(std::string_view tenant, std::string_view message,
                                                       gtfs::ValidationReport& report, int64_t now_unix) {
  const std::shared_ptr<const LoadedFeed> loaded = Get(tenant);
  if (!loaded) {
    return Status(Status::Code::kUnavailable, "no transit feed is loaded: real-time data needs the feed it updates");
  }
  auto parsed = gtfs::ParseRealtimeFeed(message, options_.realtime);
  if (!parsed.ok()) return parsed.status();
  auto snapshot = network::ResolveRealtime(*loaded->network, *parsed, now_unix, report);
  if (!snapshot.ok()) return snapshot.status();
  RealtimeSummary summary;
  for (const gtfs::TripRealtime& t : (*snapshot)->updates.trips) {
    ++summary.updated_trips;
    if (t.cancelled) ++summary.cancelled_trips;
  }
  summary.added_trips = (*snapshot)->updates.added.size();
  summary.vehicles = (*snapshot)->vehicles.size();
  summary.problems = report.total();
  summary.feed_timestamp = (*snapshot)->feed_timestamp;
  summary.received_unix = now_unix;
  if (vehicle_publisher_ && !(*snapshot)->vehicles.empty()) {
    Status st = vehicle_publisher_(tenant, *loaded->network, **snapshot);
    summary.vehicle_entities = st.ok() ? "published" : fmt::format("not published: {}", st.message());
  }
  std::lock_guard lock(realtime_mu_);
  RealtimeSlot& slot = realtime_[std::string(tenant)];
  slot.network = loaded->network;
  slot.snapshot = std::move(*snapshot);
  slot.summary = summary;
  slot.applied.clear();
  return summary;
}

std::shared_ptr<const network::RealtimeSnapshot> MobilityService::Realtime(std::string_view tenant,
                                                                          const LoadedFeed& loaded,
                                                                          int64_t now_unix) const {
  std::lock_guard lock(realtime_mu_);
  auto it = realtime_.find(tenant);
  if (it == realtime_.end() || !it->second.snapshot) return nullptr;
  if (it->second.network.lock() != loaded.network) return nullptr;
  if (now_unix - it->second.snapshot->received_unix > options_.max_realtime_age_s) return nullptr;
  return it->second.snapshot;
}

std::optional<RealtimeSummary> MobilityService::RealtimeStatus(std::string_view tenant) const {
  std::lock_guard lock(realtime_mu_);
  auto it = realtime_.find(tenant);
  if (it == realtime_.end() || !it->second.snapshot) return std::nullopt;
  return it->second.summary;
}

Result<std::shared_ptr<const network::DayTimetable>> MobilityService::Day(std::string_view tenant,
                                                                          const LoadedFeed& loaded, int32_t date,
                                                                          int64_t now_unix) const {
  auto base = loaded.network->Day(date);
  if (!base.ok()) return base.status();
  auto snapshot = Realtime(tenant, loaded, now_unix);
  if (!snapshot) return base;
  {
    std::lock_guard lock(realtime_mu_);
    auto& slot = realtime_[std::string(tenant)];
    if (slot.snapshot == snapshot) {
      if (auto it = slot.applied.find(date); it != slot.applied.end()) return it->second;
    }
  }
  // Applied outside the lock (tens of milliseconds on a big network); two requests may both
  // apply the same snapshot, and the second result is dropped.
  auto applied = network::WithRealtime(*loaded.network, **base, snapshot);
  if (!applied.ok()) return applied.status();
  std::lock_guard lock(realtime_mu_);
  auto& slot = realtime_[std::string(tenant)];
  if (slot.snapshot == snapshot) {
    while (slot.applied.size() >= options_.network.cached_days) slot.applied.erase(slot.applied.begin());
    slot.applied.emplace(date, *applied);
  }
  return *applied;
}

}  // namespace cityhub::mobility
