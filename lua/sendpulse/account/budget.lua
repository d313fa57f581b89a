--- The account's rate budget as a call meets it: take a slot when the
-- request leaves, wait in line for one, or fail at once when the wait would
-- pass the call's deadline.
--
--   local b = budget.new(limiter, cfg.rate_limit, line)   -- line: budget.line()
--   b:take(deadline, sleep, call) -> true, waited | nil, err
--   b:late(seconds)    the request left that long after taking its slot
--   b:state() -> { per_second = {...}, per_minute = {...}, ..., queued = n }
--
-- The limiter (csrc/sp_limiter_lua.c for a process or a host, limiter/redis.lua,
-- limiter/shared_dict.lua) counts a request only when it leaves
-- (limiter:take()), never ahead of time: a call that leaves late (a game
-- loop polls once a frame, a worker is busy) cannot meet a call whose slot
-- was computed from the late one's, in any transport and any shared budget.
-- A frame loop's calls (rate_limit.late) may leave up to the lateness of
-- sendpulse.account.rate early on the schedule, so that waking at the next
-- poll does not even slow it.
-- A request that leaves well after taking its slot (its connection and TLS
-- set up first: the transport says how long) moves the schedule on by as
-- much (b:late), so the budget counts it from when the server sees it.
--
-- Taking only at the last moment would make every waiting call of this Lua
-- state try at once whenever a slot frees. So calls of this Lua state
-- (coroutines of one loop, light threads of one nginx worker) wait in line,
-- first come first served: each is given a turn one interval after the one
-- before it and tries the limiter then; when other processes took the slot
-- meanwhile it waits as long as the limiter says and tries again. A call
-- whose turn (or a quota window) is past its deadline fails at once with
-- an error saying which budget and how long (fields window, retry_after).
-- How long other processes' calls will hold the shared budget is not known
-- here: such a call waits, and fails when its deadline comes.

local core = require "sendpulse.core"
local errors = require "sendpulse.errors"
local rate_rules = require "sendpulse.account.rate"

local setmetatable, pcall, error, tostring = setmetatable, pcall, error, tostring
local format, ceil = string.format, math.ceil
local monotonic = core.monotonic
local new_error = errors.new

local _M = {}

-- A request that leaves more than this after its slot moves the schedule
-- on (Budget:late); up to it, the jitter margin of sendpulse.account.rate
-- covers it.
_M.LATE = 0.001

local Budget = {}
Budget.__index = Budget
Budget.__name = "sendpulse.account.budget"

--- A line of waiting calls; clients of one account in this Lua state
-- share one (sendpulse.account keeps them).
function _M.line()
  return {
    queued = 0,        -- calls waiting for a slot
    next_turn = 0,     -- when the last of them is due, plus one interval
  }
end

--- new(limiter, rate_limit settings (sendpulse.client.options), line)
function _M.new(limiter, rl, line)
  -- The limiter's guard, not rl's: a process budget takes the widest of
  -- its clients'. (It only ever widens, so a lateness worked out now stays
  -- safe.)
  local guard = limiter:guard()
  return setmetatable({
    limiter = limiter, rate = rl.rate, interval = 1 / rl.rate + guard, line = line,
    lateness = rl.late and rate_rules.lateness(rl.rate, guard) or 0,
  }, Budget)
end

local function duration(s)
  if s < 10 then return format("%.2f s", s) end
  if s < 120 then return format("%.0f s", s) end
  if s < 7200 then return format("%d min", ceil(s / 60)) end
  return format("%.1f h", s / 3600)
end

-- The error of a call that cannot start before its deadline.
local function too_late(self, which, wait, left, call)
  local message
  if which == "per_second" then
    message = format("not sent: the account's budget of %g requests/s has no slot for it for %s"
      .. " (%d calls of this process ahead), and its timeout leaves %s", self.rate, duration(wait),
      self.line.queued, duration(left > 0 and left or 0))
  else
    message = format("not sent: the account's %s quota is used up, room again in %s (rate_limit.%s)",
      which, duration(wait), which)
  end
  return new_error {
    -- A quota used up is a limit, whatever the timeout; a queue longer
    -- than the timeout is the timeout's doing.
    kind = which == "per_second" and "timeout" or "rate_limit",
    method = call.method, path = call.path, message = message,
    window = which, retry_after = wait, stage = "rate",
    retryable = true, maybe_sent = false,
  }
end

local function wait_in_line(self, turn, deadline, sleep, call)
  local lim, lateness = self.limiter, self.lateness
  local now = monotonic()
  if turn > now then sleep(turn - now) end
  while true do
    local ok, wait, which = lim:take(lateness)
    if ok then return true, true end
    now = monotonic()
    if now + wait > deadline then return nil, too_late(self, which, wait, deadline - now, call) end
    sleep(wait)
  end
end

--- take(deadline, sleep, call) -> true, waited | nil, err
-- deadline: monotonic seconds; sleep(seconds): the client's way to wait;
-- call: { method =, path = } for the error.
function Budget:take(deadline, sleep, call)
  local line = self.line
  local wait, which
  if line.queued == 0 then
    local ok
    ok, wait, which = self.limiter:take(self.lateness)
    if ok then return true, false end
  end
  local now = monotonic()
  local turn = now + (wait or 0)
  if line.queued > 0 and line.next_turn > turn then turn = line.next_turn end
  if turn > deadline then
    return nil, too_late(self, which or "per_second", turn - now, deadline - now, call)
  end
  line.queued = line.queued + 1
  line.next_turn = turn + self.interval
  -- A wait may raise (the call was cancelled): leave the line either way.
  local ok, taken, err = pcall(wait_in_line, self, turn, deadline, sleep, call)
  line.queued = line.queued - 1
  if not ok then error(taken, 0) end
  return taken, err
end

--- The request of a slot taken `seconds` ago has only now left (its
-- connection had to be set up, or this Lua state was slow): the slots
-- after it, taken or not, move on by as much, so none of them can meet it
-- in a server's second. Delays up to LATE are left to the jitter margin.
function Budget:late(seconds)
  if seconds > _M.LATE then self.limiter:push(seconds) end
end

--- What is left in each window: the limiter's state (see csrc/sp_limiter_lua.c),
-- plus the calls of this Lua state waiting in line.
function Budget:state()
  local s = self.limiter:state()
  s.queued = self.line.queued
  return s
end

Budget.__tostring = function(self)
  return format("%s (%s, %d waiting)", Budget.__name, tostring(self.limiter), self.line.queued)
end

return _M
