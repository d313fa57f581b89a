-- The process whose memory spec/secrets_spec.lua scans for copies of the
-- secret and the token (issue 10, item 10). Environment: SP_SECRET,
-- SP_BASE (the hostile server's token_given mode), SP_TRANSPORT, SP_GO (a
-- FIFO the spec writes a line to when it has scanned), SP_FAILING (below),
-- SP_WIPE_LUA_HEAP (below).
-- Prints "open" once its client has made its calls (its token fetched),
-- "closed" after close() and a full garbage collection; waits for the spec
-- after each. With SP_WIPE_LUA_HEAP, each line also carries the copies of
-- SP_FREED_NEEDLES that the Lua runtime has freed so far.
io.stdout:setvbuf("no")

-- SP_WIPE_LUA_HEAP: spec/c/wipe_lua_heap.c built for this Lua. Loaded
-- first, so that every block the Lua runtime frees from now on is zeroed
-- (and counted): what the spec then finds is only what is alive.
local freed = function() end
if os.getenv("SP_WIPE_LUA_HEAP") then
  freed = assert(package.loadlib(os.getenv("SP_WIPE_LUA_HEAP"), "luaopen_wipe_lua_heap"))()
end

local go = assert(io.open(assert(os.getenv("SP_GO")), "r"))

-- LuaJIT's compiled traces keep the strings they were recorded with alive
-- (as constants) until flushed: which ones depends on what happened to
-- become hot (the multi transport's loop turns as often as the network
-- makes it), not on what the library holds.
local jit = rawget(_G, "jit")

local function phase(name)
  if jit then jit.flush() end
  collectgarbage()
  collectgarbage()
  io.stdout:write(table.concat({ name, freed() }, " "), "\n")
  go:read("*l")
end

-- In a function of its own, so that nothing of the client stays on the
-- stack once it has returned.
local function use_client()
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

use_client()
phase("closed")
