-- HTTP/1.1 for the sandbox: reading requests from a byte stream and formatting
-- responses. Knows nothing about sockets or the event loop: a reader pulls
-- chunks from a `recv()` function, so the same code serves a real connection
-- (whose recv yields to the loop) and a unit test (whose recv walks a list).
--
-- A reader keeps the bytes it read past the end of one request for the next
-- one, so pipelined requests on a keep-alive connection are read in order.
local tonumber, tostring, ipairs, setmetatable = tonumber, tostring, ipairs, setmetatable
local concat = table.concat
local format, lower = string.format, string.lower
local char = string.char

local _M = {}

_M.MAX_HEADER_BYTES = 64 * 1024
_M.MAX_HEADERS = 100
_M.MAX_BODY_BYTES = 16 * 1024 * 1024

local REASONS = {
  [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout",
  [411] = "Length Required", [413] = "Payload Too Large",
  [422] = "Unprocessable Entity", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large", [500] = "Internal Server Error",
  [501] = "Not Implemented", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

function _M.reason(status)
  return REASONS[status] or "Unknown"
end

---------------------------------------------------------------------------
-- URL decoding

local function hex_byte(h) return char(tonumber(h, 16)) end

-- Decode %XX escapes (a path: "+" stays "+").
function _M.unescape(s)
  return (s:gsub("%%(%x%x)", hex_byte))
end

-- Decode a form or query component: "+" is a space.
function _M.urldecode(s)
  return _M.unescape((s:gsub("%+", " ")))
end

-- "a=1&b=x%20y" -> {a = "1", b = "x y"}; the last of repeated keys wins.
function _M.form_decode(s)
  local t = {}
  for pair in (s or ""):gmatch("[^&;]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if k ~= "" then t[_M.urldecode(k)] = _M.urldecode(v) end
  end
  return t
end

---------------------------------------------------------------------------
-- Reader

local Reader = {}
Reader.__index = Reader

-- `recv()` returns the next chunk of bytes, or nil and an error ("closed" at
-- the end of the stream).
function _M.reader(recv)
  return setmetatable({ recv = recv, buf = "", pos = 1 }, Reader)
end

-- Append one more chunk to the buffer. Returns true, or nil and an error.
function Reader:fill()
  local chunk, err = self.recv()
  if not chunk then return nil, err or "closed" end
  if self.pos > 1 then
    self.buf = self.buf:sub(self.pos)
    self.pos = 1
  end
  self.buf = self.buf .. chunk
  return true
end

function Reader:buffered()
  return #self.buf - self.pos + 1
end

-- One line without its CRLF (a bare LF is accepted too). Returns nil, err
-- when the stream ends first or the line grows past `limit`.
function Reader:line(limit)
  while true do
    local nl = self.buf:find("\n", self.pos, true)
    if nl then
      if nl - self.pos > limit then return nil, "too long" end
      local stop = nl - 1
      if stop >= self.pos and self.buf:byte(stop) == 13 then stop = stop - 1 end
      local line = self.buf:sub(self.pos, stop)
      self.pos = nl + 1
      return line
    end
    if self:buffered() > limit then return nil, "too long" end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

-- Exactly `n` bytes.
function Reader:bytes(n)
  if self:buffered() >= n then
    local s = self.buf:sub(self.pos, self.pos + n - 1)
    self.pos = self.pos + n
    return s
  end
  local parts = { self.buf:sub(self.pos) }
  local have = #parts[1]
  self.buf, self.pos = "", 1
  while have < n do
    local chunk, err = self.recv()
    if not chunk then return nil, err or "closed" end
    parts[#parts + 1] = chunk
    have = have + #chunk
  end
  local all = concat(parts)
  self.buf = all:sub(n + 1)
  return all:sub(1, n)
end

---------------------------------------------------------------------------
-- Requests

local function fail(status, message)
  return nil, message, status
end

local function read_headers(r, headers)
  local count = 0
  while true do
    local line, err = r:line(_M.MAX_HEADER_BYTES)
    if not line then
      if err == "too long" then return fail(431, "header line too long") end
      return fail(nil, err)
    end
    if line == "" then return true end
    count = count + 1
    if count > _M.MAX_HEADERS then return fail(431, "too many header fields") end
    if line:find("^[ \t]") then return fail(400, "obsolete header line folding") end
    local name, value = line:match("^([^:%s]+):[ \t]*(.-)[ \t]*$")
    if not name then return fail(400, "malformed header line") end
    name = lower(name)
    if headers[name] then
      headers[name] = headers[name] .. ", " .. value
    else
      headers[name] = value
    end
  end
end

local function read_chunked(r)
  local parts, total = {}, 0
  while true do
    local line, err = r:line(1024)
    if not line then
      return fail(err == "too long" and 400 or nil, "bad chunk size line: " .. tostring(err))
    end
    local hex = line:match("^(%x+)[ \t]*;?") or line:match("^(%x+)$")
    if not hex then return fail(400, "bad chunk size") end
    local size = tonumber(hex, 16)
    if size == 0 then break end
    total = total + size
    if total > _M.MAX_BODY_BYTES then return fail(413, "body too large") end
    local data, derr = r:bytes(size)
    if not data then return fail(nil, derr) end
    parts[#parts + 1] = data
    local crlf = r:line(2)
    if crlf ~= "" then return fail(400, "chunk not followed by CRLF") end
  end
  -- Trailer fields are read and ignored.
  local ok, err, status = read_headers(r, {})
  if not ok then return nil, err, status end
  return concat(parts)
end

-- Split "/path?query" (or an absolute URI) into a decoded path and the raw
-- query string.
local function split_target(target)
  local rest = target:match("^[hH][tT][tT][pP][sS]?://[^/]*(.*)$")
  if rest then target = rest ~= "" and rest or "/" end
  if target:sub(1, 1) ~= "/" then return nil end
  local path, query = target:match("^([^?#]*)%??([^#]*)")
  return _M.unescape(path), query
end

-- Read one request. Returns a table
--   { method, target, path, query (table), query_string, version,
--     headers (lower-case names), body, keepalive }
-- or nil, message, status: status is an HTTP status to answer with before
-- closing, or nil when the peer simply went away.
-- `on_continue` (optional) is called before reading the body of a request
-- that carries `Expect: 100-continue`, so the caller can send the interim
-- answer (curl waits up to a second for it otherwise).
function _M.read_request(r, on_continue)
  local line, err
  repeat -- RFC 9112: ignore empty lines before the request line
    line, err = r:line(_M.MAX_HEADER_BYTES)
  until line ~= ""
  if not line then
    if err == "too long" then return fail(431, "request line too long") end
    return fail(nil, err)
  end
  local method, target, version = line:match("^(%u+) (%S+) HTTP/(%d%.%d)$")
  if not method then return fail(400, "malformed request line") end
  local path, query_string = split_target(target)
  if not path then return fail(400, "unsupported request target") end

  local headers = {}
  local ok, herr, hstatus = read_headers(r, headers)
  if not ok then return nil, herr, hstatus end

  local conn = lower(headers["connection"] or "")
  local keepalive
  if version == "1.0" then
    keepalive = conn:find("keep-alive", 1, true) ~= nil
  else
    keepalive = conn:find("close", 1, true) == nil
  end

  local te, cl = headers["transfer-encoding"], headers["content-length"]
  local length
  if te then
    if cl then return fail(400, "both Transfer-Encoding and Content-Length") end
    if lower(te) ~= "chunked" then return fail(501, "unsupported Transfer-Encoding: " .. te) end
  elseif cl then
    if not cl:find("^%d+$") then return fail(400, "bad Content-Length") end
    length = tonumber(cl)
    if length > _M.MAX_BODY_BYTES then return fail(413, "body too large") end
  end

  if (te or (length and length > 0)) and on_continue
     and lower(headers["expect"] or "") == "100-continue" then
    on_continue()
  end

  local body = ""
  if te then
    local berr, bstatus
    body, berr, bstatus = read_chunked(r)
    if not body then return nil, berr, bstatus end
  elseif length and length > 0 then
    local berr
    body, berr = r:bytes(length)
    if not body then return fail(nil, berr) end
  end

  return {
    method = method, target = target, path = path,
    query_string = query_string, query = _M.form_decode(query_string),
    version = version, headers = headers, body = body, keepalive = keepalive,
  }
end

---------------------------------------------------------------------------
-- Responses

_M.CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n"

-- The head of a streamed answer (Server-Sent Events): no Content-Length;
-- the body runs until the connection closes.
function _M.stream_head(status, headers)
  local out = { format("HTTP/1.1 %d %s\r\n", status, _M.reason(status)) }
  for _, h in ipairs(headers or {}) do
    out[#out + 1] = h[1] .. ": " .. h[2] .. "\r\n"
  end
  out[#out + 1] = "Connection: close\r\n\r\n"
  return concat(out)
end

-- Format a whole response. `headers` is a list of {name, value}; Content-Length
-- and Connection are always set here.
function _M.response(status, headers, body, keepalive)
  body = body or ""
  local out = { format("HTTP/1.1 %d %s\r\n", status, _M.reason(status)) }
  for _, h in ipairs(headers or {}) do
    out[#out + 1] = h[1] .. ": " .. h[2] .. "\r\n"
  end
  out[#out + 1] = "Content-Length: " .. #body .. "\r\n"
  out[#out + 1] = keepalive and "Connection: keep-alive\r\n\r\n" or "Connection: close\r\n\r\n"
  out[#out + 1] = body
  return concat(out)
end

return _M
