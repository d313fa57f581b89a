--- JSON as the client speaks it.
--
-- Encoding: the C core (exact integers, `sendpulse.array` for `[]`, the NULL
-- light userdata for null; see csrc/sp_json_encode_lua.c for why not lua-cjson).
-- Decoding: the C core too (csrc/sp_json_decode_lua.c): integers come out as
-- integers and every table is created at its size. It replaced lua-cjson
-- plus a second walk that turned its floats back into integers, which
-- bench/ measured at a third of a small call's instructions.
--
-- Conventions, also in docs/guide.md ("JSON: null, empty tables, numbers"):
--   JSON null      <-> sendpulse.null (== cjson.null)
--   empty Lua table -> {}   (wrap with sendpulse.array(t) to send [])
--   {}              -> an empty Lua table
--   []              -> an empty Lua table marked as sendpulse.array marks it,
--                      so it goes back out as [] (the command line prints what
--                      the API answered; a value read and sent back keeps it)
--   strings         must be UTF-8 both ways: the encoder raises on any other
--                   bytes (naming the place), the decoder refuses them

local core = require "sendpulse.core"

local setmetatable, getmetatable, pcall = setmetatable, getmetatable, pcall

local core_decode = core.json_decode

-- JSON null, as answers decode it and bodies send it (a light userdata).
---@class sendpulse.null

local _M = {
  ---@type sendpulse.null
  null = core.null,
  encode = core.json_encode,
}

-- The dkjson convention, understood by our encoder.
local array_mt = { __jsontype = "array" }
_M.array_mt = array_mt

--- Marks `t` (default: a new table) to be sent as a JSON array even when
-- empty. A table that already has another metatable is left alone.
---@generic T: table
---@param t? T
---@return T t the same table, marked
function _M.array(t)
  t = t or {}
  if getmetatable(t) == nil then setmetatable(t, array_mt) end
  return t
end

--- Decodes `text`; returns the value, or nil and a message
-- ("json: <what> at character <n>").
---@param text string
---@return any value
---@return string? message
function _M.decode(text)
  local ok, value = pcall(core_decode, text, array_mt)
  if not ok then return nil, value end
  return value
end

return _M
