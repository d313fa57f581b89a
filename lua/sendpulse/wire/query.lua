--- Query strings and form bodies: RFC 3986 percent-encoding, keys sorted so
-- the same table always gives the same string (log lines, caches, tests).
--   { a = 1, b = "x y" }        -> a=1&b=x%20y
--   { ids = { 3, 4 } }          -> ids=3&ids=4          (OpenAPI form, explode)
--   { filter = { name = "x" } } -> filter%5Bname%5D=x   (deepObject)
-- Numbers that hold an integer are written as integers ("1000", never
-- "1000.0"); booleans as true/false; sendpulse.null as an empty value.

local core = require "sendpulse.core"
local number = require "sendpulse.wire.number"

local type, pairs, tostring, format = type, pairs, tostring, string.format
local sort, concat = table.sort, table.concat
local urlencode, null = core.urlencode, core.null
local is_integer, integer_string, MAX_EXACT = number.is_integer, number.integer_string, number.MAX_EXACT

local _M = {}

local function scalar(v, name)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if is_integer(v) and v >= -MAX_EXACT and v <= MAX_EXACT then return integer_string(v) end
    if v ~= v or v == 1/0 or v == -1/0 then
      return nil, format("query value '%s' must be a finite number", name)
    end
    return format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if v == null then return "" end
  return nil, format("query value '%s' cannot be a %s", name, t)
end

local function add(out, name, v)
  if type(v) == "table" then
    if #v > 0 or next(v) == nil then
      for i = 1, #v do
        local ok, err = add(out, name, v[i])
        if not ok then return nil, err end
      end
      return true
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    sort(keys)
    for i = 1, #keys do
      local k = keys[i]
      local sub = v[k]
      if sub == nil then sub = v[tonumber(k)] end
      local ok, err = add(out, name .. "[" .. k .. "]", sub)
      if not ok then return nil, err end
    end
    return true
  end
  local s, err = scalar(v, name)
  if not s then return nil, err end
  out[#out + 1] = urlencode(name) .. "=" .. urlencode(s)
  return true
end

--- Encodes a table of parameters. Returns the string (without "?"), or nil
-- and a message naming the parameter that cannot be encoded.
function _M.encode(params)
  local keys = {}
  for k in pairs(params) do
    if type(k) ~= "string" then
      return nil, format("parameter names must be strings, got a %s", type(k))
    end
    keys[#keys + 1] = k
  end
  sort(keys)
  local out = {}
  for i = 1, #keys do
    local ok, err = add(out, keys[i], params[keys[i]])
    if not ok then return nil, err end
  end
  return concat(out, "&")
end

return _M
