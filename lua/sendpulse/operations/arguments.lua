--- Checks of one argument of an operation against its record's field,
-- before any I/O, and the shape its JSON needs. A field is
--   { name, type, required, nullable, enum,
--     min_length, max_length, format,   (strings; format "email")
--     minimum, maximum,                 (numbers)
--     min_items, max_items, items,      (arrays; items: a field without a name)
--     fields }                          (objects: the fields they declare)
-- as spec/tools/gen_api.lua writes it from SendPulse's OpenAPI files, nested
-- as deep as the schema. The messages name the place in the value:
--
--   argument 'bookName' is required (string)
--   argument 'id' must be an integer, got number 1.5
--   argument 'template.language.code' is required (string)
--   argument 'template.components[2].type' must be a string, got integer 5
--
-- checked(f, v) also returns the value to send: the caller's own, unless an
-- empty table sits where the file declares an array. Lua cannot tell {}
-- from [], so that one goes out as [] in a copy (of it and of the tables
-- holding it; the caller's tables are never changed). Fields a record does
-- not declare pass unchecked, at every level; what a value means is the
-- API's to judge.

local type, pairs, next, tostring, getmetatable, setmetatable =
      type, pairs, next, tostring, getmetatable, setmetatable
local format, gsub, concat = string.format, string.gsub, table.concat

local json = require "sendpulse.json"
local number = require "sendpulse.number"

local is_integer, integer_string = number.is_integer, number.integer_string
local null, as_array = json.null, json.array

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

local function number_text(v)
  if is_integer(v) then return integer_string(v) end
  return tostring(v)
end

--- A value shown in full where the rule is about the value itself (an enum,
--- a format): strings quoted and cut at 40 bytes.
function _M.show(v)
  if type(v) == "string" then
    local text = gsub(v:sub(1, 40), '[%c"\\]', "?")
    return format('"%s"%s', text, #v > 40 and "..." or "")
  end
  return describe(v)
end
local show = _M.show

--- Does s look like an email address: something@something.something, with
--- no spaces, commas or angle brackets? (The API judges the rest.)
function _M.is_email(s)
  return type(s) == "string" and s:find("^[^%s@,<>]+@[^%s@,<>]+%.[^%s@,<>]+$") ~= nil
end
local is_email = _M.is_email

-- Characters of a UTF-8 string (JSON Schema counts characters, not bytes).
local function characters(s)
  local _, n = gsub(s, "[^\128-\191]", "")
  return n
end

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

-- A shallow copy that keeps the metatable (a sendpulse.array mark survives).
local function copy(t)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return setmetatable(r, getmetatable(t))
end

local function required_rule(f)
  if f.type then return format("is required (%s)", f.type) end
  return "is required"
end

local function enum_list(enum)
  local out = {}
  for i = 1, #enum do out[i] = show(enum[i]) end
  return concat(out, ", ")
end

-- walk(f, v) -> the value to send, or nil, the rule v breaks and where in
-- v it broke (".language.code", "[2].type"; nil: v itself). The place is
-- only put together on the way out of a failure.
local walk

local function walk_array(f, v)
  local n = #v
  if f.max_items and n > f.max_items then
    return nil, format("must hold at most %d items, got %d", f.max_items, n)
  end
  if f.min_items and n < f.min_items then
    return nil, format("must hold at least %d items, got %d", f.min_items, n)
  end
  if n == 0 then
    -- {} where an array is declared: [] (unless the caller marked it)
    local mt = getmetatable(v)
    if mt and mt.__jsontype then return v end
    return as_array({})
  end
  local items = f.items
  if not items then return v end
  local out
  for i = 1, n do
    local x = v[i]
    local nx, rule, at = walk(items, x)
    if rule then return nil, rule, "[" .. i .. "]" .. (at or "") end
    if nx ~= x then
      out = out or copy(v)
      out[i] = nx
    end
  end
  return out or v
end

local function walk_object(f, v)
  local fields, out = f.fields, nil
  for i = 1, #fields do
    local sub = fields[i]
    local name = sub.name
    local x = v[name]
    if x == nil then
      if sub.required then return nil, required_rule(sub), "." .. name end
    -- (a plain string, the most common field, needs no walk: a nested
    -- body's cost is mostly its walk, and most of a walk its calls)
    elseif not (sub.type == "string" and type(x) == "string" and sub.enum == nil
                and sub.max_length == nil and sub.min_length == nil and sub.format == nil) then
      local nx, rule, at = walk(sub, x)
      if rule then return nil, rule, "." .. name .. (at or "") end
      if nx ~= x then
        out = out or copy(v)
        out[name] = nx
      end
    end
  end
  return out or v
end

walk = function(f, v)
  local t, tv = f.type, type(v)
  if v == null then
    if f.nullable or t == nil then return v end
    return nil, format("must be %s, got null", TYPE_NAMES[t] or t)
  end
  if t ~= nil then
    -- TYPE_CHECKS, with the common cases first and inline: a nested body
    -- is walked field by field, and this is most of what a walk costs
    local ok
    if t == "string" then ok = tv == "string"
    elseif t == "object" then ok = tv == "table" and (v[1] == nil or not is_sequence(v))
    else
      local check = TYPE_CHECKS[t]
      ok = not check or check(v)
    end
    if not ok then
      return nil, format("must be %s, got %s", TYPE_NAMES[t] or t, describe(v))
    end
  end
  local enum = f.enum
  -- (a file that gives an object field an enum of strings, as the CRM's
  -- sortBy, is taken at its type)
  if enum and tv ~= "table" then
    local found = false
    for i = 1, #enum do
      if enum[i] == v then found = true break end
    end
    if not found then return nil, format("must be one of %s, got %s", enum_list(enum), show(v)) end
  end
  if tv == "string" then
    local max, min = f.max_length, f.min_length
    -- (bytes >= characters: only a string long in bytes is counted)
    if max and #v > max and characters(v) > max then
      return nil, format("must be at most %d characters long, got %d", max, characters(v))
    end
    if min and #v < min * 4 and characters(v) < min then
      return nil, format("must be at least %d characters long, got %d", min, characters(v))
    end
    if f.format == "email" and not is_email(v) then
      return nil, "must be an email address, got " .. show(v)
    end
  elseif tv == "number" then
    if f.minimum and v < f.minimum then
      return nil, format("must be at least %s, got %s", number_text(f.minimum), describe(v))
    end
    if f.maximum and v > f.maximum then
      return nil, format("must be at most %s, got %s", number_text(f.maximum), describe(v))
    end
  elseif tv == "table" then
    if t == "array" then return walk_array(f, v) end
    if f.fields then return walk_object(f, v) end
  end
  return v
end

--- checked(f, v) -> the value to send (v, or a copy with declared arrays
-- marked), or nil and the message. v is given (not nil).
function _M.checked(f, v)
  local value, rule, at = walk(f, v)
  if rule then return nil, format("argument '%s%s' %s", f.name, at or "", rule) end
  return value
end

--- nil when v (given, not nil) fits field f, else the message.
function _M.check(f, v)
  local _, msg = _M.checked(f, v)
  return msg
end

--- The message for a required field f that is missing.
function _M.required(f)
  return format("argument '%s' %s", f.name, required_rule(f))
end

return _M
