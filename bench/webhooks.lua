-- How fast the nginx webhook handler answers SendPulse: 1,000 POSTs (20%
-- exact repeats, 5% malformed) from a loopback load generator to nginx with
-- 4 workers (spec/nginx/webhooks.conf), against a baseline in the same
-- run: the same requests to a Lua location that only answers "ok". Each
-- figure is the median answer time of the valid POSTs; the median over
-- BENCH_RUNS interleaved runs (webhook, baseline, webhook, ...) is printed
-- with the ratio, at 1 connection and at 8.
--
--   make && make luajit-core && sh bench/run.sh webhooks
--
-- The exactly-once and status-code checks of the same mix are a spec
-- (spec/webhooks_nginx_spec.lua); here only the statuses are checked, so
-- that a broken handler cannot post a fast figure.
local root = (debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/spec/?.lua;" .. package.path

local support = require "support"
local nginx_process = require "support.nginx_process"
local loadgen = require "support.loadgen"
local sys = require "support.sys"

local format = string.format
local SECRET = "bench-hook-secret-2f7c1e"
local RUNS = support.RUNS

local function valid_body(i)
  local items = {}
  for j = 1, 1 + i % 4 do
    items[j] = format('{"event":"delivered","timestamp":%d,"message_id":%d,"recipient":"u%d-%d@example.com",'
      .. '"sender":"shop@example.com","subject":"Order %d","smtp_server_response_code":"250"}',
      1700000000 + i, i * 10 + j, i, j, i)
  end
  return "[" .. table.concat(items, ",") .. "]"
end

-- The mix: 750 distinct valid bodies, 200 repeats, 50 malformed, shuffled
-- (a fixed order, the same in every run). `round` makes each run's events
-- new to the dedupe store.
local function mix(prefix, round)
  local x = 7
  local function rand(n) x = (x * 1103515245 + 12345) % 2147483648; return x % n + 1 end
  local requests, valid = {}, {}
  for i = 1, 750 do
    local body = valid_body(round * 1000 + i)
    valid[#valid + 1] = body
    requests[#requests + 1] = { path = prefix .. SECRET, body = body, want = 200 }
  end
  for _ = 1, 200 do requests[#requests + 1] = { path = prefix .. SECRET, body = valid[rand(750)], want = 200 } end
  for i = 1, 50 do
    requests[#requests + 1] = { path = prefix .. SECRET, body = i % 2 == 0 and "[1]" or '[{"event":', want = 400 }
  end
  for i = #requests, 2, -1 do
    local j = rand(i)
    requests[i], requests[j] = requests[j], requests[i]
  end
  return requests
end

-- Median answer time (ms) of the requests expecting 200; checks statuses.
local function measure(port, requests, concurrency, baseline)
  local answers = loadgen.run { port = port, requests = requests, concurrency = concurrency, timeout = 120 }
  local times = {}
  for i, a in ipairs(answers) do
    local want = baseline and 200 or requests[i].want
    if a.status ~= want then error(format("request %d: status %s, expected %d", i, a.status, want)) end
    if requests[i].want == 200 then times[#times + 1] = a.seconds * 1000 end
  end
  table.sort(times)
  return support.median(times), times[math.ceil(#times * 0.99)]
end

local why = nginx_process.missing()
if why then error("bench/webhooks.lua needs " .. why) end
local ng = nginx_process.start { template = sys.read_file(root .. "/spec/nginx/webhooks.conf"),
                                 env = { SENDPULSE_WEBHOOK_SECRET = SECRET } }
local ok, err = pcall(function()
  print(format("nginx %s, 4 workers; %d runs of 1,000 POSTs (750 valid, 200 repeats, 50 malformed)",
    (io.popen("/usr/sbin/nginx -v 2>&1"):read("*l") or ""):match("[%d.]+$") or "?", RUNS))
  local round = 0
  for _, concurrency in ipairs { 1, 8 } do
    local hook, base, hook99, base99 = {}, {}, {}, {}
    for run = 1, RUNS do
      round = round + 1
      hook[run], hook99[run] = measure(ng.port, mix("/hooks/", round), concurrency)
      base[run], base99[run] = measure(ng.port, mix("/baseline/", round), concurrency, true)
    end
    local h, b = support.median(hook), support.median(base)
    print(format("%d connection%s: webhook handler median %.3f ms (p99 %.3f), baseline %.3f ms (p99 %.3f): "
      .. "ratio %.2fx", concurrency, concurrency == 1 and "" or "s", h, support.median(hook99), b,
      support.median(base99), h / b))
    print(format("  target median < 2 ms: %s", h < 2 and "met" or "MISSED"))
  end
end)
ng:stop()
if not ok then error(err, 0) end
