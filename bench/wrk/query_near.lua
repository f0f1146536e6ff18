-- Scenario 2: every entity (any type) within 500 m of a random point, first 100.
-- About 870 entities lie within 500 m at 1 M entities. BENCH_QUERY_TYPE=ParkingSpot: only spots.
package.path = "bench/wrk/?.lua;" .. package.path
local city = require("city")
function setup(thread) city.setup(thread) end
function init(args) city.init(tid) end
function request()
  local lon, lat = city.point(0.5)
  return city.get("georel=" .. city.encode("near;maxDistance==500") .. "&geometry=Point&coordinates=" ..
                  city.encode(string.format("[%.6f,%.6f]", lon, lat)) .. "&limit=100")
end
