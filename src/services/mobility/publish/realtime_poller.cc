#include "services/mobility/publish/realtime_poller.h"

#include <future>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/time.h"

namespace cityhub::services {
namespace {

net::HttpClientOptions ClientOptions(const RealtimePollerOptions& o) {
  net::HttpClientOptions c;
  c.addresses = o.addresses;
  c.ca_file = o.ca_file;
  c.thread_name = "gtfs-rt-http";
  c.purpose = "GTFS-Realtime download";
  c.max_connections_per_origin = 1;
  return c;
}

}  // namespace

RealtimePoller::RealtimePoller(mobility::MobilityService& mobility, RealtimePollerOptions options)
    : mobility_(mobility),
      options_(std::move(options)),
      client_(ClientOptions(options_)),
      task_("gtfs-rt-poll", std::chrono::duration_cast<std::chrono::milliseconds>(options_.interval),
            [this] { PollOnce(); }) {}

void RealtimePoller::PollOnce() {
  net::HttpRequest req;
  req.url = options_.url;
  req.headers = {{"Accept", "application/x-protobuf, application/octet-stream"}};
  req.timeout = options_.timeout;
  req.deadline = std::chrono::steady_clock::now() + options_.timeout;
  req.max_response_bytes = kMaxRealtimeDownloadBytes;
  auto promise = std::make_shared<std::promise<net::HttpOutcome>>();
  std::future<net::HttpOutcome> future = promise->get_future();
  client_.Send(std::move(req), [promise](net::HttpOutcome outcome) { promise->set_value(std::move(outcome)); });
  const net::HttpOutcome outcome = future.get();  // the client calls back within the deadline
  auto fail = [this](std::string why) {
    if (why != last_error_) spdlog::warn("mobility: GTFS-Realtime from {}: {}", options_.url, why);
    last_error_ = std::move(why);
  };
  if (!outcome.ok) return fail(outcome.error);
  if (outcome.response.status != 200) return fail(fmt::format("HTTP {}", outcome.response.status));
  mobility::gtfs::ValidationReport report;
  auto applied = mobility_.ApplyRealtime(options_.tenant, outcome.response.body, report, util::NowMillis() / 1000);
  if (!applied.ok()) return fail(applied.status().message());
  if (!last_error_.empty()) spdlog::info("mobility: GTFS-Realtime from {} applies again", options_.url);
  last_error_.clear();
  spdlog::debug("mobility: GTFS-Realtime: {} trips updated, {} vehicles, {} problems", applied->updated_trips,
                applied->vehicles, applied->problems);
}

}  // namespace cityhub::services
