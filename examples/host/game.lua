-- The script side of examples/host/host.c: SendPulse calls from inside a
-- game's frame loop, never blocking a frame.
--
--   start(base_url, id)  makes the client and starts the calls
--   frame(n) -> done     called by the host once per frame
--   finish() -> summary  called once at the end
--
-- Each state (the host runs two) keeps its own client and calls.
local sendpulse = require "sendpulse.safe"

local game = {}

local client
local handles = {}
local story = {}       -- what the sequential task did, step by step
local errors = {}
local frames_in_flight = 0

function game.start(base_url, id)
  client = assert(sendpulse.new {
    client_id = "sandbox-id", client_secret = "sandbox-secret",
    base_url = base_url,
    transport = "multi",                 -- calls run from client:poll()
    rate_limit = { rate = 100, burst = 10 },
  })

  -- Sequential style: each call suspends this task, not the game.
  handles[#handles + 1] = client:run(function()
    local list = assert(client:request("POST", "/addressbooks",
      { json = { bookName = "host state " .. id } }))
    story[#story + 1] = "created list " .. list.id
    assert(client:request("POST", "/addressbooks/" .. list.id .. "/emails", { json = { emails = {
      { email = "player" .. id .. "@example.com", variables = { name = "Player " .. id } } } } }))
    story[#story + 1] = "added a contact"
    local emails = assert(client:request("GET", "/addressbooks/" .. list.id .. "/emails"))
    story[#story + 1] = "read back " .. #emails .. " contact(s)"
    assert(client:request("DELETE", "/addressbooks/" .. list.id))
    story[#story + 1] = "deleted the list"
  end)

  -- And a burst of calls in flight together, with a completion callback.
  for _ = 1, 10 do
    handles[#handles + 1] = client:start("GET", "/addressbooks", { query = { limit = 5 } },
      function(h)
        local err = h:error()
        if err then errors[#errors + 1] = tostring(err) end
      end)
  end
end

function game.frame()
  local in_flight, err = client:poll(0)  -- never waits: the frame goes on
  if not in_flight then error(tostring(err)) end
  if in_flight > 0 then frames_in_flight = frames_in_flight + 1 end
  return in_flight == 0
end

function game.finish()
  for _, h in ipairs(handles) do
    local e = h:error()
    if e and #errors < #handles then errors[#errors + 1] = tostring(e) end
  end
  client:close()
  if #errors > 0 then error(table.concat(errors, "; ")) end
  -- Where the library's Lua code came from: a file, or the embedded copy.
  local source = debug.getinfo(sendpulse.new, "S").source
  return ("%d calls done over %d frames; %s; library from %s"):format(#handles, frames_in_flight,
    table.concat(story, ", "), source)
end

return game
