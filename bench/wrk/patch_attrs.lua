-- PATCH /ngsi-ld/v1/entities/{id}/attrs with two attributes, random id, durable on the server.
local n = tonumber(os.getenv("BENCH_ENTITIES") or "1000000")
math.randomseed(os.time())
local counter = 0
request = function()
  counter = counter + 1
  local id = string.format("urn:ngsi-ld:ParkingSpot:bench:%07d", math.random(0, n - 1))
  local body = string.format(
    '{"status":{"type":"Property","value":"%s","observedAt":"2026-11-26T10:00:00Z"},' ..
    '"occupancy":{"type":"Property","value":%d}}', (counter % 2 == 0) and "free" or "occupied", counter % 100)
  -- wrk.format replaces wrk.headers with the table given: keep those of -H (Authorization).
  local headers = {["Content-Type"] = "application/json"}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  return wrk.format("PATCH", "/ngsi-ld/v1/entities/" .. id .. "/attrs", headers, body)
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("errors: %d\n", errors))
end
