-- Exactly once, through crashes, lost answers and an outage (docs/outbox.md,
-- issue 19's "what must show"): 1,000 SMTP sends enqueued by 3 processes and
-- drained by 2, which are SIGKILLed 5 times at random moments and started
-- again, while the sandbox drops 5% of the answers after recording the send
-- and, for 20 s, refuses every call with a 503. At the end the sandbox's
-- SMTP history holds each message exactly once, no second ever saw more
-- than 10 requests of the account, and one token was fetched.
--
-- Tagged #long: 1,000 sends at 10/s plus the outage take two to four
-- minutes, so the suite runs it once, in the plain Lua 5.4 pass (spec/run.sh
-- leaves #long out of the valgrind and LuaJIT passes, as #timing and #once).
-- Nothing waits a fixed time for correctness: progress and the end are
-- polled (the sandbox's history, the store's status), within bounds that
-- are far above what a loaded machine needs (each says why).
local core = require "sendpulse.core"
local sandbox = require "support.sandbox_process"
local sys = require "support.sys"
local redis_process = require "support.redis_process"

local TOTAL = 1000
local KILLS = 5
-- 1,000 sends and ~50 look-ups at 10/s are 105 s; the outage adds 20 s and
-- the backoffs after it a few more; a drainer killed mid-send leaves its
-- entry leased for 15 s. 600 s is more than twice the worst seen under load.
local DRAIN_BOUND = 600

local q = sys.shell_quote
local ENV = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua5.4/?.so;;' "

-- A child process: its pid from the shell that execs it; its output to `log`.
local function spawn(log, ...)
  local args = { ... }
  for i = 1, #args do args[i] = q(args[i]) end
  local cmd = "echo $$; exec lua5.4 spec/support/outbox_child.lua " .. table.concat(args, " ")
    .. " >>" .. q(log) .. " 2>&1"
  local pipe = assert(io.popen(ENV .. "sh -c " .. q(cmd) .. " 2>/dev/null", "r"))
  local pid = tonumber(pipe:read("*l"))
  return { pipe = pipe, pid = pid }
end

local function kill(p)
  os.execute("kill -KILL " .. p.pid .. " 2>/dev/null")
  p.pipe:close()
end

local function wait_until(what, bound, check)
  local deadline = core.monotonic() + bound
  while true do
    local v = check()
    if v then return v end
    assert(core.monotonic() < deadline, what .. " did not happen within " .. bound .. " s")
    core.sleep(0.5)
  end
end

-- The sandbox's SMTP history: subject -> sends.
local function history(sb)
  local counts, n = {}, 0
  for _, row in ipairs(sb:control("GET", "/_sandbox/smtp")) do
    counts[row.subject] = (counts[row.subject] or 0) + 1
    n = n + 1
  end
  return counts, n
end

-- The requests of the busiest second, for the message of a failure.
local function busiest_second(stats)
  local reqs, best, from = stats.requests, 0, 1
  local first = 1
  for last = 1, #reqs do
    while reqs[last].t - reqs[first].t >= 1 do first = first + 1 end
    if last - first + 1 > best then best, from = last - first + 1, first end
  end
  local lines = { best .. " requests within one second:" }
  for i = from, from + best - 1 do
    local r = reqs[i]
    lines[#lines + 1] = ("%.4f %s %s -> %s conn=%s %s"):format(r.t, r.method, r.path, tostring(r.status),
      tostring(r.connection), r.fault or "")
  end
  return table.concat(lines, "\n")
end

-- Runs the whole scenario with drainer processes made by start_drainer(i)
-- and a status() of the store; `restart_store` (optional) is called once,
-- a third of the way through.
local function scenario(sb, enqueue_args, drainer_count, start_drainer, status, restart_store)
  sb:control("DELETE", "/_sandbox/faults")
  sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$", count = -1, probability = 0.05 }
  local log = os.tmpname()
  local enqueuers = {}
  local per = math.ceil(TOTAL / 3)
  for i = 1, 3 do
    local from, to = (i - 1) * per + 1, math.min(i * per, TOTAL)
    enqueuers[i] = spawn(log, "enqueue", sb.url, enqueue_args[1], enqueue_args[2], tostring(from), tostring(to))
  end
  local drainers = {}
  for i = 1, drainer_count do drainers[i] = start_drainer(log) end
  -- Kill points: 5 distinct counts of sends, at random, between 5% and 90%.
  local points = {}
  while #points < KILLS do
    local p = math.random(math.floor(TOTAL / 20), math.floor(TOTAL * 9 / 10))
    local dup = false
    for _, x in ipairs(points) do if math.abs(x - p) < 20 then dup = true end end
    if not dup then points[#points + 1] = p end
  end
  table.sort(points)
  local killed, outage_at, restarted = 0, math.random(math.floor(TOTAL / 5), math.floor(TOTAL / 2)), false
  local outage_started
  local ok, err = pcall(function()
    for _, e in ipairs(enqueuers) do
      assert.is_nil(e.pipe:read("*l"))
      assert(e.pipe:close(), "an enqueuer failed")
    end
    wait_until("the drain", DRAIN_BOUND, function()
      -- (The count only: the sandbox is one Lua process, and a big answer
      -- built while the drainers send would bunch their requests up.)
      local sent = sb:control("GET", "/_sandbox/smtp?total=1").total
      if killed < KILLS and sent >= points[killed + 1] then
        killed = killed + 1
        local i = math.random(1, drainer_count)
        kill(drainers[i])
        drainers[i] = start_drainer(log)
      end
      if not outage_started and sent >= outage_at then
        -- The outage first, so that it wins over the 5% fault while it lasts.
        sb:control("DELETE", "/_sandbox/faults")
        sb:fault { kind = "status", status = 503, duration = 20,
                   body = '{"message":"Service Unavailable","error_code":503}' }
        sb:fault { kind = "drop_after", method = "POST", path = "^/smtp/emails$", count = -1, probability = 0.05 }
        outage_started = core.monotonic()
      end
      if restart_store and not restarted and sent >= math.floor(TOTAL / 3) then
        restarted = true
        restart_store()
      end
      if killed < KILLS then return false end
      local st = status()
      return st and st.pending == 0 and st.in_flight == 0 and st
    end)
  end)
  for _, d in ipairs(drainers) do kill(d) end
  if not ok then
    local text = sys.read_file(log)
    os.remove(log)
    error(tostring(err) .. "\n--- children ---\n" .. text:sub(-4000), 0)
  end
  os.remove(log)
  local st = status()
  assert.equal(0, st.dead, "dead entries")
  assert.is_truthy(outage_started)
  assert.equal(KILLS, killed)
  local counts, n = history(sb)
  for i = 1, TOTAL do
    assert.equal(1, counts["msg-" .. i], "sends of msg-" .. i)
  end
  assert.equal(TOTAL, n)
  local stats = sb:stats()
  assert.is_true(stats.max_in_window["sandbox-id"] <= 10, busiest_second(stats))
  assert.equal(1, stats.token_requests)
end

describe("the outbox #long", function()
  local sb
  -- The sandbox is the instrument that counts requests per second: it
  -- stamps a request when its one Lua process gets to it, so on a machine
  -- whose two CPUs run several suites (load 50 seen) a sandbox kept waiting
  -- 100 ms stamps two requests 3 ms apart that arrived 100 ms apart. It runs
  -- at a higher priority (as root, as CI is) to keep its stamps true.
  lazy_setup(function() sb = sandbox.start { nice = -10 } end)
  lazy_teardown(function() if sb then sb:stop() end end)

  it("sends each of 1,000 messages exactly once through 5 kills, 5% lost answers and a 20 s outage (file)",
  function()
    sb:reset()
    local dir = os.tmpname()
    os.remove(dir)
    local store = require("sendpulse.outbox.file_store").new { dir = dir }
    scenario(sb, { "file", dir }, 2, function(log)
      return spawn(log, "drain", sb.url, "file", dir, "3600")
    end, function() return store:status() end)
    os.execute("rm -rf " .. q(dir) .. " " .. q(dir .. "-tokens"))
  end)

  it("does the same with Redis: 2 hosts x 2 drainers, redis-server restarted once (AOF on)", function()
    sb:reset()
    local redis = redis_process.start { aof = true }
    local conn = require("sendpulse.redis").connection {
      host = "127.0.0.1", port = redis.port, db = 0, timeout = 1 }
    local store = require("sendpulse.outbox.redis_store").new { conn = conn, key = "drain:outbox:default" }
    local port = tostring(redis.port)
    -- (The four drainers are two "hosts" of two processes: with a Redis
    -- store, token and budget nothing of a host is shared but Redis.)
    local ok, err = pcall(scenario, sb, { "redis", port }, 4, function(log)
      return spawn(log, "drain", sb.url, "redis", port, "3600")
    end, function() return store:status() end, function() redis:restart() end)
    redis:remove()
    assert(ok, err)
  end)
end)
