-- wrk script for the fault scenarios: picks a route per request and counts statuses.
-- Usage: wrk ... -s faults.lua http://127.0.0.1:18300 -- MODE
--   MODE redis:     /c/redis/{0..999} (Redis-cached) and /rl/redis (Redis-rate-limited,
--                   keyed on x-client, 100 clients), half and half
--   MODE memcached: /c/memcached/{0..999}
-- done() prints one machine-readable line per figure:
--   status CODE COUNT, cache HIT|MISS|... COUNT (X-Cache), errors connect|read|write|timeout N, latency p50|p99|max MICROS,
--   requests N

local threads = {}
local mode = "redis"

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  if args[1] ~= nil then
    mode = args[1]
  end
  statuses = {}
  caches = {}
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local k = math.random(0, 999)
  if mode == "memcached" then
    return wrk.format("GET", "/c/memcached/" .. k)
  end
  if math.random(2) == 1 then
    return wrk.format("GET", "/c/redis/" .. k)
  end
  return wrk.format("GET", "/rl/redis", { ["x-client"] = "c" .. (k % 100) })
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local c = headers["X-Cache"]
  if c ~= nil then
    caches[c] = (caches[c] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  local cache = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do
      total[code] = (total[code] or 0) + n
    end
    for c, n in pairs(t:get("caches") or {}) do
      cache[c] = (cache[c] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d %d\n", code, n))
  end
  for c, n in pairs(cache) do
    io.write(string.format("cache %s %d\n", c, n))
  end
  local e = summary.errors
  io.write(string.format("errors connect %d\nerrors read %d\nerrors write %d\nerrors timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
  io.write(string.format("latency p50 %d\nlatency p99 %d\nlatency max %d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  io.write(string.format("requests %d\n", summary.requests))
end
