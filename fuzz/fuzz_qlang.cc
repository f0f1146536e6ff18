// Fuzz target: the q-language and scopeQ (§4.9, §4.19). The input's first line is parsed as q,
// the second as scopeQ; both are evaluated on a fixed entity with every attribute type.
#include <cstdint>

#include <boost/json.hpp>

#include "fuzz_common.h"
#include "ngsild/entity.h"
#include "ngsild/parse.h"
#include "ngsild/qlang.h"
#include "util/json.h"

namespace {

const cityhub::ngsild::Entity& Sample() {
  static const cityhub::ngsild::Entity e = [] {
    const char* text = R"({"id":"urn:ngsi-ld:Gauge:1","type":"Gauge","scope":["/gimhae/river","/a/b"],
      "level":{"type":"Property","value":4.2,"unitCode":"MTR","observedAt":"2026-01-01T00:00:00Z",
               "quality":{"type":"Property","value":"good"}},
      "name":{"type":"Property","value":"관심 interest"},
      "tags":{"type":"Property","value":[1,"a",true,{"x":1}]},
      "meta":{"type":"Property","value":{"a":{"b":[1,2,3]}}},
      "owner":{"type":"Relationship","object":"urn:ngsi-ld:Org:1"},
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[128.88,35.23]}},
      "label":{"type":"LanguageProperty","languageMap":{"ko":"수위","en":"level"}},
      "kind":{"type":"VocabProperty","vocab":"river"},
      "raw":{"type":"JsonProperty","json":{"k":[null,1]}},
      "seq":{"type":"ListProperty","valueList":[3,1,2]}})";
    boost::system::error_code ec;
    auto v = cityhub::util::ParseJson(text, ec);
    return cityhub::ngsild::ParseEntity(v.get_object(), cityhub::fuzz::CoreContext(), 1'700'000'000'000, {}).value();
  }();
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub;
  std::string_view text = fuzz::AsText(data, size);
  const size_t nl = text.find('\n');
  const std::string_view q = text.substr(0, nl);
  const std::string_view scope = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  if (auto f = ngsild::QFilter::Parse(q, fuzz::CoreContext()); f.ok()) (void)f->Matches(Sample());
  if (auto s = ngsild::ScopeFilter::Parse(scope); s.ok()) (void)s->Matches(Sample());
  return 0;
}
