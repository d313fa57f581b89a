-- A process of spec/outbox_drain_spec.lua: enqueues SMTP sends, or drains
-- the outbox until killed.
--
--   lua5.4 spec/support/outbox_child.lua enqueue URL STORE WHERE FROM TO
--   lua5.4 spec/support/outbox_child.lua drain   URL STORE WHERE SECONDS
--
-- STORE is "file" (WHERE: the outbox's folder) or "redis" (WHERE: the
-- port of redis-server). Sends are "msg-<i>" to r<i>@example.com. The
-- drainers share one token (token_store "file" or "redis") and one budget
-- (rate_limit.shared "host" or "redis"); grace is 2 s because the sandbox
-- records a send before it answers (SendPulse's delay is not documented).
-- The budget's guard is 25 ms a slot (250 ms a second), support.loaded.GUARD
-- (this child cannot require spec/support), instead of 3: a drainer
-- descheduled between taking its slot and sending (a machine whose two CPUs
-- run several test suites) sends late, and the next drainer's request is then
-- closer than a slot. 47 ms of that once put 11 requests in one second of
-- the sandbox's count with the default guard, and 110 ms with a guard of
-- 10 ms (three suites and stress-ng on 2 CPUs: two sends stamped 0.9 ms
-- apart); docs/rate-limits.md, the guard; docs/maintaining.md, Tests.
local sendpulse = require "sendpulse.safe"
local outbox_mod = require "sendpulse.outbox"

local mode, url, store, where = arg[1], arg[2], arg[3], arg[4]
io.stdout:setvbuf("line")

local opts = { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = url,
               timeout = 5, retries = 2, retry_delay = 0.2, idempotency = { grace = 2 } }
local box_opts = { store = store, lease = 15, backoff_first = 0.5, backoff_max = 4 }
if store == "file" then
  opts.token_store, opts.token_dir, opts.rate_limit = "file", where .. "-tokens", { shared = "host", guard = 0.025 }
  box_opts.dir = where
else
  opts.token_store, opts.rate_limit = "redis", { shared = "redis", guard = 0.025 }
  opts.redis = { port = tonumber(where), prefix = "drain:", timeout = 1 }
end
local client = assert(sendpulse.new(opts))
box_opts.client = client
local outbox = assert(outbox_mod.new(box_opts))

if mode == "enqueue" then
  for i = tonumber(arg[5]), tonumber(arg[6]) do
    local id, err
    for _ = 1, 50 do   -- a store that fails for a moment (Redis restarting) is tried again
      id, err = outbox:enqueue("smtp", "send", { subject = "msg-" .. i, from = { email = "shop@example.com" },
        to = { "r" .. i .. "@example.com" }, text = "message " .. i })
      if id or err.kind ~= "store" then break end
      require("sendpulse.core").sleep(0.2)
    end
    if not id then print("error " .. tostring(err)) os.exit(1) end
  end
  print("enqueued")
else
  print("draining")
  while true do
    local summary, err = outbox:run { deadline = tonumber(arg[5]) }
    if summary then
      print(("ran sent=%d again=%d dead=%d"):format(summary.sent, summary.again, summary.dead))
    else
      print("error " .. tostring(err))
      require("sendpulse.core").sleep(0.5)
    end
  end
end
