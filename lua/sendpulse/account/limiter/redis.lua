--- The rate budget of an account shared by every host through Redis: the
-- GCRA state (one TAT, as in csrc/sp_limiter.h) is a Redis key updated by a
-- script that reads Redis's own TIME, so the hosts' clocks never meet and
-- may disagree. The quota windows (per minute, hour, day; see
-- csrc/sp_window.h) are a hash of bucket counts each, checked and counted
-- by the same script, so a request is counted everywhere or nowhere.
--
--   local lim = require("sendpulse.account.limiter.redis").new {
--     connection = conn, key = "sendpulse:rate:<account>", rate = 10, burst = 1,
--     guard = 0.003, windows = { per_day = 500000 },
--     fallback = limiter, report = function(event) end }
--   lim:take([lateness]) -> true | nil, wait, window   (the limiter interface)
--   lim:push(seconds)                           (a request left that late)
--   lim:state() -> { per_second = {...}, per_day = {...} }
--
-- When Redis fails, requests go on through the fallback limiter (the host
-- or process budget) and `report` hears a limiter_error event (on the first
-- failure, then every REPORT_EVERY seconds while it lasts); when Redis
-- answers again it takes over at once and report hears limiter_recovered.
-- While Redis is down the fallback counts its own windows, from zero.
-- Failing includes answering what the scripts cannot return (an empty
-- array, an integer, QUEUED, a negative or day-long wait) and a connection
-- object that raises: the reply is checked before it is used, so that the
-- budget never takes nonsense for a slot or a wait, and never raises.
--
-- Hand-overs keep the slots already given out: the fallback is deferred
-- until Redis's budget would have freed (as last seen) plus HANDOVER (for
-- slots taken since by other processes), and Redis, when it returns, gives
-- no slot before every process can have seen it back and sent its last
-- fallback slot, plus HANDOVER: a pause of one to two seconds at each end
-- of an outage, so the budget never overflows a server window.

local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local rate_rules = require "sendpulse.account.rate"
local redis_connection = require "sendpulse.redis"
local stores = require "sendpulse.stores"

local setmetatable, tostring, type, pcall = setmetatable, tostring, type, pcall
local ceil, floor, min, max = math.ceil, math.floor, math.min, math.max
local monotonic = core.monotonic
local describe = redis_connection.describe

local _M = {}

_M.REPORT_EVERY = 10
_M.HANDOVER = 1

-- What both scripts share: the time, and the windows' counts.
--   KEYS[1] the budget (TAT), KEYS[2..4] the per_minute, per_hour and
--   per_day counts (a hash: bucket number -> count);
--   ARGV[1] interval, ARGV[2] tolerance, ARGV[3] not before (microseconds),
--   ARGV[4..6] the windows' limits (0: none).
-- Numbers stay below 2^53 (microseconds since 1970), exact in Redis's Lua.
local COMMON = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local PERIODS, BUCKETS = { 60000000, 3600000000, 86400000000 }, 60
-- The window i at now: its limit, current bucket, counted requests, the
-- wait until room (0: room now), and the fields too old to keep.
local function window(i)
  local limit = tonumber(ARGV[3 + i])
  if limit == 0 then return nil end
  local size = PERIODS[i] / BUCKETS
  local cur = math.floor(now / size)
  local fields = redis.call('HGETALL', KEYS[1 + i])
  local counts, sum, old = {}, 0, {}
  for j = 1, #fields, 2 do
    local b, n = tonumber(fields[j]), tonumber(fields[j + 1])
    if b >= cur - BUCKETS and b <= cur then
      counts[b] = n
      sum = sum + n
    else
      old[#old + 1] = fields[j]
    end
  end
  local w = { limit = limit, cur = cur, used = sum, wait = 0, old = old, size = size }
  if sum >= limit then
    local k = 0
    while k < BUCKETS do
      sum = sum - (counts[cur - BUCKETS + k] or 0)
      if sum < limit then break end
      k = k + 1
    end
    w.wait = (cur + k + 1) * size - now
  end
  return w
end
local interval, tolerance, not_before = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
]]

-- Takes a slot now. Returns { 1, 0, ahead } (taken; ahead: how far the
-- budget now runs ahead of Redis's clock), or { 0, wait, window } (window
-- 0: the per-second budget, 1-3: a quota window). A not_before (the
-- fallback's slots still in use when Redis comes back) is written to the
-- budget, for every process, even when nothing is taken.
_M.SCRIPT = COMMON .. [[
local worst, which, windows = 0, 0, {}
for i = 1, 3 do
  local w = window(i)
  windows[i] = w
  if w and w.wait > worst then worst, which = w.wait, i end
end
if not_before > 0 and tat < now + not_before + tolerance then
  tat = now + not_before + tolerance
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
end
if worst > 0 then return { 0, worst, which } end
local wait = tat - tolerance - now
if wait > 0 then return { 0, wait, 0 } end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.floor((new - now) / 1000) + 1000)
for i = 1, 3 do
  local w = windows[i]
  if w then
    redis.call('HINCRBY', KEYS[1 + i], string.format('%.0f', w.cur), 1)
    if #w.old > 0 then redis.call('HDEL', KEYS[1 + i], unpack(w.old)) end
    redis.call('PEXPIRE', KEYS[1 + i], math.floor((PERIODS[i] + w.size) / 1000) + 1000)
  end
end
return { 1, 0, new - now }
]]

-- What is left, taking nothing: { wait, left, used1, wait1, used2, wait2,
-- used3, wait3 } (microseconds; a window without a limit gives 0, 0).
_M.STATE_SCRIPT = COMMON .. [[
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local left = 0
if now + tolerance >= tat then left = math.floor((now + tolerance - tat) / interval) + 1 end
local out = { wait, left }
for i = 1, 3 do
  local w = window(i)
  out[#out + 1] = w and w.used or 0
  out[#out + 1] = w and w.wait or 0
end
return out
]]

-- Moves the schedule on by ARGV[1] microseconds (a request left that much
-- after its slot): KEYS[1] the budget.
_M.PUSH_SCRIPT = [[
local v = tonumber(redis.call('GET', KEYS[1]) or '')
if not v then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local new = v + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.max(1, math.floor((new - now) / 1000) + 1000))
return 1
]]

local WINDOWS = { "per_minute", "per_hour", "per_day" }
local PERIODS = { 60, 3600, 86400 }

-- The longest wait or lead a script can return (microseconds): the day of
-- the longest window, and a day more for the hand-overs and the burst.
local MAX_MICROS = 2 * 86400 * 1e6

-- A whole number from 0 to most.
local function count(v, most)
  return type(v) == "number" and v >= 0 and v <= most and v == floor(v)
end

-- SCRIPT's reply { 1, 0, ahead } or { 0, wait, window }, checked: taken (1
-- or 0) and the other two, or nil when it is not one.
local function slot_reply(r)
  if type(r) ~= "table" or #r ~= 3 or not (count(r[2], MAX_MICROS) and count(r[3], MAX_MICROS)) then
    return nil
  end
  if r[1] == 1 and r[2] == 0 then return 1, 0, r[3] end
  if r[1] == 0 and r[3] <= 3 then return 0, r[2], r[3] end
  return nil
end

-- STATE_SCRIPT's reply: 8 whole numbers (waits within MAX_MICROS), or nil.
local function state_reply(r)
  if type(r) ~= "table" or #r ~= 8 then return nil end
  for i = 1, 8 do
    if not count(r[i], i == 2 and 2 ^ 53 or MAX_MICROS) then return nil end
  end
  return r
end

-- The reason a reply could not be used, for the limiter_error event.
local function unexpected(reply, err, script)
  if err ~= nil then return err end
  return "redis: unexpected reply to the " .. script .. ": " .. describe(reply)
end

local RedisLimiter = {}
RedisLimiter.__index = RedisLimiter
RedisLimiter.__name = "sendpulse.account.limiter.redis"

local NAMES = { "connection", "host", "port", "password", "db", "timeout", "key", "rate", "burst", "guard",
                "windows", "fallback", "fallback_kind", "report" }

--- new{ connection (or host, port, password, db, timeout), key, rate, burst, guard (seconds; default
-- rate_rules.DEFAULT_GUARD), windows = { per_minute =, per_hour =, per_day =
-- }, fallback, fallback_kind ("host" or "process", for the report), report }
-- (sendpulse.stores: the interface)
function _M.new(o)
  o = stores.options(o, "limiter.redis.new", NAMES)
  local conn = stores.redis_connection(o, "limiter.redis.new", true)
  local guard = o.guard or rate_rules.DEFAULT_GUARD
  local interval = ceil(1e6 / o.rate) + floor(guard * 1e6)
  local windows = o.windows or {}
  local limits = {}
  for i = 1, 3 do limits[i] = windows[WINDOWS[i]] or 0 end
  return setmetatable({
    conn = conn, key = o.key, interval = interval, rate = o.rate, burst = floor(o.burst),
    guard_s = guard, tolerance = (floor(o.burst) - 1) * interval,
    limits = limits,
    fallback = o.fallback, fallback_kind = o.fallback_kind, report = o.report or function() end,
    down = false, reported_at = -1e9, redis_free_at = 0,
  }, RedisLimiter)
end

-- Runs one of the scripts with the budget's keys and arguments; lateness
-- (seconds) widens the tolerance for this call (see csrc/sp_limiter.h).
-- reply | nil, message (a connection object that raised, too).
local function run(self, script, not_before, lateness)
  local l, key = self.limits, self.key
  local late = min(floor((lateness or 0) * 1e6), self.interval - 1)
  local ok, reply, err = pcall(self.conn.script, self.conn, script, 4, key, key .. ":per_minute",
    key .. ":per_hour", key .. ":per_day", self.interval, self.tolerance + late, not_before, l[1], l[2], l[3])
  if not ok then return nil, "redis: " .. errors.describe(reply) end
  return reply, err
end

--- The guard in force (seconds): this limiter's own.
function RedisLimiter:guard()
  return self.guard_s
end

-- Redis failed: tell (once, then every REPORT_EVERY s) and hand over to
-- the fallback.
local function failed(self, err, now)
  if not self.down then
    -- Slots other processes took after our last look are still to be
    -- sent: leave them HANDOVER seconds (one server window) more.
    local free = self.redis_free_at - now
    self.fallback:defer((free > 0 and free or 0) + _M.HANDOVER)
  end
  if not self.down or now - self.reported_at >= _M.REPORT_EVERY then
    self.reported_at = now
    self.report { event = "limiter_error", shared = "redis", fallback = self.fallback_kind,
                  message = tostring(err) }
  end
  self.down = true
end

local function recovered(self)
  if self.down then
    self.down = false
    self.report { event = "limiter_recovered", shared = "redis" }
  end
end

function RedisLimiter:take(lateness)
  local not_before = 0
  if self.down then
    -- Back from an outage: the other processes may stay on their fallback
    -- budgets until their next attempt (within RETRY_INTERVAL) and then
    -- send the slot they hold (within a fallback interval, as ours: peek).
    -- Redis gives no slot before that, plus HANDOVER, so the two streams
    -- never add up within one server window.
    not_before = floor((self.fallback:peek() + redis_connection.RETRY_INTERVAL + _M.HANDOVER) * 1e6)
  end
  local reply, err = run(self, _M.SCRIPT, not_before, lateness)
  local now = monotonic()
  local taken, wait, third = slot_reply(reply)
  if taken then
    recovered(self)
    if taken == 1 then
      -- When Redis's budget frees next, as far as this process knows.
      self.redis_free_at = now + third / 1e6
      return true
    end
    return nil, wait / 1e6, WINDOWS[third] or "per_second"
  end
  failed(self, unexpected(reply, err, "rate script"), now)
  return self.fallback:take(lateness)
end

--- A request left `seconds` after its slot: the schedule moves on by as
-- much (in Redis, or in the fallback while Redis is down).
function RedisLimiter:push(seconds)
  if self.down then return self.fallback:push(seconds) end
  local ok, reply, err = pcall(self.conn.script, self.conn, _M.PUSH_SCRIPT, 1, self.key, floor(seconds * 1e6))
  if not ok then reply, err = nil, "redis: " .. errors.describe(reply) end
  if reply ~= 0 and reply ~= 1 then failed(self, unexpected(reply, err, "push script"), monotonic()) end
end

--- Seconds a request would wait now (the fallback's while Redis is down).
function RedisLimiter:peek()
  local s = self:state()
  local wait = s.per_second.wait
  for i = 1, 3 do
    local w = s[WINDOWS[i]]
    if w and w.wait > wait then wait = w.wait end
  end
  return wait
end

--- What is left in each window (see sendpulse.account.budget); while
-- Redis is down, the fallback's, with fallback = true.
function RedisLimiter:state()
  local reply, err = run(self, _M.STATE_SCRIPT, 0)
  local r = state_reply(reply)
  if not r then
    failed(self, unexpected(reply, err, "state script"), monotonic())
    local s = self.fallback:state()
    s.fallback = true
    return s
  end
  recovered(self)
  local s = { per_second = { limit = self.rate, burst = self.burst, left = min(self.burst, r[2]),
                             wait = r[1] / 1e6 } }
  for i = 1, 3 do
    local limit = self.limits[i]
    if limit > 0 then
      local used = r[1 + 2 * i]
      s[WINDOWS[i]] = { limit = limit, used = used, left = max(0, limit - used),
                        wait = r[2 + 2 * i] / 1e6, period = PERIODS[i] }
    end
  end
  return s
end

RedisLimiter.__tostring = function(self)
  return RedisLimiter.__name .. " (" .. tostring(self.conn) .. (self.down and ", down)" or ")")
end

return _M
