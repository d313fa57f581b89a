--- transport = "multi": libcurl's multi interface behind the ordinary
-- transport interface, so the client pipeline runs unchanged.
--
-- Inside a task of the loop (client:start, client:run) perform and sleep
-- suspend the task; outside one (the main thread, or a coroutine of the
-- host's own) they drive the loop until done, so a plain blocking call
-- still works and lets the other calls in flight progress meanwhile.

local core = require "sendpulse.core"
local loop = require "sendpulse.transport.loop"

local setmetatable = setmetatable

local _M = {}

local Transport = {}
Transport.__index = Transport
Transport.__name = "sendpulse.transport.multi"

--- new(settings, raise): settings as sendpulse.transport.curl's.
function _M.new(settings, raise)
  local m = core.multi(settings)
  return setmetatable({ multi = m, loop = loop.new(m, raise) }, Transport)
end

function Transport:perform(method, url, headers, body, timeout, connect_timeout)
  local lp = self.loop
  local h = lp:current()
  if h then return lp:transfer(h, method, url, headers, body, timeout, connect_timeout) end
  return lp:block(function()
    return lp:transfer(lp:current(), method, url, headers, body, timeout, connect_timeout)
  end)
end

--- The client's sleep: a timer instead of blocking the process.
function Transport:sleep(seconds)
  local lp = self.loop
  local h = lp:current()
  if h then return lp:sleep(h, seconds) end
  return lp:block(function() return lp:sleep(lp:current(), seconds) end)
end

function Transport:close()
  self.loop:close()
end

function Transport:connections()
  return self.multi:connections()
end

return _M
