-- What transport = "multi" buys: N calls that the sandbox answers D seconds
-- late, made one after another by the blocking client (the baseline) and
-- all started together on the multi transport. Prints both times, their
-- ratio, and the longest time the caller's loop was held up by one call
-- (blocking) or one poll (multi).
--
--   LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="build/lua5.4/?.so;;" \
--     lua5.4 bench/multi.lua [N] [D]
local sendpulse = require "sendpulse"
local core = require "sendpulse.core"
local sandbox = require "support.sandbox_process"

local N = tonumber(arg[1]) or 20
local D = tonumber(arg[2]) or 0.2
local now = core.monotonic

local sb = sandbox.start {}
local ok, err = pcall(function()
  sb:configure { rate = 0 }
  local function client(transport)
    return sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret",
      base_url = sb.url, transport = transport, rate_limit = { rate = 1000, burst = 100 } }
  end

  -- Baseline: the blocking transport, one call after another.
  local blocking = client("curl")
  blocking:request("GET", "/addressbooks")      -- token outside the timing
  sb:fault { kind = "delay", delay = D, count = -1, path = "^/addressbooks$" }
  local t0, longest = now(), 0
  for _ = 1, N do
    local t = now()
    blocking:request("GET", "/addressbooks")
    longest = math.max(longest, now() - t)
  end
  local base_time, base_stall = now() - t0, longest
  blocking:close()

  -- Multi: all started together, driven by poll(0) as a frame loop would.
  sb:reset()
  sb:configure { rate = 0 }
  local multi = client("multi")
  multi:request("GET", "/addressbooks")
  sb:fault { kind = "delay", delay = D, count = -1, path = "^/addressbooks$" }
  t0, longest = now(), 0
  local handles = {}
  for i = 1, N do handles[i] = multi:start("GET", "/addressbooks") end
  local polls = 0
  while true do
    local t = now()
    local left = multi:poll(0)
    longest = math.max(longest, now() - t)
    polls = polls + 1
    if left == 0 then break end
    core.sleep(0.001)
  end
  local multi_time = now() - t0
  for i = 1, N do assert(handles[i]:error() == nil, tostring(handles[i]:error())) end

  -- What an idle poll costs a frame: time and garbage per call.
  local IDLE = 20000
  collectgarbage(); collectgarbage("stop")
  local kb0, ti = collectgarbage("count"), now()
  for _ = 1, IDLE do multi:poll(0) end
  local idle_us = (now() - ti) / IDLE * 1e6
  local idle_bytes = (collectgarbage("count") - kb0) * 1024 / IDLE
  collectgarbage("restart")
  multi:close()

  print(("%d calls answered %.0f ms late"):format(N, D * 1000))
  print(("baseline (blocking curl transport, sequential): %.3f s, longest stall %.1f ms")
    :format(base_time, base_stall * 1000))
  print(("multi transport (all in flight, poll(0) loop):  %.3f s, longest poll %.2f ms, %d polls")
    :format(multi_time, longest * 1000, polls))
  print(("time ratio multi/baseline: %.3f; stall ratio: %.4f")
    :format(multi_time / base_time, longest / base_stall))
  print(("idle poll(0): %.2f us and %.1f bytes of garbage per call"):format(idle_us, idle_bytes))
end)
sb:stop()
if not ok then error(err, 0) end
