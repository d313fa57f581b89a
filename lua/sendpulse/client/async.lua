--- Non-blocking calls, for clients made with transport = "multi":
--
--   client:start(method, path, opts, on_done) -> handle   (request, started)
--   client:run(fn, on_done) -> handle    fn() runs as a task: every call it
--                                        makes suspends instead of blocking,
--                                        so generated operations work too
--   client:poll([timeout]) -> calls in flight
--   client:pending() -> calls in flight
--   client:async() -> a view of the client whose every method and generated
--                     operation starts the call and returns its handle:
--                     client:async().email:get_mailing_lists()
--
-- on_done(handle) runs when the call finishes; what it raises is reported
-- by the next client:poll (raised, or nil, err for a safe client). See
-- sendpulse.transport.loop for the handle's methods.

local errors = require "sendpulse.errors"

local type, setmetatable, rawget = type, setmetatable, rawget
local select = select
local unpack = table.unpack or unpack   -- luacheck: ignore (5.1)
local argument_error = errors.argument
local format = string.format

-- These functions become methods of the client (sendpulse.client.pipeline
-- copies them onto it): for editors (LuaLS), they are the client's.
---@class sendpulse.Client
local _M = {}

-- client:async()'s view: every method and operation starts the call and
-- returns its handle (the services' forms are in sendpulse/api/meta.lua).
---@class sendpulse.AsyncClient
---@field request fun(self: sendpulse.AsyncClient, method: sendpulse.HttpMethod, path: string,
---   opts?: sendpulse.RequestOptions): sendpulse.Handle

-- The helpers of a service in the async view: each starts a task.
---@class sendpulse.AsyncService
---@field all fun(self: sendpulse.AsyncService, name: string, args?: table,
---   opts?: sendpulse.PageOptions): sendpulse.Handle
---@field raw fun(self: sendpulse.AsyncService, name: string, args?: table,
---   call_opts?: sendpulse.CallOptions): sendpulse.Handle

-- The client's loop, or nil and an error naming what is missing.
local function loop_of(self, what)
  if self.closed then
    return nil, argument_error("attempt to use a closed sendpulse client")
  end
  local t = self.transport
  local lp = type(t) == "table" and t.loop
  if not lp then
    return nil, argument_error(what .. " needs a client made with transport = \"multi\"")
  end
  return lp
end

local function check_callback(on_done, what)
  if on_done ~= nil and type(on_done) ~= "function" then
    return argument_error(what .. ": argument 'on_done' must be a function or nil")
  end
end

--- client:run(fn, on_done) -> handle
---@param self sendpulse.Client
---@param fn fun(): ... runs as a task: every call it makes suspends instead of blocking
---@param on_done? fun(handle: sendpulse.Handle) called when it finishes
---@return sendpulse.Handle handle
function _M.run(self, fn, on_done)
  local lp, err = loop_of(self, "client:run")
  if not lp then return self:fail(err) end
  if type(fn) ~= "function" then
    return self:fail(argument_error("client:run: argument 'fn' must be a function"))
  end
  err = check_callback(on_done, "client:run")
  if err then return self:fail(err) end
  return lp:spawn(fn, on_done)
end

--- client:start(method, path, opts, on_done) -> handle
-- The request's argument errors land in the handle, which is then already
-- done when start returns.
---@param self sendpulse.Client
---@param method sendpulse.HttpMethod
---@param path string
---@param opts? sendpulse.RequestOptions
---@param on_done? fun(handle: sendpulse.Handle)
---@return sendpulse.Handle handle
function _M.start(self, method, path, opts, on_done)
  local lp, err = loop_of(self, "client:start")
  if not lp then return self:fail(err) end
  err = check_callback(on_done, "client:start")
  if err then return self:fail(err) end
  return lp:spawn(function() return self:request(method, path, opts) end, on_done,
    type(method) == "string" and method or nil, type(path) == "string" and path or nil)
end

--- client:poll([timeout]) -> number of calls in flight
-- Advances every transfer, timer and task; waits at most `timeout` seconds
-- (default 0: never) when nothing is ready.
---@param self sendpulse.Client
---@param timeout? number seconds to wait when nothing is ready (default 0)
---@return integer in_flight calls still in flight
function _M.poll(self, timeout)
  local lp, err = loop_of(self, "client:poll")
  if not lp then return self:fail(err) end
  if timeout ~= nil and not (type(timeout) == "number" and timeout >= 0 and timeout < 1e6) then
    return self:fail(argument_error("client:poll: argument 'timeout' must be a number of seconds >= 0 or nil"))
  end
  local n, cb_err = lp:poll(timeout)
  if n == nil then return self:fail(cb_err) end
  return n
end

--- client:async() -> view: view:NAME(...) is client:run of client:NAME(...),
-- and view.SERVICE:op(...) is client:run of client.SERVICE:op(...).
---@param self sendpulse.Client
---@return sendpulse.AsyncClient view
function _M.async(self)
  local lp, err = loop_of(self, "client:async")
  if not lp then return self:fail(err) end
  local view = rawget(self, "async_view")
  if view then return view end
  local services = {}
  view = setmetatable({}, { __name = "sendpulse.async", __index = function(_, key)
    local member = self[key]
    if type(member) == "function" then
      return function(v, ...)
        -- (called with '.', the caller's first argument would be dropped)
        if v ~= view then
          return self:fail(argument_error(format("client:async():%s: call it with ':', not '.':"
            .. " client:async():%s(...)", key, key)))
        end
        local args = { n = select("#", ...), ... }
        -- view:request's handle knows its call, for error messages.
        local method, path
        if key == "request" and type(args[1]) == "string" and type(args[2]) == "string" then
          method, path = args[1], args[2]
        end
        return lp:spawn(function() return member(self, unpack(args, 1, args.n)) end, nil, method, path)
      end
    end
    if type(member) ~= "table" then return nil end
    local sv = services[key]
    if not sv then
      sv = setmetatable({}, { __index = function(_, op)
        if type(member[op]) ~= "function" then return nil end
        local sv_self = services[key]
        return function(v, ...)
          if v ~= sv_self then
            return self:fail(argument_error(format("client:async().%s:%s: call it with ':', not '.':"
              .. " client:async().%s:%s(...)", key, op, key, op)))
          end
          local args = { n = select("#", ...), ... }
          return lp:spawn(function() return member[op](member, unpack(args, 1, args.n)) end)
        end
      end })
      services[key] = sv
    end
    return sv
  end })
  self.async_view = view
  return view
end

--- client:pending() -> number of calls in flight (0 for a closed client)
---@param self sendpulse.Client
---@return integer
function _M.pending(self)
  local t = self.transport
  local lp = type(t) == "table" and t.loop
  if not lp then return 0 end
  return lp.count
end

return _M
