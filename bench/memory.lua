--- Bench 4: memory. One client makes 100,000 calls against nginx (a static
-- answer, for speed); the resident set size and the Lua heap (after a full
-- collection) are read after 1,000 and after 100,000 calls. A leak in C (a
-- curl handle's buffers, header lists) shows as RSS growth, one in Lua (a
-- cache that only grows) as heap growth.
--
--   lua5.4 bench/memory.lua
--
-- Medians of BENCH_MEMORY_RUNS (3) processes.

local support = require "support"
local data = require "data"

local format = string.format

local CALLS = tonumber(os.getenv("BENCH_MEMORY_CALLS")) or 100000
local EARLY = 1000
local RUNS = tonumber(os.getenv("BENCH_MEMORY_RUNS")) or 3

local nginx = support.nginx { ["/addressbooks"] = data.addressbooks(5) }
local ok, med = pcall(function()
  local cmd = format("%s %s %s ours %s %d 0 %d,%d", support.lua_env(), support.quote(support.LUA),
    support.quote(support.DIR .. "/loop.lua"), support.quote(nginx.url), CALLS, EARLY, CALLS)
  return (support.median_of_runs(cmd, RUNS))
end)
nginx:stop()
if not ok then error(med, 0) end

local rss1, rss2 = med["rss" .. EARLY], med["rss" .. CALLS]
local heap1, heap2 = med["heap" .. EARLY], med["heap" .. CALLS]
print(format("memory: one client, %d calls against nginx on loopback, median of %d runs", CALLS, RUNS))
print()
support.print_table {
  { "after calls", "RSS kB", "Lua heap kB (after full GC)" },
  { tostring(EARLY), format("%d", rss1), format("%.1f", heap1) },
  { tostring(CALLS), format("%d", rss2), format("%.1f", heap2) },
  { "growth", format("%+d", rss2 - rss1), format("%+.1f", heap2 - heap1) },
}
print()
-- A page of the allocator's own bookkeeping may come and go; a leak of even
-- 16 bytes a call would be 1.5 MB here.
support.target(rss2 - rss1 <= 256, format("no RSS growth from %d to %d calls (<= 256 kB): %+d kB",
  EARLY, CALLS, rss2 - rss1))
support.target(heap2 - heap1 <= 16, format("no Lua heap growth (<= 16 kB): %+.1f kB", heap2 - heap1))
