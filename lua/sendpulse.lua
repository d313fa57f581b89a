--- lua-sendpulse: SendPulse REST API client.
--
--   local sendpulse = require "sendpulse"
--   local client = sendpulse.new { client_id = "...", client_secret = "..." }
--   local lists = client:request("GET", "/addressbooks", { query = { limit = 10 } })
--
-- sendpulse.new raises error objects; require "sendpulse.safe" for the same
-- client that returns nil, err instead.

local VERSION = require "sendpulse.version"
local core = require "sendpulse.load_core"   -- (sendpulse.core, or why not)
local client = require "sendpulse.client"
local errors = require "sendpulse.errors"
local json = require "sendpulse.json"

-- The C core's interface version these Lua files were written against.
local CORE_ABI = 11
if core.ABI ~= CORE_ABI then
  error(string.format("sendpulse: the C core has interface %s but the Lua code needs %d: rebuild it (make)",
    tostring(core.ABI), CORE_ABI), 2)
end

-- (The ---@ lines are LuaLS annotations, for editors: docs/guide.md,
-- "Completion in editors".)
---@class sendpulse
local _M = {
  _VERSION = VERSION,
  --- sendpulse.errors[code] -> { name =, kind =, retryable =, wait =, hint =, description = }
  -- (sendpulse.errors' table of codes; docs/guide.md, "Error codes")
  ---@type table<integer, sendpulse.ErrorCode>
  errors = errors.codes,
  --- The JSON null (equal to cjson.null).
  ---@type sendpulse.null
  null = json.null,
  --- sendpulse.array(t): send t as a JSON array even when empty.
  array = json.array,
  --- Is v an error object of this library?
  is_error = errors.is_error,
}

--- sendpulse.new(options) -> client (raises an error object on bad options).
---@param opts sendpulse.Options
---@return sendpulse.Client client raises a sendpulse.Error (kind "argument") on a bad option
function _M.new(opts)
  return client.new(opts, true)
end

return _M
