-- The CRUD mix for wrk: 65% GET /tasks?page=<1..PAGES>&limit=20, 25% GET /tasks/<id>
-- (id uniform in 1..ID_MAX), 10% POST /tasks. Configured by environment variables:
--   CRUD_ID_MAX  largest id for GET /tasks/{id} (100 = hot, 10000 = uniform; default 10000)
--   CRUD_PAGES   largest page for the list (default 50)
--   CRUD_LIMIT   page size (default 20)
-- done() prints one line `CRUDJSON {...}` with the request counts per route (as issued),
-- the response status counts, the errors and the latency percentiles (microseconds).

local id_max = tonumber(os.getenv("CRUD_ID_MAX") or "10000")
local pages = tonumber(os.getenv("CRUD_PAGES") or "50")
local limit = tonumber(os.getenv("CRUD_LIMIT") or "20")

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(os.time() * 1000 + tid * 7919)
   lists, gets, posts = 0, 0, 0
   statuses = {}
   post_headers = { ["Content-Type"] = "application/json" }
end

function request()
   local r = math.random(100)
   if r <= 65 then
      lists = lists + 1
      return wrk.format("GET", "/tasks?page=" .. math.random(pages) .. "&limit=" .. limit)
   elseif r <= 90 then
      gets = gets + 1
      return wrk.format("GET", "/tasks/" .. math.random(id_max))
   else
      posts = posts + 1
      return wrk.format("POST", "/tasks", post_headers,
         '{"title":"bench task ' .. tid .. "-" .. posts .. '"}')
   end
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local l, g, p = 0, 0, 0
   local st = {}
   for _, t in ipairs(threads) do
      l = l + t:get("lists")
      g = g + t:get("gets")
      p = p + t:get("posts")
      local s = t:get("statuses")
      for k, v in pairs(s) do st[k] = (st[k] or 0) + v end
   end
   local parts = {}
   for k, v in pairs(st) do table.insert(parts, string.format('"%d":%d', k, v)) end
   local e = summary.errors
   io.write(string.format(
      'CRUDJSON {"requests":%d,"duration_us":%d,"lists":%d,"gets":%d,"posts":%d,' ..
      '"statuses":{%s},"non2xx3xx":%d,"connect_err":%d,"read_err":%d,"write_err":%d,' ..
      '"timeout_err":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, l, g, p, table.concat(parts, ","),
      e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
end
