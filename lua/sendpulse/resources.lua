-- Service objects of the client: client.email, client.crm, ...
--
-- Every operation of the API is a record in lua/sendpulse/api/<service>.lua
-- (generated from SendPulse's OpenAPI files) or in lua/sendpulse/api/extra.lua
-- (written by hand). A service object turns a record into a method the first
-- time it is used, the way lua-resty-redis builds its commands:
--
--   local lists = client.email:get_mailing_lists{ limit = 10 }
--   client.email:create_mailing_list{ bookName = "Newsletter" }
--
-- A method takes one table holding the path, query and body fields by their
-- names in the spec. It checks that table before any I/O (path parameters and
-- required fields present, simple types right), never changes it, and calls
--   client:request(method, base .. path, { query = ..., json = ..., form = ... })
-- Bad arguments go through client:fail(errors.argument(msg), 2): raised by a
-- raising client, returned as nil, err by a safe one.

local type, pairs, ipairs, next, tostring, rawget, rawset, setmetatable, getmetatable, error, require =
      type, pairs, ipairs, next, tostring, rawget, rawset, setmetatable, getmetatable, error, require
local string_format, string_gsub, table_concat, table_sort = string.format, string.gsub, table.concat, table.sort

local core = require "sendpulse.core"
local number = require "sendpulse.wire.number"
local urlencode = core.urlencode   -- RFC 3986, as query strings (csrc/sp_encode.c)
local is_integer, integer_string = number.is_integer, number.integer_string

local _M = {}

local index = require "sendpulse.api"
local extra = require "sendpulse.api.extra"

-- service name -> data table (loaded on first use)
local data_cache = {}
-- service name -> { operation name -> method function } (shared by all clients)
local method_cache = {}
-- service name -> { name -> function(service, ...) }: helpers written by hand
-- (pagination, batching, ...) that sit beside the generated methods and win
-- over them. Filled with _M.add_helper.
local helpers = {}

local function load_service(name)
  local d = data_cache[name]
  if d ~= nil then return d end
  local entry = index.services[name]
  local x = extra[name]
  if not entry and not x then return nil end
  local gen = entry and require(entry.module) or { operations = {}, base = "" }
  d = {
    name = name,
    base = entry and entry.base or gen.base,
    generated = gen.operations,
    extra = x and x.operations or {},
  }
  data_cache[name] = d
  return d
end

--- The record of one operation (a table from the data files; do not change it).
function _M.operation(service, name)
  local d = load_service(service)
  if not d then return nil end
  return d.generated[name] or d.extra[name]
end

--- The names of the services, sorted.
function _M.services()
  local list, seen = {}, {}
  for name in pairs(index.services) do list[#list + 1] = name; seen[name] = true end
  for name in pairs(extra) do if not seen[name] then list[#list + 1] = name end end
  table_sort(list)
  return list
end

--- The base path of a service ("" for the classic services, "/crm/v1", ...).
function _M.base(service)
  local d = load_service(service)
  return d and d.base
end

--- The names of the operations of a service, sorted (generated and hand-written).
function _M.operations(service)
  local d = load_service(service)
  if not d then return nil end
  local list = {}
  for name in pairs(d.generated) do list[#list + 1] = name end
  for name in pairs(d.extra) do if not d.generated[name] then list[#list + 1] = name end end
  table_sort(list)
  return list
end

--- Adds a hand-written method to a service: fn(service_object, ...). Helpers
--- are looked up before the generated operations.
function _M.add_helper(service, name, fn)
  if type(fn) ~= "function" then error("sendpulse.resources.add_helper: fn must be a function", 2) end
  local h = helpers[service]
  if not h then h = {}; helpers[service] = h end
  h[name] = fn
end

---------------------------------------------------------------------------
-- argument checks

local function null_value()
  local sp = package.loaded.sendpulse
  if type(sp) == "table" then return sp.null end
  return nil
end

local function as_array(t)
  local sp = package.loaded.sendpulse
  if type(sp) == "table" and type(sp.array) == "function" then return sp.array(t) end
  return t
end

local function describe(v)
  local tv = type(v)
  if tv == "number" then
    if is_integer(v) then return "integer " .. integer_string(v) end
    return "number " .. tostring(v)
  end
  if v ~= nil and v == null_value() then return "null" end
  return tv
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

-- nil when v fits the field, else the message
local function check_value(f, v)
  local t = f.type
  if v == null_value() and v ~= nil then
    if f.nullable or t == nil then return nil end
    return string_format("argument '%s' must be %s, got null", f.name, TYPE_NAMES[t] or t)
  end
  if t == nil then return nil end
  local check = TYPE_CHECKS[t]
  if not check or check(v) then return nil end
  return string_format("argument '%s' must be %s, got %s", f.name, TYPE_NAMES[t] or t, describe(v))
end

local function required_message(f)
  if f.type then
    return string_format("argument '%s' is required (%s)", f.name, f.type)
  end
  return string_format("argument '%s' is required", f.name)
end

---------------------------------------------------------------------------
-- multipart/form-data bodies (file uploads). A field's value is a string or
-- number (a text part), a file { content = "...", filename =, content_type = }
-- or a sequence of those (one part each, same name).

local function is_file(v)
  return type(v) == "table" and type(v.content) == "string"
end

local function header_safe(s)
  return (string_gsub(string_gsub(tostring(s), "[\r\n]", ""), '"', "%%22"))
end

-- Returns body, content type; or nil, message.
local function multipart(fields)
  local names = {}
  for k in pairs(fields) do names[#names + 1] = k end
  table_sort(names)
  local parts = {}
  for _, name in ipairs(names) do
    local v = fields[name]
    local list = (type(v) == "table" and not is_file(v)) and v or { v }
    for i = 1, #list do
      local item = list[i]
      local head, content
      if is_file(item) then
        head = string_format('Content-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: %s',
          header_safe(name), header_safe(item.filename or name),
          header_safe(item.content_type or "application/octet-stream"))
        content = item.content
      elseif type(item) == "string" or type(item) == "boolean" then
        head = string_format('Content-Disposition: form-data; name="%s"', header_safe(name))
        content = tostring(item)
      elseif type(item) == "number" then
        head = string_format('Content-Disposition: form-data; name="%s"', header_safe(name))
        content = is_integer(item) and integer_string(item) or string_format("%.17g", item)
      else
        return nil, string_format("argument '%s' must be a string, a number or a file"
          .. " { content = ..., filename = ... }, got %s", name, describe(item))
      end
      parts[#parts + 1] = { head, content }
    end
  end
  -- a boundary that occurs in no part
  local function unused(boundary)
    for _, p in ipairs(parts) do
      if p[2]:find(boundary, 1, true) then return false end
    end
    return true
  end
  local n = 1
  while not unused("lua-sendpulse-boundary-" .. n) do n = n + 1 end
  local boundary = "lua-sendpulse-boundary-" .. n
  local out = {}
  for _, p in ipairs(parts) do
    out[#out + 1] = "--" .. boundary .. "\r\n" .. p[1] .. "\r\n\r\n" .. p[2] .. "\r\n"
  end
  out[#out + 1] = "--" .. boundary .. "--\r\n"
  return table_concat(out), "multipart/form-data; boundary=" .. boundary
end

---------------------------------------------------------------------------
-- building a method from a record

local Service = {}

local function build_method(service, base, op)
  -- the error object's message; its __tostring adds "sendpulse: argument error: "
  local label = service .. ":" .. op.name .. ": "
  local method = op.method
  local path_params = op.path_params or {}
  local query_fields = op.query or {}
  local body = op.body
  local raw_body = body and body.raw
  local body_kind = body and body.content
  local body_fields = (body and not raw_body and body.fields) or {}
  local one_of = body and body.one_of
  local accept = op.accept

  -- where each named field goes
  local where, spec = {}, {}
  for _, f in ipairs(path_params) do where[f.name] = "path"; spec[f.name] = f end
  for _, f in ipairs(query_fields) do
    if not where[f.name] then where[f.name] = "query"; spec[f.name] = f end
  end
  -- body fields that repeat a path parameter (the spec requires both)
  local copy_to_body = {}
  for _, f in ipairs(body_fields) do
    if f.from_path then copy_to_body[#copy_to_body + 1] = f.name
    elseif not where[f.name] then where[f.name] = "body"; spec[f.name] = f end
  end
  if raw_body then
    where.body = "raw"
    spec.body = { name = "body", type = body.type, required = body.required }
  end

  -- the fields whose type is checked, in a fixed order (so that of two bad
  -- fields the same one is always named)
  local typed = {}
  for _, f in ipairs(query_fields) do if where[f.name] == "query" then typed[#typed + 1] = f end end
  for _, f in ipairs(body_fields) do if where[f.name] == "body" then typed[#typed + 1] = f end end
  if raw_body then typed[#typed + 1] = spec.body end

  local required = {}
  for _, f in ipairs(query_fields) do if f.required then required[#required + 1] = f end end
  for _, f in ipairs(body_fields) do
    if f.required and not f.from_path then required[#required + 1] = f end
  end
  if raw_body and body.required then required[#required + 1] = spec.body end
  local needs_args = #path_params > 0 or #required > 0

  -- path template split into literal parts and parameter slots
  local parts = {}
  do
    local pos = 1
    local template = base .. op.path
    while true do
      local s, e, name = template:find("{([^}]+)}", pos)
      if not s then parts[#parts + 1] = template:sub(pos) break end
      parts[#parts + 1] = template:sub(pos, s - 1)
      parts[#parts + 1] = { name }
      pos = e + 1
    end
  end

  return function(self, args)
    if getmetatable(self) ~= Service then
      error("sendpulse: " .. label .. "call it as a method: client." .. service .. ":" .. op.name .. "{...}", 2)
    end
    local client = self._client
    local function bad(msg)
      local errors = require "sendpulse.errors"
      -- tail calls all the way: level 2 is the caller of the method
      return client:fail(errors.argument(label .. msg), 2)
    end

    if args == nil then
      if needs_args then
        if #path_params > 0 then return bad(required_message(path_params[1])) end
        return bad(required_message(required[1]))
      end
      args = {}
    elseif type(args) ~= "table" then
      return bad("arguments must be a table, got " .. describe(args))
    end
    for k in pairs(args) do
      if type(k) ~= "string" then
        if raw_body then
          return bad("arguments must be named fields; give the request body (an array) as args.body")
        end
        return bad("arguments must be named fields, got a " .. type(k) .. " key")
      end
    end

    -- path parameters
    local segments = {}
    for _, f in ipairs(path_params) do
      local v = args[f.name]
      if v == nil then return bad(required_message(f)) end
      local s
      if type(v) == "string" then
        if v == "" then return bad(string_format("argument '%s' must not be empty", f.name)) end
        s = v
      elseif is_integer(v) then
        s = integer_string(v)
      else
        return bad(string_format("argument '%s' must be a string or an integer, got %s", f.name, describe(v)))
      end
      segments[f.name] = urlencode(s)
    end

    -- required fields, then the types of all fields given
    for _, f in ipairs(required) do
      if args[f.name] == nil then return bad(required_message(f)) end
    end
    if one_of then
      local ok = false
      for _, alt in ipairs(one_of) do
        local all = true
        for _, name in ipairs(alt) do if args[name] == nil then all = false break end end
        if all then ok = true break end
      end
      if not ok then
        local names = {}
        for _, alt in ipairs(one_of) do names[#names + 1] = "'" .. table_concat(alt, "' + '") .. "'" end
        return bad("one of " .. table_concat(names, " or ") .. " is required")
      end
    end

    for _, f in ipairs(typed) do
      local v = args[f.name]
      -- (a file given for a string field of an upload is fine)
      if v ~= nil and not (body_kind == "multipart" and f.type == "string" and is_file(v)) then
        local msg = check_value(f, v)
        if msg then return bad(msg) end
      end
    end

    local query, json = nil, nil
    local unknown_to_body = body ~= nil and not raw_body
    for k, v in pairs(args) do
      local w = where[k]
      if w ~= "path" then
        -- an empty table given for an array must still be sent as [] (a new
        -- table: the caller's is never changed)
        local f = spec[k]
        if f and f.type == "array" and type(v) == "table" and next(v) == nil then
          v = as_array({})
        end
        if w == "query" or (w == nil and not unknown_to_body) then
          query = query or {}
          query[k] = v
        elseif w == "raw" then
          json = v
        else
          json = json or {}
          json[k] = v
        end
      end
    end

    for _, name in ipairs(copy_to_body) do
      json = json or {}
      json[name] = args[name]
    end
    if raw_body and json ~= nil and type(json) == "table" and next(json) == nil and body.type == "array" then
      json = as_array({})
    end
    if body and not raw_body and json == nil and body.required then json = {} end

    local path_out = {}
    for i, p in ipairs(parts) do
      path_out[i] = type(p) == "table" and segments[p[1]] or p
    end
    local path = table_concat(path_out)

    local opts = { query = query }
    if accept then
      opts.headers = { Accept = accept }
      opts.raw = not accept:find("json", 1, true)   -- a file, not a JSON answer
    end
    if body_kind == "multipart" then
      local data, ctype = multipart(json or {})
      if not data then return bad(ctype) end
      opts.body, opts.content_type = data, ctype
    elseif body_kind == "form" then
      opts.form = json
    else
      opts.json = json
    end
    return client:request(method, path, opts)
  end
end

local function method_for(service, name)
  local cache = method_cache[service]
  if not cache then cache = {}; method_cache[service] = cache end
  local fn = cache[name]
  if fn then return fn end
  local d = load_service(service)
  local op = d.generated[name] or d.extra[name]
  if not op then return nil end
  fn = build_method(service, d.base, op)
  cache[name] = fn
  return fn
end

Service.__index = function(self, key)
  local service = rawget(self, "_name")
  local h = helpers[service]
  local fn = h and h[key]
  if fn == nil and type(key) == "string" then fn = method_for(service, key) end
  if fn ~= nil then rawset(self, key, fn) end
  return fn
end

Service.__tostring = function(self)
  return "sendpulse.service: " .. rawget(self, "_name")
end

Service.__name = "sendpulse.service"

--- The service object `name` of a client (cached on the client), or nil when
--- there is no such service.
function _M.get(client, name)
  local cache
  if type(client) == "table" then
    cache = rawget(client, "_services")
    if cache == nil then
      cache = {}
      rawset(client, "_services", cache)
    end
  else
    error("sendpulse.resources.get: client must be a table", 2)
  end
  local svc = cache[name]
  if svc then return svc end
  if type(name) ~= "string" then return nil end
  local d = load_service(name)
  if not d then return nil end
  svc = setmetatable({ _client = client, _name = name, _base = d.base }, Service)
  cache[name] = svc
  return svc
end

_M.Service = Service
--- The generated (or extra) method of an operation, bypassing helpers: lets a
--- helper that replaces an operation call the plain one.
_M.method = method_for
-- The hand-written helpers (Base64, pagination, batches, waits) attach
-- themselves with add_helper.
require("sendpulse.helpers").register(_M)

return _M
