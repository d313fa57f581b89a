-- A throwaway redis-server for tests: loopback only, a free port, a temp
-- folder, no persistence unless aof = true. Started and stopped by the spec
-- that uses it.
--
--   local rp = require "support.redis_process"
--   local r = rp.start { password = "pw", aof = true }   -- both optional
--   r.port; r:cli("PING"); r:stop()
--   r:restart()   -- same port and folder: empty, or (aof) what the AOF kept
--                 -- (appendfsync always: every write, whenever it stops)
--
-- Raises with the server's log when it does not come up within START_TIMEOUT.
local socket = require "socket"

local _M = {}

_M.START_TIMEOUT = 5
_M.BINARY = os.getenv("SP_REDIS_SERVER") or "redis-server"

local sys = require "support.sys"
local sh_quote, read_file, free_port = sys.shell_quote, sys.read_file, sys.free_port

-- Sends one command in RESP and returns the first line of the answer.
local function raw_command(port, password, ...)
  local c = socket.connect("127.0.0.1", port)
  if not c then return nil end
  c:settimeout(2)
  local function send(args)
    local parts = { "*" .. #args .. "\r\n" }
    for _, a in ipairs(args) do parts[#parts + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n" end
    c:send(table.concat(parts))
    return c:receive("*l")
  end
  if password then send { "AUTH", password } end
  local line = send { ... }
  c:close()
  return line
end

local Redis = {}
Redis.__index = Redis

function _M.start(opts)
  opts = opts or {}
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 0700 " .. sh_quote(dir)))
  local self = setmetatable({ dir = dir, password = opts.password, port = free_port(), aof = opts.aof }, Redis)
  self:launch()
  return self
end

function Redis:launch()
  local args = { "exec", _M.BINARY, "--port", self.port, "--bind", "127.0.0.1",
    "--save", "''", "--appendonly", self.aof and "yes --appendfsync always" or "no", "--dir", sh_quote(self.dir),
    "--logfile", sh_quote(self.dir .. "/redis.log"), "--daemonize", "no" }
  if self.password then args[#args + 1] = "--requirepass " .. sh_quote(self.password) end
  local cmd = "sh -c " .. sh_quote("echo $$; " .. table.concat(args, " ")) .. " </dev/null"
  self.pipe = assert(io.popen(cmd, "r"))
  self.pid = tonumber(self.pipe:read("*l"))
  local deadline = socket.gettime() + _M.START_TIMEOUT
  while true do
    local line = raw_command(self.port, self.password, "PING")
    if line == "+PONG" then return end
    if socket.gettime() > deadline then
      local log = read_file(self.dir .. "/redis.log")
      self:stop()
      error("redis-server did not start on port " .. self.port .. ":\n" .. log, 3)
    end
    socket.sleep(0.02)
  end
end

-- One command; the first line of the answer (e.g. "+OK", ":1", "$3").
function Redis:cli(...)
  return raw_command(self.port, self.password, ...)
end

-- Stops the server and waits until the port is closed; idempotent. The
-- folder stays until remove().
function Redis:stop()
  if not self.pipe then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  self.pipe:close()   -- waits for the server to exit
  self.pipe = nil
end

-- A fresh server on the same port (Redis came back after an outage).
function Redis:restart()
  self:stop()
  self:launch()
end

function Redis:remove()
  self:stop()
  os.execute("rm -rf " .. sh_quote(self.dir))
end

return _M
