-- GET /mobility/v1/plan between two random stops of the feed at a random time of the day.
-- Stops come from $BENCH_PLAN_STOPS (lines "lat,lon", written by run_transit_bench.sh); the
-- date and offset from $BENCH_PLAN_DATE ("2026-09-16") and $BENCH_PLAN_OFFSET ("-04:00").
local stops = {}
for line in io.lines(os.getenv("BENCH_PLAN_STOPS")) do stops[#stops + 1] = line end
local date = os.getenv("BENCH_PLAN_DATE") or "2026-09-16"
local offset = (os.getenv("BENCH_PLAN_OFFSET") or "-04:00"):gsub(":", "%%3A"):gsub("+", "%%2B")
math.randomseed(os.time())
request = function()
  local from = stops[math.random(#stops)]
  local to = stops[math.random(#stops)]
  local minute = math.random(6 * 60, 21 * 60)
  local time = string.format("%sT%02d%%3A%02d%%3A00%s", date, math.floor(minute / 60), minute % 60, offset)
  return wrk.format("GET", "/mobility/v1/plan?from=" .. from .. "&to=" .. to .. "&time=" .. time)
end
