--- Bench: client.email:import (what `sendpulse import` runs) against the
-- sandbox.
--
-- 1. Throughput with SendPulse's 10 requests per second on (the sandbox
--    refuses the 11th request in any second; the client's limiter keeps
--    under it, with the host-wide budget `sendpulse import` uses): contacts
--    per second next to the ceiling, batch size x 10 per second. Target: at
--    least 95% of the ceiling.
-- 2. Memory: the importing process's peak RSS and Lua heap for 20,000 and
--    for 200,000 rows (rate limit off, so this part stays short). Target:
--    flat, the bigger file costs under 1 MB more.
--
--   sh bench/run.sh import        (or: lua5.4 bench/import.lua)
--
-- Medians of BENCH_RUNS (5) processes for throughput, BENCH_IMPORT_MEMORY_RUNS
-- (3) for memory. BENCH_IMPORT_ROWS (20000) rows, BENCH_IMPORT_BATCH (500).
local support = require "support"

local format = string.format

local ROOT = support.ROOT
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. ROOT .. "/spec/?.lua;" .. package.path

local ROWS = tonumber(os.getenv("BENCH_IMPORT_ROWS")) or 20000
local BATCH = tonumber(os.getenv("BENCH_IMPORT_BATCH")) or 500
local MEM_RUNS = tonumber(os.getenv("BENCH_IMPORT_MEMORY_RUNS")) or 3
local RATE = 10

-- The child: one import, figures on stdout.
--   import.lua child URL CSV BATCH RATE(0: off)
if arg[1] == "child" then
  local sendpulse = require "sendpulse"
  local core = require "sendpulse.core"
  local url, path, batch, rate = arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5])
  -- the budget `sendpulse import` uses: host-wide (a budget file), 3 ms guard
  local dir = os.tmpname()
  os.remove(dir)
  local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = url,
                                 rate_limit = rate > 0 and { rate = rate, shared = "host" } or false,
                                 token_dir = dir }
  local id = client.email:create_mailing_list { bookName = "bench " .. os.time() .. " " .. math.random(1e9) }.id
  local function rss_peak()
    for line in io.lines("/proc/self/status") do
      local kb = line:match("^VmHWM:%s+(%d+)")
      if kb then return tonumber(kb) end
    end
  end
  local t0 = core.monotonic()
  local s = client.email:import { id = id, rows = path, batch = batch }
  local seconds = core.monotonic() - t0
  collectgarbage("collect")
  print(format("rows=%d seconds=%.4f rate=%.2f peakrss=%d heap=%.1f calls=%d", s.added, seconds,
    s.added / seconds, rss_peak(), collectgarbage("count"), s.calls))
  client:close()
  os.execute("rm -rf " .. support.quote(dir))
  os.exit(0)
end

local gen = require "support.contacts_csv"

-- A sandbox on a free port, its own process.
local function start_sandbox(rate)
  local port = support.free_port()
  local log = os.tmpname()
  local cmd = format("%s %s --port %d --rate %d >%s 2>&1 & echo $!", support.quote(support.LUA),
    support.quote(ROOT .. "/lua/sendpulse/sandbox/init.lua"), port, rate, support.quote(log))
  local pid = support.run(cmd):match("%d+")
  local socket = require "socket"
  for _ = 1, 200 do
    local c = socket.connect("127.0.0.1", port)
    if c then c:close() break end
    socket.sleep(0.025)
  end
  return { url = "http://127.0.0.1:" .. port, stop = function()
    os.execute("kill " .. pid)
    os.remove(log)
  end }
end

local function csv_file(rows)
  local path = os.tmpname() .. ".csv"
  gen.write(path, { rows = rows, seed = 11 })
  return path
end

local function child(url, path, batch, rate, runs)
  local cmd = format("%s %s %s child %s %s %d %d", support.lua_env(), support.quote(support.LUA),
    support.quote(support.DIR .. "/import.lua"), support.quote(url), support.quote(path), batch, rate)
  return support.median_of_runs(cmd, runs)
end

local small = csv_file(ROWS)
local big = csv_file(ROWS * 10)
local ok, err = pcall(function()
  -- 1. throughput at 10 requests per second
  local sb = start_sandbox(RATE)
  local med = child(sb.url, small, BATCH, RATE, support.RUNS)
  sb.stop()
  local ceiling = BATCH * RATE
  print(format("throughput: %d contacts, batches of %d, sandbox at %d requests/s, median of %d runs",
    ROWS, BATCH, RATE, support.RUNS))
  print()
  support.print_table {
    { "", "contacts/s", "calls", "seconds", "vs ceiling" },
    { "ceiling (batch x 10/s)", format("%d", ceiling), "-", "-", "1.00x" },
    { "email:import", format("%.1f", med.rate), format("%d", med.calls), format("%.2f", med.seconds),
      support.ratio(med.rate, ceiling) },
  }
  print()
  support.target(med.rate >= 0.95 * ceiling, format("import >= 95%% of the ceiling (%.1f%%)",
    100 * med.rate / ceiling))

  -- 2. memory, 20,000 vs 200,000 rows
  sb = start_sandbox(0)
  local m1 = child(sb.url, small, BATCH, 0, MEM_RUNS)
  local m2 = child(sb.url, big, BATCH, 0, MEM_RUNS)
  sb.stop()
  print()
  print(format("memory: the importing process, rate limit off, median of %d runs", MEM_RUNS))
  print()
  support.print_table {
    { "rows", "peak RSS kB", "Lua heap kB (after full GC)", "contacts/s" },
    { tostring(ROWS), format("%d", m1.peakrss), format("%.1f", m1.heap), format("%.0f", m1.rate) },
    { tostring(ROWS * 10), format("%d", m2.peakrss), format("%.1f", m2.heap), format("%.0f", m2.rate) },
    { "growth", format("%+d", m2.peakrss - m1.peakrss), format("%+.1f", m2.heap - m1.heap), "" },
  }
  print()
  support.target(m2.peakrss - m1.peakrss < 1024, "peak RSS grows less than 1 MB from 20,000 to 200,000 rows")
end)
os.remove(small)
os.remove(big)
if not ok then error(err, 0) end
