--- The outbox's costs (docs/outbox.md), run alone (not part of make bench's
-- default set): lua5.4 bench/outbox.lua, from the repository's root.
--
--   enqueue     microseconds per outbox:enqueue (an SMTP send, checked and
--               stored), file store (journal fsynced) and Redis store,
--               beside one plain client:request to the local sandbox (rate
--               limit off): what storing a call costs against making it
--   drain       entries per second a drainer sends through the 10/s budget,
--               against the sandbox (which refuses past 10 in a second):
--               target at least 95% of the ceiling
--   nginx       requests per second of an nginx location that enqueues (4
--               workers, file store) beside a location that does nothing,
--               from BENCH_CLIENTS keep-alive clients in parallel
--
-- Figures are medians of BENCH_RUNS (3) runs; BENCH_ENQUEUES (500),
-- BENCH_DRAIN (100 entries), BENCH_NGINX_REQUESTS (2,000 per client),
-- BENCH_CLIENTS (2). Needs redis-server and nginx (.ci/setup installs both).
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua5.4/?.so;" .. package.cpath

local core = require "sendpulse.core"
local safe = require "sendpulse.safe"
local outbox = require "sendpulse.outbox"
local sandbox = require "support.sandbox_process"
local redis_process = require "support.redis_process"
local nginx_process = require "support.nginx_process"
local sys = require "support.sys"

local format = string.format
local monotonic = core.monotonic

local RUNS = tonumber(os.getenv("BENCH_RUNS")) or 3
local ENQUEUES = tonumber(os.getenv("BENCH_ENQUEUES")) or 500
local DRAIN = tonumber(os.getenv("BENCH_DRAIN")) or 100
local NGINX_REQUESTS = tonumber(os.getenv("BENCH_NGINX_REQUESTS")) or 2000
local CLIENTS = tonumber(os.getenv("BENCH_CLIENTS")) or 2

local function median(list)
  table.sort(list)
  local n = #list
  if n % 2 == 1 then return list[(n + 1) / 2] end
  return (list[n / 2] + list[n / 2 + 1]) / 2
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

local function message(i)
  return { subject = "bench-" .. i, from = { email = "shop@example.com" }, to = { "b" .. i .. "@example.com" },
           text = "bench message " .. i }
end

local sb = sandbox.start { rate = 0 }
local redis = redis_process.start {}
local results = {}

local ok, err = pcall(function()
  local client = assert(safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url,
                                   rate_limit = false, redis = { port = redis.port } })
  -- enqueue, per store; a plain request beside them
  local function per_call(n, fn)
    local t0 = monotonic()
    for i = 1, n do fn(i) end
    return (monotonic() - t0) / n * 1e6
  end
  local file_us, redis_us, request_us = {}, {}, {}
  for run = 1, RUNS do
    local dir = tmpdir()
    local fbox = assert(outbox.new { client = client, store = "file", dir = dir, max_pending = 1e6 })
    file_us[run] = per_call(ENQUEUES, function(i) assert(fbox:enqueue("smtp", "send", message(i))) end)
    os.execute("rm -rf " .. sys.shell_quote(dir))
    local rbox = assert(outbox.new { client = client, store = "redis", name = "bench" .. run, max_pending = 1e6 })
    redis_us[run] = per_call(ENQUEUES, function(i) assert(rbox:enqueue("smtp", "send", message(i))) end)
    client:request("GET", "/addressbooks")   -- the token, outside the timing
    request_us[run] = per_call(ENQUEUES, function() assert(client:request("GET", "/addressbooks")) end)
  end
  results.enqueue_file_us, results.enqueue_redis_us = median(file_us), median(redis_us)
  results.request_us = median(request_us)
  print(format("enqueue, file store:   %8.1f us", results.enqueue_file_us))
  print(format("enqueue, Redis store:  %8.1f us", results.enqueue_redis_us))
  print(format("client:request (GET):  %8.1f us   (enqueue / request: file %.2f, Redis %.2f)",
    results.request_us, results.enqueue_file_us / results.request_us, results.enqueue_redis_us / results.request_us))
  client:close()

  -- drain rate through the 10/s budget, the sandbox refusing past 10 a second
  sb:reset()                 -- (the stats of the enqueue runs go)
  sb:configure { rate = 10 }
  local rates = {}
  for run = 1, RUNS do
    local c = assert(safe.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = sb.url })
    c:request("GET", "/addressbooks")   -- the token first
    local dir = tmpdir()
    local box = assert(outbox.new { client = c, store = "file", dir = dir, max_pending = 1e6 })
    for i = 1, DRAIN do assert(box:enqueue("smtp", "send", message(run * 10000 + i))) end
    local t0 = monotonic()
    local summary = assert(box:run { until_empty = true, deadline = DRAIN })
    assert(summary.sent == DRAIN, "not all sent")
    rates[run] = DRAIN / (monotonic() - t0)
    os.execute("rm -rf " .. sys.shell_quote(dir))
    c:close()
  end
  results.drain_rate = median(rates)
  print(format("drain: %.2f sends/s of the 10/s ceiling (%.1f%%; target >= 95%%: %s)", results.drain_rate,
    results.drain_rate * 10, results.drain_rate >= 9.5 and "target met" or "MISSED"))
  local stats = sb:stats()
  print(format("  the sandbox counted at most %d in any second", stats.max_in_window["sandbox-id"] or 0))

  -- nginx: a location that enqueues beside one that does nothing
  local dir = tmpdir()
  local ng = nginx_process.start { sandbox_url = sb.url, template = sys.read_file("spec/nginx/outbox.conf"),
                                   env = { OUTBOX_DIR = dir } }
  local nok, nerr = pcall(function()
    local function rps(path)
      local figures = {}
      for run = 1, RUNS do
        -- CLIENTS processes, each N keep-alive requests; wall clock of all.
        local script = format([[
          package.path = "spec/?.lua;" .. package.path
          local rawhttp = require "support.rawhttp"
          local c = assert(rawhttp.connect("127.0.0.1", %d, 30))
          for i = 1, %d do
            local res = assert(c:request("GET", "%s?i=" .. i))
            assert(res.status == 200, res.body)
          end
        ]], ng.port, NGINX_REQUESTS, path)
        local file = os.tmpname()
        sys.write_file(file, script)
        local t0 = monotonic()
        local pipes = {}
        for i = 1, CLIENTS do pipes[i] = io.popen("lua5.4 " .. file .. " 2>&1") end
        for i = 1, CLIENTS do
          local out = pipes[i]:read("*a")
          assert(pipes[i]:close(), out)
        end
        figures[run] = CLIENTS * NGINX_REQUESTS / (monotonic() - t0)
        os.remove(file)
      end
      return median(figures)
    end
    results.nothing_rps = rps("/nothing")
    results.enqueue_rps = rps("/enqueue")
    print(format("nginx location, nothing:  %8.0f req/s", results.nothing_rps))
    print(format("nginx location, enqueue:  %8.0f req/s  (%.2f of nothing)", results.enqueue_rps,
      results.enqueue_rps / results.nothing_rps))
  end)
  ng:stop()
  os.execute("rm -rf " .. sys.shell_quote(dir))
  assert(nok, nerr)
end)
redis:remove()
sb:stop()
if not ok then error(err, 0) end
