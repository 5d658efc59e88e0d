-- wrk script for the soak: a mix of routes, 1% malformed requests. Counts statuses.
--   40% GET /plaintext, 30% GET /json, 27% GET /c/hot/{0..9999} (in-process cache),
--   2% POST /echo (a 1 KiB body), 1% malformed (a Content-Length that is not a number:
--   the server answers 400 and closes, wrk reconnects)
-- done() prints `status CODE COUNT`, `errors KIND N`, `requests N`, `malformed N`.

local threads = {}
local body = string.rep("x", 1024)
local bad = "GET /plaintext HTTP/1.1\r\nHost: bench\r\nContent-Length: 1x\r\n\r\n"

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  malformed = 0
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local r = math.random(100)
  if r <= 40 then
    return wrk.format("GET", "/plaintext")
  elseif r <= 70 then
    return wrk.format("GET", "/json")
  elseif r <= 97 then
    return wrk.format("GET", "/c/hot/" .. math.random(0, 9999))
  elseif r <= 99 then
    return wrk.format("POST", "/echo", { ["Content-Type"] = "text/plain" }, body)
  end
  malformed = malformed + 1
  return bad
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  local bad_sent = 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do
      total[code] = (total[code] or 0) + n
    end
    bad_sent = bad_sent + (t:get("malformed") or 0)
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d %d\n", code, n))
  end
  local e = summary.errors
  io.write(string.format("errors connect %d\nerrors read %d\nerrors write %d\nerrors timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
  io.write(string.format("latency p99 %d\n", latency:percentile(99)))
  io.write(string.format("requests %d\nmalformed %d\n", summary.requests, bad_sent))
end
