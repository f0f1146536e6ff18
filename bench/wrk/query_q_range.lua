-- Scenario 1a: type + a selective q range. Flooded water stations: waterLevel above a random X
-- in [4.0, 5.5] m — about 1 WaterObserved in 1,000 is in flood (4-6 m), so 25-100 matches at
-- 1 M entities.
package.path = "bench/wrk/?.lua;" .. package.path
local city = require("city")
function setup(thread) city.setup(thread) end
function init(args) city.init(tid) end
-- BENCH_LIMIT sets the page size (default 100: all matches returned; 20 is the spec's default page).
local limit = os.getenv("BENCH_LIMIT") or "100"
function request()
  local q = string.format("waterLevel>%.2f", city.uniform(4.0, 5.5))
  return city.get("type=WaterObserved&limit=" .. limit .. "&q=" .. city.encode(q))
end
