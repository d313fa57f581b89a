-- A process that imports one CSV file into a new list and prints what the
-- memory bound needs: how many batches, and its own peak RSS (VmHWM).
--   lua5.4 spec/support/import_peak.lua URL CSV [BATCH_BYTES]
local sendpulse = require "sendpulse"
local url, path, batch_bytes = ...
local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = url,
                               rate_limit = false }
local name = ("peak %s %s %d"):format(path, tostring(batch_bytes), math.random(1e9))
local id = client.email:create_mailing_list { bookName = name }.id
local summary = client.email:import { id = id, rows = path, batch_bytes = tonumber(batch_bytes) }
local peak
for line in io.lines("/proc/self/status") do peak = peak or tonumber(line:match("^VmHWM:%s+(%d+)")) end
io.stdout:write(("added=%d batches=%d peak_kb=%d list=%d\n"):format(summary.added, summary.batches, peak, id))
client:close()
