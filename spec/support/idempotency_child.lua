-- One process sending one SMTP message with an idempotency key through a
-- file ledger, for spec/idempotency_spec.lua ("two processes, one key"):
--
--   lua5.4 spec/support/idempotency_child.lua URL LEDGER_DIR KEY TIMEOUT
--
-- Prints one line: "sent <id>", "replayed <id>" or "error <kind> <message>".
local sendpulse = require "sendpulse.safe"

local url, dir, key, timeout = arg[1], arg[2], arg[3], tonumber(arg[4])
io.stdout:setvbuf("line")
local client = assert(sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = url,
  timeout = timeout, retries = 0, idempotency = { store = "file", dir = dir } })
local value, err, meta = client.smtp:send({ subject = "Once", from = { email = "shop@example.com" },
  to = { "ann@example.com" }, text = "once" }, { idempotency_key = key })
if value then
  print((meta.replayed and "replayed " or "sent ") .. tostring(value.id))
else
  print("error " .. tostring(err.kind) .. " " .. tostring(err))
end
client:close()
