-- One of several processes sharing an account, for spec/shared_timing_spec.
-- Calls the sandbox flat out until `seconds` have passed, then prints a
-- summary. Events from the hook are printed as they come, one per line:
--
--   lua5.4 spec/support/shared_worker.lua URL ACCOUNT SECRET SHARED TOKEN_DIR REDIS_PORT SECONDS \
--     [FALLBACK_RATE [GUARD]]
--
-- SHARED is "host" (file token store, mapped-file budget) or "redis" (Redis
-- token store and budget); GUARD: the budget's rate_limit.guard. Run from the repository root with LUA_PATH and
-- LUA_CPATH pointing at lua/ and the build (the spec does that).
local sendpulse = require "sendpulse"
local core = require "sendpulse.core"

local unpack = table.unpack or unpack
local url, account, secret, shared, dir, redis_port, seconds, fallback_rate, guard = unpack(arg, 1, 9)
io.stdout:setvbuf("line")

local opts = {
  client_id = account, client_secret = secret, base_url = url,
  token_dir = dir, retries = 2, retry_delay = 0.2,
  rate_limit = { shared = shared, fallback_rate = tonumber(fallback_rate), guard = tonumber(guard) },
  hook = function(ev)
    if ev.event ~= "request" and ev.event ~= "token" then
      print(("event %s %s"):format(ev.event, ev.message or ""))
    end
  end,
}
if shared == "redis" then
  opts.token_store = "redis"
  opts.redis = { port = tonumber(redis_port), password = "worker-pw", prefix = "test:", timeout = 0.5 }
else
  opts.token_store = "file"
end
local client = sendpulse.new(opts)

local deadline = core.monotonic() + tonumber(seconds)
local ok, failed = 0, 0
print("ready")
while core.monotonic() < deadline do
  local value, err = pcall(client.request, client, "GET", "/addressbooks")
  if value then ok = ok + 1 else
    failed = failed + 1
    print("error " .. tostring(err))
  end
end
client:close()
print(("done ok=%d failed=%d"):format(ok, failed))
