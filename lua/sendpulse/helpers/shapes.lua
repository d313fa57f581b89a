--- Answers whose shape surprises, normalised, and the way back to the raw
-- form.
--
--   GET /addressbooks/{id} answers a one-element array; get_mailing_list_by_id
--   returns that element (the list object). An empty array (no such list in a
--   200 answer) stays an empty table.
--
-- service:raw(name, args, call_opts) calls the plain operation: no Base64,
-- no normalising, the answer as SendPulse sent it.

local type, rawget, ipairs = type, rawget, ipairs
local format = string.format

local catalog = require "sendpulse.operations.catalog"
local common = require "sendpulse.helpers.common"

local _M = {}

-- service:raw, for editors (LuaLS) a method of sendpulse.Service.
---@class sendpulse.Service
local Service = {}

--- service:raw(name, args, call_opts): the plain operation, without its
--- helper (no Base64, no batches, no normalising).
---@param name string an operation of this service
---@param args? table its arguments
---@param call_opts? sendpulse.CallOptions
---@return any value the answer as SendPulse sent it
---@return sendpulse.Meta meta
function Service:raw(name, args, call_opts)
  common.check_self(self, "raw")
  if type(name) ~= "string" then
    return common.bad(self, "raw", format("argument 'name' must be an operation name (string), got %s", type(name)))
  end
  local fn = common.plain(self, name)
  if not fn then
    return common.bad(self, "raw", format("no operation '%s' in service '%s'", name, rawget(self, "_name")))
  end
  return fn(self, args, call_opts)
end

--- The list object out of GET /addressbooks/{id}'s one-element array (any
--- other shape is returned as it came).
function _M.single(value)
  if type(value) == "table" and #value == 1 and type(value[1]) == "table" then
    return value[1]
  end
  return value
end

-- email:get_mailing_list_by_id (meta.lua types its answer: the list).
---@param self sendpulse.api.email
---@param args { id: integer }
---@param call_opts? sendpulse.CallOptions
local function get_mailing_list_by_id(self, args, call_opts)
  common.check_self(self, "get_mailing_list_by_id")
  local value, err, meta = common.outcome(self, common.call(self, "get_mailing_list_by_id", args, call_opts))
  if value == nil then return nil, err end
  return common.succeed(self, _M.single(value), meta)
end

-- service, operation, what the helper returns instead of SendPulse's answer
-- (the reference cites it).
_M.NORMALISED = {
  { "email", "get_mailing_list_by_id", "the list object itself (SendPulse answers a one-element array)" },
}

function _M.register(add)
  for _, service in ipairs(catalog.services()) do
    add(service, "raw", Service.raw)
  end
  local normalisers = { get_mailing_list_by_id = get_mailing_list_by_id }
  for _, n in ipairs(_M.NORMALISED) do add(n[1], n[2], normalisers[n[2]]) end
end

return _M
