-- wrk script: HTTP/1.1 pipelining. Every connection sends DEPTH requests for the
-- URL's path in one write and waits for all DEPTH responses before sending the
-- next batch; wrk counts each response as one request.
-- Usage: wrk ... -s pipeline.lua http://127.0.0.1:18080/plaintext -- 16

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
