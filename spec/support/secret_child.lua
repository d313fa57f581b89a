-- The process whose memory spec/secrets_spec.lua scans for copies of the
-- secret and the token (issue 10, item 10). Environment: SP_SECRET,
-- SP_BASE (the hostile server's token_given mode), SP_TRANSPORT, SP_GO (a
-- FIFO the spec writes a line to when it has scanned), SP_FAILING (below).
-- Prints "open" once
-- its client has made three calls (its token fetched), "closed" after
-- close() and a full garbage collection; waits for the spec after each.
io.stdout:setvbuf("no")
local go = assert(io.open(assert(os.getenv("SP_GO")), "r"))

local function phase(name)
  collectgarbage()
  collectgarbage()
  io.stdout:write(name, "\n")
  go:read("*l")
end

do
  local sendpulse = require "sendpulse.safe"
  local client = assert(sendpulse.new { client_id = "memory-id", client_secret = os.getenv("SP_SECRET"),
    base_url = os.getenv("SP_BASE"), transport = os.getenv("SP_TRANSPORT"), rate_limit = false, retries = 0 })
  -- SP_FAILING=1: every call fails while getting its token (a token
  -- endpoint that answers 404), each one a token request of its own
  local failing = os.getenv("SP_FAILING") == "1"
  for _ = 1, tonumber(os.getenv("SP_CALLS")) or 3 do
    local value, err = client:request("GET", "/x")
    if failing then assert(value == nil and err.stage == "token") else assert(value, err) end
  end
  phase("open")
  client:close()
end
phase("closed")
