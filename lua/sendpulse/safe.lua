--- The non-raising form, in the spirit of cjson.safe: the same client, but
-- every failure (bad options, bad arguments, network, API) is returned as
-- nil, err instead of raised, and every success as value, nil, meta: the
-- `res, err` idiom of OpenResty, so `if err then` and `if not res then` are
-- both right (docs/guide.md, "The safe form").
--
--   local sendpulse = require "sendpulse.safe"
--   local client, err = sendpulse.new { api_key = "..." }
--   local lists, err, meta = client:request("GET", "/addressbooks")
--   if err then print(err.kind, err.code, err) else print(#lists, meta.status) end

local base = require "sendpulse"
local client = require "sendpulse.client"

local _M = {}
for k, v in pairs(base) do _M[k] = v end

function _M.new(opts)
  return client.new(opts, false)
end

return _M
