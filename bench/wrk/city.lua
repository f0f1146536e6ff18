-- The generated city of bench/load_city.py, for the query scripts: its area, the district shape,
-- seeding (BENCH_SEED, one stream per wrk thread) and URL encoding. Load it with
--   package.path = "bench/wrk/?.lua;" .. package.path   (wrk runs from the repository root)
local M = {}

M.n = tonumber(os.getenv("BENCH_ENTITIES") or "1000000")
M.lon0, M.lon1, M.lat0, M.lat1 = 127.0, 127.33, 35.7, 35.97
M.km_per_deg_lon, M.km_per_deg_lat = 90.25, 110.95  -- at latitude 35.835
-- A convex district of 9 km^2 (1 % of the area): vertices as (east, north) km from its centre.
M.district_km = { {1.934, 0.0}, {0.89, 1.424}, {-0.956, 1.797}, {-1.814, 0.255}, {-0.968, -1.434}, {0.932, -1.752} }
M.parking_sites = math.ceil(M.n / 2 / 40)  -- ParkingSpots are half the entities, 40 a site

function M.uniform(a, b) return a + (b - a) * math.random() end

function M.encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- Every script calls this from its setup()/init() so that each wrk thread draws its own
-- reproducible sequence.
local threads = 0
function M.setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function M.init(tid)
  math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1") * 1000 + (tid or 0))
end

-- A random point at least `margin_km` inside the area: lon, lat.
function M.point(margin_km)
  return M.uniform(M.lon0 + margin_km / M.km_per_deg_lon, M.lon1 - margin_km / M.km_per_deg_lon),
         M.uniform(M.lat0 + margin_km / M.km_per_deg_lat, M.lat1 - margin_km / M.km_per_deg_lat)
end

-- GET /entities with `query`, and type=BENCH_QUERY_TYPE if that is set (the typed variants).
local query_type = os.getenv("BENCH_QUERY_TYPE") or ""
-- BENCH_QUERY_EXTRA (e.g. "orderBy=waterLevel;desc", not yet encoded) is added to every query.
local query_extra = os.getenv("BENCH_QUERY_EXTRA") or ""
function M.get(query)
  if query_type ~= "" then query = "type=" .. query_type .. "&" .. query end
  if query_extra ~= "" then
    local name, value = query_extra:match("^([^=]+)=(.*)$")
    query = query .. "&" .. name .. "=" .. M.encode(value)
  end
  return wrk.format("GET", "/ngsi-ld/v1/entities?" .. query)
end

return M
