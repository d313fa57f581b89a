-- Quickstart: create a mailing list, add contacts, read them back, clean up.
--
-- Against the real API:
--   SENDPULSE_CLIENT_ID=... SENDPULSE_CLIENT_SECRET=... lua5.4 examples/quickstart.lua
-- Against the local sandbox (what `make quickstart` does, no account needed):
--   SENDPULSE_BASE_URL=http://127.0.0.1:8765 SENDPULSE_CLIENT_ID=sandbox-id \
--   SENDPULSE_CLIENT_SECRET=sandbox-secret lua5.4 examples/quickstart.lua
local sendpulse = require "sendpulse"

local client = sendpulse.new {
  client_id = assert(os.getenv("SENDPULSE_CLIENT_ID"), "set SENDPULSE_CLIENT_ID"),
  client_secret = assert(os.getenv("SENDPULSE_CLIENT_SECRET"), "set SENDPULSE_CLIENT_SECRET"),
  base_url = os.getenv("SENDPULSE_BASE_URL"),   -- nil: https://api.sendpulse.com
  hook = function(ev)                            -- one line per HTTP exchange
    print(("  %-6s %-36s %s  %.1f ms"):format(ev.method, ev.path, tostring(ev.status), ev.duration * 1000))
  end,
}

print("creating a mailing list")
local list = client:request("POST", "/addressbooks", { json = { bookName = "Quickstart " .. os.time() } })
print("list id " .. list.id)

print("adding 3 contacts")
client:request("POST", "/addressbooks/" .. list.id .. "/emails", { json = { emails = {
  { email = "ada@example.com", variables = { name = "Ada" } },
  { email = "grace@example.com", variables = { name = "Grace" } },
  { email = "linus@example.com", variables = { name = "Linus" } },
} } })

local emails = client:request("GET", "/addressbooks/" .. list.id .. "/emails", { query = { limit = 10 } })
for _, e in ipairs(emails) do print("  " .. e.email) end

-- Errors are objects: kind, code, name, message, status.
local ok, err = pcall(client.request, client, "GET", "/addressbooks/999999999")
print("asking for a list that does not exist: " .. tostring(err))
assert(not ok and err.code == 213)

client:request("DELETE", "/addressbooks/" .. list.id)
print("deleted the list; token valid for another " .. math.floor(client:token_expires_in()) .. " s")
client:close()
