--- HTTP/1.1 over nginx cosockets (ngx.socket.tcp): the transport inside
-- nginx, where a blocking libcurl call would stall every request of the
-- worker. Same contract as the C core's http_session:
--
--   t:perform(method, url, headers, body, timeout, connect_timeout)
--     -> status, body, headers (lower-case names), seconds, left_after
--     or nil, kind ("timeout" | "tls" | "network" | "too_large" |
--        "protocol"), message, sent, left_after
--   (left_after: seconds until the request was sent, its connection set up)
--   t:connections() -> connections this transport opened (not reused ones)
--   t:close()
--
-- Connections go back to nginx's keep-alive pool (one pool per scheme,
-- host and port), so calls of every request of a worker share them. TLS is
-- always verified: sslhandshake(false, host, true) checks the chain against
-- nginx's lua_ssl_trusted_certificate and the certificate's name against
-- the host. No Accept-Encoding is sent, so answers come unencoded; one that
-- is encoded anyway is reported, not passed on as garbage.
--
-- A cosocket object lives only as long as the nginx request (or timer) that
-- made it, so one is made per call and never kept in this object.
--
-- Bounds, the same as libcurl's: `timeout` is a hard deadline for the whole
-- perform. Answers are read with receiveany, which returns as soon as any
-- byte arrives, and each read may wait only for what is left of the
-- deadline, so a server that drips its status line, headers, body or chunk
-- trailer one byte at a time cannot stretch the call (a cosocket's own read
-- timeout restarts with every byte). The bytes go to the HTTP/1.1 parser of
-- sendpulse.transport.http1, which bounds the body (max_answer_size), the
-- header block (core.limits), and parses Content-Length and chunk sizes
-- strictly. An answer followed by bytes nobody asked for leaves its
-- connection closed, never pooled. The path is sent exactly as given.

local nginx = require "sendpulse.nginx"
local core = require "sendpulse.core"
local http1 = require "sendpulse.transport.http1"

local type, tonumber, tostring, setmetatable, pcall = type, tonumber, tostring, setmetatable, pcall
local concat, format = table.concat, string.format
local lower, find, sub, match, gsub = string.lower, string.find, string.sub, string.match, string.gsub
local floor = math.floor
local monotonic = core.monotonic

local _M = {}

local Transport = {}
Transport.__index = Transport
Transport.__name = "sendpulse.transport.cosocket"

-- Idle connections are kept this long in the pool, at most this many per
-- pool and worker.
local KEEPALIVE_MS = 60000
local POOL_SIZE = 16
-- Bytes asked of one receiveany; and of one send, so that a body going to
-- a server that reads slowly meets the deadline between pieces.
local READ_SIZE = 65536
local SEND_PIECE = 16384

--- new{ user_agent = string, max_answer_size = bytes } -> transport
-- (sendpulse.transport gives the User-Agent, its default included; the
-- bound defaults to core.limits.max_answer_size). Raises outside nginx.
function _M.new(opts)
  if not nginx.inside() then
    error("sendpulse: the cosocket transport needs nginx with the lua module (ngx.socket.tcp)", 2)
  end
  if type(opts) ~= "table" or type(opts.user_agent) ~= "string" then
    error("sendpulse.transport.cosocket.new: argument must be a table { user_agent = string }", 2)
  end
  return setmetatable({
    user_agent = opts.user_agent,
    max_answer_size = opts.max_answer_size or core.limits.max_answer_size,
    opened = 0, closed = false,
  }, Transport)
end

-- "https://host:port/path?q" -> scheme, host, port, target, Host header.
local function parse_url(url)
  local scheme, authority, target = match(url, "^(https?)://([^/?#]+)(.*)$")
  if not scheme then return nil end
  local host, port = match(authority, "^%[([^%]]+)%]:?(%d*)$")     -- [IPv6]:port
  if not host then host, port = match(authority, "^([^:]+):?(%d*)$") end
  if not host then return nil end
  local default = scheme == "https" and 443 or 80
  port = port ~= "" and tonumber(port) or default
  if target == "" then target = "/" end
  local host_header = authority
  if port == default then host_header = gsub(authority, ":%d+$", "") end
  return scheme, host, port, target, host_header
end

-- Milliseconds left before `deadline` (at least 1: 0 would mean "no
-- timeout" to some cosocket calls).
local function ms_left(deadline)
  local left = floor((deadline - monotonic()) * 1000)
  return left > 0 and left or 1
end

-- Sets all three cosocket timeouts from the deadlines (a nil argument
-- would mean nginx's lua_socket_*_timeout, not "unchanged").
local function set_timeouts(sock, connect_ms, deadline)
  local left = ms_left(deadline)
  sock:settimeouts(connect_ms or left, left, left)
end

local function failure(err)
  if err == "timeout" then return "timeout" end
  return "network"
end

-- Reads one answer into the parser, each read waiting at most until the
-- deadline. Returns true, or nil, kind, message.
local function read_answer(sock, parser, deadline)
  while true do
    local left = deadline - monotonic()
    if left <= 0 then return nil, "timeout", "timeout" end
    set_timeouts(sock, nil, deadline)
    local data, err = sock:receiveany(READ_SIZE)
    if not data then
      if err == "closed" then
        local done, kind, message = parser:close()
        if done then return true end
        return nil, kind, message
      end
      return nil, failure(err), err
    end
    local state, kind, message = parser:feed(data)
    if state == "done" then return true end
    if not state then return nil, kind, message end
  end
end

-- Sends the request in pieces, each bounded by what is left of the
-- deadline. Returns true, or nil, err.
local function send_all(sock, req, deadline)
  local from, n = 1, #req
  if n <= SEND_PIECE then
    set_timeouts(sock, nil, deadline)
    return sock:send(req)
  end
  while from <= n do
    if deadline - monotonic() <= 0 then return nil, "timeout" end
    set_timeouts(sock, nil, deadline)
    local ok, err = sock:send(sub(req, from, from + SEND_PIECE - 1))
    if not ok then return nil, err end
    from = from + SEND_PIECE
  end
  return true
end

-- The steps of one attempt (exchange, below).

-- A connection to host:port from the worker's pool, or a new one (TLS
-- verified for https). Returns sock, nil, nil, reused, handshaked (a TLS
-- handshake was made here), or nil, kind, message.
local function connection(self, scheme, host, port, deadline, connect_deadline)
  local ngx = nginx.host()
  local sock, err = ngx.socket.tcp()
  if not sock then return nil, "network", "cannot create a cosocket: " .. tostring(err) end
  local pool = format("sendpulse:%s:%s:%d", scheme, host, port)
  local connect_ms = ms_left(connect_deadline < deadline and connect_deadline or deadline)
  set_timeouts(sock, connect_ms, deadline)
  local ok
  ok, err = sock:connect(host, port, { pool = pool, pool_size = POOL_SIZE })
  if not ok then
    local msg = format("connect to %s:%d: %s", host, port, err)
    if find(err, "no resolver defined", 1, true) then
      msg = msg .. " (add a 'resolver' directive to nginx.conf)"
    end
    return nil, failure(err), msg
  end
  local reused = (sock:getreusedtimes() or 0) > 0
  if reused then return sock, nil, nil, true, false end
  self.opened = self.opened + 1
  if scheme ~= "https" then return sock, nil, nil, false, false end
  set_timeouts(sock, connect_ms, deadline)
  -- reused_session = false: the pool keeps whole TLS connections, so no
  -- session object is wanted; it also avoids a path in lua-resty-core
  -- 0.1.25 that asserts instead of reporting a host mismatch. pcall: a
  -- raise from that layer is a failed handshake too, not a crash.
  local done, session
  done, session, err = pcall(sock.sslhandshake, sock, false, host, true)
  if not done then session, err = nil, tostring(session) end
  if not session then
    sock:close()
    return nil, err == "timeout" and "timeout" or "tls", format("TLS handshake with %s:%d: %s", host, port, err)
  end
  return sock, nil, nil, false, true
end

-- The request's bytes. The target goes out exactly as given: nothing here
-- removes "." or ".." segments (as libcurl, told CURLOPT_PATH_AS_IS, does
-- not).
local function request_bytes(self, method, target, host_header, headers, body)
  local req, n = { method, " ", target, " HTTP/1.1\r\nHost: ", host_header,
                   "\r\nUser-Agent: ", self.user_agent, "\r\n" }, 8
  for i = 1, #headers do
    req[n + 1], req[n + 2] = headers[i], "\r\n"
    n = n + 2
  end
  if body then
    req[n + 1], req[n + 2], req[n + 3], req[n + 4] = "Content-Length: ", tostring(#body), "\r\n\r\n", body
  elseif method == "POST" or method == "PUT" or method == "PATCH" then
    req[n + 1] = "Content-Length: 0\r\n\r\n"
  else
    req[n + 1] = "\r\n"
  end
  return concat(req)
end

-- perform's failure form for a request that could not be sent (err from
-- send_all), the connection closed.
local function send_failed(sock, err, host, port, reused, handshaked, sent_at)
  sock:close()
  if handshaked and err == "closed" then
    -- lua-nginx-module 0.10.23 sometimes reports a handshake that failed
    -- verification as done when it had to wait for the server, and closes
    -- the connection instead: nothing was sent.
    return nil, "tls", format("TLS handshake with %s:%d failed: the certificate was refused " ..
      "(not trusted by lua_ssl_trusted_certificate, or not for this host)", host, port), false
  end
  -- A pooled connection the server closed while idle: nothing was read.
  return nil, failure(err), format("send to %s:%d: %s", host, port, err), true,
    reused and err ~= "timeout", sent_at
end

-- perform's failure form for an answer that could not be read (kind,
-- message from read_answer), the connection closed.
local function read_failed(sock, parser, kind, message, host, port, reused, sent_at)
  sock:close()
  if kind == "timeout" or kind == "network" then
    local part = parser.status and "the answer" or "the answer's status line"
    return nil, kind, format("reading %s from %s:%d: %s", part, host, port, message), true,
      -- a pooled connection the server had closed before answering
      reused and not parser.got_any and kind == "network"
        and (find(message, "closed", 1, true) ~= nil or find(message, "reset", 1, true) ~= nil),
      sent_at
  end
  return nil, kind, format("%s (from %s:%d)", message, host, port), true, false, sent_at
end

-- The connection back to the pool after a whole answer, or closed. Bytes
-- after the answer (parser.extra) make keep_alive false: such a connection
-- is closed, never handed to the next call. setkeepalive also refuses one
-- with unread bytes in its buffer.
local function release(sock, parser)
  if not (parser.keep_alive and sock:setkeepalive(KEEPALIVE_MS, POOL_SIZE)) then sock:close() end
end

-- One attempt on one connection. Returns status, body, headers, sent_at,
-- or nil, kind, message, sent, retry_fresh (a reused connection the server
-- had closed: safe to try once more on a new one), sent_at (the monotonic
-- time the request was sent, its connection set up; nil before that).
local function exchange(self, method, scheme, host, port, target, host_header,
                        headers, body, deadline, connect_deadline)
  local sock, kind, message, reused, handshaked = connection(self, scheme, host, port, deadline, connect_deadline)
  if not sock then return nil, kind, message, false end
  local req = request_bytes(self, method, target, host_header, headers, body)
  local sent_at = monotonic()
  local sent, err = send_all(sock, req, deadline)
  if not sent then return send_failed(sock, err, host, port, reused, handshaked, sent_at) end
  local parser = http1.parser { method = method, max_body = self.max_answer_size }
  local read
  read, kind, message = read_answer(sock, parser, deadline)
  if not read then return read_failed(sock, parser, kind, message, host, port, reused, sent_at) end
  release(sock, parser)
  local rheaders = parser.headers
  local ce = rheaders["content-encoding"]
  if ce and lower(ce) ~= "identity" then
    return nil, "network", format("the answer is %s-encoded, but no encoding was asked for", ce), true,
      false, sent_at
  end
  return parser.status, parser:body(), rheaders, sent_at
end

-- once: a request that must never be sent twice (a call with an
-- idempotency key): no second attempt on a new connection, since the
-- server may have acted on the first before closing (docs/outbox.md).
function Transport:perform(method, url, headers, body, timeout, connect_timeout, once)
  if self.closed then error("attempt to use a closed " .. Transport.__name, 2) end
  if type(method) ~= "string" or type(url) ~= "string" or type(headers) ~= "table" then
    error("perform: method, url (strings) and headers (table) expected", 2)
  end
  local ok, why = nginx.can_yield()
  if not ok then error(why, 2) end
  local scheme, host, port, target, host_header = parse_url(url)
  if not scheme then return nil, "network", "not an http(s) URL: " .. sub(url, 1, 200), false end
  local started = monotonic()
  local deadline = started + (timeout or 30)
  local connect_deadline = started + (connect_timeout or timeout or 30)
  local function attempt(connect_deadline_)
    return exchange(self, method, scheme, host, port, target, host_header, headers, body,
      deadline, connect_deadline_)
  end
  local status, rbody, rheaders, fourth, fresh, sent_at = attempt(connect_deadline)
  if status == nil and fresh and not once and monotonic() < deadline then
    -- What libcurl does too: a keep-alive connection the server had
    -- already closed is not a failure of the request; try a new one.
    local _
    status, rbody, rheaders, fourth, _, sent_at = attempt(monotonic() + (connect_timeout or timeout or 30))
  end
  if status == nil then
    -- fourth: whether the request was sent
    return nil, rbody, rheaders, fourth, sent_at and sent_at - started or 0
  end
  -- fourth: when the request was sent
  return status, rbody, rheaders, monotonic() - started, fourth - started
end

--- Is a call possible now? (false, message in phases without cosockets)
function Transport.usable(_)
  return nginx.can_yield()
end

function Transport:connections()
  return self.opened
end

function Transport:close()
  self.closed = true
end

Transport.__tostring = function(self)
  return format("%s (%d opened%s)", Transport.__name, self.opened, self.closed and ", closed" or "")
end

return _M
