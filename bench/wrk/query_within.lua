-- Scenario 3: every entity (any type) within a 9 km^2 district (1 % of the area) at a random
-- position, with count=true (the first page of 20 and NGSILD-Results-Count, ~10,000 at 1 M).
-- BENCH_QUERY_TYPE=ParkingSpot: only spots (points only, ~5,000 at 1 M).
package.path = "bench/wrk/?.lua;" .. package.path
local city = require("city")
function setup(thread) city.setup(thread) end
function init(args) city.init(tid) end
function request()
  local clon, clat = city.point(2.0)
  local ring = {}
  for _, v in ipairs(city.district_km) do
    ring[#ring + 1] = string.format("[%.6f,%.6f]", clon + v[1] / city.km_per_deg_lon, clat + v[2] / city.km_per_deg_lat)
  end
  ring[#ring + 1] = ring[1]
  return city.get("georel=within&geometry=Polygon&coordinates=" .. city.encode("[[" .. table.concat(ring, ",") .. "]]") ..
                  "&count=true")
end
