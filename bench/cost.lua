--- Bench 1: what one call costs the host, rate limiter off, against nginx
-- serving a fixed SendPulse-like JSON answer on loopback.
--
--   lua5.4 bench/cost.lua            (make bench builds bench/floor.c first)
--
-- Ways compared, each in its own process (bench/loop.lua, bench/floor.c):
--   floor        C + libcurl, one reused easy handle: the least any client pays
--   ours         sendpulse client:request("GET", ...), one client reused
--   luasocket    socket.http + cjson.decode: what a Lua user writes today
--   floor_fresh  the floor with CURLOPT_FORBID_REUSE: a new connection per call
--   ours_fresh   a new sendpulse client (so a new connection) per call
--   method       client.email:get_mailing_lists(): the generated method of the
--                same GET, so the operations layer's own cost shows against ours
--   body_request client:request("POST", ..., { json = nested body }) and
--   body_method  the same body through whatsapp:send_template_by_phone, whose
--                record checks and shapes it first (a 63-byte answer)
--
-- BENCH_WAYS=method,body_method,... runs only those ways (and the ones they
-- are compared with).
-- BENCH_BASELINE=DIR: another checkout of the library, built (`make` there;
-- e.g. `git worktree add DIR main`): each of our ways runs from it too, in
-- the same interleaved runs against the same nginx, and a last table gives
-- this tree's figures over the baseline's (a change's before and after).
-- Figures: CPU time per call (user + system of the client process, median of
-- BENCH_RUNS interleaved runs), calls per second (wall clock, the same runs), and
-- instructions per call counted by callgrind (runs of N and 2N calls, so
-- start-up cancels; user space only: the kernel's share of a call is in the
-- CPU time, not here). The server's own cost is in none of them.
--
-- The client and nginx run pinned to the same CPU (taskset; BENCH_PIN=0 to
-- turn it off): each call is then two plain context switches. Unpinned, on a
-- small shared machine, every call also pays cross-CPU wake-ups whose cost
-- swings twofold from run to run with the load of other processes, for the
-- floor and for us alike, which hides the difference being measured.

local support = require "support"
local data = require "data"

local format = string.format
local quote = support.quote

local FLOOR = os.getenv("BENCH_FLOOR") or (support.ROOT .. "/build/bench/floor")
local CALLS = tonumber(os.getenv("BENCH_CALLS")) or 5000         -- keep-alive ways
local FRESH_CALLS = tonumber(os.getenv("BENCH_FRESH_CALLS")) or 500
local WARMUP = 50
local CG_CALLS = tonumber(os.getenv("BENCH_CG_CALLS")) or 200    -- under callgrind
local CG_RUNS = tonumber(os.getenv("BENCH_CG_RUNS")) or 3

-- The nested-body ways' call (POST; bench/nginx.conf answers POST with the file).
local BODY_PATH = "/whatsapp/contacts/sendTemplateByPhone"

if not io.open(FLOOR) then
  error(FLOOR .. " is missing: run `make bench` (it compiles bench/floor.c)")
end

local WAYS = {
  { name = "floor", label = "C + libcurl, reused handle (floor)", fresh = false },
  { name = "ours", label = "lua-sendpulse client:request", fresh = false },
  { name = "floor", label = "  floor, 63-byte answer", fresh = false, path = "/result", key = "floor_small" },
  { name = "ours", label = "  ours, 63-byte answer", fresh = false, path = "/result", key = "ours_small" },
  { name = "luasocket", label = "LuaSocket socket.http + lua-cjson", fresh = true },
  { name = "floor_fresh", label = "C + libcurl, new connection per call", fresh = true },
  { name = "ours_fresh", label = "lua-sendpulse, new client per call", fresh = true },
  { name = "method", label = "generated method, email:get_mailing_lists()", fresh = false, base = "ours" },
  { name = "body_request", label = "POST, nested body, client:request", fresh = false, path = BODY_PATH,
    base = "body_request" },
  { name = "body_method", label = "  the same, whatsapp:send_template_by_phone", fresh = false, path = BODY_PATH,
    base = "body_request" },
}

-- BENCH_WAYS: a subset (each way's baselines come along).
do
  local only = os.getenv("BENCH_WAYS")
  if only and only ~= "" then
    local want = {}
    for name in only:gmatch("[^,%s]+") do want[name] = true end
    for _, w in ipairs(WAYS) do
      if want[w.key or w.name] then
        if w.base then want[w.base] = true end
        if w.path and not w.base then want.floor_small, want.ours_small = true, true end
      end
    end
    want.floor, want.ours = true, true
    local kept = {}
    for _, w in ipairs(WAYS) do if want[w.key or w.name] then kept[#kept + 1] = w end end
    WAYS = kept
  end
end

-- Our ways once more from the baseline's tree (keys "<way>@baseline").
local BASELINE = os.getenv("BENCH_BASELINE")
if BASELINE and BASELINE ~= "" then
  if not io.open(BASELINE .. "/build/" .. support.LUA_IMPL .. "/sendpulse/core.so") then
    error("BENCH_BASELINE: " .. BASELINE .. "/build/" .. support.LUA_IMPL .. "/sendpulse/core.so is missing: "
      .. "run make there")
  end
  local ours_ways = {}
  for _, w in ipairs(WAYS) do
    if not w.name:find("^floor") and w.name ~= "luasocket" then
      ours_ways[#ours_ways + 1] = { name = w.name, label = w.label .. " (baseline)", fresh = w.fresh,
        path = w.path, base = w.base, key = (w.key or w.name) .. "@baseline", root = BASELINE,
        of = w.key or w.name }
    end
  end
  for _, w in ipairs(ours_ways) do WAYS[#WAYS + 1] = w end
else
  BASELINE = nil
end

local body = data.addressbooks(5)
local nginx = support.nginx { ["/addressbooks"] = body, ["/result"] = data.result(),
  [BODY_PATH] = data.result() }

local PIN = ""
if os.getenv("BENCH_PIN") ~= "0" and os.execute("command -v taskset >/dev/null 2>&1") then
  local cpu = tonumber((support.run("nproc"))) - 1
  if os.execute(format("taskset -pc %d %d >/dev/null 2>&1", cpu, nginx.pid)) then
    PIN = format("taskset -c %d ", cpu)
  end
end

-- The program and arguments of one way, and the environment it needs.
-- root: the checkout whose library a Lua way runs (nil: this one).
local function program(way, url, calls, warmup, path, root)
  path = path or "/addressbooks"
  if way == "floor" or way == "floor_fresh" then
    return format("%s %s %d %d %s", quote(FLOOR), quote(url .. path), calls, warmup,
      way == "floor" and "reuse" or "fresh"), ""
  end
  return format("%s %s %s %s %d %d '' %s", quote(support.LUA), quote(support.DIR .. "/loop.lua"),
    way, quote(url), calls, warmup, path), support.lua_env(root)
end

local function command(way, url, calls, warmup, path, root)
  local cmd, env = program(way, url, calls, warmup, path, root)
  return env .. " " .. PIN .. cmd
end

local results = {}
local ok, err = pcall(function()
  print(format("cost per call: GET %s/addressbooks, a %d-byte JSON answer from nginx on loopback",
    nginx.url, #body))
  print(format("  medians of %d runs of %d calls (%d for the new-connection ways); "
    .. "instructions: callgrind, median of %d pairs of %d and %d calls",
    support.RUNS, CALLS, FRESH_CALLS, CG_RUNS, CG_CALLS, 2 * CG_CALLS))
  print(PIN ~= "" and "  client and nginx pinned to one CPU (" .. PIN:gsub("%s+$", "") .. ")"
    or "  not pinned to a CPU (no taskset, or BENCH_PIN=0)")
  -- Interleaved (every way once, then again), so a burst of load from
  -- something else on the machine hits all ways alike, not one.
  local runs = {}
  for _ = 1, support.RUNS do
    for _, w in ipairs(WAYS) do
      local calls = w.fresh and FRESH_CALLS or CALLS
      local f = support.figures(support.run(command(w.name, nginx.url, calls, WARMUP, w.path, w.root)))
      local key = w.key or w.name
      runs[key] = runs[key] or { cpu_us = {}, rate = {} }
      table.insert(runs[key].cpu_us, f.cpu / f.calls * 1e6)
      table.insert(runs[key].rate, f.calls / f.wall)
    end
  end
  for _, w in ipairs(WAYS) do
    local key = w.key or w.name
    results[key] = {
      cpu_us = support.median(runs[key].cpu_us),
      rate = support.median(runs[key].rate),
      ir = support.instructions_per_call(function(n)
        return program(w.name, nginx.url, n, WARMUP, w.path, w.root)
      end, CG_CALLS, CG_RUNS),
    }
  end
end)
nginx:stop()
if not ok then error(err, 0) end

local floor, ours = results.floor, results.ours
local rows = { { "way", "CPU us/call", "calls/s", "instr/call", "CPU vs floor", "instr vs floor",
                 "CPU vs ours", "instr vs ours" } }
for _, w in ipairs(WAYS) do
  -- (The baseline's rows have their own table, below.)
  if not w.root then
    local r = results[w.key or w.name]
    -- The small-answer rows compare with the small-answer floor and client;
    -- the operations rows with the client:request call they wrap.
    local f = w.path and results.floor_small or floor
    local o = w.base and results[w.base] or (w.path and results.ours_small or ours)
    rows[#rows + 1] = {
      w.label, format("%.1f", r.cpu_us), format("%.0f", r.rate), format("%.0f", r.ir),
      support.ratio(r.cpu_us, f.cpu_us), support.ratio(r.ir, f.ir),
      support.ratio(r.cpu_us, o.cpu_us), support.ratio(r.ir, o.ir),
    }
  end
end
print()
support.print_table(rows)
print()
if BASELINE then
  local against = { { "way (this tree vs BENCH_BASELINE)", "CPU us/call", "baseline", "CPU ratio",
                      "instr/call", "baseline", "instr ratio" } }
  for _, w in ipairs(WAYS) do
    if w.root then
      local r, b = results[w.of], results[w.key]
      against[#against + 1] = { w.label:gsub(" %(baseline%)$", ""), format("%.1f", r.cpu_us),
        format("%.1f", b.cpu_us), support.ratio(r.cpu_us, b.cpu_us), format("%.0f", r.ir),
        format("%.0f", b.ir), support.ratio(r.ir, b.ir) }
    end
  end
  print("  baseline: " .. BASELINE)
  support.print_table(against)
  print()
end
if results.ours_small and results.floor_small then
  local small = results.ours_small.cpu_us / results.floor_small.cpu_us
  print(format("  (with a 63-byte answer, no decoding to speak of: %.2fx the floor in CPU, %.2fx in instructions)",
    small, results.ours_small.ir / results.floor_small.ir))
end
if results.method then
  print(format("  generated method over client:request, no body: %+.0f instructions a call (%.3fx), CPU %.3fx",
    results.method.ir - ours.ir, results.method.ir / ours.ir, results.method.cpu_us / ours.cpu_us))
end
if results.body_method then
  local b = results.body_request
  print(format("  generated method over client:request, nested body: %+.0f instructions a call (%.3fx), CPU %.3fx",
    results.body_method.ir - b.ir, results.body_method.ir / b.ir, results.body_method.cpu_us / b.cpu_us))
end
support.target(ours.cpu_us <= 1.3 * floor.cpu_us,
  format("CPU per call <= 1.3x the libcurl floor: %.2fx", ours.cpu_us / floor.cpu_us))
support.target(ours.ir <= 1.3 * floor.ir,
  format("instructions per call <= 1.3x the libcurl floor: %.2fx", ours.ir / floor.ir))
local ls = results.luasocket
if ls then
  support.target(ls.cpu_us >= 2 * ours.cpu_us,
    format("at least 2x cheaper than LuaSocket + cjson in CPU: %.2fx", ls.cpu_us / ours.cpu_us))
  support.target(ls.ir >= 2 * ours.ir,
    format("at least 2x cheaper than LuaSocket + cjson in instructions: %.2fx", ls.ir / ours.ir))
end
