--- The numbers of an account's rate budget that every budget shares: the
-- guards, the lateness a frame loop may use, the quota windows. Here, in
-- account/, because the budgets (budget.lua, limiter/) use them; the
-- client's options (sendpulse.client.options) read them from here to fill
-- in rate_limit.

local ceil, min = math.ceil, math.min

local _M = {}

-- rate_limit.guard, seconds added to every interval of the budget (why:
-- see sendpulse.client.options): a process's own budget, and a budget
-- shared between processes or used by a frame loop. The C limiter's
-- default (csrc/sp_limiter_lua.c) is DEFAULT_GUARD too.
_M.DEFAULT_GUARD = 0.0008
_M.DEFAULT_SHARED_GUARD = 0.003

-- Of the room the guard makes in each second, this much is kept for the
-- jitter between when requests leave and when the server counts them
-- (the network, the server's own scheduling); a frame loop may use the
-- rest to leave late (see lateness below).
_M.JITTER_MARGIN = 0.012

-- The most lateness allowed, whatever the rate: a 20 fps frame. (At low
-- rates the formula below would allow far more, letting two requests of a
-- 0.5/s budget leave a second apart.)
_M.MAX_LATENESS = 0.05

-- The plan quotas rate_limit accepts besides the per-second rate, and their
-- periods in seconds.
_M.QUOTA_WINDOWS = { per_minute = 60, per_hour = 3600, per_day = 86400 }

--- How late a frame loop's request may leave after its slot without
-- pushing the slots after it (transport = "multi": a timer fires at the
-- first poll after it is due): such a request may leave this long before
-- the budget's next theoretical time. With N = ceil(rate) and T = 1/rate +
-- guard, the N-th request after any other leaves at least N*T - lateness
-- later; keeping that at 1 s plus JITTER_MARGIN means no second ever holds
-- more than N. 0.018 s with the frame loop's guard (3 ms at 10/s): more
-- than a 60 fps frame; 0 with the blocking default (0.8 ms). At most half
-- an interval (a burst of 1 stays one request at a time) and MAX_LATENESS.
function _M.lateness(rate, guard)
  local interval = ceil(1e9 / rate) / 1e9 + guard   -- as csrc/sp_limiter.c rounds it
  local n = ceil(rate - 1e-9)
  local l = n * interval - 1 - _M.JITTER_MARGIN
  if l < 0 then return 0 end
  return min(l, interval / 2, _M.MAX_LATENESS)
end

return _M
