--- Checks of one argument of an operation against its record's field
-- { name, type, required, nullable }, before any I/O. Each returns nil when
-- the value fits, else the message the argument error carries:
--
--   argument 'bookName' is required (string)
--   argument 'id' must be an integer, got number 1.5
--
-- Only the simple shape is checked (types from the spec, sendpulse.null
-- where the field is nullable); what a value means is the API's to judge.

local type, pairs, next, tostring = type, pairs, next, tostring
local format = string.format

local json = require "sendpulse.json"
local number = require "sendpulse.wire.number"

local is_integer, integer_string = number.is_integer, number.integer_string
local null = json.null

local _M = {}

--- What v is, for a message: "integer 1000", "number 1.5", "null", "table".
function _M.describe(v)
  local tv = type(v)
  if tv == "number" then
    if is_integer(v) then return "integer " .. integer_string(v) end
    return "number " .. tostring(v)
  end
  if v ~= nil and v == null then return "null" end
  return tv
end
local describe = _M.describe

local function is_sequence(t)
  local n = 0
  for k in pairs(t) do
    if type(k) ~= "number" then return false end
    n = n + 1
  end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

local TYPE_CHECKS = {
  string = function(v) return type(v) == "string" end,
  integer = is_integer,
  number = function(v) return type(v) == "number" and v == v end,
  boolean = function(v) return type(v) == "boolean" end,
  array = function(v) return type(v) == "table" and is_sequence(v) end,
  object = function(v) return type(v) == "table" and (next(v) == nil or not is_sequence(v)) end,
}

local TYPE_NAMES = {
  string = "a string", integer = "an integer", number = "a number", boolean = "a boolean",
  array = "an array (a sequence table)", object = "an object (a table with named fields)",
}

--- nil when v (given, not nil) fits field f, else the message.
function _M.check(f, v)
  local t = f.type
  if v == null and v ~= nil then
    if f.nullable or t == nil then return nil end
    return format("argument '%s' must be %s, got null", f.name, TYPE_NAMES[t] or t)
  end
  if t == nil then return nil end
  local check = TYPE_CHECKS[t]
  if not check or check(v) then return nil end
  return format("argument '%s' must be %s, got %s", f.name, TYPE_NAMES[t] or t, describe(v))
end

--- The message for a required field f that is missing.
function _M.required(f)
  if f.type then
    return format("argument '%s' is required (%s)", f.name, f.type)
  end
  return format("argument '%s' is required", f.name)
end

return _M
