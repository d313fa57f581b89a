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
-- 3. Memory for wide rows (issue 21): peak RSS for the narrow 20,000-row
--    file and for BENCH_IMPORT_WIDE_ROWS (40) rows of 300 kB each (12 MB,
--    every row under the 1 MiB record limit), with the default batch_bytes
--    (2 MiB) and with batch_bytes at its largest (64 MiB: the whole file in
--    one batch, as before the bound; under the sandbox's 16 MiB body limit).
--    Target: the wide file costs under 2x the narrow one with the bound.
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
local WIDE_ROWS = tonumber(os.getenv("BENCH_IMPORT_WIDE_ROWS")) or 40
local WIDE_BYTES = 300000
local RATE = 10

-- The child: one import, figures on stdout.
--   import.lua child URL CSV BATCH RATE(0: off) [BATCH_BYTES]
if arg[1] == "child" then
  local sendpulse = require "sendpulse"
  local core = require "sendpulse.core"
  local url, path, batch, rate, batch_bytes = arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6])
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
  local s = client.email:import { id = id, rows = path, batch = batch, batch_bytes = batch_bytes }
  local seconds = core.monotonic() - t0
  collectgarbage("collect")
  print(format("rows=%d seconds=%.4f rate=%.2f peakrss=%d heap=%.1f calls=%d batches=%d", s.added, seconds,
    s.added / seconds, rss_peak(), collectgarbage("count"), s.calls, s.batches))
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

-- Rows of WIDE_BYTES bytes each (one variable), every one under the
-- 1 MiB record limit.
local function wide_file(rows)
  local path = os.tmpname() .. ".csv"
  local f = assert(io.open(path, "wb"))
  f:write("email,blob\n")
  for i = 1, rows do f:write(format("w%d@example.com,%s\n", i, string.rep(string.char(97 + i % 26), WIDE_BYTES))) end
  f:close()
  return path
end

local function child(url, path, batch, rate, runs, batch_bytes)
  local cmd = format("%s %s %s child %s %s %d %d %s", support.lua_env(), support.quote(support.LUA),
    support.quote(support.DIR .. "/import.lua"), support.quote(url), support.quote(path), batch, rate,
    batch_bytes and tostring(batch_bytes) or "")
  return support.median_of_runs(cmd, runs)
end

local small = csv_file(ROWS)
local big = csv_file(ROWS * 10)
local wide = wide_file(WIDE_ROWS)
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

  -- 3. wide rows: bounded batches against one batch, the narrow file as the baseline
  sb = start_sandbox(0)
  local narrow = child(sb.url, small, BATCH, 0, MEM_RUNS)
  local bounded = child(sb.url, wide, BATCH, 0, MEM_RUNS)
  local one = child(sb.url, wide, BATCH, 0, MEM_RUNS, 64 * 1024 * 1024)
  sb.stop()
  print()
  print(format("wide rows: %d rows of %d bytes (%.1f MB) against %d narrow rows, rate limit off, median of %d runs",
    WIDE_ROWS, WIDE_BYTES, WIDE_ROWS * WIDE_BYTES / 1e6, ROWS, MEM_RUNS))
  print()
  support.print_table {
    { "file, batch_bytes", "batches", "peak RSS kB", "vs narrow" },
    { format("narrow, 2 MiB (default)"), format("%d", narrow.batches), format("%d", narrow.peakrss), "1.00x" },
    { format("wide, 2 MiB (default)"), format("%d", bounded.batches), format("%d", bounded.peakrss),
      support.ratio(bounded.peakrss, narrow.peakrss) },
    { format("wide, 64 MiB (one batch, as before)"), format("%d", one.batches), format("%d", one.peakrss),
      support.ratio(one.peakrss, narrow.peakrss) },
  }
  print()
  support.target(bounded.peakrss < 2 * narrow.peakrss, format("wide rows under 2x the narrow file's peak RSS (%s)",
    support.ratio(bounded.peakrss, narrow.peakrss)))
end)
os.remove(small)
os.remove(big)
os.remove(wide)
if not ok then error(err, 0) end
