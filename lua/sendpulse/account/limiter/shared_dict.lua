--- One account's rate budget shared by all nginx workers: the GCRA of
-- csrc/sp_limiter.c, with its state (the theoretical arrival time, TAT, on
-- the system-wide monotonic clock) kept in an nginx shared dict.
--
--   limiter:reserve([max_wait]) -> seconds to wait before sending (0: now)
--                                  | nil, seconds that would be needed
--
-- Why a lock, and why it is short: GCRA needs "TAT = max(TAT, now) + T" as
-- one atomic step. The C limiter does it with compare-and-swap; a shared
-- dict has no CAS (set/replace/incr cannot express the max). So the step
-- runs under a dict lock: `add(lock_key)` succeeds for exactly one worker
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
local options = require "sendpulse.options"
local nginx = require "sendpulse.transport.nginx"

local setmetatable, format, tostring, ceil, floor = setmetatable, string.format, tostring, math.ceil, math.floor
local huge = math.huge
local monotonic = core.monotonic

local _M = {}

local Limiter = {}
Limiter.__index = Limiter
Limiter.__name = "sendpulse.account.limiter.shared_dict"

-- Same default as core.limiter: absorbs jitter between our clock and the
-- server's one-second windows. (rate_limit.guard is not applied here; the
-- worker's fallback share honours it.)
local GUARD = options.DEFAULT_GUARD
local LOCK_TTL = 1
local SPINS = 50

--- new{ dict = shared dict, name = dict name, key = string, rate =, burst =,
--       fallback = limiter, report = function(operation, message) }
function _M.new(o)
  local interval = ceil(1e9 / o.rate) / 1e9 + GUARD
  return setmetatable({
    dict = o.dict, name = o.name, key = o.key, lock_key = o.key .. ":lock",
    interval = interval, tolerance = (floor(o.burst) - 1) * interval,
    fallback = o.fallback, report = o.report,
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

local function degrade(self, why, max_wait)
  if self.report then
    self.report("rate", format("shared dict '%s': %s; using this worker's share of the budget",
      self.name, why))
  end
  return self.fallback:reserve(max_wait)
end

function Limiter:reserve(max_wait)
  max_wait = max_wait or huge
  local ok, err = acquire(self)
  if not ok then return degrade(self, err, max_wait) end
  local dict = self.dict
  local now = monotonic()
  local tat = dict:get(self.key) or 0
  local base = tat > now and tat or now
  local at = base - self.tolerance
  local wait = at > now and at - now or 0
  if wait > max_wait then
    dict:delete(self.lock_key)
    return nil, wait
  end
  local new_tat = base + self.interval
  -- Once the TAT is in the past the budget is idle and the key can go.
  local stored
  stored, err = dict:set(self.key, new_tat, new_tat - now + 1)
  dict:delete(self.lock_key)
  if not stored then return degrade(self, "set: " .. tostring(err), max_wait) end
  return wait
end

--- Seconds a request would wait now; reserves nothing.
function Limiter:peek()
  local now = monotonic()
  local tat = self.dict:get(self.key) or 0
  local at = (tat > now and tat or now) - self.tolerance
  return at > now and at - now or 0
end

Limiter.__tostring = function(self)
  return format("%s (%s, %g requests/s)", Limiter.__name, self.name, 1 / self.interval)
end

return _M
