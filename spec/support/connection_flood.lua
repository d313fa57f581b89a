-- Opens many connections to a server at once and holds them, for
-- spec/sandbox_bounds_spec.lua: run as its own process so that it can have
-- more descriptors than the busted process (the spec starts it under
-- `ulimit -n`).
--
--   lua5.4 spec/support/connection_flood.lua HOST PORT COUNT HOLD_SECONDS
--
-- Connects COUNT sockets (blocking connects, so each is in the server's
-- accept queue before the next), then sends one keep-alive
-- `GET /addressbooks` on every one of them, reads the status line of each
-- answer, prints one line
--   connected=N answered_200=N answered_503=N no_answer=N
-- and keeps every connection that is still open for HOLD_SECONDS before
-- exiting. Its own deadline: 60 s for the whole run.
local socket = require "socket"

local host, port, count, hold = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local deadline = socket.gettime() + 60

local socks, connected = {}, 0
for i = 1, count do
  local s = socket.tcp()
  s:settimeout(5)
  if s:connect(host, port) then
    connected = connected + 1
    socks[#socks + 1] = s
  else
    s:close()
  end
  if i % 100 == 0 and socket.gettime() > deadline then break end
end

local request = "GET /addressbooks HTTP/1.1\r\nHost: " .. host .. "\r\n"
  .. "Authorization: Bearer sandbox-api-key\r\n\r\n"
for _, s in ipairs(socks) do s:send(request) end

local counts = { [200] = 0, [503] = 0, none = 0 }
for _, s in ipairs(socks) do
  s:settimeout(math.max(0.1, deadline - socket.gettime()))
  local line = s:receive("*l")
  local status = tonumber(line and line:match("^HTTP/1%.%d (%d%d%d)") or "")
  if status and counts[status] then counts[status] = counts[status] + 1 else counts.none = counts.none + 1 end
end
io.stdout:write(string.format("connected=%d answered_200=%d answered_503=%d no_answer=%d\n",
  connected, counts[200], counts[503], counts.none))
io.stdout:flush()
socket.sleep(hold)
for _, s in ipairs(socks) do s:close() end
