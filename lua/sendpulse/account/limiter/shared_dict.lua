--- One account's rate budget shared by all nginx workers: the GCRA of
-- csrc/sp_limiter.c, with its state (the theoretical arrival time, TAT, on
-- the system-wide monotonic clock) kept in an nginx shared dict, and the
-- quota windows of csrc/sp_window.h as one dict key per bucket (a count
-- that expires when the bucket has aged out).
--
--   limiter:take([lateness]) -> true | nil, wait, window   (see sendpulse.account.budget)
--   limiter:push(seconds)    a request left that much after its slot
--   limiter:peek() -> seconds a request would wait now
--   limiter:state() -> what is left in each window
--
-- Why a lock, and why it is short: GCRA needs "TAT = max(TAT, now) + T" as
-- one atomic step, and a window's check and count go with it. The C
-- limiter does the first with compare-and-swap; a shared dict has no CAS
-- (set/replace/incr cannot express the max). So the step runs under a dict
-- lock: `add(lock_key)` succeeds for exactly one worker
-- (the dict's operations are serialised by its shared-memory mutex), that
-- worker reads the TAT, writes the new one and deletes the lock. Between
-- add and delete there are only dict calls and arithmetic, no yield, so no
-- other coroutine of the same worker can interleave and the lock is held
-- for microseconds; another worker that finds it taken retries (a few
-- spins, then 1 ms sleeps). The lock expires by itself after LOCK_TTL, so a
-- worker killed inside that window cannot wedge the budget.
--
-- If the dict fails (full and unable to evict, or the lock never frees),
-- the worker falls back to its own C limiter at rate / workers, so the
-- account's total stays within budget, and reports it (hook store_error).

local core = require "sendpulse.core"
local rate_rules = require "sendpulse.account.rate"
local nginx = require "sendpulse.nginx"
local stores = require "sendpulse.stores"

local setmetatable, format, tostring, pairs, ipairs = setmetatable, string.format, tostring, pairs, ipairs
local ceil, floor, min, max = math.ceil, math.floor, math.min, math.max
local monotonic = core.monotonic

local _M = {}

local Limiter = {}
Limiter.__index = Limiter
Limiter.__name = "sendpulse.account.limiter.shared_dict"

local LOCK_TTL = 1
local SPINS = 50

-- The windows, their periods, and the buckets a period is counted in (as
-- csrc/sp_window.h).
local WINDOWS = { per_minute = 60, per_hour = 3600, per_day = 86400 }
local BUCKETS = 60

local NAMES = { "dict", "key", "rate", "burst", "guard", "windows", "fallback", "report" }

--- new{ dict = the dict's name, key = string, rate =, burst =,
--       guard = (seconds; default rate_rules.DEFAULT_GUARD),
--       windows = { per_minute =, per_hour =, per_day = },
--       fallback = limiter, report = function(operation, message) }
-- (sendpulse.stores: the interface)
function _M.new(o)
  o = stores.options(o, "limiter.shared_dict.new", NAMES)
  local dict, dict_name = stores.shared_dict(o.dict, "limiter.shared_dict.new")
  local guard = o.guard or rate_rules.DEFAULT_GUARD
  local interval = ceil(1e9 / o.rate) / 1e9 + guard
  local windows = {}
  for name, period in pairs(WINDOWS) do
    local limit = o.windows and o.windows[name]
    if limit then
      windows[#windows + 1] = { name = name, limit = limit, period = period, size = period / BUCKETS,
                                prefix = o.key .. ":" .. name .. ":" }
    end
  end
  return setmetatable({
    dict = dict, name = dict_name, key = o.key, lock_key = o.key .. ":lock",
    rate = o.rate, burst = floor(o.burst), interval = interval, guard_s = guard,
    tolerance = (floor(o.burst) - 1) * interval,
    windows = windows, fallback = o.fallback, report = o.report,
  }, Limiter)
end

local function acquire(self)
  local dict, lock_key = self.dict, self.lock_key
  local deadline = monotonic() + 2 * LOCK_TTL
  local spins = 0
  while true do
    local ok, err = dict:add(lock_key, true, LOCK_TTL)
    if ok then return true end
    if err ~= "exists" then return nil, "lock: " .. tostring(err) end
    if monotonic() > deadline then return nil, "lock: still taken after " .. 2 * LOCK_TTL .. " s" end
    spins = spins + 1
    if spins > SPINS then
      -- The holder is another worker that the OS descheduled: let this
      -- worker's other requests run meanwhile.
      nginx.sleep(0.001)
    end
  end
end

local function degrade(self, why, lateness)
  if self.report then
    self.report("rate", format("shared dict '%s': %s; using this worker's share of the budget",
      self.name, why))
  end
  return self.fallback:take(lateness)
end

-- A window at now: requests counted in the buckets a period touches, and
-- the wait until room (0: room now). Under the lock.
local function window(self, w, now)
  local dict = self.dict
  local cur = floor(now / w.size)
  local counts, used = {}, 0
  for b = cur - BUCKETS, cur do
    local n = dict:get(w.prefix .. b) or 0
    counts[b] = n
    used = used + n
  end
  if used < w.limit then return used, 0, cur end
  local sum, k = used, 0
  while k < BUCKETS do
    sum = sum - counts[cur - BUCKETS + k]
    if sum < w.limit then break end
    k = k + 1
  end
  return used, (cur + k + 1) * w.size - now, cur
end

--- The guard in force (seconds): this limiter's own.
function Limiter:guard()
  return self.guard_s
end

function Limiter:take(lateness)
  local ok, err = acquire(self)
  if not ok then return degrade(self, err, lateness) end
  local dict = self.dict
  local now = monotonic()
  local worst, which, buckets = 0, nil, {}
  for i, w in ipairs(self.windows) do
    local _, wait, cur = window(self, w, now)
    buckets[i] = cur
    if wait > worst then worst, which = wait, w.name end
  end
  if worst > 0 then
    dict:delete(self.lock_key)
    return nil, worst, which
  end
  local tat = dict:get(self.key) or 0
  local base = tat > now and tat or now
  local at = base - self.tolerance - min(lateness or 0, self.interval / 2)
  if at > now then
    dict:delete(self.lock_key)
    return nil, at - now, "per_second"
  end
  local new_tat = base + self.interval
  -- Once the TAT is in the past the budget is idle and the key can go.
  local stored
  stored, err = dict:set(self.key, new_tat, new_tat - now + 1)
  for i, w in ipairs(self.windows) do
    if stored then
      -- A bucket's count lives as long as a period can touch it.
      stored, err = dict:incr(w.prefix .. buckets[i], 1, 0, w.period + 2 * w.size)
    end
  end
  dict:delete(self.lock_key)
  if not stored then return degrade(self, "set: " .. tostring(err), lateness) end
  return true
end

--- A request left `seconds` after its slot: the schedule moves on by as
-- much.
function Limiter:push(seconds)
  local ok, err = acquire(self)
  if not ok then
    if self.report then self.report("rate", format("shared dict '%s': %s", self.name, err)) end
    return self.fallback:push(seconds)
  end
  local dict = self.dict
  local tat = dict:get(self.key)
  if tat then
    local now = monotonic()
    dict:set(self.key, tat + seconds, tat + seconds - now + 1)
  end
  dict:delete(self.lock_key)
end

--- Seconds a request would wait now; takes nothing.
function Limiter:peek()
  local s = self:state()
  local wait = s.per_second.wait
  for _, w in ipairs(self.windows) do
    if s[w.name].wait > wait then wait = s[w.name].wait end
  end
  return wait
end

--- What is left in each window (see sendpulse.account.budget). Read
-- without the lock: a snapshot, not a promise.
function Limiter:state()
  local now = monotonic()
  local tat = self.dict:get(self.key) or 0
  local base = tat > now and tat or now
  local at = base - self.tolerance
  local left = 0
  if now + self.tolerance >= base then left = floor((now + self.tolerance - base) / self.interval) + 1 end
  local s = { per_second = { limit = self.rate, burst = self.burst, left = min(self.burst, left),
                             wait = at > now and at - now or 0 } }
  for _, w in ipairs(self.windows) do
    local used, wait = window(self, w, now)
    s[w.name] = { limit = w.limit, used = used, left = max(0, w.limit - used), wait = wait,
                  period = w.period }
  end
  return s
end

Limiter.__tostring = function(self)
  return format("%s (%s, %g requests/s)", Limiter.__name, self.name, 1 / self.interval)
end

return _M
