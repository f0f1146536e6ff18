// federation_merge_bench: the CPU a federated hub spends on one query page beside what any hub
// spends rendering that page, without the network. Two sources answer a page each (normalized,
// with system attributes, as the hub asks them: `--page` ParkingSpot-like entities, disjoint ids),
// and the hub decodes both answers (exact JSON parse, ParseRenderedEntity), merges them
// (MergeEntities), keeps the page and renders it; the baseline is what a hub holding the data
// does with the page it read: decode the stored entities (DeserializeEntity) and render them. Prints microseconds
// per query for each step (mean of --rounds).
//   federation_merge_bench [--page 100] [--rounds 2000]
#include <chrono>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <fmt/format.h>

#include "ngsild/context.h"
#include "ngsild/distributed_merge.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"
#include "util/json.h"
#include "util/time.h"

namespace json = boost::json;
using namespace cityhub;

namespace {

using Clock = std::chrono::steady_clock;

// A source's answer: `n` spots, ids first, first + 2, … (the other source holds the others).
std::string SourceAnswer(size_t first, size_t n) {
  json::array page;
  const std::string at = util::FormatDateTime(util::NowMillis());
  auto prop = [&at](json::value v, const char* type = "Property") {
    return json::object{{"type", type}, {"value", std::move(v)}, {"createdAt", at}, {"modifiedAt", at}};
  };
  for (size_t i = 0; i < n; ++i) {
    const size_t k = first + 2 * i;
    json::object occupancy = prop(static_cast<int64_t>(k % 100));
    occupancy["unitCode"] = "P1";
    json::object status = prop(json::value(k % 3 ? "free" : "occupied"));
    status["observedAt"] = "2026-11-26T09:17:00Z";
    page.push_back(json::object{
        {"id", fmt::format("urn:ngsi-ld:ParkingSpot:bench:{:07}", k)},
        {"type", "ParkingSpot"},
        {"createdAt", at},
        {"modifiedAt", at},
        {"category", prop(json::array{"onStreet"})},
        {"name", prop(json::value(fmt::format("Spot {}", k)))},
        {"occupancy", std::move(occupancy)},
        {"refParkingSite", json::object{{"type", "Relationship"},
                                        {"object", fmt::format("urn:ngsi-ld:OffStreetParking:bench:{:03}", k % 500)},
                                        {"createdAt", at},
                                        {"modifiedAt", at}}},
        {"location", prop(json::object{{"type", "Point"}, {"coordinates", json::array{128.79 + k * 1e-6, 35.15}}}, "GeoProperty")},
        {"status", std::move(status)},
    });
  }
  return json::serialize(page);
}

std::vector<ngsild::Entity> Decode(const std::string& body, const ngsild::Context& ctx) {
  json::monotonic_resource arena;
  boost::system::error_code ec;
  json::value v = util::ParseJson(body, json::parse_options{}, ec, &arena);
  std::vector<ngsild::Entity> out;
  for (const auto& item : v.as_array()) {
    auto e = ngsild::ParseRenderedEntity(item.as_object(), ctx, ngsild::ParseLimits{});
    if (!e.ok()) throw std::runtime_error(e.status().message());
    out.push_back(std::move(*e));
  }
  return out;
}

size_t Render(std::vector<ngsild::Entity> page, const ngsild::Context& ctx) {
  ngsild::NameCache names;
  ngsild::RenderOptions opts;
  opts.names = &names;
  std::string out = "[";
  for (auto& e : page) {
    if (out.size() > 1) out += ',';
    util::AppendJson(out, ngsild::RenderEntity(std::move(e), ctx, opts));
  }
  out += ']';
  return out.size();
}

double Micros(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::micro>(b - a).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("federated query page: decode + merge + render vs render alone");
  size_t page = 100, rounds = 2000;
  app.add_option("--page", page, "entities per page (each source answers this many)");
  app.add_option("--rounds", rounds, "queries timed");
  CLI11_PARSE(app, argc, argv);

  ngsild::ContextResolver resolver{{}, {}};
  if (!resolver.Init().ok()) return 1;
  const ngsild::ContextPtr ctx = resolver.Core();
  const std::string a = SourceAnswer(0, page), b = SourceAnswer(1, page);
  // The page as the local hub stores it.
  const std::vector<std::string> stored = [&] {
    std::vector<ngsild::Entity> all = Decode(a, *ctx);
    for (auto& e : Decode(b, *ctx)) all.push_back(std::move(e));
    std::vector<std::string> docs;
    for (const auto& e : ngsild::Page(ngsild::MergeEntities({ngsild::Contribution{ngsild::ContributionRole::kLocal, {}, all}}), 0, page)) {
      docs.push_back(ngsild::SerializeEntity(e));
    }
    return docs;
  }();

  double decode_us = 0, merge_us = 0, render_us = 0, baseline_us = 0;
  size_t bytes = 0;
  for (size_t r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    std::vector<ngsild::Contribution> parts;
    parts.push_back(ngsild::Contribution{ngsild::ContributionRole::kLocal, {}, {}});
    parts.push_back(ngsild::Contribution{ngsild::ContributionRole::kInclusive, {}, Decode(a, *ctx)});
    parts.push_back(ngsild::Contribution{ngsild::ContributionRole::kInclusive, {}, Decode(b, *ctx)});
    const auto t1 = Clock::now();
    std::vector<ngsild::Entity> merged = ngsild::Page(ngsild::MergeEntities(std::move(parts)), 0, page);
    const auto t2 = Clock::now();
    bytes += Render(std::move(merged), *ctx);
    const auto t3 = Clock::now();
    std::vector<ngsild::Entity> local;
    for (const auto& doc : stored) {
      Result<ngsild::Entity> e = ngsild::DeserializeEntity(doc);
      local.push_back(std::move(*e));
    }
    bytes += Render(std::move(local), *ctx);
    const auto t4 = Clock::now();
    decode_us += Micros(t0, t1);
    merge_us += Micros(t1, t2);
    render_us += Micros(t2, t3);
    baseline_us += Micros(t3, t4);
  }
  const double n = static_cast<double>(rounds);
  fmt::print("page of {} entities, two source answers of {} bytes each, {} rounds\n", page, a.size(), rounds);
  fmt::print("  decode both answers (parse JSON + ParseRenderedEntity): {:8.1f} us\n", decode_us / n);
  fmt::print("  merge + page:                                          {:8.1f} us\n", merge_us / n);
  fmt::print("  render the page:                                       {:8.1f} us\n", render_us / n);
  fmt::print("  federated total:                                       {:8.1f} us\n", (decode_us + merge_us + render_us) / n);
  fmt::print("  baseline, the page held locally (deserialize + render):{:8.1f} us\n", baseline_us / n);
  fmt::print("  federation adds {:.1f} us per page ({} bytes rendered)\n",
             (decode_us + merge_us + render_us - baseline_us) / n, bytes / (2 * rounds));
  return 0;
}
