-- One HTTP POST from the sandbox to a webhook receiver, as a task of the
-- sandbox's event loop (loop.lua): the connection and the answer are
-- awaited without holding up any other connection.
--
--   local status, err = post(loop, "http://127.0.0.1:8080/hooks/secret", body, timeout)
--
-- Returns the answer's HTTP status, or nil and why (refused, timed out,
-- not HTTP). Only the status line is read; the connection is closed
-- (Connection: close). Plain HTTP only: the sandbox has no TLS, so an
-- https:// URL fails at once with a message that says so. A host name is
-- resolved by LuaSocket, blocking the loop for that moment: use addresses
-- in tests.
local socket = require "socket"
local limits = require "sendpulse.sandbox.limits"

local tonumber, format = tonumber, string.format

local RECV_LIMIT = 8192   -- bytes read while looking for the status line

-- host, port, path of an http:// URL; or nil and why.
local function split(url)
  if url:find("^[hH][tT][tT][pP][sS]://") then
    return nil, "https:// URLs cannot be reached: the sandbox speaks plain HTTP only"
  end
  local host, port, path = url:match("^[hH][tT][tT][pP]://([^/:?#]+):?(%d*)([^#]*)")
  if not host then return nil, "not an http:// URL" end
  if host:sub(1, 1) == "[" then return nil, "IPv6 literals are not supported by the sandbox" end
  if path == "" then path = "/" end
  return host, tonumber(port) or 80, path
end

return function(loop, url, body, timeout)
  local host, port, path = split(url)
  if not host then return nil, port end
  local sock = socket.tcp()
  sock:settimeout(0)
  local finished, timed_out = false, false
  local me = coroutine.running()
  -- The watchdog: after `timeout` it closes the socket and wakes the task
  -- up if it is still waiting (its next socket call then fails).
  loop:spawn(function()
    loop:sleep(timeout)
    if not finished then
      timed_out = true
      loop:forget(sock)
      sock:close()
      loop:resume(me)
    end
  end)
  local function done(status, err)
    finished = true
    loop:forget(sock)
    sock:close()
    if timed_out then return nil, format("no answer within %gs", timeout) end
    return status, err
  end

  local ok, err = sock:connect(host, port)
  -- (LuaSocket makes the descriptor at the first connect)
  if not limits.selectable(sock) then
    return done(nil, "too many sockets open: the sandbox's loop cannot watch another one")
  end
  if not ok and err == "timeout" then
    loop:wait_writable(sock)
    if timed_out then return done() end
    ok, err = sock:connect(host, port)
  end
  if not ok then return done(nil, "cannot connect: " .. tostring(err)) end
  local request = format("POST %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: sendpulse-sandbox\r\n"
    .. "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
    path, host, port, #body) .. body
  local i = 1
  while i <= #request do
    local last, serr, partial = sock:send(request, i)
    if last then
      i = last + 1
    elseif serr == "timeout" then
      i = partial + 1
      loop:wait_writable(sock)
      if timed_out then return done() end
    else
      return done(nil, "sending failed: " .. tostring(serr))
    end
  end
  local got = ""
  while not got:find("\r?\n") do
    local data, rerr, partial = sock:receive(1024)
    data = data or partial
    if data and data ~= "" then
      got = got .. data
      if #got > RECV_LIMIT then return done(nil, "no status line in the first bytes of the answer") end
    elseif rerr == "timeout" then
      loop:wait_readable(sock)
      if timed_out then return done() end
    else
      return done(nil, "the answer ended early: " .. tostring(rerr))
    end
  end
  local status = tonumber(got:match("^HTTP/1%.%d (%d%d%d)"))
  if not status then return done(nil, "not an HTTP answer") end
  return done(status)
end
