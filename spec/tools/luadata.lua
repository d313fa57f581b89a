-- Writes Lua values as Lua source, the same way every time: keys sorted,
-- one number format, plain escapes, short tables of scalars on one line.
-- The generators (gen_api.lua) and the contract extractor
-- (extract_contract.lua) write their committed data with it, so their output
-- depends only on their input, never on hash order.
--
--   local luadata = require "tools.luadata"
--   luadata.write(value)                     -- "{ a = 1, b = { 2, 3 } }"
--   luadata.write(value, { null = NULL, is_array = f })
--
-- Options: `width`, put a table on one line when it fits in that many
-- columns (else only short tables of scalars are); `null`, a sentinel
-- written as the identifier `null`; `is_array`,
-- a function telling an empty table that is a JSON array (written
-- `array{}`) from an empty object (`{}`). The reader of such data provides
-- `null` and `array` (spec/contract/openapi.lua does).

local type, pairs, next, tostring, tonumber, error = type, pairs, next, tostring, tonumber, error
local format, rep, concat, sort = string.format, string.rep, table.concat, table.sort
local math_type = math.type

local _M = {}

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local
  nil not or repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end
_M.KEYWORDS = KEYWORDS

-- Numbers first, then strings, each in their order.
function _M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta == "number" end
    return a < b
  end)
  return keys
end
local sorted_keys = _M.sorted_keys

-- A table whose keys are exactly 1..n (the empty table included).
function _M.is_seq(t)
  if type(t) ~= "table" then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end
local is_seq = _M.is_seq

local function lua_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\"
    elseif c == "\n" then return "\\n" elseif c == "\t" then return "\\t"
    elseif c == "\r" then return "\\r" end
    return format("\\%03d", c:byte())
  end) .. '"'
end
_M.string = lua_string

-- Integers as integers, floats with the fewest digits that read back
-- exactly (and a ".0" when that looks like an integer).
local function lua_number(v)
  if math_type(v) == "integer" then return format("%d", v) end
  if v ~= v then return "0/0" end
  if v == math.huge then return "math.huge" elseif v == -math.huge then return "-math.huge" end
  local s = format("%.17g", v)
  for p = 1, 17 do
    local t = format("%." .. p .. "g", v)
    if tonumber(t) == v then s = t break end
  end
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

local function lua_key(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then return k end
  if type(k) == "number" then return "[" .. lua_number(k) .. "]" end
  return "[" .. lua_string(k) .. "]"
end

local function lua_value(v, indent, out, inline, opts)
  local tv = type(v)
  if opts.null ~= nil and v == opts.null then out[#out + 1] = "null"
  elseif tv == "string" then out[#out + 1] = lua_string(v)
  elseif tv == "number" then out[#out + 1] = lua_number(v)
  elseif tv == "boolean" then out[#out + 1] = tostring(v)
  elseif tv == "table" then
    if next(v) == nil then
      out[#out + 1] = (opts.is_array and opts.is_array(v)) and "array{}" or "{}"
      return
    end
    local seq = is_seq(v)
    local keys = seq and nil or sorted_keys(v)
    local n = seq and #v or #keys
    -- short tables of scalars stay on one line; with opts.width, any
    -- table whose one-line form fits in that many columns
    local flat = inline
    if not flat and opts.width then
      local one = {}
      lua_value(v, 0, one, true, opts)
      local text = concat(one)
      if #text + 2 * indent <= opts.width then out[#out + 1] = text return end
    elseif not flat then
      local simple, len = true, 0
      for i = 1, n do
        local x = seq and v[i] or v[keys[i]]
        if type(x) == "table" and x ~= opts.null then simple = false break end
        len = len + (x == opts.null and 4 or #tostring(x)) + (seq and 0 or #tostring(keys[i])) + 4
      end
      flat = simple and len < 70
    end
    local pad = rep("  ", indent + 1)
    out[#out + 1] = "{"
    for i = 1, n do
      if flat then out[#out + 1] = i == 1 and " " or ", "
      else out[#out + 1] = "\n" .. pad end
      if not seq then out[#out + 1] = lua_key(keys[i]) .. " = " end
      lua_value(seq and v[i] or v[keys[i]], indent + 1, out, flat, opts)
      if not flat then out[#out + 1] = "," end
    end
    out[#out + 1] = flat and " }" or ("\n" .. rep("  ", indent) .. "}")
  else
    error("cannot write a " .. tv)
  end
end

--- Lua source for `v` (a constructor, indented from `opts.indent`, default 0).
function _M.write(v, opts)
  opts = opts or {}
  local out = {}
  lua_value(v, opts.indent or 0, out, false, opts)
  return concat(out)
end

return _M
