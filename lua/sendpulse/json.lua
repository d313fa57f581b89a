--- JSON as the client speaks it.
--
-- Encoding: the C core (exact integers, `sendpulse.array` for `[]`, the NULL
-- light userdata for null; see csrc/sp_json.c for why not lua-cjson).
-- Decoding: a private lua-cjson instance (its settings never touch the
-- caller's `cjson`), then integral numbers made integers again, because
-- Debian's lua-cjson decodes every number as a float on Lua 5.3+.
--
-- Conventions, also in the README:
--   JSON null      <-> sendpulse.null (== cjson.null)
--   empty Lua table -> {}   (wrap with sendpulse.array(t) to send [])
--   []  and  {}     -> an empty Lua table (arrays are not marked on decode)

local core = require "sendpulse.core"
local cjson = require "cjson"

local setmetatable, getmetatable, pcall = setmetatable, getmetatable, pcall

local decoder = cjson.new()
decoder.decode_invalid_numbers(false)   -- NaN, Infinity and hex are not JSON

local cjson_decode = decoder.decode
local fix_numbers = core.json_fix_numbers

local _M = {
  null = core.null,
  encode = core.json_encode,
}

-- The dkjson convention, understood by our encoder.
local array_mt = { __jsontype = "array" }
_M.array_mt = array_mt

--- Marks `t` (default: a new table) to be sent as a JSON array even when
-- empty. A table that already has another metatable is left alone.
function _M.array(t)
  t = t or {}
  if getmetatable(t) == nil then setmetatable(t, array_mt) end
  return t
end

--- Decodes `text`; returns the value, or nil and lua-cjson's message.
function _M.decode(text)
  local ok, value = pcall(cjson_decode, text)
  if not ok then return nil, value end
  return fix_numbers(value)
end

return _M
