--- A record turned into a method: the method checks its arguments against
-- the record before any I/O, never changes them, and calls
--   client:request(method, base .. path, { query = ..., json = ... | form = ... | body = ..., <call options> })
--
--   client.email:create_mailing_list({ bookName = "Newsletter" }, { timeout = 5 })
--
-- The first table holds the path, query and body fields by their names in
-- the spec; fields the record does not list go to the body (or to the
-- query when the operation has no body). Fields the record declares are
-- checked to the depth the spec describes them, and an empty table where it
-- declares an array is sent as [] (sendpulse.operations.arguments). The
-- second table holds the options of the call (sendpulse.operations.call_options).
-- Bad arguments go through client:fail(errors.argument(msg)): raised by a
-- raising client, returned as nil, err by a safe one. Methods are built once
-- per operation and shared by every client (sendpulse.operations.service
-- caches them).

local type, pairs, ipairs, error, getmetatable = type, pairs, ipairs, error, getmetatable
local format, concat = string.format, table.concat

local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local multipart = require "sendpulse.wire.multipart"
local number = require "sendpulse.number"
local arguments = require "sendpulse.operations.arguments"
local call_options = require "sendpulse.operations.call_options"

local CALL_OPTIONS = call_options.NAMES
local urlencode = core.urlencode   -- RFC 3986, as query strings (csrc/sp_encode.c)
local is_integer, integer_string = number.is_integer, number.integer_string
local describe = arguments.describe

local _M = {}

-- The text a path parameter declared a number may be given as: the pattern,
-- and the rule a message names.
local NUMERIC_TEXT = {
  integer = { "^%-?%d+$", "an integer (or a string of its digits)" },
  number = { "^%-?%d+%.?%d*$", "a number (or a string of its digits)" },
}

--- build(service, base, op, Service) -> function(self, args, call_opts): the
-- method of record `op` of `service` (base: the service's base path).
-- Service is the metatable of service objects: the method refuses to be
-- called on anything else (service objects catch a call with '.' instead of
-- ':' before it gets here, and report it the client's way).
function _M.build(service, base, op, Service)
  -- the error object's message; its __tostring adds "sendpulse: argument error: "
  local label = service .. ":" .. op.name .. ": "
  local metric_label = { service = service, operation = op.name }
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
    spec.body = { name = "body", type = body.type, required = body.required, items = body.items,
                  min_items = body.min_items, max_items = body.max_items }
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

  return function(self, args, call_opts)
    if getmetatable(self) ~= Service then
      error(errors.argument(label .. "call it as a method: client." .. service .. ":" .. op.name .. "{...}"), 2)
    end
    local client = self._client
    local function bad(msg)
      -- tail calls all the way: level 2 is the caller of the method
      return client:fail(errors.argument(label .. msg), 2)
    end
    if call_opts ~= nil then
      local msg = call_options.check(call_opts)
      if msg then return bad(msg) end
    end

    if args == nil then
      if needs_args then
        if #path_params > 0 then return bad(arguments.required(path_params[1])) end
        return bad(arguments.required(required[1]))
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
      -- (it would be sent to the API as a field, and the call made without it)
      if CALL_OPTIONS[k] and not where[k] then return bad(call_options.misplaced(service, op.name, k)) end
    end

    -- path parameters
    local segments = {}
    for _, f in ipairs(path_params) do
      local v = args[f.name]
      if v == nil then return bad(arguments.required(f)) end
      local s
      if type(v) == "string" then
        if v == "" then return bad(format("argument '%s' must not be empty", f.name)) end
        -- "." and ".." are path segments that change the path's shape (a
        -- normaliser anywhere on the way, a proxy or the server, drops or
        -- climbs them; "%2E%2E" is decoded to ".." first, RFC 3986 6.2.2):
        -- refused, never sent.
        if v == "." or v == ".." then
          return bad(format("argument '%s' must not be '%s' (a path segment that would change the path)",
            f.name, v))
        end
        -- a numeric parameter as text: its digits, as the command line takes it
        -- (anything else would reach another path, or a 404 that names nothing)
        local rule = NUMERIC_TEXT[f.type]
        if rule and not v:find(rule[1]) then
          return bad(format("argument '%s' must be %s, got %s", f.name, rule[2], arguments.show(v)))
        end
        s = v
      elseif is_integer(v) then
        s = integer_string(v)
      else
        return bad(format("argument '%s' must be a string or an integer, got %s", f.name, describe(v)))
      end
      segments[f.name] = urlencode(s)
    end

    -- required fields, then the types of all fields given
    for _, f in ipairs(required) do
      if args[f.name] == nil then return bad(arguments.required(f)) end
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
        for _, alt in ipairs(one_of) do names[#names + 1] = "'" .. concat(alt, "' + '") .. "'" end
        return bad("one of " .. concat(names, " or ") .. " is required")
      end
    end

    -- the values to send where they differ from the caller's (declared
    -- arrays given as {} go out as [], in copies)
    local shaped
    for _, f in ipairs(typed) do
      local v = args[f.name]
      -- (a file given for a string field of an upload is fine)
      if v ~= nil and not (body_kind == "multipart" and f.type == "string" and multipart.is_file(v)) then
        local value, msg = arguments.checked(f, v)
        if msg then return bad(msg) end
        if value ~= v then
          shaped = shaped or {}
          shaped[f.name] = value
        end
      end
    end

    local query, json = nil, nil
    local unknown_to_body = body ~= nil and not raw_body
    for k, v in pairs(args) do
      local w = where[k]
      if w ~= "path" then
        if shaped and shaped[k] ~= nil then v = shaped[k] end
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
    if body and not raw_body and json == nil and body.required then json = {} end

    local path_out = {}
    for i, p in ipairs(parts) do
      path_out[i] = type(p) == "table" and segments[p[1]] or p
    end
    local path = concat(path_out)

    local opts = { query = query }
    if accept then
      opts.headers = { Accept = accept }
      opts.raw = not accept:find("json", 1, true)   -- a file, not a JSON answer
    end
    if call_opts ~= nil then call_options.add(opts, call_opts) end
    if body_kind == "multipart" then
      local data, ctype = multipart.encode(json or {})
      if not data then return bad(ctype) end
      opts.body, opts.content_type = data, ctype
    elseif body_kind == "form" then
      opts.form = json
    else
      opts.json = json
    end
    -- [metrics] which operation this request is (read once by the client).
    client.call_label = metric_label
    return client:request(method, path, opts)
  end
end

return _M
