--- What the helper modules share: argument errors in the generated methods'
-- format, calling the plain (generated) operation with the call options
-- (the second table, see sendpulse.operations.call_options), copies that
-- keep the caller's tables untouched.

local type, pairs, getmetatable, setmetatable, rawget, error, pcall =
      type, pairs, getmetatable, setmetatable, rawget, error, pcall
local format = string.format

local errors = require "sendpulse.errors"
local service_objects = require "sendpulse.operations.service"
local call_options = require "sendpulse.operations.call_options"

local Service, plain_method = service_objects.Service, service_objects.method

local _M = {
  errors = errors,
  call_options = call_options,
}

--- "<service>:<name>: <message>" as an argument error (the generated methods' form), raised or
-- returned the way the client reports failures.
function _M.bad(service, name, message)
  local client = rawget(service, "_client")
  return client:fail(errors.argument(format("%s:%s: %s", rawget(service, "_name"), name, message)))
end

--- Checks that `service` is a service object (the helper was called with
-- ':'). Service objects catch a call with '.' themselves and report it the
-- client's way; this catches a helper function called on anything else.
function _M.check_self(service, name)
  if type(service) ~= "table" or getmetatable(service) ~= Service then
    error(errors.argument(format("%s: call it as a method: client.<service>:%s(...)", name, name)), 3)
  end
end

--- The plain operation `name` of the service (generated or extra), never a
-- helper of the same name; nil when the service has no such operation.
function _M.plain(service, name)
  return plain_method(rawget(service, "_name"), name)
end

--- Calls the plain operation with the call options: the client's forms
--- (value, meta raised or not; value, nil, meta or nil, err from a safe
--- client).
function _M.call(service, name, args, call_opts)
  return _M.plain(service, name)(service, args, call_opts)
end

--- A call's returns, whatever the client's mode, as value, nil, meta or
--- nil, err (a raising client's failure was raised already).
function _M.outcome(service, value, a, b)
  if value == nil then return nil, a end
  if rawget(service, "_client").raise then return value, nil, a end
  return value, nil, b
end

--- Reports a success the client's way: value, meta from a raising client;
--- value, nil, meta from a safe one (the `res, err` idiom, as
--- client:request's own success).
function _M.succeed(service, value, meta)
  if rawget(service, "_client").raise then return value, meta end
  return value, nil, meta
end

--- A shallow copy (keeps the metatable, so sendpulse.array marks survive).
function _M.copy(t)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return setmetatable(r, getmetatable(t))
end

--- Runs fn(...) and returns ok, value, meta, err: ok false with the error
-- object whatever the client's mode (raising or safe). Lets a helper look at
-- a failure and then report it the client's way with client:fail(err).
-- (A success is value, meta from a raising client and value, nil, meta
-- from a safe one: meta is whichever is there.)
function _M.attempt(fn, ...)
  local ok, value, second, third = pcall(fn, ...)
  if not ok then return false, nil, nil, value end
  if value == nil and second ~= nil then return false, nil, nil, second end
  if second == nil then return true, value, third end
  return true, value, second
end

--- Reports `err` the client's way (re-raises non-error-object errors as is).
function _M.fail(service, err)
  if not errors.is_error(err) then error(err, 0) end
  return rawget(service, "_client"):fail(err)
end

--- Checks a helper's opts table against `known` (its option names, in the
-- order the message lists them). Returns opts (or {}), or nil, message.
-- With `calls` true the table may also hold call options (each, all): the
-- second result is then those (a new table, or nil when there are none).
function _M.check_options(opts, known, calls)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    return nil, format("argument 'opts' must be a table or nil, got %s", type(opts))
  end
  local call_opts
  for k, v in pairs(opts) do
    local found = false
    for i = 1, #known do if known[i] == k then found = true end end
    if not found and calls and call_options.NAMES[k] then
      call_opts = call_opts or {}
      call_opts[k], found = v, true
    end
    if not found then
      return nil, format("unknown option '%s' (known: %s%s)", tostring(k), table.concat(known, ", "),
        calls and (", and the call options " .. table.concat(call_options.LIST, ", ")) or "")
    end
  end
  return opts, call_opts
end

--- Checks a file-name -> content map (attachments, attachments_binary).
-- Returns true, or nil and a message naming `field`.
function _M.check_file_map(map, field)
  if type(map) ~= "table" then
    return nil, format("argument '%s' must be a table of file name = content, got %s", field, type(map))
  end
  for name, content in pairs(map) do
    if type(name) ~= "string" or name == "" then
      return nil, format("argument '%s' must map file names (strings) to contents", field)
    end
    if type(content) ~= "string" then
      return nil, format("argument '%s': the content of '%s' must be a string, got %s", field, name, type(content))
    end
  end
  return true
end

return _M
