-- A tiny HTTP/1.1 server that answers every request with the request's own
-- header lines and body as JSON ({"lines": [...], "body": "...", "n": N}:
-- the lines in the order received, the body as the bytes that came, N the
-- requests served so far, this one included), for specs that check what the
-- client puts on the wire. One connection at a time, keep-alive; a body must
-- come with a Content-Length (at most 1 MiB). Run as a script:
--
--   lua5.4 spec/support/echo_server.lua   ->  prints "echo listening PORT pid PID"
--
-- or from a spec: local echo = require("support.echo_server").start(); echo.url; echo:stop()
local socket = require "socket"

local _M = {}

local function serve()
  local cjson = require "cjson"
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
  io.stdout:write(("echo listening %d pid %s\n"):format(port, pid))
  io.stdout:flush()
  local served = 0
  while true do
    local c = srv:accept()
    c:settimeout(5)
    while true do
      local lines = {}
      local line = c:receive("*l")
      if not line then break end
      local length = 0
      while line and line ~= "" do
        lines[#lines + 1] = line
        local n = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
        if n then length = math.min(tonumber(n), 2 ^ 20) end
        line = c:receive("*l")
      end
      local received = length > 0 and c:receive(length) or ""
      served = served + 1
      local body = cjson.encode { lines = lines, body = received or "", n = served }
      c:send(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s")
        :format(#body, body))
    end
    c:close()
  end
end

local Echo = {}
Echo.__index = Echo

function _M.start(lua)
  local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
  local pipe = assert(io.popen("exec " .. (lua or "lua5.4") .. " " .. here .. "/echo_server.lua", "r"))
  local port, pid = (pipe:read("*l") or ""):match("^echo listening (%d+) pid (%d+)$")
  if not port then
    pipe:close()
    error("echo server did not start", 2)
  end
  return setmetatable({ url = "http://127.0.0.1:" .. port, pid = tonumber(pid), pipe = pipe }, Echo)
end

function Echo:stop()
  if not self.pipe then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  self.pipe:close()
  self.pipe = nil
end

-- Run as a script (not required as a module): serve until killed.
if ... ~= "support.echo_server" then serve() end

return _M
