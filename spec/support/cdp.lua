-- A small Chrome DevTools Protocol client over LuaSocket, for the specs
-- that drive headless Chromium (spec/support/browser.lua starts it): a
-- WebSocket (RFC 6455, text frames) to one page target, commands sent and
-- their answers awaited, events kept in order.
--
--   local cdp = require "support.cdp"
--   local page = assert(cdp.connect("ws://127.0.0.1:PORT/devtools/page/ID"))
--   page:call("Page.enable")
--   page:call("Page.navigate", { url = "http://..." })
--   page:wait_event("Page.loadEventFired", 10)
--   page:eval("document.title")          -- the value (returnByValue)
--   page:close()
--
-- Blocking, with a timeout on every read. Client frames are masked as the
-- protocol requires, with an all-zero key (XOR with 0 leaves the bytes as
-- they are, so this file needs no bit operations and runs on Lua 5.1).
local socket = require "socket"
local cjson = require "cjson.safe"

local char, byte, format, concat = string.char, string.byte, string.format, table.concat
local floor = math.floor

local _M = {}

_M.TIMEOUT = 20

local Page = {}
Page.__index = Page

local function b64(s)
  local A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local idx = { floor(n / 262144) % 64, floor(n / 4096) % 64, floor(n / 64) % 64, n % 64 }
    out[#out + 1] = A:sub(idx[1] + 1, idx[1] + 1) .. A:sub(idx[2] + 1, idx[2] + 1)
      .. (b and A:sub(idx[3] + 1, idx[3] + 1) or "=") .. (c and A:sub(idx[4] + 1, idx[4] + 1) or "=")
  end
  return concat(out)
end

function _M.connect(url, timeout)
  local host, port, path = url:match("^ws://([^:/]+):(%d+)(/.*)$")
  if not host then return nil, "not a ws:// URL: " .. tostring(url) end
  local sock, err = socket.connect(host, tonumber(port))
  if not sock then return nil, err end
  sock:settimeout(timeout or _M.TIMEOUT)
  local key = b64("sandbox-cdp-key!")
  sock:send(format("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    .. "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, port, key))
  local status = sock:receive("*l")
  if not status or not status:find("^HTTP/1%.1 101") then
    sock:close()
    return nil, "no WebSocket upgrade: " .. tostring(status)
  end
  repeat
    local line = sock:receive("*l")
    if not line then sock:close() return nil, "the upgrade's headers did not end" end
  until line == ""
  return setmetatable({ sock = sock, next_id = 0, events = {}, timeout = timeout or _M.TIMEOUT }, Page)
end

local function send_frame(sock, payload)
  local n = #payload
  local head
  if n < 126 then head = char(0x81, 0x80 + n)
  elseif n < 65536 then head = char(0x81, 0x80 + 126, floor(n / 256), n % 256)
  else
    local b = {}
    for i = 8, 1, -1 do b[i] = n % 256; n = floor(n / 256) end
    head = char(0x81, 0x80 + 127) .. char(b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8])
  end
  return sock:send(head .. "\0\0\0\0" .. payload)
end

-- One whole message (continuation frames joined); pings are answered.
local function read_message(sock)
  local parts = {}
  while true do
    local h, err = sock:receive(2)
    if not h then return nil, err end
    local b1, b2 = byte(h, 1, 2)
    local fin, opcode, len = b1 >= 128, b1 % 16, b2 % 128
    if len == 126 then
      local x = assert(sock:receive(2))
      len = byte(x, 1) * 256 + byte(x, 2)
    elseif len == 127 then
      local x = assert(sock:receive(8))
      len = 0
      for i = 1, 8 do len = len * 256 + byte(x, i) end
    end
    local payload = len > 0 and assert(sock:receive(len)) or ""
    if opcode == 8 then return nil, "closed by the browser" end
    if opcode == 9 then
      sock:send(char(0x8A, 0x80 + #payload) .. "\0\0\0\0" .. payload)
    elseif opcode ~= 10 then
      parts[#parts + 1] = payload
      if fin then return concat(parts) end
    end
  end
end

-- Send a command; returns its result, or raises with the browser's error.
function Page:call(method, params)
  self.next_id = self.next_id + 1
  local id = self.next_id
  assert(send_frame(self.sock, assert(cjson.encode({ id = id, method = method, params = params or {} }))))
  while true do
    local text, err = read_message(self.sock)
    if not text then error("cdp " .. method .. ": " .. tostring(err), 2) end
    local msg = cjson.decode(text)
    if msg and msg.id == id then
      if msg.error then error("cdp " .. method .. ": " .. tostring(msg.error.message), 2) end
      return msg.result
    elseif msg and msg.method then
      self.events[#self.events + 1] = msg
    end
  end
end

-- Wait (at most `timeout` s) for an event named `method`, kept or new;
-- returns its params and forgets it, or nil.
function Page:wait_event(method, timeout)
  local deadline = socket.gettime() + (timeout or self.timeout)
  while true do
    for i, e in ipairs(self.events) do
      if e.method == method then
        table.remove(self.events, i)
        return e.params
      end
    end
    local left = deadline - socket.gettime()
    if left <= 0 then return nil end
    self.sock:settimeout(left)
    local text = read_message(self.sock)
    self.sock:settimeout(self.timeout)
    if not text then return nil end
    local msg = cjson.decode(text)
    if msg and msg.method then self.events[#self.events + 1] = msg end
  end
end

-- Evaluate a JavaScript expression in the page; returns its value (JSON
-- values only). Raises on an exception.
function Page:eval(expression)
  local r = self:call("Runtime.evaluate", { expression = expression, returnByValue = true, awaitPromise = true })
  if r.exceptionDetails then
    error("javascript: " .. tostring(r.exceptionDetails.exception and r.exceptionDetails.exception.description
      or r.exceptionDetails.text), 2)
  end
  return r.result.value
end

-- Open `url` and wait for its load event.
function Page:navigate(url, timeout)
  self.events = {}
  self:call("Page.navigate", { url = url })
  return self:wait_event("Page.loadEventFired", timeout or self.timeout)
end

-- Poll `expression` until it is truthy (at most `timeout` s); its value.
function Page:wait_for(expression, timeout)
  local deadline = socket.gettime() + (timeout or self.timeout)
  repeat
    local v = self:eval(expression)
    if v and v ~= cjson.null then return v end
    socket.sleep(0.1)
  until socket.gettime() > deadline
  return nil
end

-- Press a key (Tab: { key = "Tab", code = "Tab", windowsVirtualKeyCode = 9 }).
function Page:press(key)
  self:call("Input.dispatchKeyEvent", { type = "keyDown", key = key.key, code = key.code,
    windowsVirtualKeyCode = key.windowsVirtualKeyCode, modifiers = key.modifiers })
  self:call("Input.dispatchKeyEvent", { type = "keyUp", key = key.key, code = key.code,
    windowsVirtualKeyCode = key.windowsVirtualKeyCode, modifiers = key.modifiers })
end

function Page:close()
  if self.sock then self.sock:close() end
  self.sock = nil
end

return _M
