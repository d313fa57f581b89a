--- HTTP/1.1 answers, parsed from bytes as they arrive: the framing half of
-- the cosocket transport, kept apart from the socket so that anything can
-- be fed to it (spec/fuzz/targets/http1.lua feeds it random bytes).
--
--   local p = http1.parser { method = "GET", max_body = bytes }
--   p:feed(bytes)  -> "more" | "done" | nil, kind, message
--   p:close()      -> "done" | nil, kind, message     (the peer closed)
--   p.status, p.headers (lower-case names; repeats joined with ", "),
--   p:body(), p.keep_alive, p.extra (bytes after the answer: the
--   connection must not be reused), p.got_any (a byte of an answer came)
--
-- kind is "protocol" (the server broke HTTP framing), "too_large" (over a
-- bound; the message names it and its value) or "network" (the answer
-- ended early). The bounds are the ones the libcurl transports apply, from
-- core.limits: header_lines and header_bytes for every header block of the
-- answer together (the trailer section included), max_body for the body
-- (max_answer_size), and a chunk-size line of at most 4096 bytes. Nothing
-- here raises on what a server sends: every failure is a return value.

local core = require "sendpulse.core"

local setmetatable, tonumber, concat = setmetatable, tonumber, table.concat
local find, sub, match, lower, format, gsub = string.find, string.sub, string.match, string.lower,
  string.format, string.gsub

local _M = {}

local LIMITS = core.limits
_M.MAX_CHUNK_LINE = 4096

local Parser = {}
Parser.__index = Parser
Parser.__name = "sendpulse.http1.parser"

--- parser{ method =, max_body = } -> a parser waiting for the status line.
function _M.parser(opts)
  return setmetatable({
    method = opts.method or "GET",
    max_body = opts.max_body or LIMITS.max_answer_size,
    state = "status",       -- status, header, length, size, data, data_end, trailer, close, done, failed
    buf = "", pos = 1,      -- bytes not consumed yet: sub(buf, pos)
    lines = 0, head_bytes = 0,
    parts = {}, nparts = 0, received = 0,
    headers = {}, lengths = nil,
  }, Parser)
end

local function fail(self, kind, message)
  self.state = "failed"
  self.kind, self.message = kind, message
  return nil, kind, message
end

local function too_large_body(self)
  return fail(self, "too_large", format("the answer is larger than max_answer_size (%d bytes)", self.max_body))
end

-- The next line (without its "\n" and a trailing "\r"), or nil when the
-- buffer holds no whole line yet; counts toward the header bounds when
-- `head` is set. Returns false, kind, message past a bound.
local function next_line(self, limit, head)
  local buf, pos = self.buf, self.pos
  local nl = find(buf, "\n", pos, true)
  if not nl then
    if #buf - pos + 1 > limit then
      if head then
        return false, "too_large", format("the answer's header is larger than %d bytes (core.limits.header_bytes)",
          LIMITS.header_bytes)
      end
      return false, "protocol", format("a chunk-size line longer than %d bytes", limit)
    end
    return nil
  end
  if head then
    self.lines = self.lines + 1
    self.head_bytes = self.head_bytes + (nl - pos + 1)
    if self.lines > LIMITS.header_lines then
      return false, "too_large", format("the answer has more than %d header lines (core.limits.header_lines)",
        LIMITS.header_lines)
    end
    if self.head_bytes > LIMITS.header_bytes then
      return false, "too_large", format("the answer's header is larger than %d bytes (core.limits.header_bytes)",
        LIMITS.header_bytes)
    end
  end
  local stop = nl - 1
  if stop >= pos and sub(buf, stop, stop) == "\r" then stop = stop - 1 end
  self.pos = nl + 1
  return sub(buf, pos, stop)
end

-- Takes up to `want` body bytes from the buffer; returns how many.
local function take(self, want)
  local avail = #self.buf - self.pos + 1
  if avail <= 0 then return 0 end
  local n = avail < want and avail or want
  self.nparts = self.nparts + 1
  self.parts[self.nparts] = sub(self.buf, self.pos, self.pos + n - 1)
  self.pos = self.pos + n
  self.received = self.received + n
  return n
end

-- Does the comma-separated header value `v` hold the token `t`?
local function has_token(v, t)
  for item in (v .. ","):gmatch("([^,]*),") do
    if lower((gsub(item, "^[ \t]+", ""):gsub("[ \t]+$", ""))) == t then return true end
  end
  return false
end

-- The head is complete: decides how the body is framed.
local function begin_body(self)
  local h, status = self.headers, self.status
  if status < 200 then
    -- 1xx (100 Continue, 103 Early Hints): the real answer follows. The
    -- header bounds keep counting, so a stream of them is bounded too.
    self.headers, self.lengths, self.state = {}, nil, "status"
    return true
  end
  local connection = h["connection"]
  if self.minor == 0 then
    self.keep_alive = connection ~= nil and has_token(connection, "keep-alive")
  else
    self.keep_alive = connection == nil or not has_token(connection, "close")
  end
  if self.method == "HEAD" or status == 204 or status == 304 then
    self.state = "done"
    return true
  end
  local te = h["transfer-encoding"]
  if te then
    -- The last coding decides; with another one last, the body runs to the
    -- close. A Content-Length beside it is ignored, and the connection is
    -- not reused (RFC 9112 6.3).
    local last = lower(match(te, "([^,]*)$"):gsub("^[ \t]+", ""):gsub("[ \t]+$", ""))
    if self.lengths then self.keep_alive = false end
    if last == "chunked" then
      self.state = "size"
    else
      self.state, self.keep_alive = "close", false
    end
    return true
  end
  if self.lengths then
    self.need = self.lengths
    if self.need > self.max_body then
      -- (the digits as sent: past 15 of them the number is math.huge)
      return fail(self, "too_large", format("the answer is larger than max_answer_size (%d bytes): "
        .. "its Content-Length says %s", self.max_body, sub(self.length_text, 1, 40)))
    end
    self.state = self.need > 0 and "length" or "done"
    return true
  end
  self.state, self.keep_alive = "close", false
  return true
end

-- A Content-Length value: 1*DIGIT (RFC 9110 8.6), the same in every
-- repeat. Returns true, or nil, kind, message.
local function add_length(self, value)
  if not find(value, "^%d+$") then
    return fail(self, "protocol", "the answer's Content-Length is not a decimal number")
  end
  local digits = gsub(value, "^0+", "")
  -- More than 15 digits is beyond any bound (and beyond exact doubles).
  local n = #digits > 15 and math.huge or (tonumber(digits) or 0)
  if self.lengths and self.lengths ~= n then
    return fail(self, "protocol", "the answer has two different Content-Length values")
  end
  self.lengths, self.length_text = n, value
  return true
end

local step = {}

function step.status(self)
  local line, kind, message = next_line(self, LIMITS.header_bytes, true)
  if line == nil then return "more" end
  if line == false then return fail(self, kind, message) end
  local minor, status = match(line, "^HTTP/1%.([01]) (%d%d%d)$")
  if not minor then minor, status = match(line, "^HTTP/1%.([01]) (%d%d%d) ") end
  if not minor then
    return fail(self, "protocol", "the answer does not start with an HTTP/1.x status line")
  end
  self.minor, self.status = tonumber(minor), tonumber(status)
  self.state = "header"
  return true
end

function step.header(self)
  local line, kind, message = next_line(self, LIMITS.header_bytes, true)
  if line == nil then return "more" end
  if line == false then return fail(self, kind, message) end
  if line == "" then return begin_body(self) end
  local name, value = match(line, "^([!#$%%&'*+%-.^_`|~%w]+):[ \t]*(.-)[ \t]*$")
  if not name then
    return fail(self, "protocol", "the answer has a header line that is not \"Name: value\"")
  end
  name = lower(name)
  if name == "content-length" then
    local ok, k, m = add_length(self, value)
    if not ok then return nil, k, m end
  end
  local old = self.headers[name]
  self.headers[name] = old and (old .. ", " .. value) or value
  return true
end

function step.length(self)
  self.need = self.need - take(self, self.need)
  if self.need > 0 then return "more" end
  self.state = "done"
  return true
end

function step.size(self)
  local line, kind, message = next_line(self, _M.MAX_CHUNK_LINE, false)
  if line == nil then return "more" end
  if line == false then return fail(self, kind, message) end
  -- chunk-size [ BWS ";" chunk-ext ]: hex digits and nothing else before
  -- the extensions ("0x10", "-1", "+5", " 5" are all refused).
  local hex, rest = match(line, "^(%x+)[ \t]*(.*)$")
  if not hex or (rest ~= "" and sub(rest, 1, 1) ~= ";") then
    return fail(self, "protocol", "the answer has a bad chunk size")
  end
  hex = gsub(hex, "^0+", "")
  if #hex > 12 then return too_large_body(self) end   -- 2^48: beyond any bound
  local size = hex == "" and 0 or tonumber(hex, 16)
  if size == 0 then
    self.state = "trailer"
    return true
  end
  if size > self.max_body - self.received then return too_large_body(self) end
  self.need, self.state = size, "data"
  return true
end

function step.data(self)
  self.need = self.need - take(self, self.need)
  if self.need > 0 then return "more" end
  self.state = "data_end"
  return true
end

function step.data_end(self)
  local line = next_line(self, 2, false)
  if line == nil then return "more" end
  if line == false or line ~= "" then
    return fail(self, "protocol", "a chunk of the answer is not followed by CRLF")
  end
  self.state = "size"
  return true
end

function step.trailer(self)
  local line, kind, message = next_line(self, LIMITS.header_bytes, true)
  if line == nil then return "more" end
  if line == false then return fail(self, kind, message) end
  if line == "" then self.state = "done" end
  return true
end

function step.close(self)
  local n = #self.buf - self.pos + 1
  if n > self.max_body - self.received then return too_large_body(self) end
  take(self, n)
  return "more"
end

--- Feeds the next bytes from the connection.
function Parser:feed(data)
  local state = self.state
  if data ~= "" then self.got_any = true end
  if state == "failed" then return nil, self.kind, self.message end
  if state == "done" then
    if data ~= "" then self.extra, self.keep_alive = (self.extra or "") .. data, false end
    return "done"
  end
  if self.pos > #self.buf then
    self.buf, self.pos = data, 1
  else
    self.buf, self.pos = sub(self.buf, self.pos) .. data, 1
  end
  while true do
    local ok, kind, message = step[self.state](self)
    if ok == "more" then
      return "more"
    elseif not ok then
      return nil, kind, message
    elseif self.state == "done" then
      if self.pos <= #self.buf then
        self.extra, self.keep_alive = sub(self.buf, self.pos), false
      end
      self.buf, self.pos = "", 1
      return "done"
    end
  end
end

--- The peer closed the connection: the end of a close-delimited body, or
-- an answer cut short.
function Parser:close()
  local state = self.state
  if state == "failed" then return nil, self.kind, self.message end
  if state == "done" then return "done" end
  if state == "close" then
    self.state = "done"
    return "done"
  end
  if not self.got_any then
    return fail(self, "network", "the connection was closed before any answer came")
  end
  return fail(self, "network", "the connection was closed in the middle of the answer")
end

--- The body received so far (the whole body once done).
function Parser:body()
  return concat(self.parts, "", 1, self.nparts)
end

return _M
