-- Start Debian's nginx (with the Lua module) for tests, on loopback, from
-- the template spec/nginx/nginx.conf, in a temporary prefix.
--
--   local np = require "support.nginx_process"
--   local ng = np.start { sandbox_url = sb.url }
--   ng.url, ng.tls_url, ng.port, ng.prefix
--   ng:get(path), ng:post_json(path, tbl)   -- response {status, body, json}
--   ng:log()                                -- nginx's error log
--   ng:reload(); ng:stop_and_start()        -- nginx -s reload; TERM, then start again
--   ng:stop()
--
-- The worker code is spec/nginx/app.lua; the C core comes from
-- build/luajit (nginx embeds LuaJIT). A test CA, a server certificate for
-- "127.0.0.1" and one for another name are made with the openssl command.
local socket = require "socket"
local rawhttp = require "support.rawhttp"
local cjson = require "cjson.safe"

local _M = {}

_M.NGINX = os.getenv("SP_NGINX") or "/usr/sbin/nginx"
_M.START_TIMEOUT = 10

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."

local sys = require "support.sys"
local shell_quote, read_file, write_file, run, free_port, exists =
  sys.shell_quote, sys.read_file, sys.write_file, sys.run, sys.free_port, sys.exists

local function abspath(p)
  local pipe = io.popen("cd " .. shell_quote(p) .. " && pwd")
  local out = pipe:read("*l")
  pipe:close()
  return out
end

--- What is missing to run nginx tests, or nil when all is there.
function _M.missing()
  if not exists(_M.NGINX) then return _M.NGINX .. " (Debian package nginx)" end
  if not exists("/usr/lib/nginx/modules/ngx_http_lua_module.so") then
    return "ngx_http_lua_module (Debian package libnginx-mod-http-lua)"
  end
  if not exists(here .. "/../../build/luajit/sendpulse/core.so") then
    return "build/luajit/sendpulse/core.so (make LUA_IMPL=luajit)"
  end
  return nil
end

-- The test CA with server.pem for 127.0.0.1 and badname.pem for another
-- name, both signed by it, and self.pem signed by itself.
local function make_certs(dir)
  sys.make_test_ca(dir, { { name = "server", cn = "127.0.0.1", san = "DNS:127.0.0.1,IP:127.0.0.1" },
                          { name = "badname", cn = "other.example", san = "DNS:other.example" } })
  local q = function(name) return shell_quote(dir .. "/" .. name) end
  local cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    .. " -subj /CN=127.0.0.1 -keyout " .. q("self.key") .. " -out " .. q("self.pem")
  local ok, out = run(cmd)
  if not ok then error("making test certificates failed: " .. cmd .. "\n" .. out, 2) end
end

local Nginx = {}
Nginx.__index = Nginx

--- start{ sandbox_url =, template = (nginx.conf text; default the one in
-- spec/nginx), env = { NAME = value } (nginx's environment), globals =
-- (directives for nginx's -g, ${...} replaced as in the template: a config
-- that must run as written gets its pid and error_log there) } -> handle;
-- raises with the error log when nginx does not come up.
function _M.start(opts)
  opts = opts or {}
  local why = _M.missing()
  if why then error("cannot run nginx tests: missing " .. why, 2) end
  local root = abspath(here .. "/../..")
  local prefix = os.tmpname()
  os.remove(prefix)
  assert(run("mkdir -p " .. shell_quote(prefix .. "/tmp") .. " " .. shell_quote(prefix .. "/logs")))
  make_certs(prefix)
  local template = opts.template or read_file(root .. "/spec/nginx/nginx.conf")
  -- "load_module modules/..." is relative to the prefix.
  assert(run("ln -s /usr/lib/nginx/modules " .. shell_quote(prefix .. "/modules")))
  local env = ""
  for k, v in pairs(opts.env or {}) do env = env .. k .. "=" .. shell_quote(v) .. " " end
  local self = setmetatable({ prefix = prefix, root = root }, Nginx)
  -- A root master would hand the workers to "nobody", who cannot read
  -- the checkout: keep them as the current user.
  local uid = io.popen("id -u"):read("*l")
  local user_line = ""
  if uid == "0" then user_line = "user root root;" end
  for attempt = 1, 3 do
    self.port, self.tls_port, self.badname_port, self.self_port, self.sslcert_port = sys.free_ports(5)
    local vars = { PREFIX = prefix, ROOT = root, PORT = self.port, TLS_PORT = self.tls_port,
                   SSLCERT_PORT = self.sslcert_port,
                   BADNAME_PORT = self.badname_port, SELF_PORT = self.self_port,
                   SANDBOX_URL = opts.sandbox_url or "http://127.0.0.1:1", USER_LINE = user_line }
    local function fill(text)
      return (text:gsub("%${([%w_]+)}", function(k)
        return vars[k] and tostring(vars[k]) or error("nginx.conf: unknown ${" .. k .. "}")
      end))
    end
    write_file(prefix .. "/nginx.conf", fill(template))
    local globals = opts.globals and (" -g " .. shell_quote(fill(opts.globals))) or ""
    -- (kept for reload and stop_and_start)
    self.command = env .. shell_quote(_M.NGINX) .. " -p " .. shell_quote(prefix) .. " -c " ..
      shell_quote(prefix .. "/nginx.conf") .. " -e " .. shell_quote(prefix .. "/error.log") .. globals
    local ok, out = run(self.command)
    if ok then break end
    if attempt == 3 or not out:find("Address already in use", 1, true) then
      local log = self:log()
      run("rm -rf " .. shell_quote(prefix))
      error("nginx did not start:\n" .. out .. "\n--- error log ---\n" .. log, 2)
    end
  end
  self.url = "http://127.0.0.1:" .. self.port
  self.tls_url = "https://127.0.0.1:" .. self.tls_port
  self.badname_url = "https://127.0.0.1:" .. self.badname_port
  self.self_url = "https://127.0.0.1:" .. self.self_port
  self.sslcert_url = "https://127.0.0.1:" .. self.sslcert_port
  local deadline = socket.gettime() + _M.START_TIMEOUT
  while true do
    -- Any answer will do (a config without /ping says 404).
    local res = rawhttp.request("127.0.0.1", self.port, "GET", "/ping", { close = true })
    if res then break end
    if socket.gettime() > deadline then
      local log = self:log()
      self:stop()
      error("nginx does not answer on port " .. self.port .. ":\n" .. log, 2)
    end
    socket.sleep(0.05)
  end
  return self
end

function Nginx:log()
  return read_file(self.prefix .. "/error.log")
end

-- Error log lines at level [error] or worse (crit, alert, emerg).
function Nginx:errors()
  local out = {}
  for line in self:log():gmatch("[^\n]+") do
    if line:find("%[error%]") or line:find("%[crit%]") or line:find("%[alert%]")
       or line:find("%[emerg%]") then
      out[#out + 1] = line
    end
  end
  return out
end

-- One request on a new connection; {status, headers, body, json}. Raises
-- (with the error log) when nginx does not answer.
function Nginx:request(method, path, opts)
  opts = opts or {}
  opts.close = true
  local conn = assert(rawhttp.connect("127.0.0.1", self.port, opts.timeout or 60))
  local res, err = conn:request(method, path, opts)
  conn:close()
  if not res then
    error(("nginx %s %s: %s\n--- error log ---\n%s"):format(method, path, err, self:log()), 2)
  end
  return res
end

function Nginx:get(path) return self:request("GET", path) end

-- POST path with a JSON body; returns the decoded answer, raising with the
-- error log unless the status is 200.
function Nginx:call(path, tbl)
  local res = self:request("POST", path, { json = tbl })
  if res.status ~= 200 or type(res.json) ~= "table" then
    error(("nginx POST %s -> %d: %s\n--- error log ---\n%s"):format(path, res.status,
      res.body, self:log()), 2)
  end
  return res.json
end

-- Polls GET /result?key= until the worker stored something.
function Nginx:result(key, timeout)
  local deadline = socket.gettime() + (timeout or 5)
  while true do
    local res = self:request("GET", "/result?key=" .. key)
    if res.status == 200 then return cjson.decode(res.body) end
    if socket.gettime() > deadline then
      error("no result '" .. key .. "' from nginx:\n" .. self:log(), 2)
    end
    socket.sleep(0.02)
  end
end

-- os.execute's success is true on Lua 5.2+ and 0 on Lua 5.1 / LuaJIT.
local function succeeded(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

-- nginx -s reload: new workers with the same configuration; the old ones
-- finish what they are doing, then exit. Waits until nginx answers.
function Nginx:reload()
  local ok, out = run(self.command .. " -s reload")
  if not ok then error("nginx -s reload failed: " .. out, 2) end
end

-- A fast stop (TERM) that keeps the prefix, then a start with the same
-- command, ports and configuration; waits until it answers again.
function Nginx:stop_and_start()
  local pid = read_file(self.prefix .. "/nginx.pid"):match("%d+")
  self:halt(pid)
  local ok, out = run(self.command)
  if not ok then error("nginx did not start again:\n" .. out .. "\n" .. self:log(), 2) end
  local deadline = socket.gettime() + _M.START_TIMEOUT
  while not rawhttp.request("127.0.0.1", self.port, "GET", "/ping", { close = true }) do
    if socket.gettime() > deadline then error("nginx does not answer after a restart:\n" .. self:log(), 2) end
    socket.sleep(0.05)
  end
end

-- TERM to the master `pid`, waiting (bounded) for it to exit.
function Nginx:halt(pid)
  if not pid then return end
  os.execute("kill -TERM " .. pid .. " 2>/dev/null")
  local deadline = socket.gettime() + 5
  while os.execute("kill -0 " .. pid .. " 2>/dev/null") == true or
        os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0 do
    if socket.gettime() > deadline then
      os.execute("pkill -KILL -P " .. pid .. " 2>/dev/null")
      os.execute("kill -KILL " .. pid .. " 2>/dev/null")
      break
    end
    socket.sleep(0.05)
  end
end

-- Fast stop (TERM: workers do not wait for pending calls), waiting
-- (bounded) for the master to exit; idempotent.
function Nginx:stop()
  if not self.prefix then return end
  local pid = read_file(self.prefix .. "/nginx.pid"):match("%d+")
  if pid then
    succeeded("kill -TERM " .. pid .. " 2>/dev/null")
    local deadline = socket.gettime() + 5
    while succeeded("kill -0 " .. pid .. " 2>/dev/null") do
      if socket.gettime() > deadline then
        -- This master's own workers, then the master.
        succeeded("pkill -KILL -P " .. pid .. " 2>/dev/null")
        succeeded("kill -KILL " .. pid .. " 2>/dev/null")
        break
      end
      socket.sleep(0.05)
    end
  end
  run("rm -rf " .. shell_quote(self.prefix))
  self.prefix = nil
end

_M.free_port = free_port

return _M
