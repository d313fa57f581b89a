-- Start the SendPulse sandbox as a separate process for tests.
--
--   local sp = require "support.sandbox_process"
--   local sb = sp.start { token_ttl = 2, rate = 10, nice = -10 }   -- all optional; port = 0
--   sb.url                                  -- "http://127.0.0.1:PORT"
--   sb.ui_url, sb.ui_token                  -- the pages (/_sandbox/ui/) and their token
--   sb:control("POST", "/_sandbox/reset")   -- decoded answer, status
--   sb:reset(); sb:configure{ rate = 0 }; sb:fault{ kind = "drop" }
--   sb:stats()                              -- GET /_sandbox/stats, decoded
--   sb:log()                                -- the server's log (and stderr)
--   sb:connect()                            -- a support.rawhttp connection
--   sb:stop()
--
-- The interpreter is `lua5.4` unless SP_SANDBOX_LUA names another one.
local socket = require "socket"
local rawhttp = require "support.rawhttp"

local _M = {}

_M.START_TIMEOUT = 5

-- This file is spec/support/sandbox_process.lua; the sandbox script is
-- lua/sendpulse/sandbox/init.lua from the same root.
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
_M.SCRIPT = here .. "/../../lua/sendpulse/sandbox/init.lua"

local sys = require "support.sys"
local shell_quote, read_file = sys.shell_quote, sys.read_file

local Sandbox = {}
Sandbox.__index = Sandbox

-- Spawn the sandbox and wait until it accepts connections. opts: port (0),
-- token_ttl, rate, lua (interpreter), open_files (ulimit -n), args (more
-- options of the script). Raises with the server's stderr when
-- it does not come up.
function _M.start(opts)
  opts = opts or {}
  local lua = opts.lua or os.getenv("SP_SANDBOX_LUA") or "lua5.4"
  local logfile = os.tmpname()
  local errfile = logfile .. ".stderr"
  -- nice: a scheduling priority (as root; ignored otherwise) for a sandbox
  -- that measures request times on a loaded machine (spec/outbox_drain_spec.lua).
  local prio = ""
  if opts.nice and io.popen("id -u"):read("*l") == "0" then prio = "nice -n " .. tonumber(opts.nice) .. " " end
  -- open_files: the server's descriptor limit (ulimit -n), for the specs
  -- that open more connections than a default limit allows
  local args = { opts.open_files and ("ulimit -n " .. tonumber(opts.open_files) .. " &&") or "",
                 "exec", prio .. lua, shell_quote(_M.SCRIPT), "--host", "127.0.0.1",
                 "--port", tostring(opts.port or 0), "--log", shell_quote(logfile) }
  if opts.token_ttl then args[#args + 1] = "--token-ttl " .. tostring(opts.token_ttl) end
  if opts.rate then args[#args + 1] = "--rate " .. tostring(opts.rate) end
  -- any other option of the script, as { "--max-requests", "100", ... }
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = shell_quote(a) end
  args[#args + 1] = "2>" .. shell_quote(errfile)
  local pipe = assert(io.popen(table.concat(args, " "), "r"))
  local line = pipe:read("*l")
  local port, pid = (line or ""):match("^sandbox listening [%d%.]+:(%d+) pid (%d+)$")
  if not port then
    pipe:close()
    local why = read_file(errfile)
    os.remove(logfile)
    os.remove(errfile)
    error("sandbox did not start (first line " .. tostring(line) .. "): " .. why, 2)
  end
  -- the second line: the pages' address and the token their forms need
  local ui_url, ui_token = (pipe:read("*l") or ""):match("^sandbox ui (%S+) token (%S+)$")
  local self = setmetatable({
    host = "127.0.0.1", port = tonumber(port), pid = tonumber(pid), pipe = pipe,
    logfile = logfile, errfile = errfile, ui_url = ui_url, ui_token = ui_token,
  }, Sandbox)
  self.url = "http://127.0.0.1:" .. port
  local deadline = socket.gettime() + _M.START_TIMEOUT
  while true do
    local conn = socket.connect(self.host, self.port)
    if conn then
      conn:close()
      break
    end
    if socket.gettime() > deadline then
      local log = self:log()
      self:stop()
      error("sandbox does not accept connections on port " .. port .. ":\n" .. log, 2)
    end
    socket.sleep(0.02)
  end
  return self
end

-- A new keep-alive connection to the sandbox (see support.rawhttp).
function Sandbox:connect(timeout)
  return assert(rawhttp.connect(self.host, self.port, timeout))
end

-- Call the control API on a fresh connection. Returns the decoded answer
-- and the status; raises when the sandbox does not answer.
function Sandbox:control(method, path, tbl)
  local res, err = rawhttp.request(self.host, self.port, method, path,
                                   { json = tbl, close = true })
  if not res then error("sandbox control " .. method .. " " .. path .. ": " .. err, 2) end
  return res.json, res.status
end

local function checked(self, method, path, tbl)
  local value, status = self:control(method, path, tbl)
  if status ~= 200 then
    error(("sandbox %s %s -> %d: %s"):format(method, path, status,
          value and value.message or "?"), 3)
  end
  return value
end

function Sandbox:reset() return checked(self, "POST", "/_sandbox/reset") end
function Sandbox:configure(tbl) return checked(self, "POST", "/_sandbox/config", tbl) end
function Sandbox:fault(tbl) return checked(self, "POST", "/_sandbox/faults", tbl) end
function Sandbox:stats() return checked(self, "GET", "/_sandbox/stats") end

-- The server's request log, then anything it wrote to stderr.
function Sandbox:log()
  local text = read_file(self.logfile)
  local err = read_file(self.errfile)
  if err ~= "" then text = text .. "--- stderr ---\n" .. err end
  return text
end

-- Kill the server and wait for it; idempotent.
function Sandbox:stop()
  if not self.pipe then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  self.pipe:close()
  self.pipe = nil
  os.remove(self.logfile)
  os.remove(self.errfile)
end

return _M
