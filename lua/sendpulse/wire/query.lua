--- Query strings and form bodies: RFC 3986 percent-encoding, keys sorted so
-- the same table always gives the same string (log lines, caches, tests).
--   { a = 1, b = "x y" }        -> a=1&b=x%20y
--   { ids = { 3, 4 } }          -> ids=3&ids=4          (OpenAPI form, explode)
--   { filter = { name = "x" } } -> filter%5Bname%5D=x   (deepObject)
-- Numbers that hold an integer are written as integers ("1000", never
-- "1000.0"); booleans as true/false; sendpulse.null as an empty value.
--
-- A table that has no such form is refused, never cut: one that mixes
-- array items and named fields ({ 1, 2, x = 3 }), an array with holes
-- ({ [1] = "x", [3] = "z" }), a table marked as an array (sendpulse.array)
-- that has named fields, keys that are neither names nor array positions,
-- and tables nested deeper than MAX_DEPTH (a cycle, surely). Tables are
-- read raw: no __index or __pairs of the caller runs while encoding.

local core = require "sendpulse.core"
local number = require "sendpulse.number"
local json = require "sendpulse.json"

local type, next, rawget, tostring, getmetatable, format = type, next, rawget, tostring, getmetatable, string.format
local sort, concat = table.sort, table.concat
local urlencode, null = core.urlencode, core.null
local is_integer, integer_string = number.is_integer, number.integer_string
local ARRAY_MT = json.array_mt

local _M = {}

--- Tables inside tables, at most (ids = { { 1 } } is 2).
_M.MAX_DEPTH = 16

local function scalar(v, name)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    -- Every digit of an id: a Lua 5.4 integer past 2^53 is exact, and a
    -- float one is written as the number it holds (never 1e+16 or .17g's
    -- rounding).
    if is_integer(v) then return integer_string(v) end
    if v ~= v or v == 1/0 or v == -1/0 then
      return nil, format("query value '%s' must be a finite number", name)
    end
    return format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if v == null then return "" end
  return nil, format("query value '%s' cannot be a %s", name, t)
end

local function marked_array(v)
  local mt = getmetatable(v)
  return mt == ARRAY_MT or (type(mt) == "table" and rawget(mt, "__jsontype") == "array")
end

-- "array", n (keys exactly 1..n, or none) or "object" (names only), or
-- nil and why the table has neither form.
local function shape(v, name)
  local items, names, last, odd = 0, 0, 0, nil
  for k in next, v do
    if type(k) == "string" then
      names = names + 1
    elseif is_integer(k) and k >= 1 then
      items = items + 1
      if k > last then last = k end
    else
      odd = odd or k
    end
  end
  if odd ~= nil then
    return nil, format("query value '%s' has a key that is neither a name nor an array position (%s %s)",
      name, type(odd), tostring(odd))
  end
  if names > 0 and marked_array(v) then
    return nil, format("query value '%s' is marked as an array but has named fields", name)
  end
  if names > 0 and items > 0 then
    return nil, format("query value '%s' mixes array items and named fields", name)
  end
  if last ~= items then
    local missing = 1
    while rawget(v, missing) ~= nil do missing = missing + 1 end
    return nil, format("query value '%s' is an array with holes: item %d is missing "
      .. "(sendpulse.null sends an empty value)", name, missing)
  end
  if names > 0 then return "object" end
  return "array", items
end

local function add(out, name, v, depth)
  if type(v) ~= "table" then
    local s, err = scalar(v, name)
    if not s then return nil, err end
    out[#out + 1] = urlencode(name) .. "=" .. urlencode(s)
    return true
  end
  if depth > _M.MAX_DEPTH then
    return nil, format("query value '%s' is nested more than %d tables deep (a cycle?)", name, _M.MAX_DEPTH)
  end
  local form, n = shape(v, name)
  if not form then return nil, n end
  if form == "array" then
    for i = 1, n do
      local ok, err = add(out, name, rawget(v, i), depth + 1)
      if not ok then return nil, err end
    end
    return true
  end
  local keys = {}
  for k in next, v do keys[#keys + 1] = k end
  sort(keys)
  for i = 1, #keys do
    local k = keys[i]
    local ok, err = add(out, name .. "[" .. k .. "]", rawget(v, k), depth + 1)
    if not ok then return nil, err end
  end
  return true
end

--- Encodes a table of parameters. Returns the string (without "?"), or nil
-- and a message naming the parameter that cannot be encoded.
function _M.encode(params)
  local keys = {}
  for k in next, params do
    if type(k) ~= "string" then
      return nil, format("parameter names must be strings, got a %s", type(k))
    end
    keys[#keys + 1] = k
  end
  sort(keys)
  local out = {}
  for i = 1, #keys do
    local ok, err = add(out, keys[i], rawget(params, keys[i]), 1)
    if not ok then return nil, err end
  end
  return concat(out, "&")
end

return _M
