-- GET /ngsi-ld/v1/entities/{id} for a random id among the loaded ones (BENCH_ENTITIES).
local n = tonumber(os.getenv("BENCH_ENTITIES") or "1000000")
math.randomseed(os.time())
request = function()
  local id = string.format("urn:ngsi-ld:ParkingSpot:bench:%07d", math.random(0, n - 1))
  return wrk.format("GET", "/ngsi-ld/v1/entities/" .. id)
end
