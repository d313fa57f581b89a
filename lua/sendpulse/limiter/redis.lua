--- The rate budget of an account shared by every host through Redis: the
-- GCRA state (one TAT, as in csrc/sp_limiter.h) is a Redis key updated by a
-- script that reads Redis's own TIME, so the hosts' clocks never meet and
-- may disagree. The script answers the wait; the caller sleeps it.
--
--   local lim = require("sendpulse.limiter.redis").new {
--     conn = conn, key = "sendpulse:rate:<account>", rate = 10, burst = 1,
--     fallback = limiter, report = function(event) end }
--   lim:reserve([max_wait]) -> wait | nil, needed   (the limiter interface)
--
-- When Redis fails, requests go on through the fallback limiter (the host
-- or process budget) and `report` hears a limiter_error event (on the first
-- failure, then every REPORT_EVERY seconds while it lasts); when Redis
-- answers again it takes over at once and report hears limiter_recovered.

local core = require "sendpulse.core"

local tonumber, setmetatable, tostring = tonumber, setmetatable, tostring
local ceil, floor = math.ceil, math.floor
local monotonic = core.monotonic

local _M = {}

_M.REPORT_EVERY = 10

-- KEYS[1] the budget; ARGV: interval, tolerance, max_wait (-1: none), all
-- in microseconds. Returns { 1, wait } reserved, or { 0, wait } over max_wait.
-- Numbers stay below 2^53 (microseconds since 1970), exact in Redis's Lua.
_M.SCRIPT = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait then return { 0, wait } end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.floor((new - now) / 1000) + 1000)
return { 1, wait }
]]

local RedisLimiter = {}
RedisLimiter.__index = RedisLimiter
RedisLimiter.__name = "sendpulse.limiter.redis"

--- new{ conn, key, rate, burst, guard (seconds, default 0.0008), fallback,
-- fallback_kind ("host" or "process", for the report), report }
function _M.new(o)
  local guard = o.guard or 0.0008
  local interval = ceil(1e6 / o.rate) + floor(guard * 1e6)
  return setmetatable({
    conn = o.conn, key = o.key, interval = interval,
    tolerance = (floor(o.burst) - 1) * interval,
    fallback = o.fallback, fallback_kind = o.fallback_kind, report = o.report or function() end,
    down = false, reported_at = -1e9,
  }, RedisLimiter)
end

function RedisLimiter:reserve(max_wait)
  local max_us = max_wait and max_wait >= 0 and floor(max_wait * 1e6) or -1
  local reply, err = self.conn:script(_M.SCRIPT, 1, self.key, self.interval, self.tolerance, max_us)
  if reply and tonumber(reply[2]) then
    if self.down then
      self.down = false
      self.report { event = "limiter_recovered", shared = "redis" }
    end
    local wait = tonumber(reply[2]) / 1e6
    if tonumber(reply[1]) == 1 then return wait end
    return nil, wait
  end
  local now = monotonic()
  if not self.down or now - self.reported_at >= _M.REPORT_EVERY then
    self.reported_at = now
    self.report { event = "limiter_error", shared = "redis", fallback = self.fallback_kind,
                  message = tostring(err or "unexpected reply from the rate script") }
  end
  self.down = true
  return self.fallback:reserve(max_wait)
end

RedisLimiter.__tostring = function(self)
  return "sendpulse.limiter.redis (" .. tostring(self.conn) .. (self.down and ", down)" or ")")
end

return _M
