// federation_merge_bench: the CPU a federated hub spends on one query page beside what any hub
// spends rendering that page, without the network. Two sources answer a page each (normalized,
// with system attributes, as the hub asks them: `--page` ParkingSpot-like entities, disjoint ids),
// and the hub decodes both answers (exact JSON parse, ParseRenderedEntity), merges them
// (MergeEntities), keeps the page and renders it; the baseline is what a hub holding the data
// does with the page it read: decode the stored entities (DeserializeEntity) and render them. Prints microseconds
// per query for each step (mean of --rounds), and the same local page rendered from the stored
// text (ngsild::RenderStored, what a hub holding the page does now).
// As broker::DistributedRead::QueryEntities does: each answer is parsed, the ids of the page are
// chosen from all of them, and only those entities are decoded. `--sys-attrs` makes the sources'
// answers carry system times (as when the caller asks for them).
//   federation_merge_bench [--page 100] [--rounds 2000]
#include <algorithm>
#include <chrono>
#include <set>
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
#include "ngsild/stored_render.h"
#include "util/json.h"
#include "util/time.h"

namespace json = boost::json;
using namespace cityhub;

namespace {

using Clock = std::chrono::steady_clock;

// A source's answer: `n` spots, ids first, first + 2, … (the other source holds the others).
std::string SourceAnswer(size_t first, size_t n, bool sys_attrs) {
  json::array page;
  const std::string at = util::FormatDateTime(util::NowMillis());
  auto timed = [&](json::object o) {
    if (sys_attrs) {
      o["createdAt"] = at;
      o["modifiedAt"] = at;
    }
    return o;
  };
  auto prop = [&](json::value v, const char* type = "Property") {
    return timed(json::object{{"type", type}, {"value", std::move(v)}});
  };
  for (size_t i = 0; i < n; ++i) {
    const size_t k = first + 2 * i;
    json::object occupancy = prop(static_cast<int64_t>(k % 100));
    occupancy["unitCode"] = "P1";
    json::object status = prop(json::value(k % 3 ? "free" : "occupied"));
    status["observedAt"] = "2026-11-26T09:17:00Z";
    page.push_back(timed(json::object{
        {"id", fmt::format("urn:ngsi-ld:ParkingSpot:bench:{:07}", k)},
        {"type", "ParkingSpot"},
        {"category", prop(json::array{"onStreet"})},
        {"name", prop(json::value(fmt::format("Spot {}", k)))},
        {"occupancy", std::move(occupancy)},
        {"refParkingSite", timed(json::object{{"type", "Relationship"},
                                              {"object", fmt::format("urn:ngsi-ld:OffStreetParking:bench:{:03}", k % 500)}})},
        {"location", prop(json::object{{"type", "Point"}, {"coordinates", json::array{128.79 + k * 1e-6, 35.15}}}, "GeoProperty")},
        {"status", std::move(status)},
    }));
  }
  return json::serialize(page);
}

// Parses the answers, chooses the page (the first `page` ids of all) and decodes its entities.
std::vector<std::vector<ngsild::Entity>> DecodePage(const std::vector<std::string>& bodies, size_t page,
                                                    const ngsild::Context& ctx) {
  std::vector<json::monotonic_resource> arenas(bodies.size());
  std::vector<json::value> parsed;
  std::vector<std::string_view> ids;
  for (size_t i = 0; i < bodies.size(); ++i) {
    boost::system::error_code ec;
    parsed.push_back(util::ParseJson(bodies[i], json::parse_options{}, ec, &arenas[i]));
    for (const auto& item : parsed.back().as_array()) ids.push_back(item.as_object().at("id").as_string());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const std::set<std::string_view> in_page(ids.begin(), ids.begin() + std::min(page, ids.size()));
  std::vector<std::vector<ngsild::Entity>> out(bodies.size());
  for (size_t i = 0; i < parsed.size(); ++i) {
    for (const auto& item : parsed[i].as_array()) {
      if (!in_page.contains(item.as_object().at("id").as_string())) continue;
      auto e = ngsild::ParseRenderedEntity(item.as_object(), ctx, ngsild::ParseLimits{});
      if (!e.ok()) throw std::runtime_error(e.status().message());
      out[i].push_back(std::move(*e));
    }
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

// The same page rendered from the stored text (stored_render.h), as a hub serving it does now.
size_t RenderStored(const std::vector<std::string>& docs, const ngsild::Context& ctx) {
  ngsild::NameCache names;
  ngsild::RenderOptions opts;
  opts.names = &names;
  std::string out = "[";
  for (const auto& doc : docs) {
    if (out.size() > 1) out += ',';
    auto e = ngsild::StoredEntity::Read(doc);
    if (!e.ok()) throw std::runtime_error("bad stored entity");
    if (!ngsild::RenderStored(*e, ctx, opts, &out).ok()) throw std::runtime_error("stored entity not rendered");
  }
  out += ']';
  return out.size();
}

double Micros(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::micro>(b - a).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("federated query page: decode + merge + render vs render alone");
  size_t page = 100, rounds = 2000;
  bool sys_attrs = false;
  app.add_option("--page", page, "entities per page (each source answers this many)");
  app.add_option("--rounds", rounds, "queries timed");
  app.add_flag("--sys-attrs", sys_attrs, "the sources' answers carry system times");
  CLI11_PARSE(app, argc, argv);

  ngsild::ContextResolver resolver{{}, {}};
  if (!resolver.Init().ok()) return 1;
  const ngsild::ContextPtr ctx = resolver.Core();
  const std::vector<std::string> answers{SourceAnswer(0, page, sys_attrs), SourceAnswer(1, page, sys_attrs)};
  // The page as the local hub stores it.
  const std::vector<std::string> stored = [&] {
    std::vector<ngsild::Entity> all;
    for (auto& part : DecodePage(answers, page, *ctx)) {
      for (auto& e : part) all.push_back(std::move(e));
    }
    std::vector<std::string> docs;
    for (const auto& e : ngsild::Page(ngsild::MergeEntities({ngsild::Contribution{ngsild::ContributionRole::kLocal, {}, all}}), 0, page)) {
      docs.push_back(ngsild::SerializeEntity(e));
    }
    return docs;
  }();

  double decode_us = 0, merge_us = 0, render_us = 0, baseline_us = 0, stored_us = 0;
  size_t bytes = 0;
  for (size_t r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    std::vector<ngsild::Contribution> parts;
    parts.push_back(ngsild::Contribution{ngsild::ContributionRole::kLocal, {}, {}});
    for (auto& part : DecodePage(answers, page, *ctx)) {
      parts.push_back(ngsild::Contribution{ngsild::ContributionRole::kInclusive, {}, std::move(part)});
    }
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
    bytes += RenderStored(stored, *ctx);
    stored_us += Micros(t4, Clock::now());
    decode_us += Micros(t0, t1);
    merge_us += Micros(t1, t2);
    render_us += Micros(t2, t3);
    baseline_us += Micros(t3, t4);
  }
  const double n = static_cast<double>(rounds);
  fmt::print("page of {} entities, two source answers of {} bytes each{}, {} rounds\n", page, answers[0].size(),
             sys_attrs ? " (with system times)" : "", rounds);
  fmt::print("  parse both answers, decode the page's entities:        {:8.1f} us\n", decode_us / n);
  fmt::print("  merge + page:                                          {:8.1f} us\n", merge_us / n);
  fmt::print("  render the page:                                       {:8.1f} us\n", render_us / n);
  fmt::print("  federated total:                                       {:8.1f} us\n", (decode_us + merge_us + render_us) / n);
  fmt::print("  baseline, the page held locally (deserialize + render):{:8.1f} us\n", baseline_us / n);
  fmt::print("  the page held locally, rendered from the stored text:  {:8.1f} us\n", stored_us / n);
  fmt::print("  federation adds {:.1f} us per page ({} bytes rendered)\n",
             (decode_us + merge_us + render_us - baseline_us) / n, bytes / (3 * rounds));
  return 0;
}
