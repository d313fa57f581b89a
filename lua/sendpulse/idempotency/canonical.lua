--- One text for one value, whatever the order pairs() walks a table in: an
-- idempotency key's request is hashed from it, not from the JSON bytes, which
-- follow pairs() and so differ between processes (Lua seeds its string
-- hashes per state) for the same table.
--
--   canonical.text(value) -> string
--
-- Type-tagged, strings with their length, whole numbers written as integers
-- (5 and 5.0 are one number, "5" another), object keys sorted, arrays in
-- order (a table with [1] is an array, as the JSON encoder has it),
-- sendpulse.null as null. Tables deeper than MAX_DEPTH are cut short.
local json = require "sendpulse.json"

local type, pairs, tostring, floor = type, pairs, tostring, math.floor
local sort, concat = table.sort, table.concat
local format = string.format

local _M = {}

_M.MAX_DEPTH = 1000

local null = json.null
local put

local function put_table(t, out, depth)
  if depth > _M.MAX_DEPTH then out[#out + 1] = "~"; return end
  if t[1] ~= nil then
    out[#out + 1] = "["
    for i = 1, #t do put(t[i], out, depth + 1) end
    out[#out + 1] = "]"
    return
  end
  local keys, by_text = {}, {}
  for k in pairs(t) do
    local s = tostring(k)
    keys[#keys + 1] = s
    by_text[s] = k
  end
  sort(keys)
  out[#out + 1] = "{"
  for i = 1, #keys do
    put(keys[i], out, depth + 1)
    put(t[by_text[keys[i]]], out, depth + 1)
  end
  out[#out + 1] = "}"
end

put = function(v, out, depth)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = format("s%d:%s", #v, v)
  elseif t == "number" then
    if v == floor(v) and v > -2 ^ 63 and v < 2 ^ 63 then
      out[#out + 1] = format("i%d;", v)
    else
      out[#out + 1] = format("n%.17g;", v)
    end
  elseif t == "boolean" then
    out[#out + 1] = v and "T" or "F"
  elseif t == "table" then
    put_table(v, out, depth)
  elseif v == null or v == nil then
    out[#out + 1] = "z"
  else
    out[#out + 1] = "?" .. t
  end
end

function _M.text(v)
  local out = {}
  put(v, out, 0)
  return concat(out)
end

return _M
