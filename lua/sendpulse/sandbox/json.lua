-- JSON for the sandbox: decoding is lua-cjson's; encoding is done here because
-- Debian's lua-cjson 2.1.0 has no way to mark an empty table as an array (an
-- empty mailing-list page must be `[]`, not `{}`), and on Lua 5.4 it decodes
-- every number as a float, which must never come back out as `1000.0`.
local cjson = require "cjson.safe"

local type, pairs, ipairs, next = type, pairs, ipairs, next
local setmetatable, getmetatable = setmetatable, getmetatable
local tostring, tonumber = tostring, tonumber
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge
local format = string.format

local _M = {}

_M.null = cjson.null

local array_mt = {}

-- Mark `t` (or a new table) as a JSON array, so that it encodes as `[]` even
-- when empty.
function _M.array(t)
  return setmetatable(t or {}, array_mt)
end

-- Whether `v` is a table holding only the keys 1..n (a decoded JSON array;
-- an empty table counts, as cjson decodes both [] and {} to one).
function _M.is_array(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- Returns the decoded value, or nil and a message.
function _M.decode(text)
  return cjson.decode(text)
end

local function encode_number(n)
  if n ~= n or n == huge or n == -huge then
    error("cannot encode " .. tostring(n) .. " as JSON", 0)
  end
  if n == floor(n) and n > -2^53 and n < 2^53 then
    return format("%d", n)
  end
  -- Shortest form that reads back as the same number.
  for digits = 14, 16 do
    local s = format("%." .. digits .. "g", n)
    if tonumber(s) == n then return s end
  end
  return format("%.17g", n)
end

-- A number as JSON writes it: whole numbers within 2^53 without a fraction,
-- others in the shortest form that reads back the same (12345678901234567890,
-- a float once decoded, is "1.2345678901234567e+19"). Raises on NaN and inf.
_M.number_text = encode_number

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- cjson writes "/" as "\/"; plain "/" is easier to read in stats and logs.
-- (A backslash right before "/" in cjson's output is always that escape.)
local function encode_string(s)
  return (cjson.encode(s):gsub("\\/", "/"))
end

local encode_value

local function encode_table(t, depth)
  if depth > 100 then error("JSON nesting too deep", 0) end
  local out = {}
  if getmetatable(t) == array_mt or is_sequence(t) then
    for i = 1, #t do out[i] = encode_value(t[i], depth + 1) end
    return "[" .. concat(out, ",") .. "]"
  end
  if next(t) == nil then return "{}" end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" and type(k) ~= "number" then
      error("cannot encode a " .. type(k) .. " key as JSON", 0)
    end
    keys[#keys + 1] = tostring(k)
  end
  sort(keys)
  for i, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    out[i] = encode_string(k) .. ":" .. encode_value(v, depth + 1)
  end
  return "{" .. concat(out, ",") .. "}"
end

encode_value = function(v, depth)
  local tv = type(v)
  if tv == "string" then return encode_string(v)
  elseif tv == "number" then return encode_number(v)
  elseif tv == "boolean" then return tostring(v)
  elseif v == nil or v == cjson.null then return "null"
  elseif tv == "table" then return encode_table(v, depth)
  end
  error("cannot encode a " .. tv .. " as JSON", 0)
end

-- Encode `v`; integral numbers are written without a fraction, object keys
-- are sorted. Raises on values JSON cannot hold.
function _M.encode(v)
  return encode_value(v, 0)
end

return _M
