-- A hostile HTTP/1.1 server for the specs: it breaks the rules a client
-- must survive (endless bodies, drips, gzip bombs, bad framing, bytes after
-- an answer, header floods, nasty tokens). Many connections at once, each
-- in a coroutine over non-blocking LuaSocket, so a call that hangs on one
-- mode never stalls the next test. Run as a script:
--
--   lua5.4 spec/support/hostile_server.lua   ->  "hostile listening PORT pid PID"
--
-- or from a spec: local hs = require("support.hostile_server").start()
--   hs:url(mode [, arg]) -> the base_url of that mode; hs:stop()
--
-- The mode is the path's first segments: /m/<mode>/<arg>/anything (arg "-"
-- when the mode takes none). Every mode reads the whole request first
-- (Content-Length bodies only).
--
--   echo_path        200 {"path": <the request target as received>}
--   endless          200, chunked, 64 KiB chunks forever
--   endless_close    200, no length, bytes forever
--   huge_length      200, Content-Length: 1 GiB, then bytes forever
--   hex_length       200, Content-Length: 0x2, body {}
--   two_lengths      200, Content-Length: 2 and Content-Length: 3, body {}
--                    (then the connection stays open: a client that takes
--                    the last one waits for a byte that never comes)
--   gzip_bomb[/MiB]  200, Content-Encoding: gzip, MiB (default 1024) of zeros
--                    compressed (about 1 MB on the wire)
--   drip_status      the status line, one byte every 0.2 s
--   drip_headers     a header line that never ends, one byte every 0.2 s
--   drip_body        Content-Length: 1000, one body byte every 0.1 s
--   drip_trailer     a whole chunked body, then a trailer line that never
--                    ends, one byte every 0.2 s
--   bad_chunk/<n>    chunked, with chunk-size line n of: 0x10, -1, zz, (empty),
--                    1 0, +5, 5;;=x\01
--   huge_chunk/<n>   chunked, chunk size n (hex, e.g. 7FFFFFFF or 18 F's),
--                    then bytes forever
--   bad_status       "HTTP/1.1 2OO OK"
--   extra_after      200 {"n": k} (k: requests on this connection), then 0.2 s
--                    later a whole second answer {"n": 666} nobody asked for
--   extra_same       the same, the unasked answer in the same write
--   many_headers     50,000 header lines "X-H: 1"
--   huge_header      10 header lines of 40 KiB each (400 KiB)
--   giant_line       one header line of 1 MiB
--   token_echo       POST .../oauth/access_token: 400 {"error": "invalid_client",
--                    "error_description": <the request body as received>}
--   token_crlf       a token "abc\r\nX-Injected: 1"
--   token_nul        a token "abc\0def"
--   token_year       a good token with expires_in of a year
--   token_given/<r>  the token r:reverse() (expires_in 3600; reversed, so the
--                    base_url holds no copy of it); other requests {"ok":true}
--   token_ttl/<v>    the token "tok-ttl" with expires_in v: a number as
--                    written (1e400, -5, 1e7), or str ("3600" as a
--                    string), null
--   (the other token_* modes answer other requests with {"headers": [request lines]})
--   echo_request/<how>     every request (the token request too) answered
--                    with an error that quotes the request: its body, then
--                    its Authorization line, then the other lines, encoded
--                    as <how>: json (400, in error_description), pct (400,
--                    percent-encoded in message), base64 / base64url (400,
--                    in message), html (500 text/html, as is), htmljson
--                    (502 text/html, JSON-escaped with \/ as PHP writes),
--                    cut (400, in message, cut 16 bytes into the secret or
--                    the Bearer token), fields (422, as a field error)
--   token_then_echo/<how>  the token ECHO_TOKEN, then echo_request/<how>
--   ignore_offset/<n>  a SendPulse whose mailing list (any id) holds n
--                    contacts c1@example.com .. cn@ (variable name = "C<i>"),
--                    its total n, and whose list of contacts ignores
--                    `offset`: every page is the first `limit` contacts;
--                    a token for any credentials
--   wander_offset/<n>  the same, but each page starts 37 contacts after the
--                    page before (wrapping round): no page is the one
--                    before, and the pages never end
local socket = require "socket"

local _M = {}

local CHUNK_SIZE = 65536
-- Bytes for endless bodies: pseudo-random, so that no two pieces of a body
-- are equal (LuaJIT interns every string: a body of one repeated piece
-- would cost a client one copy, and measure nothing).
local POOL   -- 2 MiB, made by the server process when it starts
local function make_pool()
  local unpack = table.unpack or unpack   -- (Lua 5.1 and LuaJIT: unpack)
  local seed, parts = 12345, {}
  for i = 1, 2 * CHUNK_SIZE do
    local bytes = {}
    for k = 1, 16 do
      seed = (seed * 1103515245 + 12345) % 2147483648
      bytes[k] = 32 + seed % 95
    end
    parts[i] = string.char(unpack(bytes))
  end
  return table.concat(parts)
end
-- The token of token_then_echo: '/', '+', '=' and '~' make each encoding
-- differ from the token itself.
local ECHO_TOKEN = "Hst+Tok/en-4eN7q~9_Ab.cdEfGhIjKlMnOpQr=="
_M.ECHO_TOKEN = ECHO_TOKEN

local BAD_CHUNKS = { "0x10", "-1", "zz", "", "1 0", "+5", "5;;=x\1" }

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."

-- The scheduler: coroutines waiting to read, to write, or for a time.
local readers, writers, sleepers = {}, {}, {}

local waiting_read, waiting_write = {}, {}   -- socket -> coroutine

local function wait(kind, sock)
  if kind == "read" then
    readers[#readers + 1] = sock
    waiting_read[sock] = coroutine.running()
  else
    writers[#writers + 1] = sock
    waiting_write[sock] = coroutine.running()
  end
  coroutine.yield()
end

local function sleep(seconds)
  sleepers[#sleepers + 1] = { at = socket.gettime() + seconds, co = coroutine.running() }
  coroutine.yield()
end

-- A line ("*l") or n bytes (a count includes what came before a wait).
local function receive(sock, pattern)
  local acc = ""
  while true do
    local data, err, partial = sock:receive(pattern, acc)
    if data then return data end
    if err ~= "timeout" then return nil, err end
    acc = partial
    wait("read", sock)
  end
end

-- Sends all of data; false when the peer went away.
local function send(sock, data)
  local from = 1
  while from <= #data do
    local last, err, partial = sock:send(data, from)
    if last then return true end
    if err ~= "timeout" then return false end
    from = partial + 1
    wait("write", sock)
  end
  return true
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\\128-\255]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local answer

local function percent(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function base64(s, url)
  local b64 = (require "mime").b64(s)
  if url then b64 = b64:gsub("[+/]", { ["+"] = "-", ["/"] = "_" }) end
  return b64
end

-- A request as an echo quotes it: the body, the Authorization line, the
-- rest (so that what matters comes within the first bytes a message shows).
local function quoted_request(lines, body)
  local auth, rest = {}, {}
  for _, l in ipairs(lines) do
    if l:lower():find("^authorization:") then auth[#auth + 1] = l else rest[#rest + 1] = l end
  end
  return body .. " | " .. table.concat(auth, " ") .. " | " .. table.concat(rest, " ")
end

-- echo_request's answers.
local function echo_request(sock, how, lines, body)
  local r = quoted_request(lines, body)
  local function json_error(status, message)
    return answer(sock, status, { "Content-Type: application/json" }, '{"message":' .. json_string(message) .. '}')
  end
  if how == "json" then
    return answer(sock, "400 Bad Request", { "Content-Type: application/json" },
      '{"error":"invalid_request","error_description":' .. json_string(r) .. '}')
  elseif how == "pct" then
    return json_error("400 Bad Request", percent(r))
  elseif how == "base64" or how == "base64url" then
    return json_error("400 Bad Request", base64(r, how == "base64url"))
  elseif how == "cut" then
    -- an echo cut short: 16 bytes of the secret (or the token) and "..."
    local at = r:find("client_secret=", 1, true) or r:find("Bearer ", 1, true)
    local keep = at and (r:find("[=%s]", at) + 16) or 40
    return json_error("400 Bad Request", r:sub(1, keep) .. "...")
  elseif how == "fields" then
    -- a validation answer: the echo lands in err.field_errors too
    return answer(sock, "422 Unprocessable Entity", { "Content-Type: application/json" },
      '{"errors":{"name":[' .. json_string(r) .. ']}}')
  elseif how == "htmljson" then
    return answer(sock, "502 Bad Gateway", { "Content-Type: text/html" },
      "<pre>" .. json_string(r):gsub("/", "\\/") .. "</pre>")
  end
  return answer(sock, "500 Internal Server Error", { "Content-Type: text/html" }, "<pre>" .. r .. "</pre>")
end

local TTL_VALUES = { str = '"3600"', null = "null" }

function answer(sock, status, headers, body)
  local lines = { "HTTP/1.1 " .. status }
  for _, h in ipairs(headers or {}) do lines[#lines + 1] = h end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return send(sock, table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or ""))
end

local function json_answer(sock, body)
  return answer(sock, "200 OK", { "Content-Type: application/json" }, body)
end

-- One request: method, target, header lines, body; nil when the peer left.
local function read_request(sock)
  local line = receive(sock, "*l")
  if not line then return nil end
  local method, target = line:match("^(%u+) (%S+) HTTP/1%.%d$")
  if not method then return nil end
  local lines, length = { line }, 0
  while true do
    local h = receive(sock, "*l")
    if not h then return nil end
    if h == "" then break end
    lines[#lines + 1] = h
    local n = h:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
    if n then length = tonumber(n) end
  end
  local body = ""
  if length > 0 then
    body = receive(sock, length)
    if not body then return nil end
  end
  return method, target, lines, body
end

-- The gzip bomb's bytes, made once with the gzip command and kept in
-- spec/tmp (mode gzip_bomb: zeros compress about 1000:1).
local bombs = {}
local function gzip_bomb(mib)
  if bombs[mib] then return bombs[mib] end
  local dir = here .. "/../tmp"
  os.execute("mkdir -p '" .. dir .. "'")
  local path = string.format("%s/gzip-bomb-%d.gz", dir, mib)
  local f = io.open(path, "rb")
  if not f then
    assert(os.execute(string.format("head -c %d /dev/zero | gzip -9 > '%s.part' && mv '%s.part' '%s'",
      mib * 1048576, path, path, path)))
    f = assert(io.open(path, "rb"))
  end
  bombs[mib] = f:read("*a")
  f:close()
  return bombs[mib]
end

-- Sends data(piece) until the peer goes away; pieces of CHUNK_SIZE bytes
-- from POOL, no two alike for the first 64 MiB and more.
local function forever(sock, data)
  local i = 0
  repeat
    i = i + 1
    local at = (i * 1021) % (#POOL - CHUNK_SIZE) + 1
  until not send(sock, data(POOL:sub(at, at + CHUNK_SIZE - 1)))
end

local function drip(sock, text, interval)
  for i = 1, #text do
    if not send(sock, text:sub(i, i)) then return false end
    sleep(interval)
  end
  return true
end

local token_modes = {
  token_crlf = '{"access_token":"abc\\r\\nX-Injected: 1","token_type":"Bearer","expires_in":3600}',
  token_nul = '{"access_token":"abc\\u0000def","token_type":"Bearer","expires_in":3600}',
  token_year = '{"access_token":"tok-year","token_type":"Bearer","expires_in":31536000}',
}

-- The pages of ignore_offset and wander_offset (see the header).
local wander_start = 0
local function paging_answer(sock, mode, size, target)
  local path = target:gsub("%?.*", "")
  if path:find("/oauth/access_token$") then
    return json_answer(sock, '{"access_token":"tok-paging","token_type":"Bearer","expires_in":3600}')
  elseif path:find("/addressbooks/%d+/variables$") then
    return json_answer(sock, '[{"name":"name","type":"string"}]')
  elseif path:find("/addressbooks/%d+/emails/total$") then
    return json_answer(sock, '{"total":' .. size .. '}')
  elseif path:find("/addressbooks/%d+/emails$") then
    local limit = tonumber(target:match("[?&]limit=(%d+)")) or 100
    local first = 0
    if mode == "wander_offset" then
      first = wander_start
      wander_start = (wander_start + 37) % size
    end
    local items = {}
    for k = 0, math.min(limit, size) - 1 do
      local i = (first + k) % size + 1
      items[#items + 1] = string.format('{"email":"c%d@example.com","status":1,"variables":{"name":"C%d"}}', i, i)
    end
    return json_answer(sock, "[" .. table.concat(items, ",") .. "]")
  end
  return answer(sock, "404 Not Found", { "Content-Type: application/json" },
    '{"error":"not in this mode","target":' .. json_string(target) .. '}')
end

-- Handles one request of a connection; returns false to close it.
local function serve_one(sock, n, method, target, lines, body)
  local mode, arg = target:match("^/m/([%w_]+)/([^/]*)")
  if mode == "ignore_offset" or mode == "wander_offset" then
    return paging_answer(sock, mode, tonumber(arg) or 150, target)
  elseif mode == "echo_path" then
    return json_answer(sock, '{"path":' .. json_string(target) .. '}')
  elseif mode == "endless" then
    if not answer(sock, "200 OK", { "Content-Type: application/json", "Transfer-Encoding: chunked" }) then
      return false
    end
    forever(sock, function(piece) return "10000\r\n" .. piece .. "\r\n" end)
    return false
  elseif mode == "endless_close" then
    if send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n") then
      forever(sock, function(piece) return piece end)
    end
    return false
  elseif mode == "huge_length" then
    if send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n") then
      forever(sock, function(piece) return piece end)
    end
    return false
  elseif mode == "hex_length" then
    return send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0x2\r\n\r\n{}")
  elseif mode == "two_lengths" then
    return send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
      .. "Content-Length: 3\r\n\r\n{}")
  elseif mode == "gzip_bomb" then
    local bomb = gzip_bomb(tonumber(arg) or 1024)
    return answer(sock, "200 OK", { "Content-Type: application/json", "Content-Encoding: gzip" }, bomb)
  elseif mode == "drip_status" then
    drip(sock, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0.2)
    return false
  elseif mode == "drip_headers" then
    if send(sock, "HTTP/1.1 200 OK\r\nX-Drip: ") then drip(sock, string.rep("a", 1000), 0.2) end
    return false
  elseif mode == "drip_body" then
    if send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n") then
      drip(sock, '"' .. string.rep("a", 998) .. '"', 0.1)
    end
    return false
  elseif mode == "drip_trailer" then
    if send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. "2\r\n{}\r\n0\r\nX-Trailer: ") then
      drip(sock, string.rep("t", 1000), 0.2)
    end
    return false
  elseif mode == "bad_chunk" then
    local size = BAD_CHUNKS[tonumber(arg) or 1] or BAD_CHUNKS[1]
    send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      .. size .. "\r\n{}\r\n0\r\n\r\n")
    return false
  elseif mode == "huge_chunk" then
    if send(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. (arg ~= "-" and arg or "7FFFFFFF") .. "\r\n") then
      forever(sock, function(piece) return piece end)
    end
    return false
  elseif mode == "bad_status" then
    send(sock, "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}")
    return false
  elseif mode == "extra_after" or mode == "extra_same" then
    local real = string.format('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s',
      #('{"n":' .. n .. '}'), '{"n":' .. n .. '}')
    local fake = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"n":666}\n'
    if mode == "extra_same" then return send(sock, real .. fake) end
    if not send(sock, real) then return false end
    sleep(0.2)
    return send(sock, fake)
  elseif mode == "many_headers" then
    local head = { "HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: 2" }
    for i = 1, 50000 do head[#head + 1] = "X-H: " .. (i % 10) end
    return send(sock, table.concat(head, "\r\n") .. "\r\n\r\n{}")
  elseif mode == "huge_header" then
    local head = { "HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: 2" }
    for i = 1, 10 do head[#head + 1] = "X-Big-" .. i .. ": " .. string.rep("b", 40960) end
    return send(sock, table.concat(head, "\r\n") .. "\r\n\r\n{}")
  elseif mode == "giant_line" then
    return send(sock, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Giant: " .. string.rep("g", 1048576)
      .. "\r\n\r\n{}")
  elseif mode == "token_echo" and target:find("/oauth/access_token", 1, true) then
    return answer(sock, "400 Bad Request", { "Content-Type: application/json" },
      '{"error":"invalid_client","error_description":' .. json_string(body) .. '}')
  elseif mode == "token_ttl" and target:find("/oauth/access_token", 1, true) then
    return json_answer(sock, '{"access_token":"tok-ttl","token_type":"Bearer","expires_in":'
      .. (TTL_VALUES[arg] or arg) .. '}')
  elseif mode == "echo_request" or (mode == "token_then_echo" and not target:find("/oauth/access_token", 1, true)) then
    return echo_request(sock, arg, lines, body)
  elseif mode == "token_then_echo" then
    return json_answer(sock, '{"access_token":"' .. ECHO_TOKEN .. '","token_type":"Bearer","expires_in":3600}')
  elseif mode == "token_given" and target:find("/oauth/access_token", 1, true) then
    return json_answer(sock, '{"access_token":' .. json_string(arg:reverse())
      .. ',"token_type":"Bearer","expires_in":3600}')
  elseif mode == "token_given" then
    return json_answer(sock, '{"ok":true}')
  elseif token_modes[mode] and target:find("/oauth/access_token", 1, true) then
    return json_answer(sock, token_modes[mode])
  elseif mode and mode:match("^token_") then
    local quoted = {}
    for i, l in ipairs(lines) do quoted[i] = json_string(l) end
    return json_answer(sock, '{"headers":[' .. table.concat(quoted, ",") .. ']}')
  end
  answer(sock, "404 Not Found", { "Content-Type: application/json" },
    '{"error":"unknown hostile mode","target":' .. json_string(target) .. '}')
  return method ~= nil
end

local function serve_connection(sock)
  local n = 0
  while true do
    local method, target, lines, body = read_request(sock)
    if not method then break end
    n = n + 1
    if not serve_one(sock, n, method, target, lines, body) then break end
  end
  sock:close()
end

local function remove(list, sock)
  for i = #list, 1, -1 do
    if list[i] == sock then table.remove(list, i) end
  end
end

local function run()
  POOL = make_pool()
  -- Made before the server says it listens: gzip takes seconds over 1 GiB,
  -- and this loop serves one connection at a time, so a bomb made on first
  -- use stalled that call and the next past their timeouts on a fresh clone.
  gzip_bomb(1024)
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, port = srv:getsockname()
  local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
  io.stdout:write(("hostile listening %d pid %s\n"):format(port, pid))
  io.stdout:flush()
  while true do
    local timeout = 1
    local now = socket.gettime()
    for _, s in ipairs(sleepers) do timeout = math.min(timeout, math.max(0, s.at - now)) end
    local r = { srv }
    for _, s in ipairs(readers) do r[#r + 1] = s end
    local readable, writable = socket.select(r, writers, timeout)
    local ready = {}
    for _, s in ipairs(readable) do
      if s == srv then
        local c = srv:accept()
        if c then
          c:settimeout(0)
          c:setoption("tcp-nodelay", true)
          ready[#ready + 1] = coroutine.create(function() serve_connection(c) end)
        end
      elseif waiting_read[s] then
        ready[#ready + 1] = waiting_read[s]
        waiting_read[s] = nil
        remove(readers, s)
      end
    end
    for _, s in ipairs(writable) do
      if waiting_write[s] then
        ready[#ready + 1] = waiting_write[s]
        waiting_write[s] = nil
        remove(writers, s)
      end
    end
    now = socket.gettime()
    for i = #sleepers, 1, -1 do
      if sleepers[i].at <= now then
        ready[#ready + 1] = sleepers[i].co
        table.remove(sleepers, i)
      end
    end
    for _, co in ipairs(ready) do
      local ok, err = coroutine.resume(co)
      if not ok then io.stderr:write("hostile server: ", tostring(err), "\n") end
    end
  end
end

local Server = {}
Server.__index = Server

--- start([lua]) -> server; raises when it does not come up.
function _M.start(lua)
  local pipe = assert(io.popen("exec " .. (lua or "lua5.4") .. " " .. here .. "/hostile_server.lua", "r"))
  local port, pid = (pipe:read("*l") or ""):match("^hostile listening (%d+) pid (%d+)$")
  if not port then
    pipe:close()
    error("hostile server did not start", 2)
  end
  return setmetatable({ port = tonumber(port), pid = tonumber(pid), pipe = pipe,
                        base = "http://127.0.0.1:" .. port }, Server)
end

--- The base_url that puts a client in `mode` (with its argument).
function Server:url(mode, arg)
  return self.base .. "/m/" .. mode .. "/" .. (arg or "-")
end

--- Whether the server's process is still there.
function Server:alive()
  local ok = os.execute("kill -0 " .. self.pid .. " 2>/dev/null")
  return ok == true or ok == 0
end

function Server:stop()
  if not self.pipe then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  self.pipe:close()
  self.pipe = nil
end

-- Run as a script (not required as a module): serve until killed.
if ... ~= "support.hostile_server" then run() end

return _M
