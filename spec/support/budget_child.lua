-- A process with the host-wide budget file (rate_limit.shared = "host", the
-- sendpulse command's setting) for spec/full_disk_spec.lua: it makes a call
-- (the file mapped), prints "mapped", waits for the file SP_GO to appear
-- (the spec cuts the budget file short meanwhile), makes three more calls, and
-- prints each limiter_error or store_error event, then "done". A SIGBUS on
-- the way would kill it instead (exit 135 from a shell).
-- Environment: SP_BASE (the sandbox), SP_TOKEN_DIR, SP_GO.
io.stdout:setvbuf("no")
local sendpulse = require "sendpulse"
local client = sendpulse.new {
  client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = os.getenv("SP_BASE"),
  token_store = "file", token_dir = os.getenv("SP_TOKEN_DIR"), rate_limit = { shared = "host" },
  hook = function(e)
    if e.event == "limiter_error" or e.event == "store_error" then
      io.stdout:write(("event %s shared=%s fallback=%s: %s\n"):format(e.event, tostring(e.shared),
        tostring(e.fallback), tostring(e.message)))
    end
  end,
}
client.email:get_balance()
io.stdout:write("mapped\n")
local go = assert(os.getenv("SP_GO"))
for _ = 1, 6000 do   -- a minute at most
  local f = io.open(go)
  if f then f:close() break end
  require("sendpulse.core").sleep(0.01)
end
for _ = 1, 3 do client.email:get_balance() end
client:close()
io.stdout:write("done\n")
