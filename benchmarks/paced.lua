-- wrk script for benchmarks/api.py: GETs random paths from a file at a paced rate, then
-- prints one JSON line of figures. wrk 4 has no fixed-rate mode (-R is wrk2's), so each
-- thread hands out send slots `interval` ms apart from a wall clock and `delay()` waits
-- for the slot; when every connection is busy the schedule slips, which the achieved
-- rate then shows. Latency is wrk's own, from the request's write to its response.
--   WRK_PATHS     file with one request path per line
--   WRK_RATE      requests/s over all threads (0 = as fast as the connections go)
--   WRK_THREADS   the -t value, to split the rate
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } reelflow_timespec;
int clock_gettime(int clock, reelflow_timespec *ts);
]]
local ts = ffi.new("reelflow_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do
  if #line > 0 then paths[#paths + 1] = line end
end
local rate = tonumber(os.getenv("WRK_RATE") or "0")
local threads = tonumber(os.getenv("WRK_THREADS") or "1")
local interval = rate > 0 and 1000 * threads / rate or 0
local next_slot = nil

function init(args)
  math.randomseed(math.floor(now_ms() * 1000) % 2147483647)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function delay()
  if interval == 0 then return 0 end
  local now = now_ms()
  -- A slot missed by more than one interval is dropped, not made up in a burst.
  next_slot = math.max((next_slot or now) + interval, now - interval)
  return math.max(0, math.floor(next_slot - now))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.0f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.status,
    e.connect + e.read + e.write + e.timeout))
end
