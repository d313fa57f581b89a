--- The rate budget of an account shared by every host through Redis: the
-- GCRA state (one TAT, as in csrc/sp_limiter.h) is a Redis key updated by a
-- script that reads Redis's own TIME, so the hosts' clocks never meet and
-- may disagree. The script answers the wait; the caller sleeps it.
--
--   local lim = require("sendpulse.account.limiter.redis").new {
--     conn = conn, key = "sendpulse:rate:<account>", rate = 10, burst = 1,
--     fallback = limiter, report = function(event) end }
--   lim:reserve([max_wait]) -> wait | nil, needed   (the limiter interface)
--
-- When Redis fails, requests go on through the fallback limiter (the host
-- or process budget) and `report` hears a limiter_error event (on the first
-- failure, then every REPORT_EVERY seconds while it lasts); when Redis
-- answers again it takes over at once and report hears limiter_recovered.
--
-- Hand-overs keep the slots already given out: the fallback is deferred
-- until Redis's budget would have freed (as last seen) plus HANDOVER (for
-- slots taken since by other processes), and Redis, when it returns, gives
-- no slot before every process can have seen it back and sent its last
-- fallback slot, plus HANDOVER: a pause of one to two seconds at each end
-- of an outage, so the budget never overflows a server window.

local core = require "sendpulse.core"
local options = require "sendpulse.options"
local redis_connection = require "sendpulse.account.redis_connection"

local tonumber, setmetatable, tostring = tonumber, setmetatable, tostring
local ceil, floor = math.ceil, math.floor
local monotonic = core.monotonic

local _M = {}

_M.REPORT_EVERY = 10
_M.HANDOVER = 1

-- KEYS[1] the budget; ARGV: interval, tolerance, max_wait (-1: none), not
-- before (a wait the budget must at least impose: the fallback's slots still
-- in use when Redis comes back), all in microseconds. Returns { 1, wait,
-- ahead } reserved (ahead: how far the budget now runs ahead of Redis's
-- clock, every host's reservations included), or { 0, wait } over max_wait.
-- Numbers stay below 2^53 (microseconds since 1970), exact in Redis's Lua.
_M.SCRIPT = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local not_before = tonumber(ARGV[4])
if not_before > 0 and tat < now + not_before + tolerance then tat = now + not_before + tolerance end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait then return { 0, wait } end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.floor((new - now) / 1000) + 1000)
return { 1, wait, new - now }
]]

local RedisLimiter = {}
RedisLimiter.__index = RedisLimiter
RedisLimiter.__name = "sendpulse.account.limiter.redis"

--- new{ conn, key, rate, burst, guard (seconds, default options.DEFAULT_GUARD), fallback,
-- fallback_kind ("host" or "process", for the report), report }
function _M.new(o)
  local guard = o.guard or options.DEFAULT_GUARD
  local interval = ceil(1e6 / o.rate) + floor(guard * 1e6)
  return setmetatable({
    conn = o.conn, key = o.key, interval = interval,
    tolerance = (floor(o.burst) - 1) * interval,
    fallback = o.fallback, fallback_kind = o.fallback_kind, report = o.report or function() end,
    down = false, reported_at = -1e9, redis_free_at = 0,
  }, RedisLimiter)
end

function RedisLimiter:reserve(max_wait)
  local max_us = max_wait and max_wait >= 0 and floor(max_wait * 1e6) or -1
  local not_before = 0
  if self.down then
    -- Back from an outage: the other processes may stay on their fallback
    -- budgets until their next attempt (within RETRY_INTERVAL) and then
    -- send the slot they hold (within a fallback interval, as ours: peek).
    -- Redis gives no slot before that, plus HANDOVER, so the two streams
    -- never add up within one server window.
    not_before = floor((self.fallback:peek() + redis_connection.RETRY_INTERVAL + _M.HANDOVER) * 1e6)
  end
  local reply, err = self.conn:script(_M.SCRIPT, 1, self.key, self.interval, self.tolerance,
                                      max_us, not_before)
  local now = monotonic()
  if reply and tonumber(reply[2]) then
    if self.down then
      self.down = false
      self.report { event = "limiter_recovered", shared = "redis" }
    end
    local wait = tonumber(reply[2]) / 1e6
    if tonumber(reply[1]) == 1 then
      -- When Redis's budget frees next, as far as this process knows.
      self.redis_free_at = now + (tonumber(reply[3]) or 0) / 1e6
      return wait
    end
    return nil, wait
  end
  if not self.down then
    -- Slots other processes took after our last look are still to be
    -- sent: leave them HANDOVER seconds (one server window) more.
    local free = self.redis_free_at - now
    self.fallback:defer((free > 0 and free or 0) + _M.HANDOVER)
  end
  if not self.down or now - self.reported_at >= _M.REPORT_EVERY then
    self.reported_at = now
    self.report { event = "limiter_error", shared = "redis", fallback = self.fallback_kind,
                  message = tostring(err or "unexpected reply from the rate script") }
  end
  self.down = true
  return self.fallback:reserve(max_wait)
end

RedisLimiter.__tostring = function(self)
  return RedisLimiter.__name .. " (" .. tostring(self.conn) .. (self.down and ", down)" or ")")
end

return _M
