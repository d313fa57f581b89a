-- A Redis that answers nonsense, for the specs: a small RESP server on
-- loopback that reads real commands and answers each with what the test
-- scripted, so that every Redis user of the library (the webhook dedupe
-- store, the token store, the shared budget, the C reply reader) can be
-- tested against replies a real redis-server never gives. The normal paths
-- run against a real redis-server (support.redis_process).
--
--   local bad_redis = require "support.bad_redis"
--   local r = bad_redis.start()          -- its own process; r.port
--   r:script { SET = ":1\r\n", ["*"] = "+QUEUED\r\n" }
--   r:seen()  -> { "SET", "EVALSHA", ... }   commands since the last script
--   r:push("+OK\r\n")   sent now on every connection that sent a command:
--                        a reply to no command (in place when this returns)
--   r:stop()
--
-- A script maps a command's name (upper case; "*" for any other) to what
-- the server does with it:
--   "<bytes>"                  sent as they are (":1\r\n", "*0\r\n",
--                              "*2147483647\r\n", "-ERR x\r\n", ...)
--   { bulk = n }               "$n\r\n" and n bytes, sent while the client
--                              reads them (400 MB cost the server nothing)
--   { drip = "<bytes>", every = s }  one byte every s seconds (a reply
--                              that takes #bytes * s seconds to arrive)
--   { close = true }           the connection closed, nothing answered
--   { hold = true }            nothing answered, the connection kept
--   { seq = { a1, a2, ... } }  the k-th such command gets ak (the last one
--                              for every later one), counted per server
-- A command the script does not name, with no "*": "-ERR bad redis: ...".
--
-- Many connections at once, each a coroutine over non-blocking LuaSocket,
-- so a drip on one never stalls the next test. The script travels to the
-- server as a command of its own (BADREDIS SCRIPT <Lua table>), which is
-- neither answered by the script nor counted in seen().
local socket = require "socket"

local _M = {}

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."

local CHUNK = 65536

-- The scheduler: coroutines waiting to read, to write, or for a time.
local readers, writers, sleepers = {}, {}, {}
local waiting_read, waiting_write = {}, {}

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

-- A line ("*l") or n bytes; nil when the peer went away.
local function receive(sock, pattern)
  local acc = ""
  while true do
    local data, err, partial = sock:receive(pattern, acc)
    if data then return data end
    if err ~= "timeout" then return nil end
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

-- One command in RESP (an array of bulk strings): its words, or nil.
local function read_command(sock)
  local line = receive(sock, "*l")
  local n = line and tonumber(line:match("^%*(%d+)$"))
  if not n then return nil end
  local words = {}
  for i = 1, n do
    local len = tonumber((receive(sock, "*l") or ""):match("^%$(%d+)$"))
    if not len then return nil end
    local word = receive(sock, len + 2)
    if not word then return nil end
    words[i] = word:sub(1, len)
  end
  return words
end

local script, seen, counts = {}, {}, {}
local clients = {}   -- connections that sent a command (not only BADREDIS ones)

local function bulk(sock, n)
  if not send(sock, ("$%d\r\n"):format(n)) then return false end
  local piece = ("x"):rep(CHUNK)
  local left = n
  while left > 0 do
    local k = left < CHUNK and left or CHUNK
    if not send(sock, k == CHUNK and piece or piece:sub(1, k)) then return false end
    left = left - k
  end
  return send(sock, "\r\n")
end

-- Does what the script says for one command; false to close the connection.
local function act(sock, action)
  if type(action) == "string" then return send(sock, action) end
  if action.seq then
    return act(sock, action.seq[counts[action]] or action.seq[#action.seq])
  elseif action.bulk then
    return bulk(sock, action.bulk)
  elseif action.drip then
    local text = action.drip
    for i = 1, #text do
      if not send(sock, text:sub(i, i)) then return false end
      sleep(action.every or 0.2)
    end
    return true
  elseif action.hold then
    -- Until the client leaves: it reads nothing more, so wait for its close.
    while receive(sock, 1) do end
    return false
  end
  return false   -- close
end

local function control(sock, words)
  if words[2] == "SCRIPT" then
    local chunk = load("return " .. words[3], "=script", "t", {})
    local ok, s = pcall(chunk)
    if not (ok and type(s) == "table") then return send(sock, "-ERR bad script\r\n") end
    script, seen, counts = s, {}, {}
    return send(sock, "+OK\r\n")
  elseif words[2] == "PUSH" then
    for c in pairs(clients) do
      c:settimeout(1)   -- a few bytes into an idle connection: at once
      c:send(words[3])
      c:settimeout(0)
    end
    return send(sock, "+OK\r\n")
  elseif words[2] == "SEEN" then
    local out = { ("*%d\r\n"):format(#seen) }
    for _, w in ipairs(seen) do out[#out + 1] = ("$%d\r\n%s\r\n"):format(#w, w) end
    return send(sock, table.concat(out))
  end
  return send(sock, "-ERR unknown BADREDIS command\r\n")
end

local function serve(sock)
  while true do
    local words = read_command(sock)
    if not words then break end
    local name = (words[1] or ""):upper()
    local ok
    if name == "BADREDIS" then
      ok = control(sock, words)
    else
      clients[sock] = true
      seen[#seen + 1] = name
      local action = script[name] or script["*"]
      if action == nil then
        ok = send(sock, "-ERR bad redis: no reply scripted for " .. name .. "\r\n")
      else
        if type(action) == "table" and action.seq then counts[action] = (counts[action] or 0) + 1 end
        ok = act(sock, action)
      end
    end
    if not ok then break end
  end
  clients[sock] = nil
  sock:close()
end

local function remove(list, sock)
  for i = #list, 1, -1 do
    if list[i] == sock then table.remove(list, i) end
  end
end

local function run()
  local srv = assert(socket.bind("127.0.0.1", 0))
  srv:settimeout(0)
  local _, port = srv:getsockname()
  local pid = io.open("/proc/self/stat"):read("*l"):match("^(%d+)")
  io.stdout:write(("bad redis listening %d pid %s\n"):format(port, pid))
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
          ready[#ready + 1] = coroutine.create(function() serve(c) end)
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
      if not ok then io.stderr:write("bad redis: ", tostring(err), "\n") end
    end
  end
end

-- The test's side ----------------------------------------------------------

-- A script as Lua source (strings, numbers, booleans and tables of them).
local function serialize(v)
  local t = type(v)
  if t == "string" then return (("%q"):format(v):gsub("\\\n", "\\n")) end
  if t == "number" or t == "boolean" then return tostring(v) end
  assert(t == "table", "a bad redis script holds strings, numbers, booleans and tables")
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = "[" .. serialize(k) .. "]=" .. serialize(x) end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- One command over a fresh connection; the raw answer's first line, and
-- the words of an array answer.
local function command(port, ...)
  local c = assert(socket.connect("127.0.0.1", port))
  c:settimeout(5)
  local args = { ... }
  local out = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n" end
  assert(c:send(table.concat(out)))
  local line = assert(c:receive("*l"))
  local words = {}
  local n = tonumber(line:match("^%*(%d+)$"))
  for i = 1, n or 0 do
    local len = tonumber(assert(c:receive("*l")):match("^%$(%d+)$"))
    words[i] = assert(c:receive(len + 2)):sub(1, len)
  end
  c:close()
  return line, words
end

local Server = {}
Server.__index = Server

--- start() -> server (its own process); raises when it does not come up.
function _M.start()
  local pipe = assert(io.popen("exec lua5.4 " .. here .. "/bad_redis.lua", "r"))
  local port, pid = (pipe:read("*l") or ""):match("^bad redis listening (%d+) pid (%d+)$")
  if not port then
    pipe:close()
    error("bad redis did not start", 2)
  end
  return setmetatable({ port = tonumber(port), pid = tonumber(pid), pipe = pipe }, Server)
end

--- Replaces the script (and forgets the commands seen).
function Server:script(s)
  local line = command(self.port, "BADREDIS", "SCRIPT", serialize(s))
  assert(line == "+OK", "bad redis refused the script: " .. line)
end

--- The names of the commands received since the last script, in order.
function Server:seen()
  local _, words = command(self.port, "BADREDIS", "SEEN")
  return words
end

--- Sends bytes on every connection that sent a command, now.
function Server:push(bytes)
  assert(command(self.port, "BADREDIS", "PUSH", bytes) == "+OK")
end

function Server:stop()
  if not self.pipe then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  self.pipe:close()
  self.pipe = nil
end

-- Run as a script (not required as a module): serve until killed.
if ... ~= "support.bad_redis" then run() end

return _M
