// Fuzz target: geo-queries and geometries (§4.10): "georel\ngeometry\ncoordinates" parsed as a
// geo-query and evaluated on entities with a point, a line and a polygon; the coordinates line
// also validated as a GeoJSON geometry value.
#include <cstdint>

#include <boost/json.hpp>

#include "fuzz_common.h"
#include "ngsild/entity.h"
#include "ngsild/geo.h"
#include "ngsild/parse.h"
#include "util/json.h"

namespace {

std::vector<cityhub::ngsild::Entity> Samples() {
  std::vector<cityhub::ngsild::Entity> out;
  for (const char* geometry : {R"({"type":"Point","coordinates":[128.88,35.23]})",
                               R"({"type":"LineString","coordinates":[[128.8,35.2],[128.9,35.3]]})",
                               R"({"type":"Polygon","coordinates":[[[128.8,35.2],[128.9,35.2],[128.9,35.3],[128.8,35.2]]]})"}) {
    std::string text = std::string(R"({"id":"urn:x:1","type":"T","location":{"type":"GeoProperty","value":)") + geometry + "}}";
    boost::system::error_code ec;
    auto v = cityhub::util::ParseJson(text, ec);
    out.push_back(cityhub::ngsild::ParseEntity(v.get_object(), cityhub::fuzz::CoreContext(), 0, {}).value());
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cityhub;
  static const std::vector<ngsild::Entity> samples = Samples();
  std::string_view text = fuzz::AsText(data, size);
  std::string_view parts[3];
  for (int i = 0; i < 3; ++i) {
    const size_t nl = text.find('\n');
    parts[i] = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  auto q = ngsild::GeoQuery::Parse(parts[0], parts[1], parts[2], "https://uri.etsi.org/ngsi-ld/location");
  if (q.ok()) {
    for (const auto& e : samples) (void)q->Matches(e);
  }
  boost::system::error_code ec;
  auto v = util::ParseJson(parts[2], ec);
  if (!ec) (void)ngsild::ValidateGeometry(v, "fuzz");
  return 0;
}
