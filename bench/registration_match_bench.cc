// registration_match_bench: what RegistrationService::Match (the ContextSourceDirectory of the
// distributed operations) costs per request with many context source registrations in a tenant.
// Registers N registrations (most for one entity id each, some for a type, some for an
// idPattern, spread over T entity types), reloads them as at start-up, then times requests
// of three shapes: retrieveEntity by id and type, retrieveEntity by id only, queryEntity by type.
// Prints the mean time per request and how many registrations each matched, and what one more
// Create costs (stored, and the tenant's index rebuilt).
//   registration_match_bench [--registrations 10000] [--types 50] [--requests 20000]
#include <chrono>
#include <filesystem>
#include <random>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "broker/registration_service.h"
#include "ngsild/context.h"
#include "store/rocksdb/rocksdb_store.h"

namespace json = boost::json;
using namespace cityhub;

namespace {

std::string EntityId(size_t i) { return fmt::format("urn:ngsi-ld:Sensor:{}", i); }
std::string Type(size_t i, size_t types) { return fmt::format("Sensor{}", i % types); }

json::object Registration(size_t i, size_t types) {
  json::object entity{{"type", Type(i, types)}};
  json::object item;
  if (i % 20 == 0) {
    item["propertyNames"] = json::array{"temperature"};  // type only, one attribute
  } else if (i % 20 == 1) {
    entity["idPattern"] = fmt::format("^urn:ngsi-ld:Sensor:{}-.*$", i);
  } else {
    entity["id"] = EntityId(i);
  }
  item["entities"] = json::array{entity};
  return {{"id", fmt::format("urn:ngsi-ld:ContextSourceRegistration:{}", i)},
          {"type", "ContextSourceRegistration"},
          {"information", json::array{item}},
          {"endpoint", fmt::format("http://source-{}.example:1026", i % 97)}};
}

template <typename F>
double MeanMicros(size_t n, F&& f, size_t* matched) {
  *matched = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) *matched += f(i);
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  *matched /= n;
  return us / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("registration matching: time per request");
  size_t registrations = 10000, types = 50, requests = 20000;
  app.add_option("--registrations", registrations, "registrations in the tenant");
  app.add_option("--types", types, "entity types they are spread over");
  app.add_option("--requests", requests, "requests timed per shape");
  CLI11_PARSE(app, argc, argv);

  const auto dir = std::filesystem::temp_directory_path() / fmt::format("cityhub-regbench-{}", std::random_device{}());
  store::RocksDbOptions o;
  o.data_dir = dir.string();
  auto store = store::OpenRocksDbStore(o);
  if (!store.ok()) {
    fmt::print(stderr, "cannot open the store: {}\n", store.status().message());
    return 1;
  }
  ngsild::ContextResolver resolver({}, {});
  if (!resolver.Init().ok()) return 1;
  const ngsild::ContextPtr ctx = resolver.Core();
  const auto load_start = std::chrono::steady_clock::now();
  {
    auto ts = (*store)->Tenant("", true);
    if (!ts.ok()) return 1;
    for (size_t i = 0; i < registrations; ++i) {
      auto stored = ngsild::NormalizeRegistration(Registration(i, types), *ctx, fmt::format("urn:ngsi-ld:ContextSourceRegistration:{}", i), 0);
      if (!stored.ok()) {
        fmt::print(stderr, "invalid registration: {}\n", stored.status().message());
        return 1;
      }
      if (!(*ts)->PutMeta(fmt::format("registration/{}", stored->at("id").as_string()), json::serialize(*stored)).ok()) return 1;
    }
  }
  broker::RegistrationService service(**store);
  auto loaded = service.LoadAll(nullptr);
  if (!loaded.ok() || *loaded != registrations) {
    fmt::print(stderr, "loaded {} of {} registrations\n", loaded.ok() ? *loaded : 0, registrations);
    return 1;
  }
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_start).count();
  fmt::print("{} registrations over {} types, stored and indexed in {:.0f} ms\n", registrations, types, load_ms);

  const auto create_start = std::chrono::steady_clock::now();
  constexpr size_t kCreates = 20;
  for (size_t i = 0; i < kCreates; ++i) {
    if (!service.Create("", Registration(registrations + i, types), *ctx, 0).ok()) return 1;
  }
  fmt::print("one more registration (stored, tenant re-indexed): {:.2f} ms\n",
             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - create_start).count() / kCreates);

  std::mt19937_64 rng(42);
  std::vector<size_t> picks(requests);
  for (auto& p : picks) p = rng() % registrations;
  const std::string vocab(ngsild::kDefaultVocab);
  size_t matched = 0;
  double us = MeanMicros(requests, [&](size_t i) {
    const size_t k = picks[i];
    return service.Match("", {"retrieveEntity", {EntityId(k)}, "", {vocab + Type(k, types)}, {}}).size();
  }, &matched);
  fmt::print("retrieveEntity by id and type: {:.2f} us per request, {} sources matched on average\n", us, matched);
  us = MeanMicros(requests, [&](size_t i) {
    return service.Match("", {"retrieveEntity", {EntityId(picks[i])}, "", {}, {}}).size();
  }, &matched);
  fmt::print("retrieveEntity by id only:     {:.2f} us per request, {} sources matched on average\n", us, matched);
  us = MeanMicros(requests / 10, [&](size_t i) {
    return service.Match("", {"queryEntity", {}, "", {vocab + Type(picks[i], types)}, {vocab + "temperature"}}).size();
  }, &matched);
  fmt::print("queryEntity by type and attrs: {:.2f} us per request, {} sources matched on average\n", us, matched);
  (*store)->Close();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
