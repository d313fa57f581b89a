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

-- What building a method decides once, from the record: where each
-- named field goes ("path", "query", "body", or "raw" for a body given
-- whole as args.body), its record, and the body fields that repeat a path
-- parameter (the spec requires both).
local function field_places(path_params, query_fields, body_fields, body)
  local where, spec = {}, {}
  for _, f in ipairs(path_params) do where[f.name] = "path"; spec[f.name] = f end
  for _, f in ipairs(query_fields) do
    if not where[f.name] then where[f.name] = "query"; spec[f.name] = f end
  end
  local copy_to_body = {}
  for _, f in ipairs(body_fields) do
    if f.from_path then copy_to_body[#copy_to_body + 1] = f.name
    elseif not where[f.name] then where[f.name] = "body"; spec[f.name] = f end
  end
  if body and body.raw then
    where.body = "raw"
    spec.body = { name = "body", type = body.type, required = body.required, items = body.items,
                  min_items = body.min_items, max_items = body.max_items }
  end
  return where, spec, copy_to_body
end

-- The fields whose type is checked, in a fixed order (so that of two bad
-- fields the same one is always named).
local function typed_fields(query_fields, body_fields, where, spec)
  local typed = {}
  for _, f in ipairs(query_fields) do if where[f.name] == "query" then typed[#typed + 1] = f end end
  for _, f in ipairs(body_fields) do if where[f.name] == "body" then typed[#typed + 1] = f end end
  if where.body == "raw" then typed[#typed + 1] = spec.body end
  return typed
end

-- The fields a call must give (path parameters apart).
local function required_fields(query_fields, body_fields, body, spec)
  local required = {}
  for _, f in ipairs(query_fields) do if f.required then required[#required + 1] = f end end
  for _, f in ipairs(body_fields) do
    if f.required and not f.from_path then required[#required + 1] = f end
  end
  if body and body.raw and body.required then required[#required + 1] = spec.body end
  return required
end

-- The path template split into literal parts and parameter slots ({ name }).
local function path_parts(template)
  local parts, pos = {}, 1
  while true do
    local s, e, name = template:find("{([^}]+)}", pos)
    if not s then parts[#parts + 1] = template:sub(pos) break end
    parts[#parts + 1] = template:sub(pos, s - 1)
    parts[#parts + 1] = { name }
    pos = e + 1
  end
  return parts
end

-- What each call does, in order; each returns what it found wrong (a
-- message) as its last value, nil when all is well.

-- The call's first table, or the message: named fields only, and no call
-- option where it would be sent to the API as a field.
local function given_arguments(m, args)
  if args == nil then
    if m.needs_args then
      if #m.path_params > 0 then return nil, arguments.required(m.path_params[1]) end
      return nil, arguments.required(m.required[1])
    end
    return {}
  end
  if type(args) ~= "table" then return nil, "arguments must be a table, got " .. describe(args) end
  for k in pairs(args) do
    if type(k) ~= "string" then
      if m.raw_body then
        return nil, "arguments must be named fields; give the request body (an array) as args.body"
      end
      return nil, "arguments must be named fields, got a " .. type(k) .. " key"
    end
    -- (it would be sent to the API as a field, and the call made without it)
    if CALL_OPTIONS[k] and not m.where[k] then return nil, call_options.misplaced(m.service, m.name, k) end
  end
  return args
end

-- The path parameters, percent-encoded by name, or the message.
local function path_segments(path_params, args)
  local segments = {}
  for _, f in ipairs(path_params) do
    local v = args[f.name]
    if v == nil then return nil, arguments.required(f) end
    local s
    if type(v) == "string" then
      if v == "" then return nil, format("argument '%s' must not be empty", f.name) end
      -- "." and ".." are path segments that change the path's shape (a
      -- normaliser anywhere on the way, a proxy or the server, drops or
      -- climbs them; "%2E%2E" is decoded to ".." first, RFC 3986 6.2.2):
      -- refused, never sent.
      if v == "." or v == ".." then
        return nil, format("argument '%s' must not be '%s' (a path segment that would change the path)",
          f.name, v)
      end
      -- a numeric parameter as text: its digits, as the command line takes it
      -- (anything else would reach another path, or a 404 that names nothing)
      local rule = NUMERIC_TEXT[f.type]
      if rule and not v:find(rule[1]) then
        return nil, format("argument '%s' must be %s, got %s", f.name, rule[2], arguments.show(v))
      end
      s = v
    elseif is_integer(v) then
      s = integer_string(v)
    else
      return nil, format("argument '%s' must be a string or an integer, got %s", f.name, describe(v))
    end
    segments[f.name] = urlencode(s)
  end
  return segments
end

-- nil when the required fields are there (and one of the record's
-- alternatives, if it has them), else the message.
local function missing_field(required, one_of, args)
  for _, f in ipairs(required) do
    if args[f.name] == nil then return arguments.required(f) end
  end
  if one_of then
    for _, alt in ipairs(one_of) do
      local all = true
      for _, name in ipairs(alt) do if args[name] == nil then all = false break end end
      if all then return nil end
    end
    local names = {}
    for _, alt in ipairs(one_of) do names[#names + 1] = "'" .. concat(alt, "' + '") .. "'" end
    return "one of " .. concat(names, " or ") .. " is required"
  end
  return nil
end

-- The values to send where they differ from the caller's (declared arrays
-- given as {} go out as [], in copies): name -> value, or nil when none
-- differs; or nil and the message of the first field of a wrong type.
local function shaped_values(typed, body_kind, args)
  local shaped
  for _, f in ipairs(typed) do
    local v = args[f.name]
    -- (a file given for a string field of an upload is fine)
    if v ~= nil and not (body_kind == "multipart" and f.type == "string" and multipart.is_file(v)) then
      local value, msg = arguments.checked(f, v)
      if msg then return nil, msg end
      if value ~= v then
        shaped = shaped or {}
        shaped[f.name] = value
      end
    end
  end
  return shaped
end

-- The query and the body (a table, or args.body as given for a raw body)
-- of the call: each field where it goes, the shaped value where there is
-- one; fields the record does not list go to the body (to the query when
-- the operation has no body).
local function query_and_body(m, args, shaped)
  local where, body = m.where, m.body
  local query, json = nil, nil
  local unknown_to_body = body ~= nil and not m.raw_body
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
  for _, name in ipairs(m.copy_to_body) do
    json = json or {}
    json[name] = args[name]
  end
  if body and not m.raw_body and json == nil and body.required then json = {} end
  return query, json
end

-- The path with its parameters in their slots.
local function filled_path(parts, segments)
  local out = {}
  for i, p in ipairs(parts) do
    out[i] = type(p) == "table" and segments[p[1]] or p
  end
  return concat(out)
end

-- client:request's opts for the call: the query, the body in the record's
-- form, the record's Accept, the call options; or nil and the message.
local function request_options(m, query, json, call_opts)
  local opts = { query = query }
  local accept = m.accept
  if accept then
    opts.headers = { Accept = accept }
    opts.raw = not accept:find("json", 1, true)   -- a file, not a JSON answer
  end
  if call_opts ~= nil then call_options.add(opts, call_opts) end
  local body_kind = m.body_kind
  if body_kind == "multipart" then
    local data, ctype = multipart.encode(json or {})
    if not data then return nil, ctype end
    opts.body, opts.content_type = data, ctype
  elseif body_kind == "form" then
    opts.form = json
  else
    opts.json = json
  end
  return opts
end

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
  local body_fields = (body and not raw_body and body.fields) or {}
  local where, spec, copy_to_body = field_places(path_params, query_fields, body_fields, body)
  local required = required_fields(query_fields, body_fields, body, spec)
  -- What the steps of a call read, decided here once.
  local m = {
    service = service, name = op.name, path_params = path_params, required = required,
    needs_args = #path_params > 0 or #required > 0,
    where = where, copy_to_body = copy_to_body, body = body, raw_body = raw_body,
    body_kind = body and body.content, accept = op.accept,
  }
  local typed = typed_fields(query_fields, body_fields, where, spec)
  local one_of = body and body.one_of
  local parts = path_parts(base .. op.path)
  -- Steps with nothing to do for this record are not called: a method is
  -- on the path of every call (bench/cost.lua's method ways).
  local fixed_path = #parts == 1 and parts[1] or nil   -- no parameter in it
  local checks_fields = #required > 0 or one_of ~= nil
  local body_kind = m.body_kind

  -- A wrong argument: raised by a raising client, returned as nil, err by a
  -- safe one.
  local function bad(client, msg)
    return client:fail(errors.argument(label .. msg))
  end

  return function(self, args, call_opts)
    if getmetatable(self) ~= Service then
      error(errors.argument(label .. "call it as a method: client." .. service .. ":" .. op.name .. "{...}"), 2)
    end
    local client = self._client
    local msg = call_opts ~= nil and call_options.check(call_opts) or nil
    if msg then return bad(client, msg) end
    args, msg = given_arguments(m, args)
    if not args then return bad(client, msg) end
    local path = fixed_path
    if not path then
      local segments
      segments, msg = path_segments(path_params, args)
      if not segments then return bad(client, msg) end
      path = filled_path(parts, segments)
    end
    if checks_fields then
      msg = missing_field(required, one_of, args)
      if msg then return bad(client, msg) end
    end
    local shaped
    if typed[1] then
      shaped, msg = shaped_values(typed, body_kind, args)
      if msg then return bad(client, msg) end
    end
    local query, json = query_and_body(m, args, shaped)
    local opts
    opts, msg = request_options(m, query, json, call_opts)
    if not opts then return bad(client, msg) end
    -- [metrics] which operation this request is (read once by the client).
    client.call_label = metric_label
    return client:request(method, path, opts)
  end
end

return _M
