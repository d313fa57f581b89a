--- Bench 3: staying under SendPulse's limit. One client with the default
-- rate limiter (10 requests/s, burst 1, the C limiter's 0.8 ms guard per
-- interval) calls the sandbox flat out for BENCH_RATE_SECONDS (60); the
-- sandbox enforces the limit the way SendPulse does (a 429 with error_code
-- 2020202020 for the 11th request within any second) and keeps the arrival
-- times.
--
--   lua5.4 bench/rate.lua
--
-- Figures: calls per second achieved, calls rejected for rate (must be 0),
-- the most calls in any 1-second window (sandbox stats max_in_window, must
-- be <= 10), and the spread of the gaps between arrivals. The client does
-- no retries here (retries = 0), so a rejected call cannot hide.

local support = require "support"
package.path = support.ROOT .. "/spec/?.lua;" .. package.path
local sandbox_process = require "support.sandbox_process"
local socket = require "socket"

local format = string.format

local SECONDS = tonumber(os.getenv("BENCH_RATE_SECONDS")) or 60
local RUNS = tonumber(os.getenv("BENCH_RATE_RUNS")) or 1
local LIMIT = 10   -- SendPulse's, and the sandbox's default

-- The client runs in this process: it needs the sources and the C core.
package.path = support.ROOT .. "/lua/?.lua;" .. support.ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = support.ROOT .. "/build/" .. support.LUA_IMPL .. "/?.so;" .. package.cpath
local safe = require "sendpulse.safe"

local function one_run(sb)
  sb:reset()
  local client = assert(safe.new { api_key = "sandbox-api-key", base_url = sb.url, retries = 0 })
  local ok_calls, rejected, failed = 0, 0, 0
  local started = socket.gettime()
  local deadline = started + SECONDS
  while socket.gettime() < deadline do
    local value, err = client:request("GET", "/addressbooks")
    if value then
      ok_calls = ok_calls + 1
    elseif err.kind == "rate_limit" then
      rejected = rejected + 1
    else
      failed = failed + 1
      io.stderr:write("call failed: " .. tostring(err) .. "\n")
    end
  end
  local elapsed = socket.gettime() - started
  client:close()
  local stats = sb:stats()
  local window, served, status429 = 0, 0, 0
  for _, n in pairs(stats.max_in_window) do
    if n > window then window = n end
  end
  local times = {}
  for _, r in ipairs(stats.requests) do
    if r.status == 429 then status429 = status429 + 1 end
    if r.account then
      served = served + 1
      times[#times + 1] = r.t
    end
  end
  table.sort(times)
  local gaps = {}
  for i = 2, #times do gaps[#gaps + 1] = (times[i] - times[i - 1]) * 1e3 end
  table.sort(gaps)
  return {
    calls = ok_calls + rejected + failed, ok = ok_calls, rejected = rejected, failed = failed,
    status429 = status429, served = served, elapsed = elapsed,
    rate = ok_calls / elapsed, window = window,
    gap_min = gaps[1] or 0, gap_median = support.median(gaps) or 0,
  }
end

local sb = sandbox_process.start {}
local runs = {}
local ok, err = pcall(function()
  for i = 1, RUNS do runs[i] = one_run(sb) end
end)
sb:stop()
if not ok then error(err, 0) end

print(format("staying under the limit: %d s flat out against the sandbox (%d/s per account), "
  .. "default limiter, %d run(s)", SECONDS, LIMIT, RUNS))
print()
local rows = { { "run", "calls", "calls/s", "rejected (429)", "max in 1 s", "min gap ms", "median gap ms" } }
local worst_window, total_rejected, total_failed, rates = 0, 0, 0, {}
for i, r in ipairs(runs) do
  rows[#rows + 1] = { tostring(i), tostring(r.calls), format("%.3f", r.rate),
    format("%d (%d)", r.rejected, r.status429), format("%d", r.window),
    format("%.1f", r.gap_min), format("%.1f", r.gap_median) }
  if r.window > worst_window then worst_window = r.window end
  total_rejected = total_rejected + r.rejected + r.status429
  total_failed = total_failed + r.failed
  rates[i] = r.rate
end
support.print_table(rows)
print()
local rate = support.median(rates)
print(format("  limiter interval 100 ms + 0.8 ms guard: %.3f calls/s at most in steady state"
  .. " (the first call goes at once)", 1 / 0.1008))
support.target(rate >= 9.9, format("at least 9.9 calls/s: %.3f (median of runs)", rate))
support.target(total_rejected == 0, format("0 calls rejected for rate: %d", total_rejected))
support.target(worst_window <= LIMIT, format("never more than %d in a 1-second window: %d", LIMIT, worst_window))
if total_failed > 0 then support.target(false, format("%d calls failed otherwise", total_failed)) end
