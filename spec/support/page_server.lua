-- A tiny HTTP server in its own process, for the browser specs: it answers
-- every request with one HTML file and writes each request's first line,
-- and each connection, to a log file. It stands for another site on
-- another loopback port (the page of a CSRF attempt) and for a "remote"
-- host that an email's image points at (the log shows any fetch).
--
--   lua5.4 spec/support/page_server.lua PAGE_FILE LOG_FILE
--   -> prints "page server 127.0.0.1:PORT pid PID", serves until killed
local socket = require "socket"

local page_file, log_file = arg[1], arg[2]
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
local stat = io.open("/proc/self/stat")
local pid = stat and stat:read("*n") or 0
if stat then stat:close() end
io.stdout:write(("page server 127.0.0.1:%s pid %d\n"):format(port, pid))
io.stdout:flush()

local function log(line)
  local f = io.open(log_file, "a")
  f:write(line, "\n")
  f:close()
end

while true do
  local c = server:accept()
  if c then
    log("connection")
    c:settimeout(5)
    local line = c:receive("*l")
    if line then
      log(line)
      repeat local h = c:receive("*l") until not h or h == ""
      local f = io.open(page_file, "rb")
      local body = f and f:read("*a") or ""
      if f then f:close() end
      c:send("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " .. #body
        .. "\r\nConnection: close\r\n\r\n" .. body)
    end
    c:close()
  end
end
