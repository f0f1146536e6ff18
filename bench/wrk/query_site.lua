-- GET /ngsi-ld/v1/entities?type=ParkingSpot&q=refParkingSite=="…:NNN"&limit=100: the spots of a
-- random one of the 500 parking sites bench/load_entities.py spreads the spots over
-- (BENCH_ENTITIES / 500 each).
math.randomseed(os.time())
request = function()
  local q = string.format('refParkingSite=="urn:ngsi-ld:OffStreetParking:bench:%03d"', math.random(0, 499))
  q = q:gsub('"', '%%22'):gsub(':', '%%3A'):gsub('=', '%%3D')
  return wrk.format("GET", "/ngsi-ld/v1/entities?type=ParkingSpot&limit=100&q=" .. q)
end
