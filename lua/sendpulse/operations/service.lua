--- Service objects: client.email, client.crm, ... (one per client and
-- service, made on first use).
--
--   local lists = client.email:get_mailing_lists{ limit = 10 }
--   client.email:create_mailing_list{ bookName = "Newsletter" }
--
-- A service object looks a name up first among the hand-written helpers of
-- its service (sendpulse.helpers: pagination, batches, Base64, ...), then
-- among its operations, whose methods are built on first use from their
-- records and shared by every client, the way lua-resty-redis builds its
-- commands. Whatever it finds is kept on the object, so the next call is a
-- plain field access.

local type, rawget, rawset, setmetatable, error = type, rawget, rawset, setmetatable, error

local catalog = require "sendpulse.operations.catalog"
local method = require "sendpulse.operations.method"

local _M = {}

local Service = { __name = "sendpulse.service" }
_M.Service = Service

-- service name -> { operation name -> method } (shared by all clients)
local methods = {}
-- service name -> { name -> function(service, ...) }: helpers written by hand
-- that sit beside the generated methods and win over them (add_helper).
local helpers = {}

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
-- Helpers are looked up before the generated operations.
function _M.add_helper(service, name, fn)
  if type(fn) ~= "function" then error("sendpulse.operations.add_helper: fn must be a function", 2) end
  local h = helpers[service]
  if not h then h = {}; helpers[service] = h end
  h[name] = fn
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

--- The service object `name` of a client (cached on the client), or nil
-- when there is no such service.
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
  if not base then return nil end
  svc = setmetatable({ _client = client, _name = name, _base = base }, Service)
  cache[name] = svc
  return svc
end

return _M
