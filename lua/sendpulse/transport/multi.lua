--- transport = "multi": libcurl's multi interface behind the ordinary
-- transport interface, so the client pipeline runs unchanged.
--
-- Inside a task of the loop (client:start, client:run) perform and sleep
-- suspend the task; outside one (the main thread, or a coroutine of the
-- host's own) they drive the loop until done, so a plain blocking call
-- still works and lets the other calls in flight progress meanwhile.

local core = require "sendpulse.core"
local loop = require "sendpulse.transport.loop"

local setmetatable, pcall, error = setmetatable, pcall, error
local is_error = require("sendpulse.errors").is_error

local _M = {}

local Transport = {}
Transport.__index = Transport
Transport.__name = "sendpulse.transport.multi"

--- new(settings, raise): settings as sendpulse.transport.curl's.
function _M.new(settings, raise)
  local m = core.multi(settings)
  -- bearer_from_auth: its C side writes the Authorization line from the
  -- account's auth object (sendpulse.transport.takes_auth).
  return setmetatable({ multi = m, loop = loop.new(m, raise), bearer_from_auth = true }, Transport)
end

-- What Loop:block gave: its values, or for a client closed while it drove
-- the loop (from a hook or a completion callback) perform's failure form
-- with kind "cancelled", never a raise out of a safe client.
local function settled(ok, ...)
  if ok then return ... end
  local e = ...
  if is_error(e) and e.kind == "cancelled" then return nil, "cancelled", e.message, true end
  error(e, 0)
end

function Transport:perform(method, url, headers, body, timeout, connect_timeout, fresh)
  local lp = self.loop
  local h = lp:current()
  if h then return lp:transfer(h, method, url, headers, body, timeout, connect_timeout, fresh) end
  return settled(pcall(lp.block, lp, function()
    return lp:transfer(lp:current(), method, url, headers, body, timeout, connect_timeout, fresh)
  end))
end

--- A blocking call inside a completion callback cannot drive the loop that
-- runs the callback: the client refuses it before any I/O, as an error
-- object (a safe client returns it).
function Transport:usable()
  return self.loop:usable()
end

--- The client's sleep: a timer instead of blocking the process.
function Transport:sleep(seconds)
  local lp = self.loop
  local h = lp:current()
  if h then return lp:sleep(h, seconds) end
  return settled(pcall(lp.block, lp, function() return lp:sleep(lp:current(), seconds) end))
end

function Transport:close()
  self.loop:close()
end

function Transport:connections()
  return self.multi:connections()
end

return _M
