--- Bench: the rate budget in a game's frame loop, next to the blocking
-- client. Each run, against the sandbox (which answers the 11th request
-- within any second with a 429, as SendPulse does), with the default
-- budget and no retries:
--   blocking   one client (transport "curl") makes CALLS calls flat out;
--   frame loop a transport = "multi" client driven by one poll(0) per frame
--              at 60 fps, CALLS calls started 5 at a time and then from
--              their completion callbacks (client:start, client:async(),
--              a generated method, in turn: spec/support/frame_loop.lua).
-- The two alternate, BENCH_RUNS times (default 3).
--
--   lua5.4 bench/loop_rate.lua         (BENCH_LOOP_CALLS: 100)
--
-- Figures, from the sandbox's arrival times (the server's view): calls per
-- second sustained (requests after the first, over the time from the first
-- arrival to the last), calls rejected for rate (must be 0), the most in
-- any 1-second window (must be <= 10); the longest poll of the loop. The
-- ratio is the frame loop's rate over the blocking client's (medians).

local support = require "support"
package.path = support.ROOT .. "/spec/?.lua;" .. support.ROOT .. "/lua/?.lua;"
  .. support.ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = support.ROOT .. "/build/" .. support.LUA_IMPL .. "/?.so;" .. package.cpath
local sandbox_process = require "support.sandbox_process"
local frame_loop = require "support.frame_loop"
local sendpulse = require "sendpulse"

local format = string.format

local RUNS = tonumber(os.getenv("BENCH_RUNS")) or 3
local CALLS = tonumber(os.getenv("BENCH_LOOP_CALLS")) or 100
local LIMIT = 10

-- What the sandbox saw for `account`.
local function seen(sb, account)
  local stats = sb:stats()
  local times, rejected = {}, 0
  for _, r in ipairs(stats.requests) do
    if r.status == 429 then rejected = rejected + 1 end
    if r.account == account then times[#times + 1] = r.t end
  end
  table.sort(times)
  local rate = (#times - 1) / (times[#times] - times[1])
  return { rate = rate, rejected = rejected, window = math.floor(stats.max_in_window[account] or 0), n = #times }
end

local serial = 0
local function fresh_account(sb)
  serial = serial + 1
  local id = "bench-loop-" .. serial
  sb:reset()
  sb:configure { accounts = { { client_id = id, client_secret = "s" } } }
  return id
end

local function blocking(sb)
  local id = fresh_account(sb)
  local c = sendpulse.new { client_id = id, client_secret = "s", base_url = sb.url, retries = 0 }
  for _ = 1, CALLS do c:request("GET", "/addressbooks") end
  c:close()
  return seen(sb, id)
end

local function loop(sb)
  local id = fresh_account(sb)
  local c = sendpulse.new { client_id = id, client_secret = "s", base_url = sb.url, retries = 0,
                            transport = "multi" }
  local r = frame_loop.run(c, { calls = CALLS, chains = 5, fps = 60 })
  c:close()
  local s = seen(sb, id)
  s.failed, s.longest_poll = r.failed, r.longest_poll
  return s
end

local sb = sandbox_process.start {}
local runs = { blocking = {}, loop = {} }
local ok, err = pcall(function()
  for i = 1, RUNS do
    runs.blocking[i] = blocking(sb)
    runs.loop[i] = loop(sb)
  end
end)
sb:stop()
if not ok then error(err, 0) end

print(format("the budget in a 60 fps frame loop against the blocking client: %d calls a run, "
  .. "%d run(s) each, alternating; sandbox limit %d/s", CALLS, RUNS, LIMIT))
print()
local rows = { { "run", "way", "calls/s", "rejected", "max in 1 s", "longest poll ms" } }
local rates = { blocking = {}, loop = {} }
local worst, rejected, failed = 0, 0, 0
for i = 1, RUNS do
  for _, way in ipairs { "blocking", "loop" } do
    local r = runs[way][i]
    rows[#rows + 1] = { tostring(i), way == "loop" and "frame loop (multi, 60 fps)" or "blocking (curl)",
      format("%.3f", r.rate), tostring(r.rejected), tostring(r.window),
      r.longest_poll and format("%.2f", r.longest_poll * 1e3) or "-" }
    rates[way][i] = r.rate
    if r.window > worst then worst = r.window end
    rejected = rejected + r.rejected
    failed = failed + (r.failed or 0)
  end
end
support.print_table(rows)
print()
local loop_rate, blocking_rate = support.median(rates.loop), support.median(rates.blocking)
print(format("  median: frame loop %.3f calls/s, blocking %.3f calls/s: ratio %.3f",
  loop_rate, blocking_rate, loop_rate / blocking_rate))
support.target(loop_rate >= 9.5, format("at least 9.5 calls/s in the frame loop: %.3f (median of runs)", loop_rate))
support.target(rejected == 0, format("0 calls rejected for rate: %d", rejected))
support.target(worst <= LIMIT, format("never more than %d in a 1-second window: %d", LIMIT, worst))
if failed > 0 then support.target(false, format("%d calls failed otherwise", failed)) end
