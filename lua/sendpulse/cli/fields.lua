--- The command line's `field=value` words as an operation's argument table.
--
--   name=value     typed by the operation's declared type of `name`: string
--                  fields keep the text as is (a phone "0501234567" stays a
--                  string), integer and number fields need a number, boolean
--                  fields true or false, array and object fields JSON text.
--                  Nested fields are guessed: true, false, null, a number,
--                  else a string. A field the operation does not declare is
--                  refused (a typo would be sent, and the API ignores what it
--                  does not know) unless allow_unknown (--allow-unknown):
--                  then it is guessed too. This holds for --json's names.
--   name:=json     a JSON value, whatever the declared type.
--   name=@path     the contents of a file: in an upload (a multipart form) a
--                  file part with the file's name, else its text; an array
--                  of files takes indexes (content[].1=@a.pdf); `name=\@x` is
--                  the literal text "@x".
--   a.b.c=value    dotted paths build nested objects; a numeric segment is an
--                  array index (emails.1.email=ada@example.com). Two words
--                  that name the same place (emails.1.email and
--                  emails.01.email), or one that writes inside the value of
--                  another (a=1 and a.b=2), are refused, both named.
--
-- fields.parse(words, op, base, allow_unknown) -> args, or nil and a message
-- naming the word. `base` (from --json) is copied, never changed; the words
-- are laid over it.
local json = require "sendpulse.json"
local catalog = require "sendpulse.cli.catalog"
local help = require "sendpulse.cli.help"
local nearest = require "sendpulse.operations.nearest"

local type, ipairs, pairs, tonumber, tostring, setmetatable, getmetatable =
      type, ipairs, pairs, tonumber, tostring, setmetatable, getmetatable
local format, find, sub, match, concat = string.format, string.find, string.sub, string.match, table.concat

local _M = {}

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("*a")
  f:close()
  return data
end
_M.read_file = read_file

local function number(s)
  if match(s, "^%-?%d+$") then return tonumber(s) end
  if match(s, "^%-?%d+%.%d+$") or match(s, "^%-?%d+%.?%d*[eE][%+%-]?%d+$") then return tonumber(s) end
  return nil
end

local function guess(s)
  if s == "true" then return true end
  if s == "false" then return false end
  if s == "null" then return json.null end
  local n = number(s)
  if n ~= nil then return n end
  return s
end

-- The value of `text` for a field of declared type `t`; nil, message when
-- it does not fit.
local function typed(t, text, name)
  if t == nil then return guess(text) end
  if t == "string" then return text end
  if t == "integer" or t == "number" then
    local n = number(text)
    if n == nil or (t == "integer" and n % 1 ~= 0) then
      return nil, format("%s must be %s, got '%s'", name, t == "integer" and "an integer" or "a number", text)
    end
    return n
  end
  if t == "boolean" then
    if text == "true" then return true end
    if text == "false" then return false end
    return nil, format("%s must be true or false, got '%s'", name, text)
  end
  if t == "array" or t == "object" then
    local v, err = json.decode(text)
    if v == nil then
      return nil, format("%s must be JSON (%s), e.g. %s:='%s'", name, t, name, t == "array" and "[1,2]" or '{"a":1}')
        .. ": " .. tostring(err)
    end
    return v
  end
  return guess(text)
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local r = {}
  for k, x in pairs(v) do r[k] = deep_copy(x) end
  return setmetatable(r, getmetatable(v))
end

-- Splits "a.b.1.c" into keys (numbers for numeric segments).
local function path_keys(name)
  local keys = {}
  for seg in (name .. "."):gmatch("([^.]*)%.") do
    if seg == "" then return nil end
    keys[#keys + 1] = match(seg, "^%d+$") and tonumber(seg) or seg
  end
  return keys
end

-- Where a word's value goes, one string per place: "emails.1.email" and
-- "emails.01.email" are the same place (both index 1).
local function place(keys, n)
  local parts = {}
  for i = 1, n do
    local k = keys[i]
    parts[i] = type(k) == "number" and format("[%d]", k) or ("." .. k)
  end
  return concat(parts)
end

-- Two words that write the same place, or one that writes inside a value
-- another word set (a=1 with a.b=2), would silently overwrite each other:
-- `owners` records which word set each place and which word built each
-- table on the way, and the second word of such a pair is refused, both
-- named.
local function collision(owners, keys, name)
  for i = 1, #keys - 1 do
    local set_by = owners.value[place(keys, i)]
    if set_by then
      return format("the fields '%s' and '%s' collide: '%s' sets a value that '%s' would write inside",
        set_by, name, set_by, name)
    end
  end
  local here = place(keys, #keys)
  local other = owners.value[here] or owners.table[here]
  if other then
    if owners.value[here] then
      return format("the fields '%s' and '%s' name the same place (%s): give it once", other, name,
        "value" .. here)
    end
    return format("the fields '%s' and '%s' collide: '%s' would replace what '%s' writes inside it",
      other, name, name, other)
  end
  owners.value[here] = name
  for i = 1, #keys - 1 do
    local at = place(keys, i)
    owners.table[at] = owners.table[at] or name
  end
end

-- nil when `name` is a field of `op` (any name is, when its body is an
-- object whose fields the file does not list); else the message.
local function unknown_field(op, name)
  if not op then return nil end
  local body = op.body
  if body and not body.raw and (body.fields == nil or #body.fields == 0) then return nil end
  local names = {}
  for _, f in ipairs(catalog.fields(op)) do
    if f.name == name then return nil end
    names[#names + 1] = f.name
  end
  local near = nearest.names(names, name)
  return format("'%s' is not a field of %s%s (%s; --allow-unknown sends it anyway)", name, op.name,
    #near > 0 and ("; " .. help.did_you_mean(near)) or "",
    #names > 0 and "its fields: " .. concat(names, ", ") or "it takes none")
end

--- Parses the words; returns the argument table or nil and a message.
function _M.parse(words, op, base, allow_unknown)
  if base and not allow_unknown then
    local names = {}
    for k in pairs(base) do names[#names + 1] = tostring(k) end
    table.sort(names)
    for _, k in ipairs(names) do
      local why = unknown_field(op, k)
      if why then return nil, "--json: " .. why end
    end
  end
  local args = base and deep_copy(base) or {}
  local given = {}
  local owners = { value = {}, table = {} }
  for _, word in ipairs(words) do
    local name, sep, text = match(word, "^([^=:]+)(:?=)(.*)$")
    if not name then
      return nil, format("'%s' is not a field: write name=value (or name:=json)", word)
    end
    local keys = path_keys(name)
    if not keys or type(keys[1]) ~= "string" then
      return nil, format("'%s': a field name is a name or a dotted path such as a.b.1.c", name)
    end
    if given[name] then return nil, format("the field '%s' is given twice", name) end
    if not allow_unknown then
      local why = unknown_field(op, keys[1])
      if why then return nil, why end
    end
    given[name] = true
    local clash = collision(owners, keys, name)
    if clash then return nil, clash end
    local field = op and #keys == 1 and catalog.field(op, name) or nil
    local value, err
    if sep == ":=" then
      value, err = json.decode(text)
      if value == nil then return nil, format("%s:= needs JSON: %s", name, tostring(err)) end
    elseif sub(text, 1, 1) == "@" then
      local path = sub(text, 2)
      local data
      data, err = read_file(path)
      if not data then return nil, format("%s=@%s: cannot read the file: %s", name, path, tostring(err)) end
      local form = op and op.body and op.body.content == "multipart"
      if form then
        value = { content = data, filename = match(path, "([^/]+)$") or path }
      else
        value = data
      end
    else
      if find(text, "^\\@") then text = sub(text, 2) end
      value, err = typed(#keys == 1 and field and field.type or nil, text, name)
      if value == nil and err then return nil, err end
    end
    -- lay it at its path
    local t = args
    for i = 1, #keys - 1 do
      local k = keys[i]
      if type(t[k]) ~= "table" then t[k] = {} end
      t = t[k]
    end
    t[keys[#keys]] = value
  end
  return args
end

--- The --json option: inline JSON text, or @path. Returns a table or nil and a message.
function _M.json_option(text)
  if text == nil then return nil end
  local source = "--json"
  if sub(text, 1, 1) == "@" then
    local data, err = read_file(sub(text, 2))
    if not data then return nil, format("--json %s: cannot read the file: %s", text, tostring(err)) end
    source, text = "--json " .. text, data
  end
  local v, err = json.decode(text)
  if type(v) ~= "table" then
    return nil, format("%s must hold a JSON object: %s", source, tostring(err or "got " .. type(v)))
  end
  return v
end

return _M
