--- Service objects: client.email, client.crm, ... (one per client and
-- service, made on first use).
--
--   local lists = client.email:get_mailing_lists{ limit = 10 }
--   client.email:create_mailing_list({ bookName = "Newsletter" }, { timeout = 5 })
--
-- A service object looks a name up first among the hand-written helpers of
-- its service (sendpulse.helpers: pagination, batches, Base64, ...), then
-- among its operations, whose methods are built on first use from their
-- records and shared by every client, the way lua-resty-redis builds its
-- commands. What it finds is kept on the object, bound to it, so the next
-- call is a plain field access, and a call made with '.' instead of ':'
-- (client.email.get_mailing_lists{...}) is told apart and reported the
-- client's way: raised, or nil, err from a safe client. A name that is
-- neither (client.email:get_mailing_list{}) is an argument error naming the
-- nearest names, reported the same way, not Lua's "attempt to call a nil
-- value". So is a misspelled service: client.emails is an object whose every
-- method reports "no service 'emails' (nearest: email)", not Lua's "attempt
-- to index a nil value".

local type, pairs, rawget, rawset, setmetatable, error, format =
      type, pairs, rawget, rawset, setmetatable, error, string.format
local concat = table.concat

local catalog = require "sendpulse.operations.catalog"
local method = require "sendpulse.operations.method"
local nearest = require "sendpulse.operations.nearest"
local errors = require "sendpulse.errors"

local _M = {}

local Service = { __name = "sendpulse.service" }
_M.Service = Service

-- service name -> { operation name -> method } (shared by all clients)
local methods = {}
-- service name -> { name -> function(service, ...) }: helpers written by hand
-- that sit beside the generated methods and win over them (add_helper).
local helpers = {}
-- service name -> { name -> true }: the helpers that return an iterator
local iterators = {}

--- The generated (or hand-written extra) method of an operation, bypassing
-- helpers: lets a helper that replaces an operation call the plain one.
-- nil when the service has no such operation.
function _M.method(service, name)
  local cache = methods[service]
  if not cache then cache = {}; methods[service] = cache end
  local fn = cache[name]
  if fn then return fn end
  local op = catalog.operation(service, name)
  if not op then return nil end
  fn = method.build(service, catalog.base(service), op, Service)
  cache[name] = fn
  return fn
end
local method_for = _M.method

--- Adds a hand-written method to a service: fn(service_object, ...).
-- Helpers are looked up before the generated operations. kind "iterator":
-- fn returns an iterator (each), so a failure the service object reports
-- for it (a call with '.') comes as an iterator too, see failed_iterator.
function _M.add_helper(service, name, fn, kind)
  if type(fn) ~= "function" then error("sendpulse.operations.add_helper: fn must be a function", 2) end
  local h = helpers[service]
  if not h then h = {}; helpers[service] = h; iterators[service] = {} end
  h[name] = fn
  iterators[service][name] = kind == "iterator" or nil
end

--- An iterator that yields false, err once, then ends: what a safe
-- client's iterator helper returns when it cannot start, so that
--   for item, err in client.email:each(...) do if not item then ... end end
-- sees the error instead of Lua's "attempt to call a nil value (for iterator)".
function _M.failed_iterator(err)
  local done = false
  return function()
    if done then return nil end
    done = true
    return false, err
  end
end
local failed_iterator = _M.failed_iterator

-- Reports `message` as an argument error of service object `svc`'s client
-- (an iterator helper's the way its callers loop).
local function fail(svc, message, iterator)
  local client = rawget(svc, "_client")
  local err = errors.argument(message)
  if iterator and not client.raise then return failed_iterator(err), err end
  return client:fail(err)
end

-- fn, kept on service object svc: called with ':', it runs; called with '.'
-- (the first argument is not svc), it says so.
local function bind(svc, name, fn, iterator)
  local service = rawget(svc, "_name")
  return function(self, ...)
    if self ~= svc then
      return fail(svc, format("%s:%s: call it with ':', not '.': client.%s:%s(...)",
        service, name, service, name), iterator)
    end
    return fn(self, ...)
  end
end

-- What a misspelled name of service object svc gives: a function that
-- reports it, with the nearest names of the service.
local function unknown(svc, name)
  local service = rawget(svc, "_name")
  return function()
    local names = catalog.operations(service)
    for helper in pairs(helpers[service] or {}) do
      if not catalog.operation(service, helper) then names[#names + 1] = helper end
    end
    local near = nearest.names(names, name)
    return fail(svc, format("%s: no operation '%s'%s", service, name,
      #near > 0 and (" (nearest: " .. concat(near, ", ") .. ")") or ""))
  end
end

Service.__index = function(self, key)
  local service = rawget(self, "_name")
  local h = helpers[service]
  local fn = h and h[key]
  local iterator = fn ~= nil and iterators[service][key]
  if fn == nil and type(key) == "string" then fn = method_for(service, key) end
  if fn ~= nil then
    fn = bind(self, key, fn, iterator)
    rawset(self, key, fn)
    return fn
  end
  -- not kept: the name may be added later (add_helper), and a wrong name
  -- costs nothing until it is called
  if type(key) == "string" then return unknown(self, key) end
  return nil
end

Service.__tostring = function(self)
  return "sendpulse.service: " .. rawget(self, "_name")
end

-- What client.<a name that is no service> gives: an object whose methods
-- all report that, with the nearest service names. (A client's own fields
-- are all set when it is made, so only a name the caller wrote gets here.)
local NoService = { __name = "sendpulse.no_service" }
_M.NoService = NoService

local function no_service_message(name)
  local services = catalog.services()
  local near = nearest.names(services, name)
  if #near > 0 then return format("no service '%s' (nearest: %s)", name, concat(near, ", ")) end
  return format("no service '%s' (the services: %s)", name, concat(services, ", "))
end

NoService.__index = function(self, key)
  local iterator = false
  for _, names in pairs(iterators) do
    if names[key] then iterator = true break end
  end
  return function()
    return fail(self, no_service_message(rawget(self, "_name")), iterator)
  end
end

NoService.__tostring = function(self)
  return "sendpulse.no_service: " .. rawget(self, "_name")
end

--- The service object `name` of a client (cached on the client); for a
-- string that names no service, an object whose methods report that (not
-- kept: any string may come here); nil for any other key.
function _M.get(client, name)
  local cache
  if type(client) == "table" then
    cache = rawget(client, "_services")
    if cache == nil then
      cache = {}
      rawset(client, "_services", cache)
    end
  else
    error("sendpulse.operations.get: client must be a table", 2)
  end
  local svc = cache[name]
  if svc then return svc end
  if type(name) ~= "string" then return nil end
  local base = catalog.base(name)
  if not base then return setmetatable({ _client = client, _name = name }, NoService) end
  svc = setmetatable({ _client = client, _name = name, _base = base }, Service)
  cache[name] = svc
  return svc
end

return _M
