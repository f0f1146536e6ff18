#include "services/mobility/publish/feed_publisher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ngsild/parse.h"
#include "services/mobility/gtfs/entities.h"
#include "services/mobility/gtfs/translations.h"
#include "util/time.h"

namespace cityhub::services {
namespace gtfs = mobility::gtfs;

FeedPublisher::FeedPublisher(broker::EntityService& entities, ngsild::ContextPtr core)
    : entities_(entities), core_(std::move(core)) {
  using V = gtfs::GtfsVocabulary;
  access_ = std::make_unique<broker::SystemWriteAccess>(
      "system:mobility",
      std::vector<std::string>{std::string(V::kAgencyType), std::string(V::kStationType), std::string(V::kStopType),
                               std::string(V::kRouteType)},
      std::vector<std::string>{}, /*may_delete=*/true);
}

Status FeedPublisher::Publish(std::string_view tenant, const gtfs::Feed& feed, const gtfs::Feed* previous) {
  gtfs::EntityOptions options;
  options.feed_key = std::string(kFeedKey);
  auto built = gtfs::BuildFeedEntities(feed, gtfs::TranslationIndex::Build(feed), options);
  if (!built.ok()) return built.status();
  Status first = Status::Ok();
  size_t failed = 0;
  auto note = [&](const Status& st) {
    if (st.ok()) return;
    if (first.ok()) first = st;
    ++failed;
  };
  const int64_t now = util::NowMillis();
  const std::vector<boost::json::object>& all = built->entities;
  for (size_t start = 0; start < all.size(); start += kPublishBatch) {
    std::vector<ngsild::Entity> batch;
    for (size_t i = start; i < std::min(all.size(), start + kPublishBatch); ++i) {
      auto e = ngsild::ParseEntity(all[i], *core_, now, ngsild::ParseLimits{});
      if (!e.ok()) {
        note(e.status());
        continue;
      }
      batch.push_back(std::move(*e));
    }
    broker::BatchResult r = entities_.BatchUpsert(*access_, tenant, std::move(batch), /*replace=*/true);
    for (const auto& error : r.errors) note(Status::BadRequestData(fmt::format("{}: {}", error.entity_id, error.status.message())));
  }
  if (previous) {
    auto before = gtfs::BuildFeedEntities(*previous, gtfs::TranslationIndex::Build(*previous), options);
    if (before.ok()) {
      const auto stale = gtfs::StaleEntityIds(gtfs::EntityIds(before->entities), gtfs::EntityIds(all));
      if (!stale.empty()) {
        broker::BatchResult r = entities_.BatchDelete(*access_, tenant, stale);
        for (const auto& error : r.errors) {
          if (!error.status.IsNotFound()) note(Status::BadRequestData(fmt::format("{}: {}", error.entity_id, error.status.message())));
        }
      }
    }
  }
  spdlog::info("mobility: {} feed entities written for tenant '{}' ({} agencies, {} stations, {} stops, {} routes){}",
               all.size() - failed, tenant, built->agencies, built->stations, built->stops, built->routes,
               failed ? fmt::format("; {} failed", failed) : "");
  if (failed > 1) return Status(first.code(), fmt::format("{} (and {} more)", first.message(), failed - 1));
  return first;
}

}  // namespace cityhub::services
