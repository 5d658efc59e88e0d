-- wrk script: HTTP/1.1 pipelining, DEPTH (default 16) requests for the URL's path in one
-- write. Usage: wrk ... -s pipeline.lua http://127.0.0.1:18300/plaintext -- 16

local depth = 16
local batch

init = function(args)
  if args[1] ~= nil then
    depth = tonumber(args[1])
  end
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format(nil, wrk.path)
  end
  batch = table.concat(reqs)
end

request = function()
  return batch
end
