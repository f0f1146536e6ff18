-- Scenario 1c: type + q equality with exactly one match: the WaterObserved of a random device
-- (refDevice, a Relationship) — the fixed cost of a query, without the cost of many results.
package.path = "bench/wrk/?.lua;" .. package.path
local city = require("city")
function setup(thread) city.setup(thread) end
function init(args) city.init(tid) end
function request()
  local q = string.format('refDevice=="urn:ngsi-ld:Device:jeonju:wl-%06d"', math.random(0, math.floor(city.n / 10) - 1))
  return city.get("type=WaterObserved&q=" .. city.encode(q))
end
