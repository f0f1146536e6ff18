-- Scenario 1b: type + q equality on a rare value. The 40 ParkingSpots of a random on-street
-- parking site (refParkingSite, a Relationship).
package.path = "bench/wrk/?.lua;" .. package.path
local city = require("city")
function setup(thread) city.setup(thread) end
function init(args) city.init(tid) end
function request()
  local q = string.format('refParkingSite=="urn:ngsi-ld:OnStreetParking:jeonju:%05d"',
                          math.random(0, city.parking_sites - 1))
  return city.get("type=ParkingSpot&limit=100&q=" .. city.encode(q))
end
