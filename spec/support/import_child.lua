-- A process that runs one email:import and exits (0 complete, 10 with
-- rejects, 1 stopped): the SIGKILL-and-resume spec kills it at random.
--   lua5.4 spec/support/import_child.lua URL LIST CSV JOURNAL REJECTS BATCH
local sendpulse = require "sendpulse"
local url, list, path, journal, rejects, batch = ...
local client = sendpulse.new { client_id = "sandbox-id", client_secret = "sandbox-secret", base_url = url,
                               rate_limit = false }
local ok, summary = pcall(client.email.import, client.email, {
  id = tonumber(list), rows = path, journal = journal, rejects = rejects, batch = tonumber(batch),
})
if not ok then
  io.stderr:write(tostring(summary), "\n")
  os.exit(1)
end
io.stdout:write(("added=%d rejected=%d skipped=%d resent=%d\n"):format(summary.added, summary.rejected,
  summary.skipped, summary.resent))
os.exit(summary.rejected > 0 and 10 or 0)
